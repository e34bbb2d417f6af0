//! Fenced writes: a leader-only write carries the epoch of the tenure that decided it, and lands only while
//! that tenure is still the live lease. A leader paused past its lease (SIGSTOP, a stall, a suspended VM)
//! that wakes up and writes is refused: by then another replica took over and the epoch grew, or nobody did
//! and the lease has lapsed.
//!
//! A fenced write is ONE statement: the caller writes its INSERT / UPDATE / DELETE with the marker
//! [`FENCE`] where a condition goes, and it becomes
//! `EXISTS (SELECT 1 FROM icbot_lease WHERE name = $1 AND epoch = $2 AND expires_at > now() FOR SHARE)`
//! (the caller's own parameters are `$3` on). The share lock makes a takeover (an UPDATE of that row) wait
//! until the write has committed, so no write of an old tenure lands after a new one began. It is held only
//! while the server runs the statement: a transaction spanning several round trips would let a paused leader
//! hold the lease row locked, and so block every takeover, for as long as it stays paused.

use std::sync::Arc;

use tokio_postgres::types::ToSql;

use super::database::{Database, DatabaseError};
use super::lease::Epoch;

/// The marker a fenced statement puts where the fence's condition goes.
pub const FENCE: &str = "{fence}";

const LIVE: &str = "EXISTS (SELECT 1 FROM icbot_lease \
     WHERE name = $1 AND epoch = $2 AND expires_at > now() FOR SHARE)";

/// The epoch of one tenure of one lease, to carry on leader-only writes. Get it from
/// [`super::lease::LeaseKeeper::fence`] when the work is decided, not when it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    lease: Arc<str>,
    epoch: Epoch,
}

/// What became of a fenced write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FencedWrite {
    /// The tenure was live and the statement ran; `rows` it touched.
    Written { rows: i64 },
    /// The tenure is over (another epoch, or the lease lapsed): nothing was written.
    Refused,
}

impl Fence {
    pub fn new(lease: &str, epoch: Epoch) -> Fence {
        Fence {
            lease: Arc::from(lease),
            epoch,
        }
    }

    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    pub fn lease(&self) -> &str {
        &self.lease
    }

    /// Runs `statement` (an INSERT, UPDATE or DELETE without RETURNING, containing [`FENCE`] once, with its
    /// parameters numbered from `$3`) only while this tenure is the live lease, within the statement timeout.
    /// `$2` is the epoch (a `bigint`), for statements that record who wrote.
    pub async fn execute(
        &self,
        db: &Database,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<FencedWrite, DatabaseError> {
        if statement.matches(FENCE).count() != 1 {
            return Err(DatabaseError::Config(format!(
                "a fenced statement must contain {FENCE} exactly once"
            )));
        }
        let sql = format!(
            "WITH written AS ({} RETURNING 1) \
             SELECT {LIVE} AS live, (SELECT count(*) FROM written) AS rows",
            statement.replace(FENCE, LIVE)
        );
        let lease: &str = &self.lease;
        let mut all: Vec<&(dyn ToSql + Sync)> = vec![&lease, &self.epoch.0];
        all.extend_from_slice(params);
        let mut session = db.session().await?;
        let rows = session.query(&sql, &all).await?;
        let row = rows.first().ok_or_else(|| {
            DatabaseError::Config("a fenced statement returned no row".to_string())
        })?;
        let live: bool = row.try_get("live").map_err(DatabaseError::Statement)?;
        let written: i64 = row.try_get("rows").map_err(DatabaseError::Statement)?;
        Ok(if written > 0 || live {
            FencedWrite::Written { rows: written }
        } else {
            FencedWrite::Refused
        })
    }
}
