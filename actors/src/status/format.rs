//! Turning system states into [`Reply`]s: the `!status` answer, the stalk posts, and the short answers of
//! `!status stalk` / `!status unstalk`. Pure functions, so the wording is tested without actors.

use std::time::SystemTime;

use crate::reply::{code, strong, text, Reply, Span};
use crate::status::system_state::{StatusCheck, SystemState};

/// What users read when a check failed.
pub const UNABLE: &str = "UNABLE TO CHECK STATUS";

/// The `!status` answer: the level and its summary, or a loud "unable to check" with the reason.
pub fn status_reply(check: &StatusCheck) -> Reply {
    let mut reply = Reply::new();
    reply.line(state_spans(&check.state));
    reply.line(vec![text(format!("checked {}", utc(check.checked_at)))]);
    alerting_if_unknown(reply, &check.state)
}

/// A stalk post. `from` is what the channel was last told (`None` for the first post of a stalk), `since` is
/// when that was (for the first post: when the stalk started).
pub fn change_reply(from: Option<&SystemState>, to: &StatusCheck, since: SystemTime) -> Reply {
    let mut reply = Reply::new();
    let mut first = match from {
        None => vec![text("System state: ")],
        Some(from) => vec![
            text("System state changed from "),
            strong(label(from)),
            text(" to "),
        ],
    };
    first.extend(state_spans(&to.state));
    reply.line(first);
    let context = match from {
        None => format!(
            "stalking here since {}, checked {}",
            utc(since),
            utc(to.checked_at)
        ),
        Some(from) => format!(
            "{} since {}, checked {}",
            label(from),
            utc(since),
            utc(to.checked_at)
        ),
    };
    reply.line(vec![text(context)]);
    alerting_if_unknown(reply, &to.state)
}

/// A stalk starting while the status actor is not there to ask.
pub fn checker_unavailable_reply() -> Reply {
    let mut reply = Reply::new();
    reply.line(vec![strong(UNABLE), text(" (status checker restarting)")]);
    reply.alerting()
}

/// `!status stalk` in a channel that was not stalking.
pub fn now_stalking_reply() -> Reply {
    let mut reply = Reply::new();
    reply.line(vec![
        text("Now stalking the system state in this channel: the current state, then every change. Stop with "),
        code("!status unstalk"),
        text("."),
    ]);
    reply
}

/// `!status stalk` in a channel already stalking.
pub fn already_stalking_reply(since: SystemTime) -> Reply {
    Reply::text(format!(
        "Already stalking in this channel since {}.",
        utc(since)
    ))
}

/// `!status unstalk` that stopped a stalk.
pub fn unstalked_reply(since: SystemTime) -> Reply {
    Reply::text(format!(
        "Stopped stalking in this channel (was stalking since {}).",
        utc(since)
    ))
}

/// `!status unstalk` in a channel with no stalk.
pub fn not_stalking_reply() -> Reply {
    let mut reply = Reply::new();
    reply.line(vec![
        text("Not stalking in this channel. Start with "),
        code("!status stalk"),
        text("."),
    ]);
    reply
}

/// The word for a state in "from X to Y": the level, or [`UNABLE`].
fn label(state: &SystemState) -> String {
    match state {
        SystemState::Known(report) => report.level.to_string(),
        SystemState::Unknown(_) => UNABLE.to_string(),
    }
}

fn state_spans(state: &SystemState) -> Vec<Span> {
    match state {
        SystemState::Known(report) if report.summary.is_empty() => {
            vec![strong(report.level.to_string())]
        }
        SystemState::Known(report) => vec![
            strong(report.level.to_string()),
            text(format!(": {}", report.summary)),
        ],
        SystemState::Unknown(e) => vec![strong(UNABLE), text(format!(": {e}"))],
    }
}

fn alerting_if_unknown(reply: Reply, state: &SystemState) -> Reply {
    match state {
        SystemState::Unknown(_) => reply.alerting(),
        SystemState::Known(_) => reply,
    }
}

pub use crate::utc::utc;

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::status::system_state::{Level, ProbeError, StatusReport};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn known(level: Level, summary: &str) -> SystemState {
        SystemState::Known(StatusReport {
            level,
            summary: summary.to_string(),
            firing: vec![],
        })
    }

    fn check(state: SystemState) -> StatusCheck {
        StatusCheck {
            state,
            checked_at: at(1_714_572_192),
        }
    }

    #[test]
    fn utc_prints_calendar_dates() {
        assert_eq!(utc(at(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(at(1_714_572_192)), "2024-05-01 14:03:12 UTC");
        assert_eq!(utc(at(951_782_400)), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(at(1_735_689_599)), "2024-12-31 23:59:59 UTC");
    }

    #[test]
    fn known_state_reads_level_and_summary() {
        let reply = status_reply(&check(known(Level::Degraded, "1 warning: DiskFull")));
        assert_eq!(
            reply.plain(),
            "DEGRADED: 1 warning: DiskFull\nchecked 2024-05-01 14:03:12 UTC"
        );
        assert!(!reply.alert);
    }

    #[test]
    fn every_probe_error_is_an_alert_with_its_reason() {
        for (e, reason) in [
            (ProbeError::Timeout, "did not answer in time"),
            (
                ProbeError::Transport("connection refused".into()),
                "connection refused",
            ),
            (ProbeError::Status(502), "HTTP 502"),
            (
                ProbeError::Malformed("expected value".into()),
                "expected value",
            ),
        ] {
            let reply = status_reply(&check(SystemState::Unknown(e)));
            assert!(reply.alert);
            assert!(reply.plain().starts_with("UNABLE TO CHECK STATUS: "));
            assert!(reply.plain().contains(reason), "{}", reply.plain());
        }
    }

    #[test]
    fn first_stalk_post_says_since_when_stalking() {
        let reply = change_reply(
            None,
            &check(known(Level::Normal, "no alerts firing")),
            at(0),
        );
        assert_eq!(
            reply.plain(),
            "System state: NORMAL: no alerts firing\n\
             stalking here since 1970-01-01 00:00:00 UTC, checked 2024-05-01 14:03:12 UTC"
        );
    }

    #[test]
    fn change_post_says_from_what_to_what_and_since_when() {
        let from = known(Level::Degraded, "1 warning: DiskFull");
        let to = check(known(Level::Critical, "1 critical: ApiDown"));
        let reply = change_reply(Some(&from), &to, at(0));
        assert_eq!(
            reply.plain(),
            "System state changed from DEGRADED to CRITICAL: 1 critical: ApiDown\n\
             DEGRADED since 1970-01-01 00:00:00 UTC, checked 2024-05-01 14:03:12 UTC"
        );
        let lost = change_reply(
            Some(&from),
            &check(SystemState::Unknown(ProbeError::Timeout)),
            at(0),
        );
        assert!(lost.alert);
        assert!(lost
            .plain()
            .starts_with("System state changed from DEGRADED to UNABLE TO CHECK STATUS: "));
    }
}
