//! This process as one replica of several (`[state] backend = "postgres"`): connects to `DATABASE_URL`,
//! applies the embedded migrations, starts the [`LeaseKeeper`], and tells operators what it is ([`HaFacts`]
//! for `/actors`, `/metrics` and `icbot health`).
//!
//! The database may be unreachable at start: the bot still starts (it answers commands from memory), the
//! role stays `Unknown`, and a task keeps trying the migrations every `renew_every` until they apply; only
//! then does the lease keeper start. A bad schema (a migration that differs from ours) is logged at each
//! try and keeps this replica a non-leader, never a reason to stop answering.
//!
//! Owned by the wiring (`app`): started before the supervision tree, released (the lease ended at once, so
//! another replica takes over on its next try) when the bot stops cleanly.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::database::Database;
use super::fence::Fence;
use super::lease::{LeaseKeeper, LeaseSettings, LeaseView, ReplicaId, Role, LEADER_LEASE};
use super::migrations;
use super::settings::{self, DatabaseUrl, HaSettings, HaTimings, StateBackend};

/// One replica's coordination: the database pool, its role and the lease as last read.
#[derive(Clone)]
pub struct Replica {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    replica: ReplicaId,
    timings: HaTimings,
    role: watch::Receiver<Role>,
    /// Turned `Unknown` by [`Replica::release`] before the lease is ended.
    role_tx: Arc<watch::Sender<Role>>,
    lease: watch::Receiver<Option<LeaseView>>,
    /// When this replica last saw the lease renewed (by anyone), on its monotonic clock.
    renewal_seen: Arc<Mutex<Option<Instant>>>,
    /// The keeper once migrations applied; taken by [`Replica::release`].
    keeper: Arc<Mutex<Option<LeaseKeeper>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("replica", &self.inner.replica)
            .field("role", &*self.inner.role.borrow())
            .finish()
    }
}

impl Replica {
    /// A replica when `[state] backend = "postgres"`, `None` with files; every problem with the settings
    /// (each naming its key, never repeating the URL) otherwise.
    pub fn from_settings(
        backend: StateBackend,
        ha: &HaSettings,
        url: Option<&DatabaseUrl>,
    ) -> Result<Option<Replica>, String> {
        if backend != StateBackend::Postgres {
            return Ok(None);
        }
        let problems = settings::problems(backend, ha, url);
        match (url, ha.timings()) {
            (Some(url), Ok(timings)) if problems.is_empty() => Self::start(url, timings).map(Some),
            _ => Err(problems.join("; ")),
        }
    }

    /// Starts coordinating on `DATABASE_URL`. Fails only on settings that can never work (an unparseable
    /// URL, no TLS roots); an unreachable database is retried in the background.
    pub fn start(url: &DatabaseUrl, timings: HaTimings) -> Result<Replica, String> {
        let db = Database::new(url, timings.statement_timeout).map_err(|e| e.to_string())?;
        Ok(Self::start_on(db, ReplicaId::generate(), timings))
    }

    /// Starts coordinating on an already-built pool (tests point it at a schema of their own).
    pub fn start_on(db: Database, replica: ReplicaId, timings: HaTimings) -> Replica {
        let (role_tx, role) = watch::channel(Role::Unknown("schema not migrated yet".into()));
        let role_tx = Arc::new(role_tx);
        let (lease_tx, lease) = watch::channel(None);
        let renewal_seen = Arc::new(Mutex::new(None));
        let keeper = Arc::new(Mutex::new(None));
        let task = tokio::spawn(run(
            db.clone(),
            replica.clone(),
            timings,
            Published {
                role: role_tx.clone(),
                lease: lease_tx,
                renewal_seen: renewal_seen.clone(),
            },
            keeper.clone(),
        ));
        tracing::info!(replica = %replica, lease = ?timings.lease, renew_every = ?timings.renew_every,
            "coordinating with the other replicas through PostgreSQL");
        Replica {
            inner: Arc::new(Inner {
                db,
                replica,
                timings,
                role,
                role_tx,
                lease,
                renewal_seen,
                keeper,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    pub fn replica(&self) -> &ReplicaId {
        &self.inner.replica
    }

    pub fn timings(&self) -> HaTimings {
        self.inner.timings
    }

    /// The role, as it changes.
    pub fn role(&self) -> watch::Receiver<Role> {
        self.inner.role.clone()
    }

    /// The fence for a leader-only write decided now; `None` unless this replica leads. A leader whose last
    /// renewal it saw is older than the renew deadline (two thirds of the lease) does not lead, even before
    /// its keeper steps down: a process woken from a pause (SIGSTOP) past its lease must not act on the role
    /// it had when it stopped.
    pub fn fence(&self) -> Option<Fence> {
        match &*self.inner.role.borrow() {
            Role::Leader { epoch, .. } if self.renewed_within(self.inner.timings.lease * 2 / 3) => {
                Some(Fence::new(LEADER_LEASE, *epoch))
            }
            _ => None,
        }
    }

    fn renewed_within(&self, deadline: Duration) -> bool {
        self.inner
            .renewal_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|seen| seen.elapsed() < deadline)
    }

    /// What operators see, now.
    pub fn facts(&self) -> HaFacts {
        let role = self.inner.role.borrow().clone();
        let lease = self.inner.lease.borrow().clone();
        let renewal_seen = *self
            .inner
            .renewal_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (role_word, detail) = match &role {
            Role::Leader { .. } => ("leader", None),
            Role::Follower { .. } => ("follower", None),
            Role::Unknown(why) => ("unknown", Some(why.clone())),
        };
        let leader_for_secs = match &role {
            Role::Leader { since, .. } => Some(since.elapsed().as_secs_f64()),
            _ => None,
        };
        HaFacts {
            replica: self.inner.replica.to_string(),
            role: role_word.to_string(),
            role_detail: detail,
            holder: lease.as_ref().map(|l| l.holder.clone()),
            epoch: lease.as_ref().map(|l| l.epoch.0),
            leader_for_secs,
            last_renewal_age_secs: renewal_seen.map(|t| t.elapsed().as_secs_f64()),
            lease_secs: self.inner.timings.lease.as_secs_f64(),
            renewed_at_unix: lease.as_ref().map(|l| unix(l.renewed_at)),
        }
    }

    /// A clean stop: leader work stops, the lease is ended at once so another replica takes over on its
    /// next try. Bounded by the statement timeout.
    pub async fn release(&self) {
        self.inner
            .role_tx
            .send_replace(Role::Unknown("stopping".into()));
        if let Some(task) = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
        let keeper = self
            .inner
            .keeper
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(keeper) = keeper {
            keeper.release().await;
            tracing::info!(replica = %self.inner.replica, "lease released");
        }
    }
}

/// This replica's coordination in `/actors` and `icbot health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HaFacts {
    /// This replica's id in the lease row (host, pid, tag).
    pub replica: String,
    /// `leader`, `follower` or `unknown` (database unreachable, stepped down, not migrated yet).
    pub role: String,
    /// Why the role is `unknown`.
    pub role_detail: Option<String>,
    /// Who holds the lease, as last read.
    pub holder: Option<String>,
    pub epoch: Option<i64>,
    /// How long this replica has led, when it leads.
    pub leader_for_secs: Option<f64>,
    /// How long since this replica last saw the lease renewed (its own renewal when it leads).
    pub last_renewal_age_secs: Option<f64>,
    /// `[ha] lease`.
    pub lease_secs: f64,
    /// The last renewal by the database's clock (seconds since the Unix epoch).
    pub renewed_at_unix: Option<f64>,
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What the background task publishes.
struct Published {
    role: Arc<watch::Sender<Role>>,
    lease: watch::Sender<Option<LeaseView>>,
    renewal_seen: Arc<Mutex<Option<Instant>>>,
}

/// Migrates (retrying until it works), then starts the keeper and mirrors its watches.
async fn run(
    db: Database,
    replica: ReplicaId,
    timings: HaTimings,
    out: Published,
    keeper_slot: Arc<Mutex<Option<LeaseKeeper>>>,
) {
    let budget = (timings.statement_timeout * 5).max(Duration::from_secs(5));
    let mut failures = 0u32;
    loop {
        match migrations::migrate(&db, budget).await {
            Ok(_) => break,
            Err(e) => {
                failures += 1;
                // Loud once, then quieter: an outage at start is one problem, not one per second.
                if failures == 1 || failures.is_power_of_two() {
                    tracing::error!(error = %e, attempts = failures,
                        "cannot prepare the coordination database; no leader work until it can be reached");
                }
                out.role.send_replace(Role::Unknown(format!(
                    "coordination database not ready: {e}"
                )));
                tokio::time::sleep(timings.renew_every).await;
            }
        }
    }
    let keeper = LeaseKeeper::start(
        db,
        LeaseSettings::new(replica, timings.lease, timings.renew_every),
    );
    let mut role = keeper.role();
    let mut lease = keeper.lease();
    *keeper_slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(keeper);
    out.role.send_replace(role.borrow_and_update().clone());
    let mut last_renewed: Option<SystemTime> = None;
    loop {
        tokio::select! {
            changed = role.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = role.borrow_and_update().clone();
                out.role.send_replace(now);
            }
            changed = lease.changed() => {
                if changed.is_err() {
                    return;
                }
                let view = lease.borrow_and_update().clone();
                if let Some(v) = &view {
                    if last_renewed != Some(v.renewed_at) {
                        last_renewed = Some(v.renewed_at);
                        *out.renewal_seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                    }
                }
                out.lease.send_replace(view);
            }
        }
    }
}
