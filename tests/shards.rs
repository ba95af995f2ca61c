//! Sharded ingest: N workers started at once commit to one lake, and the
//! lake equals a single process's, row for row, whatever is killed; the
//! lake's Delta protocol stays minimal whatever the writers do.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use s3logs::corpus::{GenOptions, Rng, generate};

use crate::util::{s3logs_cmd, wait_for};

fn ingest(corpus: &Path, lake: &Path, shard: Option<&str>, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3logs"));
    cmd.arg("ingest")
        .arg(corpus)
        .arg("--lake")
        .arg(lake)
        .args(["--max-reject-ratio", "1", "--summary-json", "-"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(s) = shard {
        cmd.args(["--shard", s]);
    }
    cmd
}

/// Starts the N workers of a sharded run at once.
fn spawn_shards(corpus: &Path, lake: &Path, n: u32, extra: &[&str]) -> Vec<Child> {
    (1..=n)
        .map(|k| {
            ingest(corpus, lake, Some(&format!("{k}/{n}")), extra)
                .spawn()
                .expect("spawn a shard")
        })
        .collect()
}

fn all_succeed(children: Vec<Child>) -> Vec<serde_json::Value> {
    children
        .into_iter()
        .map(|c| {
            let out = wait_for(c);
            assert!(
                out.status.success(),
                "a shard failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).expect("summary")
        })
        .collect()
}

fn query(lake: &Path, sql: &str) -> String {
    crate::util::query_csv(lake, sql)
}

/// Everything a lake holds that does not depend on which run wrote it:
/// every record, every reject, every ledger entry, and the rows per day
/// (objects by file name, so lakes read from copies compare).
fn contents(lake: &Path) -> Vec<(String, String)> {
    [
        (
            "logs",
            "SELECT * EXCLUDE (source_file), regexp_replace(source_file, '^.*/', '') AS name \
             FROM logs ORDER BY name, source_line",
        ),
        (
            "rejects",
            "SELECT * EXCLUDE (run_id, source_file), regexp_replace(source_file, '^.*/', '') \
             AS name FROM rejects ORDER BY name, source_line",
        ),
        (
            "ingested",
            "SELECT * EXCLUDE (run_id, ingested_at, object, modified), \
             regexp_replace(object, '^.*/', '') AS name FROM ingested ORDER BY name",
        ),
        (
            "days",
            "SELECT date, count(*) AS n FROM logs GROUP BY date ORDER BY date",
        ),
    ]
    .into_iter()
    .map(|(what, sql)| (what.to_string(), query(lake, sql)))
    .collect()
}

/// Runs `s3logs compact` over `lake`, which must succeed; returns what it
/// said.
fn compact(lake: &Path) -> String {
    let c = s3logs_cmd()
        .args(["compact", "--lake"])
        .arg(lake)
        .output()
        .expect("compact");
    let said = String::from_utf8_lossy(&c.stderr).into_owned();
    assert!(c.status.success(), "compact: {said}");
    said
}

/// The [`contents`] of the lake one process makes of `corpus` at `lake`.
fn single_process(corpus: &Path, lake: &Path) -> Vec<(String, String)> {
    let out = wait_for(ingest(corpus, lake, None, &[]).spawn().expect("run"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    contents(lake)
}

/// Runs a writer of `lake` (unsharded, or `shard`) that is killed between
/// its manifest and its commits, and checks it left just that manifest.
fn stopped_after_manifest(corpus: &Path, lake: &Path, shard: Option<&str>, extra: &[&str]) {
    let out = ingest(corpus, lake, shard, extra)
        .env("S3LOGS_CRASH_AT", "after-manifest")
        .output()
        .expect("run");
    assert!(
        !out.status.success(),
        "the crash point was not reached: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pending = pending_manifests(lake);
    assert_eq!(
        pending.len(),
        1,
        "{pending:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_same(got: &[(String, String)], want: &[(String, String)], what: &str) {
    for ((table, g), (_, w)) in got.iter().zip(want) {
        assert!(
            g == w,
            "{what}: the {table} table differs from a single process's ({} lines, want {})",
            g.lines().count(),
            w.lines().count()
        );
    }
}

fn pending_manifests(lake: &Path) -> Vec<String> {
    std::fs::read_dir(lake.join("_s3logs"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("run-"))
                .collect()
        })
        .unwrap_or_default()
}

fn corpus(dir: &Path, name: &str, bytes: u64, object_bytes: u64) -> PathBuf {
    let path = dir.join(name);
    let opts = GenOptions {
        bytes,
        object_bytes,
        malformed: 0.002,
        late: 0.02,
        ..GenOptions::default()
    };
    generate(&path, &opts).expect("corpus");
    path
}

/// The objects of `corpus`, sorted, in `n` waves of about the same size.
fn waves(corpus: &Path, n: usize) -> Vec<Vec<PathBuf>> {
    let mut objects: Vec<PathBuf> = std::fs::read_dir(corpus)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    objects.sort();
    objects
        .chunks(objects.len().div_ceil(n))
        .map(<[PathBuf]>::to_vec)
        .collect()
}

/// Copies `wave` into the source folder `src`, as a delivery would.
fn deliver(src: &Path, wave: &[PathBuf]) {
    std::fs::create_dir_all(src).expect("src");
    for o in wave {
        std::fs::copy(o, src.join(o.file_name().expect("name"))).expect("copy");
    }
}

#[test]
fn four_shards_at_once_give_the_lake_of_one_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = corpus(dir.path(), "corpus", 60_000_000, 1_000_000);
    let want = single_process(&corpus, &dir.path().join("single"));

    let lake = dir.path().join("sharded");
    let summaries = all_succeed(spawn_shards(&corpus, &lake, 4, &[]));
    // Each shard read its own objects, and together every object once.
    let read: Vec<u64> = summaries
        .iter()
        .map(|s| s["objects_ingested"].as_u64().expect("count"))
        .collect();
    let objects = std::fs::read_dir(&corpus).expect("corpus").count() as u64;
    assert_eq!(read.iter().sum::<u64>(), objects, "{read:?}");
    assert!(read.iter().all(|&n| n > 0), "{read:?}");
    for s in &summaries {
        assert_eq!(
            s["objects_ingested"].as_u64().unwrap_or(0)
                + s["objects_other_shards"].as_u64().unwrap_or(0),
            objects
        );
    }
    assert_same(&contents(&lake), &want, "4 shards");
    assert!(pending_manifests(&lake).is_empty());

    // A rerun of every shard commits nothing; status names each shard.
    for s in all_succeed(spawn_shards(&corpus, &lake, 4, &[])) {
        assert_eq!(s["committed"], false, "{s}");
    }
    let status = s3logs_cmd()
        .args(["status", "--format", "json", "--lake"])
        .arg(&lake)
        .output()
        .expect("status");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    let shards: Vec<&str> = status["shards"]
        .as_array()
        .expect("shards")
        .iter()
        .map(|s| s["shard"].as_str().expect("shard"))
        .collect();
    assert_eq!(shards, ["1/4", "2/4", "3/4", "4/4"]);
    assert_protocol_is_minimal(&lake);
}

#[test]
fn shards_killed_at_any_moment_and_rerun_give_the_lake_of_one_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = corpus(dir.path(), "corpus", 3_000_000, 100_000);
    let single = dir.path().join("single");
    let started = Instant::now();
    let out = wait_for(
        ingest(&corpus, &single, None, &["--memory-mb", "16"])
            .spawn()
            .expect("run"),
    );
    assert!(out.status.success());
    let clean = started.elapsed().as_secs_f64();
    let want = contents(&single);

    let points = [
        "after-manifest",
        "after-commit-rejects",
        "after-commit-logs",
        "after-commit-ingested",
    ];
    let mut rng = Rng::new(17);
    let mut killed_mid_run = 0;
    for trial in 0..12 {
        let lake = dir.path().join(format!("lake-{trial}"));
        let mut workers: Vec<Child> = (1..=4)
            .map(|k| {
                let mut cmd = ingest(
                    &corpus,
                    &lake,
                    Some(&format!("{k}/4")),
                    &["--memory-mb", "16"],
                );
                // One worker of the first trials aborts at a commit boundary.
                if trial < points.len() && k == 1 + trial as u32 % 4 {
                    cmd.env("S3LOGS_CRASH_AT", points[trial]);
                }
                cmd.spawn().expect("spawn")
            })
            .collect();
        if trial >= points.len() {
            // kill -9 of one to three workers at random moments.
            let victims = 1 + (rng.unit() * 3.0) as usize;
            std::thread::sleep(Duration::from_secs_f64(clean * 1.5 * rng.unit()));
            for w in workers.iter_mut().take(victims) {
                if w.try_wait().expect("wait").is_none() {
                    killed_mid_run += 1;
                }
                let _ = w.kill();
            }
        }
        for w in workers {
            let _ = wait_for(w);
        }
        // The rerun: every shard again, at once.
        all_succeed(spawn_shards(&corpus, &lake, 4, &["--memory-mb", "16"]));
        assert_same(&contents(&lake), &want, &format!("trial {trial}"));
        assert!(
            pending_manifests(&lake).is_empty(),
            "trial {trial}: {:?}",
            pending_manifests(&lake)
        );
    }
    assert!(
        killed_mid_run >= 5,
        "only {killed_mid_run} kills landed while a worker was running"
    );
}

#[test]
fn a_compaction_during_the_shards_commits_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = corpus(dir.path(), "corpus", 6_000_000, 100_000);
    let want = single_process(&corpus, &dir.path().join("single"));

    // The objects arrive in three waves, each ingested by four shards with
    // many small files a day and no compaction of their own, while
    // `s3logs compact` runs over and over beside them.
    let src = dir.path().join("src");
    let lake = dir.path().join("sharded");
    let mut during = 0;
    for wave in waves(&corpus, 3) {
        deliver(&src, &wave);
        let mut workers = spawn_shards(
            &src,
            &lake,
            4,
            &["--memory-mb", "16", "--compact-over", "0"],
        );
        while workers
            .iter_mut()
            .any(|w| w.try_wait().expect("wait").is_none())
        {
            if !lake.join("logs/_delta_log").is_dir() {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            compact(&lake);
            during += 1;
        }
        all_succeed(workers);
    }
    assert!(during >= 1, "no compaction ran while the shards did");
    let files_of_day = |lake: &Path| {
        std::fs::read_dir(lake.join("logs/date=2024-03-02"))
            .expect("day")
            .count()
    };
    assert_same(&contents(&lake), &want, "compaction during the shards");
    // Once more, with every day in one file, and then vacuum.
    compact(&lake);
    let before = files_of_day(&lake);
    let v = s3logs_cmd()
        .args(["vacuum", "--retain-hours", "0", "--lake"])
        .arg(&lake)
        .output()
        .expect("vacuum");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    assert_eq!(files_of_day(&lake), 1, "{before} files before vacuum");
    assert_same(&contents(&lake), &want, "after compact and vacuum");
    assert_protocol_is_minimal(&lake);
}

#[test]
fn shards_starting_at_once_on_a_new_lake_create_each_table_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    for round in 0..6 {
        let lake = dir.path().join(format!("lake-{round}"));
        // Eight workers race for the new lake's tables; most get a few
        // objects, some none.
        all_succeed(spawn_shards(&crate::util::sample_logs(), &lake, 8, &[]));
        assert_protocol_is_minimal(&lake);
        assert_eq!(
            query(&lake, "SELECT count(*) AS n FROM logs"),
            "n\n260\n",
            "round {round}"
        );
    }
}

/// Holds `_s3logs/NAME` of a lake as a running writer would.
fn hold(lake: &Path, name: &str) -> std::fs::File {
    std::fs::create_dir_all(lake.join("_s3logs")).expect("meta");
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lake.join("_s3logs").join(name))
        .expect("lock file");
    f.try_lock().expect("lock");
    f
}

#[test]
fn writers_that_would_overlap_a_running_shard_wait_or_refuse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = corpus(dir.path(), "corpus", 1_000_000, 100_000);
    let lake = dir.path().join("lake");
    let run = |shard: Option<&str>, extra: &[&str]| -> Output {
        let mut args = vec!["--lock-wait", "1"];
        args.extend_from_slice(extra);
        wait_for(ingest(&corpus, &lake, shard, &args).spawn().expect("run"))
    };
    let err = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let held = hold(&lake, "lock-s1of4");

    // Another shard of the same N runs beside it.
    let beside = run(Some("2/4"), &[]);
    assert!(beside.status.success(), "{}", err(&beside));
    // A second worker of the same shard, a shard of another N and an
    // unsharded run would read the same objects: they wait, then refuse.
    let same = run(Some("1/4"), &[]);
    assert_eq!(same.status.code(), Some(2), "{}", err(&same));
    assert!(
        err(&same).contains("another worker of shard 1/4"),
        "{}",
        err(&same)
    );
    let other_n = run(Some("1/2"), &[]);
    assert_eq!(other_n.status.code(), Some(2));
    assert!(
        err(&other_n).contains("every worker of a lake must use the same N"),
        "{}",
        err(&other_n)
    );
    let unsharded = run(None, &[]);
    assert_eq!(unsharded.status.code(), Some(2));
    assert!(
        err(&unsharded).contains("shards s1of4 are ingesting"),
        "{}",
        err(&unsharded)
    );
    // vacuum waits for the shards too; compact runs beside them.
    let vacuum = s3logs_cmd()
        .args(["vacuum", "--lock-wait", "1", "--lake"])
        .arg(&lake)
        .output()
        .expect("vacuum");
    assert_eq!(vacuum.status.code(), Some(2));
    let compact = s3logs_cmd()
        .args(["compact", "--lock-wait", "1", "--lake"])
        .arg(&lake)
        .output()
        .expect("compact");
    assert!(
        compact.status.success(),
        "{}",
        String::from_utf8_lossy(&compact.stderr)
    );

    // An unsharded writer holds the lake: no shard starts.
    drop(held);
    let main = hold(&lake, "lock");
    let blocked = run(Some("3/4"), &[]);
    assert_eq!(blocked.status.code(), Some(2), "{}", err(&blocked));
    drop(main);
    // Once free, the remaining shards complete the lake.
    for k in [1, 3, 4] {
        let o = run(Some(&format!("{k}/4")), &[]);
        assert!(o.status.success(), "{}", err(&o));
    }
    let n = query(&lake, "SELECT count(DISTINCT object) AS n FROM ingested");
    let objects = std::fs::read_dir(&corpus).expect("corpus").count();
    assert_eq!(n, format!("n\n{objects}\n"));

    // A bad --shard is a usage error.
    for bad in ["0/4", "5/4", "x"] {
        let o = run(Some(bad), &[]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(err(&o).contains("K/N"), "{bad}: {}", err(&o));
    }
}

/// The Delta protocol of every table stays reader 1 / writer 2, with no
/// table features, deletion vectors, column mapping or `timestamp_ntz`:
/// what Athena, Trino, Spark, DuckDB, Polars and Sail all read. A commit
/// that raised it would fail here.
pub fn assert_protocol_is_minimal(lake: &Path) {
    for table in ["logs", "rejects", "ingested"] {
        let log = lake.join(table).join("_delta_log");
        let mut commits: Vec<PathBuf> = std::fs::read_dir(&log)
            .expect("_delta_log")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        commits.sort();
        assert!(!commits.is_empty(), "{table}: no commits");
        let mut protocols = 0;
        for commit in &commits {
            let text = std::fs::read_to_string(commit).expect("commit");
            for line in text.lines() {
                let action: serde_json::Value = serde_json::from_str(line).expect("action");
                if let Some(p) = action.get("protocol") {
                    protocols += 1;
                    assert_eq!(p["minReaderVersion"], 1, "{}: {p}", commit.display());
                    assert_eq!(p["minWriterVersion"], 2, "{}: {p}", commit.display());
                    assert!(p.get("readerFeatures").is_none() && p.get("writerFeatures").is_none());
                }
                if let Some(m) = action.get("metaData") {
                    let schema = m["schemaString"].as_str().expect("schema");
                    assert!(!schema.contains("timestamp_ntz"), "{table}: {schema}");
                    let config = m["configuration"].to_string();
                    assert!(!config.contains("columnMapping"), "{table}: {config}");
                    assert!(
                        !config.contains("enableDeletionVectors\":\"true"),
                        "{table}: {config}"
                    );
                }
                if let Some(add) = action.get("add") {
                    assert!(
                        add.get("deletionVector").is_none_or(|d| d.is_null()),
                        "{table}: {add}"
                    );
                }
            }
        }
        assert_eq!(
            protocols, 1,
            "{table}: the protocol was set {protocols} times"
        );
    }
}

/// A run's commit built on a state of the table that a concurrent commit
/// has changed since: what the test above leaves to timing, made certain.
/// A compaction that only rearranges files never conflicts with it; a
/// commit that removed data it does not rewrite is done again on the new
/// state; one that removed a file it rewrites fails, naming the file.
#[test]
fn a_run_committed_on_an_outdated_state_is_done_again_unless_its_files_went() {
    use deltalake::protocol::{DeltaOperation, SaveMode};
    use s3logs::lake::{Lake, Table};

    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = corpus(dir.path(), "corpus", 3_000_000, 100_000);
    let lake = dir.path().join("lake");
    // Two runs, half the objects each: two files a day to compact.
    let src = dir.path().join("src");
    for half in waves(&corpus, 2) {
        deliver(&src, &half);
        let out = wait_for(
            ingest(&src, &lake, None, &["--compact-over", "0"])
                .spawn()
                .expect("run"),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let l = Lake::new(&lake);
    let open = || {
        rt.block_on(l.open(Table::Logs))
            .expect("open")
            .expect("a logs table")
    };
    let append = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: Some(vec!["date".into()]),
        predicate: None,
    };
    let commit = |table: &mut deltalake::DeltaTable, app: &str, removes| {
        rt.block_on(l.commit_run(
            table,
            Table::Logs,
            app,
            1,
            removes,
            Vec::new(),
            append.clone(),
            &serde_json::Map::new(),
        ))
    };
    let rows = || {
        l.read_all_blocking(Table::Logs)
            .expect("read")
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>()
    };
    let before = rows();
    let mut first = open();
    let mut second = open();
    let said = compact(&lake);
    assert!(
        said.contains("compacted"),
        "the compaction did nothing: {said}"
    );
    commit(&mut first, "writer-1", Vec::new()).expect("a commit beside a compaction");
    assert_eq!(rows(), before, "the compaction changed the data");

    // A commit that removes data, as an object read again does.
    let mut now = open();
    let mut third = open();
    let files = rt.block_on(Lake::files(&now)).expect("files");
    let gone = s3logs::lake::remove_action(&files[0]);
    commit(&mut now, "remover", vec![gone.clone()]).expect("the removal");
    commit(&mut second, "writer-2", Vec::new()).expect("a commit beside a removal");
    let err = commit(&mut third, "writer-3", vec![gone.clone()])
        .expect_err("rewriting a file that is gone");
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&gone.path) && msg.contains("removed by a concurrent commit"),
        "{msg}"
    );
    let state = rt.block_on(Lake::files(&open())).expect("files");
    assert_eq!(state.len(), files.len() - 1);
}

/// Paths of the files a commit file of `table` removes.
fn removed_by(commit: &Path) -> Vec<String> {
    std::fs::read_to_string(commit)
        .expect("commit")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|a| a["remove"]["path"].as_str().map(str::to_string))
        .collect()
}

/// The newest commit file of a table.
fn newest_commit(table: &Path) -> PathBuf {
    let mut commits: Vec<PathBuf> = std::fs::read_dir(table.join("_delta_log"))
        .expect("log")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    commits.sort();
    commits.pop().expect("a commit")
}

#[test]
fn a_run_killed_before_its_commits_whose_files_were_compacted_away_reads_its_objects_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = corpus(dir.path(), "corpus", 3_000_000, 100_000);
    // Every other object is delivered again without its last line.
    let changed = dir.path().join("changed");
    let objects = waves(&corpus, 1).remove(0);
    deliver(&changed, &objects);
    for o in objects.iter().step_by(2) {
        let path = changed.join(o.file_name().expect("name"));
        let bytes = std::fs::read(&path).expect("object");
        let body = &bytes[..bytes.len() - 1];
        let cut = body.iter().rposition(|&b| b == b'\n').expect("two lines");
        std::fs::write(&path, &bytes[..=cut]).expect("shorter object");
    }
    let want = single_process(&changed, &dir.path().join("single"));

    let src = dir.path().join("src");
    let lake = dir.path().join("sharded");
    let quiet = ["--memory-mb", "16", "--compact-over", "0"];
    deliver(&src, &objects);
    all_succeed(spawn_shards(&src, &lake, 2, &quiet));
    // The changed objects arrive; the first shard reads its ones again and
    // is killed between its manifest and its commits.
    for o in objects.iter().step_by(2) {
        let name = o.file_name().expect("name");
        std::fs::copy(changed.join(name), src.join(name)).expect("copy");
    }
    let again = [
        "--memory-mb",
        "16",
        "--compact-over",
        "0",
        "--reingest-changed",
    ];
    stopped_after_manifest(&src, &lake, Some("1/2"), &again);
    let pending = pending_manifests(&lake);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(lake.join("_s3logs").join(&pending[0])).expect("manifest"),
    )
    .expect("manifest JSON");
    let stale: Vec<String> = manifest["removes"]["logs"]
        .as_array()
        .expect("the run removes logs files")
        .iter()
        .map(|r| r["path"].as_str().expect("path").to_string())
        .collect();
    assert!(!stale.is_empty(), "the shard read no object again");

    // A compaction rewrites the days meanwhile, those files among them.
    compact(&lake);
    let compacted = removed_by(&newest_commit(&lake.join("logs")));
    assert!(
        stale.iter().any(|p| compacted.contains(p)),
        "the compaction rewrote none of the run's files"
    );

    // The shard's next run commits its pending run, then the other shard
    // reads its changed objects.
    for shard in ["1/2", "2/2"] {
        all_succeed(vec![
            ingest(&src, &lake, Some(shard), &again)
                .spawn()
                .expect("run"),
        ]);
    }
    assert!(pending_manifests(&lake).is_empty());
    assert_same(
        &contents(&lake),
        &want,
        "objects read again by a run committed after a compaction",
    );
}

#[test]
fn writers_that_wait_for_the_shards_complete_a_dead_shards_run_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = corpus(dir.path(), "corpus", 2_000_000, 100_000);
    let want = single_process(&corpus, &dir.path().join("single"));

    let corpus_arg = corpus.display().to_string();
    for upkeep in [
        &["vacuum", "--retain-hours", "0"][..],
        &["expire", "--older-than", "100000"][..],
        // An unsharded run holds the lake against the shards too.
        &["ingest", &corpus_arg, "--max-reject-ratio", "1"][..],
    ] {
        let lake = dir.path().join(format!("lake-{}", upkeep[0]));
        // The second shard commits; the first is killed after its manifest,
        // its files written but referenced by no table yet.
        all_succeed(vec![
            ingest(&corpus, &lake, Some("2/2"), &[])
                .spawn()
                .expect("run"),
        ]);
        stopped_after_manifest(&corpus, &lake, Some("1/2"), &[]);
        let u = s3logs_cmd()
            .args(upkeep)
            .arg("--lake")
            .arg(&lake)
            .output()
            .expect("upkeep");
        assert!(u.status.success(), "{}", String::from_utf8_lossy(&u.stderr));
        assert!(
            pending_manifests(&lake).is_empty(),
            "{}: {:?}",
            upkeep[0],
            pending_manifests(&lake)
        );
        assert_same(&contents(&lake), &want, upkeep[0]);
        // The first shard's next run finds its run committed.
        let again = all_succeed(vec![
            ingest(&corpus, &lake, Some("1/2"), &[])
                .spawn()
                .expect("run"),
        ]);
        assert_eq!(again[0]["committed"], false, "{}", again[0]);
        assert_same(&contents(&lake), &want, upkeep[0]);
    }
}

#[test]
fn shards_starting_complete_the_stopped_runs_of_writers_that_cannot_be_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = corpus(dir.path(), "corpus", 2_000_000, 100_000);
    let want = single_process(&corpus, &dir.path().join("single"));

    // The stopped run of an unsharded writer, then of a shard of another N.
    for (stopped, first) in [(None, None), (Some("1/2"), Some("2/2"))] {
        let lake = dir.path().join(format!("lake-{}", stopped.is_some()));
        if let Some(shard) = first {
            all_succeed(vec![
                ingest(&corpus, &lake, Some(shard), &[])
                    .spawn()
                    .expect("run"),
            ]);
        }
        stopped_after_manifest(&corpus, &lake, stopped, &[]);
        // Four shards start at once: the first to hold the lake commits
        // the stopped run before any of them lists its objects.
        all_succeed(spawn_shards(&corpus, &lake, 4, &[]));
        assert!(
            pending_manifests(&lake).is_empty(),
            "{stopped:?}: {:?}",
            pending_manifests(&lake)
        );
        assert_same(&contents(&lake), &want, &format!("{stopped:?}"));
        // The stopped writer's next run has nothing left to do.
        let again = all_succeed(vec![
            ingest(&corpus, &lake, stopped, &[]).spawn().expect("run"),
        ]);
        assert_eq!(again[0]["committed"], false, "{}", again[0]);
        assert_same(&contents(&lake), &want, &format!("{stopped:?}, again"));
    }
}
