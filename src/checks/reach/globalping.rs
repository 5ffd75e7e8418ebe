//! The Globalping vantage point: the public measurement network's HTTP API
//! (jsdelivr/globalping, `public/v1/spec.yaml`) fetches the validation path
//! from probes in the countries named.
//!
//! - `POST /v1/measurements` with `type: http`, the locations, and
//!   `measurementOptions` (protocol, port, request path, method GET) answers
//!   `202 {"id", "probesCount"}`.
//! - `GET /v1/measurements/{id}`, at most twice a second, until `status` is
//!   no longer `in-progress`. Each result has `probe` (where) and `result`
//!   (`status` finished/failed, `statusCode`, `headers`, `rawBody` — the
//!   first 10 kB —, `truncated`, `timings.total`, `rawOutput`).
//! - The https measurement reuses the http one's probes by passing its id
//!   as `locations`, so both ports are seen from the same places.
//! - Anonymous use is limited (about 250 tests an hour), more with a token.
//!   A 429 or `X-RateLimit-Remaining: 0` stops further measurements against
//!   that endpoint until `X-RateLimit-Reset` (or `Retry-After`) seconds pass.
//!
//! Globalping does not follow redirects, and cannot query CAA.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::{StatusCode, Url};
use serde::Deserialize;
use thiserror::Error;

use super::model::{
    BodyObservation, Failure, HopObservation, HopOutcome, PortObservation, ProbeObservation,
    ProbeTarget, Scheme,
};
use super::probe::{ProbeSettings, body_matches};
use crate::http::{self, HttpError, redact};

/// The largest API answer read: a measurement of a few probes, each with
/// a body Globalping itself cuts at 10 KB, is far below this.
pub const API_REPLY_CAP: usize = 4 * 1024 * 1024;

// The location filter and the defaults are plain data the config validates
// against, so they live in the core crate (config must not depend on this
// module, which does I/O).
pub use certvigil_core::checks::reach::locations::{DEFAULT_ENDPOINT, Location, default_locations};

/// "At most twice a second" (the API's guidance for polling).
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Error)]
pub enum GlobalpingError {
    #[error(
        "rate limit reached at {endpoint}; measurements resume in {reset_secs}s (add a token for a higher limit)"
    )]
    RateLimited { endpoint: String, reset_secs: u64 },
    #[error("{endpoint} refused the measurement ({status}): {message}")]
    Api {
        endpoint: String,
        status: u16,
        message: String,
    },
    #[error("cannot reach {endpoint}: {detail}")]
    Network { endpoint: String, detail: String },
    #[error("{endpoint} sent an answer certvigil cannot read: {detail}")]
    Answer { endpoint: String, detail: String },
    #[error("measurement {id} at {endpoint} was still in progress after {waited:?}")]
    Timeout {
        endpoint: String,
        id: String,
        waited: Duration,
    },
    #[error("no Globalping probe is available in the locations asked for; name other countries")]
    NoProbes,
}

/// Until when each endpoint must not be asked for new measurements.
fn blocked_until() -> &'static Mutex<HashMap<String, Instant>> {
    static BLOCKED: OnceLock<Mutex<HashMap<String, Instant>>> = OnceLock::new();
    BLOCKED.get_or_init(|| Mutex::new(HashMap::new()))
}

pub struct GlobalpingClient {
    endpoint: Url,
    token: Option<String>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct Measurement {
    #[serde(default)]
    results: Vec<ResultItem>,
}

#[derive(Deserialize)]
struct ResultItem {
    probe: ProbeInfo,
    result: TestResult,
}

#[derive(Deserialize)]
struct ProbeInfo {
    #[serde(default)]
    country: String,
    #[serde(default)]
    city: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestResult {
    status: String,
    #[serde(default)]
    raw_output: String,
    #[serde(default)]
    status_code: Option<u16>,
    #[serde(default)]
    raw_body: Option<String>,
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    headers: HashMap<String, serde_json::Value>,
    #[serde(default)]
    resolved_address: Option<String>,
    #[serde(default)]
    timings: Option<Timings>,
}

#[derive(Deserialize)]
struct Timings {
    #[serde(default)]
    total: Option<u64>,
}

impl GlobalpingClient {
    pub fn new(endpoint: Url, token: Option<String>) -> Self {
        crate::tls::ensure_crypto_provider();
        let http = http::client(&http::ClientOptions::api(
            Duration::from_secs(10),
            Duration::from_secs(30),
        ))
        .expect("a client without custom TLS settings builds");
        Self {
            endpoint,
            token,
            http,
        }
    }

    fn url(&self, path: &str) -> Url {
        let mut base = self.endpoint.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        base.join(path).expect("a relative API path joins")
    }

    /// The endpoint as shown and as the rate-limit key (credentials
    /// redacted).
    fn endpoint_key(&self) -> String {
        redact::url(&self.endpoint)
    }

    fn network(&self, e: HttpError) -> GlobalpingError {
        match e {
            e @ HttpError::BodyTooLarge { .. } => GlobalpingError::Answer {
                endpoint: self.endpoint_key(),
                detail: e.to_string(),
            },
            e => GlobalpingError::Network {
                endpoint: self.endpoint_key(),
                detail: e.to_string(),
            },
        }
    }

    async fn send(&self, mut request: http::Request) -> Result<http::Fetched, GlobalpingError> {
        if let Some(t) = &self.token {
            request = request.bearer(t);
        }
        let limits = http::Limits {
            body_cap: API_REPLY_CAP,
            total: Duration::from_secs(30),
        };
        http::fetch(&self.http, request, &limits, http::Redirects::None)
            .await
            .map_err(|e| self.network(e))
    }

    /// Notes the rate-limit headers of an answer.
    fn honour_limits(
        &self,
        status: StatusCode,
        headers: &reqwest::header::HeaderMap,
    ) -> Option<u64> {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let reset = number("retry-after").or_else(|| number("x-ratelimit-reset"));
        let exhausted =
            status == StatusCode::TOO_MANY_REQUESTS || number("x-ratelimit-remaining") == Some(0);
        if exhausted {
            let secs = reset.unwrap_or(60);
            blocked_until().lock().expect("never poisoned").insert(
                self.endpoint_key(),
                Instant::now() + Duration::from_secs(secs),
            );
            return Some(secs);
        }
        None
    }

    /// `POST /v1/measurements`: the new measurement's id.
    pub(crate) async fn create(&self, body: &serde_json::Value) -> Result<String, GlobalpingError> {
        if let Some(until) = blocked_until()
            .lock()
            .expect("never poisoned")
            .get(&self.endpoint_key())
            .copied()
        {
            let now = Instant::now();
            if until > now {
                return Err(GlobalpingError::RateLimited {
                    endpoint: self.endpoint_key(),
                    reset_secs: (until - now).as_secs().max(1),
                });
            }
        }
        let response = self
            .send(http::Request::post_json(self.url("v1/measurements"), body))
            .await?;
        let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let limited = self.honour_limits(status, &response.headers);
        let bytes = response.body;
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(GlobalpingError::RateLimited {
                endpoint: self.endpoint_key(),
                reset_secs: limited.unwrap_or(60),
            });
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .map(|m| redact::peer_text(&m, redact::PEER_EXCERPT_CHARS))
                .unwrap_or_else(|| redact::peer_bytes(&bytes));
            return Err(GlobalpingError::Api {
                endpoint: self.endpoint_key(),
                status: status.as_u16(),
                message,
            });
        }
        let created: Created =
            serde_json::from_slice(&bytes).map_err(|e| GlobalpingError::Answer {
                endpoint: self.endpoint_key(),
                detail: e.to_string(),
            })?;
        Ok(created.id)
    }

    async fn wait(&self, id: &str, budget: Duration) -> Result<Measurement, GlobalpingError> {
        let value = self.wait_value(id, budget).await?;
        serde_json::from_value(value).map_err(|e| GlobalpingError::Answer {
            endpoint: self.endpoint_key(),
            detail: e.to_string(),
        })
    }

    /// `GET /v1/measurements/{id}` until it is no longer in progress, as
    /// JSON (each measurement type reads its own result shape).
    pub(crate) async fn wait_value(
        &self,
        id: &str,
        budget: Duration,
    ) -> Result<serde_json::Value, GlobalpingError> {
        let started = Instant::now();
        loop {
            tokio::time::sleep(POLL_INTERVAL).await;
            let response = self
                .send(http::Request::get(
                    self.url(&format!("v1/measurements/{id}")),
                ))
                .await?;
            let bytes = response.body;
            if !(200..300).contains(&response.status) {
                return Err(GlobalpingError::Api {
                    endpoint: self.endpoint_key(),
                    status: response.status,
                    message: redact::peer_bytes(&bytes),
                });
            }
            let m: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| GlobalpingError::Answer {
                    endpoint: self.endpoint_key(),
                    detail: e.to_string(),
                })?;
            // The spec: any value other than `in-progress` is final.
            if m.get("status").and_then(|s| s.as_str()) != Some("in-progress") {
                return Ok(m);
            }
            if started.elapsed() > budget {
                return Err(GlobalpingError::Timeout {
                    endpoint: self.endpoint_key(),
                    id: id.to_string(),
                    waited: started.elapsed(),
                });
            }
        }
    }

    /// Both ports from the probes in `locations`: one entry per probe,
    /// labelled `CC-City`.
    pub async fn probe(
        &self,
        target: &ProbeTarget,
        locations: &[Location],
        settings: &ProbeSettings,
    ) -> Result<Vec<(String, ProbeObservation)>, GlobalpingError> {
        let body = |scheme: Scheme, locations: serde_json::Value| {
            serde_json::json!({
                "type": "http",
                "target": target.name.as_str(),
                "locations": locations,
                "measurementOptions": {
                    "protocol": match scheme { Scheme::Http => "HTTP", Scheme::Https => "HTTPS" },
                    "port": target.ports.of(scheme),
                    "request": { "path": target.path, "method": "GET" },
                },
            })
        };
        let locations = serde_json::to_value(locations).expect("locations serialise");
        let http_id = self.create(&body(Scheme::Http, locations)).await?;
        // The same probes for https: `locations` may be a measurement id.
        let https_id = self
            .create(&body(
                Scheme::Https,
                serde_json::Value::String(http_id.clone()),
            ))
            .await?;
        let budget = settings.connect_timeout + settings.request_timeout + Duration::from_secs(30);
        let http = self.wait(&http_id, budget).await?;
        let https = self.wait(&https_id, budget).await?;
        if http.results.is_empty() {
            return Err(GlobalpingError::NoProbes);
        }
        let mut out = Vec::new();
        for (i, item) in http.results.iter().enumerate() {
            let label = format!(
                "{}-{}",
                item.probe.country,
                item.probe.city.replace(' ', "_")
            );
            let mut ports = vec![port_observation(target, Scheme::Http, &item.result)];
            if let Some(other) = https.results.get(i) {
                ports.push(port_observation(target, Scheme::Https, &other.result));
            }
            out.push((
                label,
                ProbeObservation {
                    resolved: None,
                    ports,
                },
            ));
        }
        Ok(out)
    }
}

/// Globalping reports failures as Node.js error text in `rawOutput`.
fn failure_of(raw_output: &str) -> Failure {
    let t = raw_output.to_ascii_lowercase();
    if t.contains("econnrefused") {
        Failure::Refused
    } else if t.contains("econnreset") || t.contains("socket hang up") {
        Failure::Reset
    } else if t.contains("etimedout") || t.contains("timeout") || t.contains("timed out") {
        Failure::Timeout
    } else if t.contains("enotfound") || t.contains("eai_again") {
        Failure::NoAddress
    } else if t.contains("tls") || t.contains("ssl") || t.contains("eproto") {
        Failure::Tls
    } else {
        Failure::Other
    }
}

fn port_observation(target: &ProbeTarget, scheme: Scheme, r: &TestResult) -> PortObservation {
    let port = target.ports.of(scheme);
    let url = format!(
        "{}://{}:{port}{}",
        scheme.as_str(),
        target.name,
        target.path
    );
    let url = Url::parse(&url).map(|u| u.to_string()).unwrap_or(url);
    let outcome = match (r.status.as_str(), r.status_code) {
        ("finished", Some(status)) => {
            let body = r.raw_body.as_deref().unwrap_or("");
            let location = r
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("location"))
                .and_then(|(_, v)| {
                    v.as_str()
                        .map(str::to_string)
                        .or_else(|| v.get(0).and_then(|x| x.as_str()).map(str::to_string))
                });
            HopOutcome::Response {
                status,
                location,
                body: BodyObservation {
                    bytes_read: body.len() as u64,
                    truncated: r.truncated,
                    matched: target
                        .expected
                        .as_deref()
                        .map(|e| !r.truncated && body_matches(body.as_bytes(), e)),
                },
            }
        }
        _ => HopOutcome::Failed {
            failure: failure_of(&r.raw_output),
            detail: if r.raw_output.is_empty() {
                format!("the probe reported {}", r.status)
            } else {
                r.raw_output.lines().next().unwrap_or_default().to_string()
            },
        },
    };
    PortObservation {
        scheme,
        port,
        hops: vec![HopObservation {
            url,
            addresses: r
                .resolved_address
                .as_deref()
                .and_then(|a| a.parse().ok())
                .into_iter()
                .collect(),
            elapsed_ms: r.timings.as_ref().and_then(|t| t.total).unwrap_or(0),
            outcome,
        }],
        follows_redirects: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_errors_map_to_failures() {
        assert_eq!(
            failure_of("connect ECONNREFUSED 1.2.3.4:80"),
            Failure::Refused
        );
        assert_eq!(
            failure_of("Timeout awaiting 'request' for 10000ms"),
            Failure::Timeout
        );
        assert_eq!(failure_of("read ECONNRESET"), Failure::Reset);
        assert_eq!(
            failure_of("getaddrinfo ENOTFOUND x.example"),
            Failure::NoAddress
        );
    }
}
