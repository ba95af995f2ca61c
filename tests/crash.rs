//! Crash safety: kill -9 at random moments (and at each commit boundary),
//! rerun, and the lake must equal a clean run's lake, record for record.

use std::path::Path;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;

use s3logs::corpus::{GenOptions, Rng, generate};
use s3logs::lake::{Lake, Table};

use crate::util::row_json;

/// Every row of a table as sorted JSON lines; `skip` columns are left out
/// (the run id differs between a crashed and a clean history).
/// The folder the objects were read from is replaced by `SRC` in
/// `source_file` and `object`, so lakes built from copies compare.
fn snapshot_in(lake: &Path, table: Table, skip: &[&str], src: Option<&Path>) -> Vec<String> {
    let batches: Vec<RecordBatch> = Lake::new(lake)
        .read_all_blocking(table)
        .expect("read the lake");
    let mut rows: Vec<String> = batches
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |i| row_json(b, i)))
        .map(|mut r| {
            for s in skip {
                r.remove(*s);
            }
            let line = serde_json::Value::Object(r).to_string();
            match src {
                Some(src) => line.replace(
                    &*std::fs::canonicalize(src).expect("src").to_string_lossy(),
                    "SRC",
                ),
                None => line,
            }
        })
        .collect();
    rows.sort();
    rows
}

fn ledger_objects(lake: &Path, src: &Path) -> Vec<String> {
    let mut v: Vec<String> = snapshot_in(
        lake,
        Table::Ingested,
        &["run_id", "ingested_at", "modified"],
        Some(src),
    );
    v.dedup();
    v
}

fn ingest_cmd(corpus: &Path, lake: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_s3logs"));
    cmd.arg("ingest")
        .arg(corpus)
        .arg("--lake")
        .arg(lake)
        .args(["--max-reject-ratio", "1", "--memory-mb", "16"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

#[test]
fn kill_at_any_moment_then_rerun_gives_the_clean_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("corpus");
    let opts = GenOptions {
        bytes: 2_400_000,
        object_bytes: 200_000,
        malformed: 0.01,
        ..GenOptions::default()
    };
    generate(&corpus, &opts).expect("corpus");

    // The kills are spread over the time of a clean run: the fastest of
    // three, since a first run (a cold binary, a busy machine) can take
    // several times as long, and kills timed from it would mostly land
    // after the runs they were meant to interrupt.
    let clean = dir.path().join("clean");
    let mut clean_secs = f64::INFINITY;
    for round in 0..3 {
        let lake = if round == 0 {
            clean.clone()
        } else {
            dir.path().join(format!("timing-{round}"))
        };
        let started = Instant::now();
        assert!(
            crate::util::wait_for(ingest_cmd(&corpus, &lake).spawn().expect("run"))
                .status
                .success()
        );
        clean_secs = clean_secs.min(started.elapsed().as_secs_f64());
    }
    let want_logs = snapshot_in(&clean, Table::Logs, &[], Some(&corpus));
    let want_rejects = snapshot_in(&clean, Table::Rejects, &["run_id"], Some(&corpus));
    let want_ledger = ledger_objects(&clean, &corpus);
    let mut objects: Vec<_> = std::fs::read_dir(&corpus)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    objects.sort();
    assert!(want_logs.len() > 3000 && !want_rejects.is_empty());

    let mut rng = Rng::new(7);
    let points = [
        "after-manifest",
        "after-commit-rejects",
        "after-commit-logs",
        "after-commit-ingested",
    ];
    // Kills that landed while the run was still going (the others came after
    // it had finished, and test a plain rerun).
    let mut killed_mid_run = 0;
    for trial in 0..24 {
        let lake = dir.path().join(format!("lake-{trial}"));
        // The crashed run sees the first objects only; the rest arrive before
        // the rerun (an hourly cron), so a rerun that skipped recovery would
        // lose or duplicate records.
        let src = dir.path().join(format!("src-{trial}"));
        std::fs::create_dir_all(&src).expect("src");
        let early = if trial % 2 == 0 {
            objects.len() / 2
        } else {
            objects.len()
        };
        for o in &objects[..early] {
            std::fs::copy(o, src.join(o.file_name().expect("name"))).expect("copy");
        }
        let mut cmd = ingest_cmd(&src, &lake);
        if trial < points.len() {
            // A crash exactly at each commit boundary.
            cmd.env("S3LOGS_CRASH_AT", points[trial]);
            let status = crate::util::wait_for(cmd.spawn().expect("run")).status;
            assert!(
                !status.success(),
                "trial {trial}: the run never reached the crash point {}",
                points[trial]
            );
        } else {
            // kill -9 at a random moment of the run.
            let delay = Duration::from_secs_f64(clean_secs * 1.2 * rng.unit());
            let mut child = cmd.spawn().expect("spawn");
            std::thread::sleep(delay);
            if child.try_wait().expect("wait").is_none() {
                killed_mid_run += 1;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Sometimes a second partial run before the final one.
        if trial % 5 == 4 {
            let mut child = ingest_cmd(&src, &lake).spawn().expect("spawn");
            std::thread::sleep(Duration::from_secs_f64(clean_secs * 0.5 * rng.unit()));
            let _ = child.kill();
            let _ = child.wait();
        }
        for o in &objects[early..] {
            std::fs::copy(o, src.join(o.file_name().expect("name"))).expect("copy");
        }
        let status = crate::util::wait_for(ingest_cmd(&src, &lake).spawn().expect("rerun")).status;
        assert!(status.success(), "trial {trial}: the rerun failed");
        let logs = snapshot_in(&lake, Table::Logs, &[], Some(&src));
        assert!(
            logs == want_logs,
            "trial {trial}: logs differ ({} rows, want {})",
            logs.len(),
            want_logs.len()
        );
        let rejects = snapshot_in(&lake, Table::Rejects, &["run_id"], Some(&src));
        assert!(rejects == want_rejects, "trial {trial}: rejects differ");
        assert_eq!(
            ledger_objects(&lake, &src),
            want_ledger,
            "trial {trial}: ledger differs"
        );
        // Nothing is pending afterwards.
        let pending = std::fs::read_dir(lake.join("_s3logs"))
            .expect("meta")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("run-"))
            .count();
        assert_eq!(pending, 0, "trial {trial}: a manifest was left behind");
    }
    // With kills spread over 1.2 times a clean run, most land mid-run; if
    // none did, the random trials tested only reruns.
    assert!(
        killed_mid_run >= 5,
        "only {killed_mid_run} of {} kills landed while the run was going",
        24 - points.len()
    );
}
