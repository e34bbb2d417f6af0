//! The schema of the coordination database, embedded in the binary (`src/ha/migrations/V*.sql`, run by
//! `refinery` at start, recorded in `icbot_schema_history`). Every replica runs them at start: an advisory
//! lock (per schema) lets one apply them while the others wait, then find nothing left to do.
//!
//! Rolling upgrades: a migration must keep the previous release working (add, never rename or drop in the
//! same release), and a replica started from an older binary accepts a history with migrations it does not
//! know; it refuses one whose applied migration differs from its own copy.
//!
//! # Tables
//! All times are the database's clock (`now()`), so replicas whose clocks disagree still agree on them.
//!
//! - `icbot_lease`: one row per lease name (`leader`): `holder` (a replica id), `epoch`, `acquired_at`,
//!   `renewed_at`, `expires_at`. Written only by the one-statement acquire-or-renew of
//!   [`super::lease`]; `epoch` grows at each new tenure and is the fencing token of leader-only writes.
//! - `icbot_oncall_snapshot`: one row (`id = true`): the on-call snapshot as JSON, `taken_at` (when it was
//!   fetched from PagerDuty), `epoch` of the leader that wrote it. The leader refreshes from PagerDuty and
//!   writes it through a [`super::fence::Fence`]; followers read it, so the rate limit is spent once.
//! - `icbot_stalk`: one row per stalking channel: `target` (what is watched, JSON), `since`, `last_posted`
//!   (the state last posted to the channel, JSON, null before the first post), `last_posted_at`, `epoch` of
//!   the leader that posted it, `updated_at`. Any replica inserts or deletes a row (`!stalk` / `!unstalk`
//!   reach whichever replica Slack chose); only the leader writes `last_posted`, fenced, after posting, so
//!   a new leader knows what the room was last told and does not post it twice.
//! - `icbot_page_audit`: append-only, one row per page and `kind` (`started` before PagerDuty is called,
//!   `outcome` after): `page_id`, `record` (JSON), `at` (when it happened, by the replica that paged; a
//!   record spooled during an outage is written later), `replica`, `written_at`. `UNIQUE (page_id, kind)`
//!   makes replaying a spool harmless. Not fenced: every replica pages.
//! - `icbot_page_dedup`: one row per set of paged people (`dedup_key`, unique): `page_id`, `requested_by`,
//!   `channel`, `replica`, `started_at`, `expires_at` (end of the dedup window), `incident` (JSON, null
//!   while the page is in flight). See [`super::page_dedup`]: a claim is one statement, so two replicas
//!   racing to page the same people open one incident.
//! - `icbot_slack_event`: Events API `event_id`s already handled, with `seen_at` and `expires_at`; see
//!   [`super::slack_events`].
//! - `icbot_followed_incident` (V2): one row per incident whose card the bot keeps true: `incident_id`,
//!   `channel`, `card_ts`, `followed` (the card's message and page reply, JSON: its card holds the last
//!   seen state), `status`, `replica` (who posted the card), `epoch` (of the leader that last wrote the
//!   state), `followed_at`, `updated_at`. Any replica inserts when it posts a card; the leader alone
//!   updates and deletes, fenced. See [`super::followed_incidents`].

use std::time::Duration;

use tokio::time::Instant;

use super::database::{causes, Database, DatabaseError};

mod embedded {
    refinery::embed_migrations!("src/ha/migrations");
}

/// Where `refinery` records what it applied.
pub const HISTORY_TABLE: &str = "icbot_schema_history";

/// One advisory lock per schema, so that two databases' worth of tests in one server do not wait on
/// each other.
const LOCK_KEY: &str = "hashtext(coalesce(current_schema(), '') || '.icbot_schema_history')";

/// Applies the embedded migrations not applied yet, waiting for a replica that is applying them. Returns
/// the names of those this call applied (empty when the schema was already current).
pub async fn migrate(db: &Database, budget: Duration) -> Result<Vec<String>, DatabaseError> {
    let deadline = Instant::now() + budget;
    let mut session = db.session_until(deadline).await?;
    session
        .execute(&format!("SELECT pg_advisory_lock({LOCK_KEY})"), &[])
        .await?;
    let mut runner = embedded::migrations::runner()
        .set_abort_missing(false)
        .set_abort_divergent(true);
    runner.set_migration_table_name(HISTORY_TABLE);
    let client = session.client_mut()?;
    let report = match tokio::time::timeout_at(deadline, runner.run_async(client)).await {
        Err(_) => {
            session.discard();
            return Err(DatabaseError::Timeout(budget));
        }
        Ok(Err(e)) => {
            session.discard();
            return Err(DatabaseError::Migration(causes(&e)));
        }
        Ok(Ok(report)) => report,
    };
    session
        .execute(&format!("SELECT pg_advisory_unlock({LOCK_KEY})"), &[])
        .await?;
    let applied: Vec<String> = report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect();
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "coordination database schema migrated");
    }
    Ok(applied)
}

/// The embedded migrations' names, in order (`V1__coordination`, ...).
pub fn embedded_migrations() -> Vec<String> {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect()
}
