//! The monitoring routes of the stub: Alertmanager's `GET /api/v2/alerts`, Statuspage's
//! `GET /api/v2/status.json`, and their control endpoints `POST /_alerts` and `POST /_statuspage`.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::data::{rfc3339, StubAlert, StubStatuspage};
use super::StubState;

/// The heartbeat alert that is always firing, as in a healthy Prometheus set-up.
pub const WATCHDOG: &str = "Watchdog";

pub(super) fn router() -> Router<Arc<StubState>> {
    Router::new()
        .route("/api/v2/alerts", get(list_alerts))
        .route("/api/v2/status.json", get(status))
        .route("/_alerts", post(set_alerts))
        .route("/_statuspage", post(set_statuspage))
}

/// An alert being served, with the time it started firing.
#[derive(Debug, Clone)]
pub(super) struct FiringAlert {
    alert: StubAlert,
    starts_at: String,
}

impl FiringAlert {
    fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.alert.labels.clone();
        labels.insert("alertname".into(), self.alert.alertname.clone());
        labels.insert("severity".into(), self.alert.severity.clone());
        labels
    }

    fn to_json(&self, now: &str) -> Value {
        let labels = self.labels();
        let mut hasher = DefaultHasher::new();
        labels.hash(&mut hasher);
        json!({
            "labels": labels,
            "annotations": { "summary": format!("{} ({})", self.alert.alertname, self.alert.severity) },
            "startsAt": self.starts_at,
            "endsAt": "0001-01-01T00:00:00Z",
            "updatedAt": now,
            "fingerprint": format!("{:016x}", hasher.finish()),
            "status": { "state": "active", "silencedBy": [], "inhibitedBy": [] },
            "receivers": [{ "name": "default" }],
            "generatorURL": "",
        })
    }
}

/// The served set: the Watchdog heartbeat plus `alerts`. Alerts already firing keep their `startsAt`.
pub(super) fn firing(
    previous: &[FiringAlert],
    alerts: Vec<StubAlert>,
    now: SystemTime,
) -> Vec<FiringAlert> {
    let watchdog = StubAlert::new(WATCHDOG, "none");
    let has_watchdog = alerts.iter().any(|a| a.alertname == WATCHDOG);
    let all = (!has_watchdog)
        .then_some(watchdog)
        .into_iter()
        .chain(alerts);
    all.map(|alert| {
        let starts_at = previous
            .iter()
            .find(|f| f.alert == alert)
            .map_or_else(|| rfc3339(now), |f| f.starts_at.clone());
        FiringAlert { alert, starts_at }
    })
    .collect()
}

/// `GET /api/v2/alerts?active=..&silenced=..&inhibited=..`: every stub alert is active, never silenced or
/// inhibited, so only `active=false` changes the answer (to an empty list).
async fn list_alerts(State(state): State<Arc<StubState>>, RawQuery(raw): RawQuery) -> Response {
    let active_wanted = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "active")
        .is_none_or(|(_, v)| v != "false");
    let now = rfc3339(SystemTime::now());
    let alerts: Vec<Value> = if active_wanted {
        state
            .lock()
            .alerts
            .iter()
            .map(|a| a.to_json(&now))
            .collect()
    } else {
        Vec::new()
    };
    tracing::debug!(count = alerts.len(), "stub alerts");
    Json(Value::Array(alerts)).into_response()
}

/// `GET /api/v2/status.json`
async fn status(State(state): State<Arc<StubState>>) -> Response {
    let statuspage = state.lock().statuspage.clone();
    tracing::debug!(indicator = %statuspage.indicator, "stub statuspage");
    Json(json!({
        "page": {
            "id": "icbotstub", "name": "icbot stub", "url": state.base_url,
            "time_zone": "Etc/UTC", "updated_at": rfc3339(SystemTime::now()),
        },
        "status": { "indicator": statuspage.indicator, "description": statuspage.description },
    }))
    .into_response()
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

/// `POST /_alerts` with `[{"alertname", "severity", "labels"?}]`: replaces the set (the Watchdog stays).
async fn set_alerts(State(state): State<Arc<StubState>>, body: Bytes) -> Response {
    let alerts: Vec<StubAlert> = match serde_json::from_slice(&body) {
        Ok(alerts) => alerts,
        Err(e) => {
            return bad_request(format!(
                "expected [{{\"alertname\", \"severity\", \"labels\"?}}]: {e}"
            ))
        }
    };
    tracing::info!(count = alerts.len(), "stub alerts replaced");
    state.replace_alerts(alerts);
    Json(json!({ "ok": true })).into_response()
}

/// `POST /_statuspage` with `{"indicator", "description"}`.
async fn set_statuspage(State(state): State<Arc<StubState>>, body: Bytes) -> Response {
    let statuspage: StubStatuspage = match serde_json::from_slice(&body) {
        Ok(statuspage) => statuspage,
        Err(e) => return bad_request(format!("expected {{\"indicator\", \"description\"}}: {e}")),
    };
    tracing::info!(indicator = %statuspage.indicator, "stub statuspage set");
    state.lock().statuspage = statuspage;
    Json(json!({ "ok": true })).into_response()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{client, demo_stub};
    use super::super::{Fault, StubHandle};
    use super::*;

    async fn alerts(stub: &StubHandle, query: &str) -> Vec<Value> {
        let url = format!("{}/api/v2/alerts{query}", stub.url());
        client()
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn names(alerts: &[Value]) -> Vec<&str> {
        alerts
            .iter()
            .map(|a| a["labels"]["alertname"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn the_demo_serves_only_the_watchdog() {
        let stub = demo_stub().await;
        let firing = alerts(&stub, "?active=true&silenced=false&inhibited=false").await;
        assert_eq!(names(&firing), [WATCHDOG]);
        let watchdog = &firing[0];
        assert_eq!(watchdog["labels"]["severity"], "none");
        assert_eq!(watchdog["status"]["state"], "active");
        assert_eq!(watchdog["status"]["silencedBy"], json!([]));
        assert_eq!(watchdog["receivers"][0]["name"], "default");
        assert!(watchdog["startsAt"].as_str().unwrap().ends_with('Z'));
        assert_eq!(watchdog["fingerprint"].as_str().unwrap().len(), 16);
        assert!(alerts(&stub, "?active=false").await.is_empty());
    }

    #[tokio::test]
    async fn posted_alerts_replace_the_set_and_the_watchdog_stays() {
        let stub = demo_stub().await;
        let posted = json!([
            {"alertname": "DiskFull", "severity": "critical", "labels": {"team": "database"}},
            {"alertname": "HighLatency", "severity": "warning"},
        ]);
        let set = client()
            .post(format!("{}/_alerts", stub.url()))
            .json(&posted)
            .send()
            .await
            .unwrap();
        assert_eq!(set.status().as_u16(), 200);
        let firing = alerts(&stub, "").await;
        assert_eq!(names(&firing), [WATCHDOG, "DiskFull", "HighLatency"]);
        assert_eq!(firing[1]["labels"]["team"], "database");
        assert_eq!(firing[1]["labels"]["severity"], "critical");

        let watchdog_started = firing[0]["startsAt"].clone();
        stub.set_alerts(Vec::new());
        let firing = alerts(&stub, "").await;
        assert_eq!(names(&firing), [WATCHDOG]);
        assert_eq!(firing[0]["startsAt"], watchdog_started);
    }

    #[tokio::test]
    async fn malformed_alerts_are_rejected() {
        let stub = demo_stub().await;
        let url = format!("{}/_alerts", stub.url());
        let answer = client()
            .post(url)
            .json(&json!([{"severity": "critical"}]))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 400);
    }

    #[tokio::test]
    async fn statuspage_reports_what_was_set() {
        let stub = demo_stub().await;
        let url = format!("{}/api/v2/status.json", stub.url());
        let status: Value = client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            status["status"],
            json!({"indicator": "none", "description": "All Systems Operational"})
        );
        assert!(status["page"]["name"].is_string());

        let set = json!({"indicator": "major", "description": "Partial outage"});
        client()
            .post(format!("{}/_statuspage", stub.url()))
            .json(&set)
            .send()
            .await
            .unwrap();
        let status: Value = client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["status"], set);

        stub.set_statuspage("minor", "Degraded performance");
        let status: Value = client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["status"]["indicator"], "minor");
    }

    #[tokio::test]
    async fn faults_apply_to_monitoring_too() {
        let stub = demo_stub().await;
        stub.set_fault(Fault::Unavailable, Some("/api/v2/alerts".into()));
        let alerts = client()
            .get(format!("{}/api/v2/alerts", stub.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(alerts.status().as_u16(), 503);
        let status = client()
            .get(format!("{}/api/v2/status.json", stub.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(status.status().as_u16(), 200);
    }
}
