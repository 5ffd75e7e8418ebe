//! Talking to DNS: which name servers to ask ([`DnsSettings`], from the
//! `[dns]` config section or the system's resolv.conf), and asking them
//! ([`DnsHandle::lookup`]).
//!
//! Queries are sent by certvigil itself rather than through
//! `hickory_resolver::Resolver`, for two reasons a monitor cares about:
//! the answer must be seen exactly as the server sent it (hickory's decoder
//! refuses some legal CAA records and would lose the whole answer, see
//! `wire`), and nothing may be kept past the next check (a monitor must see
//! a change then, not after a day's TTL): each question is asked once per
//! run or cycle and its answer reused only within it (`reuse`).
//! hickory-resolver still supplies what it is
//! good at: reading the system resolver configuration.
//!
//! The resolver behaviour follows the stub resolver of RFC 1034 §5.3.1:
//! servers are tried in order and the whole list `attempts` times, but only
//! a failure that says nothing about the name moves on to the next server:
//! - a timeout, a socket error or a broken answer: the server was not heard;
//! - REFUSED, NOTIMP, FORMERR (after the EDNS fallback): the server will not
//!   or cannot serve this query at all (an access list, an old server), an
//!   answer about the server. unbound treats these from an upstream as a
//!   server to avoid and asks another, and a validating resolver never
//!   uses them to report a broken zone (RFC 4035 §5.5 says SERVFAIL).
//!
//! SERVFAIL is an answer and ends the lookup, naming the server that gave
//! it ([`QueryError::Rcode`]): a validating resolver says SERVFAIL for a
//! bogus zone, and asking the next (perhaps non-validating) server would
//! turn a CA's refusal into "allowed". Boulder, likewise, retries only
//! network errors and takes SERVFAIL as the lookup's error.

mod exchange;
mod reuse;

pub use reuse::{MAX_ENTRIES as REUSE_MAX_ENTRIES, MAX_REUSE};

// Encoding and decoding are pure: the core crate's `dns::wire`.
use certvigil_core::dns::wire;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use thiserror::Error;
use tokio::sync::Semaphore;

use crate::domain::{DomainName, NameError};
use crate::telemetry::{self, DnsOutcome};
use exchange::{ExchangeError, exchange};
use futures::FutureExt;
use reuse::Reuse;

/// Where and how to ask. Built by the config module from `[dns]`; plain
/// data so it can be compared on reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// The recursive resolvers to ask, in order; `None` means the ones in
    /// the system configuration (`/etc/resolv.conf`).
    pub nameservers: Option<Vec<SocketAddr>>,
    /// How long to wait for one server's answer, per transport.
    pub timeout: Duration,
    /// How many times the whole server list is tried.
    pub attempts: usize,
}

impl Default for DnsSettings {
    /// The resolv.conf defaults (timeout:5, attempts:2), resolv.conf(5).
    fn default() -> Self {
        Self {
            nameservers: None,
            timeout: Duration::from_secs(5),
            attempts: 2,
        }
    }
}

/// Why a [`DnsHandle`] could not be built.
#[derive(Debug, Error)]
pub enum DnsError {
    #[error(
        "could not read the system resolver configuration (/etc/resolv.conf): {detail}; \
         fix the file or set [dns] nameservers in the config"
    )]
    SystemConfig { detail: String },
    #[error(
        "no name servers to ask: [dns] nameservers is empty; list at least one, or remove the key to use /etc/resolv.conf"
    )]
    NoNameservers,
    #[error("[dns] timeout must be longer than zero")]
    ZeroTimeout,
    #[error("[dns] attempts must be at least 1")]
    ZeroAttempts,
}

/// Why a query produced no answer to use. Each names the query and the
/// server, so a message among thousands still says what to look at.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    #[error("the {rtype} query for {name} was answered {rcode} by {server}")]
    Rcode {
        name: DomainName,
        rtype: RecordType,
        server: SocketAddr,
        /// The mnemonic: SERVFAIL, REFUSED, NOTIMP, ...
        rcode: String,
    },
    #[error(
        "the {rtype} query for {name} got no answer from {} within {timeout:?} \
         ({attempts} attempt(s)); check that the name servers are reachable, or raise [dns] timeout",
        ServerList(servers)
    )]
    Timeout {
        name: DomainName,
        rtype: RecordType,
        servers: Vec<SocketAddr>,
        timeout: Duration,
        attempts: usize,
    },
    #[error(
        "the answer from {server} to the {rtype} query for {name} could not be parsed: {detail}"
    )]
    Malformed {
        name: DomainName,
        rtype: RecordType,
        server: SocketAddr,
        detail: String,
    },
    #[error("the {rtype} query for {name} failed: {detail}")]
    Network {
        name: DomainName,
        rtype: RecordType,
        server: SocketAddr,
        detail: String,
    },
}

impl QueryError {
    /// Whether this failure is the lookup's answer, so that no other server
    /// is asked: SERVFAIL (see the module documentation).
    fn ends_the_lookup(&self) -> bool {
        matches!(self, QueryError::Rcode { rcode, .. } if rcode == "SERVFAIL")
    }

    /// Which failure says most about the servers, when several did fail: an
    /// answer (even an error code) beats a broken answer, which beats a
    /// socket error, which beats silence.
    fn rank(&self) -> u8 {
        match self {
            QueryError::Rcode { .. } => 3,
            QueryError::Malformed { .. } => 2,
            QueryError::Network { .. } => 1,
            QueryError::Timeout { .. } => 0,
        }
    }
}

struct ServerList<'a>(&'a [SocketAddr]);

impl fmt::Display for ServerList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

/// A usable answer: NOERROR (with or without records) or NXDOMAIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The alias chain the server followed, starting with the queried name;
    /// `[queried]` when it is no alias.
    pub cname_chain: Vec<DomainName>,
    /// The record data (uninterpreted octets) of every record of the
    /// queried type owned by the last name of the chain.
    pub rdata: Vec<Vec<u8>>,
    /// The response code was NXDOMAIN (for an alias: the target does not
    /// exist, RFC 6604 §2.1).
    pub nxdomain: bool,
    /// The server that answered.
    pub server: SocketAddr,
    /// Whether the answer came over TCP (after a truncated UDP answer).
    pub over_tcp: bool,
}

/// How many queries may be in flight at once per handle, however many
/// names a caller checks concurrently. Each UDP query has a socket of its
/// own (a fresh random port, `exchange`), so this also bounds file
/// descriptors: at most this many UDP sockets, plus one TCP connection per
/// truncated answer in flight, far below the default limit of 1024.
const MAX_IN_FLIGHT: usize = 256;

/// A cheap-to-clone handle for asking the configured name servers. Each
/// query goes out on a UDP socket of its own on a random port (see
/// `dns/exchange.rs`), at most [`MAX_IN_FLIGHT`] at a time. Clones share the questions in flight: one
/// asked again while in flight is not sent again. A handle made by
/// [`DnsHandle::with_answer_reuse`] (for one `check` run, or the daemon's
/// checks, cleared each cycle) also reuses an answer up to its TTL, at most
/// [`MAX_REUSE`]; other handles ask again once an answer is in.
#[derive(Clone)]
pub struct DnsHandle {
    inner: Arc<Inner>,
    reuse: Arc<Reuse>,
}

struct Inner {
    servers: Vec<SocketAddr>,
    timeout: Duration,
    attempts: usize,
    in_flight: Semaphore,
}

impl fmt::Debug for DnsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsHandle")
            .field("servers", &self.inner.servers)
            .field("timeout", &self.inner.timeout)
            .field("attempts", &self.inner.attempts)
            .finish()
    }
}

impl DnsHandle {
    /// Builds a handle: the configured name servers exactly, or those of
    /// `/etc/resolv.conf` (port 53) when none are configured.
    pub fn new(settings: &DnsSettings) -> Result<Self, DnsError> {
        let servers = match &settings.nameservers {
            Some(list) => list.clone(),
            None => system_nameservers()?,
        };
        Self::with_servers(servers, settings)
    }

    /// Like [`DnsHandle::new`] with `nameservers` unset, but reading the
    /// given resolv.conf text instead of the system's file.
    pub fn from_resolv_conf(text: &str, settings: &DnsSettings) -> Result<Self, DnsError> {
        Self::with_servers(parse_resolv_conf(text)?, settings)
    }

    fn with_servers(servers: Vec<SocketAddr>, settings: &DnsSettings) -> Result<Self, DnsError> {
        if servers.is_empty() {
            return Err(DnsError::NoNameservers);
        }
        if settings.timeout.is_zero() {
            return Err(DnsError::ZeroTimeout);
        }
        if settings.attempts == 0 {
            return Err(DnsError::ZeroAttempts);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                servers,
                timeout: settings.timeout,
                attempts: settings.attempts,
                in_flight: Semaphore::new(MAX_IN_FLIGHT),
            }),
            reuse: Arc::new(Reuse::new(false)),
        })
    }

    /// The name servers asked, in order.
    pub fn nameservers(&self) -> &[SocketAddr] {
        &self.inner.servers
    }

    /// A handle on the same sockets that also reuses answers up to their
    /// TTL (at most [`MAX_REUSE`], until [`DnsHandle::clear_cache`]), with
    /// none kept yet. For one run of checks, where a CA's resolver would
    /// also answer from its cache.
    pub fn with_answer_reuse(&self) -> DnsHandle {
        DnsHandle {
            inner: self.inner.clone(),
            reuse: Arc::new(Reuse::new(true)),
        }
    }

    /// A handle on the same sockets that keeps no answer (a question in
    /// flight is still shared): for polls that wait for a record to appear.
    pub fn without_answer_reuse(&self) -> DnsHandle {
        DnsHandle {
            inner: self.inner.clone(),
            reuse: Arc::new(Reuse::new(false)),
        }
    }

    /// Forgets the answers kept for reuse, so the next lookups ask again:
    /// the daemon calls it as each cycle starts and when it ends. (Receive
    /// buffers are one per thread, reused by every query on it: nothing
    /// to drop.)
    pub fn clear_cache(&self) {
        self.reuse.clear();
    }

    /// How many answers are kept for reuse now.
    #[doc(hidden)]
    pub fn cached_answers(&self) -> usize {
        self.reuse.kept()
    }

    /// Asks for the `rtype` records of `name`, with recursion desired, and
    /// returns them as the server sent them; a question already in flight
    /// is not sent again, and an answer got within its TTL is reused.
    pub async fn lookup(&self, name: &DomainName, rtype: RecordType) -> Result<Answer, QueryError> {
        self.reuse
            .get(name, rtype, || {
                let handle = self.clone();
                let name = name.clone();
                async move {
                    match handle.lookup_once(&name, rtype).await {
                        Ok((answer, ttl)) => (Ok(answer), ttl),
                        Err(e) => (Err(e), 0),
                    }
                }
                .boxed()
            })
            .await
    }

    /// One query (over every server and attempt as needed); the answer and
    /// how many seconds it may be reused.
    async fn lookup_once(
        &self,
        name: &DomainName,
        rtype: RecordType,
    ) -> Result<(Answer, u32), QueryError> {
        // Cannot fail: the semaphore is never closed.
        let _permit = self
            .inner
            .in_flight
            .acquire()
            .await
            .expect("the in-flight semaphore is never closed");
        let mut best_failure: Option<QueryError> = None;
        for _ in 0..self.inner.attempts {
            for &server in &self.inner.servers {
                match self.ask(server, name, rtype).await {
                    Ok(answer) => return Ok(answer),
                    Err(e) if e.ends_the_lookup() => return Err(e),
                    Err(e) => {
                        tracing::debug!(%server, error = %e, "name server failed; trying the next");
                        if best_failure.as_ref().is_none_or(|b| e.rank() >= b.rank()) {
                            best_failure = Some(e);
                        }
                    }
                }
            }
        }
        Err(best_failure.expect("at least one server was asked at least once"))
    }

    /// One server, one question, with the EDNS fallback of RFC 6891 §7.
    async fn ask(
        &self,
        server: SocketAddr,
        name: &DomainName,
        rtype: RecordType,
    ) -> Result<(Answer, u32), QueryError> {
        let timeout = self.inner.timeout;
        let mut exchanged = exchange(server, name, rtype, true, timeout).await;
        // RFC 6891 §7: a server that answers FORMERR to a query with OPT may
        // not know EDNS; ask again without it.
        if matches!(&exchanged, Ok(e) if e.response.rcode == 1) {
            exchanged = exchange(server, name, rtype, false, timeout).await;
        }
        let exchanged = exchanged.map_err(|e| match e {
            ExchangeError::Timeout => {
                telemetry::dns_query(DnsOutcome::Timeout);
                QueryError::Timeout {
                    name: name.clone(),
                    rtype,
                    servers: self.inner.servers.clone(),
                    timeout,
                    attempts: self.inner.attempts,
                }
            }
            ExchangeError::Malformed(detail) => {
                telemetry::dns_query(DnsOutcome::Malformed);
                QueryError::Malformed {
                    name: name.clone(),
                    rtype,
                    server,
                    detail,
                }
            }
            ExchangeError::Network(detail) => {
                telemetry::dns_query(DnsOutcome::Network);
                QueryError::Network {
                    name: name.clone(),
                    rtype,
                    server,
                    detail,
                }
            }
        })?;
        let response = exchanged.response;
        telemetry::dns_query(DnsOutcome::of_rcode(response.rcode));
        let malformed = |detail: String| QueryError::Malformed {
            name: name.clone(),
            rtype,
            server,
            detail,
        };
        match response.rcode {
            // NOERROR and NXDOMAIN are answers; the rest say the server
            // could not answer (RFC 1035 §4.1.1).
            0 | 3 => {}
            other => {
                return Err(QueryError::Rcode {
                    name: name.clone(),
                    rtype,
                    server,
                    rcode: wire::rcode_mnemonic(other),
                });
            }
        }
        let ttl = response.reuse_ttl();
        let resolved = wire::follow_chain(name.as_str(), u16::from(rtype), &response.answers)
            .map_err(|e| malformed(e.0))?;
        let cname_chain = resolved
            .chain
            .iter()
            .map(|n| DomainName::from_ascii(n))
            .collect::<Result<Vec<_>, NameError>>()
            .map_err(|e| malformed(format!("an alias target is not a host name: {e}")))?;
        Ok((
            Answer {
                cname_chain,
                rdata: resolved.rdata,
                nxdomain: response.rcode == 3,
                server,
                over_tcp: exchanged.over_tcp,
            },
            ttl,
        ))
    }

    /// The TXT records at `name` (after aliases), each as the concatenation
    /// of its character-strings (RFC 7208 §3.3 and the CAs' DNS validation
    /// records read TXT this way).
    pub async fn lookup_txt(&self, name: &DomainName) -> Result<TxtAnswer, QueryError> {
        let answer = self.lookup(name, RecordType::TXT).await?;
        let mut records = Vec::with_capacity(answer.rdata.len());
        for rdata in &answer.rdata {
            records.push(
                join_character_strings(rdata).ok_or_else(|| QueryError::Malformed {
                    name: name.clone(),
                    rtype: RecordType::TXT,
                    server: answer.server,
                    detail: "a TXT record's character-strings overrun its data".into(),
                })?,
            );
        }
        Ok(TxtAnswer {
            cname_chain: answer.cname_chain,
            records,
            nxdomain: answer.nxdomain,
        })
    }

    /// The A and AAAA addresses of `name` (after aliases), asked at once,
    /// and the errors of the lookups that failed. Every address certvigil
    /// connects to for a target comes from here (the probe, `socks5://`
    /// proxies, order validation files), never from the system resolver.
    pub async fn addresses(&self, name: &DomainName) -> (Vec<std::net::IpAddr>, Vec<String>) {
        let (a, aaaa) = tokio::join!(
            self.lookup(name, RecordType::A),
            self.lookup(name, RecordType::AAAA)
        );
        let mut addresses = Vec::new();
        let mut errors = Vec::new();
        for (answer, rtype) in [(a, RecordType::A), (aaaa, RecordType::AAAA)] {
            match answer {
                Ok(answer) => {
                    for rdata in &answer.rdata {
                        match (rtype, rdata.len()) {
                            (RecordType::A, 4) => {
                                let o: [u8; 4] = rdata[..].try_into().expect("length checked");
                                addresses.push(std::net::IpAddr::from(o));
                            }
                            (RecordType::AAAA, 16) => {
                                let o: [u8; 16] = rdata[..].try_into().expect("length checked");
                                addresses.push(std::net::IpAddr::from(o));
                            }
                            _ => errors.push(format!(
                                "a {rtype} record of {name} has {} octets of data",
                                rdata.len()
                            )),
                        }
                    }
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        (addresses, errors)
    }

    /// The alias chain starting at `name` (`[name]` when it is no alias).
    /// A query of any type but CNAME makes the server follow every alias
    /// (RFC 1034 §3.6.2); TXT is asked because every server answers it.
    pub async fn lookup_cname_chain(
        &self,
        name: &DomainName,
    ) -> Result<Vec<DomainName>, QueryError> {
        Ok(self.lookup(name, RecordType::TXT).await?.cname_chain)
    }
}

/// TXT records read by [`DnsHandle::lookup_txt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxtAnswer {
    pub cname_chain: Vec<DomainName>,
    /// One entry per record, its character-strings joined.
    pub records: Vec<Vec<u8>>,
    pub nxdomain: bool,
}

/// RFC 1035 §3.3.14: TXT data is one or more <character-string>s, each a
/// length octet and that many octets.
fn join_character_strings(rdata: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(rdata.len());
    let mut rest = rdata;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        if tail.len() < len {
            return None;
        }
        out.extend_from_slice(&tail[..len]);
        rest = &tail[len..];
    }
    Some(out)
}

fn system_nameservers() -> Result<Vec<SocketAddr>, DnsError> {
    let (config, _) =
        hickory_resolver::system_conf::read_system_conf().map_err(|e| DnsError::SystemConfig {
            detail: e.to_string(),
        })?;
    Ok(servers_of(&config))
}

fn parse_resolv_conf(text: &str) -> Result<Vec<SocketAddr>, DnsError> {
    let (config, _) = hickory_resolver::system_conf::parse_resolv_conf(text).map_err(|e| {
        DnsError::SystemConfig {
            detail: e.to_string(),
        }
    })?;
    Ok(servers_of(&config))
}

/// The UDP address of each name server, in order, each once (hickory lists
/// a server once per protocol).
fn servers_of(config: &hickory_resolver::config::ResolverConfig) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for ns in config.name_servers() {
        let port = ns.connections.first().map_or(53, |c| c.port);
        let addr = SocketAddr::new(ns.ip, port);
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_servers_are_used_in_order_on_port_53() {
        let handle = DnsHandle::from_resolv_conf(
            "# comment\nnameserver 192.0.2.1\nnameserver 2001:db8::1\noptions timeout:1\n",
            &DnsSettings::default(),
        )
        .unwrap();
        assert_eq!(
            handle.nameservers(),
            [
                "192.0.2.1:53".parse().unwrap(),
                "[2001:db8::1]:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn resolv_conf_without_servers_is_an_error_that_says_what_to_do() {
        let err = DnsHandle::from_resolv_conf("search example.com\n", &DnsSettings::default())
            .unwrap_err();
        assert!(matches!(err, DnsError::SystemConfig { .. }), "{err:?}");
        assert!(err.to_string().contains("[dns] nameservers"), "{err}");
    }

    #[test]
    fn bad_settings_are_refused() {
        let one = Some(vec!["127.0.0.1:53".parse().unwrap()]);
        let s = |nameservers, timeout, attempts| DnsSettings {
            nameservers,
            timeout,
            attempts,
        };
        assert!(matches!(
            DnsHandle::new(&s(Some(vec![]), Duration::from_secs(1), 1)),
            Err(DnsError::NoNameservers)
        ));
        assert!(matches!(
            DnsHandle::new(&s(one.clone(), Duration::ZERO, 1)),
            Err(DnsError::ZeroTimeout)
        ));
        assert!(matches!(
            DnsHandle::new(&s(one, Duration::from_secs(1), 0)),
            Err(DnsError::ZeroAttempts)
        ));
    }

    #[test]
    fn txt_character_strings_are_joined() {
        assert_eq!(join_character_strings(b"\x03abc\x02de").unwrap(), b"abcde");
        assert_eq!(join_character_strings(b"\x00").unwrap(), b"");
        assert!(join_character_strings(b"\x05ab").is_none());
    }
}

/// `[dns]` as reqwest's resolver, for clients that may follow a redirect to
/// another name (order validation files): reqwest then never asks the
/// system resolver.
#[derive(Debug, Clone)]
pub struct ReqwestResolver(pub DnsHandle);

impl reqwest::dns::Resolve for ReqwestResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let dns = self.0.clone();
        let text = name.as_str().to_string();
        Box::pin(async move {
            let name = DomainName::from_ascii(&text).map_err(
                |e| -> Box<dyn std::error::Error + Send + Sync> { e.to_string().into() },
            )?;
            let (addresses, errors) = dns.addresses(&name).await;
            if addresses.is_empty() {
                let why = if errors.is_empty() {
                    format!("{name} has no A or AAAA record (asked the [dns] resolvers)")
                } else {
                    errors.join("; ")
                };
                return Err(why.into());
            }
            let addrs: reqwest::dns::Addrs =
                Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}
