//! A lake that stays healthy under a cron job: days compacted as runs add
//! files to them, and days past a retention period expired.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::ingest::ingest;
use crate::util::{s3logs_cmd, sample_logs};

fn status(lake: &Path) -> Value {
    let out = s3logs_cmd()
        .args(["status", "--format", "json", "--verify", "--lake"])
        .arg(lake)
        .output()
        .expect("status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn count(lake: &Path, sql: &str) -> String {
    crate::util::query_csv(lake, sql)
}

#[test]
fn hourly_runs_never_leave_a_day_with_more_files_than_the_threshold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("corpus");
    let generated = s3logs_cmd()
        .args([
            "gen",
            "--mb",
            "12",
            "--object-kb",
            "240",
            "--days",
            "3",
            "--late",
            "0.05",
            "--out",
        ])
        .arg(&corpus)
        .output()
        .expect("gen");
    assert!(generated.status.success());
    let mut objects: Vec<_> = std::fs::read_dir(&corpus)
        .expect("corpus")
        .flatten()
        .map(|e| e.path())
        .collect();
    objects.sort();
    assert!(objects.len() >= 48, "{} objects", objects.len());
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let lake = dir.path().join("lake");
    let mut compactions = 0;
    let mut records = 0;
    // 48 hourly runs, each with one new delivery (holding late records).
    for (hour, object) in objects.iter().take(48).enumerate() {
        std::fs::copy(object, src.join(object.file_name().expect("name"))).expect("copy");
        let (out, summary) = ingest(&[&src], &lake, &["--max-reject-ratio", "1"]);
        assert_eq!(out.status.code(), Some(0), "hour {hour}");
        records += summary["records"].as_u64().expect("records");
        compactions += usize::from(!summary["compacted"].is_null());
        for (day, d) in status(&lake)["days"].as_object().expect("days") {
            let files = d["files"].as_u64().expect("files");
            assert!(files <= 8, "hour {hour}: {day} holds {files} files");
        }
    }
    assert!(compactions > 0, "the runs compacted nothing");
    // Every record is there once: compaction lost or doubled none.
    assert_eq!(
        count(&lake, "SELECT count(*) AS n FROM logs"),
        format!("n\n{records}\n")
    );
    // And with compaction off, files pile up as they did.
    let plain = dir.path().join("plain");
    let src2 = dir.path().join("src2");
    std::fs::create_dir_all(&src2).expect("mkdir");
    for object in objects.iter().take(10) {
        std::fs::copy(object, src2.join(object.file_name().expect("name"))).expect("copy");
        ingest(
            &[&src2],
            &plain,
            &["--max-reject-ratio", "1", "--compact-over", "0"],
        );
    }
    let most = status(&plain)["days"]
        .as_object()
        .expect("days")
        .values()
        .map(|d| d["files"].as_u64().unwrap_or(0))
        .max();
    assert!(most > Some(8), "{most:?}");
}

#[test]
fn one_large_run_s_files_of_a_day_count_as_one_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("corpus");
    let generated = s3logs_cmd()
        .args([
            "gen",
            "--mb",
            "40",
            "--object-kb",
            "2000",
            "--days",
            "1",
            "--out",
        ])
        .arg(&corpus)
        .output()
        .expect("gen");
    assert!(generated.status.success());
    let mut objects: Vec<_> = std::fs::read_dir(&corpus)
        .expect("corpus")
        .flatten()
        .map(|e| e.path())
        .collect();
    objects.sort();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let (first, rest) = objects.split_at(objects.len() - 2);
    for o in first {
        std::fs::copy(o, src.join(o.file_name().expect("name"))).expect("copy");
    }
    let lake = dir.path().join("lake");
    let args = [
        "--max-reject-ratio",
        "1",
        "--memory-mb",
        "16",
        "--compact-over",
        "2",
    ];
    // The first run hands the day to the writers several times under its
    // budget: one file, one write, left as it is.
    let (out, summary) = ingest(&[&src], &lake, &args);
    assert_eq!(out.status.code(), Some(0));
    assert!(summary["compacted"].is_null(), "{summary}");
    let files = |lake: &Path| status(lake)["days"]["2024-03-01"]["files"].as_u64();
    let big = files(&lake).expect("files");
    assert_eq!(big, 1, "the run wrote {big} files");
    // Two more runs make three writes: the third compacts the day.
    for (i, o) in rest.iter().enumerate() {
        std::fs::copy(o, src.join(o.file_name().expect("name"))).expect("copy");
        let (out, summary) = ingest(&[&src], &lake, &args);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            summary["compacted"].is_null(),
            i == 0,
            "run {}: {summary}",
            i + 2
        );
    }
    assert_eq!(files(&lake), Some(1));
}

/// A valid line at `micros` since the epoch.
fn line_at(micros: i64, key: &str) -> String {
    let t = chrono::DateTime::from_timestamp_micros(micros).expect("time");
    format!(
        "o bkt [{}] 192.0.2.3 - ID REST.GET.OBJECT {key} \"GET /{key} HTTP/1.1\" 200 - 5 5 7 6 \"-\" \"curl/8\"\n",
        t.format("%d/%b/%Y:%H:%M:%S +0000")
    )
}

/// The days of the lake's kept views and queries (`_s3logs/views/` and
/// `_s3logs/queries/`, files named `DAY.arrow`).
fn kept_days(lake: &std::path::Path) -> BTreeSet<String> {
    let mut days = BTreeSet::new();
    let mut todo = vec![lake.join("_s3logs/views"), lake.join("_s3logs/queries")];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if let Some(day) = path
                .file_name()
                .and_then(|n| n.to_str()?.strip_suffix(".arrow"))
            {
                days.insert(day.to_string());
            }
        }
    }
    days
}

#[test]
fn expire_removes_old_days_and_keeps_the_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let day = 86_400_000_000i64;
    let now = chrono::Utc::now().timestamp_micros();
    std::fs::write(
        src.join("old.log"),
        [
            line_at(now - 400 * day, "a"),
            line_at(now - 399 * day, "b"),
            "junk\n".into(),
        ]
        .concat(),
    )
    .expect("write");
    std::fs::write(
        src.join("new.log"),
        [line_at(now - day, "c"), "junk\n".into()].concat(),
    )
    .expect("write");
    let lake = dir.path().join("lake");
    let (out, _) = ingest(&[&src], &lake, &["--max-reject-ratio", "1"]);
    assert_eq!(out.status.code(), Some(0));
    let expire = |days: &str| {
        s3logs_cmd()
            .args(["expire", "--older-than", days, "--lake"])
            .arg(&lake)
            .output()
            .expect("expire")
    };
    for bad in ["0", "-3", "x"] {
        assert_eq!(expire(bad).status.code(), Some(2), "{bad}");
    }
    assert_eq!(count(&lake, "SELECT count(*) AS n FROM logs"), "n\n3\n");
    // A report keeps each day of its views and queries in the lake.
    let page = dir.path().join("report.html");
    let report = s3logs_cmd()
        .args(["report", "--lake"])
        .arg(&lake)
        .arg("--output")
        .arg(&page)
        .output()
        .expect("report");
    assert!(report.status.success(), "{report:?}");
    let day_of = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros)
            .expect("time")
            .format("%Y-%m-%d")
            .to_string()
    };
    let (old, recent) = (day_of(now - 400 * day), day_of(now - day));
    let kept = kept_days(&lake);
    assert!(kept.contains(&old) && kept.contains(&recent), "{kept:?}");
    let out = expire("30");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expired 2 days"), "{err}");
    // Their aggregates (requesters, addresses, keys) go with them.
    assert_eq!(kept_days(&lake), BTreeSet::from([recent]));
    assert!(!err.contains(" 0 kept days"), "{err}");
    assert_eq!(count(&lake, "SELECT key FROM logs"), "key\nc\n");
    assert_eq!(count(&lake, "SELECT count(*) AS n FROM rejects"), "n\n1\n");
    // The ledger keeps both objects: the old one is not read again.
    assert_eq!(count(&lake, "SELECT count(*) AS n FROM ingested"), "n\n2\n");
    let (out, summary) = ingest(&[&src], &lake, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(summary["objects_skipped"], 2);
    assert_eq!(count(&lake, "SELECT count(*) AS n FROM logs"), "n\n1\n");
    // Nothing left to expire; vacuum frees the files.
    assert!(String::from_utf8_lossy(&expire("30").stderr).contains("nothing before"));
    let vacuum = s3logs_cmd()
        .args(["vacuum", "--retain-hours", "0", "--lake"])
        .arg(&lake)
        .output()
        .expect("vacuum");
    assert!(vacuum.status.success());
    status(&lake);
    // A lake of only old days can be emptied and used on.
    let sample = dir.path().join("sample");
    let (out, _) = ingest(&[&sample_logs()], &sample, &["--max-reject-ratio", "1"]);
    assert_eq!(out.status.code(), Some(0));
    let out = s3logs_cmd()
        .args(["expire", "--older-than", "1", "--lake"])
        .arg(&sample)
        .output()
        .expect("expire");
    assert!(out.status.success());
    assert_eq!(count(&sample, "SELECT count(*) AS n FROM logs"), "n\n0\n");
    assert_eq!(
        count(&sample, "SELECT count(*) AS n FROM rejects"),
        "n\n0\n"
    );
}

#[test]
fn every_run_leaves_prometheus_metrics_for_a_monitor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let prom = dir.path().join("textfile/s3logs.prom");
    std::fs::create_dir_all(prom.parent().expect("dir")).expect("mkdir");
    let prom_s = prom.display().to_string();
    let (out, summary) = ingest(
        &[&sample_logs()],
        &lake,
        &["--max-reject-ratio", "1", "--metrics-file", &prom_s],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&prom).expect("metrics");
    let sample = |text: &str, name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {text}"))
            .parse()
            .expect("number")
    };
    assert_eq!(
        sample(&text, "s3logs_ingest_records"),
        summary["records"].as_f64().expect("n")
    );
    assert_eq!(sample(&text, "s3logs_ingest_success"), 1.0);
    assert_eq!(
        sample(&text, "s3logs_ingest_rejects{reason=\"bad_time\"}"),
        1.0
    );
    assert_eq!(
        sample(&text, "s3logs_ingest_objects{state=\"ingested\"}"),
        14.0
    );
    let success = sample(&text, "s3logs_ingest_last_success_timestamp_seconds");
    // A run that fails says so, and keeps the time of the last success.
    let held = s3logs::lake::Lake::new(&lake)
        .lock(std::time::Duration::ZERO)
        .expect("lock");
    let (out, _) = ingest(
        &[&sample_logs()],
        &lake,
        &["--lock-wait", "0", "--metrics-file", &prom_s],
    );
    drop(held);
    assert_eq!(out.status.code(), Some(2));
    let text = std::fs::read_to_string(&prom).expect("metrics");
    assert_eq!(sample(&text, "s3logs_ingest_success"), 0.0);
    assert_eq!(
        sample(&text, "s3logs_ingest_last_success_timestamp_seconds"),
        success
    );
    // A folder that is not there is an error before anything happens.
    let other = dir.path().join("other-lake");
    let missing = dir.path().join("no/such/folder/s3logs.prom");
    let (out, _) = ingest(
        &[&sample_logs()],
        &other,
        &["--metrics-file", &missing.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert!(!other.exists());
}
