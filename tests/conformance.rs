//! The conformance corpus of `../shared/conformance/`: every case, every
//! column, every reason code, through the parser and the batch builder.
//!
//! CI sets `S3LOGS_CONFORMANCE=required`, under which a missing corpus fails;
//! elsewhere (a fresh clone without `../shared`) the test says where it
//! looked and passes without checking.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use s3logs::batch::LogBatchBuilder;
use s3logs::parse::parse_line;
use s3logs::schema::Column;

use crate::util::{row_json, shared};

#[derive(Default)]
struct Tally {
    lines: usize,
    accepted: usize,
    rejected: usize,
    passed: usize,
    failures: Vec<String>,
}

fn check_case(case: &Value, tally: &mut Tally) -> Result<(), String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(case["raw_b64"].as_str().ok_or("raw_b64 missing")?)
        .map_err(|e| e.to_string())?;
    let expect = &case["expect"];
    let parsed = parse_line(&raw);
    if expect["rejected"].as_bool() == Some(true) {
        tally.rejected += 1;
        let want = expect["reason"].as_str().unwrap_or("?");
        return match parsed {
            Ok(_) => Err(format!("accepted, want reject {want}")),
            Err(e) if e.reason.as_str() == want => Ok(()),
            Err(e) => Err(format!("reason {}, want {want}", e.reason)),
        };
    }
    tally.accepted += 1;
    let rec = parsed.map_err(|e| format!("rejected: {e}"))?;
    let mut builder = LogBatchBuilder::with_capacity(1);
    builder.append(&rec, "case", 1);
    let row = row_json(&builder.finish(), 0);
    let mut diffs = Vec::new();
    for col in Column::log().map(Column::name) {
        let want = &expect["row"][col];
        let got = row.get(col).unwrap_or(&Value::Null);
        if got != want {
            diffs.push(format!("{col}: got {got}, want {want}"));
        }
    }
    if expect["lossy_utf8"].as_bool() != Some(rec.lossy_utf8) {
        diffs.push(format!("lossy_utf8: got {}", rec.lossy_utf8));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

#[test]
fn every_case_gives_its_row_or_reason() {
    let path = shared().join("conformance/cases.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if std::env::var("S3LOGS_CONFORMANCE").as_deref() == Ok("required") => {
            panic!(
                "S3LOGS_CONFORMANCE=required but {} is unreadable: {e}",
                path.display()
            )
        }
        Err(e) => {
            eprintln!(
                "conformance corpus not found at {} ({e}); skipped",
                path.display()
            );
            return;
        }
    };
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut total = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).expect("cases.jsonl is JSON");
        let source = case["source"].as_str().unwrap_or("?").to_string();
        let tally = tallies.entry(source).or_default();
        tally.lines += 1;
        total += 1;
        match check_case(&case, tally) {
            Ok(()) => tally.passed += 1,
            Err(why) => tally.failures.push(format!("{}: {why}", case["id"])),
        }
    }
    let mut failed = 0;
    eprintln!(
        "{:<52} {:>5} {:>8} {:>8} {:>6} {:>6}",
        "source", "lines", "accepted", "rejected", "passed", "failed"
    );
    for (source, t) in &tallies {
        eprintln!(
            "{source:<52} {:>5} {:>8} {:>8} {:>6} {:>6}",
            t.lines,
            t.accepted,
            t.rejected,
            t.passed,
            t.failures.len()
        );
        for f in &t.failures {
            eprintln!("    FAIL {f}");
        }
        failed += t.failures.len();
    }
    assert_eq!(total, 111, "the corpus has 111 cases");
    assert_eq!(failed, 0, "{failed} conformance cases failed");
}
