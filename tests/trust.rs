//! The lake tried as a hostile user and a flaky world would: no input, no
//! query and no failed run may lose, duplicate or poison data. One test per
//! way it used to break.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use serde_json::Value;

use s3logs::lake::{Lake, Table};

use crate::ingest::ingest;
use crate::util::sample_logs;

/// A valid 27-field line at `time`, with `key`.
fn line(time: &str, key: &str) -> String {
    format!(
        "o bkt [{time}] 192.0.2.3 - 3E57 REST.GET.OBJECT {key} \"GET /{key} HTTP/1.1\" 200 - 5 5 7 6 \"-\" \"curl/8\" - hid SigV4 ECDHE AuthHeader bkt.s3.amazonaws.com TLSv1.2 - - us-east-1\n"
    )
}

fn rows(lake: &Path, table: Table) -> usize {
    Lake::new(lake)
        .read_all_blocking(table)
        .expect("read the lake")
        .iter()
        .map(|b| b.num_rows())
        .sum()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The CLI, waited for with a time limit.
fn s3logs(args: &[&OsStr]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_s3logs"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn s3logs");
    crate::util::wait_for(child)
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn count_query(lake: &Path, sql: &str) -> (Option<i32>, String, String) {
    let out = s3logs(&[
        os("query"),
        os(sql),
        os("--lake"),
        lake.as_os_str(),
        os("--format"),
        os("csv"),
    ]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

/// A folder with one object of `n` lines on 2024-03-01.
fn source(dir: &Path, n: usize) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let text: String = (0..n)
        .map(|i| line("01/Mar/2024:10:00:00 +0000", &format!("k{i}")))
        .collect();
    std::fs::write(src.join("2024-03-01-10-00-00-AAAA"), text).expect("write");
    src
}

#[test]
fn a_record_dated_past_year_9999_is_rejected_and_the_lake_stays_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = source(dir.path(), 3);
    let lake = dir.path().join("lake");
    assert_eq!(ingest(&[&src], &lake, &[]).0.status.code(), Some(0));
    let late = dir.path().join("late");
    std::fs::create_dir_all(&late).expect("mkdir");
    let edges = [
        line("31/Dec/9999:23:59:59 -0100", "future"),
        line("01/Jan/0001:00:30:00 +0100", "past"),
        line("31/Dec/9999:23:59:59 +0000", "last"),
        line("01/Jan/0001:00:00:00 +0000", "first"),
    ]
    .concat();
    std::fs::write(late.join("edges.log"), &edges).expect("write");
    let (out, summary) = ingest(&[&late], &lake, &["--max-reject-ratio", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary["rejects"]["time_out_of_range"], 2, "{summary}");
    assert_eq!(summary["records"], 2);
    // Every command still opens the lake.
    let (code, csv, err) = count_query(&lake, "SELECT count(*) AS n FROM logs");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(csv, "n\n5\n");
    let (_, csv, _) = count_query(&lake, "SELECT min(date) AS lo, max(date) AS hi FROM logs");
    assert_eq!(csv, "lo,hi\n0001-01-01,9999-12-31\n");
    let status = s3logs(&[os("status"), os("--lake"), lake.as_os_str(), os("--verify")]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    // So does every bundled query, and the report: hours and months of
    // year 1 and year 9999 are outside what a nanosecond time holds, and
    // DataFusion's own date_trunc failed on them.
    for query in s3logs::sql::queries::bundled().expect("bundled queries") {
        let (code, _, err) = count_query(&lake, &query.name);
        assert_eq!(code, Some(0), "{}: {err}", query.name);
    }
    let (code, csv, err) = count_query(
        &lake,
        "SELECT count(*) AS n FROM logs WHERE date_trunc('hour', request_time) = arrow_cast(253402297200000000, 'Timestamp(Microsecond, Some(\"UTC\"))')",
    );
    assert_eq!((code, csv.as_str()), (Some(0), "n\n1\n"), "{err}");
    // And so do ad-hoc weeks, months, quarters and years of both ends.
    let (code, csv, err) = count_query(
        &lake,
        "SELECT date_trunc('week', request_time) AS w, date_trunc('month', request_time) AS m, \
         date_trunc('quarter', request_time) AS q, date_trunc('year', request_time) AS y \
         FROM logs WHERE date IN (DATE '0001-01-01', DATE '9999-12-31') GROUP BY 1, 2, 3, 4 ORDER BY 1",
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        csv,
        "w,m,q,y\n0001-01-01T00:00:00Z,0001-01-01T00:00:00Z,0001-01-01T00:00:00Z,0001-01-01T00:00:00Z\n\
         9999-12-27T00:00:00Z,9999-12-01T00:00:00Z,9999-10-01T00:00:00Z,9999-01-01T00:00:00Z\n"
    );
    let page = dir.path().join("report.html");
    let out = s3logs(&[
        os("report"),
        os("--lake"),
        lake.as_os_str(),
        os("--output"),
        page.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).expect("the report");
    assert!(html.contains("9999-12-31"), "the report shows the last day");
    // `check` says the same of the same lines.
    let check = s3logs(&[os("check"), late.as_os_str(), os("--format"), os("json")]);
    assert_eq!(check.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&check.stdout).expect("json");
    assert_eq!(
        report["total"]["rejects"]["time_out_of_range"], 2,
        "{report}"
    );
}

#[test]
fn a_commit_that_readers_could_not_read_is_refused_before_it_is_written() {
    use deltalake::kernel::Add;
    let add = |date: &str, stats: &str| Add {
        path: format!("date={date}/part.parquet"),
        partition_values: [("date".to_string(), Some(date.to_string()))].into(),
        stats: Some(stats.to_string()),
        ..Add::default()
    };
    let ok = r#"{"numRecords":1,"minValues":{"request_time":"2024-03-01T00:00:00.000Z"}}"#;
    assert!(s3logs::lake::validate_adds(Table::Logs, &[add("2024-03-01", ok)]).is_ok());
    for (date, stats) in [
        ("10000-01-01", ok),
        ("0000-12-31", ok),
        ("2024-3-1", ok),
        (
            "2024-03-01",
            r#"{"numRecords":1,"maxValues":{"request_time":"+10000-01-01T00:00:00.000Z"}}"#,
        ),
        ("2024-03-01", "{not json"),
    ] {
        let err =
            s3logs::lake::validate_adds(Table::Logs, &[add(date, stats)]).expect_err("refused");
        assert!(err.to_string().contains("refusing to commit"), "{err:#}");
    }
}

#[test]
fn query_never_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = source(dir.path(), 4);
    let lake = dir.path().join("lake");
    assert_eq!(ingest(&[&src], &lake, &[]).0.status.code(), Some(0));
    let target = dir.path().join("copied/out.csv");
    let copy = format!(
        "COPY (SELECT * FROM logs) TO '{}' STORED AS CSV",
        target.display()
    );
    for sql in [
        "INSERT OVERWRITE logs SELECT * FROM logs WHERE false",
        "INSERT INTO logs SELECT * FROM logs",
        "INSERT INTO ingested SELECT * FROM ingested",
        "DELETE FROM logs",
        "CREATE TABLE t AS SELECT 1",
        copy.as_str(),
    ] {
        let (code, out, err) = count_query(&lake, sql);
        assert_eq!(code, Some(2), "{sql}: {out} {err}");
        assert!(err.contains("only reads"), "{sql}: {err}");
    }
    assert!(!target.exists() && !target.parent().expect("dir").exists());
    assert_eq!(rows(&lake, Table::Logs), 4);
    assert_eq!(rows(&lake, Table::Ingested), 1);
}

#[test]
fn an_object_that_failed_is_read_again_whatever_the_listing_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let day = |d: u32, n: usize| -> String {
        (0..n)
            .map(|i| line(&format!("{d:02}/Mar/2024:10:00:00 +0000"), &format!("k{i}")))
            .collect()
    };
    std::fs::write(src.join("2024-03-01-10-00-00-AAAA"), day(1, 3)).expect("write");
    // The object of the 2nd is corrupt when the first run reads it.
    let bad = src.join("2024-03-02-10-00-00-BBBB");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, day(2, 4000).as_bytes()).expect("gz");
    let good_gz = gz.finish().expect("gz");
    let mut broken = good_gz.clone();
    let mid = broken.len() / 2;
    broken[mid..].iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(&bad, &broken).expect("write");
    let lake = dir.path().join("lake");
    let (out, summary) = ingest(&[&src], &lake, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(summary["objects_to_retry"], 1, "{summary}");
    assert!(
        stderr(&out).contains("will be read again"),
        "{}",
        stderr(&out)
    );
    let status = s3logs(&[
        os("status"),
        os("--lake"),
        lake.as_os_str(),
        os("--format"),
        os("json"),
    ]);
    let st: Value = serde_json::from_slice(&status.stdout).expect("status json");
    assert_eq!(st["to_retry"].as_array().map(Vec::len), Some(1), "{st}");
    // The object is mended; a later run's window no longer lists its day.
    std::fs::write(&bad, &good_gz).expect("write");
    std::fs::write(src.join("2024-03-05-10-00-00-CCCC"), day(5, 2)).expect("write");
    let (out, summary) = ingest(&[&src], &lake, &["--since", "2024-03-04"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary["objects_retried"], 1, "{summary}");
    assert_eq!(summary["objects_to_retry"], 0);
    assert_eq!(rows(&lake, Table::Logs), 3 + 4000 + 2);
    let (_, summary) = ingest(&[&src], &lake, &["--since", "2024-03-04"]);
    assert_eq!(summary["objects_retried"], 0, "read once: {summary}");
    // An object to retry that is gone is said once, then dropped.
    let gone = src.join("2024-03-06-10-00-00-DDDD");
    std::fs::write(&gone, &broken).expect("write");
    let (out, _) = ingest(&[&src], &lake, &[]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_file(&gone).expect("rm");
    let (out, summary) = ingest(&[&src], &lake, &["--since", "2024-03-07"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no longer exists"),
        "{}",
        stderr(&out)
    );
    assert_eq!(summary["objects_to_retry"], 0);
    let (out, _) = ingest(&[&src], &lake, &["--since", "2024-03-07"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_same_object_given_twice_is_read_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = source(dir.path(), 5);
    let file = src.join("2024-03-01-10-00-00-AAAA");
    let lake = dir.path().join("lake");
    let again = src.join(".").join("2024-03-01-10-00-00-AAAA");
    let (out, summary) = ingest(&[&src, &src, &file, &again], &lake, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary["objects_found"], 1);
    assert_eq!(rows(&lake, Table::Logs), 5);
    assert_eq!(rows(&lake, Table::Ingested), 1);
    // So do `query --raw` and `check`.
    let raw = s3logs(&[
        os("query"),
        os("SELECT count(*) AS n FROM logs"),
        os("--raw"),
        src.as_os_str(),
        file.as_os_str(),
        again.as_os_str(),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&raw.stdout),
        "n\n5\n",
        "{}",
        stderr(&raw)
    );
    let check = s3logs(&[
        os("check"),
        src.as_os_str(),
        file.as_os_str(),
        os("--format"),
        os("json"),
    ]);
    let report: Value = serde_json::from_slice(&check.stdout).expect("json");
    assert_eq!(report["total"]["records"], 5, "{report}");
}

#[test]
fn a_raw_query_comes_before_or_after_its_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = source(dir.path(), 5);
    let sql = os("SELECT count(*) AS n FROM logs");
    for args in [
        vec![os("query"), os("--raw"), src.as_os_str(), sql],
        vec![
            os("query"),
            sql,
            os("--raw"),
            src.as_os_str(),
            src.as_os_str(),
        ],
    ] {
        let out = s3logs(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n5\n");
    }
    // The README's own example.
    let out = s3logs(&[
        os("query"),
        os("--raw"),
        sample_logs().as_os_str(),
        os("audit/access_denied"),
        os("--format"),
        os("csv"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = s3logs(&[os("query"), os("--raw"), src.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no query given"), "{}", stderr(&out));
}

#[test]
fn file_names_that_are_not_utf8_stay_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let a = src.join(OsStr::from_bytes(b"x\xff"));
    let b = src.join(OsStr::from_bytes(b"x\xfe"));
    std::fs::write(&a, line("01/Mar/2024:10:00:00 +0000", "a").repeat(2)).expect("write");
    std::fs::write(&b, line("01/Mar/2024:11:00:00 +0000", "b").repeat(3)).expect("write");
    let lake = dir.path().join("lake");
    let (out, _) = ingest(&[&src], &lake, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rows(&lake, Table::Ingested), 2);
    let (_, csv, _) = count_query(
        &lake,
        "SELECT source_file, count(*) AS n FROM logs GROUP BY 1 ORDER BY 1",
    );
    let base = s3logs::source::path_name(&std::fs::canonicalize(&src).expect("canonical"));
    assert_eq!(
        csv,
        format!("source_file,n\n{base}/x%FE,3\n{base}/x%FF,2\n")
    );
    let (out, summary) = ingest(&[&src], &lake, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary["objects_skipped"], 2);
}

#[test]
fn a_reingested_object_keeps_one_ledger_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = source(dir.path(), 3);
    let lake = dir.path().join("lake");
    assert_eq!(ingest(&[&src], &lake, &[]).0.status.code(), Some(0));
    let obj = src.join("2024-03-01-10-00-00-AAAA");
    let more = line("01/Mar/2024:12:00:00 +0000", "more").repeat(4);
    std::fs::write(
        &obj,
        [std::fs::read(&obj).expect("read"), more.into_bytes()].concat(),
    )
    .expect("write");
    let (out, _) = ingest(&[&src], &lake, &["--reingest-changed"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rows(&lake, Table::Ingested), 1);
    let (_, csv, _) = count_query(&lake, "SELECT sum(records) AS n FROM ingested");
    assert_eq!(csv, "n\n7\n");
    assert_eq!(rows(&lake, Table::Logs), 7);
}

#[test]
fn the_run_that_completes_a_crashed_one_reports_its_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = source(dir.path(), 6);
    let lake = dir.path().join("lake");
    for point in ["after-manifest", "after-commit-logs"] {
        let _ = std::fs::remove_dir_all(&lake);
        let out = crate::util::s3logs_cmd()
            .arg("ingest")
            .arg(&src)
            .arg("--lake")
            .arg(&lake)
            .env("S3LOGS_CRASH_AT", point)
            .output()
            .expect("run");
        assert!(
            !out.status.success(),
            "{point}: the crash point was reached"
        );
        let (out, summary) = ingest(&[&src], &lake, &[]);
        assert_eq!(out.status.code(), Some(0), "{point}: {}", stderr(&out));
        assert_eq!(summary["committed"], true, "{point}: {summary}");
        assert_eq!(summary["recovered_runs"][0], "run-000001", "{point}");
        assert_eq!(summary["records"], 6, "{point}");
        assert_eq!(summary["days"][0]["date"], "2024-03-01", "{point}");
        assert_eq!(summary["days"][0]["records"], 6, "{point}");
        assert!(
            stderr(&out).contains("days changed: 2024-03-01 6"),
            "{}",
            stderr(&out)
        );
        assert_eq!(rows(&lake, Table::Logs), 6);
    }
}

#[test]
fn a_failed_run_writes_its_summary_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = source(dir.path(), 2);
    let lake = dir.path().join("lake");
    let json = dir.path().join("last.json");
    let run = || {
        s3logs(&[
            os("ingest"),
            src.as_os_str(),
            os("--lake"),
            lake.as_os_str(),
            os("--summary-json"),
            json.as_os_str(),
            os("--lock-wait"),
            os("0"),
        ])
    };
    assert_eq!(run().status.code(), Some(0));
    let ok: Value = serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("json");
    assert_eq!(ok["error"], Value::Null);
    let held = Lake::new(&lake).lock(Duration::ZERO).expect("lock");
    let out = run();
    drop(held);
    assert_eq!(out.status.code(), Some(2));
    let failed: Value = serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("json");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("another s3logs run")),
        "{failed}"
    );
    assert_eq!(failed["committed"], false);
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = source(dir.path(), 50);
    let lake = dir.path().join("lake");
    assert_eq!(ingest(&[&src], &lake, &[]).0.status.code(), Some(0));
    let closed = |args: &[&OsStr]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_s3logs"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // Read a little, as `head -c 10` would, then go.
        let mut first = [0u8; 10];
        let mut stdout = child.stdout.take().expect("stdout");
        let _ = stdout.read(&mut first);
        drop(stdout);
        let out = crate::util::wait_for(child);
        (out.status.code(), stderr(&out))
    };
    let many = "SELECT value FROM generate_series(1, 3000000)";
    for format in ["csv", "json", "ndjson", "table"] {
        let (code, err) = closed(&[
            os("query"),
            os(many),
            os("--lake"),
            lake.as_os_str(),
            os("--format"),
            os(format),
        ]);
        assert_eq!(code, Some(0), "{format}: {err}");
        assert!(!err.contains("Broken pipe"), "{format}: {err}");
    }
    let big = dir.path().join("big");
    std::fs::create_dir_all(&big).expect("mkdir");
    std::fs::write(big.join("bad.log"), "not a log line\n".repeat(200_000)).expect("write");
    let (code, err) = closed(&[
        os("check"),
        big.as_os_str(),
        os("--rejects"),
        os("--format"),
        os("table"),
    ]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn impossible_settings_are_refused_at_once() {
    let started = Instant::now();
    for value in ["--threads=100000", "--threads=0", "--threads=8x"] {
        let out = s3logs(&[os(value), os("check"), sample_logs().as_os_str()]);
        assert_eq!(out.status.code(), Some(2), "{value}");
        assert!(
            stderr(&out).contains("threads from 1 to 1024"),
            "{}",
            stderr(&out)
        );
    }
    let out = crate::util::s3logs_cmd()
        .args(["check"])
        .arg(sample_logs())
        .env("S3LOGS_THREADS", "100000")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(started.elapsed() < Duration::from_secs(30));
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    for ratio in ["NaN", "-0.1", "1.5", "inf"] {
        let flag = format!("--max-reject-ratio={ratio}");
        let (out, _) = ingest(&[&sample_logs()], &lake, &[&flag]);
        assert_eq!(out.status.code(), Some(2), "{ratio}");
        assert!(
            stderr(&out).contains("share from 0 to 1"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!lake.exists());
}

#[test]
fn the_lake_is_never_its_own_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = source(dir.path(), 3);
    let lake = src.join("lake");
    for run in 0..2 {
        let (out, summary) = ingest(&[&src], &lake, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(summary["rejected"], 0, "run {run}: {summary}");
        if run == 1 {
            assert!(summary["objects_in_lake"].as_u64() > Some(0), "{summary}");
        }
    }
    assert_eq!(rows(&lake, Table::Logs), 3);
    assert_eq!(rows(&lake, Table::Rejects), 0);
}

#[test]
fn a_line_past_the_limit_is_too_long_whether_or_not_it_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let long = vec![b'a'; 20_000_000];
    std::fs::write(src.join("a-ended.log"), [&long[..], b"\n"].concat()).expect("write");
    std::fs::write(src.join("b-open.log"), &long).expect("write");
    let lake = dir.path().join("lake");
    let (out, summary) = ingest(&[&src], &lake, &["--max-reject-ratio", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary["rejects"]["line_too_long"], 2, "{summary}");
    for b in Lake::new(&lake)
        .read_all_blocking(Table::Rejects)
        .expect("read")
    {
        let raw = b.column(4).as_binary::<i32>();
        for i in 0..b.num_rows() {
            assert_eq!(raw.value(i).len(), 16 << 20);
        }
    }
}

#[test]
fn a_first_run_that_fails_leaves_no_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let (out, _) = ingest(&[&dir.path().join("no-such-bucket")], &lake, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!lake.exists(), "no lake is made for nothing");
    // An empty first run still makes the tables.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let (out, _) = ingest(&[&empty], &lake, &[]);
    assert_eq!(out.status.code(), Some(0));
    let (code, csv, err) = count_query(&lake, "SELECT count(*) AS n FROM logs");
    assert_eq!((code, csv.as_str()), (Some(0), "n\n0\n"), "{err}");
}

#[test]
fn compact_keeps_equal_lines_of_one_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let delete = "o bkt [01/Mar/2024:10:00:00 +0000] 192.0.2.3 arn:aws:iam::1:user/a ID1 REST.POST.MULTI_OBJECT_DELETE - \"POST /?delete HTTP/1.1\" 200 - 1 - 1 1 \"-\" \"ua\" -\n";
    let key = "o bkt [01/Mar/2024:10:00:00 +0000] 192.0.2.3 arn:aws:iam::1:user/a ID1 BATCH.DELETE.OBJECT k1 - 204 - - - - - - - -\n";
    let object = [delete, key, key].concat();
    std::fs::write(src.join("2024-03-01-10-05-00-AAAA"), &object).expect("write");
    // The same object delivered again under another name.
    std::fs::write(src.join("2024-03-01-10-06-00-BBBB"), &object).expect("write");
    let lake = dir.path().join("lake");
    assert_eq!(ingest(&[&src], &lake, &[]).0.status.code(), Some(0));
    let out = s3logs(&[os("compact"), os("--lake"), lake.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (_, csv, _) = count_query(
        &lake,
        "SELECT operation, count(*) AS n FROM logs GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(
        csv,
        "operation,n\nBATCH.DELETE.OBJECT,2\nREST.POST.MULTI_OBJECT_DELETE,1\n"
    );
}

#[test]
fn status_verify_finds_a_file_deleted_from_under_the_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let (out, _) = ingest(&[&sample_logs()], &lake, &["--max-reject-ratio", "1"]);
    assert_eq!(out.status.code(), Some(0));
    let status = |verify: bool| {
        let mut args = vec![
            os("status"),
            os("--lake"),
            lake.as_os_str(),
            os("--format"),
            os("json"),
        ];
        if verify {
            args.push(os("--verify"));
        }
        s3logs(&args)
    };
    let ok = status(true);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let victim = std::fs::read_dir(lake.join("logs/date=2024-03-02"))
        .expect("day")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .expect("a file");
    std::fs::remove_file(&victim).expect("rm");
    assert_eq!(
        status(false).status.code(),
        Some(0),
        "without --verify, as before"
    );
    let out = status(true);
    assert_eq!(out.status.code(), Some(2));
    let st: Value = serde_json::from_slice(&out.stdout).expect("json");
    let name = victim
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        st["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains(&name) && p.ends_with("missing")),
        "{st}"
    );
    assert!(
        stderr(&out).contains("missing or damaged"),
        "{}",
        stderr(&out)
    );
}

/// Valid lines with the extreme value of every column type, and names with
/// every byte a token may hold.
fn extreme_lines() -> Vec<u8> {
    let mut out = Vec::new();
    let times = [
        "01/Jan/0001:00:00:00 +0000",
        "01/Jan/0001:23:59:59 +2359",
        "31/Dec/9999:23:59:59 +0000",
        "01/Jan/0001:00:00:00 -0000",
        "31/Dec/9999:00:00:00 -2359",
        "29/Feb/2024:12:00:00 +0530",
    ];
    for (i, t) in times.iter().enumerate() {
        // Numbers at the top of their columns, and zeros with leading zeros.
        let nums = if i % 2 == 0 {
            "32767 - 9223372036854775807 9223372036854775807 2147483647 2147483647"
        } else {
            "000 - 0 0 0 0"
        };
        out.extend_from_slice(
            format!("o bkt [{t}] ::1 - ID{i} REST.GET.OBJECT k{i} \"\" {nums} \"\" \"\" - hid SigV4 - - - - - Yes - extra \"x\"\n")
                .as_bytes(),
        );
    }
    // Keys with every byte a token can hold (no space, newline, NUL or
    // quote), and invalid UTF-8.
    let bytes: Vec<u8> = (1u8..=255)
        .filter(|b| !matches!(b, b' ' | b'\n' | b'"' | b'[' | b'\r'))
        .collect();
    for piece in bytes.chunks(40) {
        out.extend_from_slice(
            b"o bkt [01/Mar/2024:00:00:00 +0000] 192.0.2.3 - ID REST.GET.OBJECT ",
        );
        out.extend_from_slice(piece);
        out.extend_from_slice(b" - - - - - - - - -\n");
    }
    // A 1 MiB user agent and an empty quoted one.
    let ua = "m".repeat(1 << 20);
    out.extend_from_slice(
        format!("o bkt [01/Mar/2024:00:00:01 +0000] 192.0.2.3 - ID REST.GET.OBJECT k - - - - - - - - \"{ua}\"\n").as_bytes(),
    );
    out
}

#[test]
fn extreme_values_of_every_column_give_a_lake_every_reader_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let lines = extreme_lines();
    let expected = lines
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    std::fs::write(src.join("extremes.log"), &lines).expect("write");
    let lake = dir.path().join("lake");
    let (out, summary) = ingest(&[&src], &lake, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary["rejected"], 0, "{summary}");
    assert_eq!(summary["records"].as_u64(), Some(expected as u64));
    let batches = Lake::new(&lake)
        .read_all_blocking(Table::Logs)
        .expect("read");
    let max_bytes: i64 = batches
        .iter()
        .filter_map(|b| arrow::compute::max(b.column(11).as_primitive::<Int64Type>()))
        .max()
        .expect("some");
    assert_eq!(max_bytes, i64::MAX);
    assert!(
        batches
            .iter()
            .any(|b| b.column(25).as_boolean().true_count() > 0)
    );
    crate::ingest_edges::read_with_other_readers(&lake, expected, None);
}

/// Random valid lines with extreme field values, in rounds: after each, the
/// lake must open in s3logs, DuckDB and deltalake.
#[test]
fn random_extreme_lines_never_make_the_lake_unreadable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let months = ["Jan", "Feb", "Dec"];
    let mut records = 0;
    for round in 0..3 {
        let src = dir.path().join(format!("src{round}"));
        std::fs::create_dir_all(&src).expect("mkdir");
        let mut text = Vec::new();
        for _ in 0..200 {
            let year = [1, 2, 1970, 2024, 9998, 9999][next(6) as usize];
            let day = 1 + next(28);
            let sign = if next(2) == 0 { '+' } else { '-' };
            let offset = format!("{sign}{:02}{:02}", next(24), next(60));
            let t = format!(
                "{day:02}/{}/{year:04}:{:02}:{:02}:{:02} {offset}",
                months[next(3) as usize],
                next(24),
                next(60),
                next(60)
            );
            let number = |n: u64| -> String {
                match n % 4 {
                    0 => "-".into(),
                    1 => "0".into(),
                    2 => i64::MAX.to_string(),
                    _ => (n * 7919).to_string(),
                }
            };
            let key: Vec<u8> = (0..1 + next(12))
                .map(|_| {
                    loop {
                        let b = 1 + next(255) as u8;
                        if !matches!(b, b' ' | b'\n' | b'"' | b'[' | b'\r') {
                            break b;
                        }
                    }
                })
                .collect();
            text.extend_from_slice(
                format!(
                    "o b{} [{t}] 192.0.2.{} - ID REST.PUT.OBJECT ",
                    next(3),
                    next(255)
                )
                .as_bytes(),
            );
            text.extend_from_slice(&key);
            text.extend_from_slice(
                format!(
                    " \"PUT / HTTP/1.1\" {} - {} {} {} {} \"-\" \"ua\"\n",
                    next(32768),
                    number(next(100)),
                    number(next(100)),
                    next(i32::MAX as u64),
                    next(100)
                )
                .as_bytes(),
            );
        }
        std::fs::write(src.join("random.log"), &text).expect("write");
        let (out, summary) = ingest(&[&src], &lake, &["--max-reject-ratio", "1"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: {}",
            stderr(&out)
        );
        records += summary["records"].as_u64().expect("records") as usize;
        let (code, csv, err) = count_query(&lake, "SELECT count(*) AS n FROM logs");
        assert_eq!(code, Some(0), "round {round}: {err}");
        assert_eq!(csv, format!("n\n{records}\n"));
        crate::ingest_edges::read_with_other_readers(&lake, records, Some(round + 1));
    }
}

#[test]
fn a_damaged_commit_is_named_by_every_command_that_opens_the_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let (out, _) = crate::ingest::ingest(&[&sample_logs()], &lake, &["--max-reject-ratio", "1"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let commit = lake.join("logs/_delta_log/00000000000000000000.json");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&commit)
        .expect("open");
    std::io::Write::write_all(&mut f, b"\n{\"add\": garbage\n").expect("damage");
    drop(f);
    let text = std::fs::read_to_string(&commit).expect("commit");
    let line = text
        .split('\n')
        .position(|l| l.contains("garbage"))
        .expect("the damage")
        + 1;
    let lake_s = lake.display().to_string();
    let page = dir.path().join("r.html").display().to_string();
    let sample = sample_logs().display().to_string();
    let commands: [&[&str]; 4] = [
        &["status", "--lake", &lake_s],
        &["query", "--lake", &lake_s, "SELECT count(*) FROM logs"],
        &["report", "--lake", &lake_s, "--output", &page],
        &["ingest", &sample, "--lake", &lake_s],
    ];
    let named = format!(
        "the commit {}, line {}, is not JSON",
        commit.canonicalize().expect("real path").display(),
        line
    );
    for args in commands {
        let out = crate::util::s3logs_cmd()
            .env_remove("RUST_BACKTRACE")
            .args(args)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&named), "{args:?}: {err}");
    }
}
