//! `s3logs ingest` end to end: counts, idempotence, late records, rejects,
//! bad input, concurrency, crashes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Int64Type};
use serde_json::Value;

use s3logs::lake::{Lake, Table};

use crate::util::{parquet_files, sample_logs};

pub fn ingest(sources: &[&Path], lake: &Path, extra: &[&str]) -> (Output, Value) {
    let out = crate::util::s3logs_cmd()
        .arg("ingest")
        .args(sources)
        .arg("--lake")
        .arg(lake)
        .args(["--summary-json", "-"])
        .args(extra)
        .output()
        .expect("run s3logs ingest");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, json)
}

fn rows(lake: &Path, table: Table) -> Vec<RecordBatch> {
    Lake::new(lake)
        .read_all_blocking(table)
        .expect("read the lake")
}

fn count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// Rows per date of the `logs` table.
fn per_day(lake: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for b in rows(lake, Table::Logs) {
        let dates = b.column(30).as_primitive::<Date32Type>();
        for i in 0..b.num_rows() {
            let d = s3logs::civil::date_string(dates.value(i));
            *out.entry(d).or_default() += 1;
        }
    }
    out
}

/// Every line of every sample object, with its file.
fn sample_lines() -> Vec<(PathBuf, usize, Vec<u8>)> {
    let (objects, _) = s3logs::source::discover(&[sample_logs()]);
    let mut out = Vec::new();
    for o in objects {
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut o.open().expect("open").into_reader(), &mut data)
            .expect("read");
        let mut lines: Vec<&[u8]> = data.split(|&c| c == b'\n').collect();
        if data.ends_with(b"\n") {
            lines.pop();
        }
        for (i, l) in lines.into_iter().enumerate() {
            out.push((
                o.local_path().expect("local").to_path_buf(),
                i + 1,
                l.to_vec(),
            ));
        }
    }
    out
}

#[test]
fn sample_logs_per_day_counts_match_an_independent_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let (out, summary) = ingest(&[&sample_logs()], &lake, &["--max-reject-ratio", "0.05"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Independent count: the date of the bracketed time, read with chrono,
    // for every line of the sample; minus the three rejected lines that
    // carry a valid 2024-03-02 time (truncated, bad status, spliced).
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for (_, _, line) in sample_lines() {
        let text = String::from_utf8_lossy(&line);
        let Some(start) = text.find('[') else {
            continue;
        };
        let Some(end) = text[start..].find(']') else {
            continue;
        };
        let stamp = &text[start + 1..start + end];
        if let Ok(t) = chrono::DateTime::parse_from_str(stamp, "%d/%b/%Y:%H:%M:%S %z") {
            let d = t.with_timezone(&chrono::Utc).format("%Y-%m-%d").to_string();
            *want.entry(d).or_default() += 1;
        }
    }
    *want.get_mut("2024-03-02").expect("day") -= 3;
    assert_eq!(per_day(&lake), want);
    assert_eq!(summary["records"].as_u64(), Some(want.values().sum()));
    assert_eq!(summary["rejected"], 5);
    assert_eq!(summary["objects_ingested"], 14);
    assert_eq!(summary["lossy_utf8_records"], 1);
}

#[test]
fn a_second_run_commits_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let (first, _) = ingest(&[&sample_logs()], &lake, &[]);
    assert_eq!(first.status.code(), Some(1), "5 of 265 lines rejected > 1%");
    let log_dir = lake.join("logs/_delta_log");
    let before = std::fs::read_dir(&log_dir).expect("log").count();
    let (second, summary) = ingest(&[&sample_logs()], &lake, &[]);
    assert_eq!(second.status.code(), Some(0));
    assert_eq!(summary["committed"], false);
    assert_eq!(summary["objects_skipped"], 14);
    assert!(String::from_utf8_lossy(&second.stderr).contains("nothing committed"));
    assert_eq!(std::fs::read_dir(&log_dir).expect("log").count(), before);
    assert_eq!(count(&rows(&lake, Table::Logs)), 260);
}

#[test]
fn late_objects_land_in_old_days_and_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let photos = sample_logs().join("simple-prefix/photos-prod");
    let (out, _) = ingest(&[&photos], &lake, &["--max-reject-ratio", "1"]);
    assert_eq!(out.status.code(), Some(0));
    let late_obj = sample_logs().join("simple-prefix/static-site");
    let (out, summary) = ingest(&[&late_obj], &lake, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let days: Vec<(String, bool)> = summary["days"]
        .as_array()
        .expect("days")
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap_or("").to_string(),
                d["late"].as_bool() == Some(true),
            )
        })
        .collect();
    assert!(days.contains(&("2024-03-01".to_string(), true)), "{days:?}");
    assert!(days.contains(&("2024-03-02".to_string(), true)), "{days:?}");
    assert!(
        days.contains(&("2024-03-04".to_string(), false)),
        "{days:?}"
    );
    assert!(summary["late_records"].as_u64() >= Some(10));
    assert!(
        summary["delivery_lag_max_secs"].as_i64() > Some(86_400),
        "records from days before delivery"
    );
    // The static-site rows sit in the old partitions.
    let mut static_days = BTreeMap::new();
    for b in rows(&lake, Table::Logs) {
        let bucket = b.column(1).as_string::<i32>();
        let dates = b.column(30).as_primitive::<Date32Type>();
        for i in 0..b.num_rows() {
            if bucket.value(i) == "static-site" {
                *static_days
                    .entry(s3logs::civil::date_string(dates.value(i)))
                    .or_insert(0) += 1;
            }
        }
    }
    assert!(static_days.get("2024-03-01") > Some(&0));
}

#[test]
fn rejects_hold_the_exact_raw_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    ingest(&[&sample_logs()], &lake, &[]);
    let lines: BTreeMap<(String, usize), Vec<u8>> = sample_lines()
        .into_iter()
        .map(|(p, n, l)| {
            (
                (
                    std::fs::canonicalize(p)
                        .expect("path")
                        .display()
                        .to_string(),
                    n,
                ),
                l,
            )
        })
        .collect();
    let rejects = rows(&lake, Table::Rejects);
    assert_eq!(count(&rejects), 5);
    for b in &rejects {
        let file = b.column(0).as_string::<i32>();
        let line = b.column(1).as_primitive::<Int64Type>();
        let raw = b.column(4).as_binary::<i32>();
        let reason = b.column(3).as_string::<i32>();
        for i in 0..b.num_rows() {
            let want = &lines[&(file.value(i).to_string(), line.value(i) as usize)];
            assert_eq!(
                raw.value(i),
                &want[..],
                "{}:{} {}",
                file.value(i),
                line.value(i),
                reason.value(i)
            );
            assert!(!b.column(5).is_null(i), "run id");
        }
    }
}

#[test]
fn conformance_lines_end_to_end() {
    let lines_dir = crate::util::shared().join("conformance/lines");
    if !lines_dir.is_dir() {
        assert_ne!(
            std::env::var("S3LOGS_CONFORMANCE").as_deref(),
            Ok("required"),
            "{} missing",
            lines_dir.display()
        );
        eprintln!("{} not found; skipped", lines_dir.display());
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let (out, summary) = ingest(&[&lines_dir], &lake, &["--max-reject-ratio", "1"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary["records"], 101);
    assert_eq!(summary["rejected"], 10);
    // Every accepted case appears once, at its file and line, in its day.
    let cases = std::fs::read_to_string(crate::util::shared().join("conformance/cases.jsonl"))
        .expect("cases");
    let mut got: BTreeMap<(String, i64), BTreeMap<String, Value>> = BTreeMap::new();
    for b in rows(&lake, Table::Logs) {
        for i in 0..b.num_rows() {
            let row = crate::util::row_json(&b, i);
            let file = row["source_file"]
                .as_str()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string();
            let line = row["source_line"].as_i64().unwrap_or(0);
            let key = (file, line);
            assert!(!got.contains_key(&key), "{key:?} twice");
            got.insert(key, row.into_iter().collect());
        }
    }
    let mut reject_keys = BTreeMap::new();
    for b in rows(&lake, Table::Rejects) {
        for i in 0..b.num_rows() {
            let file = b
                .column(0)
                .as_string::<i32>()
                .value(i)
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string();
            let line = b.column(1).as_primitive::<Int64Type>().value(i);
            reject_keys.insert(
                (file, line),
                b.column(3).as_string::<i32>().value(i).to_string(),
            );
        }
    }
    for case in cases.lines().filter(|l| !l.is_empty()) {
        let case: Value = serde_json::from_str(case).expect("json");
        let key = (
            case["source"].as_str().unwrap_or("").to_string(),
            case["line_no"].as_i64().unwrap_or(0),
        );
        if case["expect"]["rejected"] == true {
            assert_eq!(
                reject_keys.get(&key).map(String::as_str),
                case["expect"]["reason"].as_str(),
                "{key:?}"
            );
            continue;
        }
        let row = got.get(&key).unwrap_or_else(|| panic!("{key:?} missing"));
        for (col, want) in case["expect"]["row"].as_object().expect("row") {
            assert_eq!(row.get(col).unwrap_or(&Value::Null), want, "{key:?} {col}");
        }
        let date = case["expect"]["row"]["request_time"].as_str().unwrap_or("")[..10].to_string();
        assert_eq!(row["date"], Value::String(date), "{key:?} partition");
    }
}

#[test]
fn lags_by_file_time_are_reported_apart_from_lags_by_name() {
    // A PartitionedPrefix object with EventTime: its name holds the event
    // day and 00-00-00, no delivery time, so its file's time is used.
    let rel = "partitioned-prefix/111122223333/eu-west-1/analytics-raw/2024/03/01/\
               2024-03-01-00-00-00-47A1B5A41EAFE6AB";
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("logs").join(rel);
    std::fs::create_dir_all(copy.parent().expect("parent")).expect("mkdir");
    std::fs::copy(sample_logs().join(rel), &copy).expect("copy");
    // Delivered at 2024-03-02T00:10:00Z, as `aws s3 sync` would have kept it.
    let delivered = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_709_338_200);
    std::fs::File::options()
        .write(true)
        .open(&copy)
        .and_then(|f| f.set_modified(delivered))
        .expect("set the file time");

    let (out, summary) = ingest(
        &[&dir.path().join("logs")],
        &dir.path().join("lake"),
        &["--max-reject-ratio", "1"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(summary["delivery_lag_max_secs"], Value::Null);
    assert_eq!(summary["file_time_lag_objects"], 1);
    let max = summary["file_time_lag_max_secs"].as_i64().expect("a lag");
    // Records of 2024-03-01, delivered ten minutes after the day ended.
    assert!((600..=86_400 + 600).contains(&max), "{max}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("delivery lag by file time, 1 object with"),
        "{stderr}"
    );
    assert!(!stderr.contains("delivery lag: max"), "{stderr}");
}

#[test]
fn many_small_objects_make_one_file_a_day() {
    // S3 delivers many small objects. Each used to be counted against the
    // memory budget as a full 8,192-row batch (4 MB), so a day was written
    // out every few objects, in many small files.
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    let generated = crate::util::s3logs_cmd()
        .args([
            "gen",
            "--mb",
            "2",
            "--object-kb",
            "8",
            "--days",
            "1",
            "--late",
            "0",
        ])
        .arg("--out")
        .arg(&logs)
        .output()
        .expect("run s3logs gen");
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let objects = std::fs::read_dir(&logs).expect("logs").count();
    assert!(objects > 200, "{objects} objects");

    let lake = dir.path().join("lake");
    let (out, summary) = ingest(
        &[&logs],
        &lake,
        &["--memory-mb", "16", "--max-reject-ratio", "1"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary["days"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        parquet_files(&lake.join("logs")),
        1,
        "Parquet files of the one day"
    );
}

#[test]
fn mapped_files_give_the_lake_that_read_files_give() {
    // Objects of 1 MiB or more are mapped, not read (see `source::map_file`);
    // one of them ends in a line past the 16 MiB limit.
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    let generated = crate::util::s3logs_cmd()
        .args(["gen", "--mb", "5", "--object-kb", "1500", "--days", "2"])
        .args(["--malformed", "0.002", "--late", "0.02"])
        .arg("--out")
        .arg(&logs)
        .output()
        .expect("run s3logs gen");
    assert!(generated.status.success());
    let mut names: Vec<_> = std::fs::read_dir(&logs)
        .expect("logs")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    assert!(std::fs::metadata(&names[0]).expect("meta").len() >= 1 << 20);
    let mut long = std::fs::read(&names[0]).expect("read");
    long.extend(std::iter::repeat_n(b'x', 17 << 20));
    long.extend_from_slice(b"\nlast line without a newline");
    std::fs::write(&names[0], long).expect("write");

    let mapped = dir.path().join("mapped");
    let read = dir.path().join("read");
    let extra = ["--max-reject-ratio", "1"];
    let (out, _) = ingest(&[&logs], &mapped, &extra);
    assert_eq!(out.status.code(), Some(0));
    let out = crate::util::s3logs_cmd()
        .env("S3LOGS_MMAP", "0")
        .arg("ingest")
        .arg(&logs)
        .arg("--lake")
        .arg(&read)
        .args(extra)
        .output()
        .expect("run s3logs ingest");
    assert_eq!(out.status.code(), Some(0));

    let records = "SELECT * FROM logs ORDER BY source_file, source_line";
    let rejects = "SELECT source_file, source_line, byte_offset, reason, length(raw) AS bytes \
                   FROM rejects ORDER BY source_file, source_line";
    for sql in [records, rejects] {
        let (a, b) = (
            crate::util::query_csv(&mapped, sql),
            crate::util::query_csv(&read, sql),
        );
        assert!(a.lines().count() > 2, "{sql}: {a}");
        assert_eq!(a, b, "{sql}");
    }
    let rejected = crate::util::query_csv(&read, rejects);
    assert!(
        rejected.contains(&format!("line_too_long,{}", 16 << 20)),
        "{rejected}"
    );
}
