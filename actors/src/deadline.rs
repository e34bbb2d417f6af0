//! A command's deadline, carried as a value from the chat message down to the PagerDuty call.
//!
//! A command gets its [`Deadline`] when the gateway takes it (now plus the configured deadline for its kind).
//! Every step below asks how much is left ([`Deadline::remaining`]) or waits on it
//! ([`Deadline::timeout`]); none divides the total by hand. A step that hands its answer back to another
//! keeps [`REPLY_MARGIN`] for that ([`Deadline::reserve`]): the command keeps it to render and post its reply,
//! the pager keeps it to audit and hand its outcome to the command. So no reply lands after the configured
//! deadline, whatever the outside world does.

use std::future::Future;
use std::time::Duration;

use tokio::time::error::Elapsed;
use tokio::time::Instant;

/// Time kept back from a deadline at each step that hands an answer back: to audit an outcome, render a
/// reply and post it.
pub const REPLY_MARGIN: Duration = Duration::from_millis(250);

/// The instant by which something must be done (tokio time, so paused-time tests drive it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Instant);

impl Deadline {
    /// `within` from now.
    pub fn after(within: Duration) -> Self {
        Deadline(Instant::now() + within)
    }

    /// At `instant`.
    pub fn at(instant: Instant) -> Self {
        Deadline(instant)
    }

    /// The instant itself.
    pub fn instant(self) -> Instant {
        self.0
    }

    /// How much time is left; zero once it has passed.
    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether it has passed.
    pub fn has_passed(self) -> bool {
        Instant::now() >= self.0
    }

    /// An earlier deadline that leaves `margin` before this one, for a step whose answer must still travel
    /// back. Never later than this one; it may already have passed.
    pub fn reserve(self, margin: Duration) -> Self {
        Deadline(self.0.checked_sub(margin).unwrap_or(self.0))
    }

    /// Whichever comes first: this deadline or `other`.
    pub fn until(self, other: Deadline) -> Self {
        self.min(other)
    }

    /// Runs `work` until this deadline ([`tokio::time::timeout_at`]).
    pub async fn timeout<F: Future>(self, work: F) -> Result<F::Output, Elapsed> {
        tokio::time::timeout_at(self.0, work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn remaining_counts_down_to_zero_and_stays_there() {
        let deadline = Deadline::after(Duration::from_secs(2));
        assert_eq!(deadline.remaining(), Duration::from_secs(2));
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(deadline.remaining(), Duration::from_millis(500));
        assert!(!deadline.has_passed());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(deadline.remaining(), Duration::ZERO);
        assert!(deadline.has_passed());
    }

    #[tokio::test(start_paused = true)]
    async fn reserve_ends_earlier_by_the_margin_and_may_already_have_passed() {
        let deadline = Deadline::after(Duration::from_secs(1));
        assert_eq!(
            deadline.reserve(REPLY_MARGIN).remaining(),
            Duration::from_secs(1) - REPLY_MARGIN
        );
        let short = Deadline::after(Duration::from_millis(100));
        assert!(short.reserve(REPLY_MARGIN).has_passed());
        assert!(short.reserve(REPLY_MARGIN) <= short);
    }

    #[tokio::test(start_paused = true)]
    async fn until_takes_the_earlier() {
        let near = Deadline::after(Duration::from_secs(1));
        let far = Deadline::after(Duration::from_secs(5));
        assert_eq!(far.until(near), near);
        assert_eq!(near.until(far), near);
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_cuts_work_off_at_the_deadline() {
        let deadline = Deadline::after(Duration::from_secs(3));
        let started = Instant::now();
        let cut = deadline.timeout(std::future::pending::<()>()).await;
        assert!(cut.is_err());
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        assert_eq!(
            Deadline::after(Duration::from_secs(3))
                .timeout(async { 7 })
                .await,
            Ok(7)
        );
    }
}
