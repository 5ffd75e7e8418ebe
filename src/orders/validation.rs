//! Is the validation record in place as the CA will look for it? The
//! gathering half: each [`ValidationRequirement`] is looked up the way a CA
//! looks it up, and the answer is recorded as a [`ValidationOutcome`];
//! [`super::judge`] decides what it means for the order.
//!
//! - DNS TXT (`_dnsauth`, `_acme-challenge`; BR §3.2.2.4.7, RFC 8555 §8.4):
//!   the TXT RRset at the name through the configured resolvers, aliases
//!   followed as a CA's resolver follows them; one record must equal the
//!   value exactly.
//! - DNS CNAME (Sectigo's `_<md5>` record): the name must be an alias of
//!   the target.
//! - File (BR §3.2.2.4.18, RFC 8555 §8.3): `GET` of the URL over http, then
//!   https when http did not show it (Tencent Cloud accepts either, and
//!   ignores HTTPS certificate errors); a 2xx whose body, trimmed, is the
//!   value. At most two redirects, as Tencent Cloud follows.
//!
//! The file is fetched from this host only. The reachability check
//! (`checks::reach`, from several vantage points including abroad) had not
//! landed when this was written; when it has, the file requirement should be
//! handed to it so "unreachable from abroad" becomes a finding here too.

use std::time::Duration;

use futures::future::join_all;

use super::{Requirement, ValidationRequirement};
// What a lookup found is plain data the judge reads: it lives in the core crate.
use crate::dns::{DnsHandle, QueryError};
pub use certvigil_core::orders::validation::{ValidationCheck, ValidationOutcome};

/// How the file check connects. Only tests change the ports
/// (`[reach] http_port`/`https_port`).
#[derive(Debug, Clone)]
pub struct FileCheckSettings {
    pub http_port: u16,
    pub https_port: u16,
    pub timeout: Duration,
}

impl Default for FileCheckSettings {
    fn default() -> Self {
        Self {
            http_port: 80,
            https_port: 443,
            timeout: Duration::from_secs(15),
        }
    }
}

/// Fetches validation files. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FileFetcher {
    client: reqwest::Client,
    settings: FileCheckSettings,
}

impl FileFetcher {
    pub fn new(settings: FileCheckSettings) -> Result<Self, reqwest::Error> {
        crate::tls::ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::limited(2))
            // Tencent Cloud's validator ignores HTTPS certificate errors
            // (its file validation guide), and so does this check, so a
            // self-signed certificate does not hide a correct file.
            .tls_danger_accept_invalid_certs(true)
            .no_proxy()
            .user_agent(concat!("certvigil/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, settings })
    }

    async fn check(&self, url: &reqwest::Url, content: &str) -> ValidationOutcome {
        let mut best: Option<ValidationOutcome> = None;
        for (scheme, port) in [
            ("http", self.settings.http_port),
            ("https", self.settings.https_port),
        ] {
            let mut u = url.clone();
            if u.set_scheme(scheme).is_err() || u.set_port(Some(port)).is_err() {
                continue;
            }
            let outcome = self.fetch(&u, content).await;
            if outcome == ValidationOutcome::InPlace {
                return outcome;
            }
            if best.as_ref().is_none_or(|b| outcome.rank() > b.rank()) {
                best = Some(outcome);
            }
        }
        best.unwrap_or(ValidationOutcome::Unreachable {
            detail: format!("{url} cannot be fetched over http or https"),
        })
    }

    async fn fetch(&self, url: &reqwest::Url, content: &str) -> ValidationOutcome {
        let response = match self.client.get(url.clone()).send().await {
            Ok(r) => r,
            Err(e) => {
                return ValidationOutcome::Unreachable {
                    detail: format!("GET {url} failed: {}", error_chain(&e)),
                };
            }
        };
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return ValidationOutcome::Missing {
                detail: format!("GET {url} answered 404 Not Found"),
            };
        }
        if !status.is_success() {
            return ValidationOutcome::Unreachable {
                detail: format!("GET {url} answered {status}; the CA needs a 2xx"),
            };
        }
        let body = match response.text().await {
            Ok(b) => b,
            Err(e) => {
                return ValidationOutcome::Unreachable {
                    detail: format!("GET {url}: the body could not be read: {e}"),
                };
            }
        };
        if body.trim() == content.trim() {
            ValidationOutcome::InPlace
        } else {
            let shown: String = body.trim().chars().take(200).collect();
            ValidationOutcome::Wrong {
                found: vec![shown],
                detail: format!("GET {url} returned other content than the CA expects"),
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Checks every requirement, concurrently.
pub async fn check_all(
    dns: &DnsHandle,
    files: &FileFetcher,
    requirements: &[ValidationRequirement],
) -> Vec<ValidationCheck> {
    join_all(requirements.iter().map(|r| async move {
        ValidationCheck {
            requirement: r.clone(),
            outcome: check_one(dns, files, &r.requirement).await,
        }
    }))
    .await
}

/// Checks one requirement.
pub async fn check_one(
    dns: &DnsHandle,
    files: &FileFetcher,
    requirement: &Requirement,
) -> ValidationOutcome {
    match requirement {
        Requirement::DnsTxt { name, value } => match dns.lookup_txt(name).await {
            Err(e) => inconclusive(e),
            Ok(answer) => {
                let found: Vec<String> = answer
                    .records
                    .iter()
                    .map(|r| String::from_utf8_lossy(r).into_owned())
                    .collect();
                if found.iter().any(|f| f.trim() == value.trim()) {
                    ValidationOutcome::InPlace
                } else if found.is_empty() {
                    ValidationOutcome::Missing {
                        detail: if answer.nxdomain {
                            format!("{name} does not exist (NXDOMAIN)")
                        } else {
                            format!("{name} has no TXT record")
                        },
                    }
                } else {
                    ValidationOutcome::Wrong {
                        detail: format!(
                            "{name} has {} TXT record(s), none with the value the CA expects",
                            found.len()
                        ),
                        found,
                    }
                }
            }
        },
        Requirement::DnsCname { name, target } => match dns.lookup_cname_chain(name).await {
            Err(e) => inconclusive(e),
            Ok(chain) => match chain.get(1) {
                Some(first) if first == target => ValidationOutcome::InPlace,
                Some(first) => ValidationOutcome::Wrong {
                    found: vec![first.to_string()],
                    detail: format!("{name} is an alias of {first}, not of {target}"),
                },
                None => ValidationOutcome::Missing {
                    detail: format!("{name} has no CNAME record"),
                },
            },
        },
        Requirement::File { url, content } => files.check(url, content).await,
    }
}

fn inconclusive(e: QueryError) -> ValidationOutcome {
    ValidationOutcome::Inconclusive {
        detail: e.to_string(),
    }
}
