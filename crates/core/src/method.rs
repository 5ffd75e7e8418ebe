//! How a CA will validate control of a name: parsed once, from the config's
//! `validation_method` or `check --validation-method`, and typed from then
//! on (ARCHITECTURE.md: values are parsed into types once).
//!
//! Two things depend on it, and the type keeps them apart:
//! - RFC 8657 `validationmethods` binds a CAA property to ACME challenge
//!   types (`http-01`, `dns-01`, `tls-alpn-01`) or CA-specific `ca-*`
//!   labels. Only an [`AcmeMethod`] can reach the CAA judge
//!   (`IssuanceRequest::validation_method` holds one), so the non-ACME
//!   `file` and `dns` methods never bind to a record parameter and never
//!   end up in a suggested record such as `validationmethods=file`.
//! - Reachability probing (the validation path over HTTP) is decided by
//!   [`ValidationMethod::probed_over_http`]: `file` and `http-01`.

use std::fmt;

use thiserror::Error;

/// The values the config and `--validation-method` accept, for messages.
pub const ACCEPTED: &str = "\"file\", \"dns\", \"http-01\", \"dns-01\", \"tls-alpn-01\", or a CA-specific \"ca-...\" label (RFC 8657 §4)";

/// The method an order will be validated with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ValidationMethod {
    /// A file under `/.well-known/pki-validation/` fetched over HTTP(S)
    /// (BR §3.2.2.4.18), outside ACME.
    File,
    /// A DNS record the user publishes (BR §3.2.2.4.7), outside ACME.
    Dns,
    /// An ACME challenge (RFC 8555), the only kind RFC 8657 can restrict.
    Acme(AcmeMethod),
}

/// An RFC 8657 §4 method label: an ACME challenge type or a CA's own
/// `ca-*` method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AcmeMethod {
    /// RFC 8555 §8.3.
    Http01,
    /// RFC 8555 §8.4.
    Dns01,
    /// RFC 8737.
    TlsAlpn01,
    /// A CA-specific method: `ca-` and the CA's name for it (RFC 8657 §4),
    /// lower-case as configured.
    CaSpecific(String),
    /// A challenge type an ACME server named that certvigil does not know
    /// (e.g. a newer one). Never parsed from the config: only order
    /// sources, which report what the server said, build it.
    Other(String),
}

/// A method outside ACME: RFC 8657 cannot name it, so a record limited to
/// some ACME methods does not allow it. The CAA judge gets this only to
/// say so (instead of "no method was given"), never to compare labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutsideAcme {
    File,
    Dns,
}

impl OutsideAcme {
    /// For sentences: "file validation", "DNS validation".
    pub fn describe(self) -> &'static str {
        match self {
            OutsideAcme::File => "file validation (BR 3.2.2.4.18)",
            OutsideAcme::Dns => "DNS validation outside ACME (BR 3.2.2.4.7)",
        }
    }
}

/// ACME challenge types that were withdrawn: no CA validates with them any
/// more, so an order planned with one cannot succeed whatever CAA says.
const RETIRED: [(&str, &str); 2] = [
    (
        "tls-sni-01",
        "Let's Encrypt disabled it in 2019 because on shared TLS hosting one customer could answer for another's name, and RFC 8555 never included it",
    ),
    (
        "tls-sni-02",
        "it was withdrawn from the ACME drafts with tls-sni-01 for the same shared-hosting flaw and is not in RFC 8555",
    ),
];

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", self.describe())]
pub struct UnknownMethod {
    pub given: String,
    /// Why the method is no longer used, when it is a retired ACME one.
    pub retired: Option<&'static str>,
}

impl UnknownMethod {
    fn describe(&self) -> String {
        match self.retired {
            Some(why) => format!(
                "{:?} is a retired ACME validation method: {why}. No CA validates with it; use tls-alpn-01 (RFC 8737), http-01 or dns-01 instead",
                self.given
            ),
            None => format!(
                "{:?} is not a validation method: use {ACCEPTED}",
                self.given
            ),
        }
    }
}

impl ValidationMethod {
    /// Parses a configured or command-line method. Case and surrounding
    /// blanks are forgiven; anything else unknown is an error, so a typo
    /// like `http01` is reported instead of silently turning probing off.
    pub fn parse(given: &str) -> Result<ValidationMethod, UnknownMethod> {
        let v = given.trim().to_ascii_lowercase();
        match v.as_str() {
            "file" => Ok(ValidationMethod::File),
            "dns" => Ok(ValidationMethod::Dns),
            _ => AcmeMethod::parse(&v)
                .map(ValidationMethod::Acme)
                .ok_or_else(|| UnknownMethod {
                    given: given.to_string(),
                    retired: RETIRED.iter().find(|(m, _)| *m == v).map(|(_, why)| *why),
                }),
        }
    }

    /// The RFC 8657 label to check `validationmethods` against; `None` for
    /// the non-ACME methods, which no CAA parameter can name.
    pub fn acme(&self) -> Option<&AcmeMethod> {
        match self {
            ValidationMethod::Acme(m) => Some(m),
            ValidationMethod::File | ValidationMethod::Dns => None,
        }
    }

    /// The non-ACME kind, if it is one.
    pub fn outside_acme(&self) -> Option<OutsideAcme> {
        match self {
            ValidationMethod::File => Some(OutsideAcme::File),
            ValidationMethod::Dns => Some(OutsideAcme::Dns),
            ValidationMethod::Acme(_) => None,
        }
    }

    /// Whether the CA fetches something over HTTP to validate: BR file
    /// validation and ACME http-01. These names get their validation path
    /// probed from the vantage points.
    pub fn probed_over_http(&self) -> bool {
        matches!(
            self,
            ValidationMethod::File | ValidationMethod::Acme(AcmeMethod::Http01)
        )
    }

    pub fn as_str(&self) -> &str {
        match self {
            ValidationMethod::File => "file",
            ValidationMethod::Dns => "dns",
            ValidationMethod::Acme(m) => m.as_str(),
        }
    }
}

impl AcmeMethod {
    /// `http-01`, `dns-01`, `tls-alpn-01` or `ca-<label>` (lower-case,
    /// already trimmed); `None` otherwise.
    fn parse(v: &str) -> Option<AcmeMethod> {
        match v {
            "http-01" => Some(AcmeMethod::Http01),
            "dns-01" => Some(AcmeMethod::Dns01),
            "tls-alpn-01" => Some(AcmeMethod::TlsAlpn01),
            _ => {
                // RFC 8657 §4: label = 1*(ALPHA / DIGIT / "-"); a CA's own
                // methods start with "ca-" and need a name after it.
                let rest = v.strip_prefix("ca-")?;
                let well_formed = !rest.is_empty()
                    && !rest.ends_with('-')
                    && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                well_formed.then(|| AcmeMethod::CaSpecific(v.to_string()))
            }
        }
    }

    /// The method of a challenge type exactly as an ACME server names it
    /// (RFC 8555 §7.1.5: types are compared as written, so no case folding).
    pub fn from_challenge_type(given: &str) -> AcmeMethod {
        match given {
            "http-01" => AcmeMethod::Http01,
            "dns-01" => AcmeMethod::Dns01,
            "tls-alpn-01" => AcmeMethod::TlsAlpn01,
            other => AcmeMethod::Other(other.to_string()),
        }
    }

    /// The label as RFC 8657 `validationmethods` writes it.
    pub fn as_str(&self) -> &str {
        match self {
            AcmeMethod::Http01 => "http-01",
            AcmeMethod::Dns01 => "dns-01",
            AcmeMethod::TlsAlpn01 => "tls-alpn-01",
            AcmeMethod::CaSpecific(s) | AcmeMethod::Other(s) => s,
        }
    }
}

impl fmt::Display for ValidationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AcmeMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ValidationMethod {
    type Err = UnknownMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ValidationMethod::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accepted_methods_parse_to_their_kind() {
        let cases = [
            ("file", ValidationMethod::File),
            ("dns", ValidationMethod::Dns),
            (" FILE ", ValidationMethod::File),
            ("http-01", ValidationMethod::Acme(AcmeMethod::Http01)),
            ("HTTP-01", ValidationMethod::Acme(AcmeMethod::Http01)),
            ("dns-01", ValidationMethod::Acme(AcmeMethod::Dns01)),
            ("tls-alpn-01", ValidationMethod::Acme(AcmeMethod::TlsAlpn01)),
            (
                "ca-sectigo-email",
                ValidationMethod::Acme(AcmeMethod::CaSpecific("ca-sectigo-email".into())),
            ),
        ];
        for (given, want) in cases {
            assert_eq!(ValidationMethod::parse(given), Ok(want), "{given:?}");
        }
    }

    #[test]
    fn typos_and_unknown_labels_are_refused_with_the_accepted_values() {
        for given in [
            "http01",
            "carrier-pigeon",
            "",
            "ca-",
            "ca-x-",
            "ca-a_b",
            "http",
            "file-validation",
        ] {
            let e = ValidationMethod::parse(given).unwrap_err();
            assert_eq!(e.given, given);
            let msg = e.to_string();
            assert!(
                msg.contains("\"http-01\"") && msg.contains("\"file\""),
                "{msg}"
            );
        }
    }

    /// Issue 13.6: a retired ACME method is refused with why and what to
    /// use, not accepted silently nor lumped in with typos.
    #[test]
    fn retired_acme_methods_are_refused_saying_so() {
        for given in ["tls-sni-01", "TLS-SNI-02"] {
            let e = ValidationMethod::parse(given).unwrap_err();
            assert!(e.retired.is_some(), "{given}");
            let msg = e.to_string();
            assert!(msg.contains("retired ACME validation method"), "{msg}");
            assert!(msg.contains("tls-alpn-01"), "{msg}");
        }
        assert!(
            ValidationMethod::parse("http01")
                .unwrap_err()
                .retired
                .is_none()
        );
    }

    #[test]
    fn only_acme_methods_have_an_rfc8657_label() {
        assert_eq!(ValidationMethod::File.acme(), None);
        assert_eq!(ValidationMethod::Dns.acme(), None);
        assert_eq!(
            ValidationMethod::parse("dns-01").unwrap().acme(),
            Some(&AcmeMethod::Dns01)
        );
        assert_eq!(
            ValidationMethod::parse("ca-foo")
                .unwrap()
                .acme()
                .unwrap()
                .as_str(),
            "ca-foo"
        );
    }

    #[test]
    fn file_and_http_01_are_probed_over_http_and_nothing_else_is() {
        let probed: Vec<&str> = ["file", "dns", "http-01", "dns-01", "tls-alpn-01", "ca-x"]
            .into_iter()
            .filter(|m| ValidationMethod::parse(m).unwrap().probed_over_http())
            .collect();
        assert_eq!(probed, ["file", "http-01"]);
    }
}
