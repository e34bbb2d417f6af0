//! Page deduplication across replicas: a claim on the set of paged people (`icbot_page_dedup.dedup_key`,
//! unique) for the dedup window. Claiming is one statement, an insert that takes over a lapsed row in place
//! and leaves a live one alone, so when two people page the same people on two replicas at once exactly one
//! claim wins; the other learns whose page it repeats.
//!
//! Why a sliding window on one row per key rather than a key per fixed time bucket: with buckets, two pages
//! a second apart on either side of a bucket boundary would both go out.
//!
//! Not fenced: every replica pages, leader or not.

use std::time::{Duration, SystemTime};

use super::database::{Database, DatabaseError};

/// A page about to be sent.
#[derive(Debug, Clone)]
pub struct PageClaim<'a> {
    /// Who is paged, in a form that ignores order and repeats (sorted, unique user ids joined).
    pub dedup_key: &'a str,
    pub page_id: &'a str,
    pub requested_by: &'a str,
    pub channel: &'a str,
    pub replica: &'a str,
    pub window: Duration,
}

/// The page a claim would repeat.
#[derive(Debug, Clone, PartialEq)]
pub struct PriorClaim {
    pub page_id: String,
    pub requested_by: String,
    pub channel: String,
    pub replica: String,
    pub started_at: SystemTime,
    /// The incident as recorded by [`settle`]; `None` while that page is in flight.
    pub incident: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This page owns the window: send it.
    Claimed,
    /// A live claim of the same people exists: answer with it instead of paging.
    Repeat(PriorClaim),
}

const CLAIM: &str = "
INSERT INTO icbot_page_dedup AS d
       (dedup_key, page_id, requested_by, channel, replica, started_at, expires_at)
VALUES ($1, $2, $3, $4, $5, now(), now() + make_interval(secs => $6))
ON CONFLICT (dedup_key) DO UPDATE SET
       page_id = excluded.page_id, requested_by = excluded.requested_by, channel = excluded.channel,
       replica = excluded.replica, started_at = excluded.started_at, expires_at = excluded.expires_at,
       incident = NULL
 WHERE d.expires_at <= now()
RETURNING page_id";

const PRIOR: &str = "
SELECT page_id, requested_by, channel, replica, started_at, incident
  FROM icbot_page_dedup WHERE dedup_key = $1 AND expires_at > now()";

/// Claims the window for `claim.dedup_key`, or returns the live claim it would repeat.
pub async fn claim(db: &Database, claim: &PageClaim<'_>) -> Result<Claim, DatabaseError> {
    let mut session = db.session().await?;
    let window = claim.window.as_secs_f64();
    // A prior claim can vanish between the two statements (its page failed and released it): claim again.
    for _ in 0..3 {
        let won = session
            .query_opt(
                CLAIM,
                &[
                    &claim.dedup_key,
                    &claim.page_id,
                    &claim.requested_by,
                    &claim.channel,
                    &claim.replica,
                    &window,
                ],
            )
            .await?;
        if won.is_some() {
            return Ok(Claim::Claimed);
        }
        if let Some(row) = session.query_opt(PRIOR, &[&claim.dedup_key]).await? {
            let get = |e| DatabaseError::Statement(e);
            return Ok(Claim::Repeat(PriorClaim {
                page_id: row.try_get("page_id").map_err(get)?,
                requested_by: row.try_get("requested_by").map_err(get)?,
                channel: row.try_get("channel").map_err(get)?,
                replica: row.try_get("replica").map_err(get)?,
                started_at: row.try_get("started_at").map_err(get)?,
                incident: row.try_get("incident").map_err(get)?,
            }));
        }
    }
    Err(DatabaseError::Contended)
}

/// Records the incident a claimed page opened, for the repeats that follow. False when the claim is no
/// longer this page's (the window lapsed and another page took it).
pub async fn settle(
    db: &Database,
    dedup_key: &str,
    page_id: &str,
    incident: &serde_json::Value,
) -> Result<bool, DatabaseError> {
    let mut session = db.session().await?;
    let rows = session
        .execute(
            "UPDATE icbot_page_dedup SET incident = $3 WHERE dedup_key = $1 AND page_id = $2",
            &[&dedup_key, &page_id, incident],
        )
        .await?;
    Ok(rows == 1)
}

/// Gives the window up: the page failed, so paging again is the right thing.
pub async fn release(db: &Database, dedup_key: &str, page_id: &str) -> Result<bool, DatabaseError> {
    let mut session = db.session().await?;
    let rows = session
        .execute(
            "DELETE FROM icbot_page_dedup WHERE dedup_key = $1 AND page_id = $2",
            &[&dedup_key, &page_id],
        )
        .await?;
    Ok(rows == 1)
}
