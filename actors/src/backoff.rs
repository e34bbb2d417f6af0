//! Restart backoff for supervisors: 100 ms doubling up to 30 s, back to 100 ms after a quiet minute, and a
//! restart budget (more than 10 restarts in a minute marks the child as failing while the backoff goes on).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The policy; [`RestartPolicy::default`] is the one the bot uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// A child that has not failed for this long starts again from `initial`.
    pub quiet_reset: Duration,
    /// More than `budget` restarts within `budget_window` marks the child failing.
    pub budget: usize,
    pub budget_window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            quiet_reset: Duration::from_secs(60),
            budget: 10,
            budget_window: Duration::from_secs(60),
        }
    }
}

/// One child's restart history: how long to wait before the next restart, and whether it is over budget.
#[derive(Debug, Clone)]
pub struct RestartBackoff {
    policy: RestartPolicy,
    next_delay: Duration,
    last_failure: Option<Instant>,
    recent: VecDeque<Instant>,
    total: u64,
}

impl RestartBackoff {
    pub fn new(policy: RestartPolicy) -> Self {
        RestartBackoff {
            policy,
            next_delay: policy.initial,
            last_failure: None,
            recent: VecDeque::new(),
            total: 0,
        }
    }

    /// Records a failure at `now` and returns how long to wait before restarting.
    pub fn on_failure(&mut self, now: Instant) -> Duration {
        if let Some(last) = self.last_failure {
            if now.saturating_duration_since(last) >= self.policy.quiet_reset {
                self.next_delay = self.policy.initial;
            }
        }
        self.last_failure = Some(now);
        self.total += 1;
        self.recent.push_back(now);
        while let Some(first) = self.recent.front() {
            if now.saturating_duration_since(*first) > self.policy.budget_window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        let delay = self.next_delay;
        self.next_delay = (self.next_delay * 2).min(self.policy.max);
        delay
    }

    /// Failures ever recorded.
    pub fn restarts(&self) -> u64 {
        self.total
    }

    /// More restarts in the budget window than the budget allows.
    pub fn over_budget(&self, now: Instant) -> bool {
        self.recent
            .iter()
            .filter(|t| now.saturating_duration_since(**t) <= self.policy.budget_window)
            .count()
            > self.policy.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_double_from_100ms_and_cap_at_30s() {
        let mut b = RestartBackoff::new(RestartPolicy::default());
        let t = Instant::now();
        let delays: Vec<_> = (0..12).map(|i| b.on_failure(t + ms(i))).collect();
        assert_eq!(&delays[..4], &[ms(100), ms(200), ms(400), ms(800)]);
        assert_eq!(delays[9], ms(51_200).min(Duration::from_secs(30)));
        assert_eq!(delays[11], Duration::from_secs(30));
        assert_eq!(b.restarts(), 12);
    }

    #[test]
    fn a_quiet_minute_resets_the_delay() {
        let mut b = RestartBackoff::new(RestartPolicy::default());
        let t = Instant::now();
        b.on_failure(t);
        b.on_failure(t + ms(10));
        assert_eq!(b.on_failure(t + ms(20)), ms(400));
        assert_eq!(b.on_failure(t + ms(20) + Duration::from_secs(61)), ms(100));
    }

    #[test]
    fn more_than_ten_restarts_in_a_minute_is_over_budget() {
        let mut b = RestartBackoff::new(RestartPolicy::default());
        let t = Instant::now();
        for i in 0..10 {
            b.on_failure(t + ms(i));
        }
        assert!(!b.over_budget(t + ms(20)));
        b.on_failure(t + ms(30));
        assert!(b.over_budget(t + ms(40)));
        assert!(!b.over_budget(t + Duration::from_secs(120)));
    }
}
