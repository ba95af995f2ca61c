//! `s3://` sources against a real S3-compatible server (moto's, from PyPI,
//! started by the tests on 127.0.0.1): the same answers as from local disk,
//! listings that start at the ledger's high-water mark, and a server that
//! breaks mid-run.
//!
//! Needs `S3LOGS_PYTHON`, a Python with `moto[server]` and `boto3` (`.ci/run`
//! installs it); without it the tests say so and skip, unless
//! `S3LOGS_S3=required`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{root, sample_logs};

/// moto's server, shared by the tests of this module (each uses its own
/// buckets); it exits when the test binary does.
struct Moto {
    _child: Mutex<Child>,
    endpoint: String,
}

fn python() -> Option<String> {
    match std::env::var("S3LOGS_PYTHON") {
        Ok(p) => Some(p),
        Err(_) => {
            assert_ne!(
                std::env::var("S3LOGS_S3").as_deref(),
                Ok("required"),
                "S3LOGS_S3=required but S3LOGS_PYTHON is not set"
            );
            eprintln!("S3LOGS_PYTHON not set (a Python with moto[server]); S3 test skipped");
            None
        }
    }
}

fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    let python = python()?;
    Some(MOTO.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut child = Command::new(python)
            .arg(root().join("tests/s3/s3_server.py"))
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("moto");
        assert_eq!(line.trim(), "ready", "moto did not start");
        Moto {
            _child: Mutex::new(child),
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }))
}

/// Uploads a folder into a bucket (created if needed); keys are the paths
/// below the folder, after `prefix`.
fn seed(endpoint: &str, bucket: &str, folder: &Path, prefix: &str) {
    let out = Command::new(std::env::var("S3LOGS_PYTHON").expect("python"))
        .arg(root().join("tests/s3/seed.py"))
        .args([endpoint, bucket])
        .arg(folder)
        .arg(prefix)
        .output()
        .expect("seed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs s3logs with moto's dummy credentials and the given endpoint.
fn s3logs(endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = crate::util::s3logs_cmd();
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run s3logs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every row of a lake that does not depend on where objects were read
/// from: logs without `source_file`, rejects by object name and line.
fn dump(lake: &Path) -> String {
    dump_at(&lake.display().to_string(), "")
}

/// [`dump`] of a lake given as a folder or an `s3://` URL on `endpoint`.
fn dump_at(lake: &str, endpoint: &str) -> String {
    let mut out = String::new();
    for sql in [
        "SELECT * EXCLUDE (source_file), regexp_replace(source_file, '^.*/', '') AS name \
         FROM logs ORDER BY name, source_line",
        "SELECT regexp_replace(source_file, '^.*/', '') AS name, source_line, byte_offset, \
         reason, raw FROM rejects ORDER BY name, source_line",
    ] {
        let o = s3logs(
            endpoint,
            &["query", sql, "--lake", lake, "--format", "csv"],
            &[],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        out.push_str(&String::from_utf8_lossy(&o.stdout));
    }
    out
}

/// The lake of the sample logs read from local disk, for comparisons.
fn local_lake() -> &'static Path {
    static LAKE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, lake) = LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = dir.path().join("lake");
        let (out, _) =
            crate::ingest::ingest(&[&sample_logs()], &lake, &["--max-reject-ratio", "1"]);
        assert!(out.status.success());
        (dir, lake)
    });
    lake
}

fn summary(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(o)))
}

#[test]
fn s3_sources_give_the_local_answers() {
    let Some(moto) = moto() else { return };
    let ep = moto.endpoint.as_str();
    // Both key layouts, as the sample holds them.
    seed(ep, "same-answers", &sample_logs(), "");
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let lake_s = lake.display().to_string();

    // check: the same totals as on disk.
    let local = crate::util::s3logs_cmd()
        .args(["check", "--format", "json"])
        .arg(sample_logs())
        .output()
        .expect("check");
    let remote = s3logs(
        ep,
        &["check", "s3://same-answers/", "--format", "json"],
        &[],
    );
    assert_eq!(
        remote.status.code(),
        Some(1),
        "the sample has rejects: {}",
        stderr(&remote)
    );
    let total = |o: &Output| summary(o)["total"].clone();
    assert_eq!(total(&remote), total(&local));

    // ingest: the same lake, and a rerun commits nothing.
    let args = [
        "ingest",
        "s3://same-answers/",
        "--lake",
        &lake_s,
        "--max-reject-ratio",
        "1",
    ];
    let first = s3logs(ep, &[&args[..], &["--summary-json", "-"]].concat(), &[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(summary(&first)["objects_ingested"], 14);
    assert_eq!(dump(&lake), dump(local_lake()));
    let again = s3logs(ep, &[&args[..], &["--summary-json", "-"]].concat(), &[]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(summary(&again)["committed"], false);
    // The ledger holds each object's key, size and ETag.
    let ledger = crate::util::s3logs_cmd()
        .args([
            "query",
            "SELECT object, size, etag FROM ingested ORDER BY object",
        ])
        .args(["--lake", &lake_s, "--format", "json"])
        .output()
        .expect("query");
    let rows: Vec<Value> = serde_json::from_slice(&ledger.stdout).expect("json");
    assert_eq!(rows.len(), 14);
    assert!(rows.iter().all(|r| {
        r["object"]
            .as_str()
            .is_some_and(|o| o.starts_with("s3://same-answers/"))
            && r["etag"].as_str().is_some_and(|e| e.len() >= 32)
    }));

    // query --raw: the same answers as the raw files on disk.
    let sql =
        "SELECT date, operation, count(*), sum(bytes_sent) FROM logs GROUP BY 1, 2 ORDER BY 1, 2";
    let remote = s3logs(
        ep,
        &[
            "query",
            sql,
            "--raw",
            "s3://same-answers/",
            "--format",
            "csv",
        ],
        &[],
    );
    assert!(remote.status.success(), "{}", stderr(&remote));
    let local = crate::util::s3logs_cmd()
        .args(["query", sql, "--format", "csv", "--raw"])
        .arg(sample_logs())
        .output()
        .expect("query");
    assert_eq!(remote.stdout, local.stdout);

    // --since/--until pick objects by the day in their names, in both
    // layouts, as on disk.
    for range in [
        vec!["--since", "2024-03-02", "--until", "2024-03-02"],
        vec!["--since", "2024-03-03"],
        vec!["--until", "2024-03-01"],
    ] {
        let names = |o: &Output| -> Vec<String> {
            summary(o)["files"]
                .as_array()
                .expect("files")
                .iter()
                .map(|f| {
                    f["path"]
                        .as_str()
                        .unwrap_or("")
                        .rsplit('/')
                        .next()
                        .unwrap_or("")
                        .to_string()
                })
                .collect()
        };
        let remote = s3logs(
            ep,
            &[
                &["check", "s3://same-answers/", "--format", "json"][..],
                &range,
            ]
            .concat(),
            &[],
        );
        let local = crate::util::s3logs_cmd()
            .args(["check", "--format", "json"])
            .arg(sample_logs())
            .args(&range)
            .output()
            .expect("check");
        let mut r = names(&remote);
        let mut l = names(&local);
        r.sort();
        l.sort();
        assert!(!r.is_empty(), "{range:?}");
        assert_eq!(r, l, "{range:?}");
    }
}

/// Writes a log object named for `delivered` (`YYYY-mm-DD-HH-MM-SS`) with
/// the lines of a sample object.
fn object_named(dir: &Path, delivered: &str, id: &str) {
    let text = std::fs::read(
        sample_logs().join("simple-prefix/photos-prod/2024-03-01-01-22-06-967A64CB14028D51"),
    )
    .expect("sample");
    std::fs::write(dir.join(format!("{delivered}-{id}")), text).expect("write");
}

#[test]
fn hourly_runs_list_from_the_high_water_mark() {
    let Some(moto) = moto() else { return };
    let ep = moto.endpoint.as_str();
    let dir = tempfile::tempdir().expect("tempdir");
    let batch1 = dir.path().join("batch1");
    let batch2 = dir.path().join("batch2");
    std::fs::create_dir_all(&batch1).expect("mkdir");
    std::fs::create_dir_all(&batch2).expect("mkdir");
    // 40 old days of history, then the newest day ingested.
    for day in 1..=40 {
        let date = format!("2024-{:02}-{:02}", 1 + (day - 1) / 28, 1 + (day - 1) % 28);
        object_named(
            &batch1,
            &format!("{date}-10-00-00"),
            &format!("OLD{day:04}"),
        );
    }
    seed(ep, "hourly", &batch1, "logs/");
    let lake = dir.path().join("lake").display().to_string();
    let run = |extra: &[&str]| {
        let o = s3logs(
            ep,
            &[
                &[
                    "ingest",
                    "s3://hourly/logs/",
                    "--lake",
                    &lake,
                    "--summary-json",
                    "-",
                ][..],
                extra,
            ]
            .concat(),
            &[],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        summary(&o)
    };
    let first = run(&[]);
    assert_eq!(first["objects_ingested"], 40);
    // The last object of batch 1 is 2024-02-12. New: one a day later, one
    // delivered late into the look-back window (a day before the mark), one
    // older than the window.
    object_named(&batch2, "2024-02-13-10-00-00", "NEW0001");
    object_named(&batch2, "2024-02-11-23-00-00", "LATE001");
    object_named(&batch2, "2024-01-05-23-00-00", "ANCIENT");
    seed(ep, "hourly", &batch2, "logs/");
    let second = run(&[]);
    assert_eq!(second["objects_ingested"], 2, "{second}");
    // Only the window was listed: 2024-02-10 onwards, 4 old objects.
    assert_eq!(second["objects_found"], 5, "{second}");
    assert!(
        second["list_requests"].as_u64().is_some_and(|n| n <= 2),
        "{second}"
    );
    // A full listing finds the object delivered outside the window.
    let full = run(&["--full-listing"]);
    assert_eq!(full["objects_ingested"], 1, "{full}");
    assert_eq!(full["objects_found"], 43, "{full}");
}

/// A TCP proxy in front of the server that, once `trip_after` response
/// bytes have gone through, breaks: it cuts every connection and refuses new
/// ones, for `outage` (or until the test heals it).
struct Proxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
}

struct ProxyState {
    upstream: SocketAddr,
    forwarded: AtomicU64,
    trip_after: u64,
    outage: Option<Duration>,
    broken_since: Mutex<Option<Instant>>,
    healed: std::sync::atomic::AtomicBool,
}

impl ProxyState {
    fn broken(&self) -> bool {
        if self.healed.load(Ordering::SeqCst) {
            return false;
        }
        let since = *self.broken_since.lock().expect("lock");
        match (since, self.outage) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(t), Some(d)) => t.elapsed() < d,
        }
    }

    fn count(&self, n: usize) {
        let total = self.forwarded.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        if total > self.trip_after {
            self.broken_since
                .lock()
                .expect("lock")
                .get_or_insert_with(Instant::now);
        }
    }
}

impl Proxy {
    fn start(endpoint: &str, trip_after: u64, outage: Option<Duration>) -> Proxy {
        let upstream: SocketAddr = endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("addr");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(ProxyState {
            upstream,
            forwarded: AtomicU64::new(0),
            trip_after,
            outage,
            broken_since: Mutex::new(None),
            healed: std::sync::atomic::AtomicBool::new(false),
        });
        let s = Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if s.broken() {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(s.upstream) else {
                    continue;
                };
                let pipe =
                    |mut from: TcpStream, mut to: TcpStream, s: Arc<ProxyState>, count: bool| {
                        std::thread::spawn(move || {
                            let mut buf = [0u8; 4096];
                            loop {
                                let n = match from.read(&mut buf) {
                                    Ok(0) | Err(_) => 0,
                                    Ok(n) => n,
                                };
                                if n == 0 || s.broken() || to.write_all(&buf[..n]).is_err() {
                                    let _ = from.shutdown(Shutdown::Both);
                                    let _ = to.shutdown(Shutdown::Both);
                                    return;
                                }
                                if count {
                                    s.count(n);
                                }
                            }
                        });
                    };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                pipe(client, server, Arc::clone(&s), false);
                pipe(s2, c2, Arc::clone(&s), true);
            }
        });
        Proxy { addr, state }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn heal(&self) {
        self.state.healed.store(true, Ordering::SeqCst);
    }
}

/// Every object named in the ledger has all its rows in `logs`, and no rows
/// come from objects the ledger does not name.
fn ledger_agrees_with_data(lake: &str) {
    let sql = "SELECT (SELECT count(*) FROM logs WHERE source_file NOT IN (SELECT object FROM ingested)) AS strays, \
               (SELECT coalesce(sum(records), 0) FROM ingested) AS ledgered, (SELECT count(*) FROM logs) AS rows";
    let o = crate::util::s3logs_cmd()
        .args(["query", sql, "--lake", lake, "--format", "json"])
        .output()
        .expect("query");
    let v: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let Some(row) = v.first() else {
        // No table yet: nothing was committed.
        return;
    };
    assert_eq!(row["strays"], 0, "{row}");
    assert_eq!(row["ledgered"], row["rows"], "{row}");
}

#[test]
fn a_broken_server_fails_the_run_clearly_and_a_rerun_completes_the_lake() {
    let Some(moto) = moto() else { return };
    seed(&moto.endpoint, "breaks", &sample_logs(), "");
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let lake_s = lake.display().to_string();
    let args = [
        "ingest",
        "s3://breaks/",
        "--lake",
        &lake_s,
        "--max-reject-ratio",
        "1",
    ];
    // The listing and some downloads get through, the rest do not.
    let proxy = Proxy::start(&moto.endpoint, 60_000, None);
    let retries = [("S3LOGS_S3_RETRIES", "2"), ("S3LOGS_S3_RETRY_SECS", "3")];
    let broken = s3logs(&proxy.endpoint(), &args, &retries);
    eprintln!("the broken run said:\n{}", stderr(&broken));
    assert_eq!(broken.status.code(), Some(2), "{}", stderr(&broken));
    assert!(
        stderr(&broken).contains("s3://breaks/"),
        "names the object: {}",
        stderr(&broken)
    );
    ledger_agrees_with_data(&lake_s);

    proxy.heal();
    let rerun = s3logs(&proxy.endpoint(), &args, &retries);
    assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
    ledger_agrees_with_data(&lake_s);
    assert_eq!(dump(&lake), dump(local_lake()));
}

#[test]
fn a_short_outage_is_retried_through() {
    let Some(moto) = moto() else { return };
    seed(&moto.endpoint, "outage", &sample_logs(), "");
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let lake_s = lake.display().to_string();
    let proxy = Proxy::start(&moto.endpoint, 12_000, Some(Duration::from_millis(1500)));
    let o = s3logs(
        &proxy.endpoint(),
        &[
            "ingest",
            "s3://outage/",
            "--lake",
            &lake_s,
            "--max-reject-ratio",
            "1",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        proxy.state.broken_since.lock().expect("lock").is_some(),
        "the outage happened"
    );
    assert_eq!(dump(&lake), dump(local_lake()));
}

#[test]
fn large_objects_stream_and_resume_where_the_body_was_cut() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("big");
    // Objects above the 2 MiB fetched whole: these are streamed.
    let opts = s3logs::corpus::GenOptions {
        bytes: 7_000_000,
        object_bytes: 3_500_000,
        malformed: 0.01,
        ..s3logs::corpus::GenOptions::default()
    };
    s3logs::corpus::generate(&corpus, &opts).expect("corpus");
    seed(&moto.endpoint, "large-objects", &corpus, "");
    let local = crate::util::s3logs_cmd()
        .args(["check", "--format", "json"])
        .arg(&corpus)
        .output()
        .expect("check");
    // The connection breaks for a second after 1.5 MB: bodies are cut
    // mid-object and fetched again from where they stopped.
    let proxy = Proxy::start(&moto.endpoint, 1_500_000, Some(Duration::from_millis(1000)));
    let remote = s3logs(
        &proxy.endpoint(),
        &["check", "s3://large-objects/", "--format", "json"],
        &[],
    );
    assert!(
        proxy.state.broken_since.lock().expect("lock").is_some(),
        "the outage happened"
    );
    let total = |o: &Output| summary(o)["total"].clone();
    assert_eq!(
        remote.status.code(),
        local.status.code(),
        "{}",
        stderr(&remote)
    );
    assert_eq!(total(&remote), total(&local));
    assert!(total(&local)["lines"].as_u64().is_some_and(|n| n > 5_000));
}

/// A bucket for lakes (a placeholder object outside the lakes creates it).
fn lake_bucket(endpoint: &str, bucket: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("README"), "lakes live here").expect("write");
    seed(endpoint, bucket, dir.path(), "");
}

#[test]
fn a_lake_on_s3_behaves_like_a_local_one() {
    let Some(moto) = moto() else { return };
    let ep = moto.endpoint.as_str();
    seed(ep, "lake-sources", &sample_logs(), "");
    lake_bucket(ep, "lakes");
    let lake = "s3://lakes/team/access";
    let args = [
        "ingest",
        "s3://lake-sources/",
        "--lake",
        lake,
        "--max-reject-ratio",
        "1",
    ];
    let first = s3logs(ep, &[&args[..], &["--summary-json", "-"]].concat(), &[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(dump_at(lake, ep), dump(local_lake()));
    let again = s3logs(ep, &[&args[..], &["--summary-json", "-"]].concat(), &[]);
    assert_eq!(summary(&again)["committed"], false, "{}", stderr(&again));

    // Upkeep works on it too.
    let status = s3logs(ep, &["status", "--lake", lake, "--format", "json"], &[]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert_eq!(summary(&status)["ledger_objects"], 14);
    // One object delivered again under another name, for compact to drop.
    let again = tempfile::tempdir().expect("tempdir");
    let object = "simple-prefix/photos-prod/2024-03-02-17-12-53-BF61189639E35AEE";
    std::fs::copy(
        sample_logs().join(object),
        again.path().join("2024-03-02-17-12-53-AGAIN"),
    )
    .expect("copy");
    seed(ep, "lake-redelivered", again.path(), "");
    let more = s3logs(
        ep,
        &["ingest", "s3://lake-redelivered/", "--lake", lake],
        &[],
    );
    assert_eq!(more.status.code(), Some(0), "{}", stderr(&more));
    let compact = s3logs(ep, &["compact", "--lake", lake], &[]);
    assert!(compact.status.success(), "{}", stderr(&compact));
    assert!(
        stderr(&compact).contains("14 exact duplicate"),
        "{}",
        stderr(&compact)
    );
    let vacuum = s3logs(ep, &["vacuum", "--lake", lake, "--retain-hours", "0"], &[]);
    assert!(vacuum.status.success(), "{}", stderr(&vacuum));
    let rows = s3logs(
        ep,
        &["query", "SELECT count(*) AS n FROM logs", "--lake", lake],
        &[],
    );
    assert_eq!(String::from_utf8_lossy(&rows.stdout), "n\n260\n");
    // A report keeps its days in the lake; expiring the days removes them.
    let page = tempfile::tempdir().expect("tempdir");
    let page = page.path().join("r.html");
    let page_arg = page.display().to_string();
    let report = s3logs(ep, &["report", "--lake", lake, "--output", &page_arg], &[]);
    assert!(report.status.success(), "{}", stderr(&report));
    let expire = || s3logs(ep, &["expire", "--older-than", "1", "--lake", lake], &[]);
    let first = expire();
    assert!(first.status.success(), "{}", stderr(&first));
    let kept: usize = stderr(&first)
        .split(" kept days")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", stderr(&first)));
    assert!(kept > 10, "{}", stderr(&first));
    let second = expire();
    assert!(
        stderr(&second).contains("nothing before"),
        "{}",
        stderr(&second)
    );
}

#[test]
fn a_run_killed_mid_commit_on_an_s3_lake_is_completed_by_the_next() {
    let Some(moto) = moto() else { return };
    let ep = moto.endpoint.as_str();
    seed(ep, "crash-sources", &sample_logs(), "");
    lake_bucket(ep, "crash-lakes");
    for point in [
        "after-manifest",
        "after-commit-rejects",
        "after-commit-logs",
    ] {
        let lake = format!("s3://crash-lakes/{point}");
        let args = [
            "ingest",
            "s3://crash-sources/",
            "--lake",
            &lake,
            "--max-reject-ratio",
            "1",
        ];
        // Short leases, so that the rerun need not wait minutes for the
        // crashed run's lease to expire.
        let lease = ("S3LOGS_LEASE_SECS", "2");
        // Where the runs stage their files: the crash leaves its folder,
        // the next run removes it.
        let tmp = tempfile::tempdir().expect("tempdir");
        let tmp_arg = tmp.path().display().to_string();
        let tmpdir = ("TMPDIR", tmp_arg.as_str());
        let staged = || std::fs::read_dir(tmp.path()).expect("tmp").count();
        let crashed = s3logs(ep, &args, &[("S3LOGS_CRASH_AT", point), lease, tmpdir]);
        assert!(!crashed.status.success(), "{point}: the run was to abort");
        assert_eq!(staged(), 1, "{point}: the crash left its staging folder");
        let rerun = s3logs(
            ep,
            &[&args[..], &["--summary-json", "-"]].concat(),
            &[lease, tmpdir],
        );
        assert_eq!(rerun.status.code(), Some(0), "{point}: {}", stderr(&rerun));
        assert_eq!(staged(), 0, "{point}: staging left behind");
        assert_eq!(dump_at(&lake, ep), dump(local_lake()), "{point}");
    }
}

#[test]
fn a_held_lease_makes_a_second_writer_wait_and_an_expired_one_is_taken_over() {
    let Some(moto) = moto() else { return };
    let ep = moto.endpoint.as_str();
    seed(ep, "lease-sources", &sample_logs(), "");
    let dir = tempfile::tempdir().expect("tempdir");
    let lease = |expires: u64| {
        std::fs::create_dir_all(dir.path().join("_s3logs")).expect("mkdir");
        let body = format!(r#"{{"holder":"a test","expires":{expires}}}"#);
        std::fs::write(dir.path().join("_s3logs/lock"), body).expect("write");
        seed(ep, "lease-lakes", dir.path(), "lake/");
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let args = [
        "ingest",
        "s3://lease-sources/",
        "--lake",
        "s3://lease-lakes/lake",
        "--max-reject-ratio",
        "1",
        "--lock-wait",
        "1",
    ];
    lease(now + 3600);
    let blocked = s3logs(ep, &args, &[]);
    assert_eq!(blocked.status.code(), Some(2));
    assert!(
        stderr(&blocked).contains("a test holds the lease"),
        "{}",
        stderr(&blocked)
    );
    lease(now - 1);
    let taken = s3logs(ep, &args, &[]);
    assert_eq!(taken.status.code(), Some(0), "{}", stderr(&taken));
}

/// An HTTP proxy that answers `500 Internal Server Error` to every GET of a
/// key containing `fail`, and passes every other request through (one
/// request per connection).
fn failing_proxy(endpoint: &str, fail: &'static str) -> String {
    counting_proxy(endpoint, fail, Arc::default())
}

/// [`failing_proxy`], counting the LIST requests it passes in `lists`.
fn counting_proxy(endpoint: &str, fail: &'static str, lists: Arc<AtomicU64>) -> String {
    let upstream: SocketAddr = endpoint
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let lists = Arc::clone(&lists);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().expect("clone"));
                let mut head = Vec::new();
                loop {
                    let mut line = Vec::new();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let end = line == b"\r\n";
                    // One request per connection: the server closes after it.
                    if !line.to_ascii_lowercase().starts_with(b"connection:") {
                        head.extend_from_slice(if end {
                            b"Connection: close\r\n\r\n"
                        } else {
                            &line
                        });
                    }
                    if end {
                        break;
                    }
                }
                let mut client = client;
                if head.starts_with(b"GET ")
                    && head
                        .split(|&b| b == b'\n')
                        .next()
                        .is_some_and(|l| String::from_utf8_lossy(l).contains(fail))
                {
                    let _ = client.write_all(
                        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
                let request = head.split(|&b| b == b'\n').next().unwrap_or_default();
                if request.starts_with(b"GET ")
                    && String::from_utf8_lossy(request).contains("list-type=2")
                {
                    lists.fetch_add(1, Ordering::SeqCst);
                }
                let Ok(mut server) = TcpStream::connect(upstream) else {
                    return;
                };
                if server.write_all(&head).is_err() {
                    return;
                }
                let mut server_out = server.try_clone().expect("clone");
                // A request body (PUT) follows its head.
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut reader, &mut server_out);
                });
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(Shutdown::Both);
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn an_object_that_failed_is_read_again_past_the_listing_window() {
    let Some(moto) = moto() else { return };
    seed(&moto.endpoint, "retries", &sample_logs(), "");
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let lake_s = lake.display().to_string();
    let retries = [("S3LOGS_S3_RETRIES", "1"), ("S3LOGS_S3_RETRY_SECS", "2")];
    let args = [
        "ingest",
        "s3://retries/",
        "--lake",
        &lake_s,
        "--max-reject-ratio",
        "1",
    ];
    // One object of the first day answers 500, however often it is asked.
    let proxy = failing_proxy(&moto.endpoint, "2024-03-01-09-05-46");
    let first = s3logs(
        &proxy,
        &[&args[..], &["--summary-json", "-"]].concat(),
        &retries,
    );
    assert_eq!(first.status.code(), Some(2), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("2024-03-01-09-05-46"),
        "{}",
        stderr(&first)
    );
    assert_eq!(summary(&first)["objects_to_retry"], 1);
    ledger_agrees_with_data(&lake_s);
    // The next run lists from the high-water mark (days after that
    // object's), as an hourly run does: the object is read all the same.
    let next = s3logs(
        &moto.endpoint,
        &[&args[..], &["--summary-json", "-"]].concat(),
        &[],
    );
    assert_eq!(next.status.code(), Some(0), "{}", stderr(&next));
    let s = summary(&next);
    assert_eq!(s["objects_retried"], 1, "{s}");
    assert_eq!(s["objects_to_retry"], 0, "{s}");
    assert!(
        s["days"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["date"] == "2024-03-01")),
        "{s}"
    );
    ledger_agrees_with_data(&lake_s);
    assert_eq!(dump(&lake), dump(local_lake()));
}

#[test]
fn the_readme_s3_commands_run_as_written() {
    let Some(moto) = moto() else { return };
    let ep = moto.endpoint.as_str();
    seed(ep, "my-log-bucket", &sample_logs(), "logs/");
    seed(ep, "logs", &sample_logs(), "");
    lake_bucket(ep, "analytics");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ran = 0;
    for c in crate::cli::readme_commands() {
        let remote = c.args.iter().any(|a| a.starts_with("s3://"))
            || c.env.iter().any(|(_, v)| v.starts_with("s3://"));
        if !remote {
            continue;
        }
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| match a.as_str() {
                "http://127.0.0.1:9000" => ep.to_string(),
                w => crate::cli::local_word(w, dir.path()),
            })
            .collect();
        let env: Vec<(String, String)> = c
            .env
            .iter()
            .map(|(k, v)| (k.clone(), crate::cli::local_word(v, dir.path())))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut with_lake = args.clone();
        // A command without --lake uses ./s3logs-lake: keep it in `dir`.
        let own_lake = dir.path().join(format!("lake-{ran}")).display().to_string();
        if args.first() == Some(&"ingest")
            && !args.contains(&"--lake")
            && !env.iter().any(|(k, _)| *k == "S3LOGS_LAKE")
        {
            with_lake.extend(["--lake", own_lake.as_str()]);
        }
        crate::cli::assert_ran(&c.line, &s3logs(ep, &with_lake, &env));
        ran += 1;
    }
    assert!(ran >= 5, "{ran} s3:// commands ran");
}

#[test]
fn four_shards_at_once_into_a_lake_on_s3_equal_one_process() {
    let Some(moto) = moto() else { return };
    let ep = moto.endpoint.as_str();
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("corpus");
    let opts = s3logs::corpus::GenOptions {
        bytes: 20_000_000,
        object_bytes: 250_000,
        malformed: 0.002,
        ..s3logs::corpus::GenOptions::default()
    };
    s3logs::corpus::generate(&corpus, &opts).expect("corpus");
    seed(ep, "shard-sources", &corpus, "logs/");
    lake_bucket(ep, "shard-lakes");
    let single = dir.path().join("single");
    let (out, _) = crate::ingest::ingest(&[&corpus], &single, &["--max-reject-ratio", "1"]);
    assert!(out.status.success());

    let lake = "s3://shard-lakes/sharded";
    let worker = |k: u32| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3logs"));
        cmd.args(["ingest", "s3://shard-sources/logs/", "--lake", lake])
            .args(["--max-reject-ratio", "1", "--summary-json", "-"])
            .args(["--shard", &format!("{k}/4")])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", ep)
            .env_remove("AWS_PROFILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().expect("spawn a shard")
    };
    let workers: Vec<Child> = (1..=4).map(worker).collect();
    let mut read = 0;
    for w in workers {
        let out = crate::util::wait_for(w);
        assert!(out.status.success(), "{}", stderr(&out));
        read += summary(&out)["objects_ingested"].as_u64().expect("count");
    }
    assert_eq!(
        read,
        std::fs::read_dir(&corpus).expect("corpus").count() as u64
    );
    assert_eq!(dump_at(lake, ep), dump(&single));
    // Every shard again: nothing more; then a compaction on S3.
    for w in (1..=4).map(worker) {
        let out = crate::util::wait_for(w);
        assert_eq!(summary(&out)["committed"], false, "{}", stderr(&out));
    }
    let compact = s3logs(ep, &["compact", "--lake", lake], &[]);
    assert!(compact.status.success(), "{}", stderr(&compact));
    assert_eq!(dump_at(lake, ep), dump(&single));
}

/// Appends `line` to an object on `endpoint`; returns the line's number in
/// it.
fn append_line(endpoint: &str, bucket: &str, key: &str, line: &str) -> usize {
    let script = "import sys, boto3\n\
        ep, bucket, key, line = sys.argv[1:5]\n\
        s3 = boto3.client('s3', endpoint_url=ep, aws_access_key_id='test', \
        aws_secret_access_key='test', region_name='us-east-1')\n\
        body = s3.get_object(Bucket=bucket, Key=key)['Body'].read()\n\
        if not body.endswith(b'\\n'):\n    body += b'\\n'\n\
        s3.put_object(Bucket=bucket, Key=key, Body=body + line.encode() + b'\\n')\n\
        print(body.count(b'\\n') + 1)\n";
    let out = Command::new(python().expect("python"))
        .args(["-c", script, endpoint, bucket, key, line])
        .output()
        .expect("python");
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a line number")
}

#[test]
fn a_damaged_commit_on_an_s3_lake_is_named_by_every_command_that_opens_it() {
    let Some(moto) = moto() else { return };
    let ep = moto.endpoint.as_str();
    seed(ep, "damaged-sources", &sample_logs(), "");
    lake_bucket(ep, "damaged-lakes");
    let lake = "s3://damaged-lakes/team";
    let ingest = [
        "ingest",
        "s3://damaged-sources/",
        "--lake",
        lake,
        "--max-reject-ratio",
        "1",
    ];
    let first = s3logs(ep, &ingest, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let key = "team/logs/_delta_log/00000000000000000001.json";
    let line = append_line(ep, "damaged-lakes", key, "{\"add\": garbage");
    let named = format!("the commit s3://damaged-lakes/{key}, line {line}, is not JSON");
    let page = tempfile::tempdir().expect("tempdir");
    let page = page.path().join("r.html").display().to_string();
    let commands: [&[&str]; 4] = [
        &["status", "--lake", lake],
        &["query", "--lake", lake, "SELECT count(*) FROM logs"],
        &["report", "--lake", lake, "--output", &page],
        &ingest,
    ];
    for args in commands {
        let out = s3logs(ep, args, &[("S3LOGS_LEASE_SECS", "2")]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&named), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_raw_report_through_a_temporary_lake_lists_its_sources_once() {
    let Some(moto) = moto() else { return };
    seed(&moto.endpoint, "report-once", &sample_logs(), "");
    let lists = Arc::new(AtomicU64::new(0));
    let proxy = counting_proxy(&moto.endpoint, "no such key", Arc::clone(&lists));
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("r.html").display().to_string();
    let report = |memory: &str| {
        lists.store(0, Ordering::SeqCst);
        let out = s3logs(
            &proxy,
            &[
                "report",
                "--raw",
                "s3://report-once/",
                "--raw-memory-mb",
                memory,
                "--output",
                &page,
            ],
            &[],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        (stderr(&out), lists.load(Ordering::SeqCst))
    };
    let (_, in_memory) = report("1024");
    assert!(in_memory >= 1, "the proxy saw no listing");
    let (err, through_lake) = report("0");
    assert!(err.contains("temporary lake"), "{err}");
    assert_eq!(through_lake, in_memory, "{err}");
}

#[test]
fn vacuum_on_s3_commits_a_stopped_shards_run_before_it_frees_anything() {
    let Some(moto) = moto() else { return };
    let ep = moto.endpoint.as_str();
    seed(ep, "stopped-sources", &sample_logs(), "");
    lake_bucket(ep, "stopped-lakes");
    let lake = "s3://stopped-lakes/team";
    let shard = |k: &'static str| {
        vec![
            "ingest",
            "s3://stopped-sources/",
            "--lake",
            lake,
            "--max-reject-ratio",
            "1",
            "--summary-json",
            "-",
            "--shard",
            k,
        ]
    };
    // Short leases, so that vacuum need not wait minutes for the killed
    // shard's lease to expire.
    let lease = ("S3LOGS_LEASE_SECS", "2");
    let second = s3logs(ep, &shard("2/2"), &[lease]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let stopped = s3logs(
        ep,
        &shard("1/2"),
        &[lease, ("S3LOGS_CRASH_AT", "after-manifest")],
    );
    assert!(!stopped.status.success(), "the run was to abort");
    let vacuum = s3logs(
        ep,
        &["vacuum", "--lake", lake, "--retain-hours", "0"],
        &[lease],
    );
    assert!(vacuum.status.success(), "{}", stderr(&vacuum));
    assert_eq!(dump_at(lake, ep), dump(local_lake()));
    let again = s3logs(ep, &shard("1/2"), &[lease]);
    assert_eq!(summary(&again)["committed"], false, "{}", stderr(&again));
    assert_eq!(dump_at(lake, ep), dump(local_lake()));
}
