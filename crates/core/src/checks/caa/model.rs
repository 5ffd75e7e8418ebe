//! What the CAA gatherer observed, and what the judge decides from it.
//! These types are the boundary between the network half (`gather`) and the
//! pure half (`judge`) of the CAA check: the gatherer only fills them in, the
//! judge only reads them.

use serde::{Deserialize, Serialize};

use crate::domain::DomainName;

/// One CAA resource record exactly as it came off the wire (RFC 8659 §4.1).
/// The tag and value are kept raw: hickory-proto refuses some legal records
/// (long tags, white space in issue values, `%%%%%`), and a record we cannot
/// interpret must still be judged, never dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CaaRecord {
    pub flags: u8,
    /// The tag as sent, case preserved (comparison is case-insensitive).
    pub tag: String,
    /// The value octets; usually ASCII, but nothing guarantees it.
    pub value: Vec<u8>,
}

impl CaaRecord {
    pub fn new(flags: u8, tag: &str, value: &str) -> Self {
        Self {
            flags,
            tag: tag.to_string(),
            value: value.as_bytes().to_vec(),
        }
    }

    /// The value as text, with non-UTF-8 octets replaced (for display only).
    pub fn value_lossy(&self) -> String {
        String::from_utf8_lossy(&self.value).into_owned()
    }

    /// RFC 8659 §4.1: bit 0 (value 128) is the Issuer Critical flag, and
    /// "all other bit positions are reserved" and must be ignored.
    pub fn is_critical(&self) -> bool {
        self.flags & 0b1000_0000 != 0
    }

    /// Whether only bit value 1 makes the record critical: not by RFC 8659,
    /// but by Let's Encrypt's policy, which takes bit 1 for the critical
    /// bit because RFC 6844's figure was widely misread (Boulder's
    /// `filterCAA`). See `property::LetsEncrypt`.
    pub fn is_critical_by_flag_1_only(&self) -> bool {
        !self.is_critical() && self.flags & 0b0000_0001 != 0
    }
}

/// Why a CAA query did not produce a usable answer. Any of these at or below
/// the relevant name makes a CA refuse (CA/B Forum BR §3.2.2.8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LookupFailure {
    /// The server answered with an error response code (SERVFAIL, REFUSED,
    /// NOTIMP, ...), given by its mnemonic. A SERVFAIL is the lookup's
    /// answer (no other server is asked after it), so which server gave it
    /// is part of the finding: it is the one to look at.
    Rcode {
        rcode: String,
        /// The server that answered; absent in results stored before it
        /// was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<std::net::SocketAddr>,
    },
    /// No answer within the time limit, over UDP or TCP.
    Timeout,
    /// An answer arrived but could not be parsed as DNS.
    Malformed { detail: String },
    /// The socket or resolver failed in another way.
    Network { detail: String },
    /// The answer came, but its DNSSEC chain of trust is broken: a
    /// validating CA gets SERVFAIL and refuses (CA/B ballot SC-085v2).
    Dnssec {
        cause: crate::checks::dnssec::BogusCause,
        /// What the configured resolver said when it validates too
        /// (usually SERVFAIL: it finds the answer bogus as well).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resolver: Option<crate::checks::dnssec::ResolverView>,
    },
    /// The configured resolver validates and answered SERVFAIL, but
    /// certvigil's own validation of the same answer (asked with CD) finds
    /// it secure or insecure: the resolver's validation is the odd one out
    /// (another or outdated root trust anchor, a stale negative trust
    /// anchor). The zone is fine; this side cannot see it.
    ResolverRejects {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<std::net::SocketAddr>,
        /// What certvigil's validation found (boxed: rare, and large).
        validated: Box<crate::checks::dnssec::DnssecStatus>,
    },
}

impl LookupFailure {
    /// Whether the failure is on this side: the resolver certvigil asks
    /// (`[dns]`, else resolv.conf) did not answer, could not be reached or
    /// refused the query. A recursive resolver that reached the zone and
    /// found it broken answers SERVFAIL (lame delegation, DNSSEC) instead,
    /// which is the zone's failure; so is a malformed answer or an rcode
    /// such as NOTIMP that old authoritative servers give for type 257.
    pub fn is_local(&self) -> bool {
        match self {
            LookupFailure::Timeout
            | LookupFailure::Network { .. }
            | LookupFailure::ResolverRejects { .. } => true,
            LookupFailure::Rcode { rcode, .. } => rcode.eq_ignore_ascii_case("REFUSED"),
            LookupFailure::Malformed { .. } | LookupFailure::Dnssec { .. } => false,
        }
    }
}

impl std::fmt::Display for LookupFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupFailure::Rcode {
                rcode,
                server: Some(server),
            } => write!(f, "the name server {server} answered {rcode}"),
            LookupFailure::Rcode {
                rcode,
                server: None,
            } => write!(f, "the name server answered {rcode}"),
            LookupFailure::Timeout => write!(f, "the name server did not answer in time"),
            LookupFailure::Malformed { detail } => {
                write!(f, "the answer could not be parsed ({detail})")
            }
            LookupFailure::Network { detail } => write!(f, "the query failed ({detail})"),
            LookupFailure::ResolverRejects { server, validated } => {
                let server = server.map_or_else(|| "the resolver".to_string(), |s| s.to_string());
                write!(
                    f,
                    "{server} validates DNSSEC and answered SERVFAIL, but certvigil validates the same answer as {}",
                    validated.describe()
                )
            }
            LookupFailure::Dnssec { cause, .. } => {
                write!(f, "the answer is DNSSEC-bogus: {}", cause.describe())
            }
        }
    }
}

/// A successful CAA answer for one name. `records` is empty for NXDOMAIN and
/// for NOERROR with no CAA records: "nothing here, keep climbing".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaaAnswer {
    /// The CNAME chain the resolver followed, starting with the queried name;
    /// just `[queried]` when it is not an alias. The records belong to the
    /// last name of the chain, but count as the queried name's own (RFC 8659 §3).
    pub cname_chain: Vec<DomainName>,
    pub records: Vec<CaaRecord>,
    /// The final response code was NXDOMAIN.
    pub nxdomain: bool,
    /// What validating this answer found; `None` when not validated
    /// (`[dnssec] validate = false`). A bogus answer is a
    /// `LookupFailure::Dnssec` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<crate::checks::dnssec::DnssecNote>,
}

/// The outcome of querying CAA at one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaaLookup {
    pub name: DomainName,
    pub result: Result<CaaAnswer, LookupFailure>,
}

/// Everything the gatherer saw for one certificate name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaaObservation {
    /// The name whose tree is climbed (for `*.example.com`, `example.com`).
    pub queried: DomainName,
    /// One lookup per name from `queried` up to the top-level domain, in
    /// that order (RFC 8659 §3).
    pub climb: Vec<CaaLookup>,
    /// Lookups at the ancestors of alias targets met while climbing, for the
    /// pre-erratum RFC 6844 §4 comparison, which climbed the target's tree.
    /// Keyed by the name queried; may be empty when no alias was met.
    pub alias_target_climb: Vec<CaaLookup>,
}

/// What the user wants to know: may this CA issue for this name?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuanceRequest {
    /// Whether the certificate is for `*.queried` (issuewild applies).
    pub wildcard: bool,
    /// The CAA issuer domains that identify the CA (`sectigo.com`, ...).
    pub issuer_domains: Vec<DomainName>,
    /// The URIs of the ACME account the order will be placed with (RFC 8657
    /// `accounturi`); empty when not known. An account can have several
    /// (Let's Encrypt's older `.../acme/reg/N` and newer `.../acme/acct/N`
    /// forms of one account): a record bound to any of them authorizes.
    pub account_uris: Vec<String>,
    /// RFC 8657 validation method the order will use (`http-01`, `dns-01`,
    /// ...), if known. Typed so that only ACME method labels can reach the
    /// judge: the non-ACME `file` and `dns` have no RFC 8657 label.
    pub validation_method: Option<crate::method::AcmeMethod>,
    /// The order is validated outside ACME (file, DNS): no RFC 8657 label
    /// names it, so `validationmethods` is not satisfied. Only for saying
    /// so; never compared with a record's labels.
    pub outside_acme: Option<crate::method::OutsideAcme>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaaVerdictKind {
    /// CAA permits issuance by this CA (or no CAA record restricts it).
    Allowed,
    /// The relevant record set does not authorize this CA.
    Forbidden,
    /// A lookup failed where a CA must treat it as a refusal.
    Error,
}

impl CaaVerdictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaaVerdictKind::Allowed => "allowed",
            CaaVerdictKind::Forbidden => "forbidden",
            CaaVerdictKind::Error => "error",
        }
    }
}

/// The judge's decision for one certificate name and one CA, with the
/// explanation a person needs. Field names follow the `check --format json`
/// contract in docs/contracts.md (`caa` object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaaVerdict {
    pub verdict: CaaVerdictKind,
    /// The name whose CAA RRset decided (RFC 8659 §3), `None` when no
    /// name up to the TLD has CAA records (or a lookup error came first).
    pub relevant_name: Option<DomainName>,
    /// The relevant RRset, as found (empty when `relevant_name` is `None`).
    pub records: Vec<CaaRecord>,
    /// The alias chain at the relevant name (or at the queried name when
    /// there is no relevant name): `[relevant]` if it is no alias,
    /// `[relevant, target, ...]` if its records were inherited via CNAME.
    pub cname_chain: Vec<DomainName>,
    /// One or two sentences: which records, found where (through which
    /// alias), authorize whom, and so why this verdict.
    pub reason: String,
    /// The exact fix, when the verdict is not `allowed`.
    pub remedy: Option<String>,
    /// For `error`: the name whose lookup failed, and how.
    pub lookup_error: Option<(DomainName, LookupFailure)>,
    /// What the pre-erratum RFC 6844 rule (which climbed the alias target's
    /// parents) would decide, when it differs from the RFC 8659 verdict.
    pub legacy_rfc6844: Option<LegacyDecision>,
    /// What the zone's authoritative servers and the vantage points abroad
    /// saw, where it differs from this verdict's view (issue 13); filled in
    /// by the engine, empty when the views are off or agree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<crate::checks::views::ViewFinding>,
    /// The DNSSEC status of each lookup that decided (from the queried
    /// name up to the relevant one); empty when not validated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dnssec: Vec<crate::checks::dnssec::DnssecNote>,
}

/// The pre-erratum RFC 6844 §4 decision, reported only when it differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyDecision {
    pub verdict: CaaVerdictKind,
    pub relevant_name: Option<DomainName>,
    /// Why a CA still following RFC 6844 would see a different policy.
    pub explanation: String,
}
