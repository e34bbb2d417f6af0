//! A schema of its own on the test PostgreSQL (`ICBOT_TEST_DATABASE_URL`) for a bench that runs replicas with
//! `[state] backend = "postgres"`, dropped at the end.

use tokio_postgres::{Client, NoTls};

pub struct BenchSchema {
    admin: Client,
    schema: String,
    /// The database URL whose connections use the schema.
    pub url: String,
}

impl BenchSchema {
    /// Creates `icbot_test_<pid>_bench_<tag>`.
    pub async fn create(tag: &str) -> BenchSchema {
        let base_url = std::env::var("ICBOT_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let (admin, connection) = base_url
            .parse::<tokio_postgres::Config>()
            .expect("ICBOT_TEST_DATABASE_URL parses")
            .connect(NoTls)
            .await
            .expect("the test PostgreSQL answers (see docs/HA.md, Tests)");
        tokio::spawn(connection);
        let schema = format!("icbot_test_{}_bench_{tag}", std::process::id());
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create schema");
        let joint = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{joint}options=-c%20search_path%3D{schema}");
        BenchSchema { admin, schema, url }
    }

    /// The level of what the stalking `channel` was last told, as the leader recorded it in `icbot_stalk`.
    pub async fn stalk_recorded(&self, channel: &str) -> Option<String> {
        let row = self
            .admin
            .query_opt(
                &format!(
                    "SELECT last_posted #>> '{{state,Known,level}}' FROM {}.icbot_stalk WHERE channel = $1",
                    self.schema
                ),
                &[&channel],
            )
            .await
            .ok()??;
        row.get::<_, Option<String>>(0)
    }

    /// Ends the connections still on the schema and drops it.
    pub async fn drop_schema(self) {
        let schema = self.schema;
        let _ = self
            .admin
            .batch_execute(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
                 AND query LIKE '%{schema}%'; DROP SCHEMA IF EXISTS {schema} CASCADE"
            ))
            .await;
    }
}
