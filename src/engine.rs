//! The one check pipeline: a subject (one configured domain, or one name
//! given to `certvigil check`) and `now` in, per (certificate name, CA) the
//! verdicts and the `CheckReport` out. `certvigil check`, the daemon's
//! scheduler and the order poller all come through here, so they judge the
//! same observations with the same request and print the same findings
//! (issue 10: the pipeline used to be assembled three times, and the copies
//! disagreed on which validation methods reach the RFC 8657 judge).
//!
//! Gathering is I/O (DNS, HTTP probes); everything after it is the pure
//! judges. The daemon records what this returns through the store; `check`
//! prints the reports.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::ca::CaChoice;
use crate::checks::caa::gather::gather_caa_validated;
use crate::checks::caa::judge::judge as judge_caa;
use crate::checks::caa::{CaaObservation, CaaVerdict, IssuanceRequest};
use crate::checks::reach::{self, ProbeSettings, ReachVerdict, VantagePoint};
use crate::checks::risk::RiskModel;
use crate::config::{DomainTarget, ReachConfig};
use crate::dns::DnsHandle;
use crate::dnssec::Validator;
use crate::domain::{CertName, DomainName};
use crate::method::ValidationMethod;
use crate::recording::Verdict;
use crate::report::CheckReport;
use registry::{Check, GatherContext, Judgement};

pub mod reach_check;
pub mod registry;

/// What the pipeline needs that does not change from one subject to the
/// next: the resolver, the risk model, the vantage points and probe limits.
pub struct Engine {
    dns: DnsHandle,
    /// `None` when manual-review risk is not assessed.
    risk: Option<RiskModel>,
    vantages: Vec<VantagePoint>,
    probe: ProbeSettings,
    reach: ReachConfig,
    /// The checks run beside CAA ([`registry::registered`]).
    checks: Vec<Arc<dyn Check>>,
    /// The authoritative servers and the perspectives abroad (issue 13);
    /// off unless [`Engine::with_views`] turns them on.
    views: crate::views::Views,
    /// `None` when `[dnssec] validate = false`.
    dnssec: Option<Arc<Validator>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("risk", &self.risk.is_some())
            .field("vantages", &self.vantages)
            .field("probe", &self.probe)
            .field("reach", &self.reach)
            .field(
                "checks",
                &self.checks.iter().map(|c| c.kind()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// What is checked together: names sharing a CAA tree (`name` and
/// `*.name`), the CAs they are judged for and how the order is validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The certificate names, in output order; never empty.
    pub names: Vec<CertName>,
    /// The CAs each name is judged for, in output order (shared with the
    /// configured domain, or among the names of one `check` run).
    pub cas: Arc<[CaChoice]>,
    pub method: Option<ValidationMethod>,
    /// The URIs of the ACME account the order is placed with (RFC 8657
    /// `accounturi`; any of them authorizes).
    pub account_uris: Vec<String>,
    /// A canary file the CA's fetch is simulated with (path under
    /// `/.well-known/`, and the content it must have).
    pub canary_path: Option<String>,
    pub canary_content: Option<String>,
    /// `check --reach`: probe the validation path as file validation would
    /// even when the method is not validated over HTTP.
    pub force_reach: bool,
}

impl Subject {
    /// A configured domain: its name, `*.name` when `wildcard = true`,
    /// and its settings.
    pub fn from_domain(d: &DomainTarget) -> Subject {
        Subject {
            names: d.cert_names(),
            cas: d.ca.clone(),
            method: d.validation_method.clone(),
            account_uris: d.account_uris.clone(),
            canary_path: d.canary_path.clone(),
            canary_content: d.canary_content.clone(),
            force_reach: false,
        }
    }

    /// How the validation path is probed, if it is: the method's HTTP
    /// fetch, or file validation's when forced.
    pub fn reach_method(&self) -> Option<reach::Method> {
        self.method
            .as_ref()
            .and_then(reach::Method::for_validation)
            .or(self.force_reach.then_some(reach::Method::File))
    }
}

/// The result for one (certificate name, CA).
#[derive(Debug, Clone)]
pub struct TargetOutcome {
    pub name: CertName,
    pub ca: CaChoice,
    pub caa: CaaVerdict,
    /// The verdicts of the registered checks that apply, in registry order.
    pub checks: Vec<Arc<dyn Verdict>>,
    /// What `check --format json` prints and the daemon keeps as the
    /// target's latest report.
    pub report: CheckReport,
    pub checked_at: DateTime<Utc>,
}

impl Engine {
    pub fn new(
        dns: DnsHandle,
        risk: Option<RiskModel>,
        vantages: Vec<VantagePoint>,
        probe: ProbeSettings,
        reach: ReachConfig,
    ) -> Engine {
        Engine {
            dns,
            risk,
            vantages,
            probe,
            reach,
            checks: registry::registered(),
            views: crate::views::Views::default(),
            dnssec: None,
        }
    }

    /// Validates the decisive lookups with DNSSEC.
    pub fn with_dnssec(mut self, validator: Option<Arc<Validator>>) -> Engine {
        self.dnssec = validator;
        self
    }

    /// Forgets the answers and verified keys kept for reuse: the daemon
    /// calls it as each cycle starts.
    pub fn clear_cache(&self) {
        self.dns.clear_cache();
        self.views.new_cycle();
        if let Some(v) = &self.dnssec {
            v.clear();
        }
    }

    /// Runs `check` too, after the registered ones (a check outside the
    /// built-in table, e.g. a test's).
    pub fn with_check(mut self, check: impl Check + 'static) -> Engine {
        self.checks.push(Arc::new(check));
        self
    }

    /// Turns on the views of `[dns] view` and the lookups from abroad
    /// (the agents among the vantage points, and `globalping`).
    pub fn with_views(
        mut self,
        config: &crate::config::ViewsConfig,
        timeout: std::time::Duration,
        globalping: Option<crate::perspective::globalping::GlobalpingDns>,
    ) -> Engine {
        self.views =
            crate::views::Views::new(&self.dns, &self.vantages, config, timeout, globalping);
        self
    }

    pub fn dns(&self) -> &DnsHandle {
        &self.dns
    }

    /// Gathers once (CAA once per base name, the validation path once per
    /// name validated over HTTP, concurrently), then judges every name for
    /// every CA. Outcomes come name by name, CA by CA, in the subject's
    /// order.
    pub async fn check(&self, subject: &Subject, now: DateTime<Utc>) -> Vec<TargetOutcome> {
        let ctx = GatherContext {
            dns: &self.dns,
            vantages: &self.vantages,
            probe: &self.probe,
            reach: &self.reach,
        };
        // Per name, per registered check: one judgement per CA (or none).
        let others = subject.names.iter().map(|name| {
            futures::future::join_all(
                self.checks
                    .iter()
                    .map(move |c| c.check(ctx, subject, name, now)),
            )
        });
        let (caa, others) = tokio::join!(
            gather_by_base(&self.dns, self.dnssec.as_deref(), &subject.names),
            futures::future::join_all(others)
        );
        let (caa, views) = self
            .views
            .gather(&self.dns, caa, subject.method.as_ref())
            .await;
        let mut out = Vec::with_capacity(subject.names.len() * subject.cas.len());
        for (name, by_check) in subject.names.iter().zip(&others) {
            let observation = &caa[name.base()];
            let risk = self.risk.as_ref().map(|m| m.assess(name));
            for (i, ca) in subject.cas.iter().enumerate() {
                let judged = by_check.iter().filter_map(|per_ca| per_ca.get(i));
                out.push(judge_target(
                    name,
                    ca,
                    subject,
                    (observation, views.get(name.base())),
                    judged,
                    risk.clone(),
                    now,
                ));
            }
        }
        out
    }
}

impl TargetOutcome {
    /// The reachability verdict, when the validation path was probed.
    pub fn reach(&self) -> Option<&ReachVerdict> {
        self.checks
            .iter()
            .find_map(|v| v.as_any().downcast_ref::<ReachVerdict>())
    }
}

/// The pure half: one (name, CA) from the observations and the registered
/// checks' judgements.
fn judge_target<'a>(
    name: &CertName,
    ca: &CaChoice,
    subject: &Subject,
    // The recursive climb, and what the other views saw (issue 13).
    (observation, views): (&CaaObservation, Option<&crate::views::Observed>),
    judged: impl Iterator<Item = &'a Judgement>,
    risk: Option<crate::checks::risk::RiskAssessment>,
    now: DateTime<Utc>,
) -> TargetOutcome {
    let request = issuance_request(name, ca, subject.method.as_ref(), &subject.account_uris);
    let mut caa = judge_caa(observation, &request);
    if let Some(views) = views {
        caa.views = views.judge(observation, &request);
    }
    let mut report = CheckReport::new(name, ca, &caa, Vec::new());
    if let Some(risk) = risk {
        report = report.with_risk(risk);
    }
    let mut checks = Vec::new();
    for j in judged {
        if let Some(v) = &j.verdict {
            report = v.add_to_report(report);
            checks.push(v.clone());
        }
        if !j.findings.is_empty() {
            report = report.with_findings(j.findings.clone());
        }
    }
    TargetOutcome {
        name: name.clone(),
        ca: ca.clone(),
        caa,
        checks,
        report,
        checked_at: now,
    }
}

/// The one place an `IssuanceRequest` is built: only the ACME kinds of the
/// method carry an RFC 8657 label, so `file` and `dns` never bind to
/// `validationmethods` (nor appear in a suggested record).
pub fn issuance_request(
    name: &CertName,
    ca: &CaChoice,
    method: Option<&ValidationMethod>,
    account_uris: &[String],
) -> IssuanceRequest {
    IssuanceRequest {
        wildcard: name.is_wildcard(),
        issuer_domains: ca.issuer_domains.clone(),
        account_uris: account_uris.to_vec(),
        validation_method: method.and_then(ValidationMethod::acme).cloned(),
        outside_acme: method.and_then(ValidationMethod::outside_acme),
    }
}

/// CAA of several names, gathered once per base name (`example.com` and
/// `*.example.com` share a tree), concurrently.
async fn gather_by_base(
    dns: &DnsHandle,
    validator: Option<&Validator>,
    names: &[CertName],
) -> HashMap<DomainName, CaaObservation> {
    let mut bases: Vec<&DomainName> = names.iter().map(CertName::base).collect();
    bases.sort();
    bases.dedup();
    let gathered = futures::future::join_all(
        bases
            .iter()
            .map(|b| gather_caa_validated(dns, validator, b)),
    )
    .await;
    bases.into_iter().cloned().zip(gathered).collect()
}

/// The CAA verdicts of an order's names for its CA: the same gather (and
/// DNSSEC validation) and the same request as [`Engine::check`], without
/// reach or risk (the order poller gathers those its own way).
pub async fn caa_verdicts(
    dns: &DnsHandle,
    validator: Option<&Validator>,
    names: &[CertName],
    ca: &CaChoice,
    method: Option<&ValidationMethod>,
    account_uris: &[String],
) -> Vec<(CertName, CaaVerdict)> {
    let observed = gather_by_base(dns, validator, names).await;
    names
        .iter()
        .map(|name| {
            let request = issuance_request(name, ca, method, account_uris);
            (name.clone(), judge_caa(&observed[name.base()], &request))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::caa::{CaaAnswer, CaaLookup, CaaRecord, CaaVerdictKind};
    use crate::method::AcmeMethod;

    fn ca(name: &str, issuer: &str) -> CaChoice {
        CaChoice {
            name: name.into(),
            display: String::new(),
            issuer_domains: vec![DomainName::parse(issuer).unwrap()],
            scanner_ips: Vec::new(),
        }
    }

    #[test]
    fn file_and_dns_never_reach_the_rfc8657_judge() {
        let name = CertName::parse("shop.example").unwrap();
        let sectigo = ca("sectigo", "sectigo.com");
        for method in ["file", "dns"] {
            let m = ValidationMethod::parse(method).unwrap();
            let req = issuance_request(&name, &sectigo, Some(&m), &[]);
            assert_eq!(req.validation_method, None, "{method}");
        }
        for (method, label) in [
            ("http-01", AcmeMethod::Http01),
            ("dns-01", AcmeMethod::Dns01),
            ("tls-alpn-01", AcmeMethod::TlsAlpn01),
            (
                "ca-sectigo-file",
                AcmeMethod::CaSpecific("ca-sectigo-file".into()),
            ),
        ] {
            let m = ValidationMethod::parse(method).unwrap();
            let req = issuance_request(&name, &sectigo, Some(&m), &[]);
            assert_eq!(req.validation_method, Some(label), "{method}");
        }
    }

    /// The old daemon passed "file" to the judge, whose remedy then
    /// advised `validationmethods=file`, which is no RFC 8657 label.
    #[test]
    fn a_file_validated_target_is_never_advised_a_validationmethods_file_record() {
        let name = CertName::parse("shop.example").unwrap();
        let base = name.base().clone();
        let observation = CaaObservation {
            queried: base.clone(),
            climb: vec![CaaLookup {
                name: base.clone(),
                result: Ok(CaaAnswer {
                    cname_chain: vec![base.clone()],
                    records: vec![CaaRecord::new(
                        0,
                        "issue",
                        "sectigo.com; validationmethods=http-01",
                    )],
                    nxdomain: false,
                    dnssec: None,
                }),
            }],
            alias_target_climb: Vec::new(),
        };
        let subject = Subject {
            names: vec![name.clone()],
            cas: Arc::from([ca("sectigo", "sectigo.com")]),
            method: Some(ValidationMethod::File),
            account_uris: Vec::new(),
            canary_path: None,
            canary_content: None,
            force_reach: false,
        };
        let outcome = judge_target(
            &name,
            &subject.cas[0],
            &subject,
            (&observation, None),
            std::iter::empty(),
            None,
            Utc::now(),
        );
        assert_eq!(outcome.caa.verdict, CaaVerdictKind::Forbidden);
        let remedy = outcome.caa.remedy.clone().unwrap_or_default();
        assert!(!remedy.contains("validationmethods=file"), "{remedy}");
        assert!(
            outcome.caa.reason.contains(
                "allows only the ACME validation methods http-01 (RFC 8657 validationmethods), and file validation"
            ),
            "{}",
            outcome.caa.reason
        );
    }
}
