//! The metrics icbot exports, in one place: every name, its kind and its labels.
//!
//! They are emitted through the `metrics` facade (a no-op until a recorder is installed); the crate `icbot`
//! installs a Prometheus recorder and serves it on the admin server's `GET /metrics`. Label values are few
//! and fixed (command names, outcome words, endpoint templates), never user input, so the series stay few.
//!
//! | name | kind | labels | emitted by |
//! | --- | --- | --- | --- |
//! | `icbot_commands_total` | counter | `command`, `outcome` (`ok`, `alert`, `invalid`) | gateway |
//! | `icbot_command_duration_seconds` | histogram | `command` | gateway |
//! | `icbot_pagerduty_requests_total` | counter | `endpoint`, `status_class` (`2xx`, `4xx`, `5xx`, `timeout`, `transport`) | PagerDuty client |
//! | `icbot_oncall_refreshes_total` | counter | `result` (`ok`, `partial`, `failed`) | schedule_cache |
//! | `icbot_oncall_failed_lookups` | gauge | none (contact lookups that failed in the last refresh) | schedule_cache |
//! | `icbot_oncall_snapshot_age_seconds` | gauge | none (-1 while there is no snapshot) | admin server, at each scrape |
//! | `icbot_pages_attempted_total` | counter | none | pager |
//! | `icbot_pages_confirmed_total` | counter | none | pager |
//! | `icbot_pages_fallback_total` | counter | none (some people not confirmed: call by phone) | pager |
//! | `icbot_audit_unreadable_lines_total` | counter | none (lines of `pages.jsonl` skipped when read back) | page_audit |
//! | `icbot_status_checks_total` | counter | `result` (`normal`, `degraded`, `critical`, `unknown`) | status |
//! | `icbot_stalks_active` | gauge | none | stalks |
//! | `icbot_actor_restarts_total` | counter | `actor` (registry name) | root, stalks |
//! | `icbot_chat_connected` | gauge | none (1 connected, 0 not) | admin server, at each scrape |
//! | `icbot_slack_posts_total` | counter | `result` (`ok`, `failed`) | Slack adapter |
//! | `icbot_slack_post_retries_total` | counter | `reason` (`ratelimited`, `error`) | Slack adapter |
//! | `icbot_chat_messages_dropped_total` | counter | `reason` (`crashed_gateway`, `gateway_unavailable`, `forwarder_stopped`) | gateway handle |
//! | `icbot_state_write_failures_total` | counter | `file` (state file name) | state store layer |

use std::time::Duration;

use crate::system_state::{Level, SystemState};

pub const COMMANDS_TOTAL: &str = "icbot_commands_total";
pub const COMMAND_DURATION_SECONDS: &str = "icbot_command_duration_seconds";
pub const PAGERDUTY_REQUESTS_TOTAL: &str = "icbot_pagerduty_requests_total";
pub const ONCALL_REFRESHES_TOTAL: &str = "icbot_oncall_refreshes_total";
pub const ONCALL_SNAPSHOT_AGE_SECONDS: &str = "icbot_oncall_snapshot_age_seconds";
pub const PAGES_ATTEMPTED_TOTAL: &str = "icbot_pages_attempted_total";
pub const PAGES_CONFIRMED_TOTAL: &str = "icbot_pages_confirmed_total";
pub const PAGES_FALLBACK_TOTAL: &str = "icbot_pages_fallback_total";
pub const AUDIT_UNREADABLE_LINES_TOTAL: &str = "icbot_audit_unreadable_lines_total";
pub const STATUS_CHECKS_TOTAL: &str = "icbot_status_checks_total";
pub const STALKS_ACTIVE: &str = "icbot_stalks_active";
pub const ACTOR_RESTARTS_TOTAL: &str = "icbot_actor_restarts_total";
pub const CHAT_CONNECTED: &str = "icbot_chat_connected";
pub const SLACK_POSTS_TOTAL: &str = "icbot_slack_posts_total";
pub const SLACK_POST_RETRIES_TOTAL: &str = "icbot_slack_post_retries_total";
pub const CHAT_MESSAGES_DROPPED_TOTAL: &str = "icbot_chat_messages_dropped_total";
pub const STATE_WRITE_FAILURES_TOTAL: &str = "icbot_state_write_failures_total";
pub const ONCALL_FAILED_LOOKUPS: &str = "icbot_oncall_failed_lookups";

/// Histogram buckets of [`COMMAND_DURATION_SECONDS`], in seconds: commands answer within their deadlines
/// (5 s lookups, 10 s pages by default).
pub const COMMAND_DURATION_BUCKETS: [f64; 10] =
    [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// One command answered: `outcome` is `ok`, `alert` (answered with a warning: PagerDuty down, deadline
/// passed...) or `invalid` (the user got a usage hint).
pub fn command_answered(command: &'static str, outcome: &'static str, took: Duration) {
    metrics::counter!(COMMANDS_TOTAL, "command" => command, "outcome" => outcome).increment(1);
    metrics::histogram!(COMMAND_DURATION_SECONDS, "command" => command).record(took.as_secs_f64());
}

/// A supervisor restarted (or is about to restart) the actor registered as `actor`.
pub fn actor_restarted(actor: &str) {
    metrics::counter!(ACTOR_RESTARTS_TOTAL, "actor" => actor.to_string()).increment(1);
}

/// `n` chat messages dropped without an answer from a command: `reason` is `crashed_gateway` (it crashed
/// the gateway each time it was handed over), `gateway_unavailable` (no gateway for too long) or
/// `forwarder_stopped` (the bot is stopping).
pub fn chat_messages_dropped(reason: &'static str, n: u64) {
    metrics::counter!(CHAT_MESSAGES_DROPPED_TOTAL, "reason" => reason).increment(n);
}

/// A write of the state file `file` failed.
pub fn state_write_failed(file: &str) {
    metrics::counter!(STATE_WRITE_FAILURES_TOTAL, "file" => file.to_string()).increment(1);
}

/// The label of a check result for [`STATUS_CHECKS_TOTAL`].
pub fn check_result(state: &SystemState) -> &'static str {
    match state {
        SystemState::Known(r) => match r.level {
            Level::Normal => "normal",
            Level::Degraded => "degraded",
            Level::Critical => "critical",
        },
        SystemState::Unknown(_) => "unknown",
    }
}
