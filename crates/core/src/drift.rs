//! Drift: did the CAA state of a target change between two checks? Pure
//! functions only; the store feeds them what it holds and what was just
//! observed, and writes whatever they decide.
//!
//! The state that matters for drift is the *relevant* CAA RRset (RFC 8659
//! §3): its records, the name that holds them, the alias chain that led
//! there, and the verdict for the configured CA. A lookup error is a state of
//! its own: it is never "allowed", and it does not erase the last observed
//! RRset, so that a return from an error to the same records is recognised
//! as a recovery, not as drift.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checks::caa::{CaaRecord, CaaVerdict, CaaVerdictKind, LookupFailure};
use crate::domain::DomainName;

/// The status of a target as `status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaaStatus {
    Allowed,
    Forbidden,
    /// The last lookup failed in a way that makes a CA refuse.
    Error,
}

impl CaaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaaStatus::Allowed => "allowed",
            CaaStatus::Forbidden => "forbidden",
            CaaStatus::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allowed" => Some(CaaStatus::Allowed),
            "forbidden" => Some(CaaStatus::Forbidden),
            "error" => Some(CaaStatus::Error),
            _ => None,
        }
    }

    /// Whether a CA would refuse to issue in this state: an error blocks as
    /// surely as a forbid (CA/B Forum BR §3.2.2.8).
    pub fn blocks(self) -> bool {
        self != CaaStatus::Allowed
    }

    /// The compact code stored in `runs.outcome`.
    pub fn code(self) -> i64 {
        match self {
            CaaStatus::Allowed => 0,
            CaaStatus::Forbidden => 1,
            CaaStatus::Error => 2,
        }
    }
}

/// SHA-256 over the canonical form of a [`CaaSnapshot`]'s drift-relevant
/// parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Fingerprint)
    }
}

/// A successfully observed CAA state of one target: the judge's verdict
/// with the records in canonical order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaaSnapshot {
    verdict: CaaVerdict,
}

impl CaaSnapshot {
    /// The verdict's records are sorted: an RRset has no order (RFC 2181
    /// §5), and servers rotate it, which must not look like drift.
    /// Gives the verdict back when it is an error: that is no snapshot.
    pub fn new(mut verdict: CaaVerdict) -> Result<Self, Box<CaaVerdict>> {
        if verdict.verdict == CaaVerdictKind::Error {
            return Err(Box::new(verdict));
        }
        verdict
            .records
            .sort_by(|a, b| (&a.tag, &a.value, a.flags).cmp(&(&b.tag, &b.value, b.flags)));
        Ok(Self { verdict })
    }

    pub fn verdict(&self) -> &CaaVerdict {
        &self.verdict
    }

    pub fn into_verdict(self) -> CaaVerdict {
        self.verdict
    }

    pub fn status(&self) -> CaaStatus {
        match self.verdict.verdict {
            CaaVerdictKind::Allowed => CaaStatus::Allowed,
            // `new` refuses Error, so anything else is a forbid.
            _ => CaaStatus::Forbidden,
        }
    }

    /// Covers the verdict, the relevant name, the alias chain and the
    /// records, and nothing else: the reason and remedy texts may be
    /// reworded by a new certvigil version without the DNS changing.
    pub fn fingerprint(&self) -> Fingerprint {
        let v = &self.verdict;
        let mut h = Sha256::new();
        h.update(b"certvigil-caa-state-v1\0");
        h.update(v.verdict.as_str().as_bytes());
        h.update(b"\0");
        h.update(
            v.relevant_name
                .as_ref()
                .map_or("", |n| n.as_str())
                .as_bytes(),
        );
        h.update(b"\0");
        for name in &v.cname_chain {
            h.update(name.as_str().as_bytes());
            h.update(b"\x01");
        }
        h.update(b"\0");
        for r in &v.records {
            h.update([r.flags]);
            h.update((r.tag.len() as u64).to_be_bytes());
            h.update(r.tag.as_bytes());
            h.update((r.value.len() as u64).to_be_bytes());
            h.update(&r.value);
        }
        // The views' findings are part of what was observed: a server that
        // starts serving another CAA set is a change. Hashed only when there
        // are any, so states stored before issue 13 keep their fingerprint.
        if !v.views.is_empty() {
            h.update(b"\0views\0");
            for f in &v.views {
                h.update(f.severity.as_str().as_bytes());
                h.update(b"\x01");
                h.update(f.summary.as_bytes());
                h.update(b"\x02");
            }
        }
        Fingerprint(h.finalize().into())
    }
}

/// CAA in the shared store: the fingerprint of the relevant RRset state
/// ([`CaaSnapshot::fingerprint`]); a lookup error observes nothing.
impl crate::checks::state::Observed for CaaVerdict {
    const CHECK: crate::findings::CheckKind = crate::findings::CheckKind::Caa;
    const EVENTS: crate::checks::state::EventNames = crate::checks::state::EventNames {
        change: "caa_drift",
        error: "lookup_error",
        recovered: "lookup_recovered",
    };

    fn status_word(&self) -> &'static str {
        self.verdict.as_str()
    }

    fn blocks(&self) -> bool {
        self.verdict != CaaVerdictKind::Allowed || crate::checks::views::any_blocking(&self.views)
    }

    fn fingerprint(&self) -> Option<Vec<u8>> {
        CaaSnapshot::new(self.clone())
            .ok()
            .map(|s| s.fingerprint().0.to_vec())
    }

    fn error_message(&self) -> Option<String> {
        match CheckResult::from_verdict(self.clone()) {
            CheckResult::LookupFailed(e) => Some(e.message),
            CheckResult::Observed(_) => None,
        }
    }
}

/// The verdict with its records in canonical order, as it is stored: an
/// RRset has no order, and a rotated one must read the same in history.
pub fn canonical(verdict: CaaVerdict) -> CaaVerdict {
    match CaaSnapshot::new(verdict) {
        Ok(s) => s.into_verdict(),
        Err(v) => *v,
    }
}

/// A failed lookup, as the state keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupError {
    /// The name whose lookup failed, when the judge says.
    pub name: Option<DomainName>,
    pub failure: Option<LookupFailure>,
    /// One line for `status` and the log.
    pub message: String,
}

/// What one check of one target found.
// One value per target and check, built once and compared once: boxing the
// snapshot (grown by the DNSSEC notes and the other views) would buy
// nothing but an allocation per check.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    Observed(CaaSnapshot),
    LookupFailed(LookupError),
}

impl CheckResult {
    /// Sorts a judge's verdict into an observed state or a lookup error.
    pub fn from_verdict(verdict: CaaVerdict) -> Self {
        match CaaSnapshot::new(verdict) {
            Ok(snapshot) => CheckResult::Observed(snapshot),
            Err(v) => {
                let (name, failure) = match v.lookup_error {
                    Some((n, f)) => (Some(n), Some(f)),
                    None => (None, None),
                };
                let message = match (&name, &failure) {
                    (Some(n), Some(f)) if f.is_local() => format!(
                        "CAA lookup at {n} failed: {f} (the resolver certvigil asks, not the zone's servers: check [dns])"
                    ),
                    (Some(n), Some(f)) => format!("CAA lookup at {n} failed: {f}"),
                    _ => v.reason.clone(),
                };
                CheckResult::LookupFailed(LookupError {
                    name,
                    failure,
                    message,
                })
            }
        }
    }

    pub fn status(&self) -> CaaStatus {
        match self {
            CheckResult::Observed(s) => s.status(),
            CheckResult::LookupFailed(_) => CaaStatus::Error,
        }
    }
}

/// What the store holds about a target before this check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorState {
    pub status: CaaStatus,
    /// The fingerprint of the last successfully observed state, if any
    /// check ever succeeded.
    pub last_observed: Option<Fingerprint>,
}

/// The kind of a state-change event, as stored in `events.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The first state ever observed for a target: the start of its timeline.
    Baseline,
    /// The relevant CAA RRset (records, holding name, alias chain) or the
    /// verdict changed.
    CaaDrift,
    /// A lookup failed after a successful one (or on the first check).
    LookupError,
    /// Lookups succeed again and show the same state as before the error.
    LookupRecovered,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Baseline => "baseline",
            EventKind::CaaDrift => "caa_drift",
            EventKind::LookupError => "lookup_error",
            EventKind::LookupRecovered => "lookup_recovered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "baseline" => Some(EventKind::Baseline),
            "caa_drift" => Some(EventKind::CaaDrift),
            "lookup_error" => Some(EventKind::LookupError),
            "lookup_recovered" => Some(EventKind::LookupRecovered),
            _ => None,
        }
    }
}

/// Decides whether a check is a change worth an event. `None` means the
/// check only refreshes counters (the common case: a few bytes).
///
/// Rules:
/// - the first successful observation is the baseline;
/// - a different fingerprint from the last *observed* state is drift, also
///   when errors came in between (the before is what was seen last);
/// - the same fingerprint after an error is a recovery, not drift;
/// - entering the error state is an event, staying in it is not (whatever
///   the failure, which is kept in the state's `last_error`).
pub fn classify(prior: Option<&PriorState>, now: &CheckResult) -> Option<EventKind> {
    match (prior, now) {
        (None, CheckResult::LookupFailed(_)) => Some(EventKind::LookupError),
        (Some(p), CheckResult::LookupFailed(_)) => {
            (p.status != CaaStatus::Error).then_some(EventKind::LookupError)
        }
        (None, CheckResult::Observed(_)) => Some(EventKind::Baseline),
        (Some(p), CheckResult::Observed(snapshot)) => match p.last_observed {
            None => Some(EventKind::Baseline),
            Some(before) if before != snapshot.fingerprint() => Some(EventKind::CaaDrift),
            Some(_) if p.status == CaaStatus::Error => Some(EventKind::LookupRecovered),
            Some(_) => None,
        },
    }
}

/// The records present in only one of two states, for the before/after diff
/// `history` prints: (removed, added). Order follows the inputs.
pub fn record_diff<'a>(
    before: &'a [CaaRecord],
    after: &'a [CaaRecord],
) -> (Vec<&'a CaaRecord>, Vec<&'a CaaRecord>) {
    let removed = before.iter().filter(|r| !after.contains(r)).collect();
    let added = after.iter().filter(|r| !before.contains(r)).collect();
    (removed, added)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DomainName {
        DomainName::parse(s).unwrap()
    }

    fn verdict(kind: CaaVerdictKind, holder: &str, records: &[(&str, &str)]) -> CaaVerdict {
        CaaVerdict {
            verdict: kind,
            relevant_name: Some(name(holder)),
            records: records
                .iter()
                .map(|(t, v)| CaaRecord::new(0, t, v))
                .collect(),
            cname_chain: vec![name(holder)],
            reason: "test".into(),
            remedy: None,
            lookup_error: None,
            legacy_rfc6844: None,
            views: Vec::new(),
            dnssec: Vec::new(),
        }
    }

    fn observed(v: CaaVerdict) -> CheckResult {
        CheckResult::from_verdict(v)
    }

    fn failed() -> CheckResult {
        CheckResult::from_verdict(CaaVerdict {
            verdict: CaaVerdictKind::Error,
            relevant_name: None,
            records: vec![],
            cname_chain: vec![],
            reason: "SERVFAIL".into(),
            remedy: None,
            lookup_error: Some((
                name("example.com"),
                LookupFailure::Rcode {
                    rcode: "SERVFAIL".into(),
                    server: None,
                },
            )),
            legacy_rfc6844: None,
            views: Vec::new(),
            dnssec: Vec::new(),
        })
    }

    fn prior_from(status: CaaStatus, last: &CheckResult) -> PriorState {
        let CheckResult::Observed(s) = last else {
            panic!("not observed")
        };
        PriorState {
            status,
            last_observed: Some(s.fingerprint()),
        }
    }

    fn le() -> CaaVerdict {
        verdict(
            CaaVerdictKind::Allowed,
            "example.com",
            &[("issue", "letsencrypt.org")],
        )
    }

    #[test]
    fn first_observation_is_the_baseline() {
        assert_eq!(classify(None, &observed(le())), Some(EventKind::Baseline));
    }

    #[test]
    fn an_unchanged_recheck_is_no_event() {
        let now = observed(le());
        let prior = prior_from(CaaStatus::Allowed, &now);
        assert_eq!(classify(Some(&prior), &now), None);
    }

    #[test]
    fn record_order_is_not_drift() {
        let a = verdict(
            CaaVerdictKind::Allowed,
            "example.com",
            &[("issue", "letsencrypt.org"), ("issue", "sectigo.com")],
        );
        let b = verdict(
            CaaVerdictKind::Allowed,
            "example.com",
            &[("issue", "sectigo.com"), ("issue", "letsencrypt.org")],
        );
        let prior = prior_from(CaaStatus::Allowed, &observed(a));
        assert_eq!(classify(Some(&prior), &observed(b)), None);
    }

    #[test]
    fn reworded_reason_is_not_drift() {
        let mut reworded = le();
        reworded.reason = "a clearer explanation".into();
        reworded.remedy = Some("nothing to do".into());
        let prior = prior_from(CaaStatus::Allowed, &observed(le()));
        assert_eq!(classify(Some(&prior), &observed(reworded)), None);
    }

    #[test]
    fn a_changed_record_is_drift() {
        let prior = prior_from(CaaStatus::Allowed, &observed(le()));
        let now = observed(verdict(
            CaaVerdictKind::Forbidden,
            "example.com",
            &[("issue", "sectigo.com")],
        ));
        assert_eq!(classify(Some(&prior), &now), Some(EventKind::CaaDrift));
    }

    #[test]
    fn the_same_records_at_another_name_are_drift() {
        let prior = prior_from(CaaStatus::Allowed, &observed(le()));
        let moved = verdict(
            CaaVerdictKind::Allowed,
            "www.example.com",
            &[("issue", "letsencrypt.org")],
        );
        assert_eq!(
            classify(Some(&prior), &observed(moved)),
            Some(EventKind::CaaDrift)
        );
    }

    #[test]
    fn a_new_alias_chain_is_drift() {
        let prior = prior_from(CaaStatus::Allowed, &observed(le()));
        let mut aliased = le();
        aliased.cname_chain = vec![name("example.com"), name("example.github.io")];
        assert_eq!(
            classify(Some(&prior), &observed(aliased)),
            Some(EventKind::CaaDrift)
        );
    }

    #[test]
    fn a_verdict_change_with_the_same_records_is_drift() {
        // e.g. the configured account URI changed and no longer matches.
        let prior = prior_from(CaaStatus::Allowed, &observed(le()));
        let forbidden = verdict(
            CaaVerdictKind::Forbidden,
            "example.com",
            &[("issue", "letsencrypt.org")],
        );
        assert_eq!(
            classify(Some(&prior), &observed(forbidden)),
            Some(EventKind::CaaDrift)
        );
    }

    #[test]
    fn an_error_is_its_own_state_not_allowed() {
        let err = failed();
        assert_eq!(err.status(), CaaStatus::Error);
        assert!(err.status().blocks());
        let prior = prior_from(CaaStatus::Allowed, &observed(le()));
        assert_eq!(classify(Some(&prior), &err), Some(EventKind::LookupError));
        let CheckResult::LookupFailed(e) = err else {
            panic!("expected a lookup failure")
        };
        assert_eq!(
            e.message,
            "CAA lookup at example.com failed: the name server answered SERVFAIL"
        );
    }

    #[test]
    fn staying_in_error_is_no_new_event() {
        let mut prior = prior_from(CaaStatus::Allowed, &observed(le()));
        prior.status = CaaStatus::Error;
        assert_eq!(classify(Some(&prior), &failed()), None);
    }

    #[test]
    fn error_then_the_same_records_is_recovery_not_drift() {
        let mut prior = prior_from(CaaStatus::Allowed, &observed(le()));
        prior.status = CaaStatus::Error;
        assert_eq!(
            classify(Some(&prior), &observed(le())),
            Some(EventKind::LookupRecovered)
        );
    }

    #[test]
    fn error_then_other_records_is_drift_from_the_last_observed() {
        let mut prior = prior_from(CaaStatus::Allowed, &observed(le()));
        prior.status = CaaStatus::Error;
        let other = verdict(
            CaaVerdictKind::Forbidden,
            "example.com",
            &[("issue", "sectigo.com")],
        );
        assert_eq!(
            classify(Some(&prior), &observed(other)),
            Some(EventKind::CaaDrift)
        );
    }

    #[test]
    fn an_error_first_then_a_success_is_the_baseline() {
        assert_eq!(classify(None, &failed()), Some(EventKind::LookupError));
        let prior = PriorState {
            status: CaaStatus::Error,
            last_observed: None,
        };
        assert_eq!(
            classify(Some(&prior), &observed(le())),
            Some(EventKind::Baseline)
        );
    }

    #[test]
    fn diff_lists_removed_and_added_records() {
        let before = [
            CaaRecord::new(0, "issue", "a.org"),
            CaaRecord::new(0, "iodef", "x"),
        ];
        let after = [
            CaaRecord::new(0, "iodef", "x"),
            CaaRecord::new(0, "issue", "b.org"),
        ];
        let (removed, added) = record_diff(&before, &after);
        assert_eq!(removed, [&before[0]]);
        assert_eq!(added, [&after[1]]);
    }
}
