//! Vantage points: where a probe runs. Each kind returns the same
//! observations, so the judge compares them without knowing how they were
//! made.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use thiserror::Error;

use super::agent::{AgentRequest, AgentResponse};
use super::globalping::{self, GlobalpingClient, Location};
use super::model::{
    ProbeTarget, ReachObservation, VantageKind, VantageObservation, VantageOutcome,
};
use super::probe::{self, AddressPolicy, ProbeSettings, Route};
use crate::config::{GlobalpingLocation, SecretSource, Vantage, VantageAccess};
use crate::dns::DnsHandle;
use crate::http::{self, HttpError, redact};
use crate::telemetry::{self, ProbeCounters};
use crate::tls::Fingerprint;

/// How a vantage point is reached.
#[derive(Debug, Clone)]
pub enum Access {
    /// This host's network, names resolved through `[dns]`.
    Local,
    /// An HTTP, HTTPS or SOCKS5 proxy abroad.
    Proxy { url: Url },
    /// A certvigil running `certvigil probe serve` abroad.
    Agent {
        url: Url,
        token: Option<SecretSource>,
        /// The agent's certificate, trusted by this digest alone; `None`
        /// verifies it against the public CAs.
        tls_fingerprint: Option<Fingerprint>,
    },
    /// The Globalping API (`endpoint` is its base URL).
    Globalping {
        endpoint: Url,
        token: Option<SecretSource>,
        locations: Vec<Location>,
    },
}

/// One `[[vantage]]`, ready to probe.
#[derive(Debug, Clone)]
pub struct VantagePoint {
    pub name: String,
    pub overseas: bool,
    pub access: Access,
    /// Its probes by result, for `/metrics` (shared by every copy and
    /// every reload of the same name: see [`crate::telemetry`]).
    pub counters: Arc<ProbeCounters>,
}

impl VantagePoint {
    /// This host, counted as domestic: the default when no `[[vantage]]`
    /// is configured.
    pub fn local() -> Self {
        Self {
            name: "local".into(),
            overseas: false,
            access: Access::Local,
            counters: telemetry::probe_counters("local"),
        }
    }

    pub fn kind(&self) -> VantageKind {
        match self.access {
            Access::Local => VantageKind::Local,
            Access::Proxy { .. } => VantageKind::Proxy,
            Access::Agent { .. } => VantageKind::Agent,
            Access::Globalping { .. } => VantageKind::Globalping,
        }
    }

    /// From the configuration. Globalping asks `url` (else
    /// [`globalping::DEFAULT_ENDPOINT`]) for probes in the configured
    /// `locations`, else in [`globalping::default_locations`] (all outside
    /// the mainland).
    pub fn from_config(v: &Vantage) -> Self {
        let access = match &v.access {
            VantageAccess::Local => Access::Local,
            VantageAccess::Proxy { url } => Access::Proxy { url: url.clone() },
            VantageAccess::Agent {
                url,
                token,
                tls_fingerprint,
            } => Access::Agent {
                url: url.clone(),
                token: token.clone(),
                tls_fingerprint: *tls_fingerprint,
            },
            VantageAccess::Globalping {
                endpoint,
                token,
                locations,
            } => Access::Globalping {
                endpoint: endpoint
                    .clone()
                    .unwrap_or_else(|| Url::parse(globalping::DEFAULT_ENDPOINT).expect("valid")),
                token: token.clone(),
                locations: if locations.is_empty() {
                    globalping::default_locations()
                } else {
                    locations.iter().map(location_of).collect()
                },
            },
        };
        Self {
            name: v.name.clone(),
            overseas: v.overseas,
            access,
            counters: telemetry::probe_counters(&v.name),
        }
    }

    /// The configured points, or this host alone when none are.
    pub fn all_from_config(list: &[Vantage]) -> Vec<Self> {
        if list.is_empty() {
            vec![Self::local()]
        } else {
            list.iter().map(Self::from_config).collect()
        }
    }
}

/// A configured location as Globalping's API takes it.
fn location_of(l: &GlobalpingLocation) -> Location {
    let mut out = Location::default();
    match l {
        GlobalpingLocation::Country(c) => out.country = Some(c.clone()),
        GlobalpingLocation::Continent(c) => out.continent = Some(c.clone()),
        GlobalpingLocation::City(c) => out.city = Some(c.clone()),
        GlobalpingLocation::Asn(n) => out.asn = Some(*n),
        GlobalpingLocation::Magic(m) => out.magic = Some(m.clone()),
    }
    out
}

/// Why a vantage point could not probe. Says nothing about the site.
#[derive(Debug, Error)]
pub enum VantageError {
    #[error("cannot read the token of vantage point {vantage}: {detail}")]
    Token { vantage: String, detail: String },
    #[error(
        "cannot connect to the proxy {proxy} of vantage point {vantage}: {detail}; is the proxy running?"
    )]
    ProxyDown {
        vantage: String,
        proxy: String,
        detail: String,
    },
    #[error(
        "cannot reach the agent {url} of vantage point {vantage}: {detail}; is `certvigil probe serve` running there?"
    )]
    AgentUnreachable {
        vantage: String,
        url: String,
        detail: String,
    },
    #[error("the agent {url} of vantage point {vantage} refused the probe ({status}): {message}")]
    AgentRefused {
        vantage: String,
        url: String,
        status: u16,
        message: String,
    },
    #[error(
        "the agent {url} of vantage point {vantage} sent an answer certvigil cannot read: {detail}; are both the same version?"
    )]
    AgentAnswer {
        vantage: String,
        url: String,
        detail: String,
    },
    #[error("Globalping (vantage point {vantage}): {source}")]
    Globalping {
        vantage: String,
        #[source]
        source: globalping::GlobalpingError,
    },
}

/// Asks every vantage point about `target`, at once.
pub async fn check(
    target: &ProbeTarget,
    vantages: &[VantagePoint],
    dns: &DnsHandle,
    settings: &ProbeSettings,
) -> ReachObservation {
    let runs = vantages.iter().map(|v| observe(target, v, dns, settings));
    let vantages = futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    ReachObservation {
        target: target.clone(),
        vantages,
    }
}

/// One vantage point's observations: one entry, or one per Globalping
/// probe, each counted in the vantage point's [`ProbeCounters`].
pub async fn observe(
    target: &ProbeTarget,
    v: &VantagePoint,
    dns: &DnsHandle,
    settings: &ProbeSettings,
) -> Vec<VantageObservation> {
    let seen = observe_uncounted(target, v, dns, settings).await;
    for o in &seen {
        v.counters.observed(o);
    }
    seen
}

async fn observe_uncounted(
    target: &ProbeTarget,
    v: &VantagePoint,
    dns: &DnsHandle,
    settings: &ProbeSettings,
) -> Vec<VantageObservation> {
    let entry = |outcome| VantageObservation {
        vantage: v.name.clone(),
        kind: v.kind(),
        overseas: v.overseas,
        outcome,
    };
    let error = |e: VantageError| {
        tracing::warn!(vantage = %v.name, error = %e, "vantage point could not probe");
        vec![entry(VantageOutcome::Error {
            message: e.to_string(),
        })]
    };
    match &v.access {
        Access::Local => {
            let route = Route::Direct {
                dns: dns.clone(),
                policy: AddressPolicy::AnyAddress,
            };
            vec![entry(VantageOutcome::Probed(
                probe::probe(target, &route, settings).await,
            ))]
        }
        Access::Proxy { url } => {
            if let Err(e) = proxy_reachable(url, settings.connect_timeout).await {
                return error(VantageError::ProxyDown {
                    vantage: v.name.clone(),
                    proxy: redact::url(url),
                    detail: e,
                });
            }
            let route = Route::Proxy {
                url: url.clone(),
                dns: dns.clone(),
            };
            vec![entry(VantageOutcome::Probed(
                probe::probe(target, &route, settings).await,
            ))]
        }
        Access::Agent {
            url,
            token,
            tls_fingerprint,
        } => {
            match ask_agent(
                &v.name,
                url,
                token.as_ref(),
                *tls_fingerprint,
                target,
                settings,
            )
            .await
            {
                Ok(p) => vec![entry(VantageOutcome::Probed(p))],
                Err(e) => error(e),
            }
        }
        Access::Globalping {
            endpoint,
            token,
            locations,
        } => {
            let token = match token.as_ref().map(SecretSource::read).transpose() {
                Ok(t) => t,
                Err(e) => {
                    return error(VantageError::Token {
                        vantage: v.name.clone(),
                        detail: e.to_string(),
                    });
                }
            };
            let client =
                GlobalpingClient::new(endpoint.clone(), token.map(|t| t.expose().to_string()));
            match client.probe(target, locations, settings).await {
                Ok(probes) => probes
                    .into_iter()
                    .map(|(label, p)| VantageObservation {
                        vantage: format!("{}/{label}", v.name),
                        kind: VantageKind::Globalping,
                        overseas: v.overseas,
                        outcome: VantageOutcome::Probed(p),
                    })
                    .collect(),
                Err(source) => error(VantageError::Globalping {
                    vantage: v.name.clone(),
                    source,
                }),
            }
        }
    }
}

/// The largest agent reply read: one probe observation (two ports, up to
/// ten hops each, short details) is a few KiB.
pub const AGENT_REPLY_CAP: usize = 1024 * 1024;

/// A proxy that is down is the vantage point's failure, not the site's.
async fn proxy_reachable(url: &Url, timeout: Duration) -> Result<(), String> {
    let host = url.host_str().ok_or("the proxy URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(1080);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

async fn ask_agent(
    vantage: &str,
    url: &Url,
    token: Option<&SecretSource>,
    pin: Option<Fingerprint>,
    target: &ProbeTarget,
    settings: &ProbeSettings,
) -> Result<super::model::ProbeObservation, VantageError> {
    crate::tls::ensure_crypto_provider();
    let token = token
        .map(SecretSource::read)
        .transpose()
        .map_err(|e| VantageError::Token {
            vantage: vantage.to_string(),
            detail: e.to_string(),
        })?;
    let shown = redact::url(url);
    let endpoint = url
        .join("v1/probe")
        .map_err(|e| VantageError::AgentUnreachable {
            vantage: vantage.to_string(),
            url: shown.clone(),
            detail: e.to_string(),
        })?;
    let unreachable = |detail: String| VantageError::AgentUnreachable {
        vantage: vantage.to_string(),
        url: shown.clone(),
        detail,
    };
    // The agent runs both ports in parallel, each bounded by its own
    // timeouts; allow for that plus the round trip.
    let budget =
        (settings.connect_timeout + settings.request_timeout) * 2 + Duration::from_secs(10);
    let mut options = http::ClientOptions::new(settings.connect_timeout, budget);
    options.pinned = pin;
    let client = http::client(&options).map_err(|e| unreachable(e.to_string()))?;
    let mut request = http::Request::post_json(endpoint, &AgentRequest::from_target(target));
    if let Some(t) = &token {
        request = request.bearer(t.expose());
    }
    let limits = http::Limits {
        body_cap: AGENT_REPLY_CAP,
        total: budget,
    };
    let answer = http::fetch(&client, request, &limits, http::Redirects::None)
        .await
        .map_err(|e| match e {
            e @ HttpError::BodyTooLarge { .. } => VantageError::AgentAnswer {
                vantage: vantage.to_string(),
                url: shown.clone(),
                detail: e.to_string(),
            },
            e => unreachable(e.to_string()),
        })?;
    let success = answer.is_success();
    let body = answer.body;
    if !success {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .map(|m| redact::peer_text(&m, redact::PEER_EXCERPT_CHARS))
            .unwrap_or_else(|| redact::peer_bytes(&body));
        return Err(VantageError::AgentRefused {
            vantage: vantage.to_string(),
            url: shown.clone(),
            status: answer.status,
            message,
        });
    }
    let answer: AgentResponse =
        serde_json::from_slice(&body).map_err(|e| VantageError::AgentAnswer {
            vantage: vantage.to_string(),
            url: shown.clone(),
            detail: e.to_string(),
        })?;
    Ok(answer.observation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globalping(locations: Vec<GlobalpingLocation>) -> Vantage {
        Vantage {
            name: "gp".into(),
            overseas: true,
            region: None,
            access: VantageAccess::Globalping {
                endpoint: None,
                token: None,
                locations,
            },
        }
    }

    #[test]
    fn configured_locations_become_globalping_location_objects() {
        let points = VantagePoint::all_from_config(&[globalping(vec![
            GlobalpingLocation::Country("DE".into()),
            GlobalpingLocation::Asn(3320),
            GlobalpingLocation::Magic("Singapore".into()),
        ])]);
        let Access::Globalping {
            endpoint,
            locations,
            ..
        } = &points[0].access
        else {
            panic!("expected a Globalping point, got {:?}", points[0].access);
        };
        assert_eq!(endpoint.as_str(), "https://api.globalping.io/");
        assert_eq!(
            serde_json::to_value(locations).unwrap(),
            serde_json::json!([{"country": "DE"}, {"asn": 3320}, {"magic": "Singapore"}])
        );
    }

    #[test]
    fn no_locations_means_the_default_ones() {
        let point = VantagePoint::from_config(&globalping(Vec::new()));
        let Access::Globalping { locations, .. } = point.access else {
            panic!("expected a Globalping point");
        };
        assert_eq!(locations, globalping::default_locations());
    }
}
