//! The admin HTTP server (`[admin] listen`, default `127.0.0.1:9464`; `listen = ""` turns it off).
//!
//! Endpoints:
//! - `GET /healthz`: 200 `ok` while the process runs.
//! - `GET /readyz`: 200 once the tree is up, the chat adapter is connected and the on-call cache holds a
//!   snapshot (from PagerDuty or the state file), and no child of the root is over its restart budget;
//!   otherwise 503. Both answer a JSON [`Readiness`] naming what is not ready, and what is degraded while
//!   still ready (a `stalk:<channel>` actor over budget, a state file whose latest write failed).
//! - `GET /actors`: JSON [`TreeFacts`]: every actor of the live tree (ractor's registry) with its id, status,
//!   parent, children, restarts, last failure (reason and time) and its own facts: the cache's snapshot age
//!   and last refresh, the pager's last page, the status actor's last check, the stalking channels, each
//!   `stalk:<channel>` actor, and whether chat is connected.
//! - `GET /metrics`: Prometheus text exposition of every metric in [`icbot_actors::metric_names`].
//! - `GET /`: the status page, HTML that refreshes itself every five seconds: readiness, who is on call now
//!   per schedule, the on-call data's age and last refresh, the last check of the system state, the last
//!   pages with their outcome and link, the stalking channels, and each actor's restarts with when and why.
//!   Every answer also carries the `icbot-instance` header (pid and start time).
//! - `POST /actors/{name}/crash`: only with `[admin] chaos = true` (403 otherwise; 404 for an unknown actor),
//!   and, when `ICBOT_ADMIN_TOKEN` is set, only with `Authorization: Bearer <that token>` (401 otherwise):
//!   sends that actor its `Crash` message, a real failure its supervisor handles like any other.
//!
//! Every answer reads what the actors publish and never waits on PagerDuty, monitoring or chat: an actor that
//! must be asked is given [`facts::ASK_TIMEOUT`] (500 ms), and one that is restarting or slow shows as such.
//! No secrets are shown: none reach the actors' facts.
//!
//! Layout: `facts.rs` gathers the tree and readiness, `view.rs` what the status page shows, `routes.rs`
//! answers, `page.rs` renders the HTML, `metrics.rs` owns the Prometheus recorder.

pub mod facts;
pub mod metrics;
pub mod page;
pub mod routes;
pub mod view;

use std::future::Future;

use tokio::net::TcpListener;

pub use facts::{
    ActorFacts, AdminSources, FailureFacts, Moment, Readiness, StateFacts, TreeFacts,
    WriteFailureFacts,
};

/// Serves the admin endpoints on `listener` until `shutdown` resolves. The caller binds, so tests can use
/// `127.0.0.1:0`.
pub async fn serve(
    listener: TcpListener,
    sources: AdminSources,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, routes::router(sources))
        .with_graceful_shutdown(shutdown)
        .await
}
