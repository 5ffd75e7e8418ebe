//! TLS set-up shared by every HTTPS and SMTPS client: certvigil uses rustls
//! with the *ring* provider only, so the provider is installed once here.

/// Installs *ring* as the process-wide rustls provider. Idempotent; every
/// constructor of an HTTP or SMTP client calls it, so tests need not.
pub fn ensure_crypto_provider() {
    // Err means another provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// The SHA-256 digest of a certificate (its DER bytes), as a probe agent
/// prints it at start and a `[[vantage]] tls_fingerprint` pins it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The digest of `der`, one certificate.
    pub fn of(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// Parses `sha256:` followed by 64 hex digits. Colons between byte
    /// pairs (as `openssl x509 -fingerprint -sha256` prints them) and
    /// upper case are accepted; the prefix may be left out.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let hex_part = match t.split_once(':') {
            Some((algo, rest)) if algo.eq_ignore_ascii_case("sha256") => rest,
            Some((algo, _)) if algo.len() > 2 => {
                return Err(format!(
                    "{algo:?} is not a fingerprint algorithm; write sha256:<64 hex digits>"
                ));
            }
            _ => t,
        };
        let digits: String = hex_part.chars().filter(|c| *c != ':').collect();
        let mut out = [0u8; 32];
        match hex::decode_to_slice(&digits, &mut out) {
            Ok(()) => Ok(Self(out)),
            Err(_) => Err(format!(
                "{text:?} is not a SHA-256 fingerprint; write sha256:<64 hex digits>, as `certvigil probe serve` prints it"
            )),
        }
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A rustls client configuration that accepts exactly one server
/// certificate, by its fingerprint, whatever its names, issuer or dates:
/// a self-signed agent certificate is trusted because the operator copied
/// its fingerprint, not because a CA vouched for it. The handshake
/// signature is still verified, so only the holder of the key passes.
pub fn pinned_client_config(pin: Fingerprint) -> rustls::ClientConfig {
    ensure_crypto_provider();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedVerifier { pin, provider }))
        .with_no_client_auth()
}

#[derive(Debug)]
struct PinnedVerifier {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = Fingerprint::of(end_entity);
        if seen == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the server's certificate is {seen}, not the pinned {}",
                self.pin
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_the_usual_spellings() {
        let hex64 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let fp = Fingerprint::parse(&format!("sha256:{hex64}")).unwrap();
        assert_eq!(fp.to_string(), format!("sha256:{hex64}"));
        let colons = hex64
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(Fingerprint::parse(&format!("SHA256:{colons}")).unwrap(), fp);
        assert_eq!(Fingerprint::parse(hex64).unwrap(), fp);
        assert!(Fingerprint::parse("sha1:0011").is_err());
        assert!(Fingerprint::parse(&format!("sha256:{}", &hex64[2..])).is_err());
    }
}
