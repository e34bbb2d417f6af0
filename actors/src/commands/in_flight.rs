//! Commands in flight, counted so that a shutdown (end of console input, SIGTERM) can wait for their replies.
//!
//! The count is tokio-util's [`TaskTracker`]: one token per guard. What a tracker cannot say is when one
//! *message* is done, as opposed to all of them: a message handed to successive gateways has a guard (a
//! sibling) per copy, and it is done only once every sibling is dropped. That note is ours: a oneshot sender
//! the siblings share, which closes with the last of them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;

/// A counter of commands between "received" and "answered". Cloning shares it.
#[derive(Debug, Clone)]
pub struct InFlight {
    tracker: TaskTracker,
}

impl Default for InFlight {
    fn default() -> Self {
        let tracker = TaskTracker::new();
        // Closed from the start: it only counts, and `wait` then means "until none is in flight".
        tracker.close();
        InFlight { tracker }
    }
}

impl InFlight {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one more until the guard is dropped.
    pub fn enter(&self) -> InFlightGuard {
        InFlightGuard {
            _counted: self.tracker.token(),
            done: None,
        }
    }

    /// As [`InFlight::enter`], and the receiver resolves (with an error: nothing is sent) when the guard is
    /// dropped: when this one message is answered, ignored or given up.
    pub fn enter_noted(&self) -> (InFlightGuard, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let mut guard = self.enter();
        guard.done = Some(Arc::new(tx));
        (guard, rx)
    }

    pub fn current(&self) -> usize {
        self.tracker.len()
    }

    /// Waits until nothing is in flight, at most `within`. Returns whether everything finished.
    pub async fn drained(&self, within: Duration) -> bool {
        tokio::time::timeout(within, self.tracker.wait())
            .await
            .is_ok()
    }
}

/// One command in flight; dropping it (answered, failed or given up) counts it out.
#[derive(Debug)]
pub struct InFlightGuard {
    _counted: TaskTrackerToken,
    /// Dropped with the last guard sharing it (see [`InFlightGuard::sibling`]): tells one waiter this
    /// message is done.
    done: Option<Arc<oneshot::Sender<()>>>,
}

impl InFlightGuard {
    /// One more guard for the same message: counted in flight on its own, and the message is done (for
    /// [`InFlight::enter_noted`]) only once every sibling is dropped. The gateway handle keeps one while a
    /// message waits to be taken and hands a sibling to each gateway it gives the message to, so a copy lost
    /// with a crashed gateway does not end the message.
    pub fn sibling(&self) -> InFlightGuard {
        InFlightGuard {
            _counted: self._counted.clone(),
            done: self.done.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drained_waits_for_guards() {
        let f = InFlight::new();
        let g = f.enter();
        assert_eq!(f.current(), 1);
        assert!(!f.drained(Duration::from_millis(10)).await);
        let f2 = f.clone();
        let waiter = tokio::spawn(async move { f2.drained(Duration::from_secs(5)).await });
        drop(g);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn a_noted_guard_says_when_it_is_dropped() {
        let f = InFlight::new();
        let (g, mut done) = f.enter_noted();
        assert!(done
            .try_recv()
            .is_err_and(|e| e == oneshot::error::TryRecvError::Empty));
        drop(g);
        assert!(done.await.is_err(), "resolved by the drop, nothing sent");
        assert_eq!(f.current(), 0);
    }

    #[tokio::test]
    async fn a_noted_message_is_done_only_when_every_sibling_is_dropped() {
        let f = InFlight::new();
        let (held, mut done) = f.enter_noted();
        let handed = held.sibling();
        assert_eq!(f.current(), 2);
        drop(held);
        assert!(done
            .try_recv()
            .is_err_and(|e| e == oneshot::error::TryRecvError::Empty));
        drop(handed);
        assert!(done.await.is_err(), "resolved by the last drop");
        assert_eq!(f.current(), 0);
    }
}
