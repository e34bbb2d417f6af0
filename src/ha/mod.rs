//! High availability: several replicas on one PostgreSQL, one leader by lease. This folder owns the
//! coordination database (connection, schema, lease, fencing, and the shared tables' statements); it knows
//! nothing of actors or chat. The wiring (`app`, later) starts a [`lease::LeaseKeeper`], runs leader work
//! while its role is `Leader`, and stores shared state through the table modules. Design: `docs/HA.md`.
//!
//! Layout:
//! - `settings`: `[state] backend`, `[ha]` timings, `DATABASE_URL` (a secret) and their checks.
//! - `tls`: rustls (ring) for `sslmode=require`.
//! - `database`: the connection pool and [`database::Session`], whose statements all have a deadline.
//! - `migrations`: the embedded schema (`migrations/V*.sql`), applied at start; documents every table.
//! - `lease`: [`lease::LeaseKeeper`], leader election by a lease row and the database's clock; [`lease::Role`].
//! - `fence`: [`fence::Fence`], leader-only writes that a stale leader cannot make.
//! - `oncall_snapshot`: the shared on-call snapshot (leader writes, fenced; all read).
//! - `page_dedup`: one page per set of people per window, across replicas.
//! - `page_audit`: the page audit every replica writes (replays of a local spool land once).
//! - `followed_incidents`: the incidents whose cards the leader keeps true (any replica adds, leader writes).
//! - `slack_events`: Events API `event_id`s handled by any replica.
//! - `stalks`: the stalking channels (any replica adds and removes; the leader records posts, fenced).
//! - `coordination`: the core's `Coordination` port over these tables (role, shared snapshot, pages, stalks).
//! - `replica`: this process as one replica: connect, migrate, lease keeper, what operators see.

pub mod coordination;
pub mod database;
pub mod fence;
pub mod followed_incidents;
pub mod lease;
pub mod migrations;
pub mod oncall_snapshot;
pub mod page_audit;
pub mod page_dedup;
pub mod replica;
pub mod settings;
pub mod slack_events;
pub mod stalks;
pub mod tls;

pub use coordination::PostgresCoordination;
pub use database::{Database, DatabaseError, Session};
pub use fence::{Fence, FencedWrite};
pub use lease::{Epoch, LeaseKeeper, LeaseSettings, LeaseView, ReplicaId, Role, LEADER_LEASE};
pub use replica::{HaFacts, Replica};
pub use settings::{DatabaseUrl, HaSettings, HaTimings, StateBackend};
