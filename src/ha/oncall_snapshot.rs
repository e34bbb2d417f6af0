//! The shared on-call snapshot: the leader writes what it fetched from PagerDuty, fenced; every replica
//! reads it. The JSON is whatever the core's snapshot serializes to; this module does not look inside.

use std::time::SystemTime;

use super::database::{Database, DatabaseError};
use super::fence::{Fence, FencedWrite};
use super::lease::Epoch;

/// The snapshot as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSnapshot {
    pub snapshot: serde_json::Value,
    /// When it was fetched from PagerDuty (by the leader's clock).
    pub taken_at: SystemTime,
    /// The tenure that wrote it.
    pub epoch: Epoch,
    /// When it was written (the database's clock).
    pub written_at: SystemTime,
}

const SAVE: &str = "
INSERT INTO icbot_oncall_snapshot AS s (id, snapshot, taken_at, epoch, written_at)
SELECT true, $3::jsonb, $4::timestamptz, $2::bigint, now() WHERE {fence}
ON CONFLICT (id) DO UPDATE SET
       snapshot = excluded.snapshot, taken_at = excluded.taken_at, epoch = excluded.epoch,
       written_at = excluded.written_at
 WHERE s.epoch <= excluded.epoch";

/// Replaces the snapshot if `fence`'s tenure is still the live lease.
pub async fn save(
    db: &Database,
    fence: &Fence,
    snapshot: &serde_json::Value,
    taken_at: SystemTime,
) -> Result<FencedWrite, DatabaseError> {
    fence.execute(db, SAVE, &[snapshot, &taken_at]).await
}

/// The stored snapshot, `None` before the first leader wrote one.
pub async fn load(db: &Database) -> Result<Option<StoredSnapshot>, DatabaseError> {
    let mut session = db.session().await?;
    let Some(row) = session
        .query_opt(
            "SELECT snapshot, taken_at, epoch, written_at FROM icbot_oncall_snapshot",
            &[],
        )
        .await?
    else {
        return Ok(None);
    };
    let get = |e| DatabaseError::Statement(e);
    Ok(Some(StoredSnapshot {
        snapshot: row.try_get("snapshot").map_err(get)?,
        taken_at: row.try_get("taken_at").map_err(get)?,
        epoch: Epoch(row.try_get("epoch").map_err(get)?),
        written_at: row.try_get("written_at").map_err(get)?,
    }))
}
