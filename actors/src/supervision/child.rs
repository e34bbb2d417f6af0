//! One supervised child's record, shared by every supervisor in the tree (the root and the stalks actor): its
//! failures (the last one and a short history), its restart backoff and budget ([`RestartBackoff`]), the one
//! error line when it goes over budget, and the restart metric.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use crate::metric_names;
use crate::supervision::backoff::{RestartBackoff, RestartPolicy};

/// How many failures each child's history keeps.
pub const FAILURE_HISTORY: usize = 5;

/// One failure of a child: why, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub reason: String,
    pub at: SystemTime,
}

/// One child's restarts: its backoff and budget, and why it failed.
#[derive(Debug, Clone)]
pub struct Restarts {
    backoff: RestartBackoff,
    /// The last [`FAILURE_HISTORY`] failures, newest first.
    failures: VecDeque<Failure>,
}

impl Restarts {
    pub fn new(policy: RestartPolicy) -> Self {
        Restarts {
            backoff: RestartBackoff::new(policy),
            failures: VecDeque::new(),
        }
    }

    /// The child (re)started at `now`.
    pub fn started(&mut self, now: Instant) {
        self.backoff.on_started(now);
    }

    /// Remembers why the child went down (newest first, [`FAILURE_HISTORY`] kept).
    pub fn record(&mut self, reason: String) {
        self.failures.push_front(Failure {
            reason,
            at: SystemTime::now(),
        });
        self.failures.truncate(FAILURE_HISTORY);
    }

    /// The child registered as `name` is down (it failed, or a restart failed) at `now`: counts the restart,
    /// says once at error level when this takes it over budget, and returns how long to wait before the next
    /// restart.
    pub fn down(&mut self, name: &str, now: Instant) -> Duration {
        let verdict = self.backoff.on_failure(now);
        metric_names::actor_restarted(name);
        if verdict.crossed_budget {
            tracing::error!(
                actor = %name,
                consecutive_failures = self.backoff.streak(),
                "over restart budget: failing; restarts go on with backoff"
            );
        }
        verdict.delay
    }

    /// Times the child went down and was (or will be) restarted.
    pub fn count(&self) -> u64 {
        self.backoff.restarts()
    }

    /// Consecutive failures without a quiet period up.
    pub fn streak(&self) -> u32 {
        self.backoff.streak()
    }

    /// Over its restart budget at `now`: more consecutive failures than the policy allows, and not up for the
    /// quiet period since.
    pub fn failing(&self, now: Instant) -> bool {
        self.backoff.over_budget(now)
    }

    pub fn last_failure(&self) -> Option<&Failure> {
        self.failures.front()
    }

    /// Newest first.
    pub fn failures(&self) -> impl Iterator<Item = &Failure> {
        self.failures.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down_times(r: &mut Restarts, n: u32) -> Vec<Duration> {
        (0..n)
            .map(|i| {
                r.record(format!("crash {i}"));
                let delay = r.down("t/child", Instant::now());
                r.started(Instant::now());
                delay
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn failing_past_the_budget_of_consecutive_failures_then_healthy_after_a_quiet_minute() {
        let policy = RestartPolicy::default();
        let mut r = Restarts::new(policy);
        r.started(Instant::now());
        down_times(&mut r, 5);
        assert!(
            !r.failing(Instant::now()),
            "5 failures are within the budget"
        );
        down_times(&mut r, 1);
        assert!(r.failing(Instant::now()), "the sixth takes it over");
        assert_eq!((r.count(), r.streak()), (6, 6));
        tokio::time::advance(policy.quiet_reset).await;
        assert!(
            !r.failing(Instant::now()),
            "up a quiet minute: healthy again"
        );
        assert_eq!(r.count(), 6, "the count is a history, not a streak");
    }

    #[tokio::test(start_paused = true)]
    async fn delays_double_and_start_over_after_a_quiet_period() {
        let policy = RestartPolicy::default();
        let mut r = Restarts::new(policy);
        r.started(Instant::now());
        let delays = down_times(&mut r, 3);
        assert_eq!(delays, [100, 200, 400].map(Duration::from_millis).to_vec());
        tokio::time::advance(policy.quiet_reset).await;
        assert_eq!(down_times(&mut r, 1), [policy.initial]);
        assert_eq!(r.streak(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_the_newest_failures_first() {
        let mut r = Restarts::new(RestartPolicy::default());
        assert!(r.last_failure().is_none());
        down_times(&mut r, FAILURE_HISTORY as u32 + 2);
        let reasons: Vec<&str> = r.failures().map(|f| f.reason.as_str()).collect();
        assert_eq!(
            reasons,
            ["crash 6", "crash 5", "crash 4", "crash 3", "crash 2"]
        );
        assert_eq!(r.last_failure().map(|f| f.reason.as_str()), Some("crash 6"));
    }
}
