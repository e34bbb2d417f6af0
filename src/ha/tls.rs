//! TLS to PostgreSQL through rustls, with the `ring` provider the rest of the bot uses (no OpenSSL, no second
//! crypto library).
//!
//! `sslmode=require` verifies the server's certificate chain and host name against the system's roots
//! (`SSL_CERT_FILE` / `SSL_CERT_DIR` add or replace them, as with other rustls programs): stricter than libpq,
//! whose `require` encrypts without checking who answers. `verify-full` and `verify-ca` mean the same here.
//! `sslmode=prefer` (libpq's default) and `disable` connect in clear text: a verifying TLS attempt that fails
//! cannot fall back, so "prefer" would otherwise refuse the self-signed certificates many servers ship with.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Where trusted roots come from.
#[derive(Debug, Clone, Default)]
pub enum TrustRoots {
    /// The operating system's store (plus `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    #[default]
    System,
    /// Exactly these certificates (tests, or a private CA handed in by the wiring).
    Only(Vec<CertificateDer<'static>>),
}

/// The connector for `tokio-postgres`; it is only used when the configuration asks for TLS.
pub fn connector(roots: &TrustRoots) -> Result<MakeRustlsConnect, String> {
    let mut store = RootCertStore::empty();
    match roots {
        TrustRoots::System => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "some system root certificates could not be read");
            }
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err("no trusted root certificates found for sslmode=require (set SSL_CERT_FILE to the database's CA)".into());
            }
        }
        TrustRoots::Only(certs) => {
            for cert in certs {
                store
                    .add(cert.clone())
                    .map_err(|e| format!("a trusted certificate is not usable: {e}"))?;
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
