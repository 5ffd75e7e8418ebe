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
//! The DNS requirements are looked up as the CAA check looks (issue 13):
//! the home answer is DNSSEC-validated with the same validator (a bogus
//! answer is the outcome, never "in place"), and the same views ask every
//! authoritative server of the record's zone and every perspective abroad;
//! the core judges what they answered (`orders::validation::judge_views`).
//!
//! The file is fetched from this host only. The reachability check
//! (`checks::reach`, from several vantage points including abroad) had not
//! landed when this was written; when it has, the file requirement should be
//! handed to it so "unreachable from abroad" becomes a finding here too.

use std::time::Duration;

use futures::future::join_all;
use hickory_proto::rr::RecordType;

use super::{Requirement, ValidationRequirement};
use crate::checks::reach::model::Ports;
use crate::config::DnsView;
use crate::dns::{DnsHandle, QueryError};
use crate::dnssec::Validator;
use crate::domain::DomainName;
use crate::http::{self, HttpError, redact};
use crate::views::Views;
use certvigil_core::checks::dnssec::{DnssecNote, DnssecStatus};
use certvigil_core::checks::perspective::RecordsSeen;
use certvigil_core::orders::validation::{RecordViews, authoritative_outcome, judge_records};
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

/// How the DNS requirements are looked up: as the CAA check looks (issue
/// 13), through the same resolver handle, the same DNSSEC validator
/// (`[dnssec]`) and the same views (`[dns] view`, the perspectives abroad).
#[derive(Debug, Clone, Copy)]
pub struct DnsLookups<'a> {
    pub dns: &'a DnsHandle,
    /// `None` when `[dnssec] validate = false`.
    pub dnssec: Option<&'a Validator>,
    pub views: &'a Views,
}

/// Checks every requirement, concurrently.
pub async fn check_all(
    lookups: DnsLookups<'_>,
    files: &FileFetcher,
    requirements: &[ValidationRequirement],
) -> Vec<ValidationCheck> {
    join_all(
        requirements
            .iter()
            .map(|r| async move { check(lookups, files, r).await }),
    )
    .await
}

/// Checks one requirement as the CA will: the home lookup, its DNSSEC
/// validation (a bogus answer is the outcome, whatever the record holds:
/// the CA gets SERVFAIL), and the other views' answers for the core to
/// judge (`judge_views`).
pub async fn check(
    lookups: DnsLookups<'_>,
    files: &FileFetcher,
    requirement: &ValidationRequirement,
) -> ValidationCheck {
    let r = &requirement.requirement;
    let Some(name) = r.dns_name() else {
        return ValidationCheck::new(requirement.clone(), check_one(lookups.dns, files, r).await);
    };
    let home = async {
        let seen = lookup(lookups.dns, name).await;
        // A validating resolver answers SERVFAIL for a bogus record: ask
        // the validator then too (it asks with CD), so the cause is told.
        let answered = matches!(&seen, Ok(_) | Err(QueryError::Rcode { .. }));
        let dnssec = match (answered, lookups.dnssec) {
            (true, Some(validator)) => {
                // The CNAME requirement is the alias itself (the CA asks
                // for it, not for what it leads to).
                let rtype = match r {
                    Requirement::DnsCname { .. } => RecordType::CNAME,
                    _ => RecordType::TXT,
                };
                Some(validator.validate(name, rtype).await)
            }
            _ => None,
        };
        (seen, dnssec)
    };
    let ((seen, dnssec), (authority, perspectives)) =
        tokio::join!(home, lookups.views.observe_record(name));
    let (authority, authority_failure) = match authority {
        Some(Ok(zone)) => (Some(zone), None),
        Some(Err(why)) => (None, Some(why)),
        None => (None, None),
    };
    let mut outcome = match &seen {
        Ok(seen) => judge_records(r, seen).expect("a DNS requirement"),
        Err(e) => inconclusive(e),
    };
    // `[dns] view = "authoritative"`: the zone's own servers decide, as
    // for the CAA climb.
    if lookups.views.mode() == DnsView::Authoritative
        && let Some(by_servers) = authority
            .as_ref()
            .and_then(|zone| authoritative_outcome(r, zone))
    {
        outcome = by_servers;
    }
    let dnssec = match dnssec {
        Some(DnssecNote {
            status: DnssecStatus::Bogus { cause },
            ..
        }) => {
            outcome = ValidationOutcome::Bogus { cause };
            None
        }
        other => other,
    };
    ValidationCheck {
        requirement: requirement.clone(),
        outcome,
        dnssec,
        views: RecordViews {
            home: seen.ok(),
            authority,
            authority_failure,
            perspectives,
        },
    }
}

/// The TXT answer at `name` (aliases followed), as the core reads it.
async fn lookup(dns: &DnsHandle, name: &DomainName) -> Result<RecordsSeen, QueryError> {
    let answer = dns.lookup_txt(name).await?;
    Ok(RecordsSeen {
        cname_chain: answer.cname_chain,
        texts: answer
            .records
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect(),
        nxdomain: answer.nxdomain,
    })
}

/// Checks one requirement through the resolver alone (no DNSSEC, no
/// other views).
pub async fn check_one(
    dns: &DnsHandle,
    files: &FileFetcher,
    requirement: &Requirement,
) -> ValidationOutcome {
    match requirement {
        Requirement::File { url, content } => files.check(url, content).await,
        dns_requirement => {
            let name = dns_requirement.dns_name().expect("a DNS requirement");
            match lookup(dns, name).await {
                Ok(seen) => judge_records(dns_requirement, &seen).expect("a DNS requirement"),
                Err(e) => inconclusive(&e),
            }
        }
    }
}

fn inconclusive(e: &QueryError) -> ValidationOutcome {
    ValidationOutcome::Inconclusive {
        detail: e.to_string(),
    }
}
