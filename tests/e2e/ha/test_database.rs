//! A schema of its own for each test, in the PostgreSQL named by `ICBOT_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Every connection of the test gets `search_path` set to that
//! schema, and the schema is dropped when the [`TestDatabase`] is dropped, also when the test panics.
//! Schemas left behind by a killed test run are dropped by the next run after an hour.
//!
//! No database reachable is a failure that says how to start one, never a silent skip.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use icbot::ha::tls::TrustRoots;
use icbot::ha::{Database, LeaseKeeper, LeaseSettings, ReplicaId};
use tokio_postgres::{Client, NoTls};

pub const URL_VAR: &str = "ICBOT_TEST_DATABASE_URL";
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const START_IT: &str = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";
const PREFIX: &str = "icbot_test_";
/// Schemas older than this are from runs that were killed before they could clean up.
const STALE_AFTER: Duration = Duration::from_secs(3600);

pub struct TestDatabase {
    schema: String,
    base: tokio_postgres::Config,
    /// Whether dropping this drops the schema (false for a child process using its parent's).
    owned: bool,
}

impl TestDatabase {
    /// A fresh, empty schema named after `tag`.
    pub async fn create(tag: &str) -> TestDatabase {
        let base = base_config();
        let admin = connect(&base).await;
        static SWEEP: Once = Once::new();
        let mut sweep = false;
        SWEEP.call_once(|| sweep = true);
        if sweep {
            drop_stale_schemas(&admin).await;
        }
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let tag: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(24)
            .collect();
        let schema = format!(
            "{PREFIX}{}_{}_{}_{tag}",
            unix_now(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create the test schema {schema}: {e}"));
        TestDatabase {
            schema,
            base,
            owned: true,
        }
    }

    /// The schema another process created (a replica started by a test); left for its owner to drop.
    pub fn attach(schema: &str) -> TestDatabase {
        TestDatabase {
            schema: schema.to_string(),
            base: base_config(),
            owned: false,
        }
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The client configuration of this test's connections: its schema first on the search path, and its
    /// name as application name (so the schema's connections can be found and ended at the drop).
    pub fn config(&self) -> tokio_postgres::Config {
        let mut config = self.base.clone();
        config.options(format!("-c search_path={}", self.schema));
        config.application_name(&self.schema);
        config
    }

    /// `DATABASE_URL` for an `icbot` process on this schema: the test URL with this schema first on the
    /// search path and as application name (so the drop ends its connections too).
    pub fn url(&self) -> String {
        let base = std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_string());
        let schema = &self.schema;
        if base.contains("://") {
            let joint = if base.contains('?') { '&' } else { '?' };
            format!("{base}{joint}options=-c%20search_path%3D{schema}&application_name={schema}")
        } else {
            format!("{base} options='-c search_path={schema}' application_name={schema}")
        }
    }

    /// [`TestDatabase::url`] through `127.0.0.1:port` (a proxy in front of the server). The test URL must
    /// be a URL (`postgres://...`), not libpq's `key=value` form.
    pub fn url_through(&self, port: u16) -> String {
        let mut url = url::Url::parse(&self.url())
            .unwrap_or_else(|e| panic!("{URL_VAR} must be a postgres:// URL for this test: {e}"));
        url.set_host(Some("127.0.0.1")).expect("a host");
        url.set_port(Some(port)).expect("a port");
        url.to_string()
    }

    /// A pool on this schema (the schema is not migrated).
    pub fn database(&self, statement_timeout: Duration) -> Database {
        Database::with_config(self.config(), TrustRoots::System, statement_timeout)
            .expect("a pool for the test database")
    }

    /// A pool on this schema that connects through `127.0.0.1:port` (a proxy in front of the server).
    pub fn database_through(&self, port: u16, statement_timeout: Duration) -> Database {
        Database::with_config(
            self.config_at("127.0.0.1", port),
            TrustRoots::System,
            statement_timeout,
        )
        .expect("a pool for the test database")
    }

    /// This test's configuration with another host and port (`host` and `port` add to a configuration's
    /// list, so this builds one that names only these).
    pub fn config_at(&self, host: &str, port: u16) -> tokio_postgres::Config {
        let base = self.config();
        let mut config = tokio_postgres::Config::new();
        config.host(host).port(port);
        if let Some(user) = base.get_user() {
            config.user(user);
        }
        if let Some(password) = base.get_password() {
            config.password(password);
        }
        if let Some(dbname) = base.get_dbname() {
            config.dbname(dbname);
        }
        if let Some(options) = base.get_options() {
            config.options(options);
        }
        config.application_name(&self.schema);
        config
    }

    /// A pool on this schema, migrated.
    pub async fn migrated(&self, statement_timeout: Duration) -> Database {
        let db = self.database(statement_timeout);
        icbot::ha::migrations::migrate(&db, Duration::from_secs(30))
            .await
            .expect("migrations apply");
        db
    }

    /// A plain client on this schema, for looking at tables.
    pub async fn client(&self) -> Client {
        connect(&self.config()).await
    }

    /// The server's host and port as the test URL names them.
    pub fn server_addr(&self) -> std::net::SocketAddr {
        let host = match self.base.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_string(),
        };
        let port = self.base.get_ports().first().copied().unwrap_or(5432);
        let host = if host == "localhost" {
            "127.0.0.1".to_string()
        } else {
            host
        };
        format!("{host}:{port}")
            .parse()
            .expect("the test database URL names an IP address or localhost")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        // The test's runtime may be the one dropping us, so the drop runs on a runtime of its own.
        let (base, schema) = (self.base.clone(), self.schema.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test schema");
            runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), drop_schema(&base, &schema)).await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(Ok(())))) {
            eprintln!(
                "test schema {} was not dropped; the next run drops it after an hour",
                self.schema
            );
        }
    }
}

/// A keeper on `db` with a short lease (tests wait on its role, bounded by a few leases).
pub fn keeper(db: &Database, replica: &str, lease: Duration, renew_every: Duration) -> LeaseKeeper {
    LeaseKeeper::start(
        db.clone(),
        LeaseSettings::new(ReplicaId(replica.to_string()), lease, renew_every),
    )
}

fn base_config() -> tokio_postgres::Config {
    let url = std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_string());
    url.parse()
        .unwrap_or_else(|e| panic!("{URL_VAR} is not a PostgreSQL connection string: {e}"))
}

async fn connect(config: &tokio_postgres::Config) -> Client {
    let mut config = config.clone();
    config.connect_timeout(Duration::from_secs(5));
    match config.connect(NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            client
        }
        Err(e) => panic!(
            "cannot reach the test PostgreSQL ({URL_VAR}, default {DEFAULT_URL}): {}\n\
             These tests need a real PostgreSQL. Start the local one with:\n    {START_IT}\n\
             or point {URL_VAR} at another (the user must be allowed to create schemas).",
            icbot::ha::database::causes(&e)
        ),
    }
}

async fn drop_schema(
    base: &tokio_postgres::Config,
    schema: &str,
) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = base.connect(NoTls).await?;
    tokio::spawn(connection);
    // A keeper or pool of the test may still hold locks in the schema: end its connections first.
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&schema],
        )
        .await?;
    client
        .batch_execute(&format!(
            "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
        ))
        .await
}

async fn drop_stale_schemas(admin: &Client) {
    let Ok(rows) = admin
        .query(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)",
            &[&PREFIX],
        )
        .await
    else {
        return;
    };
    let now = unix_now();
    for row in rows {
        let name: String = row.get(0);
        let created = name[PREFIX.len()..]
            .split('_')
            .next()
            .and_then(|t| t.parse::<u64>().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > STALE_AFTER.as_secs()) {
            let _ = admin
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .await;
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
