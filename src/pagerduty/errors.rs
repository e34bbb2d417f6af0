//! Turning what went wrong on the wire into a [`PagerDutyError`]: reqwest failures, error statuses with
//! PagerDuty's error body, and the waits between 429 retries.

use std::error::Error as _;
use std::time::Duration;

use icbot_actors::ports::PagerDutyError;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::wire::ErrorEnvelope;

/// Longest error text we pass on; PagerDuty's messages are short, a proxy's HTML page is not.
const MAX_MESSAGE_CHARS: usize = 300;

/// First backoff when a 429 carries no `ratelimit-reset`; doubles on each retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// A reqwest failure (no response, or a body that could not be read) as a `PagerDutyError`.
///
/// The text never contains the URL (`without_url`) nor any header, so no secret can leak through it.
pub(crate) fn from_reqwest(error: reqwest::Error) -> PagerDutyError {
    if error.is_timeout() {
        return PagerDutyError::Timeout;
    }
    let error = error.without_url();
    let what = if error.is_connect() {
        "connect failed"
    } else if error.is_body() || error.is_decode() {
        "reading the answer failed"
    } else if error.is_request() {
        "sending the request failed"
    } else {
        "HTTP failure"
    };
    // The innermost cause says the useful part ("Connection refused (os error 111)").
    let mut innermost = None;
    let mut cause = error.source();
    while let Some(next) = cause {
        innermost = Some(next);
        cause = next.source();
    }
    let text = match innermost {
        Some(cause) => format!("{what}: {cause}"),
        None => what.to_string(),
    };
    PagerDutyError::Transport(shorten(&text))
}

/// A non-success status (429 aside) as `Rejected`, with PagerDuty's own message when the body is its
/// error envelope, else the status text.
pub(crate) fn rejected(status: StatusCode, body: &[u8]) -> PagerDutyError {
    let message = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(envelope) => envelope.error.describe(),
        Err(_) => None,
    }
    .unwrap_or_else(|| {
        status
            .canonical_reason()
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()))
    });
    PagerDutyError::Rejected {
        status: status.as_u16(),
        message: shorten(&message),
    }
}

/// What PagerDuty says (400, code 2002) to a `POST /incidents` with the `incident_key` of an open incident.
const OPEN_KEY_ERROR: &str = "matching dedup key already exists";

/// Whether `error` is PagerDuty refusing a second incident with the key of an open one.
pub(crate) fn is_open_key(error: &PagerDutyError) -> bool {
    matches!(error, PagerDutyError::Rejected { status: 400, message } if message.contains(OPEN_KEY_ERROR))
}

/// What PagerDuty says (400) to a status change of an incident already resolved: "Incident Already Resolved".
const ALREADY_RESOLVED_ERROR: &str = "already resolved";

/// An error of a write to one incident, told apart the way the reply needs: 404 is [`PagerDutyError::NotFound`],
/// 403 [`PagerDutyError::Forbidden`], PagerDuty's "Incident Already Resolved" [`PagerDutyError::AlreadyResolved`].
pub(crate) fn of_incident_write(error: PagerDutyError) -> PagerDutyError {
    match error {
        PagerDutyError::Rejected { status: 404, .. } => PagerDutyError::NotFound,
        PagerDutyError::Rejected {
            status: 403,
            message,
        } => PagerDutyError::Forbidden { message },
        PagerDutyError::Rejected {
            status: 400,
            message,
        } if message.to_lowercase().contains(ALREADY_RESOLVED_ERROR) => {
            PagerDutyError::AlreadyResolved
        }
        other => other,
    }
}

/// A 2xx body that is not the JSON we expect.
pub(crate) fn malformed(what: &str, error: &serde_json::Error) -> PagerDutyError {
    PagerDutyError::Malformed(shorten(&format!("{what}: {error}")))
}

/// What PagerDuty said about when to come back: `ratelimit-reset` (seconds), else `retry-after` (seconds).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    ["ratelimit-reset", "retry-after"].iter().find_map(|name| {
        let value = headers.get(*name)?.to_str().ok()?.trim();
        let seconds: f64 = value.parse().ok()?;
        (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
    })
}

/// How long to wait before retry number `retry` (0 for the first) after a 429: what PagerDuty asked for,
/// else 500 ms doubling; never more than `cap`.
pub(crate) fn rate_limit_wait(headers: &HeaderMap, retry: u32, cap: Duration) -> Duration {
    let wanted = retry_after(headers)
        .unwrap_or_else(|| FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(retry.min(16))));
    wanted.min(cap)
}

/// `text` cut to [`MAX_MESSAGE_CHARS`] characters, with an ellipsis when cut.
fn shorten(text: &str) -> String {
    icbot_actors::truncate::truncate(text, MAX_MESSAGE_CHARS).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    const CAP: Duration = Duration::from_secs(5);

    #[test]
    fn wait_follows_ratelimit_reset() {
        let h = headers(&[("ratelimit-reset", "2")]);
        assert_eq!(rate_limit_wait(&h, 0, CAP), Duration::from_secs(2));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
    }

    #[test]
    fn wait_is_capped_but_retry_after_is_not() {
        let h = headers(&[("ratelimit-reset", "60")]);
        assert_eq!(rate_limit_wait(&h, 0, CAP), CAP);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(60)));
    }

    #[test]
    fn wait_without_header_doubles_from_half_a_second() {
        let h = HeaderMap::new();
        assert_eq!(rate_limit_wait(&h, 0, CAP), Duration::from_millis(500));
        assert_eq!(rate_limit_wait(&h, 1, CAP), Duration::from_millis(1000));
        assert_eq!(rate_limit_wait(&h, 2, CAP), Duration::from_millis(2000));
        assert_eq!(rate_limit_wait(&h, 40, CAP), CAP);
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn garbage_reset_header_is_ignored() {
        let h = headers(&[("ratelimit-reset", "soon"), ("retry-after", "-1")]);
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn rejected_uses_pagerduty_message_and_errors() {
        let body = br#"{"error":{"message":"Invalid Input Provided","code":2001,"errors":["Title cannot be empty.","Service not found."]}}"#;
        assert_eq!(
            rejected(StatusCode::BAD_REQUEST, body),
            PagerDutyError::Rejected {
                status: 400,
                message: "Invalid Input Provided: Title cannot be empty.; Service not found."
                    .into()
            }
        );
    }

    #[test]
    fn rejected_without_envelope_uses_status_text() {
        assert_eq!(
            rejected(StatusCode::BAD_GATEWAY, b"<html>nginx</html>"),
            PagerDutyError::Rejected {
                status: 502,
                message: "Bad Gateway".into()
            }
        );
    }

    #[test]
    fn long_messages_are_shortened_on_a_char_boundary() {
        let long = "é".repeat(1000);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(short.ends_with('…'));
    }
}
