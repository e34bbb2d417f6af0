//! In-memory fakes of the ports for the actors' unit tests: a settable probe that counts its calls, and a chat
//! that records posts and lets a test await them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::chat::ChatTarget;
use crate::ports::{ChatError, ChatOut, StatusProbe};
use crate::reply::Reply;
use crate::system_state::{Level, ProbeError, StatusReport};

/// A report at `level` with a summary naming it.
pub fn report(level: Level) -> Result<StatusReport, ProbeError> {
    Ok(StatusReport {
        level,
        summary: format!("fake {level}"),
        firing: vec![],
    })
}

pub fn healthy() -> Result<StatusReport, ProbeError> {
    report(Level::Normal)
}

/// A probe returning whatever the test set, after an optional delay (tokio time), counting calls.
pub struct FakeProbe {
    result: Mutex<Result<StatusReport, ProbeError>>,
    delay: Mutex<Option<Duration>>,
    calls: AtomicUsize,
}

impl FakeProbe {
    pub fn new(result: Result<StatusReport, ProbeError>) -> Arc<Self> {
        Arc::new(FakeProbe {
            result: Mutex::new(result),
            delay: Mutex::new(None),
            calls: AtomicUsize::new(0),
        })
    }

    pub fn set(&self, result: Result<StatusReport, ProbeError>) {
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = result;
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap_or_else(|p| p.into_inner()) = Some(delay);
    }

    /// Never answers (a day, in tokio time).
    pub fn hang(&self) {
        self.set_delay(Duration::from_secs(86_400));
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl StatusProbe for FakeProbe {
    async fn check(&self) -> Result<StatusReport, ProbeError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        self.result
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A chat that records every post. `panic_next` makes the next post panic, as a buggy adapter would.
#[derive(Default)]
pub struct RecordingChat {
    posts: Mutex<Vec<(ChatTarget, Reply)>>,
    posted: Notify,
    panic_next: AtomicBool,
}

impl RecordingChat {
    pub fn new() -> Arc<Self> {
        Arc::new(RecordingChat::default())
    }

    /// The plain text of every post to `channel`, oldest first.
    pub fn posts_to(&self, channel: &str) -> Vec<String> {
        self.posts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(to, _)| to.channel == channel)
            .map(|(_, reply)| reply.plain())
            .collect()
    }

    pub fn total(&self) -> usize {
        self.posts.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn panic_next(&self) {
        self.panic_next.store(true, Ordering::SeqCst);
    }

    /// Waits (in tokio time, at most an hour) until `channel` has at least `n` posts, and returns them.
    pub async fn wait_for(&self, channel: &str, n: usize) -> Vec<String> {
        let wait = async {
            loop {
                let posted = self.posted.notified();
                let posts = self.posts_to(channel);
                if posts.len() >= n {
                    return posts;
                }
                posted.await;
            }
        };
        match tokio::time::timeout(Duration::from_secs(3600), wait).await {
            Ok(posts) => posts,
            Err(_) => panic!(
                "expected {n} posts to {channel}, got {:?}",
                self.posts_to(channel)
            ),
        }
    }

    /// Waits until `n` posts were made in total.
    pub async fn wait_for_total(&self, n: usize) {
        let wait = async {
            loop {
                let posted = self.posted.notified();
                if self.total() >= n {
                    return;
                }
                posted.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(3600), wait)
            .await
            .is_err()
        {
            panic!("expected {n} posts in total, got {}", self.total());
        }
    }
}

#[async_trait]
impl ChatOut for RecordingChat {
    async fn post(&self, to: &ChatTarget, reply: &Reply) -> Result<(), ChatError> {
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("fake chat adapter bug");
        }
        self.posts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((to.clone(), reply.clone()));
        self.posted.notify_waiters();
        Ok(())
    }
}
