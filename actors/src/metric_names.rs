//! The metrics icbot exports, in one place: every name, its kind and its labels.
//!
//! They are emitted through the `metrics` facade (a no-op until a recorder is installed); the crate `icbot`
//! installs a Prometheus recorder and serves it on the admin server's `GET /metrics`. Label values are few
//! and fixed (command names, outcome words, endpoint templates), never user input, so the series stay few.
//!
//! Every counter and histogram exists from start, at zero, for every label set in [`PRE_REGISTERED`] (see
//! [`register_at_zero`]): an alert on `increase(..[1h]) > 0` sees the first event after a restart. A metric
//! added here gets a row in that table too. Gauges are set when there is something to say: no placeholder
//! values (the snapshot age is absent until there is a snapshot).
//!
//! | name | kind | labels | emitted by |
//! | --- | --- | --- | --- |
//! | `icbot_commands_total` | counter | `command`, `outcome` (`ok`, `alert`, `invalid`) | gateway |
//! | `icbot_command_duration_seconds` | histogram | `command` | gateway |
//! | `icbot_pagerduty_requests_total` | counter | `endpoint`, `status_class` (`2xx`, `4xx`, `5xx`, `timeout`, `transport`) | PagerDuty client |
//! | `icbot_pagerduty_request_duration_seconds` | histogram | `endpoint` | PagerDuty client |
//! | `icbot_oncall_refreshes_total` | counter | `result` (`ok`, `partial`, `failed`) | schedule_cache |
//! | `icbot_oncall_failed_lookups` | gauge | none (contact lookups that failed in the last refresh) | schedule_cache |
//! | `icbot_oncall_snapshot_age_seconds` | gauge | none (absent while there is no snapshot) | admin server, at each scrape |
//! | `icbot_pages_attempted_total` | counter | none | pager |
//! | `icbot_pages_confirmed_total` | counter | none | pager |
//! | `icbot_pages_fallback_total` | counter | none (some people not confirmed: call by phone) | pager |
//! | `icbot_audit_unreadable_lines_total` | counter | none (lines of `pages.jsonl` skipped when read back) | page_audit |
//! | `icbot_page_audit_spooled` | gauge | none (page audit records waiting in the local spool for the coordination database) | admin server, at each scrape (`[state] backend = "postgres"` only) |
//! | `icbot_status_checks_total` | counter | `result` (`normal`, `degraded`, `critical`, `unknown`) | status |
//! | `icbot_stalks_active` | gauge | none | stalks |
//! | `icbot_actor_restarts_total` | counter | `actor` (registry name) | root, stalks |
//! | `icbot_chat_connected` | gauge | none (1 connected, 0 not) | admin server, at each scrape |
//! | `icbot_slack_posts_total` | counter | `result` (`ok`, `failed`) | Slack adapter |
//! | `icbot_slack_post_retries_total` | counter | `reason` (`ratelimited`, `error`) | Slack adapter |
//! | `icbot_chat_messages_dropped_total` | counter | `reason` (`crashed_gateway`, `gateway_unavailable`, `forwarder_stopped`) | gateway handle |
//! | `icbot_state_write_failures_total` | counter | `file` (state file name) | state store layer |
//! | `icbot_build_info` | gauge | `version` (always 1) | admin server, at start |
//! | `icbot_ha_role` | gauge | `role` (`leader`, `follower`, `unknown`: 1 for this replica's role, 0 for the others) | admin server, at each scrape (`[state] backend = "postgres"` only) |
//! | `icbot_ha_epoch` | gauge | none (the lease's epoch as last read; absent before the first read) | admin server, at each scrape |
//! | `icbot_ha_last_renewal_age_seconds` | gauge | none (since this replica last saw the lease renewed; absent before) | admin server, at each scrape |

use std::time::Duration;

use crate::status::system_state::{Level, SystemState};

pub const COMMANDS_TOTAL: &str = "icbot_commands_total";
pub const COMMAND_DURATION_SECONDS: &str = "icbot_command_duration_seconds";
pub const PAGERDUTY_REQUESTS_TOTAL: &str = "icbot_pagerduty_requests_total";
pub const ONCALL_REFRESHES_TOTAL: &str = "icbot_oncall_refreshes_total";
pub const ONCALL_SNAPSHOT_AGE_SECONDS: &str = "icbot_oncall_snapshot_age_seconds";
pub const PAGES_ATTEMPTED_TOTAL: &str = "icbot_pages_attempted_total";
pub const PAGES_CONFIRMED_TOTAL: &str = "icbot_pages_confirmed_total";
pub const PAGES_FALLBACK_TOTAL: &str = "icbot_pages_fallback_total";
pub const AUDIT_UNREADABLE_LINES_TOTAL: &str = "icbot_audit_unreadable_lines_total";
pub const PAGE_AUDIT_SPOOLED: &str = "icbot_page_audit_spooled";
pub const STATUS_CHECKS_TOTAL: &str = "icbot_status_checks_total";
pub const STALKS_ACTIVE: &str = "icbot_stalks_active";
pub const ACTOR_RESTARTS_TOTAL: &str = "icbot_actor_restarts_total";
pub const CHAT_CONNECTED: &str = "icbot_chat_connected";
pub const SLACK_POSTS_TOTAL: &str = "icbot_slack_posts_total";
pub const SLACK_POST_RETRIES_TOTAL: &str = "icbot_slack_post_retries_total";
pub const CHAT_MESSAGES_DROPPED_TOTAL: &str = "icbot_chat_messages_dropped_total";
pub const STATE_WRITE_FAILURES_TOTAL: &str = "icbot_state_write_failures_total";
pub const ONCALL_FAILED_LOOKUPS: &str = "icbot_oncall_failed_lookups";
pub const PAGERDUTY_REQUEST_DURATION_SECONDS: &str = "icbot_pagerduty_request_duration_seconds";
pub const BUILD_INFO: &str = "icbot_build_info";
pub const HA_ROLE: &str = "icbot_ha_role";
pub const HA_EPOCH: &str = "icbot_ha_epoch";
pub const HA_LAST_RENEWAL_AGE_SECONDS: &str = "icbot_ha_last_renewal_age_seconds";
/// The values of [`HA_ROLE`]'s `role` label.
pub const HA_ROLES: &[&str] = &["leader", "follower", "unknown"];

/// Histogram buckets of [`PAGERDUTY_REQUEST_DURATION_SECONDS`], in seconds: requests time out after 5 s by
/// default.
pub const PAGERDUTY_REQUEST_BUCKETS: [f64; 10] =
    [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The `command` label of [`COMMANDS_TOTAL`] and [`COMMAND_DURATION_SECONDS`]: every `Command::name()`, and
/// `invalid` for a command typed wrongly.
pub const COMMAND_LABELS: &[&str] = &[
    "ic",
    "ic_page",
    "responders",
    "page_responders",
    "who",
    "page_user",
    "help",
    "status",
    "stalk",
    "unstalk",
    "refresh",
    "crash",
    "incidents",
    "ack",
    "resolve",
    "note",
    "cover",
    "cover_cancel",
    "invalid",
];

/// The `endpoint` label of the PagerDuty metrics: the path templates the client calls.
pub const PAGERDUTY_ENDPOINTS: &[&str] = &[
    "GET /oncalls",
    "GET /users",
    "GET /users/{id}",
    "POST /incidents",
    "GET /incidents",
    "POST /incidents/{id}/responder_requests",
    "PUT /incidents/{id}",
    "POST /incidents/{id}/notes",
    "POST /schedules/{id}/overrides",
    "GET /schedules/{id}/overrides",
    "DELETE /schedules/{id}/overrides/{id}",
];

/// The root's children, by registry name, for [`ACTOR_RESTARTS_TOTAL`] (stalk actors come and go with their
/// channels: their series appear on their first restart).
pub const SUPERVISED_ACTORS: &[&str] = &[
    "gateway",
    "schedule_cache",
    "pager",
    "status",
    "stalks",
    "incidents",
];

/// The state files, for [`STATE_WRITE_FAILURES_TOTAL`].
pub const STATE_FILES: &[&str] = &["oncall.json", "stalks.json", "pages.jsonl"];

/// Counter or histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Histogram,
}

/// A metric and every value of each of its labels: one series per combination exists from start.
#[derive(Debug, Clone, Copy)]
pub struct Series {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [(&'static str, &'static [&'static str])],
}

const fn counter(
    name: &'static str,
    labels: &'static [(&'static str, &'static [&'static str])],
) -> Series {
    Series {
        name,
        kind: Kind::Counter,
        labels,
    }
}

/// Every counter and histogram, registered at zero when the recorder is installed.
pub const PRE_REGISTERED: &[Series] = &[
    counter(
        COMMANDS_TOTAL,
        &[
            ("command", COMMAND_LABELS),
            ("outcome", &["ok", "alert", "invalid"]),
        ],
    ),
    Series {
        name: COMMAND_DURATION_SECONDS,
        kind: Kind::Histogram,
        labels: &[("command", COMMAND_LABELS)],
    },
    counter(
        PAGERDUTY_REQUESTS_TOTAL,
        &[
            ("endpoint", PAGERDUTY_ENDPOINTS),
            (
                "status_class",
                &["2xx", "4xx", "5xx", "timeout", "transport"],
            ),
        ],
    ),
    Series {
        name: PAGERDUTY_REQUEST_DURATION_SECONDS,
        kind: Kind::Histogram,
        labels: &[("endpoint", PAGERDUTY_ENDPOINTS)],
    },
    counter(
        ONCALL_REFRESHES_TOTAL,
        &[("result", &["ok", "partial", "failed"])],
    ),
    counter(PAGES_ATTEMPTED_TOTAL, &[]),
    counter(PAGES_CONFIRMED_TOTAL, &[]),
    counter(PAGES_FALLBACK_TOTAL, &[]),
    counter(
        STATUS_CHECKS_TOTAL,
        &[("result", &["normal", "degraded", "critical", "unknown"])],
    ),
    counter(ACTOR_RESTARTS_TOTAL, &[("actor", SUPERVISED_ACTORS)]),
    counter(SLACK_POSTS_TOTAL, &[("result", &["ok", "failed"])]),
    counter(
        SLACK_POST_RETRIES_TOTAL,
        &[("reason", &["ratelimited", "error"])],
    ),
    counter(
        CHAT_MESSAGES_DROPPED_TOTAL,
        &[(
            "reason",
            &[
                "crashed_gateway",
                "gateway_unavailable",
                "forwarder_stopped",
            ],
        )],
    ),
    counter(STATE_WRITE_FAILURES_TOTAL, &[("file", STATE_FILES)]),
    counter(AUDIT_UNREADABLE_LINES_TOTAL, &[]),
];

impl Series {
    /// Every combination of its label values, in table order.
    pub fn label_sets(&self) -> Vec<Vec<(&'static str, &'static str)>> {
        let mut sets: Vec<Vec<(&'static str, &'static str)>> = vec![Vec::new()];
        for (label, values) in self.labels {
            sets = sets
                .into_iter()
                .flat_map(|set| {
                    values.iter().map(move |value| {
                        let mut set = set.clone();
                        set.push((*label, *value));
                        set
                    })
                })
                .collect();
        }
        sets
    }
}

/// Registers every series of [`PRE_REGISTERED`] at zero, and [`BUILD_INFO`] at 1 for `version`. Call once,
/// after installing the recorder.
pub fn register_at_zero(version: &'static str) {
    for series in PRE_REGISTERED {
        for set in series.label_sets() {
            let labels: Vec<metrics::Label> = set
                .iter()
                .map(|(k, v)| metrics::Label::new(*k, *v))
                .collect();
            match series.kind {
                Kind::Counter => metrics::counter!(series.name, labels).increment(0),
                // Registered, no sample: every bucket at zero.
                Kind::Histogram => drop(metrics::histogram!(series.name, labels)),
            }
        }
    }
    metrics::gauge!(BUILD_INFO, "version" => version).set(1.0);
}

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

/// One HTTP request to PagerDuty, by endpoint template: its status class and how long it took.
pub fn pagerduty_request(endpoint: &'static str, status_class: &'static str, took: Duration) {
    metrics::counter!(PAGERDUTY_REQUESTS_TOTAL, "endpoint" => endpoint, "status_class" => status_class)
        .increment(1);
    metrics::histogram!(PAGERDUTY_REQUEST_DURATION_SECONDS, "endpoint" => endpoint)
        .record(took.as_secs_f64());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::parse::Command;
    use crate::root::Child;
    use crate::supervision::names::ActorNames;

    #[test]
    fn label_sets_are_every_combination() {
        let sets = PRE_REGISTERED[0].label_sets();
        assert_eq!(sets.len(), COMMAND_LABELS.len() * 3);
        assert!(sets.contains(&vec![("command", "ic"), ("outcome", "alert")]));
        let none = PRE_REGISTERED
            .iter()
            .find(|s| s.name == PAGES_ATTEMPTED_TOTAL)
            .unwrap()
            .label_sets();
        assert_eq!(none, vec![Vec::<(&str, &str)>::new()]);
    }

    #[test]
    fn every_command_name_is_a_label() {
        for text in [
            "!ic",
            "!ic page",
            "!ic responders",
            "!ic page responders",
            "!ic who a@b.c",
            "!ic page @alice",
            "!ic help",
            "!status",
            "!status stalk",
            "!status unstalk",
            "!ic refresh",
            "!ic crash pager",
            "!ic incidents",
            "!ic ack",
            "!ic resolve 1 fixed",
            "!ic note 1 x",
        ] {
            let command = Command::parse(text).unwrap().unwrap();
            assert!(
                COMMAND_LABELS.contains(&command.name()),
                "{}",
                command.name()
            );
        }
    }

    #[test]
    fn every_root_child_is_an_actor_label() {
        let names = ActorNames::default();
        for child in Child::ALL {
            assert!(SUPERVISED_ACTORS.contains(&child.name(&names).as_str()));
        }
    }
}
