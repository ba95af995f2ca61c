//! Ingest under bad input, a bad lake, a full disk, concurrent runs, and
//! read back by other Delta readers.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;

use s3logs::lake::{Lake, Table};

use crate::ingest::ingest;
use crate::util::{s3logs_cmd, sample_logs};

const LINE: &[u8] = b"o bkt [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - 3E57 REST.GET.OBJECT k \"GET /k HTTP/1.1\" 200 - 5 5 7 6 \"-\" \"curl/8\" -\n";

fn rows(lake: &Path, table: Table) -> usize {
    Lake::new(lake)
        .read_all_blocking(table)
        .expect("read")
        .iter()
        .map(|b| b.num_rows())
        .sum()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_objects_are_named_the_rest_is_committed_and_the_run_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("a-good.log"), LINE.repeat(10)).expect("write");
    std::fs::write(src.join("b-empty.log"), b"").expect("write");
    // A corrupt gzip: good header, garbage after the first part.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..3000 {
        gz.write_all(LINE).expect("gz");
        gz.write_all(format!("{i}").as_bytes()).expect("gz");
    }
    let mut bytes = gz.finish().expect("gz");
    let mid = bytes.len() / 2;
    bytes[mid..].iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(src.join("c-corrupt.gz"), &bytes).expect("write");
    // Unreadable: a link to nothing.
    std::os::unix::fs::symlink(dir.path().join("nowhere"), src.join("d-dangling.log"))
        .expect("link");
    let lake = dir.path().join("lake");
    let (out, summary) = ingest(&[&src], &lake, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("c-corrupt.gz"),
        "names the corrupt object: {err}"
    );
    assert!(
        err.contains("d-dangling.log"),
        "names the unreadable path: {err}"
    );
    assert_eq!(summary["objects_failed"], 1);
    assert_eq!(
        summary["objects_ingested"], 2,
        "the good and the empty object"
    );
    // Only the good object's records are in the lake.
    assert_eq!(rows(&lake, Table::Logs), 10);
    assert_eq!(rows(&lake, Table::Ingested), 2);
    // The corrupt object is tried again next time (and fails again).
    let (out, summary) = ingest(&[&src], &lake, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(summary["objects_skipped"], 2);
    assert_eq!(rows(&lake, Table::Logs), 10);
}

#[test]
fn binary_garbage_is_rejected_with_its_bytes_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("garbage.bin");
    let mut rng = s3logs::corpus::Rng::new(1);
    let garbage: Vec<u8> = (0..20_000).map(|_| rng.next_u64() as u8).collect();
    std::fs::write(&src, &garbage).expect("write");
    let lake = dir.path().join("lake");
    let (out, summary) = ingest(&[&src], &lake, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(summary["records"], 0);
    let batches = Lake::new(&lake)
        .read_all_blocking(Table::Rejects)
        .expect("read");
    // Every byte of the input is in the rejects table.
    let mut total = 0;
    for b in &batches {
        let raw = b.column(4).as_binary::<i32>();
        total += (0..b.num_rows())
            .map(|i| raw.value(i).len() + 1)
            .sum::<usize>();
    }
    let newlines_at_end = usize::from(garbage.ends_with(b"\n"));
    assert_eq!(total, garbage.len() + 1 - newlines_at_end);
}

#[test]
fn a_lake_path_that_is_a_file_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    std::fs::write(&lake, b"not a lake").expect("write");
    let (out, _) = ingest(&[&sample_logs()], &lake, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not a folder"), "{}", stderr(&out));
}

/// Unmounts the tmpfs when the test ends, whatever happens.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_run_and_commits_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("corpus");
    let opts = s3logs::corpus::GenOptions {
        bytes: 6_000_000,
        object_bytes: 1_000_000,
        ..s3logs::corpus::GenOptions::default()
    };
    s3logs::corpus::generate(&corpus, &opts).expect("corpus");
    let disk = dir.path().join("disk");
    std::fs::create_dir_all(&disk).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=600k", "tmpfs"])
        .arg(&disk)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI runs as root and can mount a tmpfs"
        );
        eprintln!("cannot mount a tmpfs here (not root?); skipped");
        return;
    }
    let _guard = Mount(disk.clone());
    let lake = disk.join("lake");
    let (out, _) = ingest(&[&corpus], &lake, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("No space left") || err.contains("os error 28"),
        "{err}"
    );
    // Nothing was committed: the tables are empty.
    assert_eq!(rows(&lake, Table::Logs), 0);
    assert_eq!(rows(&lake, Table::Ingested), 0);
}

#[test]
fn a_second_writer_waits_for_the_lock_or_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let held = Lake::new(&lake).lock(Duration::ZERO).expect("lock");
    let (out, _) = ingest(&[&sample_logs()], &lake, &["--lock-wait", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("another s3logs run is writing"),
        "{}",
        stderr(&out)
    );
    drop(held);
    // Two runs at once over the same objects: one waits, the other commits,
    // and nothing is duplicated.
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_s3logs"))
            .arg("ingest")
            .arg(sample_logs())
            .arg("--lake")
            .arg(&lake)
            .args(["--max-reject-ratio", "1"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    assert!(crate::util::wait_for(a).status.success());
    assert!(crate::util::wait_for(b).status.success());
    assert_eq!(rows(&lake, Table::Logs), 260);
    assert_eq!(rows(&lake, Table::Ingested), 14);
}

/// What DuckDB's `delta_scan` and the Python `deltalake` package see of a
/// lake (`tests/interop/read_lake.py`); `None` when no such Python is set
/// up and it is not required.
pub fn other_readers(lake: &Path) -> Option<serde_json::Value> {
    let python = match std::env::var("S3LOGS_PYTHON") {
        Ok(p) => p,
        Err(_) => {
            assert_ne!(
                std::env::var("S3LOGS_INTEROP").as_deref(),
                Ok("required"),
                "S3LOGS_INTEROP=required but S3LOGS_PYTHON is not set"
            );
            eprintln!("S3LOGS_PYTHON not set (a Python with duckdb and deltalake); skipped");
            return None;
        }
    };
    let script = crate::util::root().join("tests/interop/read_lake.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(lake)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "the readers failed ({:?}): stderr {} stdout {}",
        out.status,
        stderr(&out),
        String::from_utf8_lossy(&out.stdout)
    );
    Some(serde_json::from_slice(&out.stdout).expect("json"))
}

/// Both other readers open the lake and count `rows` records.
pub fn read_with_other_readers(lake: &Path, rows: usize, round: Option<usize>) {
    let Some(seen) = other_readers(lake) else {
        return;
    };
    for reader in ["duckdb", "deltalake"] {
        assert_eq!(
            seen[reader]["rows"].as_u64(),
            Some(rows as u64),
            "{reader}, round {round:?}: {seen}"
        );
    }
    assert_eq!(seen["duckdb"]["per_date"], seen["deltalake"]["per_date"]);
}

#[test]
fn other_delta_readers_see_the_same_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let (out, _) = ingest(&[&sample_logs()], &lake, &["--max-reject-ratio", "1"]);
    assert_eq!(out.status.code(), Some(0));
    let Some(seen) = other_readers(&lake) else {
        return;
    };
    // What s3logs itself holds.
    let batches = Lake::new(&lake)
        .read_all_blocking(Table::Logs)
        .expect("read");
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let bytes: i64 = batches
        .iter()
        .map(|b| {
            b.column(11)
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .sum::<i64>()
        })
        .sum();
    for reader in ["duckdb", "deltalake"] {
        assert_eq!(seen[reader]["rows"].as_u64(), Some(rows as u64), "{reader}");
        assert_eq!(seen[reader]["bytes_sent"].as_i64(), Some(bytes), "{reader}");
        assert_eq!(seen[reader]["rejects"], 5, "{reader}");
        assert_eq!(seen[reader]["per_date"]["2024-03-04"], 10, "{reader}");
    }
    assert_eq!(seen["duckdb"]["per_date"], seen["deltalake"]["per_date"]);
    assert_eq!(seen["duckdb"]["max_time"], 1_709_517_065_000_000i64);
}

#[test]
fn a_changed_object_is_an_error_unless_reingested_and_then_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let obj = src.join("2024-03-01-00-00-00-ABC");
    std::fs::write(&obj, LINE.repeat(3)).expect("write");
    std::fs::write(src.join("other.log"), LINE.repeat(2)).expect("write");
    let lake = dir.path().join("lake");
    let (out, _) = ingest(&[&src], &lake, &[]);
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(&obj, [LINE.repeat(5), b"garbage\n".to_vec()].concat()).expect("rewrite");
    let (out, _) = ingest(&[&src], &lake, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("changed since it was ingested"),
        "{}",
        stderr(&out)
    );
    assert_eq!(rows(&lake, Table::Logs), 5);
    let (out, summary) = ingest(
        &[&src],
        &lake,
        &["--reingest-changed", "--max-reject-ratio", "1"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary["objects_ingested"], 1);
    // The object's 3 old records are replaced by its 5 new ones; the other
    // object's 2 stay.
    assert_eq!(rows(&lake, Table::Logs), 7);
    assert_eq!(rows(&lake, Table::Rejects), 1);
    let (out, summary) = ingest(&[&src], &lake, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(summary["objects_skipped"], 2);
}

#[test]
fn object_names_with_escape_sequences_reach_the_terminal_escaped() {
    // Anyone who can write to the log bucket names its objects, and the
    // errors that name them go to a terminal.
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let name = "2024-03-01-00-00-00-A\u{1b}]0;owned\u{7}\u{1b}[2J\rB";
    std::fs::write(logs.join(name), b"\x1f\x8b\x08\0garbage").expect("write");
    let lake = dir.path().join("lake");
    for args in [
        vec!["check".to_string(), logs.display().to_string()],
        vec![
            "ingest".to_string(),
            logs.display().to_string(),
            "--lake".to_string(),
            lake.display().to_string(),
        ],
    ] {
        let out = s3logs_cmd().args(&args).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("2024-03-01-00-00-00-A\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\rB"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains(['\u{1b}', '\u{7}', '\r']),
            "{args:?}: a control character reached stderr: {err:?}"
        );
    }
}
