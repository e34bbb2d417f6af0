//! The real binary (`CARGO_BIN_EXE_icbot`) on the console adapter against a stub this test starts: secrets
//! never reach its logs, even at `trace`; a page in flight when SIGTERM or end of input comes still answers
//! before the process exits.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use icbot::config::{Config, Secrets};
use icbot::pagerduty::{PagerDutyClient, PagerDutyConfig};
use icbot::stub::{Fault, StubData, StubHandle, StubServer};
use tokio::sync::mpsc;

use crate::helpers::{config_text, Options, TempDir, REPLY_PATIENCE};

/// The binary, running with piped stdin, stdout and stderr.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    stdout: Arc<Mutex<String>>,
    stdout_reader: JoinHandle<()>,
    stderr_reader: JoinHandle<String>,
}

/// What the process left behind.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Running {
    /// Starts `icbot --config <dir>/config.toml` with these environment variables.
    fn start(dir: &TempDir, config: &str, env: &[(&str, &str)]) -> Running {
        let path = dir.0.join("config.toml");
        std::fs::write(&path, config).expect("config written");
        let mut command = Command::new(env!("CARGO_BIN_EXE_icbot"));
        command
            .arg("--config")
            .arg(&path)
            .current_dir(&dir.0)
            .env_remove("PAGERDUTY_TOKEN")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("icbot runs");
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = Arc::new(Mutex::new(String::new()));
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let all = stdout.clone();
        let stdout_reader = std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                all.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let mut err = child.stderr.take().expect("stderr");
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Running {
            stdin: child.stdin.take(),
            child,
            lines,
            stdout,
            stdout_reader,
            stderr_reader,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to icbot");
        stdin.flush().expect("flush to icbot");
    }

    /// Waits for a stdout line containing `text`.
    async fn wait_for_line(&mut self, text: &str) {
        let found = async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(text) {
                    return true;
                }
            }
            false
        };
        let found = tokio::time::timeout(REPLY_PATIENCE, found).await;
        assert!(
            matches!(found, Ok(true)),
            "no line with {text:?} on stdout:\n{}",
            self.stdout.lock().unwrap()
        );
    }

    /// Closes stdin (end of input) and waits for the process to exit.
    async fn finish(mut self) -> Finished {
        drop(self.stdin.take());
        self.exit().await
    }

    /// Waits for the process to exit with stdin still open (after a signal); kills it after
    /// `REPLY_PATIENCE`.
    async fn exit(self) -> Finished {
        let pid = self.pid();
        let mut child = self.child;
        let mut waiter = tokio::task::spawn_blocking(move || child.wait().expect("wait for icbot"));
        let waited = match tokio::time::timeout(REPLY_PATIENCE, &mut waiter).await {
            Ok(status) => Some(status.expect("waiter")),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                let _ = waiter.await;
                None
            }
        };
        self.stdout_reader.join().expect("stdout reader");
        drop(self.stdin);
        let stderr = self.stderr_reader.join().expect("stderr reader");
        let stdout = self.stdout.lock().unwrap().clone();
        let Some(status) = waited else {
            panic!("icbot (pid {pid}) still running; killed\nstdout:\n{stdout}\nstderr:\n{stderr}");
        };
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

/// A value no log line could contain by chance: `tag`, the time and the process id, in hex.
fn unique_secret(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{tag}{:x}q{:x}Zr{}",
        nanos,
        std::process::id(),
        tag.len() * 7919
    )
}

async fn stub() -> StubHandle {
    StubServer::start("127.0.0.1:0", StubData::demo(), Fault::None)
        .await
        .expect("stub starts")
}

/// Runs the binary at `trace` with unique secrets, through lookups, a page and a failed page, and checks
/// that no secret appears in its stdout or stderr.
async fn no_secret_in_logs(log_format: &str) {
    let stub = stub().await;
    let dir = TempDir::new(&format!("secrets-{log_format}"));
    let config = config_text(&stub.url(), &dir.0.join("state"), &Options::default());
    let pagerduty_token = unique_secret("pdtok");
    let slack = [
        ("SLACK_BOT_TOKEN", unique_secret("xoxb-")),
        ("SLACK_APP_TOKEN", unique_secret("xapp-")),
        ("SLACK_SIGNING_SECRET", unique_secret("sig")),
        ("ICBOT_ADMIN_TOKEN", unique_secret("adm")),
    ];
    let mut env = vec![
        ("RUST_LOG", "trace"),
        ("ICBOT_LOG_FORMAT", log_format),
        ("PAGERDUTY_TOKEN", pagerduty_token.as_str()),
    ];
    env.extend(slack.iter().map(|(k, v)| (*k, v.as_str())));
    let mut bot = Running::start(&dir, &config, &env);

    bot.send("!ic");
    bot.wait_for_line("Incident Commanders on call now").await;
    bot.send("!ic who Ivan Petrov");
    bot.wait_for_line("Ivan Petrov <").await;
    bot.send("!ic page db down");
    bot.wait_for_line("Paged the Incident Commanders: incident #1")
        .await;
    stub.set_fault(Fault::Unauthorized, Some("/incidents".to_string()));
    bot.send("!ic page responders db still down");
    bot.wait_for_line("PAGE NOT CONFIRMED").await;
    let done = bot.finish().await;
    assert!(done.status.success(), "exit {:?}", done.status);

    // The test saw what it meant to: trace-level logs, in the format asked for.
    let trace = if log_format == "json" {
        "\"level\":\"TRACE\""
    } else {
        "TRACE"
    };
    assert!(
        done.stderr.contains(trace),
        "no trace logs:\n{}",
        done.stderr
    );
    assert!(
        stub.pages().incidents.len() == 1,
        "one page went through with the token"
    );
    for (name, secret) in [("PAGERDUTY_TOKEN", &pagerduty_token)]
        .into_iter()
        .chain(slack.iter().map(|(k, v)| (*k, v)))
    {
        for (stream, text) in [("stdout", &done.stdout), ("stderr", &done.stderr)] {
            if let Some(at) = text.find(secret.as_str()) {
                let from = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let to = text[at..].find('\n').map_or(text.len(), |i| at + i);
                panic!("{name} appears in {stream}:\n{}", &text[from..to]);
            }
        }
    }
    stub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_json_logs() {
    no_secret_in_logs("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_text_logs() {
    no_secret_in_logs("text").await;
}

#[test]
fn debug_of_config_secrets_and_client_hides_the_secrets() {
    let token = unique_secret("pdtok");
    let signing = unique_secret("sig");
    let config = Config::parse(
        &config_text(
            "http://127.0.0.1:9",
            std::path::Path::new("/tmp"),
            &Options::default(),
        ),
        Vec::new(),
    )
    .expect("config parses");
    let secrets = Secrets::from_lookup(|k| match k {
        "PAGERDUTY_TOKEN" => Some(token.clone()),
        "SLACK_SIGNING_SECRET" => Some(signing.clone()),
        _ => None,
    });
    let client = PagerDutyClient::new(PagerDutyConfig {
        base_url: "http://127.0.0.1:9".into(),
        token: secrets.pagerduty_token.clone().expect("token set"),
        from_email: "icbot@example.com".into(),
        service_id: "PSVC001".into(),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        max_rate_limit_retries: 1,
    })
    .expect("client builds");
    let shown =
        format!("{config:?}\n{config:#?}\n{secrets:?}\n{secrets:#?}\n{client:?}\n{client:#?}");
    assert!(!shown.contains(&token), "{shown}");
    assert!(!shown.contains(&signing), "{shown}");
}

/// A stub whose `POST /incidents` and responder request take 1.5 s each, a bot whose page deadline is 6 s
/// and whose requests may take 3 s: a page sent now completes about 3 s later.
async fn slow_incidents() -> (StubHandle, TempDir, String) {
    let stub = stub().await;
    stub.set_fault(
        Fault::Slow(Duration::from_millis(1_500)),
        Some("/incidents".into()),
    );
    let dir = TempDir::new("inflight");
    let options = Options {
        request_timeout_secs: 3.0,
        ..Options::default()
    };
    let config = config_text(&stub.url(), &dir.0.join("state"), &options);
    (stub, dir, config)
}

/// The page deadline, 6 s, set the way an operator would; the token; logs that show the shutdown path.
const IN_FLIGHT_ENV: &[(&str, &str)] = &[
    ("ICBOT_PAGERDUTY__PAGE_DEADLINE_SECS", "6"),
    ("PAGERDUTY_TOKEN", "test-token"),
    ("RUST_LOG", "info"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_in_flight_at_sigterm_answers_before_exit() {
    let (stub, dir, config) = slow_incidents().await;
    let mut bot = Running::start(&dir, &config, IN_FLIGHT_ENV);
    bot.send("!ic page db down");
    assert!(
        stub.wait_for_requests("/incidents", 1, REPLY_PATIENCE)
            .await,
        "the page reached PagerDuty"
    );
    assert!(stub.pages().incidents.is_empty(), "still in flight");
    let killed = Command::new("kill")
        .args(["-TERM", &bot.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    // stdin stays open: only the signal ends the run.
    let done = bot.exit().await;
    assert!(
        done.status.success(),
        "exit {:?}\nstderr:\n{}",
        done.status,
        done.stderr
    );
    assert!(
        done.stdout
            .contains("Paged the Incident Commanders: incident #1"),
        "stdout:\n{}\nstderr:\n{}",
        done.stdout,
        done.stderr
    );
    assert!(done.stderr.contains("shutdown signal"), "{}", done.stderr);
    assert_eq!(stub.pages().incidents.len(), 1);
    stub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_in_flight_at_end_of_input_answers_before_exit() {
    let (stub, dir, config) = slow_incidents().await;
    let mut bot = Running::start(&dir, &config, IN_FLIGHT_ENV);
    bot.send("!ic page db down");
    let done = bot.finish().await;
    assert!(
        done.status.success(),
        "exit {:?}\nstderr:\n{}",
        done.status,
        done.stderr
    );
    assert!(
        done.stdout
            .contains("Paged the Incident Commanders: incident #1"),
        "stdout:\n{}\nstderr:\n{}",
        done.stdout,
        done.stderr
    );
    assert!(done.stderr.contains("end of input"), "{}", done.stderr);
    assert_eq!(stub.request_count("/incidents"), 2, "create + responders");
    stub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_cut_by_kill_9_is_never_sent_twice() {
    let stub = stub().await;
    // The incident is created; the responder request (`/incidents/Q.../responder_requests`) never answers.
    stub.set_fault(Fault::Hang, Some("/incidents/Q".into()));
    let dir = TempDir::new("kill9");
    let options = Options {
        request_timeout_secs: 20.0,
        page_deadline_secs: 25.0,
        ..Options::default()
    };
    let config = config_text(&stub.url(), &dir.0.join("state"), &options);
    let env = [("PAGERDUTY_TOKEN", "test-token")];
    let mut bot = Running::start(&dir, &config, &env);
    bot.send("!ic page db down");
    assert!(
        stub.wait_for_requests("/incidents/Q", 1, REPLY_PATIENCE)
            .await,
        "the page is between the incident and the responder request"
    );
    assert_eq!(stub.pages().incidents.len(), 1);
    let killed = Command::new("kill")
        .args(["-KILL", &bot.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let done = bot.exit().await;
    assert!(!done.status.success(), "killed: {:?}", done.status);
    let audit =
        std::fs::read_to_string(dir.0.join("state").join("pages.jsonl")).unwrap_or_default();
    assert!(
        audit.contains("\"event\":\"started\""),
        "the page was recorded before PagerDuty was asked: {audit:?}"
    );
    assert!(!audit.contains("\"event\":\"outcome\""), "{audit}");

    stub.set_fault(Fault::None, None);
    let mut bot = Running::start(&dir, &config, &env);
    bot.send("!ic page db down");
    bot.wait_for_line("did not record its outcome").await;
    bot.wait_for_line("--again").await;
    let done = bot.finish().await;
    assert!(done.status.success(), "exit {:?}", done.status);
    assert_eq!(stub.pages().incidents.len(), 1, "no second incident");
    let id = stub.pages().incidents[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        done.stdout
            .contains("PagerDuty has its incident: incident #1")
            && done.stdout.contains(&format!("/incidents/{id}")),
        "the incident is found by its key:\n{}",
        done.stdout
    );
    stub.shutdown().await;
}
