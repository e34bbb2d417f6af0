//! Fenced writes: a leader-only write carries the epoch of the tenure that decided it, and lands only while
//! that tenure is still the live lease. A leader paused past its lease (SIGSTOP, a long GC-like stall, a
//! laptop lid) that wakes up and writes is refused: by then another replica took over and the epoch grew,
//! or nobody did and the lease has lapsed.
//!
//! One fenced write is one transaction: the lease row is checked and share-locked
//! (`SELECT .. FROM icbot_lease WHERE name = $1 AND epoch = $2 AND expires_at > now() FOR SHARE`), then the
//! write runs, then it commits. The share lock makes a takeover (an UPDATE of that row) wait until the
//! write has committed, so no write of an old tenure can land after a new one began; and the caller learns
//! whether it was refused, which a zero row count alone would not tell.

use std::sync::Arc;

use tokio_postgres::types::ToSql;

use super::database::{Database, DatabaseError};
use super::lease::Epoch;

const CHECK: &str = "
SELECT 1 FROM icbot_lease
 WHERE name = $1 AND epoch = $2 AND expires_at > now()
   FOR SHARE";

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
    Written { rows: u64 },
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

    /// Runs `sql` only if this tenure is still the live lease, within the database's statement timeout.
    pub async fn execute(
        &self,
        db: &Database,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<FencedWrite, DatabaseError> {
        let mut session = db.session().await?;
        session.begin().await?;
        let live = session
            .query_opt(CHECK, &[&&*self.lease, &self.epoch.0])
            .await?
            .is_some();
        if !live {
            session.rollback().await?;
            return Ok(FencedWrite::Refused);
        }
        let rows = session.execute(sql, params).await?;
        session.commit().await?;
        Ok(FencedWrite::Written { rows })
    }
}
