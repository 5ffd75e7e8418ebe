//! Judging reachability: observations in, verdict and findings out. No I/O.
//!
//! The verdict compares vantage points (docs/design.md cause 2): `reachable`
//! when every vantage point got an HTTP answer, `geo_blocked` when some
//! did but an overseas one did not (CAs validate from abroad, and since
//! 2025-09 from several regions: BR §3.2.2.9 multi-perspective issuance
//! corroboration), `unreachable` when none did, `error` when the vantage
//! points that matter could not look at all.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;

use super::model::{
    Failure, HopObservation, HopOutcome, PortObservation, ProbeObservation, ReachObservation,
    Scheme, VantageKind, VantageOutcome,
};
use super::redirect::{self, RedirectViolation};
use crate::findings::{CheckKind, Finding, Severity};
use crate::method::{AcmeMethod, ValidationMethod};

/// Which validation the CA will do, which decides the redirect limits and
/// which port must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// BR §3.2.2.4.18 file validation as Tencent Cloud, Sectigo, DigiCert
    /// run it: http or https; at most two redirects, within the same
    /// registered domain (Tencent's rule).
    File,
    /// ACME http-01 (RFC 8555 §8.3): the CA starts on port 80; Let's
    /// Encrypt follows up to ten redirects to any name.
    Http01,
}

impl Method {
    /// How the CA fetches over HTTP for `method`; `None` when it does not
    /// (DNS, tls-alpn-01, CA-specific methods).
    pub fn for_validation(method: &ValidationMethod) -> Option<Method> {
        match method {
            ValidationMethod::File => Some(Method::File),
            ValidationMethod::Acme(AcmeMethod::Http01) => Some(Method::Http01),
            _ => None,
        }
    }

    fn max_redirects(self) -> usize {
        match self {
            Method::File => 2,
            Method::Http01 => redirect::MAX_FOLLOWED,
        }
    }
}

/// What the judge needs beyond the observations: the method, and the CA
/// whose scanner addresses go into the remedy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeContext {
    pub method: Method,
    /// The CA's display name ("Sectigo").
    pub ca: String,
    /// The CA's published file-validation scanner addresses (catalogue).
    pub scanner_ips: Vec<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReachVerdictKind {
    Reachable,
    GeoBlocked,
    Unreachable,
    Error,
}

impl ReachVerdictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReachVerdictKind::Reachable => "reachable",
            ReachVerdictKind::GeoBlocked => "geo_blocked",
            ReachVerdictKind::Unreachable => "unreachable",
            ReachVerdictKind::Error => "error",
        }
    }

    /// `geo_blocked` and `unreachable` make file validation fail.
    pub fn blocks_issuance(self) -> bool {
        matches!(
            self,
            ReachVerdictKind::GeoBlocked | ReachVerdictKind::Unreachable
        )
    }
}

/// One request of a chain, for people and scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HopView {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub elapsed_ms: u64,
}

/// One port from one vantage point: `result` is `answered` or the
/// failure of the first request (`refused`, `reset`, `timeout`, `tls`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortView {
    pub scheme: Scheme,
    pub port: u16,
    pub result: String,
    /// The status of the last request of the chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Every URL redirected to, in order.
    pub redirects: Vec<String>,
    pub elapsed_ms: u64,
    /// Whether the final body equals the expected content; absent when no
    /// content is expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_matched: Option<bool>,
    /// A CA would fetch the file this way (redirects and content allowed).
    pub validates: bool,
    pub hops: Vec<HopView>,
}

/// One vantage point's part of the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VantageView {
    pub name: String,
    pub kind: VantageKind,
    pub overseas: bool,
    /// Got an HTTP answer on a port that counts for the method.
    pub answered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<IpAddr>>,
    pub ports: Vec<PortView>,
}

/// The verdict for one target and CA: the `reach` object of `check`'s JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReachVerdict {
    pub verdict: ReachVerdictKind,
    pub name: String,
    pub path: String,
    pub method: Method,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    pub vantages: Vec<VantageView>,
    #[serde(skip)]
    pub findings: Vec<Finding>,
    /// Stable identifiers of the problems found, for state comparison.
    #[serde(skip)]
    pub problems: Vec<String>,
}

impl ReachVerdict {
    /// A stable summary for "did the state change?": the verdict and the
    /// kinds of problem, without timings, statuses or addresses that move
    /// from run to run.
    pub fn fingerprint(&self) -> String {
        let mut problems = self.problems.clone();
        problems.sort();
        problems.dedup();
        format!("{}|{}", self.verdict.as_str(), problems.join(","))
    }

    /// Whether file validation would fail as things stand.
    pub fn blocks_issuance(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Blocking)
    }
}

/// Why one port's chain would not satisfy a CA.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PortProblem {
    NoAnswer(Failure, String),
    Redirect(RedirectViolation),
    RedirectLoop(String),
    TooManyRedirects(usize),
    OtherDomain(String),
    /// The chain was cut short (the prober does not follow redirects).
    Unfollowed,
    Status(u16),
    BodyTooLarge(u64),
    ContentMismatch,
}

impl PortProblem {
    fn code(&self) -> &'static str {
        match self {
            PortProblem::NoAnswer(..) => "no_answer",
            PortProblem::Redirect(RedirectViolation::Status { .. }) => "redirect_status",
            PortProblem::Redirect(RedirectViolation::Port { .. }) => "redirect_port",
            PortProblem::Redirect(RedirectViolation::Scheme { .. }) => "redirect_scheme",
            PortProblem::Redirect(RedirectViolation::BadLocation { .. }) => "redirect_location",
            PortProblem::RedirectLoop(_) => "redirect_loop",
            PortProblem::TooManyRedirects(_) => "too_many_redirects",
            PortProblem::OtherDomain(_) => "redirect_other_domain",
            PortProblem::Unfollowed => "redirect_unfollowed",
            PortProblem::Status(_) => "status",
            PortProblem::BodyTooLarge(_) => "body_too_large",
            PortProblem::ContentMismatch => "content_mismatch",
        }
    }

    fn explain(&self, ctx: &JudgeContext, obs: &ReachObservation) -> String {
        let ports = obs.target.ports;
        match self {
            PortProblem::NoAnswer(f, d) => format!("no HTTP answer ({}: {d})", f.as_str()),
            PortProblem::Redirect(v) => v.explain(ports),
            PortProblem::RedirectLoop(url) => {
                format!("the redirects loop back to {url}, so the file is never served")
            }
            PortProblem::TooManyRedirects(n) => match ctx.method {
                Method::File => format!(
                    "it takes {n} redirects to reach the file; Tencent Cloud's file validation follows at most 2"
                ),
                Method::Http01 => format!(
                    "it takes {n} or more redirects; ACME CAs (Let's Encrypt) follow at most {}",
                    redirect::MAX_FOLLOWED
                ),
            },
            PortProblem::OtherDomain(host) => format!(
                "it redirects to {host}, outside the registered domain of {}; Tencent Cloud's file validation follows redirects only within the same registered domain",
                obs.target.name
            ),
            PortProblem::Unfollowed => {
                "it answers with a redirect this vantage point does not follow, so the file itself was not seen".to_string()
            }
            PortProblem::Status(s) => format!(
                "the file is answered with status {s}; CAs need a 2xx answer with the file (BR §3.2.2.4.18)"
            ),
            PortProblem::BodyTooLarge(n) => format!(
                "the answer is larger than the {n} octets read, so it is not the file (a validation file is a few lines)"
            ),
            PortProblem::ContentMismatch => format!(
                "the answer is not the expected content: the path is served by an application or rewritten, not from the file placed at {}",
                obs.target.path
            ),
        }
    }

    /// Problems of the site's configuration (rather than its reachability)
    /// block issuance whoever looks.
    fn is_configuration(&self) -> bool {
        !matches!(self, PortProblem::NoAnswer(..) | PortProblem::Unfollowed)
    }
}

/// The first request got an HTTP answer.
fn answered(port: &PortObservation) -> bool {
    port.hops
        .first()
        .is_some_and(|h| matches!(h.outcome, HopOutcome::Response { .. }))
}

/// Checks one chain against the rules; `Ok` when a CA would accept it.
fn port_problem(
    port: &PortObservation,
    ctx: &JudgeContext,
    obs: &ReachObservation,
) -> Result<(), PortProblem> {
    let ports = obs.target.ports;
    let home = redirect::registered_domain(obs.target.name.as_str());
    let mut redirects = 0usize;
    for (i, hop) in port.hops.iter().enumerate() {
        let (status, location, body) = match &hop.outcome {
            HopOutcome::Failed { failure, detail } => {
                return Err(PortProblem::NoAnswer(*failure, detail.clone()));
            }
            HopOutcome::Response {
                status,
                location,
                body,
            } => (*status, location, body),
        };
        if redirect::is_redirect(status) {
            let from = url::Url::parse(&hop.url).map_err(|_| {
                PortProblem::Redirect(RedirectViolation::BadLocation {
                    location: hop.url.clone(),
                })
            })?;
            let next = redirect::permitted(status, &from, location.as_deref(), ports)
                .map_err(PortProblem::Redirect)?;
            redirects += 1;
            if ctx.method == Method::File {
                let there = next.host_str().and_then(redirect::registered_domain);
                if home.is_some() && there != home {
                    return Err(PortProblem::OtherDomain(
                        next.host_str().unwrap_or_default().to_string(),
                    ));
                }
            }
            if redirects > ctx.method.max_redirects() {
                return Err(PortProblem::TooManyRedirects(redirects));
            }
            if port.hops[..=i].iter().any(|h| h.url == next.as_str()) {
                return Err(PortProblem::RedirectLoop(next.to_string()));
            }
            if i + 1 == port.hops.len() {
                return Err(if port.follows_redirects {
                    PortProblem::TooManyRedirects(redirects)
                } else {
                    PortProblem::Unfollowed
                });
            }
            continue;
        }
        // The end of the chain.
        if obs.target.expected.is_some() {
            if !(200..300).contains(&status) {
                return Err(PortProblem::Status(status));
            }
            if body.truncated {
                return Err(PortProblem::BodyTooLarge(body.bytes_read));
            }
            if body.matched == Some(false) {
                return Err(PortProblem::ContentMismatch);
            }
        }
        return Ok(());
    }
    Err(PortProblem::NoAnswer(
        Failure::Other,
        "no request was made".into(),
    ))
}

fn hop_view(h: &HopObservation) -> HopView {
    let (status, failure, detail) = match &h.outcome {
        HopOutcome::Response { status, .. } => (Some(*status), None, None),
        HopOutcome::Failed { failure, detail } => (None, Some(*failure), Some(detail.clone())),
    };
    HopView {
        url: h.url.clone(),
        status,
        failure,
        detail,
        elapsed_ms: h.elapsed_ms,
    }
}

fn port_view(p: &PortObservation, validates: bool) -> PortView {
    let first = p.hops.first();
    let last = p.hops.last();
    let result = match first.map(|h| &h.outcome) {
        Some(HopOutcome::Response { .. }) => "answered".to_string(),
        Some(HopOutcome::Failed { failure, .. }) => serde_json::to_value(failure)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "failed".into()),
        None => "not_tried".into(),
    };
    let body_matched = match last.map(|h| &h.outcome) {
        Some(HopOutcome::Response { body, .. }) => body.matched,
        _ => None,
    };
    PortView {
        scheme: p.scheme,
        port: p.port,
        result,
        status: last.and_then(HopObservation::status),
        redirects: p.hops.iter().skip(1).map(|h| h.url.clone()).collect(),
        elapsed_ms: p.hops.iter().map(|h| h.elapsed_ms).sum(),
        body_matched,
        validates,
        hops: p.hops.iter().map(hop_view).collect(),
    }
}

/// The ports whose answer counts for the method: ACME http-01 always
/// starts on port 80 (RFC 8555 §8.3); file validation may use either.
fn counts(method: Method, scheme: Scheme) -> bool {
    method == Method::File || scheme == Scheme::Http
}

struct Judged<'a> {
    name: &'a str,
    overseas: bool,
    probe: Option<&'a ProbeObservation>,
    answered: bool,
    /// Why the vantage point could not do its job ("vantage X failed: ...").
    error: Option<String>,
}

/// `vantage X failed: ...` for every vantage point that could not probe.
fn failures_text(failed: &[&Judged]) -> String {
    failed
        .iter()
        .map(|j| match &j.error {
            Some(e) => e.clone(),
            None => format!("vantage {} failed", j.name),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The vantage point's own failure, when it is why no port that counts
/// answered: its proxy was down, refused us or could not resolve the name
/// ([`Failure::Vantage`]). Such a probe says nothing about the site.
fn own_failure(p: &ProbeObservation, method: Method) -> Option<String> {
    let counted: Vec<&PortObservation> = p
        .ports
        .iter()
        .filter(|port| counts(method, port.scheme))
        .collect();
    if counted.iter().any(|port| answered(port)) {
        return None;
    }
    counted
        .iter()
        .find_map(|port| match port.hops.first().map(|h| &h.outcome) {
            Some(HopOutcome::Failed {
                failure: Failure::Vantage,
                detail,
            }) => Some(format!(
                "{} port {}: {detail}",
                port.scheme.as_str(),
                port.port
            )),
            _ => None,
        })
}

/// Judges the observations for one CA.
pub fn judge(obs: &ReachObservation, ctx: &JudgeContext) -> ReachVerdict {
    let name = obs.target.name.as_str();
    let mut findings = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut views = Vec::new();
    let mut judged = Vec::new();
    // Port problems grouped by (scheme, code, text), with the vantage
    // points that saw them.
    let mut port_problems: Vec<(Scheme, PortProblem, String, Vec<String>, bool)> = Vec::new();

    for v in &obs.vantages {
        match &v.outcome {
            VantageOutcome::Error { message } => {
                views.push(VantageView {
                    name: v.vantage.clone(),
                    kind: v.kind,
                    overseas: v.overseas,
                    answered: false,
                    error: Some(message.clone()),
                    addresses: None,
                    ports: Vec::new(),
                });
                judged.push(Judged {
                    name: &v.vantage,
                    overseas: v.overseas,
                    probe: None,
                    answered: false,
                    error: Some(format!("vantage {} failed: {message}", v.vantage)),
                });
            }
            // A vantage point that failed itself is a failed vantage point,
            // never a silent one: silence abroad would read as a geo-block.
            VantageOutcome::Probed(p) if own_failure(p, ctx.method).is_some() => {
                let detail = own_failure(p, ctx.method).unwrap_or_default();
                let error = format!("vantage {} failed: {detail}", v.vantage);
                views.push(VantageView {
                    name: v.vantage.clone(),
                    kind: v.kind,
                    overseas: v.overseas,
                    answered: false,
                    error: Some(error.clone()),
                    addresses: p.resolved.as_ref().map(|r| r.addresses.clone()),
                    ports: p.ports.iter().map(|port| port_view(port, false)).collect(),
                });
                judged.push(Judged {
                    name: &v.vantage,
                    overseas: v.overseas,
                    probe: None,
                    answered: false,
                    error: Some(error),
                });
            }
            VantageOutcome::Probed(p) => {
                let mut ports = Vec::new();
                let mut any_validates = false;
                let mut any_answered = false;
                let mut this_problems = Vec::new();
                for port in &p.ports {
                    let result = port_problem(port, ctx, obs);
                    let counted = counts(ctx.method, port.scheme);
                    if counted && answered(port) {
                        any_answered = true;
                    }
                    if counted && result.is_ok() {
                        any_validates = true;
                    }
                    if let Err(problem) = &result {
                        this_problems.push((port.scheme, problem.clone(), counted));
                    }
                    ports.push(port_view(port, result.is_ok()));
                }
                if any_answered {
                    for (scheme, problem, counted) in this_problems {
                        // Only chains that answered say something about the
                        // site's set-up; silence is the verdict's business.
                        if matches!(problem, PortProblem::NoAnswer(..)) && !counted {
                            continue;
                        }
                        let text = problem.explain(ctx, obs);
                        let blocking = !any_validates && counted;
                        match port_problems.iter_mut().find(|(s, p, t, ..)| {
                            *s == scheme && p.code() == problem.code() && *t == text
                        }) {
                            Some(entry) => {
                                entry.3.push(v.vantage.clone());
                                entry.4 |= blocking;
                            }
                            None => port_problems.push((
                                scheme,
                                problem,
                                text,
                                vec![v.vantage.clone()],
                                blocking,
                            )),
                        }
                    }
                }
                views.push(VantageView {
                    name: v.vantage.clone(),
                    kind: v.kind,
                    overseas: v.overseas,
                    answered: any_answered,
                    error: None,
                    addresses: p.resolved.as_ref().map(|r| r.addresses.clone()),
                    ports,
                });
                judged.push(Judged {
                    name: &v.vantage,
                    overseas: v.overseas,
                    probe: Some(p),
                    answered: any_answered,
                    error: None,
                });
            }
        }
    }

    // No address at all, from wherever the name was resolved: nothing to
    // connect to (a CA resolves A and AAAA first).
    let no_address = judged
        .iter()
        .filter_map(|j| j.probe)
        .any(|p| p.resolved.as_ref().is_some_and(|r| r.addresses.is_empty()));
    if no_address {
        problems.push("no_address".into());
        findings.push(Finding {
            check: CheckKind::Reach,
            severity: Severity::Blocking,
            summary: format!("{name} has no A or AAAA record, so no CA can fetch a validation file from it"),
            remedy: Some(format!(
                "publish an A (and/or AAAA) record for {name} pointing at the web server that serves {}",
                obs.target.path
            )),
        });
    }

    let usable: Vec<&Judged> = judged.iter().filter(|j| j.probe.is_some()).collect();
    let failed_vantages: Vec<&Judged> = judged.iter().filter(|j| j.probe.is_none()).collect();
    let any_overseas_configured = judged.iter().any(|j| j.overseas);
    let usable_overseas = usable.iter().filter(|j| j.overseas).count();
    let answered: Vec<&&Judged> = usable.iter().filter(|j| j.answered).collect();
    let silent: Vec<&&Judged> = usable.iter().filter(|j| !j.answered).collect();
    let silent_overseas: Vec<&&Judged> = silent.iter().filter(|j| j.overseas).copied().collect();
    let list = |js: &[&&Judged]| js.iter().map(|j| j.name).collect::<Vec<_>>().join(", ");

    let (verdict, reason) = if usable.is_empty() {
        (
            ReachVerdictKind::Error,
            format!(
                "no vantage point could probe {name}: {}",
                failures_text(&failed_vantages)
            ),
        )
    } else if answered.is_empty() {
        (
            ReachVerdictKind::Unreachable,
            format!(
                "{name} gave no HTTP answer on ports {} and {} to any vantage point ({})",
                obs.target.ports.http,
                obs.target.ports.https,
                list(&silent)
            ),
        )
    } else if !silent_overseas.is_empty() {
        (
            ReachVerdictKind::GeoBlocked,
            format!(
                "{name} looks geo-blocked: it answers {} but not {} (overseas), where CAs validate from",
                list(&answered),
                list(&silent_overseas)
            ),
        )
    } else if any_overseas_configured && usable_overseas == 0 {
        (
            ReachVerdictKind::Error,
            format!(
                "{name} answers {}, but no overseas vantage point could probe it ({}), so a geo-block cannot be ruled out",
                list(&answered),
                failures_text(&failed_vantages)
            ),
        )
    } else {
        let mut reason = format!(
            "{name} answers every vantage point that probed it ({})",
            list(&answered)
        );
        if !silent.is_empty() {
            let _ = write!(reason, ", except {} in the mainland", list(&silent));
        }
        (ReachVerdictKind::Reachable, reason)
    };

    let remedy = verdict
        .blocks_issuance()
        .then(|| open_up_remedy(name, obs, ctx));
    match verdict {
        ReachVerdictKind::GeoBlocked | ReachVerdictKind::Unreachable => {
            problems.push(verdict.as_str().into());
            findings.push(Finding {
                check: CheckKind::Reach,
                severity: Severity::Blocking,
                summary: format!(
                    "file validation will fail: {reason}{}",
                    failure_digest(&judged)
                ),
                remedy: remedy.clone(),
            });
        }
        ReachVerdictKind::Error => {
            problems.push("vantage_error".into());
            findings.push(Finding {
                check: CheckKind::Reach,
                severity: Severity::Warning,
                summary: reason.clone(),
                remedy: Some(
                    "check that the agent, proxy or measurement service named is running and its token is right; until then overseas reachability is unknown".into(),
                ),
            });
        }
        ReachVerdictKind::Reachable => {
            if !silent.is_empty() {
                problems.push("domestic_silent".into());
                findings.push(Finding {
                    check: CheckKind::Reach,
                    severity: Severity::Warning,
                    summary: format!(
                        "{name} gave no HTTP answer to {} (not overseas); CAs validate from abroad, so this does not block issuance",
                        list(&silent)
                    ),
                    remedy: None,
                });
            }
        }
    }
    if verdict != ReachVerdictKind::Error && !failed_vantages.is_empty() {
        problems.push("vantage_error".into());
        findings.push(Finding {
            check: CheckKind::Reach,
            severity: Severity::Warning,
            summary: format!(
                "vantage point(s) could not probe {name} ({}); the verdict rests on the others",
                failures_text(&failed_vantages)
            ),
            remedy: Some(
                "see the vantage error in the reach section and fix the agent, proxy or token"
                    .into(),
            ),
        });
    }
    if !any_overseas_configured {
        findings.push(Finding {
            check: CheckKind::Reach,
            severity: Severity::Info,
            summary: format!(
                "{name} was probed from this host only; a block that applies only abroad, where CAs validate from, cannot be seen"
            ),
            remedy: Some(
                "add a [[vantage]] with overseas = true (an agent, a proxy or globalping)".into(),
            ),
        });
    }

    for (scheme, problem, text, vantages, blocking) in port_problems {
        if matches!(problem, PortProblem::NoAnswer(..)) {
            // The other port answered the same vantage point.
            problems.push(format!("{}_closed", scheme.as_str()));
            findings.push(Finding {
                check: CheckKind::Reach,
                severity: Severity::Warning,
                summary: format!(
                    "{}://{name}:{} gave {text} to {}, while the other port answered; a CA that tries this port first may fail",
                    scheme.as_str(),
                    obs.target.ports.of(scheme),
                    vantages.join(", ")
                ),
                remedy: Some(format!(
                    "open TCP port {} to all regions, or make it answer the validation path",
                    obs.target.ports.of(scheme)
                )),
            });
            continue;
        }
        problems.push(format!("{}_{}", scheme.as_str(), problem.code()));
        let severity = if blocking && problem.is_configuration() {
            Severity::Blocking
        } else {
            Severity::Warning
        };
        findings.push(Finding {
            check: CheckKind::Reach,
            severity,
            summary: format!(
                "{}://{name}{}: {text} (seen from {})",
                scheme.as_str(),
                obs.target.path,
                vantages.join(", ")
            ),
            remedy: Some(chain_remedy(&problem, name, obs)),
        });
    }

    ReachVerdict {
        verdict,
        name: name.to_string(),
        path: obs.target.path.clone(),
        method: ctx.method,
        reason,
        remedy,
        vantages: views,
        findings,
        problems,
    }
}

/// ` (hk-agent: http timeout, https timeout)` for the vantage points that
/// got no answer.
fn failure_digest(judged: &[Judged]) -> String {
    let parts: Vec<String> = judged
        .iter()
        .filter(|j| !j.answered)
        .filter_map(|j| {
            let p = j.probe?;
            let ports: Vec<String> = p
                .ports
                .iter()
                .filter_map(|port| match port.hops.first().map(|h| &h.outcome) {
                    Some(HopOutcome::Failed { failure, .. }) => {
                        Some(format!("{} {}", port.scheme.as_str(), failure.as_str()))
                    }
                    _ => None,
                })
                .collect();
            Some(format!("{}: {}", j.name, ports.join(", ")))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

/// What to open, and the warning about allow-lists (BR §3.2.2.9: CAs
/// corroborate validation from several network perspectives).
fn open_up_remedy(name: &str, obs: &ReachObservation, ctx: &JudgeContext) -> String {
    let ports = obs.target.ports;
    let mut text = format!(
        "open TCP ports {} and {} of {name} to all regions, not only the mainland (firewall, security group, CDN or WAF geo rules), so that http://{name}{} can be fetched from abroad.",
        ports.http, ports.https, obs.target.path
    );
    if ctx.scanner_ips.is_empty() {
        let _ = write!(
            text,
            "\nIf you must allow-list, {} publishes no scanner addresses in certvigil's catalogue; ask the CA.",
            ctx.ca
        );
    } else {
        let ips: Vec<String> = ctx.scanner_ips.iter().map(IpAddr::to_string).collect();
        let _ = write!(
            text,
            "\nIf you must allow-list, allow at least the validation scanner addresses published for {}: {}.",
            ctx.ca,
            ips.join(", ")
        );
    }
    text.push_str(
        "\nCAs now validate from several regions (multi-perspective issuance corroboration, BR §3.2.2.9), and scanner addresses change, so allow-listing addresses alone is fragile; or validate by DNS instead.",
    );
    text
}

fn chain_remedy(problem: &PortProblem, name: &str, obs: &ReachObservation) -> String {
    let ports = obs.target.ports;
    match problem {
        PortProblem::Redirect(_) | PortProblem::RedirectLoop(_) | PortProblem::OtherDomain(_)
        | PortProblem::TooManyRedirects(_) => format!(
            "serve {} directly (or with at most one 301/302/307/308 redirect to http(s)://{name} on port {} or {}); exempt /.well-known/ from site-wide redirects",
            obs.target.path, ports.http, ports.https
        ),
        PortProblem::Unfollowed => {
            "probe from an agent or proxy too, which follow redirects, or serve the file without redirecting".into()
        }
        PortProblem::Status(_) | PortProblem::ContentMismatch | PortProblem::BodyTooLarge(_) => format!(
            "place the file at {} in the web root of {name} and make sure no application route, rewrite rule or CDN page answers that path instead",
            obs.target.path
        ),
        PortProblem::NoAnswer(..) => format!("open ports {} and {}", ports.http, ports.https),
    }
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;

/// Reachability in the shared store: a change of the fingerprint (verdict
/// and kinds of problem) is an event; a probe that could not run at all
/// (`error`) keeps the last observed state.
impl crate::checks::state::Observed for ReachVerdict {
    const CHECK: crate::findings::CheckKind = crate::findings::CheckKind::Reach;
    const EVENTS: crate::checks::state::EventNames = crate::checks::state::EventNames {
        change: "reach_change",
        error: "probe_error",
        recovered: "probe_recovered",
    };

    fn status_word(&self) -> &'static str {
        self.verdict.as_str()
    }

    fn blocks(&self) -> bool {
        self.blocks_issuance()
    }

    fn fingerprint(&self) -> Option<Vec<u8>> {
        (self.verdict != ReachVerdictKind::Error).then(|| self.fingerprint().into_bytes())
    }

    fn error_message(&self) -> Option<String> {
        (self.verdict == ReachVerdictKind::Error).then(|| self.reason.clone())
    }
}
