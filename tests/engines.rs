//! The lake read by other engines through the DDL `s3logs ddl` prints:
//! Sail (a distributed Spark Connect engine, through the PySpark client)
//! and DuckDB run bundled audit and billing queries over a lake written by
//! shard workers and get the rows `s3logs query` gets.
//!
//! Needs `S3LOGS_PYTHON` with pysail, pyspark-client, duckdb and its delta
//! extension (`make test` sets it up); without it the tests say so and
//! skip, unless `S3LOGS_INTEROP=required`.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::util::{root, s3logs_cmd, sample_logs};

/// The sample logs ingested by two shard workers at once, then compacted:
/// the lake the engines read.
fn sharded_lake() -> &'static Path {
    static LAKE: OnceLock<(tempfile::TempDir, std::path::PathBuf)> = OnceLock::new();
    let (_, lake) = LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = dir.path().join("lake");
        let workers: Vec<_> = ["1/2", "2/2"]
            .iter()
            .map(|shard| {
                Command::new(env!("CARGO_BIN_EXE_s3logs"))
                    .arg("ingest")
                    .arg(sample_logs())
                    .arg("--lake")
                    .arg(&lake)
                    .args(["--max-reject-ratio", "1", "--shard", shard])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for w in workers {
            let out = crate::util::wait_for(w);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = s3logs_cmd()
            .args(["compact", "--lake"])
            .arg(&lake)
            .output()
            .expect("compact");
        assert!(out.status.success());
        (dir, lake)
    });
    lake
}

fn python() -> Option<String> {
    match std::env::var("S3LOGS_PYTHON") {
        Ok(p) => Some(p),
        Err(_) => {
            assert_ne!(
                std::env::var("S3LOGS_INTEROP").as_deref(),
                Ok("required"),
                "S3LOGS_INTEROP=required but S3LOGS_PYTHON is not set"
            );
            eprintln!("S3LOGS_PYTHON not set (a Python with pysail and duckdb); skipped");
            None
        }
    }
}

/// A bundled query's SQL with its parameters at their defaults, as
/// literals (the other engines get no bound parameters).
fn bundled(name: &str) -> String {
    let mut sql = std::fs::read_to_string(root().join("queries").join(format!("{name}.sql")))
        .expect("bundled query");
    let params: Vec<(String, String)> = sql
        .lines()
        .filter_map(|l| l.strip_prefix("-- param: "))
        .map(|p| {
            let mut words = p.split(' ');
            let (name, kind, default) = (
                words.next().expect("name"),
                words.next().expect("type"),
                words.next().expect("default"),
            );
            let literal = match kind {
                "date" => format!("DATE '{default}'"),
                "text" => format!("'{default}'"),
                _ => default.to_string(),
            };
            (format!("${name}"), literal)
        })
        .collect();
    for (name, literal) in params {
        sql = sql.replace(&name, &literal);
    }
    sql
}

fn ddl(engine: &str, lake: &Path) -> String {
    let out = s3logs_cmd()
        .args(["ddl", "--engine", engine, "--lake"])
        .arg(lake)
        .output()
        .expect("ddl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs `queries` (name, SQL) in `engine` over the lake registered with
/// `ddl`; returns each query's rows.
fn run_engine(python: &str, engine: &str, ddl: &str, queries: &[(&str, String)]) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = dir.path().join("job.json");
    let queries: serde_json::Map<String, Value> = queries
        .iter()
        .map(|(n, q)| (n.to_string(), Value::from(q.clone())))
        .collect();
    std::fs::write(
        &job,
        serde_json::json!({ "ddl": ddl, "queries": queries }).to_string(),
    )
    .expect("job");
    let out = Command::new(python)
        .arg(root().join("tests/interop/engine_queries.py"))
        .arg(engine)
        .arg(&job)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{engine} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{engine}: {e}: {}", String::from_utf8_lossy(&out.stderr)))
}

fn s3logs_rows(lake: &Path, sql_or_name: &str) -> Value {
    serde_json::from_str(&crate::util::query_as(lake, sql_or_name, "json")).expect("json")
}

fn assert_same_answers(engine: &str, got: &Value, lake: &Path, names: &[&str]) {
    for name in names {
        let want = s3logs_rows(lake, name);
        let rows = want.as_array().map_or(0, Vec::len);
        assert_eq!(&got[*name], &want, "{engine} and s3logs differ on {name}");
        // A comparison of empty results would prove little.
        assert!(rows > 0 || name.contains("exfiltration"), "{name}: no rows");
    }
}

/// The bundled queries Sail runs as written (the others use functions only
/// DataFusion or s3logs has; the README lists them), some over the records
/// and some over the daily views the printed DDL creates.
const PORTABLE: [&str; 14] = [
    "audit/deletes",
    "audit/plain_http",
    "audit/anonymous_access",
    "audit/access_denied",
    "audit/acl_required",
    "billing/requests_by_class",
    "report/top_requesters",
    "report/top_remote_ips",
    "report/top_user_agents",
    "report/top_keys",
    "report/top_error_codes",
    "report/tls_versions",
    "audit/after_hours",
    "audit/sigv2",
];

/// The billing totals, in SQL every engine reads.
const TOTALS: &str = "SELECT count(*) AS requests, sum(coalesce(bytes_sent, 0)) AS bytes_sent, \
     count(DISTINCT bucket) AS buckets, min(date) AS first_day, max(date) AS last_day FROM logs";

#[test]
fn sail_answers_the_bundled_queries_as_s3logs_does() {
    let Some(python) = python() else { return };
    let lake = sharded_lake();
    let mut queries: Vec<(&str, String)> = PORTABLE.iter().map(|n| (*n, bundled(n))).collect();
    queries.push(("totals", TOTALS.to_string()));
    let got = run_engine(&python, "sail", &ddl("spark", lake), &queries);
    assert_same_answers("Sail", &got, lake, &PORTABLE);
    assert_eq!(got["totals"], s3logs_rows(lake, TOTALS), "totals");
    assert_eq!(got["totals"][0]["requests"], 260);
}

#[test]
fn duckdb_reads_the_lake_through_the_printed_ddl() {
    let Some(python) = python() else { return };
    let lake = sharded_lake();
    let names = [
        "audit/plain_http",
        "audit/anonymous_access",
        "billing/requests_by_class",
    ];
    let mut queries: Vec<(&str, String)> = names.iter().map(|n| (*n, bundled(n))).collect();
    queries.push(("totals", TOTALS.to_string()));
    queries.push((
        "tables",
        "SELECT (SELECT count(*) FROM rejects) AS rejects, \
         (SELECT count(*) FROM ingested) AS objects"
            .to_string(),
    ));
    let got = run_engine(&python, "duckdb", &ddl("duckdb", lake), &queries);
    assert_same_answers("DuckDB", &got, lake, &names);
    assert_eq!(got["totals"], s3logs_rows(lake, TOTALS), "totals");
    assert_eq!(
        got["tables"],
        serde_json::json!([{ "rejects": 5, "objects": 14 }])
    );
}

#[test]
fn ddl_refuses_what_an_engine_cannot_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let none = s3logs_cmd()
        .args(["ddl", "--engine", "spark", "--lake"])
        .arg(dir.path().join("nothing"))
        .output()
        .expect("ddl");
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no lake at"));
    let athena = s3logs_cmd()
        .args(["ddl", "--engine", "athena", "--lake"])
        .arg(sharded_lake())
        .output()
        .expect("ddl");
    assert_eq!(athena.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&athena.stderr).contains("S3 only"));
    let athena = s3logs_cmd()
        .args([
            "ddl",
            "--engine",
            "athena",
            "--lake",
            "s3://acme-logs/lake/",
        ])
        .output()
        .expect("ddl");
    assert!(athena.status.success());
    assert!(String::from_utf8_lossy(&athena.stdout).contains(
        "CREATE EXTERNAL TABLE IF NOT EXISTS s3logs.ingested LOCATION 's3://acme-logs/lake/ingested' TBLPROPERTIES ('table_type' = 'DELTA');"
    ));
    crate::shards::assert_protocol_is_minimal(sharded_lake());
}
