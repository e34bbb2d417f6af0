//! The shared page audit (`icbot_page_audit`): every replica writes its pages' `started` and `outcome`
//! records, in batches of one statement. `UNIQUE (page_id, kind)` with `ON CONFLICT DO NOTHING` makes a
//! record written twice (a local spool replayed after an outage, maybe more than once) land once.
//!
//! Not fenced: every replica pages, leader or not.

use std::time::SystemTime;

use icbot_actors::ports::PageAuditEntry;

use super::database::{Database, DatabaseError};

const INSERT: &str = "
INSERT INTO icbot_page_audit (page_id, kind, record, at, replica)
SELECT page_id, kind, record, at, $5
  FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::timestamptz[]) AS r(page_id, kind, record, at)
ON CONFLICT (page_id, kind) DO NOTHING";

/// Writes `rows` in one statement; returns how many were new.
pub async fn insert(
    db: &Database,
    replica: &str,
    rows: &[PageAuditEntry],
) -> Result<u64, DatabaseError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let page_ids: Vec<&str> = rows.iter().map(|r| r.page_id.as_str()).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    let records: Vec<&serde_json::Value> = rows.iter().map(|r| &r.record).collect();
    let ats: Vec<SystemTime> = rows.iter().map(|r| r.at).collect();
    let mut session = db.session().await?;
    session
        .execute(INSERT, &[&page_ids, &kinds, &records, &ats, &replica])
        .await
}
