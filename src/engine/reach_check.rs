//! Reachability as a registered check ([`super::registry`]): the
//! validation path of a name validated over HTTP is probed from every
//! vantage point once, then judged for each CA; a wildcard (which HTTP
//! cannot validate) gets a finding saying so instead.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use super::Subject;
use super::registry::{Check, GatherContext, Judgement};
use crate::alert::policy::Observation;
use crate::checks::reach::{ReachVerdict, context_for, judge, target_for, wildcard_finding};
use crate::domain::CertName;
use crate::findings::CheckKind;
use crate::recording::Recordable;
use crate::report::CheckReport;

pub struct ReachCheck;

impl Check for ReachCheck {
    fn kind(&self) -> CheckKind {
        CheckKind::Reach
    }

    fn check<'a>(
        &'a self,
        ctx: GatherContext<'a>,
        subject: &'a Subject,
        name: &'a CertName,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'a, Vec<Judgement>> {
        Box::pin(async move {
            let Some(method) = subject.reach_method() else {
                return Vec::new();
            };
            if name.is_wildcard() {
                let finding = wildcard_finding(name, method);
                return subject
                    .cas
                    .iter()
                    .map(|_| Judgement {
                        verdict: None,
                        findings: vec![finding.clone()],
                    })
                    .collect();
            }
            let target = target_for(
                name,
                method,
                subject.canary_path.as_deref(),
                subject.canary_content.as_deref(),
                ctx.reach,
            );
            let observed =
                crate::checks::reach::check(&target, ctx.vantages, ctx.dns, ctx.probe).await;
            subject
                .cas
                .iter()
                .map(|ca| Judgement {
                    verdict: Some(std::sync::Arc::new(judge(
                        &observed,
                        &context_for(method, ca),
                    ))),
                    findings: Vec::new(),
                })
                .collect()
        })
    }
}

impl Recordable for ReachVerdict {
    fn alert_observation(&self, domain: &str, ca: &str) -> Observation {
        crate::alert::reach::observation(self, domain, ca)
    }

    fn add_to_report(&self, report: CheckReport) -> CheckReport {
        report.with_reach(self.clone())
    }
}
