//! Restart backoff and the restart budget, for every supervisor (the root and `stalks`).
//!
//! Delays start at 100 ms and double up to 30 s. A child that stays up for a quiet minute after a restart is
//! healthy again: its delay and its failure streak start over. The budget counts consecutive failures without
//! such a healthy period: past [`RestartPolicy::budget`] (5) the child is *failing*. With the default delays
//! a child that fails each time it comes back is failing after 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s, about 3 s.
//! The supervisor keeps restarting a failing child with the backoff (the bot must keep trying); `failing`
//! clears once the child has stayed up for the quiet period.

use std::time::Duration;

use tokio::time::Instant;

/// The policy; [`RestartPolicy::default`] is the one the bot uses, for the root's children and stalk actors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// A child that has stayed up this long since its restart is healthy again: its streak and delay reset.
    pub quiet_reset: Duration,
    /// More than this many consecutive failures without a healthy period marks the child failing.
    pub budget: u32,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            quiet_reset: Duration::from_secs(60),
            budget: 5,
        }
    }
}

/// One child's restart history: how long to wait before the next restart, and whether it is over budget.
#[derive(Debug, Clone)]
pub struct RestartBackoff {
    policy: RestartPolicy,
    next_delay: Duration,
    /// When the running instance started; `None` while the child is down.
    up_since: Option<Instant>,
    /// Failures since the child was last healthy.
    streak: u32,
    total: u64,
}

/// What [`RestartBackoff::on_failure`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Wait this long before restarting.
    pub delay: Duration,
    /// This failure took the child over its budget (it was not over before): say so once, loudly.
    pub crossed_budget: bool,
}

impl RestartBackoff {
    pub fn new(policy: RestartPolicy) -> Self {
        RestartBackoff {
            policy,
            next_delay: policy.initial,
            up_since: None,
            streak: 0,
            total: 0,
        }
    }

    /// The child (re)started at `now`.
    pub fn on_started(&mut self, now: Instant) {
        self.up_since = Some(now);
    }

    /// Records a failure at `now` (the child died, or a restart failed) and returns how long to wait.
    pub fn on_failure(&mut self, now: Instant) -> Verdict {
        if self.healthy(now) {
            self.streak = 0;
            self.next_delay = self.policy.initial;
        }
        let was_over = self.over_budget(now);
        self.up_since = None;
        self.streak = self.streak.saturating_add(1);
        self.total += 1;
        let delay = self.next_delay;
        self.next_delay = (self.next_delay * 2).min(self.policy.max);
        Verdict {
            delay,
            crossed_budget: !was_over && self.over_budget(now),
        }
    }

    /// Failures ever recorded.
    pub fn restarts(&self) -> u64 {
        self.total
    }

    /// Consecutive failures without a healthy period.
    pub fn streak(&self) -> u32 {
        self.streak
    }

    /// Up for the quiet period since the last (re)start.
    fn healthy(&self, now: Instant) -> bool {
        self.up_since
            .is_some_and(|t| now.saturating_duration_since(t) >= self.policy.quiet_reset)
    }

    /// More consecutive failures than the budget allows, and not healthy since.
    pub fn over_budget(&self, now: Instant) -> bool {
        self.streak > self.policy.budget && !self.healthy(now)
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
        let delays: Vec<_> = (0..12).map(|i| b.on_failure(t + ms(i)).delay).collect();
        assert_eq!(&delays[..4], &[ms(100), ms(200), ms(400), ms(800)]);
        assert_eq!(delays[9], ms(51_200).min(Duration::from_secs(30)));
        assert_eq!(delays[11], Duration::from_secs(30));
        assert_eq!(b.restarts(), 12);
    }

    #[test]
    fn a_quiet_minute_up_resets_the_delay_and_the_streak() {
        let mut b = RestartBackoff::new(RestartPolicy::default());
        let t = Instant::now();
        b.on_failure(t);
        b.on_failure(t + ms(10));
        assert_eq!(b.on_failure(t + ms(20)).delay, ms(400));
        assert_eq!(b.streak(), 3);
        b.on_started(t + ms(500));
        let after = t + ms(500) + Duration::from_secs(61);
        assert_eq!(b.on_failure(after).delay, ms(100));
        assert_eq!(b.streak(), 1);
    }

    #[test]
    fn down_for_a_minute_is_not_a_healthy_minute() {
        let mut b = RestartBackoff::new(RestartPolicy::default());
        let t = Instant::now();
        for i in 0..3 {
            b.on_failure(t + ms(i));
        }
        // The restart itself failed a minute later: the child was never up, so the streak goes on.
        assert_eq!(b.on_failure(t + Duration::from_secs(90)).delay, ms(800));
        assert_eq!(b.streak(), 4);
    }

    /// A child failing each time it comes back, with the default policy: the budget trips at the sixth
    /// failure, after the delays 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s, reported once.
    #[test]
    fn the_default_budget_trips_after_about_three_seconds_of_a_crash_loop() {
        let mut b = RestartBackoff::new(RestartPolicy::default());
        let mut now = Instant::now();
        let start = now;
        let mut crossed = vec![];
        for _ in 0..8 {
            let verdict = b.on_failure(now);
            crossed.push(verdict.crossed_budget);
            now += verdict.delay;
            b.on_started(now);
        }
        assert_eq!(
            crossed,
            vec![false, false, false, false, false, true, false, false]
        );
        assert!(b.over_budget(now));
        // The sixth failure came 3.1 s after the first.
        let mut b = RestartBackoff::new(RestartPolicy::default());
        let mut t = start;
        for _ in 0..5 {
            t += b.on_failure(t).delay;
        }
        assert_eq!(t - start, ms(3100));
        assert!(!b.over_budget(t));
        assert!(b.on_failure(t).crossed_budget);
    }

    #[test]
    fn failing_clears_after_a_healthy_period_and_the_next_failure_starts_over() {
        let mut b = RestartBackoff::new(RestartPolicy::default());
        let t = Instant::now();
        for i in 0..6 {
            b.on_failure(t + ms(i));
        }
        assert!(b.over_budget(t + ms(10)));
        b.on_started(t + ms(100));
        assert!(b.over_budget(t + Duration::from_secs(59)));
        assert!(!b.over_budget(t + ms(100) + Duration::from_secs(60)));
        let later = t + Duration::from_secs(120);
        let verdict = b.on_failure(later);
        assert_eq!(verdict.delay, ms(100));
        assert!(!verdict.crossed_budget && !b.over_budget(later));
    }
}
