//! Recording one domain's check: every (target, check) state, the events
//! they make, and the alerts the policy raises — in one store transaction,
//! so an alert exists exactly when the check that caused it is recorded.
//!
//! This is where the alert policy runs, above the store: the store
//! ([`crate::store::Recorder`]) only reads and writes rows; the pure policy
//! ([`crate::alert::policy`]) decides; this module passes one to the other.
//! Every check goes through the same steps ([`plan_target`]): CAA here,
//! the registered checks ([`crate::engine::registry`]) through their
//! verdicts; CAA adds the domain-level drift alert (one message per DNS
//! change).

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::alert::policy::{
    self, CaUnderRrset, CaaRrset, Observation, PolicyConfig, Subject, TrackMemory,
};
use crate::alert::{Alert, ChannelId};
use crate::checks::caa::{CaaVerdict, CaaVerdictKind};
use crate::checks::state::{Observed, Transition};
use crate::domain::DomainName;
use crate::findings::CheckKind;
use crate::report::CheckReport;
use crate::store::{self, AnyObserved, PriorState, RunRow, StatePlan};
use crate::store::{Recorder, Store, StoreError};

mod queue;
pub use queue::{AlertingSource, LINGER, MAX_BATCH, RecordingQueue};

/// How checks raise alerts: the policy and the channels to enqueue for
/// (none: the policy still runs, so adding a channel later does not replay
/// old news).
#[derive(Debug, Clone, Copy)]
pub struct Alerting<'a> {
    pub policy: &'a PolicyConfig,
    pub channels: &'a [ChannelId],
}

/// One judged (target, check), as alerts and the log name it.
#[derive(Debug, Clone)]
pub struct Judged<V> {
    pub target_id: i64,
    /// The certificate name for display (Unicode, `*.` for wildcards).
    pub domain: String,
    /// The CA's display name.
    pub ca: String,
    pub verdict: V,
}

/// One domain's check, ready to record.
#[derive(Debug, Clone)]
pub struct DomainCheck {
    /// The name the CAA climb started from: the key of the record set that
    /// drift compares.
    pub base: DomainName,
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub caa: Vec<Judged<CaaVerdict>>,
    /// The registered checks' verdicts, each for its target.
    pub checks: Vec<(TargetRef, Arc<dyn Verdict>)>,
    /// Each target's `check --format json` report (the engine's, the same
    /// object `certvigil check` prints), kept as its latest.
    pub reports: Vec<(i64, CheckReport)>,
}

/// An event as written, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub id: i64,
    pub check: CheckKind,
    pub domain: String,
    pub ca: String,
    pub kind: &'static str,
    pub transition: Transition,
    pub before_status: Option<String>,
    pub after_status: &'static str,
    pub blocks: bool,
    /// Why the check could not observe (`error` transitions and first
    /// states that are errors), for the log line that reports it.
    pub cause: Option<String>,
}

/// What recording a domain's check wrote.
#[derive(Debug, Clone, Default)]
pub struct RecordedChecks {
    pub events: Vec<RecordedEvent>,
    /// The alerts enqueued in the same transaction.
    pub alerts: Vec<Alert>,
}

/// Records `check` at `now` in one transaction; see the module comment.
pub async fn record(
    store: &Store,
    check: &DomainCheck,
    alerting: &Alerting<'_>,
    now: DateTime<Utc>,
) -> Result<RecordedChecks, StoreError> {
    let mut out = record_batch(store, std::slice::from_ref(check), alerting, now).await?;
    Ok(out.pop().unwrap_or_default())
}

/// Records several domains' checks at `now` in one transaction: each
/// domain exactly as [`record`] would one after the other (its states,
/// events, alert policy, outbox rows and reports), all committed or none.
/// Returns what each wrote, in order.
///
/// The batch costs a few statements whatever its size ([`crate::store`]'s
/// multi-row reads and writes). Checks that share a target or a CAA record
/// set (`example.com` and `*.example.com` entries) are recorded one after
/// the other: a later one reads what the earlier one wrote.
pub async fn record_batch(
    store: &Store,
    checks: &[DomainCheck],
    alerting: &Alerting<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<RecordedChecks>, StoreError> {
    let mut rec = store.recorder(now).await?;
    let mut out = Vec::with_capacity(checks.len());
    let mut rest = checks;
    while !rest.is_empty() {
        let n = disjoint_prefix(rest);
        out.extend(record_disjoint(&mut rec, &rest[..n], alerting).await?);
        rest = &rest[n..];
    }
    rec.commit().await?;
    Ok(out)
}

/// How many of `checks`, from the first, touch no target and no record set
/// another of them touches (at least one).
fn disjoint_prefix(checks: &[DomainCheck]) -> usize {
    let mut targets = HashSet::new();
    let mut bases = HashSet::new();
    for (i, c) in checks.iter().enumerate() {
        let ids: Vec<i64> = c
            .caa
            .iter()
            .map(|t| t.target_id)
            .chain(c.checks.iter().map(|(t, _)| t.target_id))
            .chain(c.reports.iter().map(|(id, _)| *id))
            .collect();
        let overlaps = bases.contains(&c.base) || ids.iter().any(|id| targets.contains(id));
        if overlaps && i > 0 {
            return i;
        }
        bases.insert(c.base.clone());
        targets.extend(ids);
    }
    checks.len()
}

/// One (target, check) of a batch being planned: its rows, and what the
/// log line of its event says.
struct Planned<'a> {
    plan: StatePlan,
    target: &'a TargetRef,
    cause: Option<String>,
}

/// Records checks that share no target and no record set: read every prior
/// state and record set at once, decide (pure: [`classify`] through the
/// store's plan, the alert policy, drift), write every row at once.
///
/// [`classify`]: crate::checks::state::classify
async fn record_disjoint(
    rec: &mut Recorder,
    checks: &[DomainCheck],
    alerting: &Alerting<'_>,
) -> Result<Vec<RecordedChecks>, StoreError> {
    let now = rec.now();
    // The targets as alerts and the log name them (CAA's, then each
    // registered check's), built once so plans can point at them.
    let caa_targets: Vec<Vec<TargetRef>> = checks
        .iter()
        .map(|c| {
            c.caa
                .iter()
                .map(|t| TargetRef {
                    target_id: t.target_id,
                    domain: t.domain.clone(),
                    ca: t.ca.clone(),
                })
                .collect()
        })
        .collect();

    // 1. Read.
    let keys: Vec<(i64, CheckKind)> = checks
        .iter()
        .flat_map(|c| {
            c.caa
                .iter()
                .map(|t| (t.target_id, CheckKind::Caa))
                .chain(c.checks.iter().map(|(t, v)| (t.target_id, v.kind())))
        })
        .collect();
    let priors = rec.prior_states(&keys).await?;
    let current: Vec<Option<CaaRrset>> = checks
        .iter()
        .map(|c| {
            c.caa
                .iter()
                .find_map(|t| crate::alert::caa::rrset(&t.verdict))
        })
        .collect();
    let bases: Vec<&str> = checks
        .iter()
        .zip(&current)
        .filter(|(_, rrset)| rrset.is_some())
        .map(|(c, _)| c.base.as_str())
        .collect();
    let mut previous: HashMap<String, CaaRrset> = rec.caa_rrsets(&bases).await?;

    // 2. Decide, domain by domain, in the order [`record`] always did.
    let mut planned: Vec<Planned> = Vec::new();
    // Each alert, the index in `planned` of the state whose event it
    // points at, and the domain it belongs to.
    let mut alerts: Vec<(Alert, Option<usize>, usize)> = Vec::new();
    let mut rrsets: Vec<(&str, &CaaRrset)> = Vec::new();
    let mut runs = Vec::new();
    for (d, check) in checks.iter().enumerate() {
        let mut caa_alerts = Vec::new();
        let mut drift_event = None;
        for (t, target) in check.caa.iter().zip(&caa_targets[d]) {
            runs.push(RunRow {
                target_id: t.target_id,
                started_at: check.started_at,
                duration: check.duration,
                outcome: match t.verdict.verdict {
                    CaaVerdictKind::Allowed => 0,
                    CaaVerdictKind::Forbidden => 1,
                    CaaVerdictKind::Error => 2,
                },
            });
            let observation = crate::alert::caa::observation(&t.verdict, &t.domain, &t.ca);
            let (index, raised) = plan_target(
                &mut planned,
                &priors,
                target,
                &t.verdict,
                &observation,
                alerting.policy,
                now,
            )?;
            if planned[index]
                .plan
                .event
                .as_ref()
                .is_some_and(|e| e.transition == Transition::Change)
            {
                drift_event = drift_event.or(Some(index));
            }
            caa_alerts.extend(raised.into_iter().map(|a| (a, index)));
        }
        let drift = match &current[d] {
            Some(now_rrset) => {
                let before = previous.remove(check.base.as_str());
                if before.as_ref() == Some(now_rrset) {
                    None
                } else {
                    rrsets.push((check.base.as_str(), now_rrset));
                    drift_alert(check, before.as_ref(), now_rrset, now)
                }
            }
            None => None,
        };
        let drift_id = drift.as_ref().map(|a| a.id.clone());
        let mut points_at: HashMap<String, usize> = caa_alerts
            .iter()
            .map(|(a, index)| (a.id.clone(), *index))
            .collect();
        let merged = policy::merge_drift(drift, caa_alerts.into_iter().map(|(a, _)| a).collect());
        for a in merged {
            let event = if Some(&a.id) == drift_id.as_ref() {
                drift_event
            } else {
                points_at.remove(&a.id)
            };
            alerts.push((a, event, d));
        }
        for (target, verdict) in &check.checks {
            let observation = verdict.alert_observation(&target.domain, &target.ca);
            let (index, raised) = plan_target(
                &mut planned,
                &priors,
                target,
                verdict.observed(),
                &observation,
                alerting.policy,
                now,
            )?;
            alerts.extend(raised.into_iter().map(|a| (a, Some(index), d)));
        }
    }

    // 3. Write: states and events first (alerts point at events).
    let plans: Vec<StatePlan> = planned.iter().map(|p| p.plan.clone()).collect();
    let events = rec.write_states(&plans).await?;
    let alerts: Vec<(Alert, usize)> = alerts
        .into_iter()
        .map(|(mut a, index, d)| {
            a.event_id = index.and_then(|i| events[i].map(|(id, _)| id));
            (a, d)
        })
        .collect();
    let outbox: Vec<Alert> = alerts.iter().map(|(a, _)| a.clone()).collect();
    rec.enqueue_all(&outbox, alerting.channels).await?;
    rec.record_runs(&runs).await?;
    rec.save_caa_rrsets(&rrsets).await?;
    let reports: Vec<(i64, &CheckReport)> = checks
        .iter()
        .flat_map(|c| c.reports.iter().map(|(id, r)| (*id, r)))
        .collect();
    rec.save_reports(&reports).await?;

    // What each domain wrote, for the log and the deliverers.
    let mut out: Vec<RecordedChecks> = vec![RecordedChecks::default(); checks.len()];
    let mut domain_of = Vec::with_capacity(planned.len());
    for (d, check) in checks.iter().enumerate() {
        let n = check.caa.len() + check.checks.len();
        domain_of.extend(std::iter::repeat_n(d, n));
    }
    for ((p, event), d) in planned.into_iter().zip(events).zip(domain_of) {
        let Some((id, transition)) = event else {
            continue;
        };
        let Some(kind) = p.plan.event.as_ref().map(|e| e.kind) else {
            continue;
        };
        out[d].events.push(RecordedEvent {
            id,
            check: p.plan.check,
            domain: p.target.domain.clone(),
            ca: p.target.ca.clone(),
            kind,
            transition,
            before_status: p.plan.before_status,
            after_status: p.plan.status,
            blocks: p.plan.blocks,
            cause: p.cause,
        });
    }
    for (a, d) in alerts {
        out[d].alerts.push(a);
    }
    Ok(out)
}

/// The steps every check shares, decided (not yet written): its state
/// (and the event a change makes), the policy on the verdict and what it
/// remembers, what it remembers now. Adds the plan to `planned`; returns
/// its index and the alerts raised (pointing at its event once written).
fn plan_target<'a>(
    planned: &mut Vec<Planned<'a>>,
    priors: &HashMap<(i64, CheckKind), PriorState>,
    t: &'a TargetRef,
    verdict: &(impl AnyObserved + ?Sized),
    observation: &Observation,
    policy_config: &PolicyConfig,
    now: DateTime<Utc>,
) -> Result<(usize, Vec<Alert>), StoreError> {
    let check = verdict.check();
    let prior = priors.get(&(t.target_id, check));
    let mut plan = store::plan_state(t.target_id, verdict, prior)?;
    let memory: TrackMemory = match prior.and_then(|p| p.alert_memory.as_deref()) {
        Some(json) => serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
            what: "check_state.alert_memory",
            detail: e.to_string(),
        })?,
        None => TrackMemory::default(),
    };
    let subject = Subject {
        domain: t.domain.clone(),
        ca: t.ca.clone(),
        check: check.as_str().into(),
    };
    let decision = policy::decide(&memory, observation, &subject, policy_config, now);
    if decision.memory != memory {
        plan.alert_memory =
            Some(
                serde_json::to_string(&decision.memory).map_err(|e| StoreError::Corrupt {
                    what: "alert memory",
                    detail: e.to_string(),
                })?,
            );
    }
    planned.push(Planned {
        plan,
        target: t,
        cause: verdict.error_message(),
    });
    Ok((planned.len() - 1, decision.alerts))
}

/// The `caa_drift` alert when the relevant record set changed from
/// `previous` (none before the first successful lookup: never drift) to
/// `current`.
fn drift_alert(
    check: &DomainCheck,
    previous: Option<&CaaRrset>,
    current: &CaaRrset,
    now: DateTime<Utc>,
) -> Option<Alert> {
    let base = check.base.to_unicode();
    let cas: Vec<CaUnderRrset> = check
        .caa
        .iter()
        .filter(|t| t.verdict.verdict != CaaVerdictKind::Error)
        .map(|t| CaUnderRrset {
            // A wildcard is judged by `issuewild`: say which name it is.
            ca: if t.domain == base {
                t.ca.clone()
            } else {
                format!("{} ({})", t.ca, t.domain)
            },
            forbidden: t.verdict.verdict == CaaVerdictKind::Forbidden,
        })
        .collect();
    policy::decide_drift(previous, current, &base, &cas, now)
}

// What the registered checks' verdicts ([`crate::engine::registry`]) give
// recording, whatever their type.

/// A registered check's verdict, whatever its type: what the report, the
/// store and the alert policy need of it. Implemented for every
/// [`Recordable`] verdict.
pub trait Verdict: Send + Sync + Debug {
    fn kind(&self) -> CheckKind;
    /// The report with this verdict's part added.
    fn add_to_report(&self, report: CheckReport) -> CheckReport;
    /// The verdict as the store sees it (state, observation, event).
    fn observed(&self) -> &dyn AnyObserved;
    /// The verdict in the alert policy's terms, for `domain` and `ca`.
    fn alert_observation(&self, domain: &str, ca: &str) -> Observation;
    fn as_any(&self) -> &dyn Any;
}

/// The target a verdict is recorded for, as alerts and the log name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    pub target_id: i64,
    /// The certificate name for display (Unicode, `*.` for wildcards).
    pub domain: String,
    /// The CA's display name.
    pub ca: String,
}

/// What a check's verdict type provides beyond [`Observed`] (the store's
/// view): the alert policy's view and its part of the report.
pub trait Recordable: Observed + Clone + Send + Sync + Debug + 'static {
    /// The verdict in the alert policy's terms, for `domain` and `ca`.
    fn alert_observation(&self, domain: &str, ca: &str) -> Observation;
    /// The report with this verdict's part added.
    fn add_to_report(&self, report: CheckReport) -> CheckReport;
}

impl<V: Recordable> Verdict for V {
    fn kind(&self) -> CheckKind {
        V::CHECK
    }

    fn add_to_report(&self, report: CheckReport) -> CheckReport {
        Recordable::add_to_report(self, report)
    }

    fn observed(&self) -> &dyn AnyObserved {
        self
    }

    fn alert_observation(&self, domain: &str, ca: &str) -> Observation {
        Recordable::alert_observation(self, domain, ca)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
