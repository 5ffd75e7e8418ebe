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
//!   value. Redirects only as BR §3.2.2.4.18 allows (301/302/307/308, http
//!   or https, ports 80/443) and at most two, as Tencent Cloud follows;
//!   bodies are capped at [`FILE_BODY_CAP`] (`crate::http`).
//!
//! The file is fetched from this host only. The reachability check
//! (`checks::reach`, from several vantage points including abroad) had not
//! landed when this was written; when it has, the file requirement should be
//! handed to it so "unreachable from abroad" becomes a finding here too.

use std::time::Duration;

use futures::future::join_all;

use super::{Requirement, ValidationRequirement};
use crate::checks::reach::model::Ports;
use crate::dns::{DnsHandle, QueryError};
use crate::http::{self, HttpError, redact};
// What a lookup found is plain data the judge reads: it lives in the core crate.
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

/// Octets of a validation file read at most: a token is a few dozen; the
/// reach probe and Let's Encrypt read no more than this either.
pub const FILE_BODY_CAP: usize = 64 * 1024;

/// Redirects Tencent Cloud's validator follows (its file validation guide);
/// the reach check applies the stricter per-CA limits.
pub const MAX_REDIRECTS: usize = 2;

/// Fetches validation files. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FileFetcher {
    client: reqwest::Client,
    settings: FileCheckSettings,
}

impl FileFetcher {
    /// Names in validation URLs (and in their redirects) are resolved
    /// through `dns`, the configured `[dns]` servers, as every lookup made
    /// for a target is: the reach check of the same host sees the same
    /// addresses.
    pub fn new(settings: FileCheckSettings, dns: DnsHandle) -> Result<Self, HttpError> {
        let mut options = http::ClientOptions::new(settings.timeout, settings.timeout);
        options.dns = Some(dns);
        // Tencent Cloud's validator ignores HTTPS certificate errors (its
        // file validation guide), and so does this check, so a self-signed
        // certificate does not hide a correct file.
        options.accept_invalid_certs = true;
        let client = http::client(&options)?;
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
            detail: format!("{} cannot be fetched over http or https", redact::url(url)),
        })
    }

    /// One look, as the CA looks: redirects only as BR §3.2.2.4.18 allows
    /// (status, scheme, the validation ports), at most [`MAX_REDIRECTS`],
    /// and a body no larger than a validation file can be.
    async fn fetch(&self, url: &reqwest::Url, content: &str) -> ValidationOutcome {
        let shown = redact::url(url);
        let limits = http::Limits {
            body_cap: FILE_BODY_CAP,
            total: self.settings.timeout,
        };
        let redirects = http::Redirects::Validation {
            ports: Ports {
                http: self.settings.http_port,
                https: self.settings.https_port,
            },
            max_hops: MAX_REDIRECTS,
        };
        let answer = match http::fetch(
            &self.client,
            http::Request::get(url.clone()),
            &limits,
            redirects,
        )
        .await
        {
            Ok(a) => a,
            Err(HttpError::BodyTooLarge { status, cap, .. }) if (200..300).contains(&status) => {
                return ValidationOutcome::Wrong {
                    found: vec![format!("(more than {cap} bytes)")],
                    detail: format!(
                        "GET {shown} returned a body larger than {cap} bytes, not the value the CA expects"
                    ),
                };
            }
            Err(e) => {
                return ValidationOutcome::Unreachable {
                    detail: format!("GET {shown}: {e}"),
                };
            }
        };
        let status = answer.status;
        if status == 404 {
            return ValidationOutcome::Missing {
                detail: format!("GET {shown} answered 404 Not Found"),
            };
        }
        if !answer.is_success() {
            return ValidationOutcome::Unreachable {
                detail: format!("GET {shown} answered {status}; the CA needs a 2xx"),
            };
        }
        let body = String::from_utf8_lossy(&answer.body);
        if body.trim() == content.trim() {
            ValidationOutcome::InPlace
        } else {
            ValidationOutcome::Wrong {
                found: vec![redact::peer_text(&body, 200)],
                detail: format!("GET {shown} returned other content than the CA expects"),
            }
        }
    }
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
