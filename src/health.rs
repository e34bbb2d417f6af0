//! `icbot health [--admin URL]`: asks a running bot's admin server whether it is ready and prints its tree,
//! one line per actor, then the state writes. Exits 0 when ready (degraded or not: the last line then says
//! `READY (degraded: ...)`), 1 when not ready, 2 when the admin server cannot be reached: fit for a shell
//! script or a container health check.

use std::fmt::Write;
use std::process::ExitCode;
use std::time::Duration;

use icbot_actors::oncall::human_age;
use serde_json::Value;

use crate::admin::{ActorFacts, Readiness, TreeFacts};
use crate::config::Config;

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

pub async fn run(admin_url: &str) -> ExitCode {
    let base = admin_url.trim_end_matches('/');
    let client = match reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("icbot health: cannot build an HTTP client: {e}");
            return ExitCode::from(2);
        }
    };
    let ready = match client.get(format!("{base}/readyz")).send().await {
        Ok(r) => r,
        Err(e) => {
            println!("UNREACHABLE: {base}: {}", e.without_url());
            return ExitCode::from(2);
        }
    };
    let ready_ok = ready.status().is_success();
    let readiness: Option<Readiness> = ready.json().await.ok();
    match client.get(format!("{base}/actors")).send().await {
        Ok(r) => match r.json::<TreeFacts>().await {
            Ok(tree) => print!("{}", render_tree(&tree)),
            Err(e) => println!("(cannot read {base}/actors: {})", e.without_url()),
        },
        Err(e) => println!("(cannot read {base}/actors: {})", e.without_url()),
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
                format!("behind on disk: {}", state.failing_files.join(", "))
            };
            let _ = writeln!(
                out,
                "state writes: {} failed; last {} ago: {}: {}; {behind}",
                state.write_failures,
                human_age(Duration::from_secs(f.age_secs)),
                f.file,
                f.error,
            );
        }
    }
    out
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
