//! The order judge: a pure function from what was observed about one order
//! (its source's report, its status timeline and recorded CA notices, its
//! validation and CAA checks) to the conditions that hold now, each an
//! [`OrderEvent`] with the words a person needs. No I/O, no clock: `now` is
//! an argument.
//!
//! The rules, in order:
//! 1. issued (the status, or the provider's `Issued` flag / `issued` log)
//!    resolves the order: `order_issued`, nothing else;
//! 2. refused by the CA: `order_failed`, with the CA's message;
//! 3. for a pending order:
//!    - `order_blocked` when it can never issue as things stand: CAA
//!      forbids its CA for a name (at once: RFC 8659 §3, checked by the CA
//!      right before issuance); the validation record is missing, wrong or
//!      unreachable while validation is still needed; file validation asked
//!      for a wildcard (BR §3.2.2.4.18 forbids it); a warning (not a block)
//!      when a view of the record says it may not be found (a lame server)
//!      or could not be asked (its zone's delegation was not found);
//!    - `order_deadline` when a validation deadline or the order's expiry
//!      is near or past;
//!    - `order_stuck` when a status has held longer than is usual for its
//!      kind, when validation passed but issuance did not follow, or when a
//!      CA notice was recorded and the console has not moved since.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::validation::{ValidationCheck, ValidationOutcome, judge_views};
use super::{
    OrderKey, OrderObservation, Phase, Requirement, SourceKind, ValidationMethod, human_duration,
};
use crate::checks::caa::{CaaVerdict, CaaVerdictKind};
use crate::checks::risk::RiskAssessment;
use crate::domain::CertName;
use crate::findings::Severity;

/// How long each status may hold before the order counts as stuck. The
/// defaults follow what the CAs and Tencent Cloud publish as usual times:
/// DV orders validate within minutes of the record appearing and issue
/// within hours; OV/EV review (organisation checks, call-backs) takes
/// 1-5 working days.
///
/// The configuration's `[order_thresholds]` table sets any of them by the
/// field's name (`config::Config::order_thresholds` is resolved over
/// `Thresholds::default()`, the one place the defaults live).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// Waiting for validation with a record the user publishes (DNS, file,
    /// ACME challenges the user answers): a day to publish it.
    pub awaiting_validation_manual: Duration,
    /// Waiting for validation with a record the provider publishes itself
    /// (Tencent DNS_AUTO): it should pass within an hour or two.
    pub awaiting_validation_auto: Duration,
    /// Waiting for the applicant to answer an email validation.
    pub awaiting_validation_email: Duration,
    /// Review of a DV order.
    pub reviewing_dv: Duration,
    /// Review of an OV/EV order (or one whose type is unknown).
    pub reviewing_ov: Duration,
    /// Waiting for documents or a confirmation letter from the applicant.
    pub submitting: Duration,
    /// Validation passed (or WAIT-ISSUE, ACME `ready`/`processing`) but not
    /// issued yet.
    pub validated_not_issued: Duration,
    /// A CA notice was recorded and the console has not moved since.
    pub notice_lag: Duration,
    /// After the stuck signal, how long before contacting support is the
    /// advice rather than waiting.
    pub contact_support_after: Duration,
    /// Warn this long before a deadline.
    pub deadline_warning: Duration,
    /// Within this of a deadline, the warning becomes blocking.
    pub deadline_urgent: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        let h = |n: u64| Duration::from_secs(n * 3600);
        Self {
            awaiting_validation_manual: h(24),
            awaiting_validation_auto: h(2),
            awaiting_validation_email: h(72),
            reviewing_dv: h(24),
            reviewing_ov: h(5 * 24),
            submitting: h(72),
            validated_not_issued: h(2),
            notice_lag: h(6),
            contact_support_after: h(24),
            deadline_warning: h(72),
            deadline_urgent: h(24),
        }
    }
}

impl Thresholds {
    /// How long `phase` may hold for an order validated by `method`.
    pub fn for_phase(
        &self,
        phase: Phase,
        method: Option<&ValidationMethod>,
        is_dv: Option<bool>,
    ) -> Option<Duration> {
        match phase {
            Phase::AwaitingValidation => Some(match method {
                Some(ValidationMethod::DnsAuto) => self.awaiting_validation_auto,
                Some(ValidationMethod::Email) => self.awaiting_validation_email,
                _ => self.awaiting_validation_manual,
            }),
            Phase::Reviewing => Some(if is_dv == Some(true) {
                self.reviewing_dv
            } else {
                self.reviewing_ov
            }),
            Phase::Submitting => Some(self.submitting),
            Phase::Validated => Some(self.validated_not_issued),
            Phase::Other => Some(self.reviewing_ov),
            _ => None,
        }
    }
}

/// What a CA notice said, as the user recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The order is under review (e.g. a call-back or document request).
    Review,
    /// The CA says validation passed.
    ValidationPassed,
    /// The CA says the certificate is issued.
    Issued,
    /// The CA refused the order.
    Failed,
    Other,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Review => "review",
            NoticeKind::ValidationPassed => "validation_passed",
            NoticeKind::Issued => "issued",
            NoticeKind::Failed => "failed",
            NoticeKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.replace('-', "_").as_str() {
            "review" => NoticeKind::Review,
            "validation_passed" => NoticeKind::ValidationPassed,
            "issued" => NoticeKind::Issued,
            "failed" => NoticeKind::Failed,
            "other" => NoticeKind::Other,
            _ => return None,
        })
    }
}

/// A notice from the CA the user recorded (`certvigil orders notice`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// When the CA sent it.
    pub at: DateTime<Utc>,
    pub kind: NoticeKind,
    pub note: Option<String>,
}

/// What the store knows about the order's past.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderHistory {
    /// Since when the current status (by its code) has held.
    pub status_since: DateTime<Utc>,
    pub notices: Vec<Notice>,
}

/// The CAA verdict for one name of the order and its CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaaCheck {
    pub name: CertName,
    pub verdict: CaaVerdict,
}

/// What was checked for the order this run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderChecks {
    pub validation: Vec<ValidationCheck>,
    pub caa: Vec<CaaCheck>,
    /// Manual-review risk of its names, flagged ones only.
    pub risk: Vec<(CertName, RiskAssessment)>,
}

/// The alert events of docs/contracts.md ("The webhook body") for orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderEventKind {
    OrderBlocked,
    OrderStuck,
    OrderDeadline,
    OrderFailed,
    OrderIssued,
}

impl OrderEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderEventKind::OrderBlocked => "order_blocked",
            OrderEventKind::OrderStuck => "order_stuck",
            OrderEventKind::OrderDeadline => "order_deadline",
            OrderEventKind::OrderFailed => "order_failed",
            OrderEventKind::OrderIssued => "order_issued",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "order_blocked" => OrderEventKind::OrderBlocked,
            "order_stuck" => OrderEventKind::OrderStuck,
            "order_deadline" => OrderEventKind::OrderDeadline,
            "order_failed" => OrderEventKind::OrderFailed,
            "order_issued" => OrderEventKind::OrderIssued,
            _ => return None,
        })
    }
}

/// One condition of one order, ready to alert on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    pub kind: OrderEventKind,
    pub severity: Severity,
    pub key: OrderKey,
    pub display_name: String,
    /// The certificate's names.
    pub names: Vec<String>,
    /// The CA as people call it.
    pub ca: String,
    /// One line: what, which order, for how long.
    pub summary: String,
    /// Why, in sentences.
    pub reason: String,
    /// What to do, when something can be done.
    pub remedy: Option<String>,
    /// Since when the condition holds, as far as known.
    pub since: DateTime<Utc>,
    /// What distinguishes this condition from another of the same kind (a
    /// different record missing, a later status stuck): a change re-alerts.
    pub fingerprint: String,
}

/// Judges one order. Pure.
pub fn judge(
    obs: &OrderObservation,
    history: &OrderHistory,
    checks: &OrderChecks,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Vec<OrderEvent> {
    let ctx = Ctx { obs, now };
    if obs.status.phase == Phase::Issued
        || (obs.signals.issued_reported && obs.status.phase.is_pending())
    {
        return vec![issued(&ctx, history)];
    }
    if obs.status.phase == Phase::Failed {
        return vec![failed(&ctx, history)];
    }
    if !obs.status.phase.is_pending() {
        return Vec::new();
    }
    let mut events = Vec::new();
    if let Some(e) = blocked(&ctx, checks) {
        events.push(e);
    }
    if let Some(e) = deadline(&ctx, thresholds) {
        events.push(e);
    }
    if let Some(e) = stuck(&ctx, history, checks, thresholds) {
        events.push(e);
    }
    events
}

/// The words of an event.
struct Said {
    summary: String,
    reason: String,
    remedy: Option<String>,
}

struct Ctx<'a> {
    obs: &'a OrderObservation,
    now: DateTime<Utc>,
}

impl Ctx<'_> {
    fn event(
        &self,
        kind: OrderEventKind,
        severity: Severity,
        said: Said,
        since: DateTime<Utc>,
        fingerprint: String,
    ) -> OrderEvent {
        let Said {
            summary,
            reason,
            remedy,
        } = said;
        OrderEvent {
            kind,
            severity,
            key: self.obs.key.clone(),
            display_name: self.obs.display_name.clone(),
            names: self.obs.names.iter().map(ToString::to_string).collect(),
            ca: self.ca(),
            summary,
            reason,
            remedy,
            since,
            fingerprint,
        }
    }

    fn ca(&self) -> String {
        match (&self.obs.ca, self.obs.ca_label.is_empty()) {
            (Some(ca), _) => ca.display.clone(),
            (None, false) => self.obs.ca_label.clone(),
            (None, true) => "the CA".into(),
        }
    }

    /// `order tencent/abc123 (www.example.com)`.
    fn order(&self) -> String {
        if self.obs.display_name == self.obs.key.id {
            format!("order {}", self.obs.key)
        } else {
            format!("order {} ({})", self.obs.key, self.obs.display_name)
        }
    }

    fn ago(&self, t: DateTime<Utc>) -> String {
        human_duration(self.now - t)
    }
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn issued(ctx: &Ctx<'_>, history: &OrderHistory) -> OrderEvent {
    let obs = ctx.obs;
    let since = obs.signals.issued_at.unwrap_or(history.status_since);
    let reason = if obs.status.phase == Phase::Issued {
        format!("The provider reports the order {}.", obs.status.label)
    } else {
        format!(
            "The provider reports the certificate issued (its verification check says Issued, or its log has an `issued` entry) while the order's status still reads {}: the console lags the CA.",
            obs.status.label
        )
    };
    ctx.event(
        OrderEventKind::OrderIssued,
        Severity::Info,
        Said {
            summary: format!("{} by {} is issued", ctx.order(), ctx.ca()),
            reason,
            remedy: Some(
                "Download and deploy the certificate; certvigil stops following this order.".into(),
            ),
        },
        since,
        "issued".into(),
    )
}

fn failed(ctx: &Ctx<'_>, history: &OrderHistory) -> OrderEvent {
    let obs = ctx.obs;
    let message = obs
        .failure
        .clone()
        .unwrap_or_else(|| "the CA gave no reason".into());
    ctx.event(OrderEventKind::OrderFailed, Severity::Blocking, Said { summary: format!("{} was refused by {}: {message}", ctx.order(), ctx.ca()), reason: format!(
            "The order's status is {}; a refused order does not resume. The CA said: {message}",
            obs.status.label
        ), remedy: Some(
            "Fix what the CA's message names (a CAA record, the validation record, the names' review), then place a new order."
                .into(),
        ) }, history.status_since, format!("failed:{}", obs.status.code))
}

/// Whether the order still needs its validation record: not once anything
/// says validation passed, nor after the status moved past it.
fn needs_validation(obs: &OrderObservation) -> bool {
    !obs.signals.validation_passed()
        && matches!(
            obs.status.phase,
            Phase::AwaitingValidation | Phase::Reviewing | Phase::Submitting
        )
}

fn blocked(ctx: &Ctx<'_>, checks: &OrderChecks) -> Option<OrderEvent> {
    let obs = ctx.obs;
    let mut causes: Vec<String> = Vec::new();
    let mut fixes: Vec<String> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut severity = Severity::Warning;
    let mut first_summary: Option<String> = None;
    // A view that could not be asked: said, but never the reason the order
    // cannot issue (the summary when nothing else holds).
    let mut unasked_summary: Option<String> = None;

    for c in &checks.caa {
        match c.verdict.verdict {
            CaaVerdictKind::Forbidden => {
                severity = Severity::Blocking;
                first_summary
                    .get_or_insert_with(|| format!("CAA forbids {} for {}", ctx.ca(), c.name));
                causes.push(format!("CAA: {}", c.verdict.reason));
                if let Some(r) = &c.verdict.remedy {
                    fixes.push(r.clone());
                }
                keys.push(format!("caa:{}:forbidden", c.name));
            }
            CaaVerdictKind::Error => {
                first_summary.get_or_insert_with(|| {
                    format!(
                        "the CAA lookup for {} fails, which {} treats as a refusal",
                        c.name,
                        ctx.ca()
                    )
                });
                causes.push(format!("CAA: {}", c.verdict.reason));
                if let Some(r) = &c.verdict.remedy {
                    fixes.push(r.clone());
                }
                keys.push(format!("caa:{}:error", c.name));
            }
            CaaVerdictKind::Allowed => {}
        }
    }

    if obs.method == Some(ValidationMethod::File) {
        for n in obs.names.iter().filter(|n| n.is_wildcard()) {
            severity = Severity::Blocking;
            first_summary.get_or_insert_with(|| format!("file validation cannot validate {n}"));
            causes.push(format!(
                "{n} is a wildcard name, and a CA may not validate a wildcard through a file (BR §3.2.2.4.18; Tencent Cloud offers no file validation for wildcards)."
            ));
            fixes.push("Cancel this order and place it again with DNS validation.".into());
            keys.push(format!("file-wildcard:{n}"));
        }
    }

    if needs_validation(obs) {
        for v in &checks.validation {
            let record = record_word(&v.requirement.requirement);
            let described = v.requirement.requirement.describe();
            // What the zone's servers and the perspectives abroad add
            // (issue 13): the CA may look where home did not.
            for c in judge_views(v) {
                if c.severity == Severity::Blocking {
                    severity = Severity::Blocking;
                }
                if c.unasked {
                    unasked_summary.get_or_insert_with(|| c.summary.clone());
                } else {
                    first_summary.get_or_insert_with(|| {
                        format!(
                            "the validation {record} for {} is not seen everywhere the CA looks",
                            v.requirement.for_name
                        )
                    });
                }
                causes.push(format!(
                    "The CA validates {} with the {described}; {}.",
                    v.requirement.for_name, c.summary
                ));
                fixes.push(c.remedy);
                keys.push(format!("validation:{described}:{}", c.key));
            }
            if let ValidationOutcome::Bogus { cause } = &v.outcome {
                // The CAA path's words (`checks::caa::explain`): the same
                // cause and the same fix, for the validation lookup.
                severity = Severity::Blocking;
                let name = v
                    .requirement
                    .requirement
                    .dns_name()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                first_summary.get_or_insert_with(|| {
                    format!(
                        "the validation {record} for {} is DNSSEC-bogus",
                        v.requirement.for_name
                    )
                });
                causes.push(format!(
                    "The CA validates {} with the {described}; the answer for {name} is DNSSEC-bogus: {}. Every CA validates DNSSEC for domain-validation lookups (CA/B ballot SC-085v2) and refuses while the chain is broken, whatever the record holds.",
                    v.requirement.for_name,
                    cause.describe()
                ));
                fixes.push(cause.fix());
                keys.push(format!("validation:{described}:dnssec-bogus"));
                continue;
            }
            if !v.outcome.blocks() {
                continue;
            }
            severity = Severity::Blocking;
            let (what, detail) = match &v.outcome {
                ValidationOutcome::Missing { detail } => ("missing", detail.clone()),
                ValidationOutcome::Wrong { found, detail } => {
                    ("wrong", format!("{detail} (found: {})", found.join(", ")))
                }
                ValidationOutcome::Unreachable { detail } => ("unreachable", detail.clone()),
                _ => continue,
            };
            first_summary.get_or_insert_with(|| {
                format!(
                    "the validation {} for {} is {what}",
                    record_word(&v.requirement.requirement),
                    v.requirement.for_name
                )
            });
            causes.push(format!(
                "The CA validates {} with the {}; here it is {what}: {detail}.",
                v.requirement.for_name,
                v.requirement.requirement.describe()
            ));
            fixes.push(validation_fix(obs, &v.requirement.requirement));
            keys.push(format!(
                "validation:{}:{what}",
                v.requirement.requirement.describe()
            ));
        }
    }

    let more = if causes.len() > 1 {
        format!(" (and {} more)", causes.len() - 1)
    } else {
        String::new()
    };
    let summary = match (first_summary, unasked_summary) {
        (Some(first), _) => {
            let verdict = if severity == Severity::Blocking {
                "can never issue as things stand"
            } else {
                "cannot issue while this lasts"
            };
            format!("{} {verdict}: {first}{more}", ctx.order())
        }
        // Only views that could not be asked: a warning that says so,
        // not that the order cannot issue.
        (None, Some(unasked)) => format!("{}: {unasked}{more}", ctx.order()),
        (None, None) => return None,
    };
    fixes.dedup();
    Some(ctx.event(
        OrderEventKind::OrderBlocked,
        severity,
        Said {
            summary,
            reason: causes.join(" "),
            remedy: Some(fixes.join(" ")),
        },
        ctx.now,
        keys.join("|"),
    ))
}

fn record_word(r: &Requirement) -> &'static str {
    match r {
        Requirement::DnsTxt { .. } => "TXT record",
        Requirement::DnsCname { .. } => "CNAME record",
        Requirement::File { .. } => "file",
    }
}

fn validation_fix(obs: &OrderObservation, r: &Requirement) -> String {
    let auto = obs.method == Some(ValidationMethod::DnsAuto);
    match r {
        Requirement::DnsTxt { name, value } if auto => format!(
            "Tencent Cloud adds the TXT record {name} = \"{value}\" itself only when the zone is hosted in Tencent Cloud DNS (DNSPod) under the same account; otherwise add it at your DNS provider."
        ),
        Requirement::DnsTxt { name, value } => format!(
            "Publish a TXT record at {name} with the value \"{value}\" exactly, at the DNS provider authoritative for the zone; the CA re-checks it on its schedule."
        ),
        Requirement::DnsCname { name, target } => format!(
            "Publish a CNAME record at {name} pointing to {target} (no other record may exist at {name})."
        ),
        Requirement::File { url, content } => format!(
            "Serve {url} with exactly \"{content}\" as the body, with status 200, over http (port 80) or https (port 443), reachable from outside the mainland (the CA's scanners are abroad); redirects only within the same site."
        ),
    }
}

fn deadline(ctx: &Ctx<'_>, t: &Thresholds) -> Option<OrderEvent> {
    let obs = ctx.obs;
    let validated = obs.signals.validation_passed() || obs.status.phase == Phase::Validated;
    let d = obs
        .deadlines
        .iter()
        .filter(|d| !(d.until_validated && validated))
        .min_by_key(|d| d.at)?;
    let left = d.at - ctx.now;
    if left > chrono_of(t.deadline_warning) {
        return None;
    }
    if left <= chrono::Duration::zero() {
        return Some(ctx.event(
            OrderEventKind::OrderDeadline,
            Severity::Blocking,
            Said {
                summary: format!("{}: the deadline passed {} ago", ctx.order(), ctx.ago(d.at)),
                reason: format!(
                    "At {} {}. The order is still {}.",
                    fmt_time(d.at),
                    d.what,
                    obs.status.label
                ),
                remedy: Some(
                    "Place the order again; complete validation before its deadline.".into(),
                ),
            },
            d.at,
            format!("deadline:{}:passed", d.at.timestamp()),
        ));
    }
    let urgent = left <= chrono_of(t.deadline_urgent);
    Some(ctx.event(OrderEventKind::OrderDeadline, if urgent {
            Severity::Blocking
        } else {
            Severity::Warning
        }, Said { summary: format!(
            "{}: {} left before its deadline at {}",
            ctx.order(),
            human_duration(left),
            fmt_time(d.at)
        ), reason: format!(
            "At {} {}. The order is {}.",
            fmt_time(d.at),
            d.what,
            obs.status.label
        ), remedy: Some(
            "Complete validation before then: publish the validation record (see `certvigil orders show`), and make sure nothing blocks the order."
                .into(),
        ) }, ctx.now, format!(
            "deadline:{}:{}",
            d.at.timestamp(),
            if urgent { "urgent" } else { "near" }
        )))
}

/// Why the order is stuck, most specific first.
enum StuckCause<'a> {
    /// A CA notice recorded, the console has not moved since.
    Notice(&'a Notice),
    /// Validation passed (by some signal), not issued.
    Validated { at: DateTime<Utc>, how: String },
    /// The status held longer than usual.
    Held { limit: Duration },
}

fn stuck(
    ctx: &Ctx<'_>,
    history: &OrderHistory,
    checks: &OrderChecks,
    t: &Thresholds,
) -> Option<OrderEvent> {
    let obs = ctx.obs;
    let now = ctx.now;
    // A notice counts when the console has not moved since it: the status
    // held from before the notice.
    let notice = history
        .notices
        .iter()
        .filter(|n| history.status_since <= n.at && n.at <= now)
        .max_by_key(|n| n.at);
    let validated = validated_signal(obs, history);

    let (cause, since) = if let Some(n) = notice.filter(|n| now - n.at >= chrono_of(t.notice_lag)) {
        (StuckCause::Notice(n), n.at)
    } else if let Some((at, how)) =
        validated.filter(|(at, _)| now - *at >= chrono_of(t.validated_not_issued))
    {
        (StuckCause::Validated { at, how }, at)
    } else {
        let limit = t.for_phase(obs.status.phase, obs.method.as_ref(), obs.is_dv)?;
        if now - history.status_since < chrono_of(limit) {
            return None;
        }
        (StuckCause::Held { limit }, history.status_since)
    };

    // The status has held at least since the cause began: a notice that
    // itself moved the status (a manual order's `validation-passed`) is
    // older than the status row that records the move.
    let held = ctx.ago(history.status_since.min(since));
    let support_at = since + chrono_of(t.contact_support_after);
    let support_now = now >= support_at;
    let what_next = next_step(obs, support_now, support_at);
    let risk = risk_note(checks);

    let (summary, reason, fingerprint) = match &cause {
        StuckCause::Notice(n) => (
            format!(
                "{} has not moved for {} since {}'s notice; the console may lag the CA",
                ctx.order(),
                ctx.ago(n.at),
                ctx.ca()
            ),
            format!(
                "The CA sent a notice at {}{}, and the order still shows {} (unchanged for {held}). The provider's console may lag the CA: it reflects the CA's state only when it next synchronises, so a CA email about review, passed validation or issuance can arrive hours before the console changes.{risk}",
                fmt_time(n.at),
                n.note
                    .as_deref()
                    .map(|s| format!(" (\"{s}\")"))
                    .unwrap_or_default(),
                obs.status.label
            ),
            format!("stuck:{}:notice:{}", obs.status.code, n.at.timestamp()),
        ),
        StuckCause::Validated { at, how } => (
            format!(
                "{} passed validation {} ago but is not issued",
                ctx.order(),
                ctx.ago(*at)
            ),
            format!(
                "{how} at {}, yet the order still shows {} (unchanged for {held}). Issuance usually follows validation within minutes to a couple of hours; the console may lag the CA.{risk}",
                fmt_time(*at),
                obs.status.label
            ),
            format!("stuck:{}:validated", obs.status.code),
        ),
        StuckCause::Held { limit } => (
            format!("{} has been {} for {held}", ctx.order(), obs.status.label),
            format!(
                "The status has held for {held}, longer than the usual {} for {}.{}{risk}",
                human_duration(chrono_of(*limit)),
                phase_kind(obs),
                held_hint(obs, checks)
            ),
            format!("stuck:{}:held", obs.status.code),
        ),
    };
    Some(ctx.event(
        OrderEventKind::OrderStuck,
        Severity::Warning,
        Said {
            summary,
            reason,
            remedy: Some(what_next),
        },
        since,
        fingerprint,
    ))
}

/// When and how validation is known to have passed without issuance.
fn validated_signal(
    obs: &OrderObservation,
    history: &OrderHistory,
) -> Option<(DateTime<Utc>, String)> {
    let s = &obs.signals;
    if let Some(at) = s.validation_passed_at {
        // The signal may be the user's own notice (a manual order's status
        // is what its notices say): quote it as such, never as a provider
        // log the user would go looking for.
        let notice = history
            .notices
            .iter()
            .find(|n| n.kind == NoticeKind::ValidationPassed && n.at == at);
        if let Some(n) = notice {
            return Some((
                at,
                format!(
                    "Your recorded notice says the CA passed validation{}",
                    n.note
                        .as_deref()
                        .map(|s| format!(" (\"{s}\")"))
                        .unwrap_or_default()
                ),
            ));
        }
        if obs.kind == SourceKind::Manual {
            return Some((
                at,
                "Your recorded notice says the CA passed validation".into(),
            ));
        }
        return Some((
            at,
            "The provider logged that domain validation passed (domainValidationPassed)".into(),
        ));
    }
    if s.ca_check_passed {
        return Some((
            history.status_since,
            "The CA's own check of the validation record passed (CaCheck)".into(),
        ));
    }
    if obs.status.phase == Phase::Validated {
        return Some((
            history.status_since,
            format!("The order reached {}", obs.status.label),
        ));
    }
    None
}

fn phase_kind(obs: &OrderObservation) -> String {
    let method = obs
        .method
        .as_ref()
        .map(|m| format!(" with {} validation", m.as_str()))
        .unwrap_or_default();
    let dv = match obs.is_dv {
        Some(true) => "a DV order",
        Some(false) => "an OV/EV order",
        None => "an order",
    };
    format!("{dv}{method} in this status")
}

fn held_hint(obs: &OrderObservation, checks: &OrderChecks) -> String {
    match obs.status.phase {
        Phase::AwaitingValidation => {
            let all_in_place = !checks.validation.is_empty()
                && checks
                    .validation
                    .iter()
                    .all(|v| v.outcome == ValidationOutcome::InPlace && judge_views(v).is_empty());
            let mut s = if all_in_place {
                format!(
                    " The validation record is in place as the CA will look for it{}, so the CA has probably not re-checked yet.",
                    dnssec_words(&checks.validation)
                )
            } else {
                String::new()
            };
            if !obs.signals.provider_check_failures.is_empty() {
                let list: Vec<String> = obs
                    .signals
                    .provider_check_failures
                    .iter()
                    .map(|(d, r)| format!("{d}: {r}"))
                    .collect();
                s.push_str(&format!(
                    " The provider's own check reports: {}.",
                    list.join("; ")
                ));
            }
            s
        }
        Phase::Submitting => {
            " The order waits for the applicant: documents, a confirmation letter or the submission itself.".into()
        }
        Phase::Reviewing if obs.is_dv != Some(true) => {
            " OV/EV review includes organisation checks and a call-back or email to the applicant; answer the CA's messages.".into()
        }
        _ => String::new(),
    }
}

/// ` (DNSSEC: secure)`, ` (DNSSEC: insecure, ...)`: how the validating
/// CA's lookups of the records fare; empty when not validated.
fn dnssec_words(validation: &[ValidationCheck]) -> String {
    let notes: Vec<String> = validation
        .iter()
        .filter_map(|v| v.dnssec.as_ref())
        .map(|n| n.status.word().to_string())
        .collect();
    if notes.is_empty() {
        return String::new();
    }
    let mut words = notes.clone();
    words.dedup();
    format!(" (DNSSEC: {})", words.join(", "))
}

fn risk_note(checks: &OrderChecks) -> String {
    let flagged: Vec<String> = checks
        .risk
        .iter()
        .filter(|(_, a)| a.is_flagged())
        .map(|(n, a)| format!("{n}: {}", a.headline()))
        .collect();
    if flagged.is_empty() {
        String::new()
    } else {
        format!(
            " Its names may be held for the CA's manual review, which takes longer: {}.",
            flagged.join("; ")
        )
    }
}

fn next_step(obs: &OrderObservation, support_now: bool, support_at: DateTime<Utc>) -> String {
    let when = if support_now {
        "It has waited long enough:".to_string()
    } else {
        format!(
            "Wait for the CA's update; if nothing changes by {},",
            fmt_time(support_at)
        )
    };
    match obs.kind {
        SourceKind::Tencent => format!(
            "{when} contact Tencent Cloud support (a ticket naming certificate ID {}), or call CompleteCertificate (ssl API 2019-12-05) for it to make Tencent Cloud ask the CA again. Do not cancel and re-order: a new order starts review from the beginning.",
            obs.key.id
        ),
        SourceKind::Acme => format!(
            "{when} check the CA's status page and contact the CA; an ACME order that is `processing` only needs polling, one that is `ready` needs finalizing by your ACME client."
        ),
        SourceKind::Manual => format!(
            "{when} contact the CA or reseller with the order's details; record any further notice with `certvigil orders notice {}`.",
            obs.key.id
        ),
    }
}

#[cfg(test)]
mod tests;
