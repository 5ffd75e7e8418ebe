//! Gathering from this host (or through a proxy): fetch the validation path
//! on both ports as a CA would, follow the redirects a CA follows, and
//! record what happened at every hop. No judgement here beyond "would a CA
//! follow this redirect" (`redirect::permitted`), which decides whether to
//! go on at all.
//!
//! As a CA does for file validation (BR §3.2.2.4.18, Tencent Cloud's
//! rules), TLS certificate errors are ignored. Every request has a connect
//! timeout and an overall timeout, and bodies are read up to a cap, so slow
//! or hostile servers cannot hold a probe.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use reqwest::Url;

use super::model::{
    AddressObservation, BodyObservation, Failure, HopObservation, HopOutcome, PortObservation,
    ProbeObservation, ProbeTarget, Scheme,
};
use super::redirect;
use crate::dns::DnsHandle;
use crate::domain::DomainName;
use crate::http::{self, FailureKind, HttpError, redact};

/// Limits of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSettings {
    /// TCP (and proxy) connect timeout per request.
    pub connect_timeout: Duration,
    /// The whole request, body included.
    pub request_timeout: Duration,
    /// Octets of a body read at most. A validation file is small; Let's
    /// Encrypt reads at most a few KiB of an http-01 answer.
    pub body_cap: usize,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(20),
            body_cap: 64 * 1024,
        }
    }
}

/// Which addresses a prober may contact. An agent abroad refuses private
/// and local addresses so it cannot be used to reach its own network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressPolicy {
    AnyAddress,
    PublicOnly,
}

impl AddressPolicy {
    pub fn permits(self, ip: IpAddr) -> bool {
        match self {
            AddressPolicy::AnyAddress => true,
            AddressPolicy::PublicOnly => is_public(ip),
        }
    }
}

/// Whether an address is reachable on the public Internet (not loopback,
/// private, link-local, CGNAT, documentation, multicast, unspecified, ...).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, RFC 6598
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15, RFC 2544
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001) // local-use NAT64, RFC 8215
                || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard-only, RFC 6666
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local, RFC 4193
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation, RFC 3849
        }
    }
}

/// The IPv4 address an IPv6 address carries, for the forms that reach
/// (or are translated to) that IPv4 host: IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-translated `::ffff:0:a.b.c.d` (RFC 6145), the deprecated
/// IPv4-compatible `::a.b.c.d` (`::` and `::1` excepted), the NAT64
/// well-known prefix `64:ff9b::/96` (RFC 6052), 6to4 `2002:AABB:CCDD::/48`
/// (RFC 3056) and Teredo `2001:0::/32`, whose client address is stored
/// inverted (RFC 4380). Such an address is as private as the IPv4 one:
/// `64:ff9b::10.0.0.1` reaches 10.0.0.1 through any NAT64 gateway.
pub fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let last32 = |a: u16, b: u16| {
        let [a1, a0] = a.to_be_bytes();
        let [b1, b0] = b.to_be_bytes();
        Ipv4Addr::new(a1, a0, b1, b0)
    };
    match s {
        [0, 0, 0, 0, 0, 0xffff, a, b] => Some(last32(a, b)),
        [0, 0, 0, 0, 0xffff, 0, a, b] => Some(last32(a, b)),
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, a, b] => Some(last32(a, b)),
        [0x0064, 0xff9b, 0, 0, 0, 0, a, b] => Some(last32(a, b)),
        [0x2002, a, b, ..] => Some(last32(a, b)),
        [0x2001, 0, _, _, _, _, a, b] => Some(last32(!a, !b)),
        _ => None,
    }
}

/// How requests leave this host.
#[derive(Debug, Clone)]
pub enum Route {
    /// Straight to the site; names resolved through `dns`.
    Direct {
        dns: DnsHandle,
        policy: AddressPolicy,
    },
    /// Through an HTTP, HTTPS or SOCKS proxy. HTTP(S) proxies and
    /// `socks5h://`/`socks4a://` resolve the name themselves (so a
    /// geo-aware DNS answers as it would abroad); `socks5://` and
    /// `socks4://` mean "the client resolves", and certvigil's client
    /// resolves every name of a target through `dns` (the configured
    /// `[dns]` servers), never through the system resolver.
    Proxy { url: Url, dns: DnsHandle },
}

/// Whether names are resolved on this side of `proxy` (the scheme's
/// convention, as curl has it): `socks5://` and `socks4://`.
pub fn resolves_locally(proxy: &Url) -> bool {
    matches!(proxy.scheme(), "socks5" | "socks4")
}

/// Probes `target` on both ports along `route`.
pub async fn probe(
    target: &ProbeTarget,
    route: &Route,
    settings: &ProbeSettings,
) -> ProbeObservation {
    crate::tls::ensure_crypto_provider();
    let resolved = match route {
        Route::Direct { dns, .. } => Some(resolve(dns, &target.name).await),
        Route::Proxy { url, dns } if resolves_locally(url) => {
            Some(resolve(dns, &target.name).await)
        }
        Route::Proxy { .. } => None,
    };
    let (http, https) = tokio::join!(
        probe_port(target, Scheme::Http, route, resolved.as_ref(), settings),
        probe_port(target, Scheme::Https, route, resolved.as_ref(), settings),
    );
    ProbeObservation {
        resolved,
        ports: vec![http, https],
    }
}

/// A and AAAA of `name` (after aliases). "No address" is an observation,
/// not an error: the judge turns it into a finding.
pub async fn resolve(dns: &DnsHandle, name: &DomainName) -> AddressObservation {
    let (addresses, errors) = dns.addresses(name).await;
    AddressObservation {
        addresses,
        error: (!errors.is_empty()).then(|| errors.join("; ")),
    }
}

fn start_url(target: &ProbeTarget, scheme: Scheme) -> Url {
    let port = target.ports.of(scheme);
    let text = format!(
        "{}://{}:{}{}",
        scheme.as_str(),
        target.name,
        port,
        target.path
    );
    // Cannot fail: a DomainName is a valid host, the path starts with '/'.
    Url::parse(&text).expect("a probe URL built from a DomainName parses")
}

async fn probe_port(
    target: &ProbeTarget,
    scheme: Scheme,
    route: &Route,
    first_addresses: Option<&AddressObservation>,
    settings: &ProbeSettings,
) -> PortObservation {
    let mut url = start_url(target, scheme);
    let mut hops = Vec::new();
    let mut seen = HashSet::new();
    loop {
        seen.insert(url.to_string());
        let first = hops.is_empty();
        let hop = fetch(
            &url,
            route,
            if first { first_addresses } else { None },
            target.expected.as_deref(),
            settings,
        )
        .await;
        let next = match &hop.outcome {
            HopOutcome::Response {
                status, location, ..
            } if redirect::is_redirect(*status) => {
                redirect::permitted(*status, &url, location.as_deref(), target.ports).ok()
            }
            _ => None,
        };
        hops.push(hop);
        match next {
            // A loop ends the chain; the judge sees the repeated URL.
            Some(next) if !seen.contains(next.as_str()) && hops.len() < redirect::MAX_FOLLOWED => {
                url = next;
            }
            _ => break,
        }
    }
    PortObservation {
        scheme,
        port: target.ports.of(scheme),
        hops,
        follows_redirects: true,
    }
}

/// One request, never following redirects.
async fn fetch(
    url: &Url,
    route: &Route,
    known_addresses: Option<&AddressObservation>,
    expected: Option<&str>,
    settings: &ProbeSettings,
) -> HopObservation {
    let started = Instant::now();
    let hop = |addresses: Vec<IpAddr>, outcome: HopOutcome| HopObservation {
        url: redact::url(url),
        addresses,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        outcome,
    };
    let failed = |failure: Failure, detail: String| HopOutcome::Failed { failure, detail };
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(80);

    let mut options = http::ClientOptions::new(settings.connect_timeout, settings.request_timeout);
    // CAs ignore certificate errors for file validation (Tencent Cloud
    // says so; BR §3.2.2.4.18 only asks for the file's content).
    options.accept_invalid_certs = true;
    options.no_pool = true;
    options.user_agent = concat!(
        "certvigil/",
        env!("CARGO_PKG_VERSION"),
        " (file-validation reachability probe)"
    );
    let mut addresses = Vec::new();
    let (dns, policy) = match route {
        Route::Direct { dns, policy } => (Some(dns), *policy),
        Route::Proxy { url: proxy, dns } => {
            options.proxy = Some(proxy.clone());
            (
                resolves_locally(proxy).then_some(dns),
                AddressPolicy::AnyAddress,
            )
        }
    };
    match dns {
        None => {}
        Some(dns) => {
            let literal = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok();
            addresses = match literal {
                Some(ip) => vec![ip],
                None => {
                    let looked_up = match known_addresses {
                        Some(a) => a.clone(),
                        None => match DomainName::from_ascii(&host) {
                            Ok(name) => resolve(dns, &name).await,
                            Err(e) => {
                                return hop(vec![], failed(Failure::NoAddress, e.to_string()));
                            }
                        },
                    };
                    if looked_up.addresses.is_empty() {
                        let detail = looked_up
                            .error
                            .unwrap_or_else(|| format!("{host} has no A or AAAA record"));
                        return hop(vec![], failed(Failure::NoAddress, detail));
                    }
                    looked_up.addresses
                }
            };
            if let Some(bad) = addresses.iter().find(|ip| !policy.permits(**ip)) {
                return hop(
                    addresses.clone(),
                    failed(
                        Failure::PrivateAddress,
                        format!("{host} resolves to {bad}, which is not a public address"),
                    ),
                );
            }
            let sockets: Vec<SocketAddr> = addresses
                .iter()
                .map(|ip| SocketAddr::new(*ip, port))
                .collect();
            if literal.is_none() {
                // Through a `socks5://` proxy reqwest resolves with the
                // client's resolver, overrides first: the proxy is handed
                // these addresses.
                options.resolve.push((host.clone(), sockets));
            }
        }
    }
    let client = match http::client(&options) {
        Ok(c) => c,
        Err(e @ HttpError::Proxy { .. }) => {
            return hop(addresses, failed(Failure::Proxy, e.to_string()));
        }
        Err(e) => return hop(addresses, failed(Failure::Other, e.to_string())),
    };
    let through_proxy = matches!(route, Route::Proxy { .. });
    let via_proxy = matches!(route, Route::Proxy { url, .. } if url.scheme().starts_with("http"));
    let limits = http::Limits {
        body_cap: settings.body_cap,
        total: settings.request_timeout + settings.connect_timeout,
    };
    // Redirects are followed hop by hop in `probe_port`, each hop resolved
    // and checked against the address policy before it is contacted.
    let answer = http::fetch(
        &client,
        http::Request::get(url.clone()),
        &limits,
        http::Redirects::None,
    )
    .await;
    let outcome = match answer {
        // RFC 9110 §15.6.3/§15.6.5: 502 and 504 are a gateway's own
        // answers. Through an HTTP proxy they mean the proxy could not
        // reach the site, which is what is being asked.
        Ok(a) if via_proxy && url.scheme() == "http" && matches!(a.status, 502 | 504) => failed(
            Failure::Proxy,
            format!(
                "the proxy answered {}: it could not reach the site",
                a.status
            ),
        ),
        Err(HttpError::BodyTooLarge { status, .. })
            if via_proxy && url.scheme() == "http" && matches!(status, 502 | 504) =>
        {
            failed(
                Failure::Proxy,
                format!("the proxy answered {status}: it could not reach the site"),
            )
        }
        // 407: the proxy wants credentials it was not given: its failure.
        Ok(a) if via_proxy && a.status == 407 => failed(
            Failure::Vantage,
            "the proxy answered 407: it wants credentials (user:password in the proxy URL)".into(),
        ),
        Ok(a) => HopOutcome::Response {
            status: a.status,
            location: a.location(),
            body: BodyObservation {
                bytes_read: a.body.len() as u64,
                truncated: false,
                matched: expected.map(|e| body_matches(&a.body, e)),
            },
        },
        // The status and the first `body_cap` octets are the observation;
        // a body that long is not a validation file.
        Err(HttpError::BodyTooLarge { status, cap, .. }) => HopOutcome::Response {
            status,
            location: None,
            body: BodyObservation {
                bytes_read: cap as u64,
                truncated: true,
                matched: expected.map(|_| false),
            },
        },
        Err(HttpError::Timeout { after, .. }) => {
            failed(Failure::Timeout, format!("no answer within {after:?}"))
        }
        Err(HttpError::Body { kind, detail, .. }) => failed(
            failure_of(kind),
            format!("while reading the body: {detail}"),
        ),
        Err(HttpError::Send { kind, detail, .. }) if through_proxy => {
            failed(proxy_failure(kind, &detail), detail)
        }
        Err(HttpError::Send { kind, detail, .. }) => failed(failure_of(kind), detail),
        Err(e) => failed(failure_of(e.kind()), e.to_string()),
    };
    hop(addresses, outcome)
}

/// A failed request through a proxy: the proxy's own failure (it is down,
/// refused our credentials, could not resolve a name or broke its own
/// handshake) is [`Failure::Vantage`], which says nothing about the site;
/// what the proxy reports about the site (SOCKS "host unreachable",
/// "connection refused", "ttl expired", an HTTP proxy's 502) stays a
/// failure seen from there.
fn proxy_failure(kind: FailureKind, detail: &str) -> Failure {
    let lower = detail.to_ascii_lowercase();
    // A refused TCP connection through a proxy is the proxy refusing us:
    // the site's refusal comes back as a SOCKS status or a 502, not as
    // an io error on our socket.
    let vantage = kind == FailureKind::Refused
        || [
            "error resolving for socks proxy",
            "failed to create underlying connection",
            "io error during socks handshake",
            "could not resolve to acceptable address type",
            "failed parsing server response",
            "credentials not accepted",
            "user/pass authentication",
            "implements authentication incorrectly",
            "general server failure",
            "connection not allowed",
            "command not supported",
            "address type not supported",
            "proxy authorization required",
            "proxy authentication required",
        ]
        .iter()
        .any(|m| lower.contains(m));
    if vantage {
        Failure::Vantage
    } else {
        failure_of(kind)
    }
}

/// The probe's name for a wire failure.
fn failure_of(kind: FailureKind) -> Failure {
    match kind {
        FailureKind::Refused => Failure::Refused,
        FailureKind::Reset => Failure::Reset,
        FailureKind::Timeout => Failure::Timeout,
        FailureKind::Closed => Failure::Closed,
        FailureKind::Tls => Failure::Tls,
        FailureKind::Proxy => Failure::Proxy,
        FailureKind::Protocol => Failure::Protocol,
        FailureKind::Other => Failure::Other,
    }
}

/// The file matches when its content, white space around it ignored,
/// equals the expected value (CAs compare the token; editors add newlines).
pub fn body_matches(body: &[u8], expected: &str) -> bool {
    body.trim_ascii() == expected.as_bytes().trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_means_routable_on_the_internet() {
        for private in [
            "127.0.0.1",
            "10.213.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["91.199.212.132", "54.189.196.217", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn ipv6_forms_that_embed_ipv4_are_judged_by_the_ipv4_address() {
        for private in [
            "::127.0.0.1",
            "::10.0.0.1",
            "::ffff:192.168.1.1",
            "::ffff:0:10.1.2.3",
            "64:ff9b::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::169.254.169.254",
            "64:ff9b:1::8.8.8.8",
            "2002:7f00:1::1",
            "2002:a00:1::",
            "2002:c0a8:101::53",
            "2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo, client 127.0.0.1
            "100::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "::ffff:91.199.212.132",
            "64:ff9b::91.199.212.132",
            "2002:5bc7:d484::1",
            "2001:0:4136:e378:8000:63bf:a438:2b7b", // Teredo, client 91.199.212.132
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn bodies_match_ignoring_surrounding_white_space() {
        assert!(body_matches(b"token-123\r\n", "token-123"));
        assert!(!body_matches(b"<html>token-123</html>", "token-123"));
    }
}
