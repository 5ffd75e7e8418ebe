//! The CA catalogue: which CAA issuer domains authorize which CA brand.
//! The data lives in `data/ca-catalogue.toml` (with its sources) and is
//! compiled in; the config file can add entries and override built-in ones.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::DomainName;

const BUILTIN: &str = include_str!("../data/ca-catalogue.toml");

/// One CA brand and the issuer domains that authorize it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaEntry {
    /// The catalogue key, lower-case (`sectigo`).
    pub name: String,
    /// How people write it (`Sectigo`).
    #[serde(default)]
    pub display: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The first is the one certvigil suggests in a fix.
    pub issuer_domains: Vec<DomainName>,
    #[serde(default)]
    pub source: Option<String>,
    /// File-validation scanner addresses the CA publishes.
    #[serde(default)]
    pub scanner_ips: Vec<std::net::IpAddr>,
}

impl CaEntry {
    pub fn display_name(&self) -> &str {
        self.display.as_deref().unwrap_or(&self.name)
    }
}

/// A CA as chosen by the user: a catalogue entry, or a bare issuer domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaChoice {
    pub name: String,
    #[serde(skip)]
    pub display: String,
    pub issuer_domains: Vec<DomainName>,
    #[serde(skip)]
    pub scanner_ips: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CaError {
    #[error(
        "unknown CA {given:?}: use a catalogue name ({known}) or a CAA issuer domain such as \"sectigo.com\""
    )]
    Unknown { given: String, known: String },
    #[error("CA {given:?} looks like an issuer domain but is not a valid domain name: {why}")]
    BadIssuerDomain { given: String, why: String },
}

#[derive(Debug, Clone)]
pub struct Catalogue {
    entries: Vec<CaEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    ca: Vec<CaEntry>,
}

impl Catalogue {
    /// The compiled-in catalogue.
    pub fn builtin() -> Self {
        let file: CatalogueFile =
            toml::from_str(BUILTIN).expect("data/ca-catalogue.toml is valid (tested)");
        Self { entries: file.ca }
    }

    /// The built-in catalogue with `extra` entries added; an entry with the
    /// name of a built-in one replaces it.
    pub fn with_overrides(extra: &[CaEntry]) -> Self {
        let mut cat = Self::builtin();
        for e in extra {
            let mut e = e.clone();
            e.name = e.name.to_ascii_lowercase();
            match cat.entries.iter_mut().find(|x| x.name == e.name) {
                Some(slot) => *slot = e,
                None => cat.entries.push(e),
            }
        }
        cat
    }

    pub fn entries(&self) -> &[CaEntry] {
        &self.entries
    }

    /// Resolves what a user typed: a catalogue name or alias (any case), or,
    /// when it contains a dot, a CAA issuer domain.
    pub fn resolve(&self, given: &str) -> Result<CaChoice, CaError> {
        let key = given.trim().to_ascii_lowercase();
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| e.name == key || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(&key)))
        {
            return Ok(CaChoice {
                name: e.name.clone(),
                display: e.display_name().to_string(),
                issuer_domains: e.issuer_domains.clone(),
                scanner_ips: e.scanner_ips.clone(),
            });
        }
        if key.contains('.') {
            let domain = DomainName::parse(&key).map_err(|err| CaError::BadIssuerDomain {
                given: given.to_string(),
                why: err.to_string(),
            })?;
            // An issuer domain that belongs to a catalogue entry keeps that
            // entry's display name, so alerts say "Sectigo", not "sectigo.com".
            let owner = self
                .entries
                .iter()
                .find(|e| e.issuer_domains.contains(&domain));
            return Ok(CaChoice {
                name: domain.to_string(),
                display: owner.map_or_else(|| domain.to_string(), |e| e.display_name().to_string()),
                issuer_domains: vec![domain],
                scanner_ips: owner.map(|e| e.scanner_ips.clone()).unwrap_or_default(),
            });
        }
        Err(CaError::Unknown {
            given: given.to_string(),
            known: self
                .entries
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_parses_and_names_required_cas() {
        let cat = Catalogue::builtin();
        for (name, domain) in [
            ("letsencrypt", "letsencrypt.org"),
            ("sectigo", "trust-provider.com"),
            ("digicert", "digitalcertvalidation.com"),
            ("globalsign", "globalsign.com"),
            ("google", "pki.goog"),
            ("amazon", "awstrust.com"),
            ("buypass", "buypass.com"),
            ("sslcom", "ssl.com"),
            ("entrust", "entrust.net"),
            ("certum", "certum.pl"),
            ("gdca", "gdca.com.cn"),
            ("cfca", "cfca.com.cn"),
            ("wotrus", "wotrus.com"),
            ("godaddy", "starfieldtech.com"),
        ] {
            let ca = cat.resolve(name).unwrap();
            assert!(
                ca.issuer_domains.iter().any(|d| d.as_str() == domain),
                "{name} lacks {domain}"
            );
        }
        assert!(cat.entries().iter().all(|e| e.source.is_some()));
    }

    #[test]
    fn names_and_aliases_resolve_case_insensitively() {
        let cat = Catalogue::builtin();
        assert_eq!(cat.resolve("ZeroSSL").unwrap().name, "sectigo");
        assert_eq!(cat.resolve("GeoTrust").unwrap().name, "digicert");
        assert_eq!(cat.resolve("LetsEncrypt").unwrap().display, "Let's Encrypt");
    }

    #[test]
    fn an_issuer_domain_is_taken_as_given() {
        let cat = Catalogue::builtin();
        let ca = cat.resolve("Example-CA.net").unwrap();
        assert_eq!(ca.issuer_domains[0].as_str(), "example-ca.net");
        assert_eq!(cat.resolve("comodoca.com").unwrap().display, "Sectigo");
    }

    #[test]
    fn unknown_names_list_the_catalogue() {
        let err = Catalogue::builtin().resolve("nosuchca").unwrap_err();
        assert!(err.to_string().contains("letsencrypt"), "{err}");
    }

    #[test]
    fn overrides_replace_and_add() {
        let cat = Catalogue::with_overrides(&[CaEntry {
            name: "LetsEncrypt".into(),
            display: None,
            aliases: vec![],
            issuer_domains: vec![DomainName::parse("staging.example").unwrap()],
            source: None,
            scanner_ips: vec![],
        }]);
        assert_eq!(
            cat.resolve("letsencrypt").unwrap().issuer_domains[0].as_str(),
            "staging.example"
        );
    }
}
