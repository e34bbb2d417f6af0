//! The process's TLS crypto provider: rustls with ring, for every client and server icbot makes (reqwest is
//! built without a provider and will not build a client, even for plain HTTP, until one is installed).

/// Installs ring as the process's provider, unless one is installed already. Call it first thing in `main`
/// and in any test or tool that builds a client; losing a race to another installer is fine.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
