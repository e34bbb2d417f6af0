//! The incident audit log: one JSON object per line in `incidents.jsonl`, beside the page audit log. Every
//! `!ic incidents`, `!ic ack`, `!ic resolve` and `!ic note` appends one record after its answer: who asked,
//! where, what, which incident, as whom PagerDuty was told it was done, and the outcome as the reply said it.
//!
//! Owned by the wiring (one [`IncidentAudit`] in the command context); written through the [`StateStore`], so
//! appends start on a fresh line even after a torn one. Rotated by size into `incidents.jsonl.1` like the page
//! audit log. A failure to write is logged loudly and never stops the reply.

use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::pager::page::page_time;
use crate::ports::StateStore;
use crate::state_store::jsonl::JsonLines;

/// The incident audit log's file name in the state directory.
pub const INCIDENT_AUDIT_FILE: &str = "incidents.jsonl";

/// What was asked of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentAction {
    List,
    Ack,
    Resolve,
    Note,
}

/// How it ended, in one word a query can group by; the reply's words are in `detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentOutcome {
    /// PagerDuty confirmed the change (or answered the listing).
    Done,
    /// Nothing was sent: refused here (no such open incident, which one?) or by PagerDuty (403, 404, 429,
    /// already resolved...).
    Refused,
    /// Sent, and no answer said whether it happened (timeout, cut connection, 5xx): not retried.
    NotConfirmed,
    /// PagerDuty could not be asked (the listing failed).
    Failed,
}

/// One line of `incidents.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentAuditRecord {
    #[serde(with = "page_time")]
    pub at: SystemTime,
    /// The chat user id of who asked.
    pub who: String,
    pub channel: String,
    pub action: IncidentAction,
    /// The incident's number, when one was chosen.
    #[serde(default)]
    pub incident: Option<u64>,
    /// The `From` PagerDuty was given: the person's email, or `None` when the bot acted on their behalf.
    #[serde(default)]
    pub acted_as: Option<String>,
    pub outcome: IncidentOutcome,
    /// What went wrong, or what was done, in the reply's words.
    #[serde(default)]
    pub detail: Option<String>,
}

/// The log: appends with rotation. Shared (`Arc`); appends are serialized so a rotation never races one.
pub struct IncidentAudit {
    lines: JsonLines,
}

impl IncidentAudit {
    /// A log in `store`, rotated before an append would take it past `max_bytes`.
    pub fn new(store: Arc<dyn StateStore>, max_bytes: u64) -> Self {
        IncidentAudit {
            lines: JsonLines::new(store, INCIDENT_AUDIT_FILE, "incident audit log", max_bytes),
        }
    }

    /// Appends one record; a failure is logged, never fatal.
    pub fn append(&self, record: &IncidentAuditRecord) {
        self.lines.append(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_store::MemoryStateStore;

    fn record(n: u64) -> IncidentAuditRecord {
        IncidentAuditRecord {
            at: SystemTime::UNIX_EPOCH,
            who: "dana".into(),
            channel: "ops".into(),
            action: IncidentAction::Ack,
            incident: Some(n),
            acted_as: None,
            outcome: IncidentOutcome::Done,
            detail: None,
        }
    }

    #[test]
    fn records_are_lines_that_read_back() {
        let store = Arc::new(MemoryStateStore::new());
        let audit = IncidentAudit::new(store.clone(), 1 << 20);
        audit.append(&record(1));
        audit.append(&record(2));
        let text = String::from_utf8(store.load(INCIDENT_AUDIT_FILE).unwrap().unwrap()).unwrap();
        let back: Vec<IncidentAuditRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, vec![record(1), record(2)]);
        assert!(text.contains(r#""action":"ack""#), "{text}");
        assert!(
            text.contains(r#""at":"1970-01-01T00:00:00.000Z""#),
            "{text}"
        );
    }

    #[test]
    fn the_log_rotates_by_size() {
        let store = Arc::new(MemoryStateStore::new());
        let line = serde_json::to_string(&record(1)).unwrap().len() as u64 + 1;
        let audit = IncidentAudit::new(store.clone(), line * 2 + 1);
        for n in 1..=3 {
            audit.append(&record(n));
        }
        let previous = store.load("incidents.jsonl.1").unwrap().expect("rotated");
        assert_eq!(String::from_utf8(previous).unwrap().lines().count(), 2);
    }
}
