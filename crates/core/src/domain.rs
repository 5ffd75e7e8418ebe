//! Domain names as the rest of certvigil sees them: already converted to
//! A-labels, lower-case, without the root dot, and checked against the DNS
//! length rules. Holding a [`DomainName`] proves those preconditions, so no
//! other module re-validates or re-normalises names.

use std::fmt;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a string is not a usable domain name. Each variant names the input,
/// so a message printed for one of a thousand names from `--file` still says
/// which one was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("{input:?} is not a domain name: it is empty")]
    Empty { input: String },
    #[error(
        "{input:?} is not a domain name: it has an empty label (two dots in a row, or a dot at the start)"
    )]
    EmptyLabel { input: String },
    #[error("{input:?} is not a domain name: label {label:?} is longer than 63 octets")]
    LabelTooLong { input: String, label: String },
    #[error(
        "{input:?} is not a domain name: it is {len} octets long as A-labels, the limit is 253"
    )]
    TooLong { input: String, len: usize },
    #[error("{input:?} is not a domain name: {why}")]
    BadCharacters { input: String, why: String },
    #[error("{input:?} is not a domain name: a wildcard may only be a leading \"*.\" label")]
    MisplacedWildcard { input: String },
    /// CAA (RFC 8659 §3) is defined for domain names only; an IP address
    /// certificate has no CAA search to climb.
    #[error(
        "{input:?} is an IP address, not a domain name: CAA (RFC 8659) is defined for domain names only, so there is nothing to check for an IP address certificate; give the host names instead"
    )]
    IpAddress { input: String },
}

/// Whether `text` is an IP address as people write one: IPv4 dotted quad
/// (with or without a root dot) or IPv6, bare or in brackets (RFC 3986
/// host syntax). Such a string would otherwise pass as a name of numeric
/// labels (`127.0.0.1` climbing to `1`) and be judged "no CAA, allowed".
fn is_ip_address(text: &str) -> bool {
    let text = text.trim();
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    let bare = bare.strip_suffix('.').unwrap_or(bare);
    bare.parse::<std::net::IpAddr>().is_ok()
}

/// Every `xn--` label must be a real A-label: its punycode decodes, and the
/// decoded U-label converts back to the same A-label under UTS 46. Names
/// given by people (`check`, config) are checked; `xn--a.test` is refused
/// rather than looked up as a name no registry could have delegated.
fn check_a_labels(lower: &str) -> Result<(), String> {
    for label in lower.split('.').filter(|l| l.starts_with("xn--")) {
        let bad = || {
            format!(
                "label {label:?} is not valid punycode (an A-label must decode and round-trip under UTS 46)"
            )
        };
        let (unicode, result) = idna::domain_to_unicode(label);
        if result.is_err() || unicode == label || unicode.is_empty() {
            return Err(bad());
        }
        let back = Uts46::new()
            .to_ascii(
                unicode.as_bytes(),
                AsciiDenyList::EMPTY,
                Hyphens::Allow,
                DnsLength::Ignore,
            )
            .map_err(|_| bad())?;
        if back != label {
            return Err(bad());
        }
    }
    Ok(())
}

/// A DNS name in canonical presentation form: ASCII (A-labels), lower-case,
/// no trailing dot. Underscore labels (`_dnsauth`) are allowed because
/// validation records live there; use [`CertName`] for names a certificate is
/// requested for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainName(String);

impl DomainName {
    /// Parses a name given by a person or a config file: Unicode is mapped to
    /// A-labels per UTS 46, a single trailing dot is accepted and dropped.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let trimmed = input.trim();
        let without_root = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if without_root.is_empty() {
            return Err(NameError::Empty {
                input: input.to_string(),
            });
        }
        if without_root.split('.').any(str::is_empty) {
            return Err(NameError::EmptyLabel {
                input: input.to_string(),
            });
        }
        let ascii = if without_root.is_ascii() {
            let lower = without_root.to_ascii_lowercase();
            check_a_labels(&lower).map_err(|why| NameError::BadCharacters {
                input: input.to_string(),
                why,
            })?;
            lower
        } else {
            // UTS 46 processing with DNS length checks; hyphen positions are not
            // checked because real names (GitHub pages, CDN nodes) break that rule.
            Uts46::new()
                .to_ascii(
                    without_root.as_bytes(),
                    AsciiDenyList::EMPTY,
                    Hyphens::Allow,
                    DnsLength::Ignore,
                )
                .map_err(|_| NameError::BadCharacters {
                    input: input.to_string(),
                    why: "it is not a valid internationalized name (UTS 46)".into(),
                })?
                .into_owned()
        };
        Self::from_ascii(&ascii).map_err(|e| e.with_input(input))
    }

    /// Accepts a name that is already ASCII, as found on the wire. Case is
    /// folded; characters outside letters, digits, `-` and `_` are refused.
    pub fn from_ascii(ascii: &str) -> Result<Self, NameError> {
        let name = ascii
            .strip_suffix('.')
            .unwrap_or(ascii)
            .to_ascii_lowercase();
        if name.is_empty() {
            return Err(NameError::Empty {
                input: ascii.into(),
            });
        }
        if name.len() > 253 {
            return Err(NameError::TooLong {
                input: ascii.into(),
                len: name.len(),
            });
        }
        for label in name.split('.') {
            if label.is_empty() {
                return Err(NameError::EmptyLabel {
                    input: ascii.into(),
                });
            }
            if label.len() > 63 {
                return Err(NameError::LabelTooLong {
                    input: ascii.into(),
                    label: label.into(),
                });
            }
            if label == "*" {
                return Err(NameError::MisplacedWildcard {
                    input: ascii.into(),
                });
            }
            if let Some(bad) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            {
                return Err(NameError::BadCharacters {
                    input: ascii.into(),
                    why: format!("character {bad:?} is not allowed in a host name"),
                });
            }
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The labels from the left, e.g. `["www", "example", "com"]`.
    pub fn labels(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split('.')
    }

    /// The name with its leftmost label removed, or `None` for a top-level name.
    pub fn parent(&self) -> Option<DomainName> {
        self.0
            .split_once('.')
            .map(|(_, rest)| Self(rest.to_string()))
    }

    /// This name and each ancestor up to, not including, the root:
    /// `www.example.com`, `example.com`, `com` (RFC 8659 §3 climbing order).
    pub fn self_and_ancestors(&self) -> Vec<DomainName> {
        let mut out = vec![self.clone()];
        let mut cur = self.clone();
        while let Some(p) = cur.parent() {
            out.push(p.clone());
            cur = p;
        }
        out
    }

    /// Whether `self` is `other` or lies below it.
    pub fn is_at_or_below(&self, other: &DomainName) -> bool {
        self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.ends_with(&other.0)
                && self.0.as_bytes()[self.0.len() - other.0.len() - 1] == b'.')
    }

    /// The name as hickory wants it: fully qualified.
    pub fn to_hickory(&self) -> hickory_proto::rr::Name {
        // Cannot fail: the string was validated by the same rules hickory checks.
        hickory_proto::rr::Name::from_ascii(format!("{}.", self.0))
            .expect("a validated DomainName is a valid hickory Name")
    }

    /// Converts a name read off the wire. Returns `None` for names that are
    /// not host-like (binary labels): those cannot be a certificate's subject.
    pub fn from_hickory(name: &hickory_proto::rr::Name) -> Result<Self, NameError> {
        Self::from_ascii(&name.to_ascii())
    }

    /// The Unicode form for display (U-labels), falling back to ASCII.
    pub fn to_unicode(&self) -> String {
        let (unicode, result) = idna::domain_to_unicode(&self.0);
        if result.is_ok() {
            unicode
        } else {
            self.0.clone()
        }
    }
}

impl NameError {
    fn with_input(self, input: &str) -> Self {
        let input = input.to_string();
        match self {
            NameError::Empty { .. } => NameError::Empty { input },
            NameError::EmptyLabel { .. } => NameError::EmptyLabel { input },
            NameError::LabelTooLong { label, .. } => NameError::LabelTooLong { input, label },
            NameError::TooLong { len, .. } => NameError::TooLong { input, len },
            NameError::BadCharacters { why, .. } => NameError::BadCharacters { input, why },
            NameError::MisplacedWildcard { .. } => NameError::MisplacedWildcard { input },
            NameError::IpAddress { .. } => NameError::IpAddress { input },
        }
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DomainName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<DomainName> for String {
    fn from(d: DomainName) -> String {
        d.0
    }
}

impl std::str::FromStr for DomainName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A name a certificate is requested for: a host name, optionally a wildcard
/// (`*.example.com`). The wildcard decides between `issue` and `issuewild`
/// (RFC 8659 §4.3); the CAA search starts at [`CertName::base`] either way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertName {
    base: DomainName,
    wildcard: bool,
}

impl CertName {
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let trimmed = input.trim();
        let (wildcard, rest) = match trimmed.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        if is_ip_address(rest) {
            return Err(NameError::IpAddress {
                input: input.into(),
            });
        }
        if rest.contains('*') {
            return Err(NameError::MisplacedWildcard {
                input: input.into(),
            });
        }
        let base = DomainName::parse(rest).map_err(|e| e.with_input(input))?;
        if base.labels().any(|l| l.contains('_')) {
            return Err(NameError::BadCharacters {
                input: input.into(),
                why: "'_' is not allowed in a certificate's host name".into(),
            });
        }
        if wildcard && base.as_str().len() + 2 > 253 {
            return Err(NameError::TooLong {
                input: input.into(),
                len: base.as_str().len() + 2,
            });
        }
        Ok(Self { base, wildcard })
    }

    pub fn new(base: DomainName, wildcard: bool) -> Self {
        Self { base, wildcard }
    }

    /// The name whose CAA records are searched: `example.com` for `*.example.com`.
    pub fn base(&self) -> &DomainName {
        &self.base
    }

    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }
}

impl fmt::Display for CertName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            write!(f, "*.{}", self.base)
        } else {
            write!(f, "{}", self.base)
        }
    }
}

impl std::str::FromStr for CertName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_names_become_a_labels() {
        let n = DomainName::parse("Bücher.example").unwrap();
        assert_eq!(n.as_str(), "xn--bcher-kva.example");
        // An A-label given as such is accepted when it is one.
        assert_eq!(
            DomainName::parse("XN--BCHER-KVA.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert_eq!(n.to_unicode(), "bücher.example");
    }

    #[test]
    fn case_and_root_dot_are_normalised() {
        assert_eq!(
            DomainName::parse("WWW.Example.COM.").unwrap().as_str(),
            "www.example.com"
        );
    }

    #[test]
    fn bad_names_are_refused_with_the_input_named() {
        for bad in [
            "",
            "a..b",
            ".a",
            "exa mple.com",
            "a/b.com",
            "*.*.a.com",
            "a.*.com",
        ] {
            let err = CertName::parse(bad).unwrap_err();
            assert!(
                err.to_string().contains(&format!("{bad:?}")),
                "{err} should name {bad:?}"
            );
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(matches!(
            DomainName::parse(&long_label),
            Err(NameError::LabelTooLong { .. })
        ));
        let long_name = vec!["abcdefghi"; 26].join(".");
        assert!(matches!(
            DomainName::parse(&long_name),
            Err(NameError::TooLong { len: 259, .. })
        ));
    }

    /// Issue 13.6: an IP address is not a name CAA applies to; before, it
    /// was climbed as numeric labels (`127.0.0.1` → `0.1` → `1`).
    #[test]
    fn ip_addresses_are_refused_as_certificate_names() {
        for ip in [
            "127.0.0.1",
            "192.0.2.1.",
            " 10.1.2.3 ",
            "::1",
            "2001:db8::1",
            "[2001:db8::1]",
            "[::ffff:192.0.2.1]",
            "*.192.0.2.1",
        ] {
            let err = CertName::parse(ip).unwrap_err();
            assert!(matches!(err, NameError::IpAddress { .. }), "{ip}: {err:?}");
            let text = err.to_string();
            assert!(text.contains("IP address"), "{text}");
            assert!(text.contains("RFC 8659"), "{text}");
        }
        // Names that merely contain digits are names.
        for name in ["1.2.3.4.example", "192-0-2-1.example.net", "4.example"] {
            assert!(CertName::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn ancestors_climb_to_the_tld() {
        let n = DomainName::parse("a.b.example.com").unwrap();
        let names: Vec<_> = n
            .self_and_ancestors()
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            names,
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
    }

    #[test]
    fn at_or_below_respects_label_boundaries() {
        let parent = DomainName::parse("example.com").unwrap();
        assert!(
            DomainName::parse("www.example.com")
                .unwrap()
                .is_at_or_below(&parent)
        );
        assert!(parent.is_at_or_below(&parent));
        assert!(
            !DomainName::parse("badexample.com")
                .unwrap()
                .is_at_or_below(&parent)
        );
    }

    #[test]
    fn wildcards_keep_their_base() {
        let w = CertName::parse("*.Example.com").unwrap();
        assert!(w.is_wildcard());
        assert_eq!(w.base().as_str(), "example.com");
        assert_eq!(w.to_string(), "*.example.com");
        assert!(CertName::parse("_dnsauth.example.com").is_err());
    }

    #[test]
    fn invalid_punycode_is_refused() {
        // Issue 12: `check xn--a.test` was accepted.
        for bad in [
            "xn--a.test",
            "xn--.test",
            "www.xn--zz-.example",
            "xn--ls8h-.la",
        ] {
            let e = DomainName::parse(bad).unwrap_err();
            assert!(e.to_string().contains("not valid punycode"), "{bad}: {e}");
        }
        for good in [
            "xn--ls8h.la",
            "xn--fiqs8s.example",
            "www.xn--bcher-kva.example",
        ] {
            assert!(DomainName::parse(good).is_ok(), "{good}");
        }
    }
}
