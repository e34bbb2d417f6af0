//! The shared stalking channels (`icbot_stalk`): any replica adds and removes a channel (commands reach any
//! replica); the leader reads the set and records what each channel was last told, fenced by its epoch, so a
//! new leader tells only the next change. Each function is one statement, like the rest of the shared state
//! (see `fence` for why). The JSON is whatever the core serializes; this module does not look inside.

use std::time::SystemTime;

use super::database::{Database, DatabaseError};
use super::fence::{Fence, FencedWrite};

/// One row of `icbot_stalk`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStalk {
    pub channel: String,
    pub target: serde_json::Value,
    pub since: SystemTime,
    pub last_posted: Option<serde_json::Value>,
}

/// What [`add`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A new row, since then (the database's clock).
    New(SystemTime),
    /// The channel was already stalking, since then.
    Already(SystemTime),
}

/// Inserts the channel, or reads the row already there, in one statement.
const ADD: &str = "
WITH inserted AS (
    INSERT INTO icbot_stalk (channel, target, since) VALUES ($1, $2, now())
    ON CONFLICT (channel) DO NOTHING
    RETURNING since
)
SELECT true AS added, since FROM inserted
UNION ALL
SELECT false, since FROM icbot_stalk WHERE channel = $1 AND NOT EXISTS (SELECT 1 FROM inserted)";

/// `last_posted` of a channel, by the leader whose epoch is `$2`; no row touched when it was unstalked.
const RECORD: &str = "
UPDATE icbot_stalk SET last_posted = $4, last_posted_at = now(), epoch = $2, updated_at = now()
 WHERE channel = $3 AND {fence}";

/// Starts stalking `channel` (posting to `target`), or says since when it already is.
pub async fn add(
    db: &Database,
    channel: &str,
    target: &serde_json::Value,
) -> Result<Added, DatabaseError> {
    let mut session = db.session().await?;
    // A row inserted by another replica after this statement's snapshot conflicts without being seen:
    // ask again, it is visible then.
    for _ in 0..3 {
        if let Some(row) = session.query_opt(ADD, &[&channel, target]).await? {
            let get = |e| DatabaseError::Statement(e);
            let added: bool = row.try_get("added").map_err(get)?;
            let since: SystemTime = row.try_get("since").map_err(get)?;
            return Ok(if added {
                Added::New(since)
            } else {
                Added::Already(since)
            });
        }
    }
    Err(DatabaseError::Contended)
}

/// Stops stalking `channel`: since when it was, `None` when it was not.
pub async fn remove(db: &Database, channel: &str) -> Result<Option<SystemTime>, DatabaseError> {
    let mut session = db.session().await?;
    let row = session
        .query_opt(
            "DELETE FROM icbot_stalk WHERE channel = $1 RETURNING since",
            &[&channel],
        )
        .await?;
    row.map(|row| row.try_get("since").map_err(DatabaseError::Statement))
        .transpose()
}

/// Every stalking channel.
pub async fn list(db: &Database) -> Result<Vec<StoredStalk>, DatabaseError> {
    let mut session = db.session().await?;
    let rows = session
        .query(
            "SELECT channel, target, since, last_posted FROM icbot_stalk ORDER BY channel",
            &[],
        )
        .await?;
    let get = |e| DatabaseError::Statement(e);
    rows.iter()
        .map(|row| {
            Ok(StoredStalk {
                channel: row.try_get("channel").map_err(get)?,
                target: row.try_get("target").map_err(get)?,
                since: row.try_get("since").map_err(get)?,
                last_posted: row.try_get("last_posted").map_err(get)?,
            })
        })
        .collect()
}

/// Records what `channel` was last told, if `fence`'s tenure is still the live lease.
pub async fn record_post(
    db: &Database,
    fence: &Fence,
    channel: &str,
    posted: &serde_json::Value,
) -> Result<FencedWrite, DatabaseError> {
    fence.execute(db, RECORD, &[&channel, posted]).await
}
