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
