//! Leader election by lease: the [`LeaseKeeper`] task of each replica tries, every `renew_every`, to take or
//! renew the row of `icbot_lease` with ONE statement (an UPSERT that succeeds only when the lease has lapsed
//! or is already ours), by the database's clock. It publishes its [`Role`] on a `watch`; leader work starts
//! on `Role::Leader` and stops on anything else.
//!
//! The rules (after Kubernetes client-go's `leaderelection`):
//! - A new tenure (another holder, or the same holder after its lease lapsed) increments `epoch`, the fencing
//!   token that leader-only writes carry ([`super::fence::Fence`]).
//! - A leader that has not renewed by its renew deadline (two thirds of the lease, on the local monotonic
//!   clock, counted from the moment its last successful renewal was SENT) steps down by itself. The lease in
//!   the database runs at least a full lease from that same moment, so the step-down comes a third of a lease
//!   before anyone else can take over: two leaders never act at once, whatever the network does.
//! - Every attempt is bounded (by `renew_every`, and by the renew deadline for a leader); a leader whose
//!   attempt fails retries sooner (`retry_every`) until its deadline.
//! - Dropping the keeper (a crash) leaves the lease to lapse; [`LeaseKeeper::release`] (a clean stop) steps
//!   down first, then ends the lease at once so another replica takes over on its next try.
//!
//! Not supervised by the actor tree: it is a plain task owned by whoever started it (later, the wiring in
//! `app`). It talks only to the database.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::database::{Database, DatabaseError};
use super::fence::Fence;

/// The name of the lease row that makes a replica the leader.
pub const LEADER_LEASE: &str = "leader";

/// The fencing token: grows at each new tenure of a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub i64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who this process is in the lease row: host name, process id and a random tag, so that a restarted
/// process (same host, same pid 1 in a container) is a new holder and starts a new epoch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplicaId(pub String);

impl ReplicaId {
    pub fn generate() -> ReplicaId {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "icbot".to_string());
        let tag = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        ReplicaId(format!(
            "{host}-{}-{:04x}",
            std::process::id(),
            tag & 0xffff
        ))
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What this replica is, as far as it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// It holds the lease: leader work runs, and its writes carry `epoch`. `since` is when the tenure's first
    /// successful attempt was sent (local monotonic clock).
    Leader { epoch: Epoch, since: Instant },
    /// Another replica holds the lease.
    Follower { holder: String, epoch: Epoch },
    /// It does not know (not asked yet, database unreachable, stepped down, stopped): no leader work.
    Unknown(String),
}

impl Role {
    pub fn is_leader(&self) -> bool {
        matches!(self, Role::Leader { .. })
    }
}

/// The lease row as last read, for operators (`/actors`, `/metrics`, `icbot health`). Times are the
/// database's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    pub holder: String,
    pub epoch: Epoch,
    /// Whether this replica is the holder.
    pub mine: bool,
    pub renewed_at: SystemTime,
    pub expires_at: SystemTime,
}

/// The timings of one lease.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// The lease row's name ([`LEADER_LEASE`]).
    pub name: String,
    pub replica: ReplicaId,
    /// How long the lease lasts after each renewal, by the database's clock.
    pub lease: Duration,
    /// How often the leader renews and a follower tries to take over.
    pub renew_every: Duration,
    /// A leader that has not renewed for this long (since sending its last successful renewal) steps down.
    /// Less than `lease`.
    pub renew_deadline: Duration,
    /// How soon a leader tries again after a failed renewal.
    pub retry_every: Duration,
}

impl LeaseSettings {
    /// The leader lease with a renew deadline of two thirds of `lease` and retries four times as often as
    /// renewals.
    pub fn new(replica: ReplicaId, lease: Duration, renew_every: Duration) -> LeaseSettings {
        LeaseSettings {
            name: LEADER_LEASE.to_string(),
            replica,
            lease,
            renew_every,
            renew_deadline: lease * 2 / 3,
            retry_every: (renew_every / 4).max(Duration::from_millis(20)),
        }
    }
}

/// Takes the lease, or renews it, in one statement. `$1` name, `$2` holder, `$3` lease in seconds. The first
/// row says whether it is ours now; when it is not, the row as it stands (in the statement's snapshot).
const ACQUIRE_OR_RENEW: &str = "
WITH attempt AS (
    INSERT INTO icbot_lease AS l (name, holder, epoch, acquired_at, renewed_at, expires_at)
    VALUES ($1, $2, 1, now(), now(), now() + make_interval(secs => $3))
    ON CONFLICT (name) DO UPDATE SET
        holder      = excluded.holder,
        epoch       = CASE WHEN l.holder = excluded.holder AND l.expires_at >= now()
                           THEN l.epoch ELSE l.epoch + 1 END,
        acquired_at = CASE WHEN l.holder = excluded.holder AND l.expires_at >= now()
                           THEN l.acquired_at ELSE now() END,
        renewed_at  = now(),
        expires_at  = excluded.expires_at
    WHERE l.holder = excluded.holder OR l.expires_at < now()
    RETURNING l.holder, l.epoch, l.renewed_at, l.expires_at
)
SELECT true AS mine, holder, epoch, renewed_at, expires_at FROM attempt
UNION ALL
SELECT false, holder, epoch, renewed_at, expires_at FROM icbot_lease
 WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM attempt)";

/// Ends our tenure now, so another replica can take over on its next attempt.
const RELEASE: &str = "
UPDATE icbot_lease SET expires_at = now()
 WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()";

/// One replica's side of one lease: a task, its role and the lease as last read. Dropping it stops the task
/// without releasing the lease (as a crash would); [`LeaseKeeper::release`] is the clean stop.
pub struct LeaseKeeper {
    settings: Arc<LeaseSettings>,
    role_tx: Arc<RoleCell>,
    role: watch::Receiver<Role>,
    lease: watch::Receiver<Option<LeaseView>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl LeaseKeeper {
    /// Starts the task; the role is `Unknown` until the first attempt answers.
    pub fn start(db: Database, settings: LeaseSettings) -> LeaseKeeper {
        let settings = Arc::new(settings);
        let (role_tx, role) = watch::channel(Role::Unknown("not asked yet".into()));
        let role_tx = Arc::new(RoleCell {
            tx: role_tx,
            silenced: AtomicBool::new(false),
        });
        let (lease_tx, lease) = watch::channel(None);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(
            Keeper {
                db,
                settings: settings.clone(),
                role: role_tx.clone(),
                lease: lease_tx,
            }
            .run(stopped),
        );
        LeaseKeeper {
            settings,
            role_tx,
            role,
            lease,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The role, as it changes (renewals within one tenure do not wake watchers).
    pub fn role(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }

    /// The lease row as last read (updated at each attempt).
    pub fn lease(&self) -> watch::Receiver<Option<LeaseView>> {
        self.lease.clone()
    }

    /// The fence for writes of the current tenure, `None` unless leader.
    pub fn fence(&self) -> Option<Fence> {
        match &*self.role.borrow() {
            Role::Leader { epoch, .. } => Some(Fence::new(self.settings.name.as_str(), *epoch)),
            _ => None,
        }
    }

    pub fn replica(&self) -> &ReplicaId {
        &self.settings.replica
    }

    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// Steps down (the role turns `Unknown` first, so leader work stops) and ends the lease at once; waits
    /// for the task, bounded by its statement timeout.
    pub async fn release(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // Anyone still watching must not go on believing this process leads, even if the aborted task
            // is in the middle of a poll on another thread.
            self.role_tx
                .silence(Role::Unknown("lease keeper stopped".into()));
        }
    }
}

/// What the task keeps between attempts while it leads.
struct Tenure {
    epoch: Epoch,
    since: Instant,
    /// Step down at this instant unless a renewal succeeds first.
    deadline: Instant,
}

enum Attempt {
    Mine(LeaseView),
    Theirs(LeaseView),
    /// Lost a race twice in a row: the winner's row was not visible yet.
    Unseen,
}

struct Keeper {
    db: Database,
    settings: Arc<LeaseSettings>,
    role: Arc<RoleCell>,
    lease: watch::Sender<Option<LeaseView>>,
}

/// The role's sender, which the keeper's owner can silence for good when it drops the keeper.
struct RoleCell {
    tx: watch::Sender<Role>,
    silenced: AtomicBool,
}

impl RoleCell {
    /// Publishes `role` unless it is the current one (or the keeper was dropped).
    fn publish(&self, role: Role) {
        self.tx.send_if_modified(|current| {
            if self.silenced.load(Ordering::SeqCst) || *current == role {
                false
            } else {
                *current = role;
                true
            }
        });
    }

    /// The last word: `role` now, and nothing after it.
    fn silence(&self, role: Role) {
        self.tx.send_modify(|current| {
            self.silenced.store(true, Ordering::SeqCst);
            *current = role;
        });
    }
}

impl Keeper {
    async fn run(self, mut stop: oneshot::Receiver<()>) {
        let s = self.settings.clone();
        let mut tenure: Option<Tenure> = None;
        loop {
            let sent = Instant::now();
            if tenure.as_ref().is_some_and(|t| sent >= t.deadline) {
                tenure = None;
                tracing::warn!(lease = %s.name, replica = %s.replica, deadline = ?s.renew_deadline,
                    "stepping down: lease not renewed by its deadline");
                self.publish(Role::Unknown(format!(
                    "stepped down: lease not renewed within {:?}",
                    s.renew_deadline
                )));
            }
            let attempt_deadline = match &tenure {
                Some(t) => (sent + s.renew_every).min(t.deadline),
                None => sent + s.renew_every,
            };
            let outcome = tokio::select! {
                biased;
                _ = &mut stop => break,
                outcome = self.attempt(attempt_deadline) => outcome,
            };
            let next = match outcome {
                Ok(Attempt::Mine(view)) => {
                    let epoch = view.epoch;
                    let since = match &tenure {
                        Some(t) if t.epoch == epoch => t.since,
                        _ => {
                            tracing::info!(lease = %s.name, replica = %s.replica, epoch = %epoch,
                                "became leader");
                            sent
                        }
                    };
                    tenure = Some(Tenure {
                        epoch,
                        since,
                        deadline: sent + s.renew_deadline,
                    });
                    self.publish(Role::Leader { epoch, since });
                    self.lease.send_replace(Some(view));
                    sent + s.renew_every
                }
                Ok(Attempt::Theirs(view)) => {
                    if tenure.take().is_some() {
                        tracing::warn!(lease = %s.name, replica = %s.replica, holder = %view.holder,
                            epoch = %view.epoch, "lost the lease to another replica");
                    }
                    self.publish(Role::Follower {
                        holder: view.holder.clone(),
                        epoch: view.epoch,
                    });
                    self.lease.send_replace(Some(view));
                    sent + s.renew_every
                }
                Ok(Attempt::Unseen) => sent + s.retry_every,
                Err(e) => {
                    tracing::warn!(lease = %s.name, replica = %s.replica, error = %e,
                        leader = tenure.is_some(), "lease attempt failed");
                    if tenure.is_some() {
                        // Keep leading until the deadline; try again soon.
                        sent + s.retry_every
                    } else {
                        self.publish(Role::Unknown(e.to_string()));
                        sent + s.renew_every
                    }
                }
            };
            let wake = match &tenure {
                Some(t) => next.min(t.deadline),
                None => next,
            };
            tokio::select! {
                biased;
                _ = &mut stop => break,
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
        self.publish(Role::Unknown("stopped".into()));
        if let Some(t) = tenure {
            match self.release(t.epoch).await {
                Ok(()) => tracing::info!(lease = %s.name, replica = %s.replica, epoch = %t.epoch,
                    "released the lease"),
                Err(e) => tracing::warn!(lease = %s.name, replica = %s.replica, error = %e,
                    "could not release the lease; it will lapse"),
            }
        }
    }

    fn publish(&self, role: Role) {
        self.role.publish(role);
    }

    async fn attempt(&self, deadline: Instant) -> Result<Attempt, DatabaseError> {
        let s = &self.settings;
        let mut session = self.db.session_until(deadline).await?;
        let lease_secs = s.lease.as_secs_f64();
        for _ in 0..2 {
            let row = session
                .query_opt(ACQUIRE_OR_RENEW, &[&s.name, &s.replica.0, &lease_secs])
                .await?;
            if let Some(row) = row {
                let view = LeaseView {
                    mine: row.try_get("mine").map_err(DatabaseError::Statement)?,
                    holder: row.try_get("holder").map_err(DatabaseError::Statement)?,
                    epoch: Epoch(row.try_get("epoch").map_err(DatabaseError::Statement)?),
                    renewed_at: row
                        .try_get("renewed_at")
                        .map_err(DatabaseError::Statement)?,
                    expires_at: row
                        .try_get("expires_at")
                        .map_err(DatabaseError::Statement)?,
                };
                return Ok(if view.mine {
                    Attempt::Mine(view)
                } else {
                    Attempt::Theirs(view)
                });
            }
        }
        Ok(Attempt::Unseen)
    }

    async fn release(&self, epoch: Epoch) -> Result<(), DatabaseError> {
        let s = &self.settings;
        let mut session = self.db.session().await?;
        session
            .execute(RELEASE, &[&s.name, &s.replica.0, &epoch.0])
            .await?;
        Ok(())
    }
}
