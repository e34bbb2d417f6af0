//! Failed state writes, counted and remembered, so a full or read-only state dir shows outside the logs.
//!
//! [`WatchedStore`] is a [`StateStore`] layer around the bot's store: every failed `save` or `append_line` is
//! counted as `icbot_state_write_failures_total{file}` and published in [`StoreHealth`] (the last failure:
//! file, error, when; and which files' latest write failed) on a `watch`, which the admin server reads for
//! `/actors`, `/readyz` and `icbot health`. A later successful write of the same file clears that file. The
//! layer is created once at wiring and shared by every actor that writes state, so it outlives their restarts.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::metric_names;
use crate::ports::StateStore;

/// What operators see of the state writes. `At` is how a failure's time is told: a `SystemTime` on the
/// watch; the admin server's `GET /actors` shows the same facts (as its `state` object) with its own `At`,
/// flattened into the failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreHealth<At = SystemTime> {
    /// Failed writes since the bot started, every file.
    pub write_failures: u64,
    /// Files whose latest write failed: what is on disk is behind what the bot holds in memory.
    pub failing_files: BTreeSet<String>,
    /// The most recent failed write.
    pub last_write_failure: Option<WriteFailure<At>>,
}

/// One failed write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFailure<At = SystemTime> {
    pub file: String,
    pub error: String,
    #[serde(flatten)]
    pub at: At,
}

impl<At> Default for StoreHealth<At> {
    fn default() -> Self {
        StoreHealth {
            write_failures: 0,
            failing_files: BTreeSet::new(),
            last_write_failure: None,
        }
    }
}

impl StoreHealth {
    /// The same facts, the failure's time told as `tell` says.
    pub fn told<At>(self, tell: impl FnOnce(SystemTime) -> At) -> StoreHealth<At> {
        StoreHealth {
            write_failures: self.write_failures,
            failing_files: self.failing_files,
            last_write_failure: self.last_write_failure.map(|f| WriteFailure {
                file: f.file,
                error: f.error,
                at: tell(f.at),
            }),
        }
    }
}

/// A [`StateStore`] that counts and publishes its failed writes; reads pass through untouched.
pub struct WatchedStore {
    inner: Arc<dyn StateStore>,
    health: watch::Sender<StoreHealth>,
}

impl WatchedStore {
    pub fn new(inner: Arc<dyn StateStore>) -> Self {
        WatchedStore {
            inner,
            health: watch::channel(StoreHealth::default()).0,
        }
    }

    /// The published health, for the admin server: reading it never waits on a write.
    pub fn health(&self) -> watch::Receiver<StoreHealth> {
        self.health.subscribe()
    }

    fn observe(&self, file: &str, result: std::io::Result<()>) -> std::io::Result<()> {
        match &result {
            Ok(()) => {
                self.health
                    .send_if_modified(|h| h.failing_files.remove(file));
            }
            Err(e) => {
                // The caller logs the failure with its context; this counts and remembers it.
                metric_names::state_write_failed(file);
                let failure = WriteFailure {
                    file: file.to_string(),
                    error: e.to_string(),
                    at: SystemTime::now(),
                };
                self.health.send_modify(|h| {
                    h.write_failures += 1;
                    h.failing_files.insert(file.to_string());
                    h.last_write_failure = Some(failure);
                });
            }
        }
        result
    }
}

impl StateStore for WatchedStore {
    fn load(&self, name: &str) -> std::io::Result<Option<Vec<u8>>> {
        self.inner.load(name)
    }

    fn save(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.observe(name, self.inner.save(name, bytes))
    }

    fn append_line(&self, name: &str, line: &str) -> std::io::Result<()> {
        self.observe(name, self.inner.append_line(name, line))
    }

    // Forwarded, not left to the trait's defaults: those read whole files.
    fn size(&self, name: &str) -> std::io::Result<Option<u64>> {
        self.inner.size(name)
    }

    fn load_tail(&self, name: &str, max: u64) -> std::io::Result<Option<Vec<u8>>> {
        self.inner.load_tail(name, max)
    }

    fn rotate(&self, name: &str) -> std::io::Result<()> {
        self.observe(name, self.inner.rotate(name))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::state_store::MemoryStateStore;

    /// Fails every write while `broken` is set, as a full or read-only disk would.
    #[derive(Default)]
    struct FlakyDisk {
        files: MemoryStateStore,
        broken: AtomicBool,
    }

    impl FlakyDisk {
        fn check(&self) -> std::io::Result<()> {
            if self.broken.load(Ordering::SeqCst) {
                return Err(std::io::Error::other("No space left on device"));
            }
            Ok(())
        }
    }

    impl StateStore for FlakyDisk {
        fn load(&self, name: &str) -> std::io::Result<Option<Vec<u8>>> {
            self.files.load(name)
        }
        fn save(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
            self.check()?;
            self.files.save(name, bytes)
        }
        fn append_line(&self, name: &str, line: &str) -> std::io::Result<()> {
            self.check()?;
            self.files.append_line(name, line)
        }
    }

    #[test]
    fn failed_writes_are_counted_remembered_and_cleared_by_the_next_good_write() {
        let disk = Arc::new(FlakyDisk::default());
        let store = WatchedStore::new(disk.clone());
        let health = store.health();
        store.save("oncall.json", b"{}").unwrap();
        assert_eq!(*health.borrow(), StoreHealth::default());

        disk.broken.store(true, Ordering::SeqCst);
        assert!(store.append_line("pages.jsonl", "{}").is_err());
        assert!(store.save("oncall.json", b"{}").is_err());
        let seen = health.borrow().clone();
        assert_eq!(seen.write_failures, 2);
        assert_eq!(
            seen.failing_files,
            BTreeSet::from(["oncall.json".to_string(), "pages.jsonl".to_string()])
        );
        let last = seen.last_write_failure.expect("the last failure is kept");
        assert_eq!(last.file, "oncall.json");
        assert!(last.error.contains("No space left"), "{last:?}");

        disk.broken.store(false, Ordering::SeqCst);
        store.save("oncall.json", b"{}").unwrap();
        let seen = health.borrow().clone();
        assert_eq!(
            seen.failing_files,
            BTreeSet::from(["pages.jsonl".to_string()]),
            "a good write clears its own file only"
        );
        assert_eq!(seen.write_failures, 2, "the count never goes down");
        assert_eq!(seen.last_write_failure.unwrap().file, "oncall.json");
        assert_eq!(
            store.load("oncall.json").unwrap().as_deref(),
            Some(&b"{}"[..])
        );
    }
}
