//! Slack Events API `event_id`s already handled by some replica. Slack retries an event it thinks was not
//! acknowledged, and behind a load balancer the retry may reach another replica: the first replica to
//! record an id handles the event, the others drop it. Ids are kept for a while (`keep`), then purged.
//!
//! Not fenced: every replica answers events.

use std::time::Duration;

use super::database::{Database, DatabaseError};

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
