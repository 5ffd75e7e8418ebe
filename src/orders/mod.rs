//! Pending orders (issue #6, DESIGN.md cause 4): the certificate was paid
//! for or requested, the CA may even have mailed about it, yet it is not
//! issued. certvigil follows every pending order, knows how long each status
//! has held, checks what the order needs (its validation record, its CAA),
//! and says when to wait, when to act, and when the order can never issue.
//!
//! Gather, then judge:
//! - sources ([`OrderProvider`]): [`tencent`] (Tencent Cloud SSL API,
//!   signed with [`tc3`]), [`acme`] (RFC 8555 order URLs) and [`manual`]
//!   (orders declared in the config) each turn what their CA says into an
//!   [`OrderObservation`];
//! - [`validation`] looks for the validation record (DNS TXT/CNAME, the
//!   file under `/.well-known/pki-validation/`) as the CA will;
//! - [`record`] keeps the status timeline, the CA notices the user recorded
//!   and the conditions already alerted, in SQLite;
//! - [`judge`] (pure) decides blocked / stuck / deadline / failed / issued,
//!   with the message; [`alerts`] turns its events into alerts;
//! - [`run`] strings these together for the daemon.

pub mod acme;
pub mod alerts;
pub mod judge;
pub mod manual;
pub mod poller;
pub mod record;
pub mod run;
pub mod tc3;
pub mod tencent;
pub mod validation;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ca::CaChoice;
use crate::config::{Config, ProviderKind};
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
                format!("file {url} containing \"{content}\"")
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
    use reqwest::Url;
    use serde::{Deserialize, Deserializer, Serializer};

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

/// Why a source could not report. Each says which provider, what failed,
/// and what to do.
#[derive(Debug, Error)]
pub enum ProviderError {
    #[error(transparent)]
    Tencent(#[from] tencent::TencentError),
    #[error(transparent)]
    Acme(#[from] acme::AcmeError),
}

impl ProviderError {
    /// How long the source asked us to wait before asking again, when it
    /// throttled us (Tencent `LimitExceeded.RateLimitExceeded`, ACME
    /// `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Tencent(e) => e.retry_after(),
            ProviderError::Acme(e) => e.retry_after(),
        }
    }
}

/// A source of orders. `pending` lists the ids the source itself calls
/// pending; `observe` reports one order by id, pending or not, so an order
/// that left the pending list (issued, failed) is still seen once more and
/// resolved.
pub trait OrderProvider {
    /// The `[[providers]]` name (or `manual`): the `source` of its keys.
    fn source(&self) -> &str;

    fn pending(&self) -> impl Future<Output = Result<Vec<String>, ProviderError>> + Send;

    fn observe(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<OrderObservation, ProviderError>> + Send;
}

/// Why the order sources named by the configuration could not be set up.
#[derive(Debug, Error)]
pub enum OrderSetupError {
    #[error(transparent)]
    Tencent(#[from] tencent::TencentError),
    #[error(transparent)]
    Acme(#[from] acme::AcmeError),
    #[error(
        "provider {provider}: kind = \"acme\" but the configuration holds no ACME settings for it; load the configuration with config::load or config::parse"
    )]
    MissingAcmeSettings { provider: String },
}

/// Every kind of source, so the daemon can hold them in one list.
#[derive(Debug)]
pub enum AnyProvider {
    // Boxed: the clients are large (HTTP client, settings), a list of
    // manual orders is not.
    Tencent(Box<tencent::TencentClient>),
    Acme(Box<acme::AcmeClient>),
    Manual(manual::ManualOrders),
}

impl AnyProvider {
    /// Every order source the configuration names: each `[[providers]]`
    /// entry in file order, then the manual `[[orders]]` (when there are
    /// any) as one source.
    pub fn all_from_config(config: &Config) -> Result<Vec<AnyProvider>, OrderSetupError> {
        let mut out = Vec::new();
        for provider in &config.providers {
            out.push(match provider.kind {
                ProviderKind::Tencent => AnyProvider::Tencent(Box::new(
                    tencent::TencentClient::new(provider, &config.catalogue)?,
                )),
                ProviderKind::Acme => {
                    let settings = config.acme_provider(&provider.name).ok_or_else(|| {
                        OrderSetupError::MissingAcmeSettings {
                            provider: provider.name.clone(),
                        }
                    })?;
                    AnyProvider::Acme(Box::new(acme::AcmeClient::from_config(settings)?))
                }
            });
        }
        if !config.orders.is_empty() {
            out.push(AnyProvider::Manual(manual::ManualOrders::new(
                &config.orders,
            )));
        }
        Ok(out)
    }
}

impl OrderProvider for AnyProvider {
    fn source(&self) -> &str {
        match self {
            AnyProvider::Tencent(p) => p.source(),
            AnyProvider::Acme(p) => p.source(),
            AnyProvider::Manual(p) => p.source(),
        }
    }

    async fn pending(&self) -> Result<Vec<String>, ProviderError> {
        match self {
            AnyProvider::Tencent(p) => p.pending().await,
            AnyProvider::Acme(p) => p.pending().await,
            AnyProvider::Manual(p) => p.pending().await,
        }
    }

    async fn observe(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<OrderObservation, ProviderError> {
        match self {
            AnyProvider::Tencent(p) => p.observe(id, now).await,
            AnyProvider::Acme(p) => p.observe(id, now).await,
            AnyProvider::Manual(p) => p.observe(id, now).await,
        }
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
    fn every_configured_source_is_set_up() {
        let text = r#"
[[providers]]
name = "tc"
kind = "tencent"
secret_id_env = "CERTVIGIL_TEST_TC_ID"
secret_key_env = "CERTVIGIL_TEST_TC_KEY"
endpoint = "http://127.0.0.1:9"

[[providers]]
name = "le"
kind = "acme"
account_key_env = "CERTVIGIL_TEST_ACME_KEY"
ca = "letsencrypt"

[[orders]]
name = "acme-1"
provider = "le"
url = "https://acme.example/acme/order/1"

[[orders]]
name = "by-hand"
ca = "sectigo"
domains = ["www.example.com"]
"#;
        let config = crate::config::parse_with_state_directory(text, "c.toml", None).unwrap();
        let sources: Vec<String> = AnyProvider::all_from_config(&config)
            .unwrap()
            .iter()
            .map(|p| p.source().to_string())
            .collect();
        assert_eq!(sources, ["tc", "le", "manual"]);
        // Without the ACME side, an acme provider cannot be built.
        let mut broken = config.clone();
        broken.acme.clear();
        assert!(matches!(
            AnyProvider::all_from_config(&broken),
            Err(OrderSetupError::MissingAcmeSettings { .. })
        ));
    }

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
