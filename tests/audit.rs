//! `s3logs audit`: findings from the bundled queries, judged by a policy,
//! with an exit code to alert on.

use std::path::Path;

use serde_json::Value;

use crate::ingest::ingest;
use crate::util::{s3logs_cmd, sample_logs};

fn audit(args: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let out = s3logs_cmd()
        .arg("audit")
        .args(args)
        .args(["--summary-json", "-"])
        .output()
        .expect("audit");
    let found = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (
        out.status.code(),
        found,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn finding<'a>(found: &'a [Value], name: &str) -> &'a Value {
    found
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {found:?}"))
}

/// The sum of a column of a bundled query's rows, as `s3logs query` gives it.
fn query_sum(lake: &Path, query: &str, column: &str, params: &[&str]) -> f64 {
    let mut cmd = s3logs_cmd();
    cmd.args(["query", query, "--format", "json", "--lake"])
        .arg(lake);
    for p in params {
        cmd.args(["--param", p]);
    }
    let out = cmd.output().expect("query");
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    rows.iter().map(|r| r[column].as_f64().unwrap_or(0.0)).sum()
}

#[test]
fn findings_match_their_queries_and_alerts_set_the_exit_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let (out, _) = ingest(&[&sample_logs()], &lake, &["--max-reject-ratio", "1"]);
    assert_eq!(out.status.code(), Some(0));
    let lake_s = lake.display().to_string();
    let (code, found, err) = audit(&["--lake", &lake_s]);
    assert_eq!(code, Some(1), "{err}");
    let plain = finding(&found, "plain_http");
    assert_eq!(plain["alert"], true);
    assert_eq!(
        plain["value"].as_f64(),
        Some(query_sum(&lake, "audit/plain_http", "requests", &[]))
    );
    assert_eq!(plain["since"], "2024-03-01");
    assert_eq!(finding(&found, "access_denied")["alert"], false);
    assert_eq!(finding(&found, "cross_account")["enabled"], false);
    // And for a monitor.
    let prom = dir.path().join("audit.prom");
    let (_, _, _) = audit(&[
        "--lake",
        &lake_s,
        "--metrics-file",
        &prom.display().to_string(),
    ]);
    let text = std::fs::read_to_string(&prom).expect("metrics");
    assert!(
        text.contains("s3logs_audit_alert{name=\"plain_http\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("s3logs_audit_alert{name=\"access_denied\"} 0\n"),
        "{text}"
    );
    assert!(!text.contains("name=\"cross_account\""), "off: {text}");
    let records = query_sum(&lake, "report/overview", "requests", &[]);
    assert!(records > 0.0);
    assert!(
        text.contains(&format!("s3logs_audit_records {records}\n")),
        "{text}"
    );
    // A range with no records finds nothing, and says why, so that logs
    // that stopped arriving do not pass for a quiet bucket.
    let (code, _, err) = audit(&[
        "--lake",
        &lake_s,
        "--since",
        "2030-01-01",
        "--metrics-file",
        &prom.display().to_string(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("no records in the range audited"), "{err}");
    let text = std::fs::read_to_string(&prom).expect("metrics");
    assert!(text.contains("s3logs_audit_records 0\n"), "{text}");
    // The same findings from the raw files.
    let sample = sample_logs().display().to_string();
    let (code, raw, _) = audit(&["--raw", &sample]);
    assert_eq!(code, Some(1));
    assert_eq!(raw, found);
    // A date range narrows them.
    let (_, day, _) = audit(&[
        "--lake",
        &lake_s,
        "--since",
        "2024-03-02",
        "--until",
        "2024-03-02",
    ]);
    assert_eq!(
        finding(&day, "plain_http")["value"].as_f64(),
        Some(query_sum(
            &lake,
            "audit/plain_http",
            "requests",
            &["since=2024-03-02", "until=2024-03-02"]
        ))
    );
    // A policy that expects what this bucket does is quiet.
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[plain_http]\nthreshold = 1000\n[deprecated_tls]\nenabled = false\n[sigv2]\nenabled = false\n\
         [anonymous_access]\nallow = [\"photos-prod\", \"static-site\", \"analytics-raw\"]\n\
         [acl_required]\nenabled = false\n\
         [cross_account]\nenabled = true\nparams = { owner_account = \"111122223333\" }\nallow = [\"444455556666\"]\n",
    )
    .expect("write");
    let policy_s = policy.display().to_string();
    let (code, quiet, err) = audit(&["--lake", &lake_s, "--policy", &policy_s]);
    assert_eq!(code, Some(0), "{err}: {quiet:?}");
    assert_eq!(
        finding(&quiet, "anonymous_access")["value"].as_f64(),
        Some(0.0)
    );
    let cross = finding(&quiet, "cross_account");
    assert_eq!(cross["enabled"], true);
    assert_eq!(
        cross["value"].as_f64(),
        Some(0.0),
        "the partner is allowed: {cross}"
    );
    // Without the partner allowed, its requests cross the threshold.
    std::fs::write(
        &policy,
        "[cross_account]\nenabled = true\nparams = { owner_account = \"111122223333\" }\n",
    )
    .expect("write");
    let (_, strict, _) = audit(&["--lake", &lake_s, "--policy", &policy_s]);
    let cross = finding(&strict, "cross_account");
    assert_eq!(
        cross["value"].as_f64(),
        Some(query_sum(
            &lake,
            "audit/cross_account",
            "requests",
            &["owner_account=111122223333"]
        ))
    );
    assert_eq!(cross["alert"], true);
}

#[test]
fn a_bad_policy_is_an_error_that_names_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    ingest(&[&sample_logs()], &lake, &["--max-reject-ratio", "1"]);
    let lake_s = lake.display().to_string();
    let policy = dir.path().join("policy.toml");
    let policy_s = policy.display().to_string();
    for (text, says) in [
        ("[plain_htttp]\nthreshold = 1\n", "plain_htttp"),
        ("[plain_http]\nthreshold = \"many\"\n", "threshold"),
        ("[plain_http\n", "policy"),
    ] {
        std::fs::write(&policy, text).expect("write");
        let (code, _, err) = audit(&["--lake", &lake_s, "--policy", &policy_s]);
        assert_eq!(code, Some(2), "{text}");
        assert!(err.contains(says), "{text}: {err}");
    }
    let (code, _, err) = audit(&["--lake", &lake_s, "--metrics-file", "/no/such/dir/a.prom"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("does not exist"), "{err}");
    let (code, _, err) = audit(&["--lake", &lake_s, "--policy", "/no/such/policy.toml"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("/no/such/policy.toml"), "{err}");
}
