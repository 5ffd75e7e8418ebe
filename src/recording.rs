//! Recording one domain's check: every (target, check) state, the events
//! they make, and the alerts the policy raises — in one store transaction,
//! so an alert exists exactly when the check that caused it is recorded.
//!
//! This is where the alert policy runs, above the store: the store
//! ([`crate::store::Recorder`]) only reads and writes rows; the pure policy
//! ([`crate::alert::policy`]) decides; this module passes one to the other.
//! Every check goes through the same steps ([`record_target`]): CAA here,
//! the registered checks ([`crate::engine::registry`]) through their
//! verdicts; CAA adds the domain-level drift alert (one message per DNS
//! change).

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::alert::policy::{
    self, CaUnderRrset, CaaRrset, Observation, PolicyConfig, Subject, TrackMemory,
};
use crate::alert::{Alert, ChannelId};
use crate::checks::caa::{CaaVerdict, CaaVerdictKind};
use crate::checks::state::{Observed, Transition};
use crate::domain::DomainName;
use crate::findings::CheckKind;
use crate::report::CheckReport;
use crate::store::{Recorder, Store, StoreError};

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
    let mut rec = store.recorder(now).await?;
    let mut out = RecordedChecks::default();
    let mut caa_alerts = Vec::new();
    let mut drift_event = None;
    for t in &check.caa {
        let outcome = match t.verdict.verdict {
            CaaVerdictKind::Allowed => 0,
            CaaVerdictKind::Forbidden => 1,
            CaaVerdictKind::Error => 2,
        };
        rec.record_run(t.target_id, check.started_at, check.duration, outcome)
            .await?;
        let observation = crate::alert::caa::observation(&t.verdict, &t.domain, &t.ca);
        let target = TargetRef {
            target_id: t.target_id,
            domain: t.domain.clone(),
            ca: t.ca.clone(),
        };
        let (event, alerts) = record_target(
            &mut rec,
            &target,
            &t.verdict,
            &observation,
            alerting.policy,
            &mut out.events,
        )
        .await?;
        if event.is_some_and(|(_, tr)| tr == Transition::Change) {
            drift_event = drift_event.or(event.map(|(id, _)| id));
        }
        caa_alerts.extend(alerts);
    }
    let drift = drift_alert(&mut rec, check, drift_event).await?;
    let mut alerts = policy::merge_drift(drift, caa_alerts);
    for (target, verdict) in &check.checks {
        let raised = verdict
            .record(&mut rec, target, alerting.policy, &mut out.events)
            .await?;
        alerts.extend(raised);
    }
    for alert in &alerts {
        rec.enqueue(alert, alerting.channels).await?;
    }
    for (target_id, report) in &check.reports {
        rec.save_report(*target_id, report).await?;
    }
    rec.commit().await?;
    out.alerts = alerts;
    Ok(out)
}

/// The steps every check shares: record its state (and the event a change
/// makes), run the policy on the verdict and what it remembers, keep what
/// it remembers now. Returns the event and the alerts, pointing at it.
pub(crate) async fn record_target<V: Observed>(
    rec: &mut Recorder,
    t: &TargetRef,
    verdict: &V,
    observation: &Observation,
    policy_config: &PolicyConfig,
    events: &mut Vec<RecordedEvent>,
) -> Result<(Option<(i64, Transition)>, Vec<Alert>), StoreError> {
    let now = rec.now();
    let recorded = rec.record_state(t.target_id, verdict).await?;
    if let Some((id, transition)) = recorded.event {
        events.push(RecordedEvent {
            id,
            check: V::CHECK,
            domain: t.domain.clone(),
            ca: t.ca.clone(),
            kind: transition.name(&V::EVENTS),
            transition,
            before_status: recorded.before_status.clone(),
            after_status: verdict.status_word(),
            blocks: verdict.blocks(),
            cause: verdict.error_message(),
        });
    }
    let memory: TrackMemory = rec
        .alert_memory(t.target_id, V::CHECK)
        .await?
        .unwrap_or_default();
    let subject = Subject {
        domain: t.domain.clone(),
        ca: t.ca.clone(),
        check: V::CHECK.as_str().into(),
    };
    let decision = policy::decide(&memory, observation, &subject, policy_config, now);
    if decision.memory != memory {
        rec.save_alert_memory(t.target_id, V::CHECK, &decision.memory)
            .await?;
    }
    let event_id = recorded.event.map(|(id, _)| id);
    let alerts = decision
        .alerts
        .into_iter()
        .map(|mut a| {
            a.event_id = event_id;
            a
        })
        .collect();
    Ok((recorded.event, alerts))
}

/// Compares the relevant record set with the one stored for the domain,
/// stores the new one, and returns the `caa_drift` alert if it changed. A
/// failed lookup has no record set and is never drift.
async fn drift_alert(
    rec: &mut Recorder,
    check: &DomainCheck,
    drift_event: Option<i64>,
) -> Result<Option<Alert>, StoreError> {
    let Some(current) = check
        .caa
        .iter()
        .find_map(|t| crate::alert::caa::rrset(&t.verdict))
    else {
        return Ok(None);
    };
    let previous: Option<CaaRrset> = rec.caa_rrset(check.base.as_str()).await?;
    if previous.as_ref() == Some(&current) {
        return Ok(None);
    }
    rec.save_caa_rrset(check.base.as_str(), &current).await?;

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
    Ok(
        policy::decide_drift(previous.as_ref(), &current, &base, &cas, rec.now()).map(|mut a| {
            a.event_id = drift_event;
            a
        }),
    )
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
    /// Records it for a target in the recorder's transaction (state, the
    /// event a change makes, the alert policy); returns the alerts raised.
    fn record<'a>(
        &'a self,
        rec: &'a mut Recorder,
        target: &'a TargetRef,
        policy: &'a PolicyConfig,
        events: &'a mut Vec<RecordedEvent>,
    ) -> BoxFuture<'a, Result<Vec<Alert>, StoreError>>;
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

    fn record<'a>(
        &'a self,
        rec: &'a mut Recorder,
        target: &'a TargetRef,
        policy: &'a PolicyConfig,
        events: &'a mut Vec<RecordedEvent>,
    ) -> BoxFuture<'a, Result<Vec<Alert>, StoreError>> {
        Box::pin(async move {
            let observation = self.alert_observation(&target.domain, &target.ca);
            let (_, alerts) =
                record_target(rec, target, self, &observation, policy, events).await?;
            Ok(alerts)
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
