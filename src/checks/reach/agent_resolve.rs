//! "Resolve NAME TYPE" at the probe agent (issue 13): `POST /v1/resolve`
//! with a few questions; the agent asks its own resolver and answers the
//! records and the response code it saw from where it stands. Same token
//! and same rate limit as `/v1/probe` (one request takes one token), and
//! bounded: at most [`MAX_QUESTIONS`] questions of the types a CA looks up
//! for issuance.
//!
//! The daemon and `check` use it (`ask`) to compare the CAA set and the
//! validation records seen abroad with the home view.

use std::time::Duration;

use hickory_proto::rr::RecordType;
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::config::SecretSource;
use crate::dns::{DnsHandle, QueryError};
use crate::domain::DomainName;
use crate::http::{self, redact};
use crate::tls::Fingerprint;

/// Questions per request.
pub const MAX_QUESTIONS: usize = 16;

/// The largest reply read from an agent.
pub const RESOLVE_REPLY_CAP: usize = 256 * 1024;

/// The record types the agent resolves: what CAs look up for issuance.
const TYPES: [(&str, RecordType); 5] = [
    ("CAA", RecordType::CAA),
    ("TXT", RecordType::TXT),
    ("CNAME", RecordType::CNAME),
    ("A", RecordType::A),
    ("AAAA", RecordType::AAAA),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    pub questions: Vec<Question>,
}

/// One question's outcome at the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    /// NOERROR, NXDOMAIN, SERVFAIL, ...; `None` when no answer came.
    pub rcode: Option<String>,
    /// The alias chain from the name asked.
    #[serde(default)]
    pub cname_chain: Vec<String>,
    /// Each record's data, hex-encoded (uninterpreted, as the wire had it).
    #[serde(default)]
    pub records: Vec<String>,
    /// Why there is no answer (timeout, network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveResponse {
    pub agent_version: String,
    pub answers: Vec<Resolved>,
}

/// Checks a request before anything is asked: a bounded number of valid
/// names of known types.
pub(super) fn admissible(req: &ResolveRequest) -> Result<Vec<(DomainName, RecordType)>, String> {
    if req.questions.is_empty() || req.questions.len() > MAX_QUESTIONS {
        return Err(format!(
            "ask 1 to {MAX_QUESTIONS} questions per request, not {}",
            req.questions.len()
        ));
    }
    req.questions
        .iter()
        .map(|q| {
            let name = DomainName::parse(&q.name).map_err(|e| format!("{:?}: {e}", q.name))?;
            let rtype = TYPES
                .iter()
                .find(|(t, _)| t.eq_ignore_ascii_case(&q.rtype))
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    format!(
                        "type {:?} is not resolved here; ask CAA, TXT, CNAME, A or AAAA",
                        q.rtype
                    )
                })?;
            Ok((name, rtype))
        })
        .collect()
}

/// The agent's side: asks its resolver every question at once.
pub(super) async fn answer(
    dns: &DnsHandle,
    questions: Vec<(DomainName, RecordType)>,
) -> ResolveResponse {
    let answers =
        futures::future::join_all(questions.into_iter().map(|(name, rtype)| async move {
            let mut out = Resolved {
                name: name.to_string(),
                rtype: rtype.to_string(),
                rcode: None,
                cname_chain: Vec::new(),
                records: Vec::new(),
                error: None,
            };
            match dns.lookup(&name, rtype).await {
                Ok(a) => {
                    out.rcode = Some(if a.nxdomain { "NXDOMAIN" } else { "NOERROR" }.into());
                    out.cname_chain = a.cname_chain.iter().map(ToString::to_string).collect();
                    out.records = a.rdata.iter().map(hex::encode).collect();
                }
                Err(QueryError::Rcode { rcode, .. }) => out.rcode = Some(rcode),
                Err(e) => out.error = Some(e.to_string()),
            }
            out
        }))
        .await;
    ResolveResponse {
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        answers,
    }
}

/// The client's side: asks the agent at `url` the questions.
pub async fn ask(
    url: &Url,
    token: Option<&SecretSource>,
    pin: Option<Fingerprint>,
    questions: &[(DomainName, RecordType)],
    timeout: Duration,
) -> Result<Vec<Resolved>, String> {
    crate::tls::ensure_crypto_provider();
    let token = token
        .map(SecretSource::read)
        .transpose()
        .map_err(|e| format!("cannot read the agent token: {e}"))?;
    let shown = redact::url(url);
    let endpoint = url.join("v1/resolve").map_err(|e| e.to_string())?;
    let budget = timeout * 3 + Duration::from_secs(5);
    let mut options = http::ClientOptions::new(timeout, budget);
    options.pinned = pin;
    let client = http::client(&options).map_err(|e| e.to_string())?;
    let body = ResolveRequest {
        questions: questions
            .iter()
            .map(|(n, t)| Question {
                name: n.to_string(),
                rtype: t.to_string(),
            })
            .collect(),
    };
    let mut request = http::Request::post_json(endpoint, &body);
    if let Some(t) = &token {
        request = request.bearer(t.expose());
    }
    let limits = http::Limits {
        body_cap: RESOLVE_REPLY_CAP,
        total: budget,
    };
    let reply = http::fetch(&client, request, &limits, http::Redirects::None)
        .await
        .map_err(|e| format!("cannot reach the agent {shown}: {e}"))?;
    if !reply.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .map(|m| redact::peer_text(&m, redact::PEER_EXCERPT_CHARS))
            .unwrap_or_else(|| redact::peer_bytes(&reply.body));
        return Err(format!(
            "the agent {shown} refused to resolve ({}): {message}",
            reply.status
        ));
    }
    let parsed: ResolveResponse = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("the agent {shown} sent an answer certvigil cannot read: {e}"))?;
    Ok(parsed.answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str, t: &str) -> Question {
        Question {
            name: name.into(),
            rtype: t.into(),
        }
    }

    #[test]
    fn only_a_bounded_number_of_known_types_is_resolved() {
        let ok = ResolveRequest {
            questions: vec![q("example.com", "caa"), q("_dnsauth.example.com", "TXT")],
        };
        assert_eq!(admissible(&ok).unwrap().len(), 2);
        let any = ResolveRequest {
            questions: vec![q("example.com", "ANY")],
        };
        assert!(admissible(&any).unwrap_err().contains("ANY"));
        let many = ResolveRequest {
            questions: (0..=MAX_QUESTIONS)
                .map(|_| q("example.com", "CAA"))
                .collect(),
        };
        assert!(admissible(&many).unwrap_err().contains("1 to 16"));
        let none = ResolveRequest { questions: vec![] };
        assert!(admissible(&none).is_err());
        let bad = ResolveRequest {
            questions: vec![q("exa mple.com", "CAA")],
        };
        assert!(admissible(&bad).is_err());
    }
}
