//! A pinned certificate: the SHA-256 digest of its DER bytes, as a probe
//! agent prints it at start and a `[[vantage]] tls_fingerprint` pins it.
//! Parsing and printing only; the handshake that enforces a pin is the
//! `certvigil` crate's `tls` module.

use std::fmt;

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
