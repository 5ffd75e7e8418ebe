//! The authoritative view (issue 13): for each name whose records decide,
//! find the zone that holds it and its delegation (the NS set at the parent
//! and at the zone itself, and every address of every NS name), then ask
//! each address directly, without recursion, the question the CA asks.
//! What each server said is judged in the core (`checks::authority`).
//!
//! The recursive resolver of `[dns]` is used to find the zones (NS
//! queries, climbing from the name) and the addresses of NS names without
//! glue; everything else is asked of the zone's and the parent's own
//! servers, on `[dns] authoritative_port` (53 but in a lab).

pub mod query;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use hickory_proto::rr::RecordType;

use certvigil_core::checks::authority::{
    AuthorityObservation, ServerAnswer, ServerOutcome, ZoneObservation,
};
use certvigil_core::checks::caa::{CaaAnswer, CaaObservation};
use certvigil_core::checks::perspective::RecordsSeen;
use certvigil_core::checks::views::deciding_names;
use certvigil_core::dns::wire;

use crate::checks::caa::gather::parse_caa_rdata;
use crate::dns::DnsHandle;
use crate::domain::DomainName;
use query::{AskError, Reply, ask};

/// How the authoritative servers are reached.
#[derive(Debug, Clone)]
pub struct AuthorityClient {
    /// Finds zones and addresses.
    pub dns: DnsHandle,
    /// The port authoritative servers are asked on (53).
    pub port: u16,
    /// Per query.
    pub timeout: Duration,
    /// Delegations found lately, shared by clones: thousands of names in
    /// one zone (`check --file`, a daemon cycle) must not ask its parent
    /// and its servers for the NS sets once per name.
    pub delegations: DelegationCache,
    /// A failure to find a delegation was logged at WARN this cycle.
    pub warned: Arc<AtomicBool>,
}

/// How long a delegation found is used again (the resolver handle's
/// answer reuse has the same bound).
const DELEGATION_REUSE: Duration = crate::dns::MAX_REUSE;

/// At most this many delegations are kept; the cache is emptied when full.
const DELEGATION_CACHE_ENTRIES: usize = 4096;

/// Delegations by zone, with when each was found.
#[derive(Debug, Clone, Default)]
pub struct DelegationCache(
    std::sync::Arc<std::sync::Mutex<HashMap<DomainName, (std::time::Instant, Delegation)>>>,
);

impl DelegationCache {
    fn get(&self, zone: &DomainName) -> Option<Delegation> {
        let map = self.0.lock().expect("never poisoned");
        map.get(zone)
            .filter(|(at, _)| at.elapsed() < DELEGATION_REUSE)
            .map(|(_, d)| d.clone())
    }

    fn put(&self, d: &Delegation) {
        let mut map = self.0.lock().expect("never poisoned");
        if map.len() >= DELEGATION_CACHE_ENTRIES {
            map.clear();
        }
        map.insert(d.zone.clone(), (std::time::Instant::now(), d.clone()));
    }
}

/// A zone's delegation as found.
#[derive(Debug, Clone)]
pub struct Delegation {
    zone: DomainName,
    parent: Option<DomainName>,
    parent_ns: Option<Vec<DomainName>>,
    child_ns: Option<Vec<DomainName>>,
    servers: Vec<(DomainName, IpAddr)>,
    unresolved: Vec<(DomainName, String)>,
}

impl AuthorityClient {
    /// Asks every authoritative server of the zones holding the deciding
    /// names of `home` (the recursive climb). Never fails: what could not
    /// be found is part of the observation.
    pub async fn observe(&self, home: &CaaObservation) -> AuthorityObservation {
        let mut out = AuthorityObservation::default();
        // The resolver itself failed the climb (no answer, REFUSED): the
        // check's own warning names it, and a delegation not found is its
        // consequence, not news worth a warning of its own.
        let resolver_failed = home
            .climb
            .iter()
            .any(|l| matches!(&l.result, Err(f) if f.is_local()));
        for name in deciding_names(home) {
            let d = match self.delegation_of(&name).await {
                Ok(d) => d,
                // The view was asked for and cannot be given: part of the
                // observation (a warning finding), never dropped as if
                // every server agreed. Logged once per cycle, not per name.
                Err(why) => {
                    if resolver_failed {
                        tracing::debug!(%name, %why, "authoritative view: no delegation found");
                    } else {
                        self.log_failure(&name, &why);
                    }
                    out.failures.push((name, why));
                    continue;
                }
            };
            let servers = self
                .ask_each(&d, &name, RecordType::CAA, |reply| caa_answer(&name, reply))
                .await;
            out.zones.push(zone_observation(&d, name, servers));
        }
        out
    }

    /// Logs a delegation that could not be found: at WARN for the first
    /// in a cycle (a resolver that answers no NS queries fails every
    /// name), at debug after that.
    fn log_failure(&self, name: &DomainName, why: &str) {
        if self.warned.swap(true, Ordering::Relaxed) {
            tracing::debug!(%name, %why, "authoritative view: no delegation found");
        } else {
            tracing::warn!(
                %name,
                %why,
                "authoritative view: the delegation could not be found, so its servers were not asked (reported as a finding; further names this cycle are logged at debug)"
            );
        }
    }

    /// A new cycle (or run): the next failure is logged at WARN again.
    pub fn new_cycle(&self) {
        self.warned.store(false, Ordering::Relaxed);
    }

    /// Asks every authoritative server of the zone holding `name` for its
    /// TXT records (aliases as each server answers them): an order's
    /// validation record, as a CA's resolver may find it on any of them.
    /// Why not, when the zone's delegation could not be found: part of the
    /// observation (a warning condition of the order), never dropped as if
    /// the view were recursive only. Logged once per cycle, as for `observe`.
    pub async fn observe_records(
        &self,
        name: &DomainName,
    ) -> Result<ZoneObservation<RecordsSeen>, String> {
        let d = self.delegation_of(name).await.inspect_err(|why| {
            self.log_failure(name, why);
        })?;
        let servers = self
            .ask_each(&d, name, RecordType::TXT, |reply| txt_answer(name, reply))
            .await;
        Ok(zone_observation(&d, name.clone(), servers))
    }

    /// The delegation of the zone holding `name`, found once and reused
    /// (thousands of names in one zone must not ask its parent and its
    /// servers for the NS sets once per name).
    async fn delegation_of(&self, name: &DomainName) -> Result<Delegation, String> {
        match self.find_zone(name).await {
            Ok((zone, ns)) => Ok(match self.delegations.get(&zone) {
                Some(d) => d,
                None => {
                    let d = self.delegation(&zone, ns).await;
                    self.delegations.put(&d);
                    d
                }
            }),
            Err(why) => Err(why),
        }
    }

    /// One question to every server address of `d`, concurrently, each
    /// reply judged for lameness (AA bit, rcode) and then read by `read`.
    async fn ask_each<A>(
        &self,
        d: &Delegation,
        name: &DomainName,
        rtype: RecordType,
        read: impl Fn(&Reply) -> ServerOutcome<A>,
    ) -> Vec<ServerAnswer<A>> {
        let read = &read;
        join_all(d.servers.iter().map(|(ns, ip)| async move {
            let outcome = match ask(
                SocketAddr::new(*ip, self.port),
                name,
                rtype,
                false,
                self.timeout,
            )
            .await
            {
                Ok(reply) => lameness(&reply).unwrap_or_else(|| read(&reply)),
                Err(AskError::Malformed(detail)) => ServerOutcome::Malformed { detail },
                Err(e) => ServerOutcome::Unreachable {
                    detail: e.to_string(),
                },
            };
            ServerAnswer {
                ns: ns.clone(),
                address: *ip,
                outcome,
            }
        }))
        .await
    }

    /// The recursive resolvers' reply to one question (the first server
    /// that replies).
    async fn ask_recursive(&self, name: &DomainName, rtype: RecordType) -> Result<Reply, String> {
        let mut last = String::from("no resolver configured");
        for server in self.dns.nameservers() {
            match ask(*server, name, rtype, true, self.timeout).await {
                Ok(r) => return Ok(r),
                Err(e) => last = format!("{server}: {e}"),
            }
        }
        Err(last)
    }

    /// The zone holding `name`: the closest enclosing name with an NS set,
    /// and that NS set.
    async fn find_zone(&self, name: &DomainName) -> Result<(DomainName, Vec<DomainName>), String> {
        for candidate in name.self_and_ancestors() {
            // First through the run's handle (pooled sockets, answers
            // reused within the run, so names under one parent ask it
            // once): only a name that owns NS records (not through an
            // alias) is asked again for their names, which the stub
            // resolver's raw data cannot give (compressed names).
            match self.dns.lookup(&candidate, RecordType::NS).await {
                Ok(a) if a.cname_chain.len() <= 1 && !a.rdata.is_empty() => {}
                Ok(_) => continue,
                Err(e) => return Err(format!("the NS query for {candidate} failed ({e})")),
            }
            let reply = self
                .ask_recursive(&candidate, RecordType::NS)
                .await
                .map_err(|e| format!("the NS query for {candidate} failed ({e})"))?;
            let owned = |set: &[(String, String)]| -> Vec<DomainName> {
                set.iter()
                    .filter(|(owner, _)| owner == candidate.as_str())
                    .filter_map(|(_, t)| DomainName::from_ascii(t).ok())
                    .collect()
            };
            let ns = owned(&reply.answer_ns);
            if !ns.is_empty() {
                return Ok((candidate, ns));
            }
        }
        Err(format!("no zone with NS records holds {name}"))
    }

    /// The parent's NS set for `zone` (and its glue), the zone's own, and
    /// the address of every NS name.
    async fn delegation(&self, zone: &DomainName, recursive_ns: Vec<DomainName>) -> Delegation {
        let parent = zone.parent();
        let mut parent_ns = None;
        let mut glue: Vec<(String, IpAddr)> = Vec::new();
        if let Some(parent_name) = &parent
            && let Ok((_, parent_servers)) = self.find_zone(parent_name).await
        {
            'servers: for ns in &parent_servers {
                let (addresses, _) = self.dns.addresses(ns).await;
                for ip in addresses {
                    let Ok(reply) = ask(
                        SocketAddr::new(ip, self.port),
                        zone,
                        RecordType::NS,
                        false,
                        self.timeout,
                    )
                    .await
                    else {
                        continue;
                    };
                    let set: Vec<DomainName> = reply
                        .authority_ns
                        .iter()
                        .chain(&reply.answer_ns)
                        .filter(|(owner, _)| owner == zone.as_str())
                        .filter_map(|(_, t)| DomainName::from_ascii(t).ok())
                        .collect();
                    if !set.is_empty() {
                        parent_ns = Some(dedup(set));
                        glue = reply.glue;
                        break 'servers;
                    }
                }
            }
        }
        let mut names: Vec<DomainName> = parent_ns.clone().unwrap_or_default();
        names.extend(recursive_ns);
        let names = dedup(names);
        let mut servers = Vec::new();
        let mut unresolved = Vec::new();
        for ns in &names {
            let mut addresses: Vec<IpAddr> = glue
                .iter()
                .filter(|(owner, _)| owner == ns.as_str())
                .map(|(_, ip)| *ip)
                .collect();
            if addresses.is_empty() {
                let (found, errors) = self.dns.addresses(ns).await;
                addresses = found;
                if addresses.is_empty() {
                    let why = if errors.is_empty() {
                        "no A or AAAA record".to_string()
                    } else {
                        errors.join("; ")
                    };
                    unresolved.push((ns.clone(), why));
                }
            }
            addresses.sort();
            addresses.dedup();
            servers.extend(addresses.into_iter().map(|ip| (ns.clone(), ip)));
        }
        // The zone's own NS set, from the first of its servers that answers
        // with authority.
        let mut child_ns = None;
        for (_, ip) in &servers {
            if let Ok(reply) = ask(
                SocketAddr::new(*ip, self.port),
                zone,
                RecordType::NS,
                false,
                self.timeout,
            )
            .await
                && reply.authoritative
                && reply.rcode == 0
            {
                let set: Vec<DomainName> = reply
                    .answer_ns
                    .iter()
                    .filter(|(owner, _)| owner == zone.as_str())
                    .filter_map(|(_, t)| DomainName::from_ascii(t).ok())
                    .collect();
                child_ns = Some(dedup(set));
                break;
            }
        }
        Delegation {
            zone: zone.clone(),
            parent,
            parent_ns,
            child_ns,
            servers,
            unresolved,
        }
    }
}

fn zone_observation<A>(
    d: &Delegation,
    asked: DomainName,
    servers: Vec<ServerAnswer<A>>,
) -> ZoneObservation<A> {
    ZoneObservation {
        zone: d.zone.clone(),
        asked,
        parent: d.parent.clone(),
        parent_ns: d.parent_ns.clone(),
        child_ns: d.child_ns.clone(),
        servers,
        unresolved: d.unresolved.clone(),
    }
}

/// A server that answers with an error code, or without authority, is
/// lame for the zone (RFC 1912 §2.8); `None` for an authoritative answer.
fn lameness<A>(reply: &Reply) -> Option<ServerOutcome<A>> {
    if !matches!(reply.rcode, 0 | 3) {
        return Some(ServerOutcome::Rcode {
            rcode: wire::rcode_mnemonic(reply.rcode),
        });
    }
    if !reply.authoritative {
        return Some(ServerOutcome::NotAuthoritative {
            rcode: wire::rcode_mnemonic(reply.rcode),
        });
    }
    None
}

/// The alias chain of an answer from `name`, for `rtype`, and the data at
/// its end.
fn chain_of(
    name: &DomainName,
    rtype: u16,
    reply: &Reply,
) -> Result<(Vec<DomainName>, Vec<Vec<u8>>), String> {
    let resolved = wire::follow_chain(name.as_str(), rtype, &reply.answers).map_err(|e| e.0)?;
    let chain = resolved
        .chain
        .iter()
        .map(|n| {
            DomainName::from_ascii(n)
                .map_err(|e| format!("an alias target is not a host name: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((chain, resolved.rdata))
}

/// A CAA answer, parsed as the CAA gatherer parses.
fn caa_answer(name: &DomainName, reply: &Reply) -> ServerOutcome {
    let (chain, rdata) = match chain_of(name, 257, reply) {
        Ok(c) => c,
        Err(detail) => return ServerOutcome::Malformed { detail },
    };
    let mut records = Vec::new();
    for rdata in &rdata {
        match parse_caa_rdata(rdata) {
            Ok(r) => records.push(r),
            Err(why) => {
                return ServerOutcome::Malformed {
                    detail: format!("a CAA record of {name}: {why}"),
                };
            }
        }
    }
    ServerOutcome::Answered {
        answer: CaaAnswer {
            cname_chain: chain,
            records,
            nxdomain: reply.rcode == 3,
            dnssec: None,
        },
    }
}

/// A TXT answer, each record's character-strings joined, as the
/// perspectives report them.
fn txt_answer(name: &DomainName, reply: &Reply) -> ServerOutcome<RecordsSeen> {
    match chain_of(name, 16, reply) {
        Ok((cname_chain, rdata)) => ServerOutcome::Answered {
            answer: RecordsSeen {
                cname_chain,
                texts: rdata
                    .iter()
                    .map(|r| crate::perspective::txt_text(r))
                    .collect(),
                nxdomain: reply.rcode == 3,
            },
        },
        Err(detail) => ServerOutcome::Malformed { detail },
    }
}

fn dedup(mut v: Vec<DomainName>) -> Vec<DomainName> {
    v.sort();
    v.dedup();
    v
}
