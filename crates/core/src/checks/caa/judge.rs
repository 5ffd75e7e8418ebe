//! The CAA judge: a pure function from what the gatherer saw to a verdict
//! for one certificate name and one CA (RFC 8659 §3-§4, RFC 8657).
//!
//! Steps, each its own function so each rule has one place:
//! 1. [`locate`]: climb from the queried name towards the TLD; the first
//!    non-empty RRset is the Relevant RRset (RFC 8659 §3), and a failed
//!    lookup before it ends the search (CA/B BR §3.2.2.8).
//! 2. [`evaluate_set`]: decide what that RRset says to this request.
//! 3. [`super::explain`]: say it in words, with the fix.
//! 4. [`super::legacy`]: what a CA still using the pre-erratum RFC 6844
//!    climb would decide, reported when it differs.

use super::binding::{BindingMismatch, binding_of};
use super::explain;
use super::legacy;
use super::model::{
    CaaLookup, CaaObservation, CaaRecord, CaaVerdict, CaaVerdictKind, IssuanceRequest,
    LookupFailure,
};
use super::property::{LetsEncrypt, PropertyTag};
use super::value::{IssueValueError, IssueValueRef, parse_issue_value_ref};
use crate::domain::DomainName;

/// Judges whether the CA of `req` may issue for `obs.queried` (or its
/// wildcard). Pure: no I/O, no clock.
pub fn judge(obs: &CaaObservation, req: &IssuanceRequest) -> CaaVerdict {
    let mut verdict = match locate(&obs.climb) {
        Search::Failed { lookup, failure } => explain::lookup_failed(obs, lookup, failure),
        Search::Nothing => explain::no_records(obs, req),
        Search::Found { lookup, records } => {
            let eval = evaluate_set(records, req);
            explain::decided(obs, req, &lookup.name, chain_of(lookup), records, &eval)
        }
    };
    verdict.legacy_rfc6844 = legacy::compare(obs, req, &verdict);
    verdict.dnssec = dnssec_notes(&obs.climb);
    verdict
}

/// The DNSSEC status of every lookup that decided: the climb from the
/// queried name up to and including the first non-empty or failed one
/// (RFC 8659 §3: the names above it were not needed). Empty when the
/// lookups were not validated.
pub(crate) fn dnssec_notes(climb: &[CaaLookup]) -> Vec<crate::checks::dnssec::DnssecNote> {
    use crate::checks::dnssec::{DnssecNote, DnssecStatus};
    let mut notes = Vec::new();
    for lookup in climb {
        let (note, last) = match &lookup.result {
            Ok(answer) => match &answer.dnssec {
                Some(note) => (note.clone(), !answer.records.is_empty()),
                None => return Vec::new(),
            },
            Err(LookupFailure::Dnssec { cause, resolver }) => (
                DnssecNote::new(
                    lookup.name.to_string(),
                    "CAA",
                    DnssecStatus::Bogus {
                        cause: cause.clone(),
                    },
                    *resolver,
                ),
                true,
            ),
            // certvigil validated what the resolver refused: the note
            // carries the disagreement.
            Err(LookupFailure::ResolverRejects { validated, .. }) => (
                DnssecNote::new(
                    lookup.name.to_string(),
                    "CAA",
                    (**validated).clone(),
                    Some(crate::checks::dnssec::ResolverView::Servfail),
                ),
                true,
            ),
            // The lookup failed before validation; the verdict says so.
            Err(_) => break,
        };
        notes.push(note);
        if last {
            break;
        }
    }
    notes
}

/// The outcome of the RFC 8659 §3 climb.
pub(crate) enum Search<'o> {
    /// A lookup failed before any non-empty RRset was found.
    Failed {
        lookup: &'o CaaLookup,
        failure: &'o LookupFailure,
    },
    /// The Relevant RRset, found at `lookup.name` (possibly through an alias).
    Found {
        lookup: &'o CaaLookup,
        records: &'o [CaaRecord],
    },
    /// No name up to the TLD has CAA records.
    Nothing,
}

/// RFC 8659 §3: the Relevant RRset is the first non-empty CAA RRset met
/// climbing from the name towards the root. A failed lookup at or below
/// that point could hide records that would decide, so it decides instead;
/// a failure above it does not matter, because the climb stops first.
pub(crate) fn locate(climb: &[CaaLookup]) -> Search<'_> {
    for lookup in climb {
        match &lookup.result {
            Err(failure) => return Search::Failed { lookup, failure },
            Ok(answer) if !answer.records.is_empty() => {
                return Search::Found {
                    lookup,
                    records: &answer.records,
                };
            }
            Ok(_) => {}
        }
    }
    Search::Nothing
}

/// The alias chain of a lookup, starting with its own name. A gatherer that
/// left the chain empty means "no alias". Borrowed: most callers only look.
pub(crate) fn chain_of(lookup: &CaaLookup) -> &[DomainName] {
    match &lookup.result {
        Ok(answer) if !answer.cname_chain.is_empty() => &answer.cname_chain,
        _ => std::slice::from_ref(&lookup.name),
    }
}

/// Which property tag decided (RFC 8659 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CountedTag {
    Issue,
    IssueWild,
}

impl CountedTag {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CountedTag::Issue => "issue",
            CountedTag::IssueWild => "issuewild",
        }
    }
}

/// One `issue`/`issuewild` record that counts for this request.
#[derive(Debug)]
pub(crate) struct CountedRecord<'r> {
    pub record: &'r CaaRecord,
    /// Read in place from `record`.
    pub value: Result<IssueValueRef<'r>, IssueValueError>,
    /// Whether its issuer domain is one of the CA's.
    pub names_ca: bool,
    /// For records that name the CA: whether the RFC 8657 binding holds.
    pub binding: Result<(), BindingMismatch>,
}

impl CountedRecord<'_> {
    pub(crate) fn authorizes(&self) -> bool {
        self.names_ca && self.binding.is_ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetOutcome {
    /// No property in the set restricts this request (RFC 8659 §4: e.g. only
    /// iodef, or only issuewild for a non-wildcard name).
    NotRestricted,
    /// `counted[index]` authorizes the CA.
    Authorized { index: usize },
    /// An unknown property is marked critical (RFC 8659 §4.1).
    CriticalUnknown,
    /// Restricting records exist and none authorizes the CA.
    NotAuthorized,
}

/// What one RRset says to one request, before any wording.
#[derive(Debug)]
pub(crate) struct SetEvaluation<'r> {
    pub outcome: SetOutcome,
    pub counted_tag: CountedTag,
    pub counted: Vec<CountedRecord<'r>>,
    /// Critical records with a tag no CA is required to know.
    pub critical_unknown: Vec<&'r CaaRecord>,
    /// Critical records with a registered tag that not every CA implements
    /// (contactemail, contactphone): fine by RFC 8659 for a CA that knows
    /// the tag, refused by one that does not.
    pub critical_optional: Vec<&'r CaaRecord>,
    /// Records that only flag bit value 1 would make critical: not critical
    /// by RFC 8659 §4.1, critical by Let's Encrypt's policy. Those with a
    /// tag Let's Encrypt does not know make it refuse.
    pub flag_1_only: Vec<&'r CaaRecord>,
    pub has_issue: bool,
    pub has_issuewild: bool,
}

impl SetEvaluation<'_> {
    pub(crate) fn allows(&self) -> bool {
        matches!(
            self.outcome,
            SetOutcome::NotRestricted | SetOutcome::Authorized { .. }
        )
    }

    /// The distinct issuer domains the counted records name, in order
    /// (read as needed: the judge's texts write them without a list).
    pub(crate) fn issuers(&self) -> impl Iterator<Item = &str> {
        fn issuer<'c>(c: &'c CountedRecord<'_>) -> Option<&'c str> {
            match &c.value {
                Ok(IssueValueRef {
                    issuer: Some(issuer),
                    ..
                }) => Some(issuer),
                _ => None,
            }
        }
        let counted = &self.counted;
        counted.iter().enumerate().filter_map(move |(i, c)| {
            let this = issuer(c)?;
            // Skipped when an earlier record named it already.
            (!counted[..i].iter().any(|e| issuer(e) == Some(this))).then_some(this)
        })
    }
}

/// Decides what the Relevant RRset says to `req`.
pub(crate) fn evaluate_set<'r>(
    records: &'r [CaaRecord],
    req: &IssuanceRequest,
) -> SetEvaluation<'r> {
    let mut has_issue = false;
    let mut has_issuewild = false;
    let mut critical_unknown = Vec::new();
    let mut critical_optional = Vec::new();
    let mut flag_1_only = Vec::new();
    // Judged for Let's Encrypt: its own reading of flags and tags applies
    // (see `LetsEncrypt`); for any other CA, RFC 8659's.
    let lets_encrypt = LetsEncrypt::judges(&req.issuer_domains);
    for record in records {
        let tag = PropertyTag::classify(&record.tag);
        match tag {
            PropertyTag::Issue => has_issue = true,
            PropertyTag::IssueWild => has_issuewild = true,
            _ if lets_encrypt && LetsEncrypt::refuses_for(record) => critical_unknown.push(record),
            PropertyTag::Unknown if record.is_critical() => critical_unknown.push(record),
            _ if record.is_critical() && !tag.widely_recognized() => critical_optional.push(record),
            _ if record.is_critical_by_flag_1_only() && !tag.widely_recognized() => {
                flag_1_only.push(record)
            }
            _ => {}
        }
    }
    // RFC 8659 §4.3: issuewild is ignored for a non-wildcard name; for a
    // wildcard, any issuewild property makes every issue property moot.
    let (counted_tag, applicable) = if req.wildcard && has_issuewild {
        (CountedTag::IssueWild, PropertyTag::IssueWild)
    } else {
        (CountedTag::Issue, PropertyTag::Issue)
    };
    // A second pass over the set rather than a list of each tag's records:
    // only the counted ones are kept.
    let counted: Vec<CountedRecord<'r>> = records
        .iter()
        .filter(|record| PropertyTag::classify(&record.tag) == applicable)
        .map(|record| count_record(record, req))
        .collect();
    // RFC 8659 §4.1: "A CA MUST NOT issue certificates for any FQDN if the
    // Relevant RRset for that FQDN contains a CAA critical Property for an
    // unknown or unsupported Property Tag" - whatever else the set says.
    let outcome = if !critical_unknown.is_empty() {
        SetOutcome::CriticalUnknown
    } else if counted.is_empty() {
        SetOutcome::NotRestricted
    } else if let Some(index) = counted.iter().position(CountedRecord::authorizes) {
        SetOutcome::Authorized { index }
    } else {
        SetOutcome::NotAuthorized
    };
    SetEvaluation {
        outcome,
        counted_tag,
        counted,
        critical_unknown,
        critical_optional,
        flag_1_only,
        has_issue,
        has_issuewild,
    }
}

fn count_record<'r>(record: &'r CaaRecord, req: &IssuanceRequest) -> CountedRecord<'r> {
    let value = parse_issue_value_ref(&record.value);
    // Issuer domains compare as DNS names: case-insensitive, exact, no
    // subdomain match (a record for "example-ca.com" does not authorize
    // "sub.example-ca.com").
    let names_ca = match &value {
        Ok(IssueValueRef {
            issuer: Some(issuer),
            ..
        }) => req.issuer_domains.iter().any(|d| d.as_str() == issuer),
        _ => false,
    };
    let binding = match &value {
        Ok(v) if names_ca => binding_of(
            v.param_values("accounturi"),
            v.param_values("validationmethods"),
            req,
        ),
        _ => Ok(()),
    };
    CountedRecord {
        record,
        value,
        names_ca,
        binding,
    }
}

/// The verdict kind for a set evaluation.
pub(crate) fn kind_of(eval: &SetEvaluation<'_>) -> CaaVerdictKind {
    if eval.allows() {
        CaaVerdictKind::Allowed
    } else {
        CaaVerdictKind::Forbidden
    }
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;
