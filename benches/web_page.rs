//! Web page benchmark (not a timed test; `cargo bench --bench web_page --
//! [DOMAINS] [DAYS]`, default 1000 365): how long the web interface takes to
//! serve a target's page when that target has a year of history, among
//! DOMAINS configured targets.
//!
//! The store is filled through the real write path (`Store::recorder`): 15-
//! minute checks of every target for the first day, then of the one target
//! for DAYS days with a CAA change every few weeks and an error episode now
//! and then, raw runs folded into per-day counts as the daemon's retention
//! does. The page is fetched over loopback HTTP from the real router, 50
//! times after a warm-up; the median and the slowest are printed.

use std::time::{Duration, Instant};

use certvigil::checks::caa::{CaaRecord, CaaVerdict, CaaVerdictKind, LookupFailure};
use certvigil::domain::DomainName;
use certvigil::store::{Store, TargetKey};
use certvigil::web::{WebState, router};
use chrono::{TimeZone, Utc};

fn verdict(domain: &DomainName, variant: u32) -> CaaVerdict {
    let issuer = if variant.is_multiple_of(2) {
        "letsencrypt.org"
    } else {
        "sectigo.com"
    };
    certvigil::drift::canonical(CaaVerdict {
        verdict: if variant.is_multiple_of(2) {
            CaaVerdictKind::Allowed
        } else {
            CaaVerdictKind::Forbidden
        },
        relevant_name: Some(domain.clone()),
        records: vec![
            CaaRecord::new(0, "issue", issuer),
            CaaRecord::new(0, "iodef", &format!("mailto:hostmaster@{domain}")),
        ],
        cname_chain: vec![domain.clone()],
        reason: format!("{domain}'s CAA records authorize {issuer}"),
        remedy: None,
        lookup_error: None,
        legacy_rfc6844: None,
        views: Vec::new(),
        dnssec: Vec::new(),
    })
}

fn error(domain: &DomainName) -> CaaVerdict {
    CaaVerdict {
        verdict: CaaVerdictKind::Error,
        relevant_name: None,
        records: vec![],
        cname_chain: vec![],
        reason: "timeout".into(),
        remedy: None,
        lookup_error: Some((domain.clone(), LookupFailure::Timeout)),
        legacy_rfc6844: None,
        views: Vec::new(),
        dnssec: Vec::new(),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<i64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let domains = args.first().copied().unwrap_or(1000) as usize;
    let days = args.get(1).copied().unwrap_or(365);

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("certvigil.db")).await.unwrap();
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let keys: Vec<TargetKey> = (0..domains)
        .map(|i| TargetKey {
            domain: DomainName::parse(&format!("shop-{i}.example-{}.com", i % 97)).unwrap(),
            wildcard: false,
            ca: "letsencrypt".into(),
        })
        .collect();
    let targets = store.sync_targets(&keys, start).await.unwrap();
    let fill = Instant::now();
    // Every target once, so the board has them all.
    let mut rec = store.recorder(start).await.unwrap();
    for t in &targets {
        rec.record_run(t.id, start, Duration::from_millis(20), 0)
            .await
            .unwrap();
        rec.record_state(t.id, &verdict(&t.key.domain, 0))
            .await
            .unwrap();
    }
    rec.commit().await.unwrap();
    // A year of the first target: a change every 40 days, an error
    // episode of an hour every 50.
    let t = &targets[0];
    for day in 0..days {
        let mut rec = store
            .recorder(start + chrono::Duration::days(day))
            .await
            .unwrap();
        for slot in 0..96 {
            let at = start + chrono::Duration::minutes((day * 96 + slot) * 15);
            let v = if day % 50 == 49 && slot < 4 {
                error(&t.key.domain)
            } else {
                verdict(&t.key.domain, (day / 40) as u32)
            };
            let outcome = match v.verdict {
                CaaVerdictKind::Allowed => 0,
                CaaVerdictKind::Forbidden => 1,
                CaaVerdictKind::Error => 2,
            };
            rec.record_run(t.id, at, Duration::from_millis(20), outcome)
                .await
                .unwrap();
            rec.record_state(t.id, &v).await.unwrap();
        }
        rec.commit().await.unwrap();
        if day >= 14 {
            store
                .prune_runs(start + chrono::Duration::days(day - 13))
                .await
                .unwrap();
        }
    }
    println!(
        "filled: {domains} targets, {days} days of 15-minute checks of {} ({:.0} s)",
        t.key.domain,
        fill.elapsed().as_secs_f64()
    );

    let state = WebState::new(store.clone(), Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    certvigil::tls::ensure_crypto_provider();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{addr}/target/{}", t.key.domain);
    let fetch = || async {
        let started = Instant::now();
        let response = client.get(&url).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let body = response.text().await.unwrap();
        (started.elapsed(), body.len())
    };
    for _ in 0..5 {
        fetch().await;
    }
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..50 {
        let (took, len) = fetch().await;
        times.push(took);
        size = len;
    }
    times.sort();
    println!(
        "target page ({} KiB): median {:.1} ms, slowest {:.1} ms over 50 requests",
        size / 1024,
        times[25].as_secs_f64() * 1000.0,
        times[49].as_secs_f64() * 1000.0
    );
    let history = store
        .history(&certvigil::store::HistoryFilter::default())
        .await
        .unwrap();
    println!("  its timeline: {} events", history.len());
}
