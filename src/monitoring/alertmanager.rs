//! Prometheus Alertmanager, API v2: `GET {url}/api/v2/alerts?active=true&silenced=false&inhibited=false`.
//!
//! The answer is an array of alerts with `labels` (by convention `alertname` and `severity`) and
//! `status.state` (`active`, `suppressed` or `unprocessed`). Ignored alert names (the always-firing `Watchdog`
//! heartbeat) are dropped first; only `active` alerts count. Any alert with a critical severity makes the state
//! CRITICAL, any other firing alert (including one with no severity label, counted as `unknown`) DEGRADED, none
//! NORMAL.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use icbot_actors::ports::StatusProbe;
use icbot_actors::status::system_state::{FiringAlert, Level, ProbeError, StatusReport};

use super::get_json;

pub const DEFAULT_CRITICAL_SEVERITIES: &[&str] = &["critical", "page"];
pub const DEFAULT_IGNORED_ALERTS: &[&str] = &["Watchdog"];

/// How many alert names a summary lists before "and N more".
const NAMES_SHOWN: usize = 3;

pub struct AlertmanagerProbe {
    /// Base URL, such as `http://alertmanager:9093`.
    pub url: String,
    pub client: reqwest::Client,
    pub timeout: Duration,
    /// `severity` values that make the state CRITICAL (compared case-insensitively).
    pub critical_severities: Vec<String>,
    /// `alertname`s never counted.
    pub ignore_alerts: Vec<String>,
}

/// One element of the answer, as much of Alertmanager's `gettableAlert` as the probe reads.
#[derive(Debug, Deserialize)]
struct GettableAlert {
    #[serde(default)]
    labels: HashMap<String, String>,
    status: AlertStatus,
}

#[derive(Debug, Deserialize)]
struct AlertStatus {
    state: String,
}

#[async_trait]
impl StatusProbe for AlertmanagerProbe {
    async fn check(&self) -> Result<StatusReport, ProbeError> {
        let url = format!(
            "{}/api/v2/alerts?active=true&silenced=false&inhibited=false",
            self.url.trim_end_matches('/')
        );
        let alerts: Vec<GettableAlert> = get_json(&self.client, &url, self.timeout).await?;
        Ok(self.report(alerts))
    }
}

impl AlertmanagerProbe {
    fn report(&self, alerts: Vec<GettableAlert>) -> StatusReport {
        let firing: Vec<FiringAlert> = alerts
            .into_iter()
            .filter(|a| a.status.state == "active")
            .map(|a| FiringAlert {
                name: a
                    .labels
                    .get("alertname")
                    .cloned()
                    .unwrap_or_else(|| "(unnamed)".to_string()),
                severity: a
                    .labels
                    .get("severity")
                    .map(|s| s.to_lowercase())
                    .unwrap_or_else(|| "unknown".to_string()),
            })
            .filter(|a| !self.ignore_alerts.contains(&a.name))
            .collect();
        let level = if firing.iter().any(|a| self.is_critical(&a.severity)) {
            Level::Critical
        } else if firing.is_empty() {
            Level::Normal
        } else {
            Level::Degraded
        };
        StatusReport {
            level,
            summary: self.summary(&firing),
            firing,
        }
    }

    fn is_critical(&self, severity: &str) -> bool {
        self.critical_severities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(severity))
    }

    /// "2 critical, 1 warning: ApiDown, DiskFull, CertExpiry and 2 more": counts by severity (critical ones
    /// first, then the most frequent), then the distinct alert names in that order.
    fn summary(&self, firing: &[FiringAlert]) -> String {
        if firing.is_empty() {
            return "no alerts firing".to_string();
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for alert in firing {
            *counts.entry(alert.severity.as_str()).or_default() += 1;
        }
        let mut severities: Vec<(&str, usize)> = counts.into_iter().collect();
        severities
            .sort_by_key(|(severity, count)| (!self.is_critical(severity), usize::MAX - count));
        let mut names: Vec<&str> = Vec::new();
        for (severity, _) in &severities {
            for alert in firing.iter().filter(|a| a.severity == *severity) {
                if !names.contains(&alert.name.as_str()) {
                    names.push(&alert.name);
                }
            }
        }
        let counted = severities
            .iter()
            .map(|(severity, count)| format!("{count} {severity}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut shown = names
            .iter()
            .take(NAMES_SHOWN)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if names.len() > NAMES_SHOWN {
            shown.push_str(&format!(" and {} more", names.len() - NAMES_SHOWN));
        }
        format!("{counted}: {shown}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::test_server::{client, refused_url, serve, Answer};
    use crate::monitoring::{probe_from, MonitoringSettings};

    const PATH: &str = "/api/v2/alerts";

    /// One alert in Alertmanager v2's shape (`gettableAlert`).
    fn alert(name: &str, severity: Option<&str>, state: &str, silenced_by: &str) -> String {
        let severity = severity
            .map(|s| format!(r#", "severity": "{s}""#))
            .unwrap_or_default();
        format!(
            r#"{{
  "annotations": {{"summary": "{name} is firing", "runbook_url": "https://runbooks.example.com/{name}"}},
  "endsAt": "2024-05-01T14:10:00.000Z",
  "fingerprint": "4f3c1b2a9d8e7f60",
  "receivers": [{{"name": "pagerduty"}}],
  "startsAt": "2024-05-01T13:58:00.000Z",
  "status": {{"inhibitedBy": [], "silencedBy": [{silenced_by}], "mutedBy": [], "state": "{state}"}},
  "updatedAt": "2024-05-01T14:03:00.000Z",
  "generatorURL": "http://prometheus:9090/graph?g0.expr=up%3D%3D0",
  "labels": {{"alertname": "{name}", "instance": "api-1:8080", "job": "api"{severity}}}
}}"#
        )
    }

    fn active(name: &str, severity: Option<&str>) -> String {
        alert(name, severity, "active", "")
    }

    fn body(alerts: &[String]) -> &'static str {
        Box::leak(format!("[{}]", alerts.join(",\n")).into_boxed_str())
    }

    async fn probe(answer: Answer) -> AlertmanagerProbe {
        let url = serve(PATH, answer).await;
        probe_at(url)
    }

    fn probe_at(url: String) -> AlertmanagerProbe {
        let settings = MonitoringSettings::alertmanager(url);
        AlertmanagerProbe {
            url: settings.url,
            client: client(),
            timeout: Duration::from_millis(300),
            critical_severities: settings.critical_severities,
            ignore_alerts: settings.ignore_alerts,
        }
    }

    #[tokio::test]
    async fn no_alerts_but_the_watchdog_is_normal() {
        let p = probe(Answer::Json(body(&[active("Watchdog", Some("none"))]))).await;
        let report = p.check().await.expect("checks");
        assert_eq!(report.level, Level::Normal);
        assert_eq!(report.summary, "no alerts firing");
        assert!(report.firing.is_empty());
    }

    #[tokio::test]
    async fn warnings_only_are_degraded() {
        let p = probe(Answer::Json(body(&[
            active("Watchdog", Some("none")),
            active("DiskFull", Some("warning")),
            active("CertExpiry", None),
        ])))
        .await;
        let report = p.check().await.expect("checks");
        assert_eq!(report.level, Level::Degraded);
        assert_eq!(report.summary, "1 unknown, 1 warning: CertExpiry, DiskFull");
    }

    #[tokio::test]
    async fn any_critical_or_page_severity_is_critical() {
        let p = probe(Answer::Json(body(&[
            active("DiskFull", Some("warning")),
            active("ApiDown", Some("critical")),
            active("ApiDown", Some("critical")),
            active("CheckoutErrors", Some("page")),
            active("HighLatency", Some("warning")),
            active("QueueBacklog", Some("info")),
        ])))
        .await;
        let report = p.check().await.expect("checks");
        assert_eq!(report.level, Level::Critical);
        assert_eq!(
            report.summary,
            "2 critical, 1 page, 2 warning, 1 info: ApiDown, CheckoutErrors, DiskFull and 2 more"
        );
        assert_eq!(report.firing.len(), 6);
    }

    #[tokio::test]
    async fn silenced_and_unprocessed_alerts_do_not_count() {
        let p = probe(Answer::Json(body(&[
            alert(
                "ApiDown",
                Some("critical"),
                "suppressed",
                r#""8c1d7a0e-5b7f-4d7e-9a51-2f0c3e4b6a11""#,
            ),
            alert("DiskFull", Some("warning"), "unprocessed", ""),
        ])))
        .await;
        let report = p.check().await.expect("checks");
        assert_eq!(report.level, Level::Normal);
    }

    #[tokio::test]
    async fn the_critical_and_ignored_lists_are_configurable() {
        let url = serve(
            PATH,
            Answer::Json(body(&[
                active("Watchdog", Some("none")),
                active("DiskFull", Some("sev1")),
            ])),
        )
        .await;
        let mut settings = MonitoringSettings::alertmanager(url);
        settings.critical_severities = vec!["SEV1".into()];
        settings.ignore_alerts = vec![];
        let report = probe_from(&settings, client())
            .check()
            .await
            .expect("checks");
        assert_eq!(report.level, Level::Critical);
        assert_eq!(report.summary, "1 sev1, 1 none: DiskFull, Watchdog");
    }

    #[tokio::test]
    async fn an_error_status_is_status() {
        let p = probe(Answer::Status(500)).await;
        assert_eq!(p.check().await, Err(ProbeError::Status(500)));
    }

    #[tokio::test]
    async fn a_body_that_is_not_alerts_is_malformed() {
        for bad in [
            "<html>oops</html>",
            r#"{"status": "success"}"#,
            r#"[{"labels": {}}]"#,
        ] {
            let p = probe(Answer::Json(bad)).await;
            assert!(
                matches!(p.check().await, Err(ProbeError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn a_hanging_server_is_a_timeout() {
        let p = probe(Answer::Hang).await;
        assert_eq!(p.check().await, Err(ProbeError::Timeout));
    }

    #[tokio::test]
    async fn a_refused_connection_is_transport() {
        let p = probe_at(refused_url().await);
        match p.check().await {
            Err(ProbeError::Transport(reason)) => {
                assert!(reason.to_lowercase().contains("refused"), "{reason}")
            }
            other => panic!("expected Transport, got {other:?}"),
        }
    }
}
