//! The command line itself: shell completions and the manual page, made
//! from the same definitions as `--help`.

use std::process::{Command, Stdio};

use crate::util::s3logs_cmd;

#[test]
fn completions_are_valid_scripts_that_know_every_subcommand() {
    let out = s3logs_cmd()
        .args(["completions", "bash"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).expect("utf8");
    for sub in [
        "check", "ingest", "query", "compact", "vacuum", "status", "man",
    ] {
        assert!(script.contains(sub), "{sub} in the bash completions");
    }
    // bash reads it without a syntax error.
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .spawn()
        .expect("bash");
    std::io::Write::write_all(&mut bash.stdin.take().expect("stdin"), script.as_bytes())
        .expect("write");
    assert!(bash.wait().expect("bash").success());
    for shell in ["zsh", "fish"] {
        let out = s3logs_cmd()
            .args(["completions", shell])
            .output()
            .expect("run");
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }
    let bad = s3logs_cmd()
        .args(["completions", "tcsh"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn the_manual_page_is_roff_with_every_subcommand() {
    let out = s3logs_cmd().arg("man").output().expect("run");
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).expect("utf8");
    assert!(page.contains(".TH s3logs 1"), "{page}");
    for sub in ["check", "ingest", "query", "compact", "vacuum", "status"] {
        assert!(
            page.contains(&format!("s3logs\\-{sub}")) || page.contains(sub),
            "{sub}"
        );
    }
}

/// One command of the README's `sh` blocks: its environment and words.
pub struct ReadmeCommand {
    pub line: String,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

/// Every `s3logs` command of the README's `sh` code blocks, as a user
/// would type it (comments, cron schedules and `| jq …` left off; quoted
/// words kept whole).
pub fn readme_commands() -> Vec<ReadmeCommand> {
    let readme = std::fs::read_to_string(crate::util::root().join("README.md")).expect("README");
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = t == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let t = t.strip_prefix("0 * * * * ").unwrap_or(t);
        let t = t.split("  #").next().unwrap_or(t);
        let t = t.split(" | ").next().unwrap_or(t).trim();
        let mut words = Vec::new();
        let mut rest = t;
        while !rest.is_empty() {
            rest = rest.trim_start();
            if let Some(q) = rest.strip_prefix('"') {
                let end = q.find('"').expect("a closing quote");
                words.push(q[..end].to_string());
                rest = &q[end + 1..];
            } else {
                let end = rest.find(' ').unwrap_or(rest.len());
                words.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
        let mut env = Vec::new();
        while words
            .first()
            .is_some_and(|w| w.contains('=') && !w.starts_with('-'))
        {
            let w = words.remove(0);
            let (k, v) = w.split_once('=').expect("NAME=VALUE");
            env.push((k.to_string(), v.to_string()));
        }
        if words.first().map(String::as_str) == Some("s3logs") {
            words.remove(0);
            out.push(ReadmeCommand {
                line: t.to_string(),
                env,
                args: words,
            });
        }
    }
    out
}

/// Stands the README's example places in for places of a test: its log
/// folders for the sample logs, its lake and summary paths for `dir`.
pub fn local_word(word: &str, dir: &std::path::Path) -> String {
    let sample = crate::util::sample_logs().display().to_string();
    match word {
        "sample-logs" | "logs/" | "~/Downloads/logs" | "/data/s3-logs" => sample,
        "/data/s3-lake" => dir.join("data-lake").display().to_string(),
        "/var/log/s3logs/last.json" => dir.join("last.json").display().to_string(),
        w => w.to_string(),
    }
}

/// A README command ran: exit 0, or 1 for "some lines were rejected" (the
/// sample holds five on purpose), and no error.
pub fn assert_ran(line: &str, out: &std::process::Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)) && !err.contains("error:"),
        "`{line}` failed ({:?}): {err}",
        out.status.code()
    );
}

#[test]
fn the_readme_commands_run_as_written() {
    let commands = readme_commands();
    assert!(commands.len() >= 10, "{} commands found", commands.len());
    let dir = tempfile::tempdir().expect("tempdir");
    // The queries use ./s3logs-lake, as `make demo` leaves it.
    let demo = s3logs_cmd()
        .current_dir(dir.path())
        .args(["ingest", "--lake", "s3logs-lake", "--max-reject-ratio", "1"])
        .arg(crate::util::sample_logs())
        .output()
        .expect("ingest");
    assert!(demo.status.success());
    let mut ran = 0;
    for c in commands.iter().filter(|c| {
        !c.args.iter().any(|a| a.starts_with("s3://"))
            && !c.env.iter().any(|(_, v)| v.starts_with("s3://"))
    }) {
        let mut cmd = s3logs_cmd();
        cmd.current_dir(dir.path());
        for (k, v) in &c.env {
            cmd.env(k, local_word(v, dir.path()));
        }
        let args: Vec<String> = c.args.iter().map(|a| local_word(a, dir.path())).collect();
        assert_ran(&c.line, &cmd.args(&args).output().expect("run"));
        ran += 1;
    }
    assert!(ran >= 9, "{ran} local commands ran");
    assert!(
        dir.path().join("cost.csv").is_file(),
        "--output cost.csv wrote it"
    );
    assert!(
        dir.path().join("last.json").is_file(),
        "the cron line wrote its summary"
    );
}

#[test]
fn a_range_that_ends_before_it_starts_is_refused_by_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = crate::util::sample_logs().display().to_string();
    let lake = dir.path().join("lake").display().to_string();
    let page = dir.path().join("r.html").display().to_string();
    let range = ["--since", "2024-03-05", "--until", "2024-03-01"];
    let commands: [&[&str]; 5] = [
        &["check", &sample],
        &["ingest", &sample, "--lake", &lake],
        &["query", "--raw", &sample, "SELECT count(*) FROM logs"],
        &["audit", "--raw", &sample],
        &["report", "--raw", &sample, "--output", &page],
    ];
    for args in commands {
        let out = s3logs_cmd().args(args).args(range).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("--since 2024-03-05 is after --until 2024-03-01"),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert!(!dir.path().join("lake").exists(), "ingest wrote a lake");
    assert!(!dir.path().join("r.html").exists(), "report wrote a page");
    // One day, given as both ends, is a range.
    let out = s3logs_cmd()
        .args([
            "check",
            &sample,
            "--since",
            "2024-03-01",
            "--until",
            "2024-03-01",
        ])
        .output()
        .expect("run");
    assert_ne!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn an_output_that_is_a_log_being_read_or_a_folder_is_refused_and_the_log_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let log = logs.join("2024-03-01-00-00-00-ABCDEF");
    // Any log will do: the first file of the samples.
    let sample = walk_first_file(&crate::util::sample_logs());
    std::fs::copy(&sample, &log).expect("copy");
    let before = std::fs::read(&log).expect("read");
    let (logs_s, log_s) = (logs.display().to_string(), log.display().to_string());
    let lake = dir.path().join("lake").display().to_string();
    let commands: [&[&str]; 6] = [
        &["report", "--raw", &logs_s, "--output", &log_s],
        &["report", "--raw", &log_s, "--output", &log_s],
        &["query", "--raw", &logs_s, "--output", &log_s, "SELECT 1"],
        &["audit", "--raw", &logs_s, "--metrics-file", &log_s],
        &["audit", "--raw", &logs_s, "--summary-json", &log_s],
        &["ingest", &logs_s, "--lake", &lake, "--metrics-file", &log_s],
    ];
    for args in commands {
        let out = s3logs_cmd().args(args).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("is one of the logs being read"),
            "{args:?}: {err}"
        );
        assert_eq!(std::fs::read(&log).expect("read"), before, "{args:?}");
    }
    assert!(!dir.path().join("lake").exists(), "ingest started");
    // A folder is not a file to write, and nothing is left beside it.
    let out = s3logs_cmd()
        .args(["report", "--raw", &logs_s, "--output"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a folder"));
    // A new file in the folder is written, with a warning.
    let page = logs.join("report.html");
    let out = s3logs_cmd()
        .args(["report", "--raw", &logs_s, "--output"])
        .arg(&page)
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("will read it as a log"));
    assert!(page.is_file());
}

/// The first file below `dir`, in name order.
fn walk_first_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for e in entries {
        if e.is_file() {
            return e;
        }
        if e.is_dir() {
            return walk_first_file(&e);
        }
    }
    panic!("no file below {}", dir.display());
}
