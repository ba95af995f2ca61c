//! `s3logs check` end to end: counts, `--rejects`, exit codes, unreadable
//! and corrupt inputs, and stdout kept for data.

use std::io::Write;

use serde_json::Value;

use crate::util::sample_logs;

fn check_json(args: &[&std::ffi::OsStr]) -> (i32, Value, String) {
    let out = crate::util::s3logs_cmd()
        .arg("check")
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("run s3logs");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Counts the sample logs independently: lines by splitting on `\n`.
fn independent_line_count() -> u64 {
    let mut lines = 0;
    let (objects, _) = s3logs::source::discover(&[sample_logs()]);
    for o in objects {
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut o.open().expect("open").into_reader(), &mut data)
            .expect("read");
        lines += data.split(|&c| c == b'\n').count() as u64 - u64::from(data.ends_with(b"\n"));
    }
    lines
}

#[test]
fn sample_logs_counts_and_exit_code_1_for_rejects() {
    let (code, json, stderr) = check_json(&[sample_logs().as_os_str()]);
    assert_eq!(code, 1, "the sample holds rejected lines; stderr: {stderr}");
    let total = &json["total"];
    assert_eq!(total["lines"].as_u64(), Some(independent_line_count()));
    assert_eq!(total["rejected"], 5);
    assert_eq!(
        total["records"].as_u64(),
        Some(independent_line_count() - 5)
    );
    for reason in [
        "empty",
        "too_few_fields",
        "bad_time",
        "bad_http_status",
        "spliced_record",
    ] {
        assert_eq!(total["rejects"][reason], 1, "{reason}");
    }
    assert_eq!(total["lossy_utf8"], 1);
    assert_eq!(total["first_time_utc"], "2024-03-01T00:27:10Z");
    // Every era of the format is present.
    for era in ["17", "18", "24", "26", "27", "28"] {
        assert!(total["field_counts"][era].as_u64() > Some(0), "era {era}");
    }
    assert!(
        stderr.contains("MB/s"),
        "throughput goes to stderr: {stderr}"
    );
    // The gzipped object was read.
    let gz = json["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with(".gz")))
        .expect("the .gz object");
    assert_eq!(gz["records"], 30);
}

#[test]
fn rejects_are_listed_with_file_line_and_raw_bytes() {
    let out = crate::util::s3logs_cmd()
        .args(["check", "--rejects", "--format", "table"])
        .arg(sample_logs())
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("HARDCASES0000001:26: bad_time"), "{stdout}");
    assert!(stdout.contains("[02/Mar/2024:10:00:21] 192.0.2.10"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("bad_time"));
}

#[test]
fn clean_file_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.log");
    let line = br#"o b [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - 3E57 REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 5 5 7 6 "-" "curl/8" -"#;
    std::fs::write(&good, [&line[..], b"\n"].concat()).expect("write");
    let (code, json, _) = check_json(&[good.as_os_str()]);
    assert_eq!(code, 0);
    assert_eq!(json["total"]["records"], 1);
}

#[test]
fn unreadable_path_exits_2_and_the_rest_is_still_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    let (code, json, stderr) = check_json(&[missing.as_os_str(), sample_logs().as_os_str()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("nope"), "names the path: {stderr}");
    assert_eq!(
        json["unreadable"][0].as_str().map(|p| p.ends_with("nope")),
        Some(true)
    );
    assert!(
        json["total"]["records"].as_u64() > Some(200),
        "the sample was still read"
    );
}

#[test]
fn corrupt_gzip_is_named_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broken.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for _ in 0..2000 {
        gz.write_all(b"o b [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - 3E57 REST.GET.OBJECT k \"GET /k HTTP/1.1\" 200 - 5 5 7 6 \"-\" \"curl/8\" -\n")
            .expect("gz");
    }
    let mut bytes = gz.finish().expect("gz");
    let mid = bytes.len() / 2;
    bytes[mid..].iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(&path, &bytes).expect("write");
    let (code, json, stderr) = check_json(&[path.as_os_str()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("broken.gz"), "{stderr}");
    assert!(json["files"][0]["error"].is_string());
}

#[test]
fn stdout_holds_only_the_report() {
    let out = crate::util::s3logs_cmd()
        .args(["check", "--format", "json"])
        .arg(sample_logs())
        .output()
        .expect("run");
    // All of stdout parses as one JSON document: no progress or summary in it.
    serde_json::from_slice::<Value>(&out.stdout).expect("stdout is exactly the JSON report");
    assert!(!out.stderr.is_empty());
}

#[test]
fn usage_error_exits_2() {
    let out = crate::util::s3logs_cmd()
        .args(["check"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}
