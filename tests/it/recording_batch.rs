//! Issue 10: the daemon records checks in batches (one transaction, a few
//! multi-row statements, `recording::RecordingQueue`). A batch keeps what
//! one transaction per domain guaranteed: each domain's states, events and
//! alerts are what recording it alone writes; a domain that cannot be
//! recorded does not cost the others of its batch their history or their
//! alerts; a retried domain alerts once. Both engines.

use std::sync::Arc;
use std::time::Duration;

use certvigil::alert::ChannelId;
use certvigil::alert::policy::PolicyConfig;
use certvigil::checks::caa::{CaaRecord, CaaVerdict, CaaVerdictKind};
use certvigil::domain::DomainName;
use certvigil::drift::canonical;
use certvigil::recording::{self, Alerting, AlertingSource, DomainCheck, Judged, RecordingQueue};
use certvigil::store::{HistoryFilter, Store, StoreError, TargetKey};
use chrono::{DateTime, Utc};

use crate::support::postgres::Db;

struct Settings {
    policy: PolicyConfig,
    channels: Vec<ChannelId>,
}

impl AlertingSource for Settings {
    fn alerting(&self) -> Alerting<'_> {
        Alerting {
            policy: &self.policy,
            channels: &self.channels,
        }
    }
}

fn settings() -> Arc<Settings> {
    Arc::new(Settings {
        policy: PolicyConfig::default(),
        channels: vec![ChannelId::from_stored("webhook:test")],
    })
}

fn name(s: &str) -> DomainName {
    DomainName::parse(s).unwrap()
}

fn verdict(domain: &str, issuer: &str) -> CaaVerdict {
    let allowed = issuer == "letsencrypt.org";
    canonical(CaaVerdict {
        verdict: if allowed {
            CaaVerdictKind::Allowed
        } else {
            CaaVerdictKind::Forbidden
        },
        relevant_name: Some(name(domain)),
        records: vec![CaaRecord::new(0, "issue", issuer)],
        cname_chain: vec![name(domain)],
        reason: format!("{domain}'s CAA records authorize {issuer}"),
        remedy: None,
        lookup_error: None,
        legacy_rfc6844: None,
        views: Vec::new(),
        dnssec: Vec::new(),
    })
}

fn check(domain: &str, target_id: i64, issuer: &str, at: DateTime<Utc>) -> DomainCheck {
    DomainCheck {
        base: name(domain),
        started_at: at,
        duration: Duration::from_millis(3),
        caa: vec![Judged {
            target_id,
            domain: domain.into(),
            ca: "Let's Encrypt".into(),
            verdict: verdict(domain, issuer),
        }],
        checks: Vec::new(),
        reports: Vec::new(),
    }
}

async fn outbox(store: &Store) -> Vec<(String, String)> {
    sqlx::query_as("SELECT domain, kind FROM alert_outbox ORDER BY domain, id")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// Three domains, baselined alone; then all three change and are handed
/// to a queue that batches exactly three, while one of them has a
/// corrupt alert memory. The batch fails as a whole (one transaction); the
/// queue records each domain again alone: the two sound ones get their
/// change event and one alert each, the corrupt one reports its error and
/// leaves nothing half-written. Repaired, it records its change and alerts
/// once, and the others are not alerted again.
async fn a_failed_batch_loses_no_other_domain_and_alerts_each_once(db: Db) {
    let store = db.open().await;
    let domains = ["a.example", "b.example", "c.example"];
    let keys: Vec<TargetKey> = domains
        .iter()
        .map(|d| TargetKey {
            domain: name(d),
            wildcard: false,
            ca: "letsencrypt".into(),
        })
        .collect();
    let t0 = Utc::now();
    let targets = store.sync_targets(&keys, t0).await.unwrap();
    let settings = settings();
    for (d, t) in domains.iter().zip(&targets) {
        recording::record(
            &store,
            &check(d, t.id, "letsencrypt.org", t0),
            &settings.alerting(),
            t0,
        )
        .await
        .unwrap();
    }
    assert!(outbox(&store).await.is_empty(), "a baseline alerts nothing");

    sqlx::query("UPDATE check_state SET alert_memory = 'not json' WHERE target_id = $1")
        .bind(targets[1].id)
        .execute(store.pool())
        .await
        .unwrap();
    // A linger far longer than the test: the batch closes at three.
    let queue = RecordingQueue::start_with(store.clone(), 3, Duration::from_secs(600));
    let t1 = t0 + chrono::Duration::minutes(1);
    let results = futures::future::join_all(
        domains
            .iter()
            .zip(&targets)
            .map(|(d, t)| queue.record(check(d, t.id, "sectigo.com", t1), settings.clone())),
    )
    .await;
    let [a, b, c] = <[_; 3]>::try_from(results).ok().unwrap();
    let (a, c) = (a.unwrap(), c.unwrap());
    assert!(
        matches!(
            b,
            Err(StoreError::Corrupt {
                what: "check_state.alert_memory",
                ..
            })
        ),
        "{b:?}"
    );
    for (recorded, domain) in [(&a, "a.example"), (&c, "c.example")] {
        assert_eq!(recorded.events.len(), 1, "{domain}: {:?}", recorded.events);
        assert_eq!(recorded.events[0].kind, "caa_drift");
        assert!(!recorded.alerts.is_empty(), "{domain}");
        // The alert points at the event written in the same transaction.
        assert!(
            recorded
                .alerts
                .iter()
                .all(|al| al.event_id == Some(recorded.events[0].id))
        );
    }
    let alerted = outbox(&store).await;
    assert!(alerted.iter().all(|(d, _)| d != "b.example"), "{alerted:?}");
    let for_a = alerted.iter().filter(|(d, _)| d == "a.example").count();
    assert_eq!(for_a, a.alerts.len(), "{alerted:?}");
    let history = store.history(&HistoryFilter::default()).await.unwrap();
    let changes = |d: &str| {
        history
            .iter()
            .filter(|e| e.domain.as_str() == d && e.kind == "caa_drift")
            .count()
    };
    assert_eq!(
        (
            changes("a.example"),
            changes("b.example"),
            changes("c.example")
        ),
        (1, 0, 1)
    );

    // Repaired: b's change is recorded and alerted, once; a and c, seeing
    // the same records again, add nothing.
    sqlx::query("UPDATE check_state SET alert_memory = NULL WHERE target_id = $1")
        .bind(targets[1].id)
        .execute(store.pool())
        .await
        .unwrap();
    let t2 = t1 + chrono::Duration::minutes(1);
    let results = futures::future::join_all(
        domains
            .iter()
            .zip(&targets)
            .map(|(d, t)| queue.record(check(d, t.id, "sectigo.com", t2), settings.clone())),
    )
    .await;
    let recorded: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert!(recorded[0].events.is_empty() && recorded[0].alerts.is_empty());
    assert_eq!(recorded[1].events.len(), 1);
    assert_eq!(recorded[1].events[0].kind, "caa_drift");
    assert!(recorded[2].events.is_empty() && recorded[2].alerts.is_empty());
    let again = outbox(&store).await;
    let per = |d: &str| again.iter().filter(|(x, _)| x == d).count();
    assert_eq!(per("a.example"), for_a, "{again:?}");
    assert_eq!(per("b.example"), recorded[1].alerts.len(), "{again:?}");
    assert!(per("b.example") > 0);
    store.close().await;
}

crate::on_both_backends!(a_failed_batch_loses_no_other_domain_and_alerts_each_once);
