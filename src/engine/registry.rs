//! The checks the engine runs beside CAA, in one table: adding a check is
//! its own module (gather, the core judge, its verdict with
//! `impl Observed`, and its glue here: `impl Check` and
//! `impl Recordable`, like [`super::reach_check`]) plus one line in
//! [`registered`]. The engine ([`super::Engine::check`]) runs every registered
//! check for every name of a subject; the scheduler hands each verdict to
//! recording ([`crate::recording::record`]), which stores its state and
//! events and runs the alert policy on it the same way for every check;
//! `history`, `status --format json` and the web read them from there.
//!
//! CAA is the one check outside the table: every target's report starts
//! from its verdict, and its record set feeds drift.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use super::Subject;
use crate::checks::reach::{ProbeSettings, VantagePoint};
use crate::config::ReachConfig;
use crate::dns::DnsHandle;
use crate::domain::CertName;
use crate::findings::{CheckKind, Finding};
use crate::recording::Verdict;

/// The checks every engine runs, in report order. One line per check.
pub fn registered() -> Vec<Arc<dyn Check>> {
    vec![Arc::new(super::reach_check::ReachCheck)]
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
