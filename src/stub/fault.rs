//! Chaos for the stub: the [`Fault`] modes, the table of faults in force (global and per path prefix),
//! and the middleware that applies them to every request outside the underscore control endpoints.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::pagerduty::pd_error;
use super::StubState;

/// How the stub misbehaves. Parsed from and displayed as `none`, `error`, `unavailable`, `ratelimit`,
/// `unauthorized`, `hang`, `slow:<ms>`, `malformed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Answer normally.
    #[default]
    None,
    /// 500 with a PagerDuty error body.
    Error,
    /// 503 with a PagerDuty error body.
    Unavailable,
    /// 429 with `ratelimit-reset: 1` and a PagerDuty error body (code 2020).
    RateLimit,
    /// 401 with a PagerDuty error body (code 2006), whatever the token.
    Unauthorized,
    /// Accept the request and never answer (until the stub shuts down).
    Hang,
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// 200 with a body that is not valid JSON.
    Malformed,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::None => f.write_str("none"),
            Fault::Error => f.write_str("error"),
            Fault::Unavailable => f.write_str("unavailable"),
            Fault::RateLimit => f.write_str("ratelimit"),
            Fault::Unauthorized => f.write_str("unauthorized"),
            Fault::Hang => f.write_str("hang"),
            Fault::Slow(delay) => write!(f, "slow:{}", delay.as_millis()),
            Fault::Malformed => f.write_str("malformed"),
        }
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Fault::None),
            "error" => Ok(Fault::Error),
            "unavailable" => Ok(Fault::Unavailable),
            "ratelimit" => Ok(Fault::RateLimit),
            "unauthorized" => Ok(Fault::Unauthorized),
            "hang" => Ok(Fault::Hang),
            "malformed" => Ok(Fault::Malformed),
            other => match other.strip_prefix("slow:") {
                Some(ms) => ms.parse::<u64>().map(|ms| Fault::Slow(Duration::from_millis(ms))).map_err(|_| {
                    format!("bad delay in fault `{s}`: expected `slow:<milliseconds>`, e.g. `slow:2500`")
                }),
                None => Err(format!(
                    "unknown fault `{s}`: expected one of none, error, unavailable, ratelimit, \
                     unauthorized, hang, slow:<ms>, malformed"
                )),
            },
        }
    }
}

/// The faults in force: one global fault and any number of path-prefix faults.
#[derive(Debug, Clone, Default)]
pub(super) struct FaultTable {
    global: Fault,
    prefixes: Vec<(String, Fault)>,
}

impl FaultTable {
    pub(super) fn new(global: Fault) -> FaultTable {
        FaultTable {
            global,
            prefixes: Vec::new(),
        }
    }

    /// Without a prefix, `fault` becomes the fault of every path, replacing the path faults (`none` clears
    /// everything): a drill that moves on to a new fault gets it everywhere. With a prefix, `fault` applies
    /// to paths starting with it (and `none` removes that prefix's fault).
    pub(super) fn set(&mut self, fault: Fault, prefix: Option<String>) {
        match prefix {
            None => *self = FaultTable::new(fault),
            Some(prefix) => {
                self.prefixes.retain(|(p, _)| *p != prefix);
                if fault != Fault::None {
                    self.prefixes.push((prefix, fault));
                }
            }
        }
    }

    /// The fault for `path`: the longest matching prefix wins, else the global fault.
    pub(super) fn fault_for(&self, path: &str) -> Fault {
        self.prefixes
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(self.global, |(_, fault)| *fault)
    }

    /// The table as JSON, for `GET /_chaos`.
    pub(super) fn to_json(&self) -> serde_json::Value {
        let prefixes: serde_json::Map<String, serde_json::Value> = self
            .prefixes
            .iter()
            .map(|(p, f)| (p.clone(), f.to_string().into()))
            .collect();
        serde_json::json!({ "fault": self.global.to_string(), "paths": prefixes })
    }
}

/// Counts every request outside the underscore endpoints, then applies the fault in force for its path.
pub(super) async fn apply_faults(
    State(state): State<Arc<StubState>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with("/_") {
        return next.run(request).await;
    }
    let fault = state.count_and_fault(&path);
    if fault != Fault::None {
        tracing::info!(%path, method = %request.method(), %fault, "stub applying fault");
    }
    match fault {
        Fault::None => next.run(request).await,
        Fault::Error => pd_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            2000,
            "Internal Server Error (stub fault)",
            &[],
        ),
        Fault::Unavailable => pd_error(
            StatusCode::SERVICE_UNAVAILABLE,
            2000,
            "Service Unavailable (stub fault)",
            &[],
        ),
        Fault::RateLimit => {
            let mut response = pd_error(
                StatusCode::TOO_MANY_REQUESTS,
                2020,
                "Rate Limit Exceeded (stub fault)",
                &[],
            );
            response
                .headers_mut()
                .insert("ratelimit-reset", HeaderValue::from_static("1"));
            response
        }
        Fault::Unauthorized => pd_error(
            StatusCode::UNAUTHORIZED,
            2006,
            "Invalid Credentials (stub fault)",
            &[],
        ),
        Fault::Hang => {
            state.closed().await;
            pd_error(
                StatusCode::SERVICE_UNAVAILABLE,
                2000,
                "Stub shutting down",
                &[],
            )
        }
        Fault::Slow(delay) => {
            tokio::select! {
                () = tokio::time::sleep(delay) => next.run(request).await,
                () = state.closed() => pd_error(StatusCode::SERVICE_UNAVAILABLE, 2000, "Stub shutting down", &[]),
            }
        }
        Fault::Malformed => (
            [(header::CONTENT_TYPE, "application/json")],
            "{\"oncalls\": [{\"user\": <malformed",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_round_trips_through_display_and_from_str() {
        let faults = [
            Fault::None,
            Fault::Error,
            Fault::Unavailable,
            Fault::RateLimit,
            Fault::Unauthorized,
            Fault::Hang,
            Fault::Slow(Duration::from_millis(250)),
            Fault::Malformed,
        ];
        for fault in faults {
            assert_eq!(fault.to_string().parse::<Fault>(), Ok(fault));
        }
    }

    #[test]
    fn slow_takes_milliseconds() {
        assert_eq!(
            "slow:1500".parse::<Fault>(),
            Ok(Fault::Slow(Duration::from_millis(1500)))
        );
    }

    #[test]
    fn unknown_fault_is_a_clear_error() {
        let err = "explode".parse::<Fault>().unwrap_err();
        assert!(err.contains("unknown fault `explode`"), "{err}");
        let err = "slow:soon".parse::<Fault>().unwrap_err();
        assert!(err.contains("slow:<milliseconds>"), "{err}");
    }

    #[test]
    fn longest_prefix_wins_and_global_applies_elsewhere() {
        let mut table = FaultTable::new(Fault::Slow(Duration::from_millis(5)));
        table.set(Fault::Error, Some("/incidents".into()));
        table.set(Fault::RateLimit, Some("/incidents/".into()));
        assert_eq!(table.fault_for("/incidents"), Fault::Error);
        assert_eq!(
            table.fault_for("/incidents/Q1/responder_requests"),
            Fault::RateLimit
        );
        assert_eq!(
            table.fault_for("/oncalls"),
            Fault::Slow(Duration::from_millis(5))
        );
        table.set(Fault::None, Some("/incidents/".into()));
        assert_eq!(
            table.fault_for("/incidents/Q1/responder_requests"),
            Fault::Error
        );
        table.set(Fault::None, None);
        assert_eq!(table.fault_for("/incidents"), Fault::None);
        assert_eq!(table.fault_for("/oncalls"), Fault::None);
    }
}
