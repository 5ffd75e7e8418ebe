//! The probe agent: `certvigil probe serve` on a host abroad answers
//! `POST /v1/probe` by running the same probe as the local vantage point,
//! from where it stands.
//!
//! It must not become an open proxy or a port scanner, so it:
//! - authenticates every request (bearer token, compared in constant time
//!   over SHA-256 digests so neither content nor length leaks);
//! - probes only names (not addresses), only the validation paths
//!   (`/.well-known/pki-validation/`, `/.well-known/acme-challenge/`), only
//!   on ports 80 and 443 (BR §3.2.2.4.18), over http and https;
//! - refuses names that resolve to private, loopback or link-local
//!   addresses, at the first request and at every redirect, unless started
//!   with `--allow-private` (for tests and private networks);
//! - returns observations (status, timings, whether the body matched),
//!   never the body itself;
//! - rate-limits (a token bucket) and bounds the probes in flight;
//! - bounds its connections ([`ListenerLimits`]): a cap on open
//!   connections, a deadline for the request head (which is also how long a
//!   kept-alive connection may sit idle), a deadline for the whole request,
//!   and a small body limit, so unauthenticated peers cannot hold its
//!   descriptors;
//! - speaks TLS ([`AgentSettings::tls`], see `cli::probe` for the
//!   certificate), so the token does not cross the network in clear;
//! - logs refused tokens at a bounded rate ([`RefusalLog`]), counting the
//!   rest.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, watch};

use super::model::{Ports, ProbeObservation, ProbeTarget};
use super::probe::{self, AddressPolicy, ProbeSettings, Route};
use crate::dns::DnsHandle;
use crate::domain::DomainName;

/// What the client asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRequest {
    pub name: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    pub ports: Ports,
}

impl AgentRequest {
    pub fn from_target(t: &ProbeTarget) -> Self {
        Self {
            name: t.name.to_string(),
            path: t.path.clone(),
            expected: t.expected.clone(),
            ports: t.ports,
        }
    }
}

/// What the agent answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentResponse {
    pub agent_version: String,
    pub observation: ProbeObservation,
}

/// The paths CAs fetch validation files from.
pub const VALIDATION_PREFIXES: [&str; 2] = [
    "/.well-known/pki-validation/",
    "/.well-known/acme-challenge/",
];

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// The bearer token every request must carry.
    pub token: String,
    /// Probe private and loopback addresses too (tests, private networks).
    pub allow_private: bool,
    /// Probes accepted per minute (a token bucket of this size).
    pub per_minute: u32,
    /// Probes in flight at once.
    pub max_in_flight: usize,
    pub probe: ProbeSettings,
    pub dns: DnsHandle,
    /// Bounds on connections and requests.
    pub limits: ListenerLimits,
    /// Serve HTTPS with this configuration; `None` is plain HTTP (which
    /// `cli::probe` allows only with `--insecure-http`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Refused tokens are logged one by one up to a few per window, then
    /// counted and summed up once per window.
    pub refusal_log_window: Duration,
}

/// How much a peer may hold of the agent before it has proven anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Connections open at once (TLS handshakes included); one more is
    /// closed as soon as it is accepted. Keep it well under the descriptor
    /// limit (`ulimit -n`, 1,024 by default).
    pub max_connections: usize,
    /// Time to send a complete request head (and to finish the TLS
    /// handshake). The same deadline applies while a kept-alive connection
    /// waits for its next request, so it is also the idle timeout.
    pub header_timeout: Duration,
    /// Time for a whole request once its head is in: body, probe and
    /// answer. Set above the probe's own budget.
    pub request_timeout: Duration,
    /// Largest request body, in octets (a probe request is ~200).
    pub max_body: usize,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(90),
            max_body: 16 * 1024,
        }
    }
}

/// Refused-token lines allowed per window before they are only counted.
const REFUSALS_LOGGED_PER_WINDOW: u32 = 3;

/// Rate-limits the log lines of refused tokens: a peer spraying tokens
/// must not fill the disk, and the operator must still learn how many
/// there were. Pure; the caller passes `now`.
#[derive(Debug)]
pub struct RefusalLog {
    window: Duration,
    started: Instant,
    /// Refusals in the current window.
    seen: u64,
    /// Of those, logged one by one.
    logged: u32,
}

/// What to log for one refusal or at the end of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalLine {
    /// Log this refusal; `last` says it is the last one logged this window.
    Each { last: bool },
    /// `refused` refusals in the window just ended, of which `unlogged`
    /// were not logged one by one.
    Summary { refused: u64, unlogged: u64 },
}

impl RefusalLog {
    pub fn new(window: Duration, now: Instant) -> Self {
        Self {
            window,
            started: now,
            seen: 0,
            logged: 0,
        }
    }

    /// Records one refusal; returns the summary of the previous window if
    /// this one starts a new window, and whether to log this one.
    pub fn refused(&mut self, now: Instant) -> (Option<RefusalLine>, Option<RefusalLine>) {
        let summary = self.tick(now);
        self.seen += 1;
        let each = (self.logged < REFUSALS_LOGGED_PER_WINDOW).then(|| {
            self.logged += 1;
            RefusalLine::Each {
                last: self.logged == REFUSALS_LOGGED_PER_WINDOW,
            }
        });
        (summary, each)
    }

    /// Ends the window if it is over: its summary, when some refusals went
    /// unlogged.
    pub fn tick(&mut self, now: Instant) -> Option<RefusalLine> {
        if now.saturating_duration_since(self.started) < self.window {
            return None;
        }
        self.flush(now)
    }

    /// Ends the window now (at shutdown): its summary, when some refusals
    /// went unlogged.
    pub fn flush(&mut self, now: Instant) -> Option<RefusalLine> {
        let unlogged = self.seen - u64::from(self.logged);
        let line = (unlogged > 0).then_some(RefusalLine::Summary {
            refused: self.seen,
            unlogged,
        });
        self.started = now;
        self.seen = 0;
        self.logged = 0;
        line
    }
}

fn log_refusal(line: RefusalLine, window: Duration, peer: Option<SocketAddr>, path: &str) {
    match line {
        RefusalLine::Each { last: false } => {
            tracing::warn!(peer = ?peer, path, "probe agent: request without a valid token refused");
        }
        RefusalLine::Each { last: true } => tracing::warn!(
            peer = ?peer,
            path,
            "probe agent: request without a valid token refused; more in the next {} are counted, not logged one by one",
            humantime::format_duration(window)
        ),
        RefusalLine::Summary { refused, unlogged } => tracing::warn!(
            refused,
            unlogged,
            "probe agent: {refused} requests without a valid token refused in the last {} ({unlogged} not logged one by one)",
            humantime::format_duration(window)
        ),
    }
}

struct AgentState {
    token_digest: [u8; 32],
    refusals: Mutex<RefusalLog>,
    refusal_log_window: Duration,
    allow_private: bool,
    probe: ProbeSettings,
    dns: DnsHandle,
    bucket: Mutex<Bucket>,
    in_flight: Semaphore,
}

/// A token bucket: `capacity` probes, refilled at capacity per minute.
struct Bucket {
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Takes a token, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let per_second = self.capacity / 60.0;
        self.tokens = (self.tokens
            + now.saturating_duration_since(self.last).as_secs_f64() * per_second)
            .min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / per_second))
        }
    }
}

/// The HTTP API, for [`serve`] or a test's own listener.
pub fn router(settings: AgentSettings) -> Router {
    router_and_state(settings).0
}

fn router_and_state(settings: AgentSettings) -> (Router, Arc<AgentState>) {
    let state = Arc::new(AgentState {
        token_digest: Sha256::digest(settings.token.as_bytes()).into(),
        refusals: Mutex::new(RefusalLog::new(settings.refusal_log_window, Instant::now())),
        refusal_log_window: settings.refusal_log_window,
        allow_private: settings.allow_private,
        probe: settings.probe,
        dns: settings.dns,
        bucket: Mutex::new(Bucket {
            capacity: f64::from(settings.per_minute.max(1)),
            tokens: f64::from(settings.per_minute.max(1)),
            last: Instant::now(),
        }),
        in_flight: Semaphore::new(settings.max_in_flight.max(1)),
    });
    let limits = settings.limits;
    let router = Router::new()
        .route("/v1/probe", post(handle_probe))
        .route("/v1/resolve", post(handle_resolve))
        .route("/v1/health", get(|| async { error(StatusCode::OK, "ok") }))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such endpoint; POST /v1/probe or /v1/resolve",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        // After the token layer, so outside it: a liveness check for load
        // balancers and monitors, which says nothing but "up".
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(limits.max_body))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            request_deadline(limits.request_timeout, request, next)
        }))
        .with_state(state.clone());
    (router, state)
}

/// Bounds a whole request (body read included: the body is read by the
/// handler, inside `next`).
async fn request_deadline(limit: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error(
            StatusCode::REQUEST_TIMEOUT,
            "the request took too long; send it whole, at once",
        ),
    }
}

/// Serves the API on `listener` until `shutdown` completes, within
/// `settings.limits`, over TLS when `settings.tls` is set. After
/// `shutdown`, stops accepting, lets requests in flight finish (up to
/// `request_timeout`) and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    settings: AgentSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = settings.limits;
    let acceptor = settings.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let window = settings.refusal_log_window;
    let (app, state) = router_and_state(settings);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Sums up refused tokens at the end of each window, even when no
    // further request comes to start the next window.
    let ticker = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(window.max(Duration::from_millis(100)));
            every.tick().await;
            loop {
                every.tick().await;
                let line = state
                    .refusals
                    .lock()
                    .expect("the refusal log lock is never poisoned")
                    .tick(Instant::now());
                if let Some(line) = line {
                    log_refusal(line, window, None, "");
                }
            }
        })
    };
    let mut over_cap = RefusalLog::new(Duration::from_secs(60), Instant::now());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: the cap should prevent them,
                    // but another part of the process may hold descriptors.
                    // Wait rather than spin.
                    tracing::warn!(error = %e, "probe agent: cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Closed at once: holding it in the backlog would only move
            // the exhaustion to the kernel's queue.
            drop(stream);
            let (summary, each) = over_cap.refused(Instant::now());
            if let Some(RefusalLine::Summary { refused, .. }) = summary {
                tracing::warn!(
                    refused,
                    "probe agent: {refused} connections closed on arrival since the last such line: {} were open already",
                    limits.max_connections
                );
            }
            if each.is_some() {
                tracing::warn!(
                    %peer,
                    "probe agent: connection closed on arrival: {} connections are open already (--max-connections)",
                    limits.max_connections
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match acceptor {
                None => serve_connection(stream, peer, app, limits, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls)) => serve_connection(tls, peer, app, limits, stop).await,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "probe agent: TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "probe agent: TLS handshake timed out");
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    ticker.abort();
    let last = state
        .refusals
        .lock()
        .expect("the refusal log lock is never poisoned")
        .flush(Instant::now());
    if let Some(line) = last {
        log_refusal(line, window, None, "");
    }
    // Every connection holds a slot: all slots back means all closed.
    let all = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let grace = limits.request_timeout + limits.header_timeout;
    let _ = tokio::time::timeout(grace, slots.acquire_many(all)).await;
    Ok(())
}

/// One connection, HTTP/1.1, until the peer closes it, a deadline passes
/// or `stop` turns true (then the request in flight finishes first).
async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    limits: ListenerLimits,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(app);
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            hyper::service::Service::call(&service, request)
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "probe agent: connection ended");
            }
            return;
        }
        _ = stop.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Whether `header` carries the token. The digests have a fixed length,
/// and `ct_eq` compares all of it, so timing tells nothing.
fn token_matches(headers: &HeaderMap, digest: &[u8; 32]) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let given: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
    given.ct_eq(digest).into()
}

async fn authenticate(
    State(state): State<Arc<AgentState>>,
    request: Request,
    next: Next,
) -> Response {
    if token_matches(request.headers(), &state.token_digest) {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (summary, each) = state
        .refusals
        .lock()
        .expect("the refusal log lock is never poisoned")
        .refused(Instant::now());
    for line in [summary, each].into_iter().flatten() {
        log_refusal(line, state.refusal_log_window, peer, request.uri().path());
    }
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token: send `Authorization: Bearer <token>` with the agent's token",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"certvigil-probe\""),
    );
    response
}

/// The path the agent will fetch for `raw`, or why not.
///
/// A site (and the URL parser on the way) percent-decodes the path and
/// resolves dot segments, so `%2e%2e`, `.%2e` or `%2E%2E` climb out of the
/// validation directory just like `..` does. The check is therefore made on
/// the decoded path, and the decoded path is what is fetched: it is plain
/// printable ASCII from a short allow-list (RFC 3986 `pchar` without `%`),
/// so nothing downstream decodes or normalises it a second time into
/// something else. Refused: any `.` or `..` segment, empty segments,
/// control characters (a tab or newline between two dots included),
/// backslashes, `?`, `#`, a `%` left after decoding (double encoding),
/// malformed escapes and anything outside ASCII.
pub fn validation_path(raw: &str) -> Result<String, String> {
    if raw.len() > 512 {
        return Err("longer than 512 octets".into());
    }
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => decoded.push(b),
                None => return Err("a % not followed by two hex digits".into()),
            }
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    for &b in &decoded {
        let allowed = b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b);
        if !allowed {
            let what = match b {
                b'\\' => "a backslash".to_string(),
                b'%' => "a % after decoding (double encoding)".to_string(),
                b'?' | b'#' => format!("a {:?} (query or fragment)", b as char),
                b' ' => "a space".to_string(),
                0..=0x1f | 0x7f => format!("the control character 0x{b:02x}"),
                0x80.. => "a non-ASCII octet".to_string(),
                _ => format!("the character {:?}", b as char),
            };
            return Err(format!("it contains {what}"));
        }
    }
    // Only ASCII from the allow-list is left.
    let path = String::from_utf8(decoded).expect("ASCII is UTF-8");
    let Some(prefix) = VALIDATION_PREFIXES.iter().find(|p| path.starts_with(*p)) else {
        return Err("it is outside the validation directories".into());
    };
    let file = &path[prefix.len()..];
    if file.is_empty() {
        return Err("it names no file".into());
    }
    for segment in file.split('/') {
        match segment {
            "." | ".." => return Err(format!("it has a {segment:?} segment")),
            "" => return Err("it has an empty segment".into()),
            _ => {}
        }
    }
    Ok(path)
}

/// Checks a request against what the agent is willing to do.
fn admissible(
    req: &AgentRequest,
    allow_private: bool,
) -> Result<ProbeTarget, (StatusCode, String)> {
    let refuse = |m: String| Err((StatusCode::UNPROCESSABLE_ENTITY, m));
    if let Ok(ip) = req
        .name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        if !allow_private && !probe::is_public(ip) {
            return Err((
                StatusCode::FORBIDDEN,
                format!(
                    "refusing to probe {ip}: not a public address (start the agent with --allow-private to allow it)"
                ),
            ));
        }
        return refuse(format!(
            "{ip} is an address; the agent probes names, as CAs validate names"
        ));
    }
    let name = match DomainName::parse(&req.name) {
        Ok(n) => n,
        Err(e) => return refuse(e.to_string()),
    };
    let path = match validation_path(&req.path) {
        Ok(p) => p,
        Err(why) => {
            return refuse(format!(
                "{:?} is not a validation path: {why}; the agent fetches only files under {} or {}",
                req.path, VALIDATION_PREFIXES[0], VALIDATION_PREFIXES[1]
            ));
        }
    };
    if req.ports != Ports::STANDARD {
        return refuse(format!(
            "ports {}/{} refused: the agent probes only 80 and 443, where CAs validate (BR §3.2.2.4.18)",
            req.ports.http, req.ports.https
        ));
    }
    if req.expected.as_ref().is_some_and(|e| e.len() > 1024) {
        return refuse("the expected content is longer than 1024 octets".into());
    }
    Ok(ProbeTarget {
        name,
        path,
        expected: req.expected.clone(),
        ports: req.ports,
    })
}

/// `POST /v1/resolve` (`agent_resolve`): the same token, rate limit and
/// in-flight bound as a probe.
async fn handle_resolve(State(state): State<Arc<AgentState>>, body: Bytes) -> Response {
    use super::agent_resolve::{ResolveRequest, admissible, answer};
    let req: ResolveRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("not a resolve request: {e}"),
            );
        }
    };
    let questions = match admissible(&req) {
        Ok(q) => q,
        Err(message) => return error(StatusCode::UNPROCESSABLE_ENTITY, &message),
    };
    if let Some(refused) = admit(&state) {
        return refused;
    }
    let Ok(_permit) = state.in_flight.try_acquire() else {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests in flight; retry shortly",
        );
    };
    tracing::info!(questions = questions.len(), "probe agent: resolving");
    axum::Json(answer(&state.dns, questions).await).into_response()
}

/// Takes a token from the rate limit, or the 429 to send.
fn admit(state: &AgentState) -> Option<Response> {
    let waited = state
        .bucket
        .lock()
        .expect("the bucket lock is never poisoned")
        .take(Instant::now());
    let wait = waited.err()?;
    let secs = wait.as_secs().max(1);
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("rate limit reached; retry in {secs}s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    Some(response)
}

async fn handle_probe(State(state): State<Arc<AgentState>>, body: Bytes) -> Response {
    let req: AgentRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("not a probe request: {e}"),
            );
        }
    };
    let target = match admissible(&req, state.allow_private) {
        Ok(t) => t,
        Err((status, message)) => {
            tracing::info!(name = %req.name, %message, "probe agent: request refused");
            return error(status, &message);
        }
    };
    if let Some(refused) = admit(&state) {
        return refused;
    }
    let Ok(_permit) = state.in_flight.try_acquire() else {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many probes in flight; retry shortly",
        );
    };
    let policy = if state.allow_private {
        AddressPolicy::AnyAddress
    } else {
        // Checked before the first request and at every redirect.
        let resolved = probe::resolve(&state.dns, &target.name).await;
        if let Some(ip) = resolved.addresses.iter().find(|ip| !probe::is_public(**ip)) {
            return error(
                StatusCode::FORBIDDEN,
                &format!(
                    "refusing to probe {}: it resolves to {ip}, not a public address (start the agent with --allow-private to allow it)",
                    target.name
                ),
            );
        }
        AddressPolicy::PublicOnly
    };
    tracing::info!(name = %target.name, path = %target.path, "probe agent: probing");
    let route = Route::Direct {
        dns: state.dns.clone(),
        policy,
    };
    let observation = probe::probe(&target, &route, &state.probe).await;
    axum::Json(AgentResponse {
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        observation,
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str, path: &str, ports: Ports) -> AgentRequest {
        AgentRequest {
            name: name.into(),
            path: path.into(),
            expected: None,
            ports,
        }
    }

    #[test]
    fn only_validation_paths_on_standard_ports_are_probed() {
        let ok = "/.well-known/pki-validation/fileauth.txt";
        assert!(admissible(&request("shop.example.com", ok, Ports::STANDARD), false).is_ok());
        for bad in [
            "/admin",
            "/.well-known/pki-validation/../../etc",
            "/.well-known/pki-validation/a?x=1",
        ] {
            let (status, _) =
                admissible(&request("shop.example.com", bad, Ports::STANDARD), false).unwrap_err();
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
        let other_ports = Ports {
            http: 8080,
            https: 443,
        };
        assert!(admissible(&request("shop.example.com", ok, other_ports), true).is_err());
    }

    #[test]
    fn private_address_literals_are_forbidden_without_the_flag() {
        let ok = "/.well-known/pki-validation/fileauth.txt";
        let (status, message) =
            admissible(&request("127.0.0.1", ok, Ports::STANDARD), false).unwrap_err();
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(message.contains("--allow-private"), "{message}");
    }

    #[test]
    fn refused_tokens_are_logged_a_few_per_window_and_counted() {
        let start = Instant::now();
        let window = Duration::from_secs(60);
        let mut log = RefusalLog::new(window, start);
        let mut each = 0;
        for _ in 0..3000 {
            let (summary, line) = log.refused(start + Duration::from_secs(1));
            assert_eq!(summary, None);
            each += usize::from(line.is_some());
        }
        assert_eq!(each, 3);
        assert_eq!(log.tick(start + Duration::from_secs(59)), None);
        assert_eq!(
            log.tick(start + window),
            Some(RefusalLine::Summary {
                refused: 3000,
                unlogged: 2997
            })
        );
        // A quiet window says nothing; one with only logged lines neither.
        assert_eq!(log.tick(start + window * 2), None);
        let (summary, line) = log.refused(start + window * 2);
        assert_eq!(
            (summary, line),
            (None, Some(RefusalLine::Each { last: false }))
        );
        assert_eq!(log.flush(start + window * 2), None);
    }

    #[test]
    fn dot_segments_are_refused_in_every_spelling() {
        let p = "/.well-known/pki-validation/";
        let a = "/.well-known/acme-challenge/";
        for bad in [
            format!("{p}../../secret"),
            format!("{p}%2e%2e/%2e%2e/secret"),
            format!("{p}%2E%2E/%2E%2E/secret"),
            format!("{p}.%2e/.%2e/secret"),
            format!("{p}%2e./secret"),
            format!("{p}%2e"),
            format!("{p}./x"),
            format!("{p}.%09./secret"),
            format!("{p}.%0a./secret"),
            format!("{p}.\t./secret"),
            format!("{p}.\n./secret"),
            format!("{p}..%5csecret"),
            format!("{p}..\\secret"),
            format!("{p}%252e%252e/secret"),
            format!("{p}%c0%ae%c0%ae/secret"),
            format!("{p}%2"),
            format!("{p}a%00b"),
            format!("{p}a%7fb"),
            format!("{p}x%3fy=1"),
            format!("{p}x%23frag"),
            format!("{p}a//b"),
            p.to_string(),
            format!("{a}%2e%2e/%2e%2e/secret"),
            format!("{a}.%2E/secret"),
            "/.well-known/%70ki-validation/../x".to_string(),
            "/.well-known/pki-validation%2f..%2fsecret".to_string(),
        ] {
            let req = request("shop.example.com", &bad, Ports::STANDARD);
            let (status, message) = admissible(&req, true).unwrap_err();
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
            assert!(message.contains("not a validation path"), "{message}");
        }
        // Decoding is applied, and the decoded path is what is fetched.
        let ok = admissible(
            &request(
                "shop.example.com",
                &format!("{p}file%41uth.txt"),
                Ports::STANDARD,
            ),
            false,
        )
        .unwrap();
        assert_eq!(ok.path, format!("{p}fileAuth.txt"));
        assert!(
            admissible(
                &request("x.example", &format!("{a}tok-EN_1"), Ports::STANDARD),
                false
            )
            .is_ok()
        );
    }

    #[test]
    fn the_bucket_refills_over_time() {
        let start = Instant::now();
        let mut b = Bucket {
            capacity: 2.0,
            tokens: 2.0,
            last: start,
        };
        assert!(b.take(start).is_ok());
        assert!(b.take(start).is_ok());
        let wait = b.take(start).unwrap_err();
        assert_eq!(wait.as_secs(), 30);
        assert!(b.take(start + Duration::from_secs(30)).is_ok());
    }

    #[test]
    fn tokens_are_compared_whole() {
        let digest: [u8; 32] = Sha256::digest(b"s3cret").into();
        let mut h = HeaderMap::new();
        assert!(!token_matches(&h, &digest));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cre"),
        );
        assert!(!token_matches(&h, &digest));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(token_matches(&h, &digest));
    }
}
