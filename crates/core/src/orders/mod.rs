//! Pending orders, the pure half: what a source reported about an order
//! ([`OrderObservation`] and its parts) and the [`judge`] that decides
//! blocked / stuck / deadline / failed / issued, with `now` as an argument.
//! The sources (Tencent, ACME, manual), the validation lookups, the store
//! side and the poller are in the `certvigil` crate's `orders` module, which
//! re-exports these at their old paths.

pub mod judge;
pub mod validation;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::ca::CaChoice;
use crate::domain::{CertName, DomainName};

/// Which order an observation is about: the provider (the `[[providers]]`
/// name, or `manual`) and the provider's own id (Tencent `CertificateId`,
/// ACME order URL, manual order name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OrderKey {
    pub source: String,
    pub id: String,
}

impl OrderKey {
    pub fn new(source: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            id: id.into(),
        }
    }
}

impl fmt::Display for OrderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.source, self.id)
    }
}

/// Where in its life an order is, whatever the source calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for the applicant: documents, a confirmation letter, the
    /// submission itself (Tencent 5, 8, 13).
    Submitting,
    /// Being reviewed by the reseller or the CA before domain validation
    /// (Tencent PRE-REVIEWING, LEGAL-REVIEWING, CA-REVIEWING).
    Reviewing,
    /// Waiting for domain control validation (Tencent PENDING-DCV, status 4;
    /// ACME `pending`).
    AwaitingValidation,
    /// Validation passed; waiting for the CA to issue (Tencent WAIT-ISSUE;
    /// ACME `ready` and `processing`).
    Validated,
    Issued,
    /// The CA refused (Tencent 2; ACME `invalid`).
    Failed,
    /// Cancelled or refunded (Tencent 6, 7, 14).
    Cancelled,
    Expired,
    /// Revoked or being revoked (Tencent 9, 10, 12).
    Revoked,
    /// Anything else (Tencent 11 reissuing, 15 migrating).
    Other,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Submitting => "submitting",
            Phase::Reviewing => "reviewing",
            Phase::AwaitingValidation => "awaiting_validation",
            Phase::Validated => "validated",
            Phase::Issued => "issued",
            Phase::Failed => "failed",
            Phase::Cancelled => "cancelled",
            Phase::Expired => "expired",
            Phase::Revoked => "revoked",
            Phase::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        Some(match s {
            "submitting" => Phase::Submitting,
            "reviewing" => Phase::Reviewing,
            "awaiting_validation" => Phase::AwaitingValidation,
            "validated" => Phase::Validated,
            "issued" => Phase::Issued,
            "failed" => Phase::Failed,
            "cancelled" => Phase::Cancelled,
            "expired" => Phase::Expired,
            "revoked" => Phase::Revoked,
            "other" => Phase::Other,
            _ => return None,
        })
    }

    /// Whether the order can still move towards issuance.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            Phase::Submitting
                | Phase::Reviewing
                | Phase::AwaitingValidation
                | Phase::Validated
                | Phase::Other
        )
    }
}

/// An order's status as its source reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatus {
    pub phase: Phase,
    /// The source's own words, stable, as the status timeline's key:
    /// `0/CA-REVIEWING` (Tencent `Status`/`StatusMsg`), `pending` (ACME).
    pub code: String,
    /// For people: `CA review (Status 0, CA-REVIEWING)`.
    pub label: String,
}

/// How the CA validates control of the names (BR §3.2.2.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationMethod {
    /// A DNS record the user publishes (Tencent `DNS`, BR §3.2.2.4.7).
    Dns,
    /// A DNS record the provider publishes itself (Tencent `DNS_AUTO`).
    DnsAuto,
    /// A file under `/.well-known/pki-validation/` (BR §3.2.2.4.18).
    File,
    /// Email to a constructed or WHOIS address.
    Email,
    /// ACME http-01 (RFC 8555 §8.3).
    Http01,
    /// ACME dns-01 (RFC 8555 §8.4).
    Dns01,
    /// ACME tls-alpn-01 (RFC 8737).
    TlsAlpn01,
    /// Anything else, as the source named it.
    Other(String),
}

impl ValidationMethod {
    /// The method as the checks know it (`crate::method`). Only an ACME
    /// source's challenge types are ACME methods; a Tencent or manual
    /// order's `file`/`dns` never binds to RFC 8657 validationmethods, and
    /// email or an unknown provider method is nothing the checks use.
    pub fn for_checks(&self, kind: SourceKind) -> Option<crate::method::ValidationMethod> {
        use crate::method::{AcmeMethod, ValidationMethod as M};
        match self {
            ValidationMethod::File => Some(M::File),
            ValidationMethod::Dns | ValidationMethod::DnsAuto => Some(M::Dns),
            ValidationMethod::Email => None,
            ValidationMethod::Http01 => Some(M::Acme(AcmeMethod::Http01)),
            ValidationMethod::Dns01 => Some(M::Acme(AcmeMethod::Dns01)),
            ValidationMethod::TlsAlpn01 => Some(M::Acme(AcmeMethod::TlsAlpn01)),
            ValidationMethod::Other(s) if kind == SourceKind::Acme => {
                Some(M::Acme(AcmeMethod::from_challenge_type(s)))
            }
            ValidationMethod::Other(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ValidationMethod::Dns => "dns",
            ValidationMethod::DnsAuto => "dns_auto",
            ValidationMethod::File => "file",
            ValidationMethod::Email => "email",
            ValidationMethod::Http01 => "http-01",
            ValidationMethod::Dns01 => "dns-01",
            ValidationMethod::TlsAlpn01 => "tls-alpn-01",
            ValidationMethod::Other(s) => s,
        }
    }
}

/// What must be in place for the CA to validate one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Requirement {
    /// A TXT record at `name` holding `value` (Tencent `_dnsauth`, ACME
    /// `_acme-challenge`).
    DnsTxt { name: DomainName, value: String },
    /// A CNAME at `name` pointing to `target` (Sectigo's `_<md5>` record).
    DnsCname {
        name: DomainName,
        target: DomainName,
    },
    /// A file at `url` whose body is `content`.
    File {
        #[serde(with = "url_string")]
        url: Url,
        content: String,
    },
}

impl Requirement {
    /// One line for messages: `TXT _dnsauth.example.com = "2026..."`.
    pub fn describe(&self) -> String {
        match self {
            Requirement::DnsTxt { name, value } => format!("TXT record {name} = \"{value}\""),
            Requirement::DnsCname { name, target } => format!("CNAME record {name} -> {target}"),
            Requirement::File { url, content } => {
                format!("file {} containing \"{content}\"", crate::redact::url(url))
            }
        }
    }
}

/// One name's validation requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationRequirement {
    /// The certificate name it validates (`www.example.com`, `*.example.com`).
    pub for_name: String,
    pub requirement: Requirement,
}

/// A time by which something must happen, or the order is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub at: DateTime<Utc>,
    /// What happens then: "the validation window (DVAuthDeadline) closes".
    pub what: String,
    /// Whether it stops mattering once validation passed (Tencent
    /// `DVAuthDeadline`, an ACME authorization's `expires`), as opposed to
    /// the order's own end (ACME order `expires`).
    pub until_validated: bool,
}

/// What the source says about progress beyond the status itself. These are
/// the signs that the CA has moved although the status has not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressSignals {
    /// The CA's own check of the validation passed (Tencent
    /// `CheckCertificateDomainVerification` `CaCheck` = 2).
    pub ca_check_passed: bool,
    /// When the provider logged that validation passed (Tencent operate log
    /// `domainValidationPassed`, or `ValidationPassedTime`).
    pub validation_passed_at: Option<DateTime<Utc>>,
    /// The provider says the certificate is issued although the status may
    /// not say so yet (Tencent `Issued` = true or an `issued` log entry).
    pub issued_reported: bool,
    /// When the provider logged the issuance.
    pub issued_at: Option<DateTime<Utc>>,
    /// The provider's own check of the validation record, per name, when it
    /// failed: `(name, reason)` (Tencent `LocalCheck` < 0,
    /// `LocalCheckFailReason`).
    pub provider_check_failures: Vec<(String, String)>,
    /// The provider throttled its own check (Tencent `Frequently`).
    pub provider_check_throttled: bool,
}

impl ProgressSignals {
    /// Whether anything says validation is done.
    pub fn validation_passed(&self) -> bool {
        self.ca_check_passed || self.validation_passed_at.is_some()
    }
}

/// What kind of source an order comes from; decides the advice given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Tencent,
    Acme,
    Manual,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Tencent => "tencent",
            SourceKind::Acme => "acme",
            SourceKind::Manual => "manual",
        }
    }
}

/// Everything a source reported about one order at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderObservation {
    pub key: OrderKey,
    pub kind: SourceKind,
    /// A name for people: the alias, the manual order's name, or the
    /// first domain.
    pub display_name: String,
    /// The CA, when known, for the CAA check.
    #[serde(skip)]
    pub ca: Option<CaChoice>,
    /// The CA or product as the source names it (`TrustAsia C1 DV Free`).
    pub ca_label: String,
    /// The names the certificate is for.
    #[serde(with = "cert_names")]
    pub names: Vec<CertName>,
    pub status: OrderStatus,
    pub method: Option<ValidationMethod>,
    pub requirements: Vec<ValidationRequirement>,
    pub deadlines: Vec<Deadline>,
    pub signals: ProgressSignals,
    /// Why the CA refused, in its words, when it did.
    pub failure: Option<String>,
    pub placed_at: Option<DateTime<Utc>>,
    /// Whether the certificate is domain-validated only (OV/EV orders wait
    /// for organisation checks and may take days).
    pub is_dv: Option<bool>,
    pub observed_at: DateTime<Utc>,
}

mod url_string {
    use serde::{Deserialize, Deserializer, Serializer};
    use url::Url;

    pub fn serialize<S: Serializer>(url: &Url, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(url.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
        Url::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

mod cert_names {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::CertName;

    pub fn serialize<S: Serializer>(names: &[CertName], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(names.iter().map(ToString::to_string))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CertName>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|n| CertName::parse(n).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// A duration for messages: `3h`, `2d 4h`, `45m`.
pub fn human_duration(d: chrono::Duration) -> String {
    let mins = d.num_minutes().max(0);
    let (days, hours, m) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    match (days, hours, m) {
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human_duration(chrono::Duration::minutes(45)), "45m");
        assert_eq!(human_duration(chrono::Duration::hours(3)), "3h");
        assert_eq!(human_duration(chrono::Duration::minutes(190)), "3h 10m");
        assert_eq!(human_duration(chrono::Duration::hours(52)), "2d 4h");
        assert_eq!(human_duration(chrono::Duration::hours(48)), "2d");
    }

    #[test]
    fn phases_round_trip_and_know_what_is_pending() {
        for p in [
            Phase::Submitting,
            Phase::Reviewing,
            Phase::AwaitingValidation,
            Phase::Validated,
            Phase::Issued,
            Phase::Failed,
            Phase::Cancelled,
            Phase::Expired,
            Phase::Revoked,
            Phase::Other,
        ] {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
        assert!(Phase::Validated.is_pending());
        assert!(!Phase::Issued.is_pending());
        assert!(!Phase::Failed.is_pending());
    }
}
