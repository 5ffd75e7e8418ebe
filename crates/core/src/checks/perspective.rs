//! Lookups from abroad, judged: the CAA set and the validation records as
//! resolvers at each vantage point (probe agents, Globalping probes) saw
//! them, compared with the home view. Pure: the root crate's `perspective`
//! module asks the vantage points.
//!
//! A CA corroborates its lookups from several network perspectives
//! (CA/B BR §3.2.2.9), and GeoDNS or split-horizon zones answer by region;
//! a verdict that differs between perspectives is reported with the share
//! of perspectives that allow, as a CA applying the quorum would count.

use serde::{Deserialize, Serialize};

use super::caa::{CaaAnswer, CaaObservation, CaaVerdictKind, IssuanceRequest, LookupFailure};
use super::views::{
    Share, ViewFinding, ViewKind, canonical, home_lookup, judge_replaced, show_set, verdict_word,
};
use crate::domain::DomainName;
use crate::findings::Severity;

/// The TXT (or alias) records at a validation name, as one place saw them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordsSeen {
    /// The alias chain from the asked name (`[asked]` when none).
    pub cname_chain: Vec<DomainName>,
    /// Each TXT record's character-strings joined, as text (lossy).
    pub texts: Vec<String>,
    pub nxdomain: bool,
}

/// A validation record name and what home saw there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationName {
    pub name: DomainName,
    pub home: Result<RecordsSeen, LookupFailure>,
}

/// What one vantage point answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerspectiveObservation {
    /// The `[[vantage]]` name (for Globalping: `name/probe place`).
    pub vantage: String,
    /// CAA at the names asked (the climb's names).
    pub caa: Vec<(DomainName, Result<CaaAnswer, LookupFailure>)>,
    /// TXT at the validation names.
    pub validation: Vec<(DomainName, Result<RecordsSeen, LookupFailure>)>,
    /// The vantage point could not be asked at all.
    pub error: Option<String>,
}

/// The findings of the perspectives for one request.
pub fn judge(
    home: &CaaObservation,
    home_validation: &[ValidationName],
    seen: &[PerspectiveObservation],
    req: &IssuanceRequest,
) -> Vec<ViewFinding> {
    let mut out = Vec::new();
    if seen.is_empty() {
        return out;
    }
    let home_verdict = super::caa::judge::judge(home, req).verdict;
    let mut verdicts: Vec<(String, CaaVerdictKind)> = vec![("home".into(), home_verdict)];
    for p in seen {
        if let Some(e) = &p.error {
            out.push(ViewFinding::new(
                ViewKind::PerspectiveFailed,
                Severity::Warning,
                format!("vantage point {} could not be asked: {e}", p.vantage),
            ));
            continue;
        }
        for (name, result) in &p.caa {
            let Some(home_result) = home_lookup(home, name) else {
                continue;
            };
            if let Some(diff) = caa_difference(home_result, result) {
                out.push(ViewFinding::new(
                    ViewKind::PerspectiveCaaDiffers,
                    Severity::Warning,
                    format!("from {}, CAA at {name} is {diff}", p.vantage),
                ));
            }
        }
        // A perspective that did not look CAA up (Globalping cannot) has
        // no say in the quorum.
        if !p.caa.is_empty() {
            let verdict = judge_replaced(home, &p.caa, req).verdict;
            verdicts.push((p.vantage.clone(), verdict));
        }
        for (name, result) in &p.validation {
            let Some(h) = home_validation.iter().find(|v| v.name == *name) else {
                continue;
            };
            if let Some((diff, missing_abroad)) = records_difference(&h.home, result) {
                let severity = if missing_abroad {
                    Severity::Blocking
                } else {
                    Severity::Warning
                };
                let mut f = ViewFinding::new(
                    ViewKind::PerspectiveRecordsDiffer,
                    severity,
                    format!("from {}, the validation record {name} is {diff}", p.vantage),
                );
                if missing_abroad {
                    f = f.remedy(format!(
                        "publish {name} in every view of the zone (GeoDNS lines, split horizon), not only the one seen at home: the CA looks it up from abroad"
                    ));
                }
                out.push(f);
            }
        }
    }
    let total = verdicts.len();
    let allowing: Vec<&str> = verdicts
        .iter()
        .filter(|(_, v)| *v == CaaVerdictKind::Allowed)
        .map(|(n, _)| n.as_str())
        .collect();
    if verdicts.iter().any(|(_, v)| *v != home_verdict) {
        let mut by_kind: Vec<String> = Vec::new();
        for kind in [
            CaaVerdictKind::Allowed,
            CaaVerdictKind::Forbidden,
            CaaVerdictKind::Error,
        ] {
            let names: Vec<&str> = verdicts
                .iter()
                .filter(|(_, v)| *v == kind)
                .map(|(n, _)| n.as_str())
                .collect();
            if !names.is_empty() {
                by_kind.push(format!("{} from {}", verdict_word(kind), names.join(", ")));
            }
        }
        let mut f = ViewFinding::new(
            ViewKind::PerspectiveVerdictDiffers,
            Severity::Blocking,
            format!(
                "the CAA verdict differs between perspectives: {} of {total} allow ({}); a CA corroborating its CAA lookup from several perspectives (BR §3.2.2.9) may refuse",
                allowing.len(),
                by_kind.join("; ")
            ),
        )
        .remedy("serve the same CAA records to every region (check GeoDNS lines and split-horizon views of the zone)");
        f.allow_share = Some(Share {
            allowing: allowing.len(),
            total,
        });
        out.push(f);
    }
    out
}

/// How `abroad` differs from `home`, in words; `None` when the same.
fn caa_difference(
    home: &Result<CaaAnswer, LookupFailure>,
    abroad: &Result<CaaAnswer, LookupFailure>,
) -> Option<String> {
    match (home, abroad) {
        (Ok(h), Ok(a)) => {
            let same = canonical(&h.records) == canonical(&a.records)
                && h.cname_chain.get(1..) == a.cname_chain.get(1..);
            (!same).then(|| {
                format!(
                    "{}, while home sees {}",
                    show_set(&a.records),
                    show_set(&h.records)
                )
            })
        }
        (Ok(h), Err(e)) => Some(format!(
            "not known: the lookup failed ({e}), while home sees {}",
            show_set(&h.records)
        )),
        (Err(he), Ok(a)) => Some(format!(
            "{}, while the home lookup failed ({he})",
            show_set(&a.records)
        )),
        (Err(_), Err(_)) => None,
    }
}

/// How the validation records seen abroad differ from home's, and whether
/// a record home sees is missing abroad (the CA would not find it).
fn records_difference(
    home: &Result<RecordsSeen, LookupFailure>,
    abroad: &Result<RecordsSeen, LookupFailure>,
) -> Option<(String, bool)> {
    let show = |r: &RecordsSeen| {
        let mut t = r.texts.clone();
        t.sort();
        let alias = if r.cname_chain.len() > 1 {
            let chain: Vec<&str> = r.cname_chain.iter().map(DomainName::as_str).collect();
            format!(" via alias {}", chain.join(" -> "))
        } else {
            String::new()
        };
        if t.is_empty() {
            format!("absent{alias}")
        } else {
            format!("{t:?}{alias}")
        }
    };
    match (home, abroad) {
        (Ok(h), Ok(a)) => {
            let (mut ht, mut at) = (h.texts.clone(), a.texts.clone());
            ht.sort();
            at.sort();
            if ht == at && h.cname_chain.get(1..) == a.cname_chain.get(1..) {
                return None;
            }
            let missing = ht.iter().any(|t| !at.contains(t));
            Some((format!("{}, while home sees {}", show(a), show(h)), missing))
        }
        (Ok(h), Err(e)) => Some((
            format!(
                "not known: the lookup failed ({e}), while home sees {}",
                show(h)
            ),
            !h.texts.is_empty(),
        )),
        (Err(he), Ok(a)) => Some((
            format!("{}, while the home lookup failed ({he})", show(a)),
            false,
        )),
        (Err(_), Err(_)) => None,
    }
}

#[cfg(test)]
#[path = "perspective_tests.rs"]
mod tests;
