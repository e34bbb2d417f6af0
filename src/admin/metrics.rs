//! The Prometheus recorder behind `GET /metrics`: installed once per process as the `metrics` facade's
//! global recorder, rendered on each scrape. No listener of its own: the admin server serves it.
//!
//! Every metric name is documented in [`icbot_actors::metric_names`].

use std::sync::OnceLock;

use icbot_actors::metric_names;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::facts::AdminSources;

/// The process's recorder handle: installed on first use; `None` when another recorder was installed first
/// (then `/metrics` says so).
pub fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(metric_names::COMMAND_DURATION_SECONDS.to_string()),
                    &metric_names::COMMAND_DURATION_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(metric_names::PAGERDUTY_REQUEST_DURATION_SECONDS.to_string()),
                        &metric_names::PAGERDUTY_REQUEST_BUCKETS,
                    )
                });
            let installed = built.map_err(|e| e.to_string()).and_then(|b| {
                b.install_recorder().map_err(|e| e.to_string())
            });
            match installed {
                Ok(handle) => {
                    describe();
                    metric_names::register_at_zero(env!("CARGO_PKG_VERSION"));
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot install the Prometheus recorder; /metrics is empty");
                    None
                }
            }
        })
        .clone()
}

/// The text exposition, with the gauges read at scrape time (snapshot age, chat connected) set first.
pub fn render(sources: &AdminSources) -> Option<String> {
    let handle = sources.metrics.as_ref()?;
    // No snapshot yet: the gauge stays absent (alert with `absent(...)`), never a placeholder value.
    if let Some(age) = sources.snapshot_age() {
        metrics::gauge!(metric_names::ONCALL_SNAPSHOT_AGE_SECONDS).set(age.as_secs_f64());
    }
    let connected = if *sources.chat_connected.borrow() {
        1.0
    } else {
        0.0
    };
    metrics::gauge!(metric_names::CHAT_CONNECTED).set(connected);
    if let Some(replica) = &sources.ha {
        let ha = replica.facts();
        for role in metric_names::HA_ROLES {
            let on = if *role == ha.role { 1.0 } else { 0.0 };
            metrics::gauge!(metric_names::HA_ROLE, "role" => *role).set(on);
        }
        if let Some(epoch) = ha.epoch {
            metrics::gauge!(metric_names::HA_EPOCH).set(epoch as f64);
        }
        if let Some(age) = ha.last_renewal_age_secs {
            metrics::gauge!(metric_names::HA_LAST_RENEWAL_AGE_SECONDS).set(age);
        }
    }
    if let Some(spooled) = &sources.page_audit_spooled {
        metrics::gauge!(metric_names::PAGE_AUDIT_SPOOLED).set(*spooled.borrow() as f64);
    }
    handle.run_upkeep();
    Some(handle.render())
}

fn describe() {
    use metric_names::*;
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        COMMANDS_TOTAL,
        "Chat commands answered, by command and outcome (ok, alert, invalid)."
    );
    describe_histogram!(
        COMMAND_DURATION_SECONDS,
        Unit::Seconds,
        "Time from a chat command to its answer."
    );
    describe_counter!(
        PAGERDUTY_REQUESTS_TOTAL,
        "HTTP requests to PagerDuty, by endpoint template and status class."
    );
    describe_counter!(
        ONCALL_REFRESHES_TOTAL,
        "On-call refreshes from PagerDuty, by result (ok, failed)."
    );
    describe_gauge!(
        ONCALL_SNAPSHOT_AGE_SECONDS,
        Unit::Seconds,
        "Age of the on-call snapshot served; absent while there is none."
    );
    describe_counter!(PAGES_ATTEMPTED_TOTAL, "Pages sent to PagerDuty.");
    describe_counter!(
        PAGES_CONFIRMED_TOTAL,
        "Pages PagerDuty confirmed for everyone."
    );
    describe_counter!(
        PAGES_FALLBACK_TOTAL,
        "Pages where someone was not confirmed: the room was told to phone them."
    );
    describe_counter!(
        AUDIT_UNREADABLE_LINES_TOTAL,
        "Lines of the page audit log (pages.jsonl) skipped as unreadable when read back."
    );
    describe_counter!(
        STATUS_CHECKS_TOTAL,
        "Monitoring checks, by result (normal, degraded, critical, unknown)."
    );
    describe_gauge!(STALKS_ACTIVE, "Channels stalking the system state.");
    describe_counter!(
        ACTOR_RESTARTS_TOTAL,
        "Actor failures handled by a supervisor (each followed by a restart)."
    );
    describe_gauge!(CHAT_CONNECTED, "1 while the chat adapter is connected.");
    describe_gauge!(
        HA_ROLE,
        "1 for this replica's role in the leader lease (leader, follower, unknown), 0 for the others."
    );
    describe_gauge!(
        HA_EPOCH,
        "The leader lease's epoch, as this replica last read it."
    );
    describe_gauge!(
        HA_LAST_RENEWAL_AGE_SECONDS,
        Unit::Seconds,
        "Time since this replica last saw the leader lease renewed (its own renewal when it leads)."
    );
    describe_gauge!(
        PAGE_AUDIT_SPOOLED,
        "Page audit records waiting in this replica's local spool for the coordination database."
    );
    describe_counter!(SLACK_POSTS_TOTAL, "Slack posts, by result (ok, failed).");
    describe_counter!(
        SLACK_POST_RETRIES_TOTAL,
        "Slack post retries, by reason (ratelimited, error)."
    );
    describe_histogram!(
        PAGERDUTY_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time of each HTTP request to PagerDuty, by endpoint template (failed ones included)."
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label says which icbot runs."
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use icbot_actors::pager::audit::{AuditLog, AUDIT_FILE, DEFAULT_MAX_BYTES};
    use icbot_actors::ports::StateStore;
    use icbot_actors::state_store::MemoryStateStore;
    use metrics_exporter_prometheus::PrometheusBuilder;

    #[test]
    fn unreadable_audit_lines_are_counted_where_prometheus_sees_them() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let store = Arc::new(MemoryStateStore::new());
        // A line that was never JSON, then one torn by a crash mid-append.
        store
            .save(
                AUDIT_FILE,
                b"not a record\n{\"event\":\"started\",\"at\":\"2026-",
            )
            .unwrap();
        let log = AuditLog::new(store, DEFAULT_MAX_BYTES);
        let records = metrics::with_local_recorder(&recorder, || {
            log.recent(SystemTime::now() - Duration::from_secs(600))
        });
        assert!(records.is_empty());
        let text = handle.render();
        assert!(
            text.contains("icbot_audit_unreadable_lines_total 2"),
            "{text}"
        );
    }
}
