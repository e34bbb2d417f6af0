//! Monitoring probes: the [`StatusProbe`] implementations the status actor asks "how are the systems?".
//!
//! - [`alertmanager`]: Prometheus Alertmanager API v2, firing alerts by severity.
//! - [`statuspage`]: an Atlassian Statuspage (or compatible) page's overall indicator.
//!
//! Each probe owns its base URL and timeout and maps every failure to a [`ProbeError`]: no answer in time is
//! `Timeout`, a refused or broken connection `Transport`, a non-2xx answer `Status`, a body that is not the JSON
//! expected `Malformed`.

pub mod alertmanager;
pub mod statuspage;

use std::sync::Arc;
use std::time::Duration;

use icbot_actors::ports::StatusProbe;
use icbot_actors::status::system_state::ProbeError;
use icbot_actors::truncate::truncate;

pub use alertmanager::AlertmanagerProbe;
pub use statuspage::StatuspageProbe;

/// Which monitoring API to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitoringKind {
    Alertmanager,
    Statuspage,
}

/// What a probe needs to know: the config's `[monitoring]` section, once parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoringSettings {
    pub kind: MonitoringKind,
    /// Base URL, without the `/api/v2/...` path.
    pub url: String,
    /// The whole check (connect, answer, body) must finish within this.
    pub timeout: Duration,
    /// Alertmanager: the `severity` label values that make the state CRITICAL.
    pub critical_severities: Vec<String>,
    /// Alertmanager: `alertname`s never counted (always-firing heartbeats).
    pub ignore_alerts: Vec<String>,
}

impl MonitoringSettings {
    /// Alertmanager at `url` with the defaults: 5 s, critical = `critical`/`page`, `Watchdog` ignored.
    pub fn alertmanager(url: impl Into<String>) -> Self {
        MonitoringSettings {
            kind: MonitoringKind::Alertmanager,
            url: url.into(),
            timeout: Duration::from_secs(5),
            critical_severities: alertmanager::DEFAULT_CRITICAL_SEVERITIES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ignore_alerts: alertmanager::DEFAULT_IGNORED_ALERTS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    /// Statuspage at `url`, 5 s timeout.
    pub fn statuspage(url: impl Into<String>) -> Self {
        MonitoringSettings {
            kind: MonitoringKind::Statuspage,
            ..MonitoringSettings::alertmanager(url)
        }
    }
}

/// The probe the settings describe, sharing `client` (which needs no timeout of its own).
pub fn probe_from(settings: &MonitoringSettings, client: reqwest::Client) -> Arc<dyn StatusProbe> {
    match settings.kind {
        MonitoringKind::Alertmanager => Arc::new(AlertmanagerProbe {
            url: settings.url.clone(),
            client,
            timeout: settings.timeout,
            critical_severities: settings.critical_severities.clone(),
            ignore_alerts: settings.ignore_alerts.clone(),
        }),
        MonitoringKind::Statuspage => Arc::new(StatuspageProbe {
            url: settings.url.clone(),
            client,
            timeout: settings.timeout,
        }),
    }
}

/// The longest error text kept in a [`ProbeError`]: users read it in chat.
const MAX_REASON: usize = 160;

/// GETs `url` and parses the JSON body as `T`, within `timeout`, mapping every failure to a [`ProbeError`].
async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<T, ProbeError> {
    let fetch = async {
        let response = client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(from_reqwest)?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProbeError::Status(status.as_u16()));
        }
        response.bytes().await.map_err(from_reqwest)
    };
    let body = tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| ProbeError::Timeout)??;
    serde_json::from_slice(&body).map_err(|e| ProbeError::Malformed(short(&e.to_string())))
}

fn from_reqwest(e: reqwest::Error) -> ProbeError {
    if e.is_timeout() {
        return ProbeError::Timeout;
    }
    // The innermost cause says the most ("Connection refused (os error 111)").
    let mut cause: &dyn std::error::Error = &e;
    while let Some(source) = cause.source() {
        cause = source;
    }
    ProbeError::Transport(short(&cause.to_string()))
}

fn short(text: &str) -> String {
    truncate(text, MAX_REASON).into_owned()
}

/// A tiny HTTP server on 127.0.0.1:0 for the probes' tests.
#[cfg(test)]
pub(crate) mod test_server {
    use std::net::SocketAddr;
    use std::time::Duration;

    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use axum::Router;

    /// What the fake answers on `path`.
    #[derive(Clone)]
    pub enum Answer {
        Json(&'static str),
        Status(u16),
        Hang,
    }

    /// Serves `answer` on `path` and returns the base URL.
    pub async fn serve(path: &'static str, answer: Answer) -> String {
        crate::crypto::install_crypto_provider();
        let app = Router::new().route(
            path,
            get(move || {
                let answer = answer.clone();
                async move { respond(answer).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
    }

    async fn respond(answer: Answer) -> Response {
        match answer {
            Answer::Json(body) => (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Answer::Status(code) => StatusCode::from_u16(code)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response(),
            Answer::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                StatusCode::OK.into_response()
            }
        }
    }

    /// A port nothing listens on.
    pub async fn refused_url() -> String {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        format!("http://{addr}")
    }

    pub fn client() -> reqwest::Client {
        crate::crypto::install_crypto_provider();
        reqwest::Client::builder().build().expect("client")
    }
}
