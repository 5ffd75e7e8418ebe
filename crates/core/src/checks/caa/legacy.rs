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

use super::judge::{chain_of, evaluate_set, kind_of};
use super::model::{
    CaaLookup, CaaObservation, CaaRecord, CaaVerdict, CaaVerdictKind, IssuanceRequest,
    LegacyDecision, LookupFailure,
};
use crate::domain::DomainName;

/// What R(queried) came to. Names are borrowed from the observation: the
/// search runs for every name judged, and usually agrees with RFC 8659.
#[derive(Debug)]
enum Relevant<'o> {
    Found {
        /// The X whose CAA(X) was non-empty.
        owner: &'o DomainName,
        records: &'o [CaaRecord],
    },
    Empty,
    Failed(&'o DomainName, &'o LookupFailure),
    /// A lookup the search needs was not gathered: no conclusion.
    Unobserved,
}

struct Search<'o> {
    obs: &'o CaaObservation,
    /// Every X visited, in order, and whether it is still on the path from
    /// the queried name to the current X (one list for both, so one
    /// allocation; the observation holds a handful of names).
    visited: Vec<(&'o DomainName, bool)>,
}

impl<'o> Search<'o> {
    fn new(obs: &'o CaaObservation) -> Self {
        Self {
            obs,
            visited: Vec::new(),
        }
    }

    /// The names visited from the queried name to the owner, in order
    /// (after a `Found`).
    fn path(&self) -> impl Iterator<Item = &'o DomainName> + Clone + '_ {
        self.visited
            .iter()
            .filter(|(_, on_path)| *on_path)
            .map(|(name, _)| *name)
    }

    /// The lookup of `name`: the first of the climb, then of the alias
    /// targets' climb (a scan: both are a few entries long).
    fn lookup(&self, name: &str) -> Option<&'o CaaLookup> {
        self.obs
            .climb
            .iter()
            .chain(&self.obs.alias_target_climb)
            .find(|lookup| lookup.name.as_str() == name)
    }

    fn r_of_name(&mut self, name: &str) -> Relevant<'o> {
        let Some(lookup) = self.lookup(name) else {
            return Relevant::Unobserved;
        };
        match &lookup.result {
            Err(failure) => Relevant::Failed(&lookup.name, failure),
            Ok(answer) => self.r_of_chain(chain_of(lookup), &answer.records),
        }
    }

    /// R(chain[0]), where `records` is what a query for chain[0] returns
    /// (the resolver follows the whole chain, so every name of it gets the
    /// records of the last one).
    fn r_of_chain(&mut self, chain: &'o [DomainName], records: &'o [CaaRecord]) -> Relevant<'o> {
        let x = &chain[0];
        // R(X) is a function of X: a second visit would return what the
        // first did, and the first can only have been Empty (otherwise the
        // search would have stopped). This also stops alias loops.
        if self.visited.iter().any(|(seen, _)| *seen == x) {
            return Relevant::Empty;
        }
        let at = self.visited.len();
        self.visited.push((x, true));
        if !records.is_empty() {
            return Relevant::Found { owner: x, records };
        }
        if chain.len() > 1 {
            match self.r_of_chain(&chain[1..], records) {
                Relevant::Empty => {}
                decided => return decided,
            }
        }
        // P(X), as a suffix of X: it is only looked up.
        let result = match x.as_str().split_once('.') {
            None => Relevant::Empty,
            Some((_, parent)) => self.r_of_name(parent),
        };
        if matches!(result, Relevant::Empty) {
            self.visited[at].1 = false;
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
    let relevant = search.r_of_name(obs.queried.as_str());
    // First only the verdict and the deciding name: the words are built
    // only when they differ from RFC 8659's, which is rare.
    let (verdict, name, eval) = match relevant {
        Relevant::Unobserved => return None,
        Relevant::Empty => (CaaVerdictKind::Allowed, None, None),
        Relevant::Failed(..) => (CaaVerdictKind::Error, None, None),
        Relevant::Found { owner, records } => {
            // The same records at the same name as RFC 8659's decision:
            // the same set judged for the same request, so the same verdict.
            if current.relevant_name.as_ref() == Some(owner) && current.records == records {
                return None;
            }
            let eval = evaluate_set(records, req);
            (kind_of(&eval), Some(owner), Some(eval))
        }
    };
    if verdict == current.verdict && name == current.relevant_name.as_ref() {
        return None;
    }
    let what = match (&relevant, &eval) {
        (Relevant::Failed(name, failure), _) => {
            format!("fail at {name} ({failure}) and refuse")
        }
        (Relevant::Found { owner, .. }, Some(eval)) => {
            let issuers: Vec<&str> = eval.issuers().collect();
            let whom = if issuers.is_empty() {
                "no CA".to_string()
            } else {
                issuers.join(", ")
            };
            let ca = req
                .issuer_domains
                .first()
                .map_or_else(|| "this CA".to_string(), |d| d.to_string());
            let path = search.path();
            let route = if path.clone().count() > 1 {
                format!(
                    " (reached via {})",
                    path.map(|d| d.as_str()).collect::<Vec<_>>().join(" -> ")
                )
            } else {
                String::new()
            };
            let outcome = if verdict == CaaVerdictKind::Allowed {
                format!("allow {ca}")
            } else {
                format!("refuse {ca}")
            };
            format!(
                "decide from the CAA records at {owner}{route}, which authorize {whom}, and {outcome}"
            )
        }
        _ => "find no CAA records on that path and allow every CA".to_string(),
    };
    let aliases: Vec<String> = obs
        .climb
        .iter()
        .filter_map(|l| match chain_of(l) {
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
        relevant_name: name.cloned(),
        explanation,
    })
}
