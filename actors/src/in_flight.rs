//! Commands in flight, counted so that a shutdown (end of console input, SIGTERM) can wait for their replies.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

/// A counter of commands between "received" and "answered". Cloning shares it.
#[derive(Debug, Clone)]
pub struct InFlight {
    count: Arc<watch::Sender<usize>>,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight {
            count: Arc::new(watch::channel(0).0),
        }
    }
}

impl InFlight {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one more until the guard is dropped.
    pub fn enter(&self) -> InFlightGuard {
        self.count.send_modify(|n| *n += 1);
        InFlightGuard {
            count: self.count.clone(),
            done: None,
        }
    }

    /// As [`InFlight::enter`], and the receiver resolves (with an error: nothing is sent) when the guard is
    /// dropped: when this one message is answered, ignored or given up.
    pub fn enter_noted(&self) -> (InFlightGuard, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let mut guard = self.enter();
        guard.done = Some(tx);
        (guard, rx)
    }

    pub fn current(&self) -> usize {
        *self.count.borrow()
    }

    /// Waits until nothing is in flight, at most `within`. Returns whether everything finished.
    pub async fn drained(&self, within: Duration) -> bool {
        let mut rx = self.count.subscribe();
        let finished = tokio::time::timeout(within, rx.wait_for(|n| *n == 0))
            .await
            .is_ok();
        finished
    }
}

/// One command in flight; dropping it (answered, failed or given up) counts it out.
#[derive(Debug)]
pub struct InFlightGuard {
    count: Arc<watch::Sender<usize>>,
    /// Dropped with the guard: tells one waiter this message is done.
    done: Option<oneshot::Sender<()>>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.count.send_modify(|n| *n = n.saturating_sub(1));
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
}
