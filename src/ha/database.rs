//! The connection to the coordination database: a small pool of `tokio-postgres` connections
//! (`deadpool-postgres`), TLS through rustls, and a [`Session`] that bounds every statement by a deadline.
//!
//! A connection whose statement timed out or failed is dropped, never handed back to the pool: after a
//! timeout it may be hung (a cut network, a frozen server), and after an error it may sit in an aborted
//! transaction. Connecting again is cheap next to sending the next statement down a dead socket.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio::time::Instant;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::settings::DatabaseUrl;
use super::tls::{self, TrustRoots};

/// Connections kept open at most; the lease keeper uses one, the rest are for the shared state.
const POOL_SIZE: usize = 8;

/// Why a database operation did not happen (or may not have: see [`DatabaseError::Timeout`]).
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The deadline passed first; whether a write landed is unknown.
    #[error("the coordination database did not answer within {0:?}")]
    Timeout(Duration),
    /// No connection: refused, unreachable, authentication or TLS failed.
    #[error("cannot connect to the coordination database: {0}")]
    Connect(String),
    /// The database answered with an error (or the connection broke mid-statement).
    #[error("the coordination database failed a statement: {}", causes(.0))]
    Statement(#[source] tokio_postgres::Error),
    /// Embedded schema migrations failed.
    #[error("schema migration failed: {0}")]
    Migration(String),
    /// A claim kept losing races to rows that vanished before they could be read; try again.
    #[error("the coordination database kept changing under a claim")]
    Contended,
    /// The settings cannot make a client (bad `DATABASE_URL`, no TLS roots).
    #[error("{0}")]
    Config(String),
}

/// An error and its causes, `outer: inner: innermost`: `tokio-postgres` keeps the server's message (and
/// the refused connection's reason) in the cause, not in its own text.
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A pool of connections to one database. Cheap to clone; connects lazily, on the first [`Session`].
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    statement_timeout: Duration,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("Database")
            .field("connections", &status.size)
            .field("idle", &status.available)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

impl Database {
    /// A pool for `DATABASE_URL`, trusting the system's roots for `sslmode=require`. No I/O happens here.
    pub fn new(url: &DatabaseUrl, statement_timeout: Duration) -> Result<Database, DatabaseError> {
        let config = url.parse().map_err(DatabaseError::Config)?;
        Self::with_config(config, TrustRoots::System, statement_timeout)
    }

    /// A pool for an already-built client configuration (tests add `options` such as a `search_path`).
    pub fn with_config(
        mut config: tokio_postgres::Config,
        roots: TrustRoots,
        statement_timeout: Duration,
    ) -> Result<Database, DatabaseError> {
        let connector = match config.get_ssl_mode() {
            SslMode::Require => tls::connector(&roots),
            // Never used: see `tls` for why "prefer" means clear text here.
            _ => {
                config.ssl_mode(SslMode::Disable);
                tls::connector(&TrustRoots::Only(Vec::new()))
            }
        }
        .map_err(DatabaseError::Config)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(statement_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("icbot");
        }
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| DatabaseError::Config(format!("connection pool: {e}")))?;
        Ok(Database {
            pool,
            statement_timeout,
        })
    }

    pub fn statement_timeout(&self) -> Duration {
        self.statement_timeout
    }

    /// A session whose statements must all finish within the statement timeout from now.
    pub async fn session(&self) -> Result<Session, DatabaseError> {
        self.session_until(Instant::now() + self.statement_timeout)
            .await
    }

    /// A session whose connecting and statements must all finish by `deadline`.
    pub async fn session_until(&self, deadline: Instant) -> Result<Session, DatabaseError> {
        let budget = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout_at(deadline, self.pool.get()).await {
            Err(_) => Err(DatabaseError::Timeout(budget)),
            Ok(Err(e)) => Err(DatabaseError::Connect(causes(&e))),
            Ok(Ok(client)) => Ok(Session {
                client: Some(client),
                deadline,
                budget,
                in_flight: false,
            }),
        }
    }
}

/// One pooled connection, borrowed until a deadline. Every statement is bounded by that deadline; on a
/// timeout or an error the connection is dropped, and so it is when the session is dropped mid-statement (a
/// cancelled future must not hand a half-used connection to the next caller).
pub struct Session {
    client: Option<Object>,
    deadline: Instant,
    budget: Duration,
    in_flight: bool,
}

impl Session {
    pub async fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, DatabaseError> {
        let deadline = self.deadline;
        let client = self.start()?;
        let outcome = tokio::time::timeout_at(deadline, client.query(sql, params)).await;
        self.settle(outcome)
    }

    pub async fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, DatabaseError> {
        let deadline = self.deadline;
        let client = self.start()?;
        let outcome = tokio::time::timeout_at(deadline, client.query_opt(sql, params)).await;
        self.settle(outcome)
    }

    pub async fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, DatabaseError> {
        let deadline = self.deadline;
        let client = self.start()?;
        let outcome = tokio::time::timeout_at(deadline, client.execute(sql, params)).await;
        self.settle(outcome)
    }

    /// Statements without parameters, sent as one simple query (one implicit transaction). Prefer single
    /// statements to transactions over several round trips: a client paused mid-transaction (SIGSTOP) keeps
    /// its locks for as long as it stays paused.
    pub async fn batch(&mut self, sql: &str) -> Result<(), DatabaseError> {
        let deadline = self.deadline;
        let client = self.start()?;
        let outcome = tokio::time::timeout_at(deadline, client.batch_execute(sql)).await;
        self.settle(outcome)
    }

    /// The raw client, for libraries that want one (migrations). The caller bounds its own time, and must
    /// call [`Session::discard`] when it gave up on a call midway.
    pub(crate) fn client_mut(&mut self) -> Result<&mut tokio_postgres::Client, DatabaseError> {
        match self.client.as_mut() {
            Some(object) => Ok(&mut ***object),
            None => Err(DatabaseError::Connect("connection already dropped".into())),
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Drops the connection instead of returning it to the pool.
    pub fn discard(&mut self) {
        if let Some(object) = self.client.take() {
            drop(Object::take(object));
        }
    }

    fn start(&mut self) -> Result<&Object, DatabaseError> {
        self.in_flight = true;
        self.client
            .as_ref()
            .ok_or_else(|| DatabaseError::Connect("connection already dropped".into()))
    }

    fn settle<T>(
        &mut self,
        outcome: Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>,
    ) -> Result<T, DatabaseError> {
        self.in_flight = false;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.discard();
                Err(DatabaseError::Statement(e))
            }
            Err(_) => {
                self.discard();
                Err(DatabaseError::Timeout(self.budget))
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.in_flight {
            self.discard();
        }
    }
}
