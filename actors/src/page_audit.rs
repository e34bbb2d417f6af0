//! The page audit log: every page request and its outcome, one JSON object per line in `pages.jsonl`, appended
//! before the reply is sent; read back at start so that deduplication survives a restart.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::oncall::UserId;
use crate::page_dedup::PriorPage;
use crate::pager::{PageOutcome, PersonResult};
use crate::ports::{Incident, StateStore};

/// The audit log's file name in the state directory.
pub const AUDIT_FILE: &str = "pages.jsonl";

/// How many of the last lines are read back at start.
const READ_BACK_LINES: usize = 1_000;

/// One line of `pages.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at: SystemTime,
    pub requested_by: String,
    pub channel: String,
    pub audience: String,
    pub message: Option<String>,
    pub incident: Option<Incident>,
    /// Per person: PagerDuty user id, name, result.
    pub results: Vec<(UserId, String, PersonResult)>,
    pub failure: Option<String>,
    /// The reply listed phone numbers to call by hand.
    pub fallback_shown: bool,
    /// This request repeated an earlier page and was not sent again.
    #[serde(default)]
    pub duplicate_of: Option<PriorPage>,
}

impl AuditRecord {
    pub fn of(outcome: &PageOutcome) -> Self {
        AuditRecord {
            at: outcome.at,
            requested_by: outcome.request.requested_by.clone(),
            channel: outcome.request.reply_to.channel.clone(),
            audience: outcome.request.audience.clone(),
            message: outcome.request.message.clone(),
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
}

/// Appends the outcome; a failure to write is logged loudly, never fatal (the reply matters more).
pub fn append(store: &dyn StateStore, outcome: &PageOutcome) {
    let line = match serde_json::to_string(&AuditRecord::of(outcome)) {
        Ok(line) => line,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode page audit record");
            return;
        }
    };
    if let Err(e) = store.append_line(AUDIT_FILE, &line) {
        tracing::error!(error = %e, file = AUDIT_FILE, "cannot append to the page audit log");
    }
}

/// The pages sent (not duplicates) at or after `since`, oldest first. Unreadable lines are skipped with a log.
pub fn sent_since(store: &dyn StateStore, since: SystemTime) -> Vec<AuditRecord> {
    let bytes = match store.load(AUDIT_FILE) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, file = AUDIT_FILE, "cannot read the page audit log");
            return Vec::new();
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(READ_BACK_LINES);
    let mut records = Vec::new();
    for line in &lines[start..] {
        match serde_json::from_str::<AuditRecord>(line) {
            Ok(r) if r.at >= since && r.duplicate_of.is_none() => records.push(r),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, file = AUDIT_FILE, "skipping an unreadable audit line")
            }
        }
    }
    records
}
