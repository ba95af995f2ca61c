//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value, json};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled sample logs.
pub fn sample_logs() -> PathBuf {
    root().join("sample-logs")
}

/// `../shared` beside the repository, or `S3LOGS_SHARED`.
pub fn shared() -> PathBuf {
    std::env::var_os("S3LOGS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"))
}

/// Formats microseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| format!("invalid {micros}"))
}

/// One row of a batch as a JSON object keyed by column name, with
/// timestamps as ISO strings: the representation of `cases.jsonl`.
pub fn row_json(batch: &RecordBatch, row: usize) -> Map<String, Value> {
    let mut out = Map::new();
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        let v = if col.is_null(row) {
            Value::Null
        } else {
            match field.data_type() {
                DataType::Utf8 => json!(col.as_string::<i32>().value(row)),
                DataType::Int16 => json!(col.as_primitive::<Int16Type>().value(row)),
                DataType::Int32 => json!(col.as_primitive::<Int32Type>().value(row)),
                DataType::Int64 => json!(col.as_primitive::<Int64Type>().value(row)),
                DataType::Boolean => json!(col.as_boolean().value(row)),
                DataType::Date32 => {
                    let days = col
                        .as_primitive::<arrow::datatypes::Date32Type>()
                        .value(row);
                    json!(s3logs::civil::date_string(days))
                }
                DataType::Timestamp(..) => {
                    json!(iso(col
                        .as_primitive::<TimestampMicrosecondType>()
                        .value(row)))
                }
                other => json!(format!("unhandled type {other}")),
            }
        };
        out.insert(field.name().clone(), v);
    }
    out
}

/// Parquet files below `dir`, at any depth.
pub fn parquet_files(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            n += parquet_files(&p);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            n += 1;
        }
    }
    n
}

/// How long any one run of the CLI may take in a test before it counts as
/// hung and fails (instead of holding CI until its own limit).
pub const CLI_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The CLI under test, with [`CLI_TIMEOUT`].
pub fn s3logs_cmd() -> assert_cmd::Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("s3logs");
    cmd.timeout(CLI_TIMEOUT);
    cmd
}

/// Waits for a spawned CLI for at most [`CLI_TIMEOUT`], killing it and
/// failing the test past that.
pub fn wait_for(mut child: std::process::Child) -> std::process::Output {
    let started = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > CLI_TIMEOUT {
            let _ = child.kill();
            panic!("a spawned s3logs ran for over {CLI_TIMEOUT:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// `s3logs query SQL --format csv` over a lake; fails the test if it fails.
pub fn query_csv(lake: &std::path::Path, sql: &str) -> String {
    query_as(lake, sql, "csv")
}

/// `s3logs query SQL --format FORMAT` over a lake (SQL or a bundled
/// query's name); fails the test if it fails.
pub fn query_as(lake: &std::path::Path, sql: &str, format: &str) -> String {
    query_with_env(lake, sql, format, &[])
}

/// [`query_as`] with these variables set.
pub fn query_with_env(
    lake: &std::path::Path,
    sql: &str,
    format: &str,
    env: &[(&str, &str)],
) -> String {
    let out = s3logs_cmd()
        .envs(env.iter().copied())
        .args(["query", sql, "--format", format, "--lake"])
        .arg(lake)
        .output()
        .expect("query");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
