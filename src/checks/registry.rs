//! The checks the engine runs beside CAA, in one table: adding a check is
//! its own module (gather, the core judge, its verdict with
//! `impl Observed` and `impl Recordable`) plus one line in [`registered`].
//! The engine ([`crate::engine::Engine::check`]) runs every registered
//! check for every name of a subject; the scheduler hands each verdict to
//! recording ([`crate::recording::record`]), which stores its state and
//! events and runs the alert policy on it the same way for every check;
//! `history`, `status --format json` and the web read them from there.
//!
//! CAA is the one check outside the table: every target's report starts
//! from its verdict, and its record set feeds drift.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::alert::Alert;
use crate::alert::policy::{Observation, PolicyConfig};
use crate::checks::reach::{ProbeSettings, VantagePoint};
use crate::checks::state::Observed;
use crate::config::ReachConfig;
use crate::dns::DnsHandle;
use crate::domain::CertName;
use crate::engine::Subject;
use crate::findings::{CheckKind, Finding};
use crate::recording::RecordedEvent;
use crate::report::CheckReport;
use crate::store::{Recorder, StoreError};

/// The checks every engine runs, in report order. One line per check.
pub fn registered() -> Vec<Arc<dyn Check>> {
    vec![Arc::new(crate::checks::reach::registered::ReachCheck)]
}

/// What the engine holds that a check may gather with.
#[derive(Clone, Copy)]
pub struct GatherContext<'a> {
    pub dns: &'a DnsHandle,
    pub vantages: &'a [VantagePoint],
    pub probe: &'a ProbeSettings,
    pub reach: &'a ReachConfig,
}

/// One check: gathers once for a name, judges it for each CA.
pub trait Check: Send + Sync {
    /// The check's name in reports, the store and `history`.
    fn kind(&self) -> CheckKind;

    /// Gathers for `name` (one of `subject.names`) and judges it for each
    /// of `subject.cas`: one [`Judgement`] per CA, in the subject's order,
    /// or none at all when the check does not apply to the subject.
    fn check<'a>(
        &'a self,
        ctx: GatherContext<'a>,
        subject: &'a Subject,
        name: &'a CertName,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Vec<Judgement>>;
}

/// What a check says about one (name, CA).
#[derive(Debug, Clone, Default)]
pub struct Judgement {
    /// The verdict the store keeps (state, events, alerts); `None`: the
    /// check only adds findings to the report (e.g. it cannot apply).
    pub verdict: Option<Arc<dyn Verdict>>,
    /// Findings for the report besides the verdict's own.
    pub findings: Vec<Finding>,
}

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
                crate::recording::record_target(rec, target, self, &observation, policy, events)
                    .await?;
            Ok(alerts)
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
