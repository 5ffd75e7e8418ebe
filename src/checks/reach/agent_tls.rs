//! The probe agent's certificate: files the operator brings
//! (`--tls-cert`/`--tls-key`), or a self-signed one kept in a directory
//! (`--tls-self-signed DIR`), generated on first start and reused after, so
//! the fingerprint the daemon pins (`[[vantage]] tls_fingerprint`) stays
//! valid across restarts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

use crate::tls::Fingerprint;

/// File names inside a `--tls-self-signed` directory.
pub const SELF_SIGNED_CERT: &str = "agent-cert.pem";
pub const SELF_SIGNED_KEY: &str = "agent-key.pem";

#[derive(Debug, Error)]
pub enum AgentTlsError {
    #[error("cannot read {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("cannot write {path}: {detail}")]
    Write { path: PathBuf, detail: String },
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    #[error("the certificate and key do not make a TLS server: {0}")]
    Config(String),
}

/// A TLS server configuration and the fingerprint of its certificate.
pub struct AgentCertificate {
    pub config: Arc<rustls::ServerConfig>,
    pub fingerprint: Fingerprint,
}

/// From PEM files: the certificate chain (leaf first) and its key.
pub fn from_files(cert: &Path, key: &Path) -> Result<AgentCertificate, AgentTlsError> {
    let read = |path: &Path, e: &dyn std::fmt::Display| AgentTlsError::Read {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| read(cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read(cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| read(key, &e))?;
    build(chain, key, cert)
}

/// The self-signed certificate kept in `dir`, generated there (key
/// readable by the owner only) when the directory holds none yet.
pub fn self_signed(dir: &Path) -> Result<AgentCertificate, AgentTlsError> {
    let cert = dir.join(SELF_SIGNED_CERT);
    let key = dir.join(SELF_SIGNED_KEY);
    match (cert.exists(), key.exists()) {
        (false, false) => generate(dir, &cert, &key)?,
        (true, true) => {}
        // Never regenerate over one half: the operator pinned the other.
        (true, false) | (false, true) => {
            let (present, absent) = if cert.exists() {
                (&cert, &key)
            } else {
                (&key, &cert)
            };
            return Err(AgentTlsError::Read {
                path: absent.clone(),
                detail: format!(
                    "it is missing while {} exists; restore it, or remove both to generate a new certificate (and pin its fingerprint again)",
                    present.display()
                ),
            });
        }
    }
    from_files(&cert, &key)
}

fn generate(dir: &Path, cert: &Path, key: &Path) -> Result<(), AgentTlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let write_err = |path: &Path, e: std::io::Error| AgentTlsError::Write {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    // The names do not matter to a client that pins the fingerprint; they
    // only make the certificate readable to a person.
    let generated = rcgen::generate_simple_self_signed(vec!["certvigil-probe-agent".to_string()])
        .map_err(|e| AgentTlsError::Generate(e.to_string()))?;
    // The key first, created 0600 (never readable by others, not even for
    // a moment); both are generated only when both are absent, and a half
    // left by a crash is reported, not silently replaced.
    let mut k = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(key)
        .map_err(|e| write_err(key, e))?;
    k.write_all(generated.signing_key.serialize_pem().as_bytes())
        .and_then(|()| k.sync_all())
        .map_err(|e| write_err(key, e))?;
    std::fs::write(cert, generated.cert.pem()).map_err(|e| write_err(cert, e))?;
    Ok(())
}

fn build(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
) -> Result<AgentCertificate, AgentTlsError> {
    let Some(leaf) = chain.first() else {
        return Err(AgentTlsError::NoCertificate {
            path: cert_path.to_path_buf(),
        });
    };
    let fingerprint = Fingerprint::of(leaf);
    crate::tls::ensure_crypto_provider();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AgentTlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| AgentTlsError::Config(e.to_string()))?;
    // The agent speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(AgentCertificate {
        config: Arc::new(config),
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = self_signed(dir.path()).unwrap();
        let second = self_signed(dir.path()).unwrap();
        assert_eq!(first.fingerprint, second.fingerprint);
        let pem = std::fs::read_to_string(dir.path().join(SELF_SIGNED_CERT)).unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(Fingerprint::of(&der), first.fingerprint);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(SELF_SIGNED_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is the owner's only: {mode:o}");
        // Half a pair is reported, never replaced behind the pin's back.
        std::fs::remove_file(dir.path().join(SELF_SIGNED_CERT)).unwrap();
        let Err(e) = self_signed(dir.path()) else {
            panic!("a key without its certificate must be refused");
        };
        assert!(e.to_string().contains("is missing while"), "{e}");
        assert!(!dir.path().join(SELF_SIGNED_CERT).exists());
    }
}
