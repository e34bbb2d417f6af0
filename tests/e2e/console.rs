//! The real binary on the shipped config, with piped input: the embedded demo answers and exits 0.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::TempDir;

#[test]
fn piped_console_run_of_the_shipped_config() {
    let dir = TempDir::new("console");
    let config =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml")).unwrap();
    std::fs::write(dir.0.join("config.toml"), config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_icbot"))
        .current_dir(&dir.0)
        .env_remove("PAGERDUTY_TOKEN")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("icbot runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"!ic\n!ic page\n!status\nhello\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("IC Primary: Alice Moreau — +1 2025550101"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Paged the Incident Commanders: incident #1 http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("NORMAL"), "{stdout}");
    assert!(!stdout.contains("hello"), "other messages are ignored");
    assert!(
        dir.0.join("state/oncall.json").exists(),
        "state written relative to the working dir"
    );
}

/// The shipped config's console bot in a fresh directory, fed `input` on stdin until its end.
fn run_console(tag: &str, input: &[u8]) -> (std::process::Output, TempDir) {
    let dir = TempDir::new(tag);
    let config =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml")).unwrap();
    std::fs::write(dir.0.join("config.toml"), config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_icbot"))
        .current_dir(&dir.0)
        .env_remove("PAGERDUTY_TOKEN")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("icbot runs");
    // A bot that stopped reading (the defect) closes the pipe early: what it answered is what counts.
    let _ = child.stdin.take().unwrap().write_all(input);
    (child.wait_with_output().unwrap(), dir)
}

#[test]
fn a_line_of_invalid_utf8_does_not_end_the_console() {
    let mut input = b"caf\xe9 \xff\xfe !ic who\n".to_vec();
    // And a line far over the 64 KiB limit, cut rather than held whole.
    input.extend(std::iter::repeat_n(b'x', 200 * 1024));
    input.extend_from_slice(b"\n!ic\n");
    let (out, _dir) = run_console("console-bytes", &input);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("IC Primary: Alice Moreau — +1 2025550101"),
        "the !ic after the bad bytes is answered:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("not valid UTF-8"), "{stderr}");
    assert!(stderr.contains("longer than 64 KiB: cut"), "{stderr}");
}

#[test]
fn check_config_names_the_problem() {
    let dir = TempDir::new("check");
    let path = dir.0.join("bad.toml");
    std::fs::write(&path, "[pagerduty]\napi_url = \"https://api.pagerduty.com\"\nfrom_email = \"bot@example.com\"\nservice_id = \"P1\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_icbot"))
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("PAGERDUTY_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("PAGERDUTY_TOKEN is not set"), "{stdout}");
    assert!(stdout.contains("pagerduty.ic_schedules"), "{stdout}");

    std::fs::write(&path, "[pagerduty]\nbogus = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_icbot"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("bogus"),
        "unknown key named"
    );
}
