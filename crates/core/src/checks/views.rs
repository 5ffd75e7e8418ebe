//! Other views of the records that decide: what each authoritative server
//! of the zone serves ([`authority`](super::authority)), and what resolvers
//! abroad see ([`perspective`](super::perspective)). Both produce
//! [`ViewFinding`]s, which the engine folds into the CAA verdict, so state,
//! events, history and alerts carry them with the CAA check (issue 13).

use serde::{Deserialize, Serialize};

use super::caa::judge::judge;
use super::caa::{CaaAnswer, CaaLookup, CaaObservation, CaaRecord, CaaVerdict, IssuanceRequest};
use super::caa::{CaaVerdictKind, LookupFailure};
use crate::domain::DomainName;
use crate::findings::Severity;

/// What kind of difference a view found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewKind {
    /// The zone's authoritative servers serve different CAA answers.
    ServersDisagree,
    /// A server answered without authority, or with an error code.
    LameServer,
    /// A server did not answer at all.
    UnreachableServer,
    /// No server of the zone gave an authoritative answer.
    NoAuthoritativeAnswer,
    /// The NS set at the parent differs from the zone's own.
    NsMismatch,
    /// An NS name without an address.
    NsWithoutAddress,
    /// Every server agrees, but not with the recursive resolver (a cached
    /// older answer).
    RecursiveDiffers,
    /// The delegation could not be found or followed.
    DelegationUnknown,
    /// A vantage point sees another CAA set than home.
    PerspectiveCaaDiffers,
    /// The CAA verdict is not the same from every perspective.
    PerspectiveVerdictDiffers,
    /// A vantage point sees other validation records than home.
    PerspectiveRecordsDiffer,
    /// A vantage point could not be asked.
    PerspectiveFailed,
}

/// How many perspectives (home included) would let the CA issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub allowing: usize,
    pub total: usize,
}

/// One finding of a view, for a person: which servers or vantage points
/// answered what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewFinding {
    pub kind: ViewKind,
    pub severity: Severity,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    /// For [`ViewKind::PerspectiveVerdictDiffers`]: the share that allows
    /// (BR §3.2.2.9 quorum view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_share: Option<Share>,
}

impl ViewFinding {
    pub(crate) fn new(kind: ViewKind, severity: Severity, summary: String) -> Self {
        Self {
            kind,
            severity,
            summary,
            remedy: None,
            allow_share: None,
        }
    }

    pub(crate) fn remedy(mut self, remedy: impl Into<String>) -> Self {
        self.remedy = Some(remedy.into());
        self
    }
}

/// The CAA verdict the request would get if the lookups at the given names
/// had these results instead of the home ones: how a CA that reached
/// another server, or asked from elsewhere, would decide. Names not in the
/// climb are ignored (the climb is the CA's search, RFC 8659 §3).
pub fn judge_replaced(
    home: &CaaObservation,
    replaced: &[(DomainName, Result<CaaAnswer, LookupFailure>)],
    req: &IssuanceRequest,
) -> CaaVerdict {
    let mut obs = home.clone();
    for lookup in &mut obs.climb {
        if let Some((_, result)) = replaced.iter().find(|(n, _)| *n == lookup.name) {
            *lookup = CaaLookup {
                name: lookup.name.clone(),
                result: result.clone(),
            };
        }
    }
    judge(&obs, req)
}

/// The home lookup at `name`, if it is in the climb.
pub(crate) fn home_lookup<'o>(
    home: &'o CaaObservation,
    name: &DomainName,
) -> Option<&'o Result<CaaAnswer, LookupFailure>> {
    home.climb
        .iter()
        .find(|l| l.name == *name)
        .map(|l| &l.result)
}

/// An RRset in canonical order (an RRset has no order).
pub(crate) fn canonical(records: &[CaaRecord]) -> Vec<CaaRecord> {
    let mut v = records.to_vec();
    v.sort_by(|a, b| (a.flags, &a.tag, &a.value).cmp(&(b.flags, &b.tag, &b.value)));
    v.dedup();
    v
}

/// `[0 issue "a.example", ...]`, or `no CAA records`.
pub(crate) fn show_set(records: &[CaaRecord]) -> String {
    if records.is_empty() {
        return "no CAA records".into();
    }
    let shown: Vec<String> = canonical(records)
        .iter()
        .map(|r| {
            format!(
                "{} {} {:?}",
                r.flags,
                crate::redact::escape_controls(&r.tag),
                r.value_lossy()
            )
        })
        .collect();
    format!("[{}]", shown.join(", "))
}

/// "allows" / "forbids" / "cannot decide (lookup error)".
pub(crate) fn verdict_word(kind: CaaVerdictKind) -> &'static str {
    match kind {
        CaaVerdictKind::Allowed => "allows issuance",
        CaaVerdictKind::Forbidden => "forbids issuance",
        CaaVerdictKind::Error => "makes the CA refuse (lookup error)",
    }
}

/// Whether any finding blocks issuance.
pub fn any_blocking(findings: &[ViewFinding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Blocking)
}

/// The names whose records decide, which the other views are asked about:
/// the name where the CA's climb stops (the relevant name, the failed
/// lookup's name, or the queried name when nothing is found), and the end
/// of the alias chain there (the target's zone serves the records).
pub fn deciding_names(home: &CaaObservation) -> Vec<DomainName> {
    use super::caa::judge::{Search, locate};
    let mut out = Vec::new();
    match locate(&home.climb) {
        Search::Found { lookup, .. } => {
            out.push(lookup.name.clone());
            if let Ok(answer) = &lookup.result
                && answer.cname_chain.len() > 1
                && let Some(target) = answer.cname_chain.last()
            {
                out.push(target.clone());
            }
        }
        Search::Failed { lookup, .. } => out.push(lookup.name.clone()),
        Search::Nothing => out.push(home.queried.clone()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::policy::CheckStatus;
    use crate::checks::state::Observed;

    fn verdict(views: Vec<ViewFinding>) -> CaaVerdict {
        let name = DomainName::parse("example.test").unwrap();
        CaaVerdict {
            verdict: CaaVerdictKind::Allowed,
            relevant_name: Some(name.clone()),
            records: vec![CaaRecord::new(0, "issue", "letsencrypt.org")],
            cname_chain: vec![name],
            reason: "allowed".into(),
            remedy: None,
            lookup_error: None,
            legacy_rfc6844: None,
            dnssec: Vec::new(),
            views,
        }
    }

    fn split() -> ViewFinding {
        ViewFinding::new(
            ViewKind::ServersDisagree,
            Severity::Blocking,
            "the authoritative servers of example.test disagree".into(),
        )
        .remedy("make them agree")
    }

    /// What the store and the alerts see: a blocking view makes an
    /// allowed verdict block, is a change of state, and its alert says why.
    #[test]
    fn a_blocking_view_blocks_changes_the_state_and_alerts_with_its_fix() {
        let plain = verdict(Vec::new());
        let with = verdict(vec![split()]);
        assert!(!plain.blocks());
        assert!(with.blocks());
        assert_ne!(plain.fingerprint(), with.fingerprint());
        let info = verdict(vec![ViewFinding::new(
            ViewKind::RecursiveDiffers,
            Severity::Info,
            "x".into(),
        )]);
        assert!(!info.blocks());
        let o = crate::alert::caa::observation(&with, "example.test", "Let's Encrypt");
        assert_eq!(o.status, CheckStatus::Blocking);
        assert!(
            o.summary
                .contains("allows Let's Encrypt from here, but the authoritative servers of example.test disagree"),
            "{}",
            o.summary
        );
        assert_eq!(o.remedy.as_deref(), Some("make them agree"));
        assert_eq!(
            crate::alert::caa::observation(&plain, "example.test", "Let's Encrypt").status,
            CheckStatus::Ok
        );
        // The check report carries them as findings of the CAA check.
        let findings = crate::report::caa_findings(&with);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Blocking);
    }

    #[test]
    fn the_deciding_names_are_the_relevant_name_and_its_alias_target() {
        let n = |s: &str| DomainName::parse(s).unwrap();
        let obs = CaaObservation {
            queried: n("www.example.test"),
            climb: vec![
                CaaLookup {
                    name: n("www.example.test"),
                    result: Ok(CaaAnswer {
                        cname_chain: vec![n("www.example.test"), n("cdn.provider.test")],
                        records: vec![CaaRecord::new(0, "issue", "x")],
                        nxdomain: false,
                        dnssec: None,
                    }),
                },
                CaaLookup {
                    name: n("example.test"),
                    result: Ok(CaaAnswer::default()),
                },
            ],
            alias_target_climb: Vec::new(),
        };
        assert_eq!(
            deciding_names(&obs),
            [n("www.example.test"), n("cdn.provider.test")]
        );
        let mut nothing = obs.clone();
        nothing.climb[0].result = Ok(CaaAnswer::default());
        assert_eq!(deciding_names(&nothing), [n("www.example.test")]);
        let mut failed = obs;
        failed.climb[1].result = Err(LookupFailure::Timeout);
        failed.climb[0].result = Ok(CaaAnswer::default());
        assert_eq!(deciding_names(&failed), [n("example.test")]);
    }
}

/// What the authority and perspective judges' tests start from: a home
/// view of `example.test` and a request for Let's Encrypt.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::checks::caa::{CaaAnswer, CaaLookup, CaaObservation, CaaRecord, IssuanceRequest};
    use crate::domain::DomainName;

    pub(crate) fn n(s: &str) -> DomainName {
        DomainName::parse(s).unwrap()
    }

    pub(crate) fn answer(records: &[&str]) -> CaaAnswer {
        CaaAnswer {
            cname_chain: vec![n("example.test")],
            records: records
                .iter()
                .map(|v| CaaRecord::new(0, "issue", v))
                .collect(),
            nxdomain: false,
            dnssec: None,
        }
    }

    pub(crate) fn home(records: &[&str]) -> CaaObservation {
        CaaObservation {
            queried: n("example.test"),
            climb: vec![
                CaaLookup {
                    name: n("example.test"),
                    result: Ok(answer(records)),
                },
                CaaLookup {
                    name: n("test"),
                    result: Ok(CaaAnswer::default()),
                },
            ],
            alias_target_climb: Vec::new(),
        }
    }

    pub(crate) fn req() -> IssuanceRequest {
        IssuanceRequest {
            wildcard: false,
            issuer_domains: vec![n("letsencrypt.org")],
            account_uris: Vec::new(),
            validation_method: None,
            outside_acme: None,
        }
    }
}
