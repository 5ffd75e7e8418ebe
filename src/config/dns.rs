//! `[dns]`: the recursive resolvers every lookup goes through.
//! Its raw form (as serde reads it), its resolution (each problem at its
//! line:column with its key) and its typed result live here; `resolve`
//! only dispatches.

use super::fields::duration;
use super::problem::Problems;
use super::raw::Text;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    pub nameservers: Option<Vec<Text>>,
    pub timeout: Option<Text>,
    pub view: Option<Text>,
    pub authoritative_port: Option<serde_spanned::Spanned<u16>>,
}

/// `[dns]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Recursive resolvers to ask; empty means the system resolver
    /// (`/etc/resolv.conf`). A bare IP in the file means port 53.
    pub nameservers: Vec<std::net::SocketAddr>,
    /// How long one query may take before it counts as a timeout (which a
    /// CA treats as a refusal for CAA). Default 5s.
    pub timeout: Duration,
    /// `view` and `authoritative_port` (`dns_view.rs`).
    pub views: super::ViewsConfig,
}

/// A name server given as something other than an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{given:?} is not a name server address: write IP or IP:PORT (e.g. \"127.0.0.1:53\", \"[2001:db8::1]:53\"); a name server cannot be given by name, since resolving it would need a name server"
)]
pub struct NameserverError {
    pub given: String,
}

/// Parses a name server as `[dns] nameservers` and `--nameserver` take it:
/// `IP:PORT`, `[IPv6]:PORT`, or a bare IP meaning port 53.
pub fn parse_nameserver(text: &str) -> Result<std::net::SocketAddr, NameserverError> {
    use std::net::{IpAddr, SocketAddr};
    let trimmed = text.trim();
    let bad = || NameserverError {
        given: text.to_string(),
    };
    if let Ok(addr) = trimmed.parse::<SocketAddr>() {
        return if addr.port() == 0 {
            Err(bad())
        } else {
            Ok(addr)
        };
    }
    let bare = trimmed
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(trimmed);
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| bad())
}

const DEFAULT_DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// `[dns]` with nothing written: the system resolver.
pub(super) fn defaults() -> DnsConfig {
    DnsConfig {
        nameservers: Vec::new(),
        timeout: DEFAULT_DNS_TIMEOUT,
        views: Default::default(),
    }
}

pub(super) fn resolve_dns(raw: RawDns, out: &mut DnsConfig, p: &mut Problems<'_>) {
    out.views =
        super::dns_view::resolve_views(raw.view.as_ref(), raw.authoritative_port.as_ref(), p);
    for (i, ns) in raw.nameservers.iter().flatten().enumerate() {
        match parse_nameserver(ns.get_ref()) {
            Ok(addr) => out.nameservers.push(addr),
            Err(e) => p.on(ns, format!("dns.nameservers[{i}]"), e.to_string()),
        }
    }
    if let Some(d) = raw
        .timeout
        .as_ref()
        .and_then(|t| duration(t, "dns.timeout", p))
    {
        out.timeout = d;
    }
}
