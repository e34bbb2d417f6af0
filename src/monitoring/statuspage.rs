//! Atlassian Statuspage (and compatible pages), API v2: `GET {url}/api/v2/status.json`.
//!
//! The answer is `{"page": {..}, "status": {"indicator", "description"}}`. The indicator maps `none` to NORMAL,
//! `minor` and `maintenance` to DEGRADED, `major` and `critical` to CRITICAL; any other is an unreadable answer.
//! The summary is the page's own description ("All Systems Operational", "Partial System Outage").

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use icbot_actors::ports::StatusProbe;
use icbot_actors::status::system_state::{Level, ProbeError, StatusReport};

use super::get_json;

pub struct StatuspageProbe {
    /// Base URL, such as `https://status.example.com`.
    pub url: String,
    pub client: reqwest::Client,
    pub timeout: Duration,
}

#[derive(Debug, Deserialize)]
struct StatusJson {
    status: PageStatus,
}

#[derive(Debug, Deserialize)]
struct PageStatus {
    indicator: String,
    #[serde(default)]
    description: String,
}

#[async_trait]
impl StatusProbe for StatuspageProbe {
    async fn check(&self) -> Result<StatusReport, ProbeError> {
        let url = format!("{}/api/v2/status.json", self.url.trim_end_matches('/'));
        let page: StatusJson = get_json(&self.client, &url, self.timeout).await?;
        let level = match page.status.indicator.as_str() {
            "none" => Level::Normal,
            "minor" | "maintenance" => Level::Degraded,
            "major" | "critical" => Level::Critical,
            other => {
                return Err(ProbeError::Malformed(format!(
                    "unknown indicator {:?}",
                    icbot_actors::truncate::prefix(other, 40)
                )))
            }
        };
        Ok(StatusReport {
            level,
            summary: page.status.description,
            firing: vec![],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::test_server::{client, refused_url, serve, Answer};

    const PATH: &str = "/api/v2/status.json";

    fn page(indicator: &str, description: &str) -> &'static str {
        Box::leak(
            format!(
                r#"{{
  "page": {{
    "id": "kctbh9vrtdwd",
    "name": "Example",
    "url": "https://status.example.com",
    "time_zone": "Etc/UTC",
    "updated_at": "2024-05-01T14:03:12.345Z"
  }},
  "status": {{"indicator": "{indicator}", "description": "{description}"}}
}}"#
            )
            .into_boxed_str(),
        )
    }

    async fn probe(answer: Answer) -> StatuspageProbe {
        StatuspageProbe {
            url: serve(PATH, answer).await,
            client: client(),
            timeout: Duration::from_millis(300),
        }
    }

    #[tokio::test]
    async fn indicators_map_to_levels_with_the_description() {
        for (indicator, description, level) in [
            ("none", "All Systems Operational", Level::Normal),
            ("minor", "Partially Degraded Service", Level::Degraded),
            ("maintenance", "Service Under Maintenance", Level::Degraded),
            ("major", "Partial System Outage", Level::Critical),
            ("critical", "Major Service Outage", Level::Critical),
        ] {
            let report = probe(Answer::Json(page(indicator, description)))
                .await
                .check()
                .await
                .expect("checks");
            assert_eq!(report.level, level, "{indicator}");
            assert_eq!(report.summary, description);
        }
    }

    #[tokio::test]
    async fn an_unknown_indicator_is_malformed() {
        let got = probe(Answer::Json(page("purple", "?"))).await.check().await;
        assert_eq!(
            got,
            Err(ProbeError::Malformed("unknown indicator \"purple\"".into()))
        );
    }

    #[tokio::test]
    async fn failures_map_to_probe_errors() {
        let p = probe(Answer::Status(503)).await;
        assert_eq!(p.check().await, Err(ProbeError::Status(503)));
        let p = probe(Answer::Json("not json")).await;
        assert!(matches!(p.check().await, Err(ProbeError::Malformed(_))));
        let p = probe(Answer::Hang).await;
        assert_eq!(p.check().await, Err(ProbeError::Timeout));
        let p = StatuspageProbe {
            url: refused_url().await,
            client: client(),
            timeout: Duration::from_millis(300),
        };
        assert!(matches!(p.check().await, Err(ProbeError::Transport(_))));
    }
}
