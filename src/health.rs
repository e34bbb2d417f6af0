//! `icbot health [--admin URL] [--pid PID] [--live]`: asks a running bot's admin server whether it is ready
//! and prints its tree, one line per actor, then the state writes. Exits 0 when ready (degraded or not: the
//! last line then says `READY (degraded: ...)`), 1 when not ready, 2 when the admin server cannot be reached
//! or is not the bot expected: fit for a shell script or a container health check.
//!
//! Which bot is expected: `--pid`, or (when the address comes from the config) the pid in the config's state
//! dir lock file. The admin server says which bot it is in every answer (the `icbot-instance` header).
//! `--live` asks only `/healthz`: the process answers, ready or not (a container's liveness).

use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use icbot_actors::cache::oncall::human_age;
use serde_json::Value;

use crate::admin::{ActorFacts, Readiness, TreeFacts};
use crate::config::{http_url, Config};
use crate::ha::HaFacts;
use crate::instance::{read_lock_file, Instance, INSTANCE_HEADER, LOCK_FILE};
use url::Url;

/// Where `icbot health` asks when neither `--admin` nor the config says.
pub const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:9464";

/// How long each request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// The admin URL for a config's `[admin] listen`: an unspecified host (`0.0.0.0`, `[::]`) is asked on
/// loopback; no config or `listen = ""` gives [`DEFAULT_ADMIN_URL`].
pub fn admin_url_from(config: Option<&Config>) -> String {
    let Some(listen) = config.and_then(|c| c.admin.listen_addr()) else {
        return DEFAULT_ADMIN_URL.to_string();
    };
    match listen.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
        Ok(addr) => format!("http://{addr}"),
        Err(_) => DEFAULT_ADMIN_URL.to_string(),
    }
}

/// Which bot `icbot health` must find behind the admin address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub pid: u32,
    /// The full instance id (pid and start time), when known (from the lock file).
    pub instance: Option<String>,
    /// Where the expectation comes from, for the message: `--pid`, or the lock file's path.
    pub source: String,
}

impl Expect {
    /// `--pid <pid>`.
    pub fn pid(pid: u32) -> Expect {
        Expect {
            pid,
            instance: None,
            source: "--pid".to_string(),
        }
    }

    /// What the state dir's lock file says, when there is one.
    pub fn from_lock_file(state_dir: &Path) -> Option<Expect> {
        let holder = read_lock_file(state_dir)?;
        Some(Expect {
            pid: holder.pid,
            instance: holder.instance,
            source: state_dir.join(LOCK_FILE).display().to_string(),
        })
    }

    /// `None` when `answered` (an instance id) is this bot; otherwise why not.
    fn mismatch(&self, answered: Option<&str>) -> Option<String> {
        let Some(answered) = answered else {
            return Some(format!(
                "the admin server does not say which bot it is (no {INSTANCE_HEADER} header); expected pid {} ({})",
                self.pid, self.source
            ));
        };
        let pid = Instance::pid_of(answered);
        let same = match &self.instance {
            Some(expected) => expected == answered,
            None => pid == Some(self.pid),
        };
        (!same).then(|| {
            format!(
                "the admin server answers for pid {} (instance {answered}), expected pid {} ({})",
                pid.map_or_else(|| "?".to_string(), |p| p.to_string()),
                self.pid,
                self.source
            )
        })
    }
}

/// The admin base URL from what the operator typed: `http://127.0.0.1:9464`, or `127.0.0.1:9464` (http
/// assumed). The error says what is wrong with it.
pub fn admin_base(text: &str) -> Result<Url, String> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    http_url(&with_scheme).map_err(|e| format!("invalid address {text:?}: {e}"))
}

/// Asks the admin server at `admin_url`; `expect` must match the bot that answers; `live` asks only
/// whether the process answers.
pub async fn run(admin_url: &str, expect: Option<Expect>, live: bool) -> ExitCode {
    let base = match admin_base(admin_url) {
        Ok(url) => url.as_str().trim_end_matches('/').to_string(),
        Err(e) => {
            println!("UNREACHABLE: {e}");
            return ExitCode::from(2);
        }
    };
    let client = match reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            println!("UNREACHABLE: cannot make an HTTP client: {}", cause(&e));
            return ExitCode::from(2);
        }
    };
    let path = if live { "healthz" } else { "readyz" };
    let answer = match client.get(format!("{base}/{path}")).send().await {
        Ok(r) => r,
        Err(e) => {
            println!("UNREACHABLE: {base}: {}", cause(&e));
            return ExitCode::from(2);
        }
    };
    let answered = answer
        .headers()
        .get(INSTANCE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(why) = expect
        .as_ref()
        .and_then(|e| e.mismatch(answered.as_deref()))
    {
        println!("WRONG BOT: {base}: {why}");
        return ExitCode::from(2);
    }
    let instance_line = answered.as_deref().map(|id| {
        let pid = Instance::pid_of(id).map_or_else(|| "?".to_string(), |p| p.to_string());
        format!("instance {id} (pid {pid})")
    });
    if live {
        let ok = answer.status().is_success();
        println!(
            "{}{}",
            if ok { "ALIVE" } else { "NOT ALIVE" },
            instance_line.map(|l| format!(": {l}")).unwrap_or_default()
        );
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    let ready_ok = answer.status().is_success();
    let readiness: Option<Readiness> = answer.json().await.ok();
    if let Some(line) = instance_line {
        println!("{line}");
    }
    match client.get(format!("{base}/actors")).send().await {
        Ok(r) => match r.json::<TreeFacts>().await {
            Ok(tree) => print!("{}", render_tree(&tree)),
            Err(e) => println!("(cannot read {base}/actors: {})", cause(&e)),
        },
        Err(e) => println!("(cannot read {base}/actors: {})", cause(&e)),
    }
    if ready_ok {
        match readiness.filter(|r| !r.degraded.is_empty()) {
            Some(r) => println!("READY (degraded: {})", r.degraded.join("; ")),
            None => println!("READY"),
        }
        ExitCode::SUCCESS
    } else {
        let why = readiness
            .map(|r| r.not_ready.join("; "))
            .unwrap_or_else(|| "no readiness details".into());
        println!("NOT READY: {why}");
        ExitCode::from(1)
    }
}

/// What went wrong with a request, in words: `connection refused`, `timed out after 3 s`, `cannot resolve
/// the host`..., never reqwest's outer `error sending request` or `builder error`.
pub fn cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("timed out after {} s", REQUEST_TIMEOUT.as_secs());
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut innermost: Option<&(dyn std::error::Error + 'static)> = None;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::TimedOut => "timed out".to_string(),
                std::io::ErrorKind::ConnectionReset => "connection reset".to_string(),
                _ => io.to_string(),
            };
        }
        innermost = Some(s);
        source = s.source();
    }
    if e.is_decode() {
        return format!(
            "the answer is not what icbot health expects: {}",
            e.without_url_text()
        );
    }
    match innermost {
        Some(s) if s.to_string().contains("dns error") => "cannot resolve the host".to_string(),
        Some(s) => s.to_string(),
        None => e.without_url_text(),
    }
}

/// reqwest's message without the URL (it is printed beside it already).
trait WithoutUrlText {
    fn without_url_text(&self) -> String;
}

impl WithoutUrlText for reqwest::Error {
    fn without_url_text(&self) -> String {
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(&format!(" for url ({url})"), "");
        }
        text
    }
}

/// One line per actor, indented under its parent: name, state, restarts, last failure, key facts.
pub fn render_tree(tree: &TreeFacts) -> String {
    let mut out = String::new();
    for a in &tree.actors {
        let depth = tree
            .actors
            .iter()
            .position(|p| Some(&p.name) == a.parent.as_ref())
            .map_or(0, |i| {
                if tree.actors[i].parent.is_some() {
                    2
                } else {
                    1
                }
            });
        let failure = match &a.last_failure {
            Some(f) => format!(
                "last failure {} ago: {}",
                human_age(Duration::from_secs(f.age_secs)),
                f.reason
            ),
            None => "no failure".to_string(),
        };
        let _ = writeln!(
            out,
            "{:indent$}{:<width$} {:<12} restarts={:<3} {}{}",
            "",
            a.name,
            a.status,
            a.restarts,
            failure,
            key_facts(a),
            indent = depth * 2,
            width = 24usize.saturating_sub(depth * 2),
        );
    }
    let state = &tree.state;
    match &state.last_write_failure {
        None => out.push_str("state writes: no failure\n"),
        Some(f) => {
            let behind = if state.failing_files.is_empty() {
                "every file written since".to_string()
            } else {
                let files: Vec<&str> = state.failing_files.iter().map(String::as_str).collect();
                format!("behind on disk: {}", files.join(", "))
            };
            let _ = writeln!(
                out,
                "state writes: {} failed; last {} ago: {}: {}; {behind}",
                state.write_failures,
                human_age(Duration::from_secs(f.at.age_secs)),
                f.file,
                f.error,
            );
        }
    }
    if let Some(ha) = &tree.ha {
        out.push_str(&ha_line(ha));
    }
    out
}

/// `ha: leader (epoch 3) replica ...; holder ...; last renewal 1.2s ago`.
pub fn ha_line(ha: &HaFacts) -> String {
    let role = match &ha.role_detail {
        Some(why) => format!("{} ({why})", ha.role),
        None => ha.role.clone(),
    };
    let epoch = ha.epoch.map_or("none".to_string(), |e| e.to_string());
    let holder = ha.holder.as_deref().unwrap_or("nobody yet");
    let renewal = match ha.last_renewal_age_secs {
        Some(age) => format!("{} ago", human_age(Duration::from_secs_f64(age))),
        None => "never seen".to_string(),
    };
    format!(
        "ha: {role}; epoch {epoch}; lease holder {holder}; last renewal {renewal}; this replica {}\n",
        ha.replica
    )
}

/// The facts worth a glance, as `; key: value` pieces.
fn key_facts(a: &ActorFacts) -> String {
    let mut out = String::new();
    for (key, value) in &a.facts {
        let _ = write!(out, "; {key}: {}", fact_text(key, value));
    }
    out
}

/// A fact in words: ages as "12 s old"/"12 s ago", objects as `field=value` pairs without the nulls.
fn fact_text(key: &str, value: &Value) -> String {
    match value {
        Value::Null => "none".to_string(),
        Value::Number(n) if key.ends_with("age_secs") => {
            let age = human_age(Duration::from_secs(n.as_u64().unwrap_or(0)));
            if key == "age_secs" {
                format!("{age} ago")
            } else {
                format!("{age} old")
            }
        }
        Value::String(s) => s.clone(),
        Value::Object(fields) => fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match k.as_str() {
                "age_secs" => fact_text(k, v),
                _ => format!("{k}={}", fact_text(k, v)),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_scheme_is_http_and_a_bad_one_says_why() {
        assert_eq!(
            admin_base("127.0.0.1:9464").unwrap().as_str(),
            "http://127.0.0.1:9464/"
        );
        assert_eq!(
            admin_base("http://10.0.0.5:9464").unwrap().as_str(),
            "http://10.0.0.5:9464/"
        );
        let err = admin_base("local host:9464").unwrap_err();
        assert!(
            err.starts_with("invalid address \"local host:9464\""),
            "{err}"
        );
    }

    #[test]
    fn an_instance_must_match_what_is_expected() {
        let by_pid = Expect::pid(42);
        assert_eq!(by_pid.mismatch(Some("42-1700000000000")), None);
        let wrong = by_pid.mismatch(Some("43-1700000000000")).unwrap();
        assert!(
            wrong.starts_with("the admin server answers for pid 43 (instance 43-1700000000000), expected pid 42 (--pid)"),
            "{wrong}"
        );
        assert!(by_pid.mismatch(None).is_some());
        let by_lock = Expect {
            pid: 42,
            instance: Some("42-1".into()),
            source: "state/icbot.lock".into(),
        };
        assert!(
            by_lock.mismatch(Some("42-2")).is_some(),
            "a restarted pid is another instance"
        );
    }

    #[test]
    fn admin_url_follows_the_config() {
        assert_eq!(admin_url_from(None), DEFAULT_ADMIN_URL);
        let text = r#"
            [pagerduty]
            api_url = "embedded"
            from_email = "icbot@example.com"
            service_id = "PSVC001"
            [admin]
            listen = "0.0.0.0:9999"
        "#;
        let c = Config::parse(text, Vec::new()).unwrap();
        assert_eq!(admin_url_from(Some(&c)), "http://127.0.0.1:9999");
        assert_eq!(
            fact_text(
                "last_refresh",
                &serde_json::json!({"ok": false, "age_secs": 75, "error": "PagerDuty unreachable (timeout)"})
            ),
            "1 min ago error=PagerDuty unreachable (timeout) ok=false"
        );
        let off = text.replace("0.0.0.0:9999", "");
        let c = Config::parse(&off, Vec::new()).unwrap();
        assert_eq!(admin_url_from(Some(&c)), DEFAULT_ADMIN_URL);
    }
}
