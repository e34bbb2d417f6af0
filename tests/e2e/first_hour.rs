//! The first hour with icbot, through the real binary: check-config lists every problem by key and line,
//! piped replies come back in command order with the command echoed, logs carry no colour codes off a
//! terminal, a second bot on the same state dir refuses to start (and `kill -9` frees it), and the stub's
//! drill tools (`icbot stub --help`, a taken port).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use icbot::stub::{Fault, StubData, StubHandle, StubServer};

use crate::helpers::{config_text, Options, TempDir, REPLY_PATIENCE};

fn icbot() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_icbot"));
    command
        .env_remove("PAGERDUTY_TOKEN")
        .env_remove("ICBOT_LOG_FORMAT")
        .env("RUST_LOG", "warn");
    command
}

/// Runs `command` with `input` on stdin (then closed) and waits for it, bounded by [`REPLY_PATIENCE`].
fn run_with_input(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("icbot runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    wait_bounded(child)
}

/// Waits for the child's exit and output; kills it (and fails) after [`REPLY_PATIENCE`].
fn wait_bounded(child: Child) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(REPLY_PATIENCE) {
        Ok(output) => output.expect("icbot output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("icbot (pid {pid}) did not exit within {REPLY_PATIENCE:?}; killed");
        }
    }
}

async fn stub() -> StubHandle {
    StubServer::start("127.0.0.1:0", StubData::demo(), Fault::None)
        .await
        .expect("stub starts")
}

/// A config against `stub` with the state in `dir/state`, written to `dir/config.toml`.
fn write_config(dir: &TempDir, stub: &StubHandle, options: &Options) -> std::path::PathBuf {
    let path = dir.0.join("config.toml");
    let text = config_text(&stub.url(), &dir.0.join("state"), options);
    std::fs::write(&path, text).unwrap();
    path
}

fn position(haystack: &str, needle: &str) -> usize {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{haystack}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_replies_come_in_command_order_each_after_its_command() {
    let stub = stub().await;
    // The page takes 1.5 s per PagerDuty write; help and the listing answer at once.
    stub.set_fault(
        Fault::Slow(Duration::from_millis(1_500)),
        Some("/incidents".into()),
    );
    let dir = TempDir::new("order");
    let options = Options {
        request_timeout_secs: 3.0,
        page_deadline_secs: 8.0,
        ..Options::default()
    };
    let config = write_config(&dir, &stub, &options);
    let mut command = icbot();
    command
        .arg("--config")
        .arg(&config)
        .env("PAGERDUTY_TOKEN", "test-token");
    let out = tokio::task::spawn_blocking(move || {
        run_with_input(command, "!ic page db down\nhello\n!ic help\n!ic\n")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let page = position(&stdout, "Paged the Incident Commanders");
    let help = position(&stdout, "icbot commands");
    let listing = position(&stdout, "IC Primary: Alice Moreau");
    assert!(
        page < help && help < listing,
        "replies in command order:\n{stdout}"
    );
    assert!(
        position(&stdout, "> !ic page db down\n") < page
            && page < position(&stdout, "> !ic help\n")
            && help < position(&stdout, "> !ic\n"),
        "each reply after its command:\n{stdout}"
    );
    assert!(!stdout.contains("hello"), "ignored text is not echoed");
    stub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_off_a_terminal_carry_no_colour_codes() {
    let stub = stub().await;
    let dir = TempDir::new("ansi");
    let config = write_config(&dir, &stub, &Options::default());
    let mut command = icbot();
    command
        .arg("--config")
        .arg(&config)
        .env("PAGERDUTY_TOKEN", "test-token")
        .env("RUST_LOG", "info");
    let out = tokio::task::spawn_blocking(move || run_with_input(command, "!ic\n"))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("icbot started"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes in piped logs:\n{stderr:?}"
    );
    stub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_bot_on_the_same_state_dir_refuses_and_kill_9_frees_it() {
    let stub = stub().await;
    let dir = TempDir::new("lock");
    let config = write_config(&dir, &stub, &Options::default());
    let start = |config: &std::path::Path| {
        let mut command = icbot();
        command
            .arg("--config")
            .arg(config)
            .env("PAGERDUTY_TOKEN", "test-token");
        command
    };
    // The first bot, kept running with stdin open; its first reply says it is up (and locked).
    let mut first = start(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("first bot runs");
    let mut stdin = first.stdin.take().unwrap();
    writeln!(stdin, "!ic help").unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = first.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let give_up = std::time::Instant::now() + REPLY_PATIENCE;
    let up = std::iter::from_fn(|| {
        lines
            .recv_timeout(give_up.saturating_duration_since(std::time::Instant::now()))
            .ok()
    })
    .any(|l| l.contains("icbot commands"));
    assert!(up, "the first bot answers");
    let lock = std::fs::read_to_string(dir.0.join("state/icbot.lock")).unwrap();
    assert!(lock.contains(&format!("pid={}", first.id())), "{lock}");

    let second = {
        let command = start(&config);
        tokio::task::spawn_blocking(move || run_with_input(command, "!ic\n"))
            .await
            .unwrap()
    };
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "another icbot (pid {}) is running on the state dir",
            first.id()
        )),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("another icbot").count(),
        1,
        "said once: {stderr}"
    );
    assert!(second.stdout.is_empty(), "it answered nothing");

    // kill -9: no clean exit, and the OS releases the lock with the process.
    let killed = Command::new("kill")
        .args(["-KILL", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    drop(stdin);
    let status = tokio::task::spawn_blocking(move || first.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success());
    let third = {
        let command = start(&config);
        tokio::task::spawn_blocking(move || run_with_input(command, "!ic\n"))
            .await
            .unwrap()
    };
    assert!(
        third.status.success(),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
    assert!(String::from_utf8_lossy(&third.stdout).contains("IC Primary"));
    stub.shutdown().await;
}

#[test]
fn check_config_lists_every_problem_with_its_key_and_line() {
    let dir = TempDir::new("check-all");
    let path = dir.0.join("bad.toml");
    std::fs::write(
        &path,
        r#"[pagerduty]
api_url = "https://api.pagerduty com/"
service_id = "PSVC001"
page_deadline = "ten"
colour = "blue"

[chat]
adapter = "slack"
"#,
    )
    .unwrap();
    let out = icbot()
        .args(["check-config", "--config"])
        .arg(&path)
        .env("ICBOT_STATUS__CHECK_TIMEOUT", "abc")
        .env_remove("SLACK_BOT_TOKEN")
        .env_remove("SLACK_APP_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    for expected in [
        "pagerduty.page_deadline (line 4): invalid duration \"ten\"",
        "pagerduty.colour (line 5): unknown field `colour`",
        "ICBOT_STATUS__CHECK_TIMEOUT=abc: status.check_timeout: invalid duration \"abc\"",
        "pagerduty.api_url (line 2): \"https://api.pagerduty com/\" is not a URL",
        "PAGERDUTY_TOKEN is not set",
        "pagerduty.from_email ([pagerduty] at line 1): missing",
        "pagerduty.ic_schedules ([pagerduty] at line 1): empty",
        "SLACK_BOT_TOKEN is not set",
        "SLACK_APP_TOKEN is not set",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }

    // The shipped config on the old *_secs keys: usable, with a warning naming each new key.
    std::fs::write(
        &path,
        "[pagerduty]\napi_url = \"embedded\"\nfrom_email = \"bot@example.com\"\nservice_id = \"P1\"\npage_deadline_secs = 10\n[[pagerduty.ic_schedules]]\nid = \"PIC0001\"\nlabel = \"IC\"\n",
    )
    .unwrap();
    let out = icbot()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("warning: pagerduty.page_deadline_secs (line 5): deprecated, and read for this release only: write page_deadline = \"10s\""),
        "{stdout}"
    );
}

#[test]
fn stub_help_shows_only_the_stub_s_flags() {
    let out = icbot().args(["stub", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for flag in ["--listen", "--data", "--fault"] {
        assert!(help.contains(flag), "{help}");
    }
    assert!(!help.contains("--config"), "{help}");
}

#[test]
fn a_taken_port_is_reported_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = icbot()
        .args(["stub", "--listen", &addr])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.matches(&format!("cannot listen on {addr}")).count(),
        1,
        "{stderr}"
    );
}

#[test]
fn the_demo_s_state_dir_is_ignored_by_git() {
    let ignore =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == "state/"), "{ignore}");
}

#[test]
fn the_container_has_no_demo_config_and_checks_liveness_from_the_config() {
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/Dockerfile")).unwrap();
    let instructions: Vec<&str> = dockerfile
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !instructions
            .iter()
            .any(|l| l.starts_with("COPY") && l.contains("config.toml")),
        "the image must not bake in the demo config"
    );
    let check = instructions
        .iter()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK");
    for part in [
        "\"health\"",
        "\"--live\"",
        "\"--config\", \"/etc/icbot/config.toml\"",
    ] {
        assert!(check.contains(part), "{check}");
    }
    assert!(
        !check.contains("--admin"),
        "the admin port comes from the config: {check}"
    );
}

#[test]
fn without_its_config_the_bot_refuses_to_start() {
    let dir = TempDir::new("no-config");
    let out = icbot()
        .args(["run", "--config"])
        .arg(dir.0.join("config.toml"))
        .current_dir(&dir.0)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot read"), "{stderr}");
    assert!(!dir.0.join("state").exists(), "nothing started");
}

#[test]
fn typed_at_a_terminal_a_banner_a_prompt_and_the_info_logs_in_a_file() {
    // util-linux `script` gives the bot a terminal for stdin and stdout; ^D there is the end of input.
    let script = "/usr/bin/script";
    if !std::path::Path::new(script).exists() {
        println!("SKIPPED: {script} is not installed (util-linux); the interactive console was not run in a terminal");
        return;
    }
    let dir = TempDir::new("tty");
    let config =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml")).unwrap();
    std::fs::write(dir.0.join("config.toml"), config).unwrap();
    let mut command = Command::new(script);
    command
        .args([
            "-qec",
            &format!("{} --config config.toml", env!("CARGO_BIN_EXE_icbot")),
            "/dev/null",
        ])
        .current_dir(&dir.0)
        .env_remove("PAGERDUTY_TOKEN")
        .env("ICBOT_ADMIN__LISTEN", "")
        .env("RUST_LOG", "info");
    let out = run_with_input(command, "!ic help\n\u{4}");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    for expected in [
        "icbot, on its embedded demo",
        "!ic help lists them all",
        "Logs go to state/icbot.log (warnings also here).",
        "\n> ",
        "icbot commands",
    ] {
        assert!(
            screen.contains(expected),
            "{expected:?} not on the screen:\n{screen}"
        );
    }
    assert!(
        !screen.contains(" INFO "),
        "INFO logs on the screen:\n{screen}"
    );
    let log = std::fs::read_to_string(dir.0.join("state/icbot.log")).expect("the log file");
    assert!(
        log.contains("INFO") && log.contains("icbot started"),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "no colour codes in the file");
}
