//! The page audit log: one JSON object per line in `pages.jsonl`. Each page writes a `started` record (who
//! asked, where, whom, the dedup key and the `incident_key`) before its first PagerDuty write, and an `outcome`
//! record with the same page id after it; every reply to a page, whoever makes it (the pager, or the command
//! when the pager cannot answer), has its outcome record. A `started` without its outcome is a page whose
//! result is unknown (the bot died mid-page): deduplication reads it back at start and never pages blindly
//! again ([`crate::pager::dedup`]).
//!
//! Owned by the wiring (one [`AuditLog`] shared by the pager and the command context); written through the
//! [`StateStore`]. Appends start on a fresh line, so a line torn by a crash never glues the next record onto
//! it; unreadable lines are skipped with a warning and counted (`icbot_audit_unreadable_lines_total`). Only the
//! tail of the file is read back (what the dedup window needs), and the file is rotated by size into
//! `pages.jsonl.1` (one previous file kept). Times are RFC 3339 strings; lines written before that (times as
//! `{"secs_since_epoch": ..}`) still read. With several replicas each record also goes to the shared audit
//! ([`crate::pager::shared_audit`]), off the page's path.

use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::cache::oncall::UserId;
use crate::metric_names;
use crate::pager::page::{
    self, page_time, PageKey, PageOutcome, PageRequest, PersonResult, PriorPage,
};
use crate::pager::shared_audit::SharedAudit;
use crate::ports::{Incident, PageAuditEntry, StateStore};
use crate::state_store::jsonl::JsonLines;

/// The audit log's file name in the state directory.
pub const AUDIT_FILE: &str = "pages.jsonl";
/// The previous audit log, after a rotation.
pub const PREVIOUS_AUDIT_FILE: &str = "pages.jsonl.1";
/// `[pager] audit_max_bytes` by default: 10 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// The first read back at start takes this much of the file's end; it grows until it reaches records older
/// than the window (or the start of the file).
const FIRST_TAIL_BYTES: u64 = 64 * 1024;

/// Which record of a page a line is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    /// Written before the first PagerDuty write of a page.
    Started,
    /// What the reply said. Lines written before `event` existed are outcomes.
    #[default]
    Outcome,
}

impl AuditEvent {
    /// The word in the record and in the shared audit's `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::Started => "started",
            AuditEvent::Outcome => "outcome",
        }
    }
}

/// One line of `pages.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    #[serde(default)]
    pub event: AuditEvent,
    /// Ties a page's `started` record to its outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_id: Option<String>,
    #[serde(with = "page_time")]
    pub at: SystemTime,
    pub requested_by: String,
    pub channel: String,
    pub audience: String,
    pub message: Option<String>,
    /// `started`: whom the page goes to (PagerDuty user id, name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<(UserId, String)>,
    /// `started`: the sorted ids that deduplication compares.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dedup_key: PageKey,
    /// The idempotency key the incident is created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_key: Option<String>,
    #[serde(default)]
    pub incident: Option<Incident>,
    /// Outcome: per person, PagerDuty user id, name, result.
    #[serde(default)]
    pub results: Vec<(UserId, String, PersonResult)>,
    #[serde(default)]
    pub failure: Option<String>,
    /// The reply listed phone numbers to call by hand.
    #[serde(default)]
    pub fallback_shown: bool,
    /// This request repeated an earlier page and was not sent again.
    #[serde(default)]
    pub duplicate_of: Option<PriorPage>,
}

impl AuditRecord {
    /// The outcome record of a reply to a page.
    pub fn of(outcome: &PageOutcome) -> Self {
        AuditRecord {
            event: AuditEvent::Outcome,
            page_id: outcome.page_id.clone(),
            at: outcome.at,
            requested_by: outcome.request.requested_by.clone(),
            channel: outcome.request.reply_to.channel.clone(),
            audience: outcome.request.audience.clone(),
            message: outcome.request.message.clone(),
            targets: Vec::new(),
            dedup_key: Vec::new(),
            incident_key: outcome.incident_key.clone(),
            incident: outcome.incident.clone(),
            results: outcome
                .results
                .iter()
                .map(|(t, r)| (t.person.id.clone(), t.person.name.clone(), r.clone()))
                .collect(),
            failure: outcome.failure.clone(),
            fallback_shown: !outcome.everyone_confirmed(),
            duplicate_of: outcome.duplicate_of.clone(),
        }
    }

    /// The outcome record of a page command that did not finish in time: its reply said so without knowing
    /// whom the page reached.
    pub fn unanswered(
        msg: &crate::chat::InboundMessage,
        audience: String,
        message: Option<String>,
        failure: String,
    ) -> Self {
        AuditRecord {
            event: AuditEvent::Outcome,
            page_id: None,
            at: SystemTime::now(),
            requested_by: msg.user.clone(),
            channel: msg.reply_to.channel.clone(),
            audience,
            message,
            targets: Vec::new(),
            dedup_key: Vec::new(),
            incident_key: None,
            incident: None,
            results: Vec::new(),
            failure: Some(failure),
            fallback_shown: true,
            duplicate_of: None,
        }
    }

    /// The record written before the first PagerDuty write of page `page_id`.
    pub fn started(
        request: &PageRequest,
        page_id: &str,
        dedup_key: &PageKey,
        incident_key: &str,
        at: SystemTime,
    ) -> Self {
        AuditRecord {
            event: AuditEvent::Started,
            page_id: Some(page_id.to_string()),
            at,
            requested_by: request.requested_by.clone(),
            channel: request.reply_to.channel.clone(),
            audience: request.audience.clone(),
            message: request.message.clone(),
            targets: request
                .targets
                .iter()
                .map(|t| (t.person.id.clone(), t.person.name.clone()))
                .collect(),
            dedup_key: dedup_key.clone(),
            incident_key: Some(incident_key.to_string()),
            incident: None,
            results: Vec::new(),
            failure: None,
            fallback_shown: false,
            duplicate_of: None,
        }
    }

    /// Whom the record's page went to, in the form deduplication compares.
    pub fn key(&self) -> PageKey {
        if !self.dedup_key.is_empty() {
            return self.dedup_key.clone();
        }
        let ids: Vec<&UserId> = match self.event {
            AuditEvent::Started => self.targets.iter().map(|(id, _)| id).collect(),
            AuditEvent::Outcome => self.results.iter().map(|(id, _, _)| id).collect(),
        };
        page::key(ids)
    }
}

/// The audit log: appends with rotation, and reads back the recent records. Shared (`Arc`) by the pager and
/// the command context; appends are serialized so that a rotation never races another append.
pub struct AuditLog {
    lines: JsonLines,
    /// With several replicas: where each record also goes, without waiting.
    shared: Option<SharedAudit>,
}

impl AuditLog {
    /// A log in `store`, rotated before an append would take it past `max_bytes`.
    pub fn new(store: Arc<dyn StateStore>, max_bytes: u64) -> Self {
        AuditLog {
            lines: JsonLines::new(store, AUDIT_FILE, "page audit log", max_bytes),
            shared: None,
        }
    }

    /// Also hands every record to the audit the replicas share (after appending it here).
    pub fn with_shared(mut self, shared: SharedAudit) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Where records also go with several replicas, if anywhere.
    pub fn shared(&self) -> Option<&SharedAudit> {
        self.shared.as_ref()
    }

    /// Appends the outcome of a page reply.
    pub fn outcome(&self, outcome: &PageOutcome) {
        self.append(&AuditRecord::of(outcome));
    }

    /// Appends one record; a failure to write is logged loudly, never fatal (the reply matters more). With
    /// several replicas the record is then handed to the shared audit's writer, which never waits.
    pub fn append(&self, record: &AuditRecord) {
        self.lines.append(record);
        if let Some(shared) = &self.shared {
            let mut record = record.clone();
            let page_id = record
                .page_id
                .get_or_insert_with(|| shared.unanswered_id())
                .clone();
            match serde_json::to_value(&record) {
                Ok(json) => shared.send(PageAuditEntry {
                    page_id,
                    kind: record.event.as_str().to_string(),
                    at: record.at,
                    record: json,
                }),
                Err(e) => tracing::error!(error = %e, "cannot encode a page audit record"),
            }
        }
    }

    /// The records (started and outcomes) at or after `since`, oldest first, read from the end of the log (and
    /// of the previous file when the current one starts inside the window).
    pub fn recent(&self, since: SystemTime) -> Vec<AuditRecord> {
        let (current, reached_start) = self.read_back(AUDIT_FILE, since);
        let mut records = if reached_start {
            self.read_back(PREVIOUS_AUDIT_FILE, since).0
        } else {
            Vec::new()
        };
        records.extend(current);
        records
    }

    /// The records of `name` at or after `since`, and whether the whole file is inside the window (so an
    /// older file may hold more). Reads a tail of the file, growing it until it holds a record older than
    /// `since` or the whole file.
    fn read_back(&self, name: &str, since: SystemTime) -> (Vec<AuditRecord>, bool) {
        let size = match self.lines.store().size(name) {
            Ok(Some(size)) => size,
            Ok(None) => return (Vec::new(), true),
            Err(e) => {
                tracing::warn!(error = %e, file = name, "cannot read the page audit log");
                return (Vec::new(), false);
            }
        };
        let mut want = FIRST_TAIL_BYTES.min(size);
        loop {
            let bytes = match self.lines.store().load_tail(name, want) {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return (Vec::new(), true),
                Err(e) => {
                    tracing::warn!(error = %e, file = name, "cannot read the page audit log");
                    return (Vec::new(), false);
                }
            };
            let whole = bytes.len() as u64 >= size;
            let text = String::from_utf8_lossy(&bytes);
            let mut lines = text.split('\n');
            if !whole {
                // The tail starts inside a line.
                lines.next();
            }
            let mut records = Vec::new();
            let mut unreadable = Vec::new();
            for line in lines.filter(|l| !l.trim().is_empty()) {
                match serde_json::from_str::<AuditRecord>(line) {
                    Ok(r) => records.push(r),
                    Err(e) => unreadable.push(e),
                }
            }
            let older_seen = records.iter().any(|r| r.at < since);
            if older_seen || whole {
                for e in &unreadable {
                    tracing::warn!(error = %e, file = name, "skipping an unreadable audit line");
                }
                metrics::counter!(metric_names::AUDIT_UNREADABLE_LINES_TOTAL)
                    .increment(unreadable.len() as u64);
                records.retain(|r| r.at >= since);
                return (records, whole && !older_seen);
            }
            want = want.saturating_mul(4).min(size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::oncall::Person;
    use crate::chat::ChatTarget;
    use crate::pager::page::{PageTarget, Targeting};
    use crate::state_store::{FileStateStore, MemoryStateStore};
    use std::time::Duration;

    fn request(ids: &[&str]) -> PageRequest {
        PageRequest {
            requested_by: "dana".into(),
            reply_to: ChatTarget::channel("ops"),
            audience: "them".into(),
            targets: ids
                .iter()
                .map(|id| PageTarget {
                    person: Person::new(*id, id.to_uppercase(), format!("{id}@example.com")),
                    role: None,
                })
                .collect(),
            message: None,
            again: false,
            targeting: Targeting::People,
        }
    }

    fn started(ids: &[&str], at: SystemTime) -> AuditRecord {
        let r = request(ids);
        let key = page::key(r.targets.iter().map(|t| &t.person.id));
        AuditRecord::started(&r, "p1", &key, "icbot-k", at)
    }

    /// Today's format still reads: times as `secs_since_epoch`, no event, no page id.
    const OLD_LINE: &str = r#"{"at":{"secs_since_epoch":1700000000,"nanos_since_epoch":5},"requested_by":"dana","channel":"ops","audience":"Alice","message":null,"incident":{"id":"Q1","number":1,"html_url":"https://pd/Q1"},"results":[["alice","Alice","Assigned"]],"failure":null,"fallback_shown":false,"duplicate_of":null}"#;

    #[test]
    fn old_lines_still_read_and_new_times_are_rfc3339() {
        let old: AuditRecord = serde_json::from_str(OLD_LINE).unwrap();
        assert_eq!(old.event, AuditEvent::Outcome);
        assert_eq!(
            old.at,
            SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 5)
        );
        assert_eq!(old.key(), vec![UserId("alice".into())]);
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        let line = serde_json::to_string(&started(&["b", "a"], at)).unwrap();
        assert!(
            line.contains(r#""at":"2023-11-14T22:13:20.250Z""#),
            "{line}"
        );
        assert!(line.contains(r#""event":"started""#), "{line}");
        let back: AuditRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back.at, at);
        assert_eq!(back.key(), vec![UserId("a".into()), UserId("b".into())]);
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_next_record_still_reads() {
        let store = Arc::new(MemoryStateStore::new());
        let now = SystemTime::now();
        let whole = serde_json::to_string(&started(&["a"], now)).unwrap();
        // A crash mid-append: the second line is cut inside its JSON.
        let torn = format!("{whole}\n{}", &whole[..whole.len() / 2]);
        store.save(AUDIT_FILE, torn.as_bytes()).unwrap();
        let log = AuditLog::new(store.clone(), DEFAULT_MAX_BYTES);
        log.append(&started(&["b"], now));
        let records = log.recent(now - Duration::from_secs(60));
        let keys: Vec<PageKey> = records.iter().map(AuditRecord::key).collect();
        assert_eq!(
            keys,
            vec![vec![UserId("a".into())], vec![UserId("b".into())]],
            "the torn line is skipped, the records on either side read"
        );
    }

    #[test]
    fn rotation_keeps_one_previous_file_and_reading_sees_across_it() {
        let dir = std::env::temp_dir().join(format!("icbot-audit-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(FileStateStore::open(&dir).unwrap());
        let now = SystemTime::now();
        let line_len = serde_json::to_string(&started(&["a"], now)).unwrap().len() as u64 + 1;
        // Room for two lines per file.
        let log = AuditLog::new(store.clone(), line_len * 2 + 1);
        let old = now - Duration::from_secs(3600);
        log.append(&started(&["old"], old));
        log.append(&started(&["a"], now));
        log.append(&started(&["b"], now));
        assert!(dir.join(PREVIOUS_AUDIT_FILE).exists(), "rotated");
        let size = std::fs::metadata(dir.join(AUDIT_FILE)).unwrap().len();
        assert!(size <= line_len * 2 + 1, "{size}");
        let ids: Vec<PageKey> = log
            .recent(now - Duration::from_secs(60))
            .iter()
            .map(AuditRecord::key)
            .collect();
        assert_eq!(
            ids,
            vec![vec![UserId("a".into())], vec![UserId("b".into())]],
            "the record in the previous file is inside the window; the old one is not"
        );
        log.append(&started(&["c"], now));
        log.append(&started(&["d"], now));
        let previous = std::fs::read_to_string(dir.join(PREVIOUS_AUDIT_FILE)).unwrap();
        assert!(
            !previous.contains("\"old\""),
            "only one previous file is kept"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn with_several_replicas_records_also_reach_the_shared_audit() {
        let coordination = Arc::new(crate::fakes::FakeCoordination::default());
        let store = Arc::new(MemoryStateStore::new());
        let (shared, _writer) =
            SharedAudit::start(coordination.clone(), store.clone(), Duration::from_secs(1));
        let log = AuditLog::new(store.clone(), DEFAULT_MAX_BYTES).with_shared(shared);
        let now = SystemTime::now();
        log.append(&started(&["a"], now));
        let msg = crate::chat::InboundMessage {
            reply_to: ChatTarget::channel("ops"),
            user: "dana".into(),
            text: "!ic page".into(),
            direct: false,
        };
        log.append(&AuditRecord::unanswered(
            &msg,
            "them".into(),
            None,
            "late".into(),
        ));
        let shared = coordination.wait_for_audit(2).await;
        assert_eq!(
            (shared[0].page_id.as_str(), shared[0].kind.as_str()),
            ("p1", "started")
        );
        assert_eq!(shared[0].at, now);
        assert_eq!(shared[0].record["requested_by"], "dana");
        assert!(shared[1].page_id.starts_with("unanswered-"), "{shared:?}");
        assert_eq!(shared[1].kind, "outcome");
        assert_eq!(shared[1].record["page_id"], shared[1].page_id.as_str());
        // pages.jsonl as before: the unanswered record keeps no page id there.
        let local = log.recent(now - Duration::from_secs(60));
        assert_eq!(local.len(), 2);
        assert_eq!(local[1].page_id, None);
    }

    /// A store that says how much it was asked to read.
    struct ReadCounting {
        inner: MemoryStateStore,
        read: std::sync::atomic::AtomicU64,
    }

    impl StateStore for ReadCounting {
        fn load(&self, _: &str) -> std::io::Result<Option<Vec<u8>>> {
            panic!("the whole log is never read");
        }
        fn save(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
            self.inner.save(name, bytes)
        }
        fn append_line(&self, name: &str, line: &str) -> std::io::Result<()> {
            self.inner.append_line(name, line)
        }
        fn size(&self, name: &str) -> std::io::Result<Option<u64>> {
            Ok(self.inner.load(name)?.map(|b| b.len() as u64))
        }
        fn load_tail(&self, name: &str, max: u64) -> std::io::Result<Option<Vec<u8>>> {
            let tail = self.inner.load_tail(name, max)?;
            if let Some(t) = &tail {
                self.read
                    .fetch_add(t.len() as u64, std::sync::atomic::Ordering::SeqCst);
            }
            Ok(tail)
        }
    }

    #[test]
    fn only_the_tail_inside_the_window_is_read() {
        let store = Arc::new(ReadCounting {
            inner: MemoryStateStore::new(),
            read: Default::default(),
        });
        let now = SystemTime::now();
        let old = started(&["old"], now - Duration::from_secs(86_400));
        let old_line = serde_json::to_string(&old).unwrap();
        let mut text = String::new();
        while text.len() < 4 * 1024 * 1024 {
            text.push_str(&old_line);
            text.push('\n');
        }
        store.inner.save(AUDIT_FILE, text.as_bytes()).unwrap();
        let log = AuditLog::new(store.clone(), u64::MAX);
        log.append(&started(&["new"], now));
        let records = log.recent(now - Duration::from_secs(120));
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].key(), vec![UserId("new".into())]);
        let read = store.read.load(std::sync::atomic::Ordering::SeqCst);
        assert!(read <= FIRST_TAIL_BYTES, "read {read} bytes of a 4 MiB log");
    }
}
