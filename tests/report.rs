//! `s3logs report`: the page of the sample logs opened in a real browser
//! (Debian's Chromium through Playwright), checked against `s3logs query`;
//! hostile log values shown as text and never run; bad input.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::ingest::ingest;
use crate::util::{s3logs_cmd, sample_logs};

/// Opens `page` in headless Chromium; `None` (skipped) when no browser is
/// set up and `S3LOGS_BROWSER` is not `required`.
fn open_in_browser(page: &Path, shot: &Path) -> Option<Value> {
    let required = std::env::var("S3LOGS_BROWSER").as_deref() == Ok("required");
    let chromium = std::env::var("S3LOGS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let python = std::env::var("S3LOGS_PYTHON").ok();
    let Some(python) = python.filter(|_| Path::new(&chromium).exists()) else {
        assert!(
            !required,
            "S3LOGS_BROWSER=required, but S3LOGS_PYTHON (with playwright) is unset or {chromium} is missing"
        );
        eprintln!("no browser (S3LOGS_PYTHON with playwright, and {chromium}); skipped");
        return None;
    };
    let script = crate::util::root().join("tests/browser/open_report.py");
    let json = shot.with_extension("json");
    let mut cmd = std::process::Command::new(python);
    cmd.arg(script).arg(page).arg(shot).arg(&json);
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    let out = crate::util::wait_for(child);
    assert!(
        out.status.success(),
        "the browser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = std::fs::read(&json).expect("the browser's JSON");
    Some(serde_json::from_slice(&seen).expect("the browser's JSON"))
}

fn report(args: &[&str], out: &Path) -> std::process::Output {
    s3logs_cmd()
        .arg("report")
        .args(args)
        .arg("--output")
        .arg(out)
        .output()
        .expect("run")
}

fn query_json(name: &str, lake: &Path, params: &[&str]) -> Vec<Value> {
    let mut cmd = s3logs_cmd();
    cmd.args(["query", name, "--lake"])
        .arg(lake)
        .args(["--format", "json"]);
    for p in params {
        cmd.args(["--param", p]);
    }
    let out = cmd.output().expect("query");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

fn sum(rows: &[Value], field: &str) -> f64 {
    rows.iter().filter_map(|r| r[field].as_f64()).sum()
}

/// What every page must be in the browser: no errors, no requests, no
/// script but its own, nothing injected.
fn assert_clean(seen: &Value) {
    let errors: Vec<&Value> = seen["console"]
        .as_array()
        .expect("console")
        .iter()
        .filter(|m| m["type"] != "log" && m["type"] != "info" && m["type"] != "debug")
        .collect();
    assert!(errors.is_empty(), "console: {errors:?}");
    assert_eq!(seen["page_errors"], serde_json::json!([]));
    assert_eq!(
        seen["requests"],
        serde_json::json!([]),
        "the page loaded something"
    );
    assert_eq!(seen["pwned"], false);
    assert_eq!(seen["images"], 0);
    assert_eq!(seen["scripts"], 1, "only the page's own script");
    assert_eq!(
        seen["links_out"],
        serde_json::json!([]),
        "links only within the page"
    );
}

#[test]
fn the_sample_report_in_a_real_browser_matches_the_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let (out, _) = ingest(&[&sample_logs()], &lake, &["--max-reject-ratio", "1"]);
    assert!(out.status.success());
    let page = dir.path().join("report.html");
    let lake_arg = lake.display().to_string();
    let out = report(&["--lake", &lake_arg], &page);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "stdout carries no data here");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&page.display().to_string()), "{err}");
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.contains("Content-Security-Policy") && html.contains("default-src 'none'"));
    // Addresses appear only as text (logged referers), never to load or follow.
    assert!(
        !html.contains(" src=") && !html.contains("url("),
        "nothing to load"
    );
    assert_eq!(
        html.matches("href=\"").count(),
        html.matches("href=\"#").count()
    );
    // The page of --raw shows the same numbers.
    let raw_page = dir.path().join("raw.html");
    let out = report(&["--raw", &sample_logs().display().to_string()], &raw_page);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("<title>") && !l.contains("<h1>"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let raw_html = std::fs::read_to_string(&raw_page).expect("raw page");
    assert_eq!(
        strip(&html),
        strip(&raw_html),
        "the lake's page and --raw's differ"
    );

    let shot = dir.path().join("report.png");
    let Some(seen) = open_in_browser(&page, &shot) else {
        return;
    };
    assert_clean(&seen);
    assert!(std::fs::metadata(&shot).expect("screenshot").len() > 10_000);
    if let Ok(keep) = std::env::var("S3LOGS_REPORT_SCREENSHOT") {
        std::fs::copy(&shot, keep).expect("keep the screenshot");
    }

    // The cards are the queries' numbers.
    let overview = query_json("report/overview", &lake, &[]);
    let cards = &seen["cards"];
    for key in ["requests", "bytes_sent", "buckets", "days"] {
        assert_eq!(cards[key].as_f64(), overview[0][key].as_f64(), "card {key}");
    }
    assert!(
        (cards["error_rate"].as_f64().unwrap_or(-1.0)
            - overview[0]["error_rate"].as_f64().unwrap_or(0.0))
        .abs()
            < 1e-12
    );
    let rejects = query_json("report/rejects_by_reason", &lake, &[]);
    assert_eq!(cards["rejected"].as_f64(), Some(sum(&rejects, "lines")));
    assert_eq!(
        cards["rejected"].as_f64(),
        Some(5.0),
        "the sample's five broken lines"
    );
    let cost = query_json("billing/cost_estimate", &lake, &[]);
    assert!((cards["cost_usd"].as_f64().unwrap_or(-1.0) - sum(&cost, "total_usd")).abs() < 1e-9);

    // The request chart's bars are report/traffic's rows (four days: by day).
    let traffic = query_json("report/traffic", &lake, &["grain=day"]);
    let mut want: Vec<(String, String, f64)> = traffic
        .iter()
        .map(|r| {
            let period = r["period"].as_str().unwrap_or_default().to_string();
            (
                period,
                r["status_class"].as_str().unwrap_or_default().to_string(),
                r["requests"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    let mut got: Vec<(String, String, f64)> = seen["bars"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|b| {
            (
                b["x"].as_str().unwrap_or_default().to_string(),
                b["series"].as_str().unwrap_or_default().to_string(),
                b["value"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    let norm = |v: &mut Vec<(String, String, f64)>| {
        for row in v.iter_mut() {
            row.0 = row.0.replace(' ', "T").trim_end_matches('Z').to_string();
        }
        v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    };
    norm(&mut want);
    norm(&mut got);
    assert!(!got.is_empty());
    assert_eq!(got, want);
    // Hovering a bar shows its value.
    assert!(
        seen["bars"][0]["title"]
            .as_str()
            .is_some_and(|t| t.contains(':'))
    );

    // Every finding is listed, and the table sorts on a click.
    assert_eq!(
        seen["findings"].as_array().map(Vec::len),
        Some(s3logs::sql::findings::FINDINGS.len())
    );
    let sorted = seen["sorted"].as_array().expect("sorted");
    let asc: Vec<f64> = sorted[0]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let desc: Vec<f64> = sorted[1]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert!(
        asc.len() > 3 && asc.windows(2).all(|w| w[0] <= w[1]),
        "{asc:?}"
    );
    assert!(desc.windows(2).all(|w| w[0] >= w[1]), "{desc:?}");
    let text = seen["text"].as_str().unwrap_or_default();
    assert!(text.contains("Findings") && text.contains("Data quality"));
}

#[test]
fn hostile_log_values_are_shown_as_text_and_never_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let key = "</script><script>window.__pwned=true</script>";
    let requester = "<svg/onload=window.__pwned=true>";
    let referer = "javascript:window.__pwned=true";
    let agent = "\"><img src=x onerror=window.__pwned=true>";
    let mut text = String::new();
    for (i, ip) in ["192.0.2.1", "192.0.2.2"].iter().enumerate() {
        text.push_str(&format!(
            "owner bkt [06/Feb/2024:00:0{i}:38 +0000] {ip} {requester} REQ{i} REST.GET.OBJECT {key} \"GET /{key} HTTP/1.1\" 200 - 5 5 7 6 \"{referer}\" \"{agent}\" - host SigV4 ECDHE AuthHeader bkt.s3.amazonaws.com TLSv1.2 - -\n"
        ));
    }
    std::fs::write(logs.join("2024-02-06-00-00-00-ABCDEF0123456789"), text).expect("write");
    let page = dir.path().join("report.html");
    let out = report(&["--raw", &logs.display().to_string()], &page);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).expect("page");
    for bad in [key, requester, agent, "<img", "<svg/onload"] {
        assert!(!html.contains(bad), "{bad} reached the page unescaped");
    }
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "one script: the page's own"
    );
    let shot = dir.path().join("hostile.png");
    let Some(seen) = open_in_browser(&page, &shot) else {
        return;
    };
    assert_clean(&seen);
    let shown = seen["text"].as_str().unwrap_or_default();
    for value in [key, requester, referer, agent] {
        assert!(shown.contains(value), "{value} is not shown as text");
    }
    assert_eq!(seen["cards"]["requests"].as_f64(), Some(2.0));
}

#[test]
fn no_lake_an_empty_lake_and_an_empty_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A lake that does not exist: an error, and no page.
    let page = dir.path().join("none.html");
    let missing = dir.path().join("missing-lake").display().to_string();
    let out = report(&["--lake", &missing], &page);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no lake at") && err.contains("missing-lake"),
        "{err}"
    );
    assert!(!page.exists());
    // An output folder that does not exist: said before anything runs.
    let out = report(
        &["--lake", &missing],
        &dir.path().join("no/such/dir/r.html"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));

    // An empty lake, and a range with no data: a page that says so.
    let empty_logs = dir.path().join("empty");
    std::fs::create_dir(&empty_logs).expect("mkdir");
    let lake = dir.path().join("lake");
    let (out, _) = ingest(&[&empty_logs], &lake, &[]);
    assert!(out.status.success(), "{out:?}");
    let lake_arg = lake.display().to_string();
    let full = dir.path().join("full");
    let (out, _) = ingest(&[&sample_logs()], &full, &["--max-reject-ratio", "1"]);
    assert!(out.status.success());
    let full_arg = full.display().to_string();
    for (args, name) in [
        (vec!["--lake", lake_arg.as_str()], "empty.html"),
        (
            vec!["--lake", full_arg.as_str(), "--since", "2030-01-01"],
            "range.html",
        ),
    ] {
        let page = dir.path().join(name);
        let out = report(&args, &page);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let html = std::fs::read_to_string(&page).expect("page");
        assert!(
            html.contains("id=\"no-data\""),
            "{name} says there is no data"
        );
        assert!(
            html.contains("data-card=\"requests\" data-value=\"0\""),
            "{name}"
        );
    }
}

#[test]
fn raw_logs_larger_than_memory_go_through_a_temporary_lake_to_the_same_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = sample_logs().display().to_string();
    // Where the temporary lake goes: empty again after every run.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("mkdir");
    let run = |raw: &[&str], extra: &[&str], page: &Path| {
        s3logs_cmd()
            .env("TMPDIR", &tmp)
            .arg("report")
            .arg("--raw")
            .args(raw)
            .args(extra)
            .arg("--output")
            .arg(page)
            .output()
            .expect("run")
    };
    let spill = ["--raw-memory-mb", "0"];
    for range in [
        &[][..],
        &["--since", "2024-03-02", "--until", "2024-03-02"][..],
    ] {
        let held = dir.path().join("held.html");
        let out = run(&[&sample], range, &held);
        assert!(out.status.success(), "{out:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("temporary lake"));
        let spilled = dir.path().join("spilled.html");
        let out = run(&[&sample], &[range, &spill[..]].concat(), &spilled);
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("more than the 0 B to hold in memory") && err.contains("temporary lake"),
            "{err}"
        );
        let (held, spilled) = (
            std::fs::read_to_string(&held).expect("page"),
            std::fs::read_to_string(&spilled).expect("page"),
        );
        assert!(held.contains("data-card=\"requests\""));
        assert_eq!(held, spilled, "the pages of {range:?} differ");
        assert_eq!(
            std::fs::read_dir(&tmp).expect("tmp").count(),
            0,
            "left behind"
        );
    }
    // An object that cannot be read fails the report either way, naming
    // it, with no page and nothing left behind.
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).expect("mkdir");
    std::fs::write(
        broken.join("2024-03-02-00-00-00-BROKEN.gz"),
        b"\x1f\x8b\x08\0garbage",
    )
    .expect("write");
    let broken = broken.display().to_string();
    for extra in [&[][..], &spill[..]] {
        let page = dir.path().join("broken.html");
        let out = run(&[&sample, &broken], extra, &page);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("BROKEN.gz"), "{extra:?}: {err}");
        assert!(!page.exists());
        assert_eq!(
            std::fs::read_dir(&tmp).expect("tmp").count(),
            0,
            "left behind"
        );
    }
    // A report killed while it builds its temporary lake leaves it; the
    // next report removes it, and leaves the folder of a live report, even
    // one whose PID means nothing here (another container's, which shares
    // TMPDIR but not the PID namespace): its owner's lock says it is live.
    let live = tmp.join("s3logs-report-4000000000-live");
    std::fs::create_dir(&live).expect("mkdir");
    let held = std::fs::File::create(live.join(".s3logs-owner")).expect("owner");
    held.lock().expect("lock");
    let lakes = || -> Vec<PathBuf> {
        std::fs::read_dir(&tmp)
            .expect("tmp")
            .flatten()
            .map(|e| e.path())
            .filter(|p| *p != live)
            .collect()
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_s3logs"))
        .env("TMPDIR", &tmp)
        .args([
            "report",
            "--raw",
            &sample,
            "--raw-memory-mb",
            "0",
            "--output",
        ])
        .arg(dir.path().join("killed.html"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let started = std::time::Instant::now();
    while !lakes().iter().any(|p| p.join("lake").exists()) {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the report ended before its temporary lake was seen"
        );
        assert!(started.elapsed().as_secs() < 60, "no temporary lake");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let killed = lakes();
    assert_eq!(killed.len(), 1, "{killed:?}");
    let page = dir.path().join("after.html");
    let out = run(&[&sample], &[], &page);
    assert!(out.status.success(), "{out:?}");
    assert!(!killed[0].exists(), "the killed report's lake is left");
    assert!(live.exists(), "a live report's folder was removed");
    // Once its owner ends, that folder goes with the next report.
    drop(held);
    let out = run(&[&sample], &[], &page);
    assert!(out.status.success(), "{out:?}");
    assert!(!live.exists(), "a dead report's folder is left");
}

#[test]
fn timings_say_what_each_table_view_and_query_took_on_stderr_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("r.html");
    let sample = sample_logs().display().to_string();
    let timed = s3logs_cmd()
        .env("S3LOGS_TIMINGS", "1")
        .args(["report", "--raw", &sample, "--output"])
        .arg(&page)
        .output()
        .expect("run");
    assert!(timed.status.success(), "{timed:?}");
    assert!(timed.stdout.is_empty(), "stdout carries data only");
    let err = String::from_utf8_lossy(&timed.stderr);
    let seconds = |what: &str| -> f64 {
        let line = err
            .lines()
            .find(|l| l.starts_with(&format!("s3logs: {what}: ")))
            .unwrap_or_else(|| panic!("no timing of {what} in {err}"));
        let secs = line.rsplit(": ").next().and_then(|t| t.strip_suffix(" s"));
        secs.and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not seconds: {line}"))
    };
    for what in [
        // --raw reads the files once, for both tables.
        "table logs and rejects",
        "view daily_requesters",
        "query report/overview",
        "query billing/cost_estimate",
    ] {
        assert!(seconds(what) >= 0.0);
    }
    // Off by default: the same run says no time.
    let quiet = report(&["--raw", &sample], &page);
    assert!(quiet.status.success(), "{quiet:?}");
    let err = String::from_utf8_lossy(&quiet.stderr);
    assert!(!err.contains("s3logs: query "), "{err}");
    assert!(!err.contains("s3logs: view "), "{err}");
}

#[test]
fn logs_that_compress_far_better_than_guessed_still_go_through_a_temporary_lake() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("mkdir");
    // One real line a hundred thousand times: about 40 MB of text that
    // gzip takes to a few hundred KB, far past the tenfold the size check
    // assumes of a compressed object.
    let sample = sample_logs()
        .join("partitioned-prefix/111122223333/eu-west-1/analytics-raw/2024/03/03")
        .join("2024-03-03-00-00-00-9C6DBEDBC37293ED.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&sample).expect("sample"))
        .read_to_string(&mut text)
        .expect("gunzip");
    let line = text.lines().next().expect("a line");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let object = logs.join("2024-03-03-00-00-00-AAAAAAAAAAAAAAAA.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&object).expect("create"),
        flate2::Compression::best(),
    );
    for _ in 0..100_000 {
        writeln!(gz, "{line}").expect("write");
    }
    gz.finish().expect("finish");
    let compressed = std::fs::metadata(&object).expect("size").len();
    let text_bytes = (line.len() as u64 + 1) * 100_000;
    // The budget: above ten times the compressed size, below the text.
    let budget_mb = ((compressed * 10) >> 20) + 1;
    assert!(budget_mb << 20 < text_bytes, "{compressed} {text_bytes}");
    let run = |extra: &[&str], page: &Path| {
        s3logs_cmd()
            .env("TMPDIR", &tmp)
            .arg("report")
            .arg("--raw")
            .arg(&logs)
            .args(extra)
            .arg("--output")
            .arg(page)
            .output()
            .expect("run")
    };
    let held = dir.path().join("held.html");
    let out = run(&[], &held);
    assert!(out.status.success(), "{out:?}");
    let spilled = dir.path().join("spilled.html");
    let out = run(&["--raw-memory-mb", &budget_mb.to_string()], &spilled);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more than their sizes suggested"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&held).expect("page"),
        std::fs::read_to_string(&spilled).expect("page")
    );
    assert_eq!(
        std::fs::read_dir(&tmp).expect("tmp").count(),
        0,
        "left behind"
    );
}
