//! One way to make an HTTP request: every reply certvigil reads (the reach
//! probe, order validation files, ACME, Tencent Cloud, Globalping, the
//! probe agent's answers, webhook receivers) goes through [`fetch`].
//!
//! - **Bounded.** A connect timeout and a total deadline (headers, every
//!   redirect and the body), and a body cap: the body is read as a stream
//!   and reading stops at the cap with [`HttpError::BodyTooLarge`]; a
//!   `Content-Length` over the cap stops it before the first byte. Nothing
//!   is buffered beyond the cap, whatever the peer sends.
//! - **Redirects by rule.** reqwest never follows redirects itself; the
//!   [`Redirects`] policy given with each call decides: none (APIs,
//!   webhooks: a redirect would replay a signed request elsewhere), or the
//!   ones a CA follows for file validation (`checks::reach::redirect`, BR
//!   §3.2.2.4.18) up to a hop limit, with loops refused.
//! - **Typed errors without secrets.** [`HttpError`] says what failed and
//!   carries URLs only as [`redact::url`] shows them; reqwest's own
//!   messages are taken without their URL.
//!
//! The answer keeps what the reach judge needs: status, headers, the final
//! URL and the redirect chain.

/// Redaction is pure text work, shared with the judges: it lives in the core crate.
pub use certvigil_core::redact;

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use thiserror::Error;
use tokio::time::Instant;

// The redirect rules are pure and live in the core crate, below both this
// module and the checks that use it.
use certvigil_core::checks::reach::model::Ports;
use certvigil_core::checks::reach::redirect::{self, RedirectViolation};

/// The user agent of every request but the probe's.
pub const USER_AGENT: &str = concat!("certvigil/", env!("CARGO_PKG_VERSION"));

/// How a client connects. Redirects are never followed by the client:
/// [`fetch`] follows them by its [`Redirects`] policy.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// reqwest's own overall limit, a backstop behind [`Limits::total`].
    pub total_timeout: Duration,
    /// CAs ignore certificate errors for file validation; only the
    /// validation fetchers set this.
    pub accept_invalid_certs: bool,
    /// Requests through this proxy.
    pub proxy: Option<Url>,
    /// Without `proxy`: honour `HTTP(S)_PROXY`/`NO_PROXY` (provider APIs
    /// and webhooks, which leave the host as any client would) or ignore
    /// them (the probe, validation files, agents: they must go direct).
    pub system_proxy: bool,
    /// Fixed addresses for names (the probe resolves names itself).
    pub resolve: Vec<(String, Vec<SocketAddr>)>,
    /// Resolve every name through these `[dns]` servers (redirect targets
    /// too) instead of the system resolver; `resolve` entries come first.
    pub dns: Option<crate::dns::DnsHandle>,
    /// Keep no idle connections (one-off probes).
    pub no_pool: bool,
    /// Trust exactly this certificate (a probe agent's pinned
    /// fingerprint) instead of the web PKI.
    pub pinned: Option<crate::tls::Fingerprint>,
    pub user_agent: &'static str,
}

impl ClientOptions {
    /// For a provider API or a webhook: the environment's proxy settings
    /// apply, as they did for any client.
    pub fn api(connect_timeout: Duration, total_timeout: Duration) -> Self {
        Self {
            system_proxy: true,
            ..Self::new(connect_timeout, total_timeout)
        }
    }

    pub fn new(connect_timeout: Duration, total_timeout: Duration) -> Self {
        Self {
            connect_timeout,
            total_timeout,
            accept_invalid_certs: false,
            proxy: None,
            system_proxy: false,
            resolve: Vec::new(),
            dns: None,
            no_pool: false,
            pinned: None,
            user_agent: USER_AGENT,
        }
    }
}

/// A client as [`fetch`] needs it.
pub fn client(options: &ClientOptions) -> Result<reqwest::Client, HttpError> {
    crate::tls::ensure_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(options.connect_timeout)
        .timeout(options.total_timeout)
        .user_agent(options.user_agent);
    if options.accept_invalid_certs {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    if options.no_pool {
        builder = builder.pool_max_idle_per_host(0);
    }
    if let Some(pin) = &options.pinned {
        builder = builder.tls_backend_preconfigured(crate::tls::pinned_client_config(*pin));
    }
    match &options.proxy {
        Some(proxy) => {
            let p = reqwest::Proxy::all(proxy.as_str()).map_err(|e| HttpError::Proxy {
                proxy: redact::url(proxy),
                detail: chain_text(&e.without_url()),
            })?;
            builder = builder.proxy(p);
        }
        None if options.system_proxy => {}
        None => builder = builder.no_proxy(),
    }
    if let Some(dns) = &options.dns {
        builder = builder.dns_resolver(std::sync::Arc::new(crate::dns::ReqwestResolver(
            dns.clone(),
        )));
    }
    for (name, addrs) in &options.resolve {
        builder = builder.resolve_to_addrs(name, addrs);
    }
    builder.build().map_err(|e| HttpError::Client {
        detail: chain_text(&e.without_url()),
    })
}

/// Limits of one [`fetch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Octets of the final body read at most.
    pub body_cap: usize,
    /// The whole exchange: every hop, headers and body.
    pub total: Duration,
}

/// Which redirects [`fetch`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirects {
    /// None: a 3xx is the answer (APIs, webhooks, the agent).
    None,
    /// Those a CA follows for file validation (BR §3.2.2.4.18 via
    /// `checks::reach::redirect::permitted`: 301/302/307/308, http or
    /// https, the validation port of the scheme), at most `max_hops`;
    /// anything else, or a URL seen before, is an error.
    Validation { ports: Ports, max_hops: usize },
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
}

impl Request {
    pub fn get(url: Url) -> Self {
        Self {
            method: Method::GET,
            url,
            headers: HeaderMap::new(),
            body: None,
        }
    }

    pub fn head(url: Url) -> Self {
        Self {
            method: Method::HEAD,
            ..Self::get(url)
        }
    }

    pub fn post(url: Url, body: Vec<u8>) -> Self {
        Self {
            method: Method::POST,
            body: Some(body),
            ..Self::get(url)
        }
    }

    /// A JSON body with its content type.
    pub fn post_json(url: Url, body: &impl serde::Serialize) -> Self {
        let bytes = serde_json::to_vec(body).expect("request bodies serialize");
        Self::post(url, bytes).header("content-type", "application/json")
    }

    /// Adds a header. Names and values are certvigil's own constants or
    /// signatures; an invalid one is a programming error, dropped.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.append(n, v);
        }
        self
    }

    /// `Authorization: Bearer <token>`, marked sensitive.
    pub fn bearer(mut self, token: &str) -> Self {
        if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {token}")) {
            v.set_sensitive(true);
            self.headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        self
    }
}

/// One redirect answer on the way to the final one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub url: Url,
    pub status: u16,
    pub location: Option<String>,
}

/// The final answer.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub headers: HeaderMap,
    /// The URL that gave this answer (the last of the chain).
    pub final_url: Url,
    /// The redirects followed to get here, in order.
    pub chain: Vec<Hop>,
    pub body: Vec<u8>,
}

impl Fetched {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Location` header, bytes read leniently.
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(reqwest::header::LOCATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
}

/// What went wrong on the wire, for callers that sort failures
/// (the reach probe turns these into its `Failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Refused,
    Reset,
    Timeout,
    Closed,
    Tls,
    Proxy,
    Protocol,
    Other,
}

/// Why a fetch gave no usable answer. URLs in it are redacted.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum HttpError {
    #[error("cannot set up the HTTP client: {detail}")]
    Client { detail: String },
    #[error("bad proxy {proxy}: {detail}")]
    Proxy { proxy: String, detail: String },
    /// No answer: connection, TLS or protocol failure.
    #[error("{method} {url} failed: {detail}")]
    Send {
        method: String,
        url: String,
        kind: FailureKind,
        detail: String,
    },
    #[error("{url} gave no complete answer within {after:?}")]
    Timeout { url: String, after: Duration },
    /// The body went past the cap; reading stopped there.
    #[error("{url} answered {status} with a body larger than {cap} bytes")]
    BodyTooLarge {
        url: String,
        status: u16,
        cap: usize,
    },
    #[error("{url} answered {status} but the body broke off: {detail}")]
    Body {
        url: String,
        status: u16,
        kind: FailureKind,
        detail: String,
    },
    /// A redirect the policy does not follow.
    #[error("{url} answered {status}; the redirect is not followed: {reason}")]
    RedirectRefused {
        url: String,
        status: u16,
        violation: RedirectViolation,
        reason: String,
    },
    #[error("the redirects from {url} lead back to {repeated}")]
    RedirectLoop { url: String, repeated: String },
    #[error("{url} redirects more than {max} times")]
    TooManyRedirects { url: String, max: usize },
}

impl HttpError {
    /// The wire failure, when there was one.
    pub fn kind(&self) -> FailureKind {
        match self {
            HttpError::Send { kind, .. } | HttpError::Body { kind, .. } => *kind,
            HttpError::Timeout { .. } => FailureKind::Timeout,
            HttpError::Proxy { .. } => FailureKind::Proxy,
            _ => FailureKind::Other,
        }
    }
}

/// Sends `request`, follows redirects as `redirects` allows, and reads the
/// final body up to `limits.body_cap`, all within `limits.total`.
pub async fn fetch(
    client: &reqwest::Client,
    request: Request,
    limits: &Limits,
    redirects: Redirects,
) -> Result<Fetched, HttpError> {
    let deadline = Instant::now() + limits.total;
    let first = redact::url(&request.url);
    match tokio::time::timeout_at(deadline, follow(client, request, limits, redirects)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::Timeout {
            url: first,
            after: limits.total,
        }),
    }
}

async fn follow(
    client: &reqwest::Client,
    mut request: Request,
    limits: &Limits,
    redirects: Redirects,
) -> Result<Fetched, HttpError> {
    let start = redact::url(&request.url);
    let mut chain: Vec<Hop> = Vec::new();
    loop {
        let url = request.url.clone();
        let mut builder = client
            .request(request.method.clone(), url.clone())
            .headers(request.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = builder.send().await.map_err(|e| {
            let (kind, detail) = classify(&e);
            HttpError::Send {
                method: request.method.to_string(),
                url: redact::url(&url),
                kind,
                detail,
            }
        })?;
        let status = response.status().as_u16();
        if let Redirects::Validation { ports, max_hops } = redirects
            && redirect::is_redirect(status)
        {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            // Its body is not wanted; dropping the response closes it.
            drop(response);
            let next = redirect::permitted(status, &url, location.as_deref(), ports).map_err(
                |violation| HttpError::RedirectRefused {
                    url: redact::url(&url),
                    status,
                    reason: violation.explain(ports),
                    violation,
                },
            )?;
            chain.push(Hop {
                url: url.clone(),
                status,
                location,
            });
            if next == request.url || chain.iter().any(|h| h.url == next) {
                return Err(HttpError::RedirectLoop {
                    url: start,
                    repeated: redact::url(&next),
                });
            }
            if chain.len() > max_hops {
                return Err(HttpError::TooManyRedirects {
                    url: start,
                    max: max_hops,
                });
            }
            // A CA's validation request is a plain GET at every hop.
            request = Request::get(next);
            continue;
        }
        let headers = response.headers().clone();
        let body = read_capped(response, &url, status, limits.body_cap).await?;
        return Ok(Fetched {
            status,
            headers,
            final_url: url,
            chain,
            body,
        });
    }
}

/// Reads the body as a stream, stopping at `cap` with an error.
async fn read_capped(
    mut response: reqwest::Response,
    url: &Url,
    status: u16,
    cap: usize,
) -> Result<Vec<u8>, HttpError> {
    let too_large = || HttpError::BodyTooLarge {
        url: redact::url(url),
        status,
        cap,
    };
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if chunk.len() > cap - body.len() {
                    // Dropping the response closes the connection.
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                let (kind, detail) = classify(&e);
                return Err(HttpError::Body {
                    url: redact::url(url),
                    status,
                    kind,
                    detail,
                });
            }
        }
    }
}

/// Sorts a request error into what happened on the wire; the message
/// without reqwest's URL (which may hold credentials).
fn classify(e: &reqwest::Error) -> (FailureKind, String) {
    let detail = chain_text(&UrlFree(e));
    let mut source: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = source {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return (FailureKind::Tls, detail);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionRefused => return (FailureKind::Refused, detail),
                ConnectionReset | ConnectionAborted | BrokenPipe => {
                    return (FailureKind::Reset, detail);
                }
                TimedOut => return (FailureKind::Timeout, detail),
                UnexpectedEof => return (FailureKind::Closed, detail),
                _ => {}
            }
        }
        source = err.source();
    }
    let lower = detail.to_ascii_lowercase();
    let kind = if e.is_timeout() {
        FailureKind::Timeout
    } else if lower.contains("tunnel error") || lower.contains("socks") {
        FailureKind::Proxy
    } else if lower.contains("closed before message completed")
        || lower.contains("connection closed")
    {
        FailureKind::Closed
    } else if lower.contains("invalid http") || lower.contains("parse") {
        FailureKind::Protocol
    } else if lower.contains("tls") || lower.contains("handshake") {
        FailureKind::Tls
    } else {
        FailureKind::Other
    };
    (kind, detail)
}

/// A reqwest error displayed without its URL, its sources unchanged.
#[derive(Debug)]
struct UrlFree<'a>(&'a reqwest::Error);

impl std::fmt::Display for UrlFree<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0.to_string();
        // reqwest writes "<what> for url (<url>)".
        let shown = match (text.find(" for url ("), self.0.url()) {
            (Some(i), Some(_)) => text[..i].to_string(),
            _ => text,
        };
        f.write_str(&shown)
    }
}

impl StdError for UrlFree<'_> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// The error and its causes on one line, as `a: b: c`.
pub fn chain_text(e: &dyn StdError) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    // A cause may quote a URL with credentials (a proxy's, an agent's).
    redact::peer_text(&parts.join(": "), 1000)
}

#[cfg(test)]
mod tests;
