//! Issue 10: adding a check is its module plus one registration. The check
//! below lives in this file only; one line (`.with_check(...)`) registers
//! it, and its verdicts flow through the engine (the report), the store
//! (state, events), the alert policy (an alert pointing at its event) and
//! `history`, with no change anywhere else.

use crate::support;

use std::sync::{Arc, Mutex};

use certvigil::alert::policy::{CheckStatus, Observation, PolicyConfig};
use certvigil::checks::caa::CaaRecord;
use certvigil::checks::reach::ProbeSettings;
use certvigil::checks::state::{EventNames, Observed};
use certvigil::config::ReachConfig;
use certvigil::dns::DnsHandle;
use certvigil::domain::CertName;
use certvigil::engine::registry::{Check, GatherContext, Judgement};
use certvigil::engine::{Engine, Subject};
use certvigil::findings::{CheckKind, Finding, Severity};
use certvigil::recording::{self, Alerting, DomainCheck, Judged, Recordable, TargetRef};
use certvigil::report::CheckReport;
use certvigil::store::{HistoryFilter, Store, TargetKey};
use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use serde::Serialize;
use support::dns::TestDns;

/// A check whose "observation" is a flag the test sets: up or down.
struct Canary(Arc<Mutex<bool>>);

#[derive(Debug, Clone, Serialize)]
struct CanaryVerdict {
    up: bool,
}

impl Observed for CanaryVerdict {
    // Borrowed: no built-in check records risk as state, so a test check
    // may use its kind without meeting another check's rows.
    const CHECK: CheckKind = CheckKind::Risk;
    const EVENTS: EventNames = EventNames {
        change: "canary_change",
        error: "canary_error",
        recovered: "canary_recovered",
    };
    fn status_word(&self) -> &'static str {
        if self.up { "up" } else { "down" }
    }
    fn blocks(&self) -> bool {
        !self.up
    }
    fn fingerprint(&self) -> Option<Vec<u8>> {
        Some(vec![u8::from(self.up)])
    }
    fn error_message(&self) -> Option<String> {
        None
    }
}

impl Recordable for CanaryVerdict {
    fn alert_observation(&self, domain: &str, _ca: &str) -> Observation {
        Observation {
            status: if self.up {
                CheckStatus::Ok
            } else {
                CheckStatus::Blocking
            },
            severity: Severity::Blocking,
            summary: format!("the canary of {domain} is {}", self.status_word()),
            change: format!("the canary of {domain} is now {}", self.status_word()),
            reason: "the test said so".into(),
            remedy: None,
            detail: serde_json::json!({"up": self.up}),
            detail_text: self.status_word().into(),
        }
    }

    fn add_to_report(&self, mut report: CheckReport) -> CheckReport {
        report.findings.push(Finding {
            check: CheckKind::Risk,
            severity: Severity::Info,
            summary: format!("canary {}", self.status_word()),
            remedy: None,
        });
        report
    }
}

impl Check for Canary {
    fn kind(&self) -> CheckKind {
        CheckKind::Risk
    }

    fn check<'a>(
        &'a self,
        _ctx: GatherContext<'a>,
        subject: &'a Subject,
        _name: &'a CertName,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'a, Vec<Judgement>> {
        let up = *self.0.lock().unwrap();
        Box::pin(async move {
            subject
                .cas
                .iter()
                .map(|_| Judgement {
                    verdict: Some(Arc::new(CanaryVerdict { up })),
                    findings: Vec::new(),
                })
                .collect()
        })
    }
}

#[tokio::test]
async fn a_check_registered_in_one_line_flows_through_engine_store_events_and_history() {
    let dns = TestDns::start().await;
    dns.set_caa(
        "example.com",
        [CaaRecord::new(0, "issue", "letsencrypt.org")],
    );
    let flag = Arc::new(Mutex::new(true));
    let engine = Engine::new(
        DnsHandle::new(&dns.settings()).unwrap(),
        None,
        Vec::new(),
        ProbeSettings::default(),
        ReachConfig {
            http_port: 80,
            https_port: 443,
        },
    )
    .with_check(Canary(flag.clone())); // the one registration

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("certvigil.db")).await.unwrap();
    let catalogue = certvigil::ca::Catalogue::builtin();
    let ca = catalogue.resolve("letsencrypt").unwrap();
    let name = CertName::parse("example.com").unwrap();
    let key = TargetKey {
        domain: name.base().clone(),
        wildcard: false,
        ca: ca.name.clone(),
    };
    let t0 = Utc::now();
    let target = store.sync_targets(&[key], t0).await.unwrap().remove(0);
    let subject = Subject {
        names: vec![name.clone()],
        cas: vec![ca.clone()].into(),
        method: None,
        account_uris: Vec::new(),
        canary_path: None,
        canary_content: None,
        force_reach: false,
    };
    let policy = PolicyConfig::default();
    let channels = [certvigil::alert::ChannelId::from_stored("webhook:test")];
    let alerting = Alerting {
        policy: &policy,
        channels: &channels,
    };

    let mut raised = Vec::new();
    for (i, up) in [true, false].into_iter().enumerate() {
        *flag.lock().unwrap() = up;
        let now = t0 + Duration::minutes(i as i64 + 1);
        let outcomes = engine.check(&subject, now).await;
        assert_eq!(outcomes.len(), 1);
        let o = &outcomes[0];
        // The engine: the report carries the check's part.
        let want = format!("canary {}", if up { "up" } else { "down" });
        assert!(
            o.report.findings.iter().any(|f| f.summary == want),
            "{:?}",
            o.report.findings
        );
        // Recording: what the scheduler does with any registered check.
        let check = DomainCheck {
            base: name.base().clone(),
            started_at: now,
            duration: std::time::Duration::from_millis(1),
            caa: vec![Judged {
                target_id: target.id,
                domain: "example.com".into(),
                ca: ca.display.clone(),
                verdict: o.caa.clone(),
            }],
            checks: o
                .checks
                .iter()
                .map(|v| {
                    (
                        TargetRef {
                            target_id: target.id,
                            domain: "example.com".into(),
                            ca: ca.display.clone(),
                        },
                        v.clone(),
                    )
                })
                .collect(),
            reports: vec![(target.id, o.report.clone())],
        };
        let recorded = recording::record(&store, &check, &alerting, now)
            .await
            .unwrap();
        raised.extend(recorded.alerts);
    }

    // The store and history: its baseline, then its change, in the one
    // timeline beside the CAA baseline.
    let history = store.history(&HistoryFilter::default()).await.unwrap();
    let canary: Vec<(&str, Option<&str>, &str)> = history
        .iter()
        .filter(|e| e.check == CheckKind::Risk)
        .map(|e| {
            (
                e.kind.as_str(),
                e.before_status.as_deref(),
                e.after_status.as_str(),
            )
        })
        .collect();
    assert_eq!(
        canary,
        vec![
            ("baseline", None, "up"),
            ("canary_change", Some("up"), "down")
        ]
    );
    assert!(
        history
            .iter()
            .any(|e| e.check == CheckKind::Caa && e.kind == "baseline")
    );
    let change = history.iter().find(|e| e.kind == "canary_change").unwrap();
    assert!(change.blocks);
    assert_eq!(change.after.as_ref().unwrap()["up"], false);
    // The alert policy ran on it: going down raised an alert pointing at
    // that event.
    let alert = raised
        .iter()
        .find(|a| a.check == "risk")
        .expect("an alert for the canary");
    assert_eq!(alert.event_id, Some(change.id));
    assert!(alert.summary.contains("canary"), "{}", alert.summary);
}
