//! Storage benchmark (not a timed test; `cargo bench --bench storage --
//! [DOMAINS] [DAYS] [RETENTION_DAYS]`, default 1000 365 14, the daemon's
//! default retention): simulates 15-minute checks of DOMAINS domains for
//! DAYS days through the real store write path (`Store::recorder`,
//! `record_state`, `record_run`), with a realistic rate of change (about
//! three CAA changes and two short lookup-error episodes per domain per
//! year), each change enqueuing an alert on one channel that is delivered
//! at once, pruning raw runs and finished outbox rows past the retention
//! daily as the daemon does, and reports the database size and the bytes an
//! unchanged check adds.

use std::path::Path;
use std::time::{Duration, Instant};

use certvigil::alert::ChannelId;
use certvigil::alert::policy::{self, CaUnderRrset};
use certvigil::checks::caa::{CaaRecord, CaaVerdict, CaaVerdictKind, LookupFailure};
use certvigil::domain::DomainName;
use certvigil::store::{Store, TargetKey};
use chrono::{TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CHECKS_PER_DAY: i64 = 96;
const CHANGES_PER_YEAR: f64 = 3.0;
const ERROR_EPISODES_PER_YEAR: f64 = 2.0;

fn state(domain: &DomainName, variant: u32) -> CaaVerdict {
    let mut records = vec![CaaRecord::new(0, "issue", "letsencrypt.org")];
    if variant % 2 == 1 {
        records.push(CaaRecord::new(0, "issue", "sectigo.com"));
    }
    records.push(CaaRecord::new(
        0,
        "iodef",
        &format!("mailto:hostmaster@{domain}"),
    ));
    certvigil::drift::canonical(CaaVerdict {
        verdict: CaaVerdictKind::Allowed,
        relevant_name: Some(domain.clone()),
        records,
        cname_chain: vec![domain.clone()],
        reason: format!("{domain}'s CAA records authorize letsencrypt.org, the configured CA"),
        remedy: None,
        lookup_error: None,
        legacy_rfc6844: None,
        views: Vec::new(),
        dnssec: Vec::new(),
    })
}

fn error(domain: &DomainName) -> CaaVerdict {
    certvigil::drift::canonical(CaaVerdict {
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
    })
}

async fn size(store: &Store, path: &Path) -> u64 {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await
        .unwrap();
    std::fs::metadata(path).unwrap().len()
}

async fn count(store: &Store, table: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(store.pool())
        .await
        .unwrap();
    n
}

#[tokio::main]
async fn main() {
    let args: Vec<i64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let domains = args.first().copied().unwrap_or(1000) as usize;
    let days = args.get(1).copied().unwrap_or(365);
    let retention_days = args.get(2).copied().unwrap_or(14);
    let checks_per_year = (365 * CHECKS_PER_DAY) as f64;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certvigil.db");
    let store = Store::open(&path).await.unwrap();
    let keys: Vec<TargetKey> = (0..domains)
        .map(|i| TargetKey {
            domain: DomainName::parse(&format!("shop-{i}.example-{}.com", i % 97)).unwrap(),
            wildcard: false,
            ca: "letsencrypt".into(),
        })
        .collect();
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let targets = store.sync_targets(&keys, start).await.unwrap();
    let channel = [ChannelId::from_stored("webhook:bench")];
    let mut rng = StdRng::seed_from_u64(8659);
    let mut variant = vec![0u32; domains];
    let mut erroring = vec![0u32; domains];
    let clock = Instant::now();
    let mut baseline_size = 0;
    let mut unchanged_checks = 0i64;
    let mut size_after_a_week = 0;
    for day in 0..days {
        for slot in 0..CHECKS_PER_DAY {
            let at = start + chrono::Duration::minutes((day * CHECKS_PER_DAY + slot) * 15);
            let duration = Duration::from_millis(rng.random_range(5..80));
            let mut rec = store.recorder(at).await.unwrap();
            let mut events = 0;
            for (i, t) in targets.iter().enumerate() {
                let first = day == 0 && slot == 0;
                if !first && erroring[i] == 0 && rng.random_bool(CHANGES_PER_YEAR / checks_per_year)
                {
                    variant[i] += 1;
                }
                if !first
                    && erroring[i] == 0
                    && rng.random_bool(ERROR_EPISODES_PER_YEAR / checks_per_year)
                {
                    erroring[i] = rng.random_range(1..=4);
                }
                let verdict = if erroring[i] > 0 {
                    erroring[i] -= 1;
                    error(&t.key.domain)
                } else {
                    state(&t.key.domain, variant[i])
                };
                let outcome = i64::from(verdict.verdict == CaaVerdictKind::Error) * 2;
                rec.record_run(t.id, at, duration, outcome).await.unwrap();
                let recorded = rec.record_state(t.id, &verdict).await.unwrap();
                if recorded.event.is_some() {
                    events += 1;
                    if !(day == 0 && slot == 0) {
                        rec.enqueue(&alert(&t.key.domain, variant[i], at), &channel)
                            .await
                            .unwrap();
                    }
                }
            }
            rec.commit().await.unwrap();
            // The deliverer's part: every alert of the slot is delivered.
            sqlx::query(
                "UPDATE alert_outbox SET status = 'delivered', finished_at = ? WHERE status = 'pending'",
            )
            .bind(at.timestamp_millis())
            .execute(store.pool())
            .await
            .unwrap();
            if day == 0 && slot == 0 {
                baseline_size = size(&store, &path).await;
            } else if day < 7 {
                unchanged_checks += (domains - events) as i64;
            }
        }
        if day == 6 {
            size_after_a_week = size(&store, &path).await;
        }
        if day >= retention_days {
            let cutoff = start + chrono::Duration::days(day + 1 - retention_days);
            store.prune_runs(cutoff).await.unwrap();
        }
    }
    let total = size(&store, &path).await;
    let checks = domains as i64 * days * CHECKS_PER_DAY;
    println!(
        "{domains} domains x {days} days of 15-minute checks ({checks} checks, simulated in {:.0} s), retention {retention_days} days:",
        clock.elapsed().as_secs_f64()
    );
    println!(
        "  database {:.1} MiB; rows: runs {}, run_days {}, observations {}, events {}, outbox {}",
        total as f64 / 1048576.0,
        count(&store, "runs").await,
        count(&store, "run_days").await,
        count(&store, "observations").await,
        count(&store, "events").await,
        count(&store, "alert_outbox").await,
    );
    if size_after_a_week > 0 && unchanged_checks > 0 {
        println!(
            "  an unchanged check adds about {:.1} bytes (growth over the first week / checks without an event)",
            (size_after_a_week - baseline_size) as f64 / unchanged_checks as f64
        );
    }
    store.close().await;
}

/// The alert a change raises (a `caa_drift`, as the daemon would send).
fn alert(domain: &DomainName, variant: u32, at: chrono::DateTime<Utc>) -> certvigil::alert::Alert {
    let rrset = |v: u32| {
        let records = state(domain, v).records;
        policy::CaaRrset::new(Some(domain.to_string()), records)
    };
    policy::decide_drift(
        Some(&rrset(variant.wrapping_sub(1))),
        &rrset(variant),
        domain.as_str(),
        &[CaUnderRrset {
            ca: "Let's Encrypt".into(),
            forbidden: false,
        }],
        at,
    )
    .expect("the record sets differ")
}
