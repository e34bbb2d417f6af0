//! Slack Events API `event_id`s already handled by some replica. Slack retries an event it thinks was not
//! acknowledged, and behind a load balancer the retry may reach another replica: the first replica to
//! record an id handles the event, the others drop it. Ids are kept for a while (`keep`), then purged.
//!
//! Not fenced: every replica answers events. [`SharedSlackEvents`] is the Slack adapter's [`SeenEvents`]
//! over this table.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::database::{Database, DatabaseError};
use crate::slack::SeenEvents;

/// How long an event id is kept: Slack's Events API retries an event up to three times, the last about five
/// minutes after the first delivery.
pub const KEEP: Duration = Duration::from_secs(600);

const RECORD: &str = "
INSERT INTO icbot_slack_event AS e (event_id, replica, seen_at, expires_at)
VALUES ($1, $2, now(), now() + make_interval(secs => $3))
ON CONFLICT (event_id) DO UPDATE SET
       replica = excluded.replica, seen_at = excluded.seen_at, expires_at = excluded.expires_at
 WHERE e.expires_at <= now()
RETURNING 1";

/// True when no replica has recorded `event_id` within `keep`: this replica handles the event.
pub async fn first_sighting(
    db: &Database,
    event_id: &str,
    replica: &str,
    keep: Duration,
) -> Result<bool, DatabaseError> {
    let mut session = db.session().await?;
    let row = session
        .query_opt(RECORD, &[&event_id, &replica, &keep.as_secs_f64()])
        .await?;
    Ok(row.is_some())
}

/// Deletes the ids kept past their time; returns how many.
pub async fn purge_expired(db: &Database) -> Result<u64, DatabaseError> {
    let mut session = db.session().await?;
    session
        .execute(
            "DELETE FROM icbot_slack_event WHERE expires_at <= now()",
            &[],
        )
        .await
}

/// One replica's side of the Slack events every replica sees: an id is recorded once, for [`KEEP`]; the ids
/// past their time are purged at most once every [`KEEP`], in the background.
pub struct SharedSlackEvents {
    db: Database,
    replica: String,
    last_purge: Mutex<Option<Instant>>,
}

impl SharedSlackEvents {
    pub fn new(db: Database, replica: String) -> SharedSlackEvents {
        SharedSlackEvents {
            db,
            replica,
            last_purge: Mutex::new(None),
        }
    }

    /// Whether a purge is due now (and, if so, that it is taken).
    fn purge_due(&self) -> bool {
        let mut last = self.last_purge.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= KEEP);
        if due {
            *last = Some(Instant::now());
        }
        due
    }
}

#[async_trait]
impl SeenEvents for SharedSlackEvents {
    async fn first_sighting(&self, event_id: &str) -> Result<bool, String> {
        let first = first_sighting(&self.db, event_id, &self.replica, KEEP)
            .await
            .map_err(|e| e.to_string())?;
        if self.purge_due() {
            let db = self.db.clone();
            tokio::spawn(async move {
                match purge_expired(&db).await {
                    Ok(purged) => tracing::debug!(purged, "old Slack event ids purged"),
                    Err(e) => tracing::warn!(error = %e, "cannot purge old Slack event ids"),
                }
            });
        }
        Ok(first)
    }
}
