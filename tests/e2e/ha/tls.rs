//! `sslmode=require` through rustls (ring): the connection is encrypted, and the server's certificate is
//! verified (an untrusted one is refused, unlike libpq's `require`). Uses the test server's own certificate
//! (Debian's PostgreSQL ships with `ssl = on` and a self-signed one for `localhost`) as the only root.

use std::time::Duration;

use icbot::ha::tls::TrustRoots;
use icbot::ha::{Database, DatabaseError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio_postgres::config::SslMode;

use super::test_database::TestDatabase;
use super::STATEMENT;

/// The certificate the test server presents, read from where the server says it is.
async fn server_certificate(test: &TestDatabase) -> Vec<CertificateDer<'static>> {
    let client = test.client().await;
    let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    assert_eq!(
        ssl, "on",
        "the test PostgreSQL has ssl off; turn it on (ssl = on in postgresql.conf) to test sslmode=require"
    );
    let path: String = client
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    let pem = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("cannot read the test server's certificate {path} (is the server on this machine?): {e}")
    });
    CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .expect("a PEM certificate")
}

async fn encrypted(db: &Database) -> Result<bool, DatabaseError> {
    let mut session = db.session().await?;
    let row = session
        .query_opt(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?
        .expect("a row for this connection");
    Ok(row.get(0))
}

#[tokio::test]
async fn sslmode_require_encrypts_and_verifies_the_server() {
    let test = TestDatabase::create("tls").await;
    let roots = server_certificate(&test).await;
    let port = test.server_addr().port();
    let mut config = test.config_at("localhost", port);
    config.ssl_mode(SslMode::Require);

    let trusted =
        Database::with_config(config.clone(), TrustRoots::Only(roots), STATEMENT).unwrap();
    assert!(
        encrypted(&trusted).await.unwrap(),
        "the connection is encrypted"
    );

    let untrusting =
        Database::with_config(config, TrustRoots::Only(Vec::new()), Duration::from_secs(3))
            .unwrap();
    match encrypted(&untrusting).await {
        Err(DatabaseError::Connect(why)) => {
            assert!(
                why.contains("certificate"),
                "refused for its certificate: {why}"
            )
        }
        other => panic!("a server whose certificate is not trusted was accepted: {other:?}"),
    }
}

#[tokio::test]
async fn sslmode_require_comes_from_the_database_url() {
    let url = icbot::ha::DatabaseUrl::new(
        "postgres://icbot:secret@db.example:5432/icbot?sslmode=verify-full",
    );
    let config = url.parse().unwrap();
    assert_eq!(config.get_ssl_mode(), SslMode::Require);
}
