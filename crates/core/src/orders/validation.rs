//! What the validation lookups found, one outcome per requirement: the
//! plain data [`super::judge`] reads. The lookups themselves (DNS, the file
//! over HTTP) are the `certvigil` crate's `orders::validation`.
//!
//! A DNS requirement is looked up as the CA looks it up (issue 13): the
//! home answer is DNSSEC-validated (a bogus answer is never "in place": a
//! validating CA gets SERVFAIL), and, through the configured views, every
//! authoritative server of the record's zone and every vantage point abroad
//! is asked too. [`judge_records`] says what a CA finds in one answer, and
//! [`judge_views`] what the other views add to the home outcome. Pure.

use serde::{Deserialize, Serialize};

use super::{Requirement, ValidationRequirement};
use crate::checks::authority::{ServerOutcome, ZoneObservation, not_asked, not_asked_fix};
use crate::checks::caa::LookupFailure;
use crate::checks::dnssec::{BogusCause, DnssecNote};
use crate::checks::perspective::RecordsSeen;
use crate::domain::DomainName;
use crate::findings::Severity;

/// What was found for one requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ValidationOutcome {
    /// The record or file is there with the right value.
    InPlace,
    /// Nothing there: no such name, no record of the type, HTTP 404.
    Missing { detail: String },
    /// Something there, but not the value the CA expects.
    Wrong { found: Vec<String>, detail: String },
    /// The file could not be fetched (connection refused, timeout, an
    /// error status other than 404).
    Unreachable { detail: String },
    /// The lookup itself failed here (SERVFAIL, timeout): says nothing
    /// about the record, and a CA may see it differently.
    Inconclusive { detail: String },
    /// The record's DNSSEC chain of trust is broken: every CA validates
    /// domain-validation lookups (CA/B ballot SC-085v2), gets SERVFAIL and
    /// cannot see the record, whatever its value.
    Bogus { cause: BogusCause },
}

impl ValidationOutcome {
    /// Whether the CA, looking now, would not find what it needs.
    pub fn blocks(&self) -> bool {
        matches!(
            self,
            ValidationOutcome::Missing { .. }
                | ValidationOutcome::Wrong { .. }
                | ValidationOutcome::Unreachable { .. }
                | ValidationOutcome::Bogus { .. }
        )
    }

    /// Preference when two looks disagree (http vs https): the CA needs one.
    pub fn rank(&self) -> u8 {
        match self {
            ValidationOutcome::InPlace => 4,
            ValidationOutcome::Wrong { .. } => 3,
            ValidationOutcome::Missing { .. } => 2,
            ValidationOutcome::Unreachable { .. } | ValidationOutcome::Bogus { .. } => 1,
            ValidationOutcome::Inconclusive { .. } => 0,
        }
    }
}

/// One requirement and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationCheck {
    pub requirement: ValidationRequirement,
    pub outcome: ValidationOutcome,
    /// The DNSSEC status of the home answer (secure, insecure, or not
    /// validated), when `[dnssec] validate` is on; a bogus one is the
    /// outcome instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<DnssecNote>,
    /// What the other views saw (`[dns] view`, the perspectives abroad).
    #[serde(default, skip_serializing_if = "RecordViews::is_empty")]
    pub views: RecordViews,
}

impl ValidationCheck {
    /// A check with the home outcome only.
    pub fn new(requirement: ValidationRequirement, outcome: ValidationOutcome) -> Self {
        Self {
            requirement,
            outcome,
            dnssec: None,
            views: RecordViews::default(),
        }
    }
}

/// A validation record as the other views saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordViews {
    /// What the recursive resolver answered (the home view), to compare
    /// alias answers with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<RecordsSeen>,
    /// The zone holding the record and what each of its authoritative
    /// servers answered when asked directly (RD=0); `None` when the view is
    /// recursive only, or the zone could not be found (`authority_failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<ZoneObservation<RecordsSeen>>,
    /// Why the authoritative servers were not asked although the view asks
    /// for them: the delegation of the record's zone could not be found
    /// (the NS query failed). A warning, never silence (`judge_views`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority_failure: Option<String>,
    /// What each vantage point (probe agent, Globalping probe) saw.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perspectives: Vec<VantageRecords>,
}

impl RecordViews {
    pub fn is_empty(&self) -> bool {
        self.home.is_none()
            && self.authority.is_none()
            && self.authority_failure.is_none()
            && self.perspectives.is_empty()
    }
}

/// What one vantage point saw at the validation name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VantageRecords {
    /// The `[[vantage]]` name (for Globalping: `name/probe place`).
    pub vantage: String,
    pub seen: Result<RecordsSeen, LookupFailure>,
}

impl Requirement {
    /// The DNS name a DNS requirement is looked up at.
    pub fn dns_name(&self) -> Option<&DomainName> {
        match self {
            Requirement::DnsTxt { name, .. } | Requirement::DnsCname { name, .. } => Some(name),
            Requirement::File { .. } => None,
        }
    }
}

/// What a CA finds for a DNS requirement in one answer at its name; `None`
/// for a file requirement.
pub fn judge_records(requirement: &Requirement, seen: &RecordsSeen) -> Option<ValidationOutcome> {
    Some(match requirement {
        Requirement::DnsTxt { name, value } => {
            if seen.texts.iter().any(|f| f.trim() == value.trim()) {
                ValidationOutcome::InPlace
            } else if seen.texts.is_empty() {
                ValidationOutcome::Missing {
                    detail: if seen.nxdomain {
                        format!("{name} does not exist (NXDOMAIN)")
                    } else {
                        format!("{name} has no TXT record")
                    },
                }
            } else {
                ValidationOutcome::Wrong {
                    detail: format!(
                        "{name} has {} TXT record(s), none with the value the CA expects",
                        seen.texts.len()
                    ),
                    found: seen.texts.clone(),
                }
            }
        }
        Requirement::DnsCname { name, target } => match seen.cname_chain.get(1) {
            Some(first) if first == target => ValidationOutcome::InPlace,
            Some(first) => ValidationOutcome::Wrong {
                found: vec![first.to_string()],
                detail: format!("{name} is an alias of {first}, not of {target}"),
            },
            None => ValidationOutcome::Missing {
                detail: format!("{name} has no CNAME record"),
            },
        },
        Requirement::File { .. } => return None,
    })
}

/// What an answer holds, in a few words: `["v1", "v2"]`, `no TXT record`,
/// `NXDOMAIN`, `an alias of x.example`.
pub fn show_records(requirement: &Requirement, seen: &RecordsSeen) -> String {
    let alias = seen.cname_chain.get(1);
    match requirement {
        Requirement::DnsCname { .. } => match alias {
            Some(t) => format!("an alias of {t}"),
            None if seen.nxdomain => "NXDOMAIN".into(),
            None => "no CNAME record".into(),
        },
        _ => {
            let via = alias.map(|t| format!(" via alias {t}")).unwrap_or_default();
            if !seen.texts.is_empty() {
                let mut t = seen.texts.clone();
                t.sort();
                format!("{t:?}{via}")
            } else if seen.nxdomain {
                format!("NXDOMAIN{via}")
            } else {
                format!("no TXT record{via}")
            }
        }
    }
}

/// The outcome judged on the zone's own servers (`[dns] view =
/// "authoritative"`): the first server that answered with authority.
pub fn authoritative_outcome(
    requirement: &Requirement,
    zone: &ZoneObservation<RecordsSeen>,
) -> Option<ValidationOutcome> {
    zone.servers.iter().find_map(|s| match &s.outcome {
        ServerOutcome::Answered { answer } => judge_records(requirement, answer),
        _ => None,
    })
}

/// A condition the other views raise about one validation record, for
/// the order judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewCondition {
    pub severity: Severity,
    /// What each server or vantage point answered.
    pub summary: String,
    pub remedy: String,
    /// What distinguishes it (which servers, which vantage points).
    pub key: String,
    /// The view could not be asked at all (the record's zone delegation
    /// was not found): nothing is known against the record there, so the
    /// condition is never a reason the order cannot issue.
    pub unasked: bool,
}

/// What the authoritative servers and the perspectives add to the home
/// outcome of a DNS requirement. Nothing when home already finds the record
/// missing, wrong or bogus: that condition and its fix cover it.
pub fn judge_views(check: &ValidationCheck) -> Vec<ViewCondition> {
    let requirement = &check.requirement.requirement;
    let Some(name) = requirement.dns_name() else {
        return Vec::new();
    };
    if check.outcome.blocks() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(zone) = &check.views.authority {
        judge_servers(requirement, name, check.views.home.as_ref(), zone, &mut out);
    }
    if let Some(why) = &check.views.authority_failure {
        out.push(unasked_servers(name, why));
    }
    judge_perspectives(requirement, name, &check.views.perspectives, &mut out);
    out
}

/// Whether `seen` gives the CA what it needs, an alias answer that leaves
/// the server's zone counting as the home answer's when they alias to the
/// same name (the CA follows it elsewhere).
fn serves(requirement: &Requirement, home: Option<&RecordsSeen>, seen: &RecordsSeen) -> bool {
    if judge_records(requirement, seen) == Some(ValidationOutcome::InPlace) {
        return true;
    }
    let left_zone = seen.texts.is_empty() && !seen.nxdomain && seen.cname_chain.len() > 1;
    left_zone
        && home.is_some_and(|h| {
            h.cname_chain.get(1) == seen.cname_chain.get(1)
                && judge_records(requirement, h) == Some(ValidationOutcome::InPlace)
        })
}

fn judge_servers(
    requirement: &Requirement,
    name: &DomainName,
    home: Option<&RecordsSeen>,
    zone: &ZoneObservation<RecordsSeen>,
    out: &mut Vec<ViewCondition>,
) {
    let z = &zone.zone;
    let mut lacking: Vec<(String, String)> = Vec::new();
    let mut silent: Vec<(String, String)> = Vec::new();
    let mut answering = 0;
    for server in &zone.servers {
        match &server.outcome {
            ServerOutcome::Answered { answer } => {
                answering += 1;
                if !serves(requirement, home, answer) {
                    lacking.push((server.label(), show_records(requirement, answer)));
                }
            }
            other => silent.push((server.label(), silent_word(other))),
        }
    }
    let total = zone.servers.len();
    if total > 0 && answering == 0 {
        out.push(ViewCondition {
            severity: Severity::Blocking,
            summary: format!(
                "none of the {total} name server address(es) of {z} answered for {name} with authority ({}); a CA's lookup fails",
                pairs(&silent)
            ),
            remedy: format!("Make the name servers of {z} serve the zone."),
            key: format!("servers-silent:{}", labels(&silent)),
            unasked: false,
        });
        return;
    }
    if !lacking.is_empty() {
        out.push(ViewCondition {
            severity: Severity::Blocking,
            summary: format!(
                "{} of the {total} authoritative server address(es) of {z} do not serve it: {}; a CA whose resolver asks {} does not find it",
                lacking.len(),
                pairs(&lacking),
                if lacking.len() == 1 { "it" } else { "one of them" }
            ),
            remedy: format!(
                "Publish the record on every name server of {z} (a server left over from a provider move, or a secondary that has not transferred the zone, still serves old data), or remove the stale server from the NS records at the parent and in the zone."
            ),
            key: format!("servers-lack:{}", labels(&lacking)),
            unasked: false,
        });
    }
    if !silent.is_empty() {
        out.push(ViewCondition {
            severity: Severity::Warning,
            summary: format!(
                "{} of the {total} name server address(es) of {z} gave no authoritative answer for {name}: {}; a CA whose resolver asks them may fail to validate",
                silent.len(),
                pairs(&silent)
            ),
            remedy: format!(
                "Serve {z} on those servers, or remove them from the NS records at the parent and in the zone."
            ),
            key: format!("servers-silent:{}", labels(&silent)),
            unasked: false,
        });
    }
}

/// The zone's servers could not be asked (the CAA check's
/// `delegation_unknown`, in its words): a warning, neither "in place" nor a
/// block.
fn unasked_servers(name: &DomainName, why: &str) -> ViewCondition {
    let fix = not_asked_fix(name);
    let mut chars = fix.chars();
    let fix = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect::<String>())
        .unwrap_or_default();
    ViewCondition {
        severity: Severity::Warning,
        summary: format!(
            "{}; whether every one of them serves it is not known (a CA's resolver may ask any of them)",
            not_asked(name, why)
        ),
        remedy: format!("{fix}."),
        key: "delegation-unknown".into(),
        unasked: true,
    }
}

fn silent_word(outcome: &ServerOutcome<RecordsSeen>) -> String {
    match outcome {
        ServerOutcome::Answered { .. } => "answered".into(),
        ServerOutcome::NotAuthoritative { rcode } => {
            format!("answered {rcode} without authority")
        }
        ServerOutcome::Rcode { rcode } => format!("answered {rcode}"),
        ServerOutcome::Unreachable { detail } => format!("did not answer: {detail}"),
        ServerOutcome::Malformed { detail } => format!("sent an unparseable answer: {detail}"),
    }
}

fn judge_perspectives(
    requirement: &Requirement,
    name: &DomainName,
    seen: &[VantageRecords],
    out: &mut Vec<ViewCondition>,
) {
    let mut lacking: Vec<(String, String)> = Vec::new();
    for v in seen {
        match &v.seen {
            Ok(records) => {
                if judge_records(requirement, records) != Some(ValidationOutcome::InPlace) {
                    lacking.push((v.vantage.clone(), show_records(requirement, records)));
                }
            }
            // An answer with an error code is what a CA there gets too.
            Err(e @ LookupFailure::Rcode { .. }) | Err(e @ LookupFailure::Dnssec { .. }) => {
                lacking.push((v.vantage.clone(), format!("the lookup failed ({e})")));
            }
            // The vantage point could not be asked: nothing about the
            // record (the CAA check reports the agent's failure).
            Err(_) => {}
        }
    }
    if lacking.is_empty() {
        return;
    }
    let shown: Vec<String> = lacking
        .iter()
        .map(|(v, what)| format!("from {v} it is {what}"))
        .collect();
    out.push(ViewCondition {
        severity: Severity::Blocking,
        summary: format!(
            "it is in place from here, but {}; a CA looking from there (it validates from several perspectives, BR §3.2.2.9) does not find it",
            shown.join("; ")
        ),
        remedy: format!(
            "Publish {name} in every view of the zone (GeoDNS lines, split horizon), not only the one seen from here: the CA looks it up from abroad."
        ),
        key: format!("perspectives-lack:{}", labels(&lacking)),
        unasked: false,
    });
}

/// `a (answered x), b (answered y)`.
fn pairs(v: &[(String, String)]) -> String {
    v.iter()
        .map(|(who, what)| format!("{who} {}", answered(what)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn answered(what: &str) -> String {
    if what.starts_with("answered") || what.starts_with("did not") || what.starts_with("sent") {
        what.to_string()
    } else {
        format!("answered {what}")
    }
}

fn labels(v: &[(String, String)]) -> String {
    v.iter()
        .map(|(who, _)| who.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
#[path = "validation_tests.rs"]
mod tests;
