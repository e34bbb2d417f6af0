//! Incidents followed after their page, shared by the replicas (`icbot_followed_incident`): any replica
//! adds the incident of a card it posted; the leader alone polls PagerDuty, keeps the cards true and writes
//! what each card last showed (or drops a resolved incident), fenced by its epoch. A new leader reads the
//! set and carries on from the last state a live leader recorded. The JSON is whatever the core's followed
//! card serializes to; this module does not look inside.

use super::database::{Database, DatabaseError};
use super::fence::{Fence, FencedWrite};

/// One followed incident as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowedRow<'a> {
    pub incident_id: &'a str,
    pub channel: &'a str,
    pub card_ts: &'a str,
    pub followed: &'a serde_json::Value,
    pub status: &'a str,
}

const FOLLOW: &str = "
INSERT INTO icbot_followed_incident (incident_id, channel, card_ts, followed, status, replica)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (incident_id) DO UPDATE SET
       channel = excluded.channel, card_ts = excluded.card_ts, followed = excluded.followed,
       status = excluded.status, replica = excluded.replica, epoch = NULL, updated_at = now()";

/// Adds (or replaces, for a newer card) a followed incident. Any replica.
pub async fn follow(
    db: &Database,
    replica: &str,
    row: &FollowedRow<'_>,
) -> Result<(), DatabaseError> {
    let mut session = db.session().await?;
    session
        .execute(
            FOLLOW,
            &[
                &row.incident_id,
                &row.channel,
                &row.card_ts,
                row.followed,
                &row.status,
                &replica,
            ],
        )
        .await?;
    Ok(())
}

/// Every followed incident's JSON, oldest first.
pub async fn load(db: &Database) -> Result<Vec<serde_json::Value>, DatabaseError> {
    let mut session = db.session().await?;
    let rows = session
        .query(
            "SELECT followed FROM icbot_followed_incident ORDER BY followed_at, incident_id",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| row.try_get("followed").map_err(DatabaseError::Statement))
        .collect()
}

const UPDATE: &str = "
UPDATE icbot_followed_incident
   SET followed = $4, status = $5, epoch = $2, updated_at = now()
 WHERE incident_id = $3 AND card_ts = $6 AND {fence}";

/// Records what the card of `row` shows now, if `fence`'s tenure is still the live lease. A row whose card
/// was replaced meanwhile (another card for the same incident) is left alone.
pub async fn update(
    db: &Database,
    fence: &Fence,
    row: &FollowedRow<'_>,
) -> Result<FencedWrite, DatabaseError> {
    fence
        .execute(
            db,
            UPDATE,
            &[&row.incident_id, row.followed, &row.status, &row.card_ts],
        )
        .await
}

const UNFOLLOW: &str = "
DELETE FROM icbot_followed_incident WHERE incident_id = $3 AND card_ts = $4 AND {fence}";

/// Stops following a resolved incident, if `fence`'s tenure is still the live lease.
pub async fn unfollow(
    db: &Database,
    fence: &Fence,
    incident_id: &str,
    card_ts: &str,
) -> Result<FencedWrite, DatabaseError> {
    fence.execute(db, UNFOLLOW, &[&incident_id, &card_ts]).await
}
