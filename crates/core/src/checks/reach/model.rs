//! What a reachability probe observes: plain data, serialisable, so an agent
//! abroad can send its observations back and the store can keep them. No
//! judgement lives here; `judge` decides what the observations mean.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::domain::DomainName;

/// The two schemes BR §3.2.2.4.18 allows for file validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The ports validation is tried on: 80 and 443 in production
/// (BR §3.2.2.4.18); tests move them with `[reach]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    pub http: u16,
    pub https: u16,
}

impl Ports {
    /// The only ports a CA connects to for file validation.
    pub const STANDARD: Ports = Ports {
        http: 80,
        https: 443,
    };

    pub fn of(self, scheme: Scheme) -> u16 {
        match scheme {
            Scheme::Http => self.http,
            Scheme::Https => self.https,
        }
    }

    /// Whether `port` is the validation port of `scheme`.
    pub fn allows(self, scheme: Scheme, port: u16) -> bool {
        self.of(scheme) == port
    }
}

/// What a CA would fetch: `http(s)://name/path` on the validation ports,
/// and what the file should contain when that is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeTarget {
    pub name: DomainName,
    /// Starts with `/.well-known/`.
    pub path: String,
    /// The content the file must have: an order's validation value or the
    /// user's canary. `None`: any HTTP answer proves reachability only.
    pub expected: Option<String>,
    pub ports: Ports,
}

/// Where a probe looks when no canary is configured: a file that does not
/// exist, so a 404 is the expected answer and proves the path is reachable.
pub const DEFAULT_FILE_PATH: &str = "/.well-known/pki-validation/certvigil-probe.txt";
/// The same for ACME http-01 (RFC 8555 §8.3).
pub const DEFAULT_ACME_PATH: &str = "/.well-known/acme-challenge/certvigil-probe";

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The name has no A or AAAA record (or the lookup failed).
    NoAddress,
    /// The name resolves to an address the prober refuses to contact
    /// (an agent without `--allow-private`).
    PrivateAddress,
    /// TCP RST in answer to SYN: nothing listens, or a firewall rejects.
    Refused,
    /// The connection was reset after it was established.
    Reset,
    /// No answer in time: a firewall that drops, or a server that hangs.
    Timeout,
    /// The TLS handshake failed (other than certificate errors, which are
    /// ignored as CAs ignore them for this method).
    Tls,
    /// The server closed the connection without an HTTP answer.
    Closed,
    /// The answer was not HTTP.
    Protocol,
    /// The proxy in between could not reach the site (its 502/504 or a
    /// refused CONNECT), or the proxy itself failed.
    Proxy,
    /// The vantage point itself could not do its job: its proxy is down or
    /// refused our credentials, could not resolve the name for us, or
    /// failed in its own handshake. Says nothing about the site; the judge
    /// counts such a vantage point as failed, never as a silent one.
    Vantage,
    /// Anything else, see the detail.
    Other,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::NoAddress => "no address",
            Failure::PrivateAddress => "private address refused",
            Failure::Refused => "connection refused",
            Failure::Reset => "connection reset",
            Failure::Timeout => "timeout",
            Failure::Tls => "TLS handshake failed",
            Failure::Closed => "closed without an answer",
            Failure::Protocol => "not an HTTP answer",
            Failure::Proxy => "proxy could not connect",
            Failure::Vantage => "the vantage point itself failed",
            Failure::Other => "failed",
        }
    }
}

/// What was read of a response body. Bodies are capped: a validation file
/// is a few hundred octets, and a hostile server may send gigabytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyObservation {
    /// Octets read (at most the cap).
    pub bytes_read: u64,
    /// The body was longer than the cap and was not read to the end.
    pub truncated: bool,
    /// Whether the body equals the expected content (ASCII white space
    /// around it ignored); `None` when nothing is expected or the body
    /// could not be compared.
    pub matched: Option<bool>,
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum HopOutcome {
    Response {
        status: u16,
        /// The `Location` header, as sent.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        location: Option<String>,
        body: BodyObservation,
    },
    Failed {
        failure: Failure,
        detail: String,
    },
}

/// One request of a redirect chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopObservation {
    pub url: String,
    /// The addresses the name resolved to (empty when a proxy or a
    /// measurement service resolved it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<IpAddr>,
    pub elapsed_ms: u64,
    #[serde(flatten)]
    pub outcome: HopOutcome,
}

impl HopObservation {
    pub fn status(&self) -> Option<u16> {
        match &self.outcome {
            HopOutcome::Response { status, .. } => Some(*status),
            HopOutcome::Failed { .. } => None,
        }
    }
}

/// One scheme and port, from one vantage point: the first request and every
/// redirect the prober followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortObservation {
    pub scheme: Scheme,
    pub port: u16,
    /// Never empty.
    pub hops: Vec<HopObservation>,
    /// Whether the prober follows redirects. Globalping does not, so a
    /// redirect there ends the chain without saying where it leads.
    pub follows_redirects: bool,
}

/// The A and AAAA records, as seen from where the probe ran.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AddressObservation {
    pub addresses: Vec<IpAddr>,
    /// Set when a lookup failed (rather than returning no records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything one vantage point saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeObservation {
    /// `None` when the name was resolved elsewhere (a proxy, Globalping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<AddressObservation>,
    pub ports: Vec<PortObservation>,
}

/// Which kind of vantage point: in the config (`[[vantage]] kind`) and in
/// what it observed. One type for both, so the two cannot drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VantageKind {
    /// This host.
    Local,
    /// An HTTP or SOCKS5 proxy abroad.
    Proxy,
    /// A certvigil running `certvigil probe` on a host abroad.
    Agent,
    /// The Globalping measurement service.
    Globalping,
}

/// The result of asking one vantage point: what it saw, or why it could not
/// look (the agent was down, the token wrong, Globalping rate-limited). A
/// vantage error says nothing about the site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum VantageOutcome {
    Probed(ProbeObservation),
    Error { message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VantageObservation {
    /// The `[[vantage]]` name; for Globalping `name/CC-City` per probe.
    pub vantage: String,
    pub kind: VantageKind,
    pub overseas: bool,
    pub outcome: VantageOutcome,
}

/// Everything gathered for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReachObservation {
    pub target: ProbeTarget,
    pub vantages: Vec<VantageObservation>,
}
