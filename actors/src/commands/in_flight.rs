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
        guard.done = Some(Arc::new(tx));
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
        self.count.send_modify(|n| *n += 1);
        InFlightGuard {
            count: self.count.clone(),
            done: self.done.clone(),
        }
    }
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
