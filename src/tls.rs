//! TLS set-up shared by every HTTPS and SMTPS client: certvigil uses rustls
//! with the *ring* provider only, so the provider is installed once here.

/// Installs *ring* as the process-wide rustls provider. Idempotent; every
/// constructor of an HTTP or SMTP client calls it, so tests need not.
pub fn ensure_crypto_provider() {
    // Err means another provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
