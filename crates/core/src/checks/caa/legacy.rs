//! The pre-erratum RFC 6844 §4 search, for comparison. RFC 6844 as first
//! published defined the Relevant RRset R(X) recursively:
//!
//! ```text
//! If CAA(X) is not empty, R(X) = CAA(X), otherwise
//! If A(X) is not null, and R(A(X)) is not empty, then R(X) = R(A(X)), otherwise
//! If X is not a top-level domain, then R(X) = R(P(X)), otherwise
//! R(X) is empty.
//! ```
//!
//! where A(X) is the alias target of X. So a CA following it climbs the
//! alias target's parents (github.io for `x.github.io`) before the alias
//! owner's. Erratum 5065, and RFC 8659 §3 after it, dropped that: only the
//! owner's own tree counts. A few CAs took years to change; when the two
//! searches disagree, the user deserves to know.

use std::collections::{HashMap, HashSet};

use super::judge::{chain_of, evaluate_set, kind_of};
use super::model::{
    CaaLookup, CaaObservation, CaaRecord, CaaVerdict, CaaVerdictKind, IssuanceRequest,
    LegacyDecision, LookupFailure,
};
use crate::domain::DomainName;

/// What R(queried) came to.
#[derive(Debug)]
enum Relevant<'o> {
    Found {
        /// The X whose CAA(X) was non-empty.
        owner: DomainName,
        records: &'o [CaaRecord],
        /// The names visited from the queried name to `owner`, in order.
        path: Vec<DomainName>,
    },
    Empty,
    Failed(DomainName, &'o LookupFailure),
    /// A lookup the search needs was not gathered: no conclusion.
    Unobserved,
}

struct Search<'o> {
    lookups: HashMap<&'o DomainName, &'o CaaLookup>,
    visited: HashSet<DomainName>,
    path: Vec<DomainName>,
}

impl<'o> Search<'o> {
    fn new(obs: &'o CaaObservation) -> Self {
        let mut lookups = HashMap::new();
        for lookup in obs.climb.iter().chain(&obs.alias_target_climb) {
            lookups.entry(&lookup.name).or_insert(lookup);
        }
        Self {
            lookups,
            visited: HashSet::new(),
            path: Vec::new(),
        }
    }

    fn r_of_name(&mut self, name: &DomainName) -> Relevant<'o> {
        let Some(lookup) = self.lookups.get(name).copied() else {
            return Relevant::Unobserved;
        };
        match &lookup.result {
            Err(failure) => Relevant::Failed(name.clone(), failure),
            Ok(answer) => self.r_of_chain(&chain_of(lookup), &answer.records),
        }
    }

    /// R(chain[0]), where `records` is what a query for chain[0] returns
    /// (the resolver follows the whole chain, so every name of it gets the
    /// records of the last one).
    fn r_of_chain(&mut self, chain: &[DomainName], records: &'o [CaaRecord]) -> Relevant<'o> {
        let x = &chain[0];
        // R(X) is a function of X: a second visit would return what the
        // first did, and the first can only have been Empty (otherwise the
        // search would have stopped). This also stops alias loops.
        if !self.visited.insert(x.clone()) {
            return Relevant::Empty;
        }
        self.path.push(x.clone());
        if !records.is_empty() {
            return Relevant::Found {
                owner: x.clone(),
                records,
                path: self.path.clone(),
            };
        }
        if chain.len() > 1 {
            match self.r_of_chain(&chain[1..], records) {
                Relevant::Empty => {}
                decided => return decided,
            }
        }
        let result = match x.parent() {
            None => Relevant::Empty,
            Some(parent) => self.r_of_name(&parent),
        };
        if matches!(result, Relevant::Empty) {
            self.path.pop();
        }
        result
    }
}

/// The legacy decision, when it differs from `current` in verdict or in
/// the deciding name. `None` when they agree or the observation lacks a
/// lookup the legacy search needs.
pub(crate) fn compare(
    obs: &CaaObservation,
    req: &IssuanceRequest,
    current: &CaaVerdict,
) -> Option<LegacyDecision> {
    let mut search = Search::new(obs);
    let relevant = search.r_of_name(&obs.queried);
    let (verdict, name, what) = match relevant {
        Relevant::Unobserved => return None,
        Relevant::Empty => (
            CaaVerdictKind::Allowed,
            None,
            "find no CAA records on that path and allow every CA".to_string(),
        ),
        Relevant::Failed(name, failure) => (
            CaaVerdictKind::Error,
            None,
            format!("fail at {name} ({failure}) and refuse"),
        ),
        Relevant::Found {
            owner,
            records,
            ref path,
        } => {
            let eval = evaluate_set(records, req);
            let kind = kind_of(&eval);
            let issuers = eval.issuers();
            let whom = if issuers.is_empty() {
                "no CA".to_string()
            } else {
                issuers.join(", ")
            };
            let ca = req
                .issuer_domains
                .first()
                .map_or_else(|| "this CA".to_string(), |d| d.to_string());
            let route = if path.len() > 1 {
                format!(
                    " (reached via {})",
                    path.iter()
                        .map(|d| d.as_str())
                        .collect::<Vec<_>>()
                        .join(" -> ")
                )
            } else {
                String::new()
            };
            let outcome = if kind == CaaVerdictKind::Allowed {
                format!("allow {ca}")
            } else {
                format!("refuse {ca}")
            };
            (
                kind,
                Some(owner.clone()),
                format!(
                    "decide from the CAA records at {owner}{route}, which authorize {whom}, and {outcome}"
                ),
            )
        }
    };
    if verdict == current.verdict && name == current.relevant_name {
        return None;
    }
    let aliases: Vec<String> = obs
        .climb
        .iter()
        .filter_map(|l| match chain_of(l).as_slice() {
            [owner, .., target] => Some(format!("{owner} -> {target}")),
            _ => None,
        })
        .collect();
    let now = match (&current.relevant_name, current.verdict) {
        (_, CaaVerdictKind::Error) => "stop at the failed lookup".to_string(),
        (Some(n), v) => format!("decide from {n} ({})", v.as_str()),
        (None, v) => format!("find no records ({})", v.as_str()),
    };
    let explanation = format!(
        "CAs that still follow RFC 6844 as first published (before erratum 5065) follow the alias {} and climb the target's parents, so they would {what}. CAs following RFC 8659 §3 climb only {}'s own parents and {now}.",
        aliases.join(", "),
        obs.queried
    );
    Some(LegacyDecision {
        verdict,
        relevant_name: name,
        explanation,
    })
}
