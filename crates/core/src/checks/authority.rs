//! The authoritative view, judged: what each name server of the zone that
//! holds the deciding records answered when asked directly (RD=0), and
//! whether the delegation holds together. Pure: the root crate's
//! `authority` module asks the servers and fills in [`AuthorityObservation`].
//!
//! A CA's resolver picks one of the zone's servers (RFC 1034 §5.3.3), so a
//! server that serves an old CAA set (a provider migration that left the
//! old NS in the delegation) decides some of the CA's lookups, while a
//! recursive resolver near us may never ask it.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::caa::{CaaAnswer, CaaObservation, CaaVerdictKind, IssuanceRequest, LookupFailure};
use super::views::{
    Share, ViewFinding, ViewKind, canonical, home_lookup, judge_replaced, show_set, verdict_word,
};
use crate::domain::DomainName;
use crate::findings::Severity;

/// What one server address answered. `A` is what an answer holds: the
/// CAA set for the CAA check, the records at a validation name
/// (`RecordsSeen`) for an order's validation record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServerOutcome<A = CaaAnswer> {
    /// An authoritative answer (AA set): NOERROR or NXDOMAIN.
    Answered { answer: A },
    /// An answer without the AA bit: the server does not hold the zone
    /// (a lame delegation, RFC 1912 §2.8).
    NotAuthoritative { rcode: String },
    /// An error code (REFUSED, SERVFAIL, NOTIMP...): lame too.
    Rcode { rcode: String },
    /// No answer within the time limit, or the socket failed.
    Unreachable { detail: String },
    /// An answer that could not be parsed.
    Malformed { detail: String },
}

/// One NS name at one of its addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerAnswer<A = CaaAnswer> {
    pub ns: DomainName,
    pub address: IpAddr,
    pub outcome: ServerOutcome<A>,
}

impl<A> ServerAnswer<A> {
    /// `ns1.example.test (127.0.0.2)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.ns, self.address)
    }
}

/// The zone holding one deciding name, and what its servers said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneObservation<A = CaaAnswer> {
    /// The zone apex.
    pub zone: DomainName,
    /// The name whose records were asked.
    pub asked: DomainName,
    /// The parent zone, when the zone is not a TLD.
    pub parent: Option<DomainName>,
    /// The NS set the parent's servers delegate with; `None` when the
    /// parent could not be asked.
    pub parent_ns: Option<Vec<DomainName>>,
    /// The NS set the zone's own servers serve at the apex.
    pub child_ns: Option<Vec<DomainName>>,
    /// Every address of every NS name, each asked.
    pub servers: Vec<ServerAnswer<A>>,
    /// NS names with no address, and why.
    pub unresolved: Vec<(DomainName, String)>,
}

/// Everything the authoritative view saw for one checked name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuthorityObservation {
    pub zones: Vec<ZoneObservation>,
    /// Deciding names whose delegation could not be followed, and why.
    pub failures: Vec<(DomainName, String)>,
}

/// The findings of the authoritative view for one request.
pub fn judge(
    home: &CaaObservation,
    auth: &AuthorityObservation,
    req: &IssuanceRequest,
) -> Vec<ViewFinding> {
    let mut out = Vec::new();
    for (name, why) in &auth.failures {
        out.push(
            ViewFinding::new(
                ViewKind::DelegationUnknown,
                Severity::Warning,
                format!(
                    "{}; the CAA verdict rests on the recursive resolver's answer alone",
                    not_asked(name, why)
                ),
            )
            .remedy(not_asked_fix(name)),
        );
    }
    for zone in &auth.zones {
        judge_zone(home, zone, req, &mut out);
    }
    out
}

/// What is said of a name whose zone's delegation could not be found (the
/// NS query failed), so its authoritative servers were not asked: the
/// CAA check's `delegation_unknown` finding and an order's validation
/// record (`orders::validation::judge_views`) say it in the same words.
pub fn not_asked(name: &DomainName, why: &str) -> String {
    format!("could not ask the authoritative servers of {name}: {why}")
}

/// The fix for [`not_asked`] (lower case, no full stop: a finding's
/// remedy).
pub fn not_asked_fix(name: &DomainName) -> String {
    format!(
        "check that the resolver answers NS queries for {name} and its parents, that the zone is delegated (NS records at the parent) and its name servers resolve; a lab resolver that serves no NS records needs [dns] view = \"recursive\""
    )
}

fn judge_zone(
    home: &CaaObservation,
    zone: &ZoneObservation,
    req: &IssuanceRequest,
    out: &mut Vec<ViewFinding>,
) {
    let z = &zone.zone;
    for (ns, why) in &zone.unresolved {
        out.push(
            ViewFinding::new(
                ViewKind::NsWithoutAddress,
                Severity::Warning,
                format!("name server {ns} of {z} has no address: {why}"),
            )
            .remedy(format!(
                "give {ns} an A/AAAA record, or remove it from the NS records of {z}"
            )),
        );
    }
    if let (Some(parent), Some(child)) = (&zone.parent_ns, &zone.child_ns) {
        let (p, c) = (sorted(parent), sorted(child));
        if p != c {
            let at = zone
                .parent
                .as_ref()
                .map_or_else(|| "the parent".to_string(), |p| format!("the parent ({p})"));
            out.push(
                ViewFinding::new(
                    ViewKind::NsMismatch,
                    Severity::Warning,
                    format!(
                        "the NS set of {z} at {at} is [{}], but the zone's own servers serve [{}]",
                        join(&p),
                        join(&c)
                    ),
                )
                .remedy(format!(
                    "make the NS records at the registrar (the delegation) and the NS records in the zone {z} the same"
                )),
            );
        }
    }
    let mut answered: Vec<&ServerAnswer> = Vec::new();
    for server in &zone.servers {
        let who = server.label();
        let lame = |what: String| {
            ViewFinding::new(
                ViewKind::LameServer,
                Severity::Warning,
                format!(
                    "{who} is lame for {z}: asked for the CAA records of {}, it {what}",
                    zone.asked
                ),
            )
            .remedy(format!(
                "serve {z} on {} or remove it from the NS records (at the parent and in the zone)",
                server.ns
            ))
        };
        match &server.outcome {
            ServerOutcome::Answered { .. } => answered.push(server),
            ServerOutcome::NotAuthoritative { rcode } => out.push(lame(format!(
                "answered {rcode} without authority (AA bit clear)"
            ))),
            ServerOutcome::Rcode { rcode } => out.push(lame(format!("answered {rcode}"))),
            ServerOutcome::Malformed { detail } => out.push(lame(format!(
                "sent an answer that cannot be parsed ({detail})"
            ))),
            ServerOutcome::Unreachable { detail } => out.push(
                ViewFinding::new(
                    ViewKind::UnreachableServer,
                    Severity::Warning,
                    format!("{who}, a name server of {z}, did not answer ({detail})"),
                )
                .remedy(format!(
                    "bring {} back, or remove it from the NS records of {z}",
                    server.ns
                )),
            ),
        }
    }
    if answered.is_empty() {
        if !zone.servers.is_empty() {
            out.push(
                ViewFinding::new(
                    ViewKind::NoAuthoritativeAnswer,
                    Severity::Blocking,
                    format!(
                        "none of the {} name server address(es) of {z} answered the CAA query for {} with authority; a CA's lookup fails, and it refuses",
                        zone.servers.len(),
                        zone.asked
                    ),
                )
                .remedy(format!("make the name servers of {z} serve the zone")),
            );
        }
        return;
    }
    // Group the servers by what they serve: the alias chain and the RRset.
    let mut groups: Vec<(Key, Vec<&ServerAnswer>, &CaaAnswer)> = Vec::new();
    for server in answered {
        let ServerOutcome::Answered { answer } = &server.outcome else {
            continue;
        };
        let key = key_of(answer);
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, members, _)) => members.push(server),
            None => groups.push((key, vec![server], answer)),
        }
    }
    if groups.len() > 1 {
        let mut blocking = Vec::new();
        let mut allowing = 0;
        let mut parts = Vec::new();
        let total_servers: usize = groups.iter().map(|g| g.1.len()).sum();
        for (_, members, answer) in &groups {
            let verdict = judge_replaced(home, &[(zone.asked.clone(), Ok((*answer).clone()))], req);
            let names: Vec<String> = members.iter().map(|s| s.label()).collect();
            if verdict.verdict == CaaVerdictKind::Allowed {
                allowing += members.len();
            } else {
                blocking.extend(names.iter().cloned());
            }
            parts.push(format!(
                "{} serve(s) {}{} ({})",
                names.join(", "),
                show_set(&answer.records),
                alias_note(answer),
                verdict_word(verdict.verdict)
            ));
        }
        let severity = if blocking.is_empty() {
            Severity::Warning
        } else {
            Severity::Blocking
        };
        let mut summary = format!(
            "the authoritative servers of {z} disagree on CAA at {}: {}",
            zone.asked,
            parts.join("; ")
        );
        if !blocking.is_empty() {
            summary.push_str(&format!(
                "; a CA whose resolver asks {} would refuse",
                blocking.join(", ")
            ));
        }
        let mut finding = ViewFinding::new(ViewKind::ServersDisagree, severity, summary).remedy(
            format!(
                "make every name server of {z} serve the same CAA records (a server left over from a provider move still serves old data: update it or remove it from the delegation)"
            ),
        );
        finding.allow_share = Some(Share {
            allowing,
            total: total_servers,
        });
        out.push(finding);
        return;
    }
    // One answer everywhere: does the recursive resolver see it too?
    let (key, members, answer) = &groups[0];
    if let Some(Ok(home_answer)) = home_lookup(home, &zone.asked)
        && key_of(home_answer) != *key
    {
        out.push(ViewFinding::new(
            ViewKind::RecursiveDiffers,
            Severity::Info,
            format!(
                "every authoritative server of {z} ({}) serves {}{} at {}, but the recursive resolver answered {}{}: it still holds an older answer until its TTL runs out",
                members.len(),
                show_set(&answer.records),
                alias_note(answer),
                zone.asked,
                show_set(&home_answer.records),
                alias_note(home_answer),
            ),
        ));
    }
}

/// What a server serves, canonically: alias chain, records, NXDOMAIN.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key(Vec<DomainName>, Vec<super::caa::CaaRecord>, bool);

fn key_of(a: &CaaAnswer) -> Key {
    Key(
        a.cname_chain.iter().skip(1).cloned().collect(),
        canonical(&a.records),
        a.nxdomain && a.records.is_empty(),
    )
}

fn alias_note(a: &CaaAnswer) -> String {
    if a.cname_chain.len() > 1 {
        let chain: Vec<&str> = a.cname_chain.iter().map(DomainName::as_str).collect();
        format!(" via alias {}", chain.join(" -> "))
    } else {
        String::new()
    }
}

fn sorted(v: &[DomainName]) -> Vec<DomainName> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

fn join(v: &[DomainName]) -> String {
    v.iter()
        .map(DomainName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The climb with the deciding names' lookups answered by the zone's own
/// servers (`[dns] view = "authoritative"`): the first server (by name)
/// that answered with authority, else the first failure. The views'
/// findings still name every server that differs.
pub fn authoritative_observation(
    home: &CaaObservation,
    auth: &AuthorityObservation,
) -> CaaObservation {
    let mut obs = home.clone();
    for zone in &auth.zones {
        let answered = zone.servers.iter().find_map(|s| match &s.outcome {
            ServerOutcome::Answered { answer } => Some(Ok(answer.clone())),
            _ => None,
        });
        let result = answered.or_else(|| {
            zone.servers
                .first()
                .and_then(|s| outcome_failure(&s.outcome))
                .map(Err)
        });
        if let Some(result) = result
            && let Some(lookup) = obs.climb.iter_mut().find(|l| l.name == zone.asked)
        {
            lookup.result = result;
        }
    }
    obs
}

/// A failed lookup as the authoritative view reports it, for callers that
/// need a [`LookupFailure`] (authoritative-only mode).
pub fn outcome_failure<A>(o: &ServerOutcome<A>) -> Option<LookupFailure> {
    match o {
        ServerOutcome::Answered { .. } => None,
        ServerOutcome::NotAuthoritative { rcode } => Some(LookupFailure::Rcode {
            rcode: format!("{rcode} (not authoritative)"),
            server: None,
        }),
        ServerOutcome::Rcode { rcode } => Some(LookupFailure::Rcode {
            rcode: rcode.clone(),
            server: None,
        }),
        ServerOutcome::Unreachable { .. } => Some(LookupFailure::Timeout),
        ServerOutcome::Malformed { detail } => Some(LookupFailure::Malformed {
            detail: detail.clone(),
        }),
    }
}

#[cfg(test)]
#[path = "authority_tests.rs"]
mod tests;
