//! Lookups from abroad (issue 13): the CAA records at the climb's names and
//! the validation records, asked of each probe agent (`POST /v1/resolve`)
//! and of Globalping's DNS measurements where `[globalping]` is configured.
//! What they saw is compared with the home view in the core
//! (`checks::perspective`).

pub mod globalping;

use std::time::Duration;

use hickory_proto::rr::RecordType;

use certvigil_core::checks::caa::{CaaAnswer, LookupFailure};
use certvigil_core::checks::perspective::{PerspectiveObservation, RecordsSeen};

use crate::checks::caa::gather::parse_caa_rdata;
use crate::checks::reach::agent_resolve::{self, Resolved};
use crate::checks::reach::vantage::{Access, VantagePoint};
use crate::domain::DomainName;

/// Where the lookups from abroad are made.
#[derive(Debug, Clone, Default)]
pub struct PerspectiveClient {
    /// The `[[vantage]]` agents.
    pub agents: Vec<VantagePoint>,
    /// `[globalping]` DNS measurements.
    pub globalping: Option<globalping::GlobalpingDns>,
    pub timeout: Duration,
}

impl PerspectiveClient {
    /// The agents among the configured vantage points.
    pub fn new(
        vantages: &[VantagePoint],
        globalping: Option<globalping::GlobalpingDns>,
        timeout: Duration,
    ) -> Self {
        Self {
            agents: vantages
                .iter()
                .filter(|v| matches!(v.access, Access::Agent { .. }))
                .cloned()
                .collect(),
            globalping,
            timeout,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.agents.is_empty() && self.globalping.is_none()
    }

    /// Asks every perspective about CAA at `caa_names` and TXT at
    /// `validation_names`, at once.
    pub async fn observe(
        &self,
        caa_names: &[DomainName],
        validation_names: &[DomainName],
    ) -> Vec<PerspectiveObservation> {
        let questions: Vec<(DomainName, RecordType)> = caa_names
            .iter()
            .map(|n| (n.clone(), RecordType::CAA))
            .chain(
                validation_names
                    .iter()
                    .map(|n| (n.clone(), RecordType::TXT)),
            )
            .take(agent_resolve::MAX_QUESTIONS)
            .collect();
        let agents = futures::future::join_all(self.agents.iter().map(|v| {
            let questions = &questions;
            async move {
                let Access::Agent {
                    url,
                    token,
                    tls_fingerprint,
                } = &v.access
                else {
                    unreachable!("only agents are kept");
                };
                match agent_resolve::ask(
                    url,
                    token.as_ref(),
                    *tls_fingerprint,
                    questions,
                    self.timeout,
                )
                .await
                {
                    Ok(answers) => from_answers(&v.name, &answers),
                    Err(e) => PerspectiveObservation {
                        vantage: v.name.clone(),
                        caa: Vec::new(),
                        validation: Vec::new(),
                        error: Some(e),
                    },
                }
            }
        }));
        let globalping = async {
            match &self.globalping {
                Some(g) => g.observe(&questions).await,
                None => Vec::new(),
            }
        };
        let (mut out, more) = tokio::join!(agents, globalping);
        out.extend(more);
        out
    }
}

/// One vantage point's answers, sorted into CAA and validation records.
pub fn from_answers(vantage: &str, answers: &[Resolved]) -> PerspectiveObservation {
    let mut obs = PerspectiveObservation {
        vantage: vantage.to_string(),
        caa: Vec::new(),
        validation: Vec::new(),
        error: None,
    };
    for a in answers {
        let Ok(name) = DomainName::parse(&a.name) else {
            continue;
        };
        let failure = match (&a.rcode, &a.error) {
            (Some(r), _) if r != "NOERROR" && r != "NXDOMAIN" => Some(LookupFailure::Rcode {
                rcode: r.clone(),
                server: None,
            }),
            (None, Some(e)) => Some(LookupFailure::Network { detail: e.clone() }),
            (None, None) => Some(LookupFailure::Timeout),
            _ => None,
        };
        let nxdomain = a.rcode.as_deref() == Some("NXDOMAIN");
        let chain: Vec<DomainName> = a
            .cname_chain
            .iter()
            .filter_map(|n| DomainName::parse(n).ok())
            .collect();
        let rdata: Result<Vec<Vec<u8>>, String> = a
            .records
            .iter()
            .map(|h| hex::decode(h).map_err(|e| e.to_string()))
            .collect();
        let malformed = |d: String| LookupFailure::Malformed { detail: d };
        if a.rtype.eq_ignore_ascii_case("CAA") {
            let result = match (failure, rdata) {
                (Some(f), _) => Err(f),
                (None, Err(e)) => Err(malformed(e)),
                (None, Ok(rdata)) => rdata
                    .iter()
                    .map(|r| parse_caa_rdata(r))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|records| CaaAnswer {
                        cname_chain: if chain.is_empty() {
                            vec![name.clone()]
                        } else {
                            chain.clone()
                        },
                        records,
                        nxdomain,
                        dnssec: None,
                    })
                    .map_err(malformed),
            };
            obs.caa.push((name, result));
        } else if a.rtype.eq_ignore_ascii_case("TXT") {
            let result = match (failure, rdata) {
                (Some(f), _) => Err(f),
                (None, Err(e)) => Err(malformed(e)),
                (None, Ok(rdata)) => Ok(RecordsSeen {
                    cname_chain: if chain.is_empty() {
                        vec![name.clone()]
                    } else {
                        chain.clone()
                    },
                    texts: rdata.iter().map(|r| txt_text(r)).collect(),
                    nxdomain,
                }),
            };
            obs.validation.push((name, result));
        }
    }
    obs
}

/// RFC 1035 §3.3.14: a TXT record's character-strings, joined, as text.
pub fn txt_text(rdata: &[u8]) -> String {
    let mut out = Vec::with_capacity(rdata.len());
    let mut rest = rdata;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        out.extend_from_slice(&tail[..len]);
        rest = &tail[len..];
    }
    String::from_utf8_lossy(&out).into_owned()
}
