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
