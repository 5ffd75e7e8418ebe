//! DNSSEC, the pure half: what validating one lookup found (secure,
//! insecure, bogus with its exact cause, or indeterminate when certvigil
//! could not validate at all), the words and the fix for each cause, and
//! whether the configured resolver's own validation agrees.
//!
//! Since CA/B Forum ballot SC-085v2 every public CA validates DNSSEC back to
//! the IANA root for CAA and domain-validation lookups (RFC 4035 §5), and a
//! bogus answer is never permission to issue: a CA refuses. So a bogus
//! decisive lookup is a failed lookup here too (`LookupFailure::Dnssec`),
//! and the CAA judge makes it a blocking `error` verdict. The network half
//! (asking with the DO bit, walking DS/DNSKEY up to the trust anchor,
//! verifying RRSIGs and NSEC/NSEC3 with hickory-proto) is the root crate's
//! `dnssec` module.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The outcome of validating one lookup (RFC 4035 §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DnssecStatus {
    /// Every RRset of the answer (or the proof of its absence) is signed by
    /// a key chained to the trust anchor.
    Secure,
    /// A chain of trust proves the zone unsigned (or signed only with an
    /// algorithm no validator has to support): the answer counts as is.
    Insecure { reason: InsecureReason },
    /// The chain of trust is broken: a validating CA gets SERVFAIL and
    /// refuses.
    Bogus { cause: BogusCause },
    /// certvigil could not validate (the resolver gave no root keys, a
    /// query of the chain failed on this side). Said, not blocking: it is
    /// not the zone's fault.
    Indeterminate { why: String },
}

impl DnssecStatus {
    pub fn word(&self) -> &'static str {
        match self {
            DnssecStatus::Secure => "secure",
            DnssecStatus::Insecure { .. } => "insecure",
            DnssecStatus::Bogus { .. } => "bogus",
            DnssecStatus::Indeterminate { .. } => "indeterminate",
        }
    }

    /// One line for a person: the word and why.
    pub fn describe(&self) -> String {
        match self {
            DnssecStatus::Secure => {
                "secure (signed, chain to the root trust anchor verified)".into()
            }
            DnssecStatus::Insecure { reason } => format!("insecure: {}", reason.describe()),
            DnssecStatus::Bogus { cause } => format!("bogus: {}", cause.describe()),
            DnssecStatus::Indeterminate { why } => {
                format!("not validated: {why}")
            }
        }
    }
}

/// Why an answer is insecure (not signed, and provably so).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InsecureReason {
    /// The signed parent proves (NSEC/NSEC3) that `zone` has no DS record:
    /// an unsigned delegation (RFC 4035 §5.2).
    UnsignedDelegation { zone: String, parent: String },
    /// Every DS of `zone` names an algorithm or digest type this validator
    /// does not implement; RFC 4035 §5.2 says to treat the zone as unsigned.
    UnsupportedAlgorithm { zone: String, algorithms: Vec<u8> },
}

impl InsecureReason {
    pub fn describe(&self) -> String {
        match self {
            InsecureReason::UnsignedDelegation { zone, parent } => format!(
                "{zone} is not signed (its parent {parent} proves it has no DS record), so CAs take its answers unvalidated"
            ),
            InsecureReason::UnsupportedAlgorithm { zone, algorithms } => format!(
                "the DS records of {zone} use only algorithm(s) {} that validators need not support; RFC 4035 §5.2 treats the zone as unsigned",
                list(algorithms)
            ),
        }
    }
}

/// One DS record, as a person compares it with the registrar's panel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DsRef {
    pub key_tag: u16,
    pub algorithm: u8,
    pub digest_type: u8,
    /// Upper-case hex, as registrars show it.
    pub digest: String,
}

impl std::fmt::Display for DsRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DS {} {} {} {}",
            self.key_tag, self.algorithm, self.digest_type, self.digest
        )
    }
}

/// Which RRSIG, over what.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RrsigRef {
    /// The owner of the signed RRset.
    pub owner: String,
    /// The type covered (`CAA`, `DNSKEY`, `NSEC3`, ...).
    pub rtype: String,
    pub signer: String,
    pub key_tag: u16,
    pub algorithm: u8,
    /// Unix seconds.
    pub inception: i64,
    pub expiration: i64,
}

impl std::fmt::Display for RrsigRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the RRSIG over the {} RRset of {} (signer {}, key tag {}, algorithm {})",
            self.rtype, self.owner, self.signer, self.key_tag, self.algorithm
        )
    }
}

/// The exact reason a chain of trust is broken.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BogusCause {
    /// Every RRSIG over the RRset has expired (the signer stopped).
    RrsigExpired { rrsig: RrsigRef },
    /// Every RRSIG over the RRset starts in the future (clock or signer).
    RrsigNotYetValid { rrsig: RrsigRef },
    /// An RRSIG in its validity period does not verify with its key.
    SignatureInvalid { rrsig: RrsigRef },
    /// The RRSIG names a key the zone's verified DNSKEY set lacks.
    NoKeyForRrsig { rrsig: RrsigRef },
    /// A signed zone answered without an RRSIG for the RRset.
    MissingRrsig {
        owner: String,
        rtype: String,
        zone: String,
    },
    /// The parent's DS records match no DNSKEY of the zone (a DS left at
    /// the registrar after a provider move, a rollover gone wrong).
    DsMatchesNoDnskey {
        zone: String,
        parent: String,
        ds: Vec<DsRef>,
        /// The key tags of the DNSKEYs the zone does publish.
        dnskey_tags: Vec<u16>,
    },
    /// The DS exists but the zone publishes no DNSKEY at all.
    NoDnskey { zone: String, ds: Vec<DsRef> },
    /// No root DNSKEY matches the configured trust anchor.
    TrustAnchorMismatch {
        anchors: Vec<u16>,
        dnskey_tags: Vec<u16>,
    },
    /// A denial of existence without a valid NSEC/NSEC3 proof (RFC 4035
    /// §5.4, RFC 5155 §8).
    DenialNotProven {
        name: String,
        rtype: String,
        zone: String,
        detail: String,
    },
    /// A signed zone's RRSIG uses an algorithm this validator cannot verify
    /// although its DS names a supported one.
    UnsupportedAlgorithm { zone: String, algorithm: u8 },
}

impl BogusCause {
    /// What is wrong, with names, key tags and dates.
    pub fn describe(&self) -> String {
        match self {
            BogusCause::RrsigExpired { rrsig } => {
                format!("{rrsig} expired at {}", time(rrsig.expiration))
            }
            BogusCause::RrsigNotYetValid { rrsig } => {
                format!("{rrsig} is valid only from {}", time(rrsig.inception))
            }
            BogusCause::SignatureInvalid { rrsig } => {
                format!("{rrsig} does not verify with DNSKEY {}", rrsig.key_tag)
            }
            BogusCause::NoKeyForRrsig { rrsig } => format!(
                "{rrsig} names key tag {}, which is not among the verified DNSKEYs of {}",
                rrsig.key_tag, rrsig.signer
            ),
            BogusCause::MissingRrsig { owner, rtype, zone } => {
                format!("the {rtype} RRset of {owner} has no RRSIG, but its zone {zone} is signed")
            }
            BogusCause::DsMatchesNoDnskey {
                zone,
                parent,
                ds,
                dnskey_tags,
            } => format!(
                "the DS record(s) for {zone} in {parent} ({}) match no DNSKEY of {zone} (it publishes key tag(s) {})",
                ds.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                list(dnskey_tags)
            ),
            BogusCause::NoDnskey { zone, ds } => format!(
                "{zone} has DS record(s) at its parent ({}) but publishes no DNSKEY",
                ds.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            BogusCause::TrustAnchorMismatch {
                anchors,
                dnskey_tags,
            } => format!(
                "no root DNSKEY (key tags {}) matches the trust anchor(s) (key tags {})",
                list(dnskey_tags),
                list(anchors)
            ),
            BogusCause::DenialNotProven {
                name,
                rtype,
                zone,
                detail,
            } => format!(
                "the answer says {name} has no {rtype} records, but {zone} gives no valid NSEC/NSEC3 proof of that: {detail}"
            ),
            BogusCause::UnsupportedAlgorithm { zone, algorithm } => format!(
                "{zone} is signed with algorithm {algorithm}, which certvigil cannot verify"
            ),
        }
    }

    /// What to change, and where.
    pub fn fix(&self) -> String {
        match self {
            BogusCause::RrsigExpired { rrsig } | BogusCause::RrsigNotYetValid { rrsig } => format!(
                "Re-sign the zone {} (the signer has stopped or its clock is wrong: check the signing job or the DNS provider's DNSSEC setting). If the zone should not be signed, remove its DS at the registrar first and stop signing after the DS TTL.",
                rrsig.signer
            ),
            BogusCause::SignatureInvalid { rrsig } | BogusCause::NoKeyForRrsig { rrsig } => {
                format!(
                    "Re-sign the zone {} with a key published in its DNSKEY set (a key rollover went wrong or the servers serve different versions of the zone).",
                    rrsig.signer
                )
            }
            BogusCause::MissingRrsig { zone, .. } | BogusCause::DenialNotProven { zone, .. } => {
                format!(
                    "Re-sign the zone {zone} completely (every RRset signed, NSEC/NSEC3 chain complete) and check that every name server serves the signed version."
                )
            }
            BogusCause::DsMatchesNoDnskey { zone, .. } | BogusCause::NoDnskey { zone, .. } => {
                format!(
                    "Remove the stale DS record for {zone} at the registrar, or replace it with the DS of the key the zone's DNS provider now signs with (after a provider move the old DS must go)."
                )
            }
            BogusCause::TrustAnchorMismatch { .. } => "Update the trust anchor: [dnssec] trust_anchor_file must hold the current root KSK (IANA root-anchors.xml), or remove the key to use the built-in ones.".into(),
            BogusCause::UnsupportedAlgorithm { zone, .. } => format!(
                "Sign {zone} with algorithm 8 (RSASHA256) or 13 (ECDSAP256SHA256), which every validator supports."
            ),
        }
    }
}

/// The DNSSEC status of one decisive lookup, as `check` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DnssecNote {
    /// The name looked up.
    pub name: String,
    /// The type looked up (`CAA`, `TXT`, ...).
    pub rtype: String,
    #[serde(flatten)]
    pub status: DnssecStatus,
    /// When the configured resolver validates: what it said of the same
    /// lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<ResolverView>,
    /// With `resolver`: whether its view and certvigil's agree (the rule of
    /// [`disagreement`]), so a reader need not re-derive it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver_agrees: Option<bool>,
}

impl DnssecNote {
    /// The note for one lookup; `resolver` is what the configured resolver
    /// said when it validates, `None` when it does not.
    pub fn new(
        name: impl Into<String>,
        rtype: impl Into<String>,
        status: DnssecStatus,
        resolver: Option<ResolverView>,
    ) -> DnssecNote {
        let resolver_agrees = resolver.map(|view| disagreement(&status, view, true).is_none());
        DnssecNote {
            name: name.into(),
            rtype: rtype.into(),
            status,
            resolver,
            resolver_agrees,
        }
    }

    /// One line on the resolver's view when it agrees (a disagreement is a
    /// finding of its own, worded by [`disagreement`]). A validating
    /// resolver's SERVFAIL for a bogus answer is said to be that: the same
    /// validation failure, not an outage of the resolver.
    pub fn resolver_agreement(&self) -> Option<String> {
        let view = self.resolver?;
        if self.resolver_agrees != Some(true) {
            return None;
        }
        Some(match (&self.status, view) {
            (DnssecStatus::Bogus { .. }, ResolverView::Servfail) => {
                "the configured resolver validates too and answered SERVFAIL: it finds the same answer bogus (a validation failure, not an outage)".into()
            }
            (DnssecStatus::Indeterminate { .. }, _) => format!(
                "the configured resolver, which validates, says {}; certvigil could not validate to compare",
                view.describe()
            ),
            _ => format!(
                "the configured resolver validates too and agrees: {}",
                view.describe()
            ),
        })
    }
}

/// What the configured resolver said of the same answer (RFC 4035 §3.2.3,
/// RFC 6840 §5.7: AD set means it validated the answer as secure; a
/// validating resolver answers SERVFAIL for bogus data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolverView {
    /// AD set.
    Secure,
    /// NOERROR/NXDOMAIN without AD.
    NotSecure,
    /// SERVFAIL when asked without CD (bogus to a validating resolver).
    Servfail,
}

impl ResolverView {
    /// What the resolver's answer says, for a person.
    pub fn describe(self) -> &'static str {
        match self {
            ResolverView::Secure => "secure (AD set)",
            ResolverView::NotSecure => "not secure (AD clear)",
            ResolverView::Servfail => "bogus (SERVFAIL)",
        }
    }
}

/// Whether certvigil's validation and the resolver's agree. `None` when
/// they do, or when the resolver does not validate (it never set AD in this
/// run), so there is nothing to compare.
pub fn disagreement(
    ours: &DnssecStatus,
    resolver: ResolverView,
    resolver_validates: bool,
) -> Option<String> {
    if !resolver_validates {
        return None;
    }
    let theirs = resolver.describe();
    let agree = match (ours, resolver) {
        (DnssecStatus::Secure, ResolverView::Secure) => true,
        (DnssecStatus::Insecure { .. }, ResolverView::NotSecure) => true,
        (DnssecStatus::Bogus { .. }, ResolverView::Servfail) => true,
        // Nothing to compare with.
        (DnssecStatus::Indeterminate { .. }, _) => true,
        _ => false,
    };
    (!agree).then(|| {
        format!(
            "certvigil finds this answer {}, but the configured resolver, which validates, says {theirs}; one of them has another trust anchor, another view of the zone, or a stale cache",
            ours.word()
        )
    })
}

fn time(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{unix} (Unix time)"))
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrsig() -> RrsigRef {
        RrsigRef {
            owner: "shop.example.test".into(),
            rtype: "CAA".into(),
            signer: "example.test".into(),
            key_tag: 4242,
            algorithm: 13,
            inception: 1_700_000_000,
            expiration: 1_764_460_800,
        }
    }

    #[test]
    fn expired_rrsig_names_signer_type_key_tag_and_expiry() {
        let c = BogusCause::RrsigExpired { rrsig: rrsig() };
        let d = c.describe();
        for want in [
            "CAA RRset of shop.example.test",
            "signer example.test",
            "key tag 4242",
            "expired at 2025-11-30T00:00:00Z",
        ] {
            assert!(d.contains(want), "{want} missing from {d}");
        }
        assert!(c.fix().starts_with("Re-sign the zone example.test"));
    }

    #[test]
    fn not_yet_valid_rrsig_names_inception() {
        let d = BogusCause::RrsigNotYetValid { rrsig: rrsig() }.describe();
        assert!(d.contains("valid only from 2023-11-14T22:13:20Z"), "{d}");
    }

    #[test]
    fn invalid_signature_and_unknown_key_say_which_key() {
        let d = BogusCause::SignatureInvalid { rrsig: rrsig() }.describe();
        assert!(d.contains("does not verify with DNSKEY 4242"), "{d}");
        let c = BogusCause::NoKeyForRrsig { rrsig: rrsig() };
        assert!(
            c.describe()
                .contains("not among the verified DNSKEYs of example.test")
        );
        assert!(c.fix().contains("rollover"));
    }

    #[test]
    fn stale_ds_names_the_ds_and_says_registrar() {
        let c = BogusCause::DsMatchesNoDnskey {
            zone: "example.test".into(),
            parent: "test".into(),
            ds: vec![DsRef {
                key_tag: 11111,
                algorithm: 13,
                digest_type: 2,
                digest: "ABCD".into(),
            }],
            dnskey_tags: vec![222, 333],
        };
        let d = c.describe();
        assert!(d.contains("DS 11111 13 2 ABCD"), "{d}");
        assert!(d.contains("key tag(s) 222, 333"), "{d}");
        assert!(
            c.fix()
                .contains("Remove the stale DS record for example.test at the registrar")
        );
        let c = BogusCause::NoDnskey {
            zone: "example.test".into(),
            ds: vec![],
        };
        assert!(c.describe().contains("publishes no DNSKEY"));
        assert!(c.fix().contains("registrar"));
    }

    #[test]
    fn missing_rrsig_and_denial_say_re_sign() {
        let c = BogusCause::MissingRrsig {
            owner: "a.example.test".into(),
            rtype: "CAA".into(),
            zone: "example.test".into(),
        };
        assert!(c.describe().contains("has no RRSIG"));
        assert!(c.fix().contains("Re-sign the zone example.test"));
        let c = BogusCause::DenialNotProven {
            name: "a.example.test".into(),
            rtype: "CAA".into(),
            zone: "example.test".into(),
            detail: "no NSEC3 matches or covers it".into(),
        };
        assert!(c.describe().contains("no valid NSEC/NSEC3 proof"));
        assert!(c.describe().contains("no NSEC3 matches"));
    }

    #[test]
    fn anchor_and_algorithm_causes() {
        let c = BogusCause::TrustAnchorMismatch {
            anchors: vec![20326, 38696],
            dnskey_tags: vec![1],
        };
        assert!(c.describe().contains("20326, 38696"));
        assert!(c.fix().contains("trust_anchor_file"));
        let c = BogusCause::UnsupportedAlgorithm {
            zone: "x.test".into(),
            algorithm: 3,
        };
        assert!(c.describe().contains("algorithm 3"));
        assert!(c.fix().contains("algorithm 8"));
    }

    #[test]
    fn statuses_have_words_and_descriptions() {
        assert_eq!(DnssecStatus::Secure.word(), "secure");
        let i = DnssecStatus::Insecure {
            reason: InsecureReason::UnsignedDelegation {
                zone: "plain.test".into(),
                parent: "test".into(),
            },
        };
        assert_eq!(i.word(), "insecure");
        assert!(i.describe().contains("its parent test proves it has no DS"));
        let u = InsecureReason::UnsupportedAlgorithm {
            zone: "x.test".into(),
            algorithms: vec![3, 6],
        };
        assert!(u.describe().contains("3, 6"));
        let n = DnssecStatus::Indeterminate { why: "x".into() };
        assert_eq!(n.word(), "indeterminate");
        assert!(n.describe().contains("not validated: x"));
        let b = DnssecStatus::Bogus {
            cause: BogusCause::RrsigExpired { rrsig: rrsig() },
        };
        assert!(b.describe().starts_with("bogus: "));
    }

    #[test]
    fn json_shape_is_flat() {
        let note = DnssecNote::new("example.test", "CAA", DnssecStatus::Secure, None);
        assert_eq!(
            serde_json::to_string(&note).unwrap(),
            r#"{"name":"example.test","rtype":"CAA","status":"secure"}"#
        );
        let note = DnssecNote::new(
            "example.test",
            "CAA",
            DnssecStatus::Secure,
            Some(ResolverView::Secure),
        );
        assert_eq!(
            serde_json::to_string(&note).unwrap(),
            r#"{"name":"example.test","rtype":"CAA","status":"secure","resolver":"secure","resolver_agrees":true}"#
        );
    }

    #[test]
    fn resolver_agreement_is_said_and_a_bogus_servfail_is_the_same_failure() {
        let agree = DnssecNote::new(
            "a.test",
            "CAA",
            DnssecStatus::Secure,
            Some(ResolverView::Secure),
        );
        assert_eq!(
            agree.resolver_agreement().unwrap(),
            "the configured resolver validates too and agrees: secure (AD set)"
        );
        let bogus = DnssecStatus::Bogus {
            cause: BogusCause::RrsigExpired { rrsig: rrsig() },
        };
        let servfail =
            DnssecNote::new("a.test", "CAA", bogus.clone(), Some(ResolverView::Servfail));
        assert_eq!(servfail.resolver_agrees, Some(true));
        let line = servfail.resolver_agreement().unwrap();
        assert!(
            line.contains("SERVFAIL") && line.contains("same answer bogus"),
            "{line}"
        );
        // A disagreement is the finding's to word, not this line's.
        let differ = DnssecNote::new("a.test", "CAA", bogus, Some(ResolverView::Secure));
        assert_eq!(differ.resolver_agrees, Some(false));
        assert_eq!(differ.resolver_agreement(), None);
        assert_eq!(
            DnssecNote::new("a.test", "CAA", DnssecStatus::Secure, None).resolver_agreement(),
            None
        );
    }

    #[test]
    fn resolver_agreement_every_branch() {
        let secure = DnssecStatus::Secure;
        let insecure = DnssecStatus::Insecure {
            reason: InsecureReason::UnsignedDelegation {
                zone: "a".into(),
                parent: "b".into(),
            },
        };
        let bogus = DnssecStatus::Bogus {
            cause: BogusCause::RrsigExpired { rrsig: rrsig() },
        };
        let ind = DnssecStatus::Indeterminate { why: "x".into() };
        // A resolver that does not validate is never compared.
        assert_eq!(disagreement(&secure, ResolverView::NotSecure, false), None);
        assert_eq!(disagreement(&secure, ResolverView::Secure, true), None);
        assert_eq!(disagreement(&insecure, ResolverView::NotSecure, true), None);
        assert_eq!(disagreement(&bogus, ResolverView::Servfail, true), None);
        assert_eq!(disagreement(&ind, ResolverView::Secure, true), None);
        let d = disagreement(&secure, ResolverView::NotSecure, true).unwrap();
        assert!(
            d.contains("finds this answer secure") && d.contains("AD clear"),
            "{d}"
        );
        let d = disagreement(&bogus, ResolverView::Secure, true).unwrap();
        assert!(d.contains("bogus") && d.contains("AD set"), "{d}");
        assert!(disagreement(&insecure, ResolverView::Servfail, true).is_some());
    }
}
