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
//! - rate-limits (a token bucket) and bounds the probes in flight.

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

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
}

struct AgentState {
    token_digest: [u8; 32],
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
    let state = Arc::new(AgentState {
        token_digest: Sha256::digest(settings.token.as_bytes()).into(),
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
    Router::new()
        .route("/v1/probe", post(handle_probe))
        .route("/v1/health", get(|| async { error(StatusCode::OK, "ok") }))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint; POST /v1/probe") })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    settings: AgentSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(settings))
        .with_graceful_shutdown(shutdown)
        .await
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
    tracing::warn!(path = %request.uri().path(), "probe agent: request without a valid token refused");
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
    if !VALIDATION_PREFIXES.iter().any(|p| req.path.starts_with(p))
        || req.path.len() > 512
        || req.path.contains("..")
        || req.path.contains(['?', '#', ' ', '\\'])
    {
        return refuse(format!(
            "{:?} is not a validation path: the agent fetches only files under {} or {}",
            req.path, VALIDATION_PREFIXES[0], VALIDATION_PREFIXES[1]
        ));
    }
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
        path: req.path.clone(),
        expected: req.expected.clone(),
        ports: req.ports,
    })
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
    let waited = state
        .bucket
        .lock()
        .expect("the bucket lock is never poisoned")
        .take(Instant::now());
    if let Err(wait) = waited {
        let secs = wait.as_secs().max(1);
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("rate limit reached; retry in {secs}s"),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return response;
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
