//! The page audit every replica shares (`[state] backend = "postgres"`): each record the [`AuditLog`] appends
//! to this replica's `pages.jsonl` is also handed, without waiting, to a background writer that sends it
//! through the [`Coordination`] port (`icbot_page_audit`). A page never waits on the database: the hand-over
//! is a `try_send` into a bounded channel, and the local `pages.jsonl` stays the record that restarts read.
//!
//! While the database cannot be reached, the writer appends the records to a local spool
//! (`pages_spool.jsonl` in the state directory) instead, and every `retry_every` replays the spool; the
//! shared table keeps one row per page id and event, so a replay that repeats rows is harmless. A spool
//! left by a previous run is replayed at start. [`SharedAudit::spooled`] says how many records wait in the
//! spool (the admin server's `icbot_page_audit_spooled`).
//!
//! A clean stop ([`AuditWriterTask::finish`]) writes or spools what is queued first. Limits: records still
//! in the channel when the process is killed reach only `pages.jsonl`; a full channel (thousands of
//! records queued) drops the shared copy with an error log, never the page.
//!
//! [`AuditLog`]: crate::pager::audit::AuditLog

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::ports::{Coordination, PageAuditEntry, StateStore};

/// The spool's file name in the state directory.
pub const SPOOL_FILE: &str = "pages_spool.jsonl";
/// Records waiting for the writer; far more than pages at human speed can fill.
const QUEUE: usize = 4096;
/// Records sent to the database in one statement.
const BATCH: usize = 200;
/// Bound on one write to the database, whatever the port does.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The hand-over to the writer: cheap to clone, never waits.
#[derive(Clone)]
pub struct SharedAudit {
    queue: mpsc::Sender<PageAuditEntry>,
    /// Distinguishes this process's ids for records that had none.
    tag: u64,
    spooled: watch::Receiver<usize>,
}

/// The running writer, for a clean stop.
pub struct AuditWriterTask {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl AuditWriterTask {
    /// Writes (or spools) what is queued, then stops the writer; waits at most `within`. Records handed
    /// over after this are only in `pages.jsonl`.
    pub async fn finish(self, within: Duration) {
        let _ = self.stop.send(());
        if tokio::time::timeout(within, self.task).await.is_err() {
            tracing::warn!(
                "the shared page audit writer did not finish in time; the rest is only in pages.jsonl"
            );
        }
    }
}

impl SharedAudit {
    /// Starts the writer; it ends when told to finish, or when every [`SharedAudit`] is dropped, once its
    /// queue is written.
    pub fn start(
        coordination: Arc<dyn Coordination>,
        store: Arc<dyn StateStore>,
        retry_every: Duration,
    ) -> (SharedAudit, AuditWriterTask) {
        let (queue, records) = mpsc::channel(QUEUE);
        let (stop, stopped) = oneshot::channel();
        let (published, spooled) = watch::channel(0);
        let writer = AuditWriter {
            coordination,
            store,
            retry_every: retry_every.max(Duration::from_millis(100)),
            spooled: 0,
            published,
        };
        let task = tokio::spawn(writer.run(records, stopped));
        let tag = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64
            ^ u64::from(std::process::id()).rotate_left(40);
        (
            SharedAudit {
                queue,
                tag,
                spooled,
            },
            AuditWriterTask { stop, task },
        )
    }

    /// How many records wait in the spool for the database (also the `icbot_page_audit_spooled` gauge).
    pub fn spooled(&self) -> watch::Receiver<usize> {
        self.spooled.clone()
    }

    /// A page id for a record that has none (a page command answered before the pager), unique across
    /// replicas, so that its replays are recognized.
    pub fn unanswered_id(&self) -> String {
        static UNNAMED: AtomicU64 = AtomicU64::new(0);
        let n = UNNAMED.fetch_add(1, Ordering::Relaxed);
        format!("unanswered-{:x}-{n:x}", self.tag)
    }

    /// Hands one entry to the writer, never waiting.
    pub fn send(&self, entry: PageAuditEntry) {
        if let Err(e) = self.queue.try_send(entry) {
            let (mpsc::error::TrySendError::Full(entry) | mpsc::error::TrySendError::Closed(entry)) =
                e;
            tracing::error!(
                page_id = %entry.page_id,
                "the shared page audit writer is behind or stopped; this record is only in pages.jsonl"
            );
        }
    }
}

/// The background writer: the database when it answers, the spool when it does not.
struct AuditWriter {
    coordination: Arc<dyn Coordination>,
    store: Arc<dyn StateStore>,
    retry_every: Duration,
    /// Records in the spool file.
    spooled: usize,
    published: watch::Sender<usize>,
}

impl AuditWriter {
    async fn run(
        mut self,
        mut records: mpsc::Receiver<PageAuditEntry>,
        mut stopped: oneshot::Receiver<()>,
    ) {
        self.spooled = self.read_spool().len();
        self.publish();
        if self.spooled > 0 {
            tracing::info!(
                spooled = self.spooled,
                "page audit records spooled by a previous run; replaying them"
            );
            self.replay().await;
        }
        let mut retry = tokio::time::interval(self.retry_every);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        retry.tick().await;
        let mut stopping = false;
        loop {
            tokio::select! {
                received = records.recv() => {
                    let Some(first) = received else { break };
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        match records.try_recv() {
                            Ok(r) => batch.push(r),
                            Err(_) => break,
                        }
                    }
                    self.write(batch).await;
                }
                _ = retry.tick(), if self.spooled > 0 => self.replay().await,
                // What is queued is still received (then `None`): written or spooled, never dropped. A
                // handle dropped without `finish` leaves the writer running.
                told = &mut stopped, if !stopping => {
                    stopping = true;
                    if told.is_ok() {
                        records.close();
                    }
                }
            }
        }
    }

    /// New records: to the database, or behind the records already spooled (order does not matter to the
    /// table, but trying the database for each record during an outage would only slow the writer down).
    async fn write(&mut self, batch: Vec<PageAuditEntry>) {
        if self.spooled == 0 {
            match self.send(&batch).await {
                Ok(()) => return,
                Err(e) => tracing::warn!(
                    error = %e,
                    records = batch.len(),
                    "cannot write the shared page audit; spooling to {SPOOL_FILE} until the database answers"
                ),
            }
        }
        self.spool(&batch);
    }

    async fn send(&self, batch: &[PageAuditEntry]) -> Result<(), String> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.coordination.record_page_audit(batch)).await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {WRITE_TIMEOUT:?}")),
        }
    }

    fn spool(&mut self, batch: &[PageAuditEntry]) {
        for record in batch {
            let line = match serde_json::to_string(record) {
                Ok(line) => line,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode a page audit record for the spool");
                    continue;
                }
            };
            match self.store.append_line(SPOOL_FILE, &line) {
                Ok(()) => self.spooled += 1,
                Err(e) => tracing::error!(
                    error = %e,
                    file = SPOOL_FILE,
                    "cannot spool a page audit record; it is only in pages.jsonl"
                ),
            }
        }
        self.publish();
    }

    /// Sends the spool to the database, batch by batch; what could not be sent stays spooled.
    async fn replay(&mut self) {
        let spooled = self.read_spool();
        let total = spooled.len();
        let mut sent = 0;
        for batch in spooled.chunks(BATCH) {
            if let Err(e) = self.send(batch).await {
                tracing::debug!(error = %e, left = total - sent, "the shared page audit is still unreachable");
                break;
            }
            sent += batch.len();
        }
        if sent == 0 && total > 0 {
            return;
        }
        let rest: String = spooled[sent..]
            .iter()
            .filter_map(|r| serde_json::to_string(r).ok())
            .map(|line| line + "\n")
            .collect();
        match self.store.save(SPOOL_FILE, rest.as_bytes()) {
            Ok(()) => self.spooled = total - sent,
            // Still spooled: the next replay sends them again, which the table ignores.
            Err(e) => tracing::error!(error = %e, file = SPOOL_FILE, "cannot rewrite the spool"),
        }
        self.publish();
        if sent > 0 {
            tracing::info!(
                replayed = sent,
                left = self.spooled,
                "spooled page audit records written to the shared audit"
            );
        }
    }

    fn read_spool(&self) -> Vec<PageAuditEntry> {
        let bytes = match self.store.load(SPOOL_FILE) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Vec::new(),
            Err(e) => {
                tracing::error!(error = %e, file = SPOOL_FILE, "cannot read the page audit spool");
                return Vec::new();
            }
        };
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|line| match serde_json::from_str(line) {
                Ok(record) => Some(record),
                Err(e) => {
                    tracing::warn!(error = %e, file = SPOOL_FILE, "skipping an unreadable spool line");
                    None
                }
            })
            .collect()
    }

    fn publish(&self) {
        self.published.send_replace(self.spooled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::FakeCoordination;
    use crate::state_store::MemoryStateStore;

    fn started(page_id: &str) -> PageAuditEntry {
        PageAuditEntry {
            page_id: page_id.into(),
            kind: "started".into(),
            at: SystemTime::now(),
            record: serde_json::json!({"event": "started", "page_id": page_id}),
        }
    }

    fn spool_lines(store: &MemoryStateStore) -> usize {
        store
            .load(SPOOL_FILE)
            .unwrap()
            .map(|b| String::from_utf8(b).unwrap().lines().count())
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn while_the_database_is_unreachable_entries_are_spooled_then_replayed_once() {
        let coordination = Arc::new(FakeCoordination::default());
        coordination.set_unreachable(true);
        let store = Arc::new(MemoryStateStore::new());
        let retry = Duration::from_secs(2);
        let (shared, writer) = SharedAudit::start(coordination.clone(), store.clone(), retry);
        let mut spooled = shared.spooled();
        let before = tokio::time::Instant::now();
        shared.send(started("p1"));
        shared.send(started("p2"));
        // The hand-over never waits, whatever the database does.
        assert_eq!(before.elapsed(), Duration::ZERO);
        spooled.wait_for(|n| *n == 2).await.unwrap();
        assert_eq!(spool_lines(&store), 2);
        assert!(coordination.audit.lock().unwrap().is_empty());
        // The same entry again (as a replay after a crash would send it): still once in the table.
        shared.send(started("p1"));
        spooled.wait_for(|n| *n == 3).await.unwrap();
        let returned = tokio::time::Instant::now();
        coordination.set_unreachable(false);
        spooled.wait_for(|n| *n == 0).await.unwrap();
        assert!(returned.elapsed() <= retry, "{:?}", returned.elapsed());
        assert_eq!(spool_lines(&store), 0);
        let ids: Vec<_> = coordination
            .audit
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.page_id.clone())
            .collect();
        assert_eq!(ids, vec!["p1".to_string(), "p2".to_string()]);
        drop(shared);
        writer.finish(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn a_clean_stop_writes_what_is_queued_first() {
        let coordination = Arc::new(FakeCoordination::default());
        let store = Arc::new(MemoryStateStore::new());
        let (shared, writer) =
            SharedAudit::start(coordination.clone(), store.clone(), Duration::from_secs(60));
        for id in ["a", "b", "c"] {
            shared.send(started(id));
        }
        writer.finish(Duration::from_secs(5)).await;
        assert_eq!(coordination.audit.lock().unwrap().len(), 3);
        shared.send(started("late"));
        assert_eq!(coordination.audit.lock().unwrap().len(), 3, "stopped");
    }

    #[tokio::test]
    async fn a_spool_left_by_a_previous_run_is_replayed_at_start() {
        let coordination = Arc::new(FakeCoordination::default());
        let store = Arc::new(MemoryStateStore::new());
        for id in ["a", "b", "c"] {
            store
                .append_line(SPOOL_FILE, &serde_json::to_string(&started(id)).unwrap())
                .unwrap();
        }
        store.append_line(SPOOL_FILE, "{\"torn\":").unwrap();
        let (shared, _writer) =
            SharedAudit::start(coordination.clone(), store.clone(), Duration::from_secs(60));
        assert_eq!(coordination.wait_for_audit(3).await.len(), 3);
        shared.spooled().wait_for(|n| *n == 0).await.unwrap();
        assert_eq!(spool_lines(&store), 0);
    }
}
