//! `s3logs compact`, `vacuum` and `status` on a lake built from the sample.

use serde_json::Value;

use s3logs::lake::{Lake, Table};

use crate::ingest::ingest;
use crate::util::{parquet_files, sample_logs};

#[test]
fn compact_merges_days_drops_exact_duplicates_and_vacuum_cleans_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    // Two runs give two files for the days both touch.
    ingest(
        &[&sample_logs().join("simple-prefix/photos-prod")],
        &lake,
        &[],
    );
    ingest(&[&sample_logs()], &lake, &[]);
    // One object delivered again under another name: its 14 records are
    // true duplicates. The two equal lines inside the hard-cases object
    // are two log entries, and both stay.
    let again = dir.path().join("again");
    std::fs::create_dir_all(&again).expect("mkdir");
    let object = "simple-prefix/photos-prod/2024-03-02-17-12-53-BF61189639E35AEE";
    std::fs::copy(
        sample_logs().join(object),
        again.join("2024-03-02-17-12-53-BF61189639E35AEE-again"),
    )
    .expect("copy");
    ingest(&[&again], &lake, &[]);
    let out = crate::util::s3logs_cmd()
        .args(["compact", "--lake"])
        .arg(&lake)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("14 exact duplicate records dropped"), "{err}");
    // 274 records less the 14 delivered twice; the multi-object delete's
    // lines, which share a request id, and the two equal lines of one
    // object all stay.
    let batches = Lake::new(&lake)
        .read_all_blocking(Table::Logs)
        .expect("read");
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 260);

    let status = crate::util::s3logs_cmd()
        .args(["status", "--format", "json", "--lake"])
        .arg(&lake)
        .output()
        .expect("run");
    let st: Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(st["ledger_objects"], 15);
    assert_eq!(st["rejects"]["bad_time"], 1);
    assert_eq!(st["last_runs"].as_array().map(Vec::len), Some(3));
    for day in st["days"].as_object().expect("days").values() {
        assert_eq!(day["files"], 1, "one file per day after compaction");
    }
    let rows: i64 = st["days"]
        .as_object()
        .expect("days")
        .values()
        .map(|d| d["rows"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(rows, 260);

    let before = parquet_files(&lake.join("logs"));
    let out = crate::util::s3logs_cmd()
        .args(["vacuum", "--retain-hours", "0", "--lake"])
        .arg(&lake)
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(
        parquet_files(&lake.join("logs")),
        4,
        "one file per day remains (was {before})"
    );
    // A second compaction has nothing to do.
    let out = crate::util::s3logs_cmd()
        .args(["compact", "--lake"])
        .arg(&lake)
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to compact"));
}
