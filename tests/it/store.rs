//! The store against real SQLite files in temporary directories and a real
//! PostgreSQL (`support::postgres`): schema upgrades, drift and error states
//! as recorded, history growth, retention. The suite in
//! `on_both_backends!` runs on both engines.

use std::path::Path;
use std::time::Duration;

use certvigil::checks::caa::{CaaRecord, CaaVerdict, CaaVerdictKind, LookupFailure};
use certvigil::checks::state::Observed;
use certvigil::domain::DomainName;
use certvigil::drift::{CaaStatus, canonical};
use certvigil::store::{HistoryFilter, Store, StoreError, TargetKey};
use chrono::{TimeZone, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::support::postgres::Db;

fn name(s: &str) -> DomainName {
    DomainName::parse(s).unwrap()
}

fn key(domain: &str, ca: &str) -> TargetKey {
    TargetKey {
        domain: name(domain),
        wildcard: false,
        ca: ca.into(),
    }
}

fn allowed_by(issuers: &[&str]) -> CaaVerdict {
    let records = issuers
        .iter()
        .map(|i| CaaRecord::new(0, "issue", i))
        .collect();
    canonical(CaaVerdict {
        verdict: CaaVerdictKind::Allowed,
        relevant_name: Some(name("example.com")),
        records,
        cname_chain: vec![name("example.com")],
        reason: "example.com's CAA records authorize letsencrypt.org".into(),
        remedy: None,
        lookup_error: None,
        legacy_rfc6844: None,
        views: Vec::new(),
        dnssec: Vec::new(),
    })
}

fn forbidden_by(issuer: &str) -> CaaVerdict {
    canonical(CaaVerdict {
        verdict: CaaVerdictKind::Forbidden,
        relevant_name: Some(name("example.com")),
        records: vec![CaaRecord::new(0, "issue", issuer)],
        cname_chain: vec![name("example.com")],
        reason: format!("example.com's CAA records authorize only {issuer}"),
        remedy: Some("add 0 issue \"letsencrypt.org\"".into()),
        lookup_error: None,
        legacy_rfc6844: None,
        views: Vec::new(),
        dnssec: Vec::new(),
    })
}

fn servfail() -> CaaVerdict {
    canonical(CaaVerdict {
        verdict: CaaVerdictKind::Error,
        relevant_name: None,
        records: vec![],
        cname_chain: vec![],
        reason: "SERVFAIL".into(),
        remedy: None,
        lookup_error: Some((
            name("example.com"),
            LookupFailure::Rcode {
                rcode: "SERVFAIL".into(),
                server: None,
            },
        )),
        legacy_rfc6844: None,
        views: Vec::new(),
        dnssec: Vec::new(),
    })
}

/// Records one check through the store's write path, as the daemon does:
/// a run row and the state, in one transaction. Returns the event's name.
async fn record_at(
    store: &Store,
    target_id: i64,
    verdict: CaaVerdict,
    at: chrono::DateTime<Utc>,
    took: Duration,
) -> Vec<String> {
    let mut rec = store.recorder(at).await.unwrap();
    let outcome = match verdict.verdict {
        CaaVerdictKind::Allowed => 0,
        CaaVerdictKind::Forbidden => 1,
        CaaVerdictKind::Error => 2,
    };
    rec.record_run(target_id, at, took, outcome).await.unwrap();
    let recorded = rec.record_state(target_id, &verdict).await.unwrap();
    rec.commit().await.unwrap();
    recorded
        .event
        .map(|(_, t)| t.name(&CaaVerdict::EVENTS).to_string())
        .into_iter()
        .collect()
}

async fn record(store: &Store, target_id: i64, verdict: CaaVerdict) -> Vec<String> {
    record_at(
        store,
        target_id,
        verdict,
        Utc::now(),
        Duration::from_millis(12),
    )
    .await
}

async fn count(store: &Store, table: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(store.pool())
        .await
        .unwrap();
    n
}

// The store suite: each runs on SQLite and on PostgreSQL.
crate::on_both_backends!(
    unchanged_rechecks_add_a_run_row_and_nothing_else,
    drift_is_stored_with_before_and_after,
    an_error_and_a_return_to_the_same_records_is_not_drift,
    an_error_then_new_records_is_drift_from_the_last_seen,
    history_filters_by_domain_and_date,
    removed_targets_are_retired_with_their_history_and_come_back,
    retention_prunes_raw_runs_into_days_and_keeps_events,
);

async fn one_target_in(db: &Db) -> (Store, i64) {
    let store = db.open().await;
    let targets = store
        .sync_targets(&[key("example.com", "letsencrypt")], Utc::now())
        .await
        .unwrap();
    assert!(targets[0].never_checked);
    (store, targets[0].id)
}

#[tokio::test]
async fn open_creates_a_wal_database_with_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("certvigil.db")).await.unwrap();
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
    assert_eq!(
        store.schema_version().await.unwrap(),
        Some(certvigil::store::latest_known_version())
    );
    // A run pointing at no target is refused: foreign keys are enforced.
    let orphan = sqlx::query("INSERT INTO caa_state (target_id, status, since, last_checked, checks, consecutive_errors) VALUES (999, 'allowed', 0, 0, 1, 0)")
        .execute(store.pool())
        .await;
    assert!(orphan.is_err());
}

#[tokio::test]
async fn open_in_a_missing_directory_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(&dir.path().join("nope/certvigil.db"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("nope/certvigil.db") && msg.contains("directory exists"),
        "{msg}"
    );
}

async fn unchanged_rechecks_add_a_run_row_and_nothing_else(db: Db) {
    let (store, id) = one_target_in(&db).await;
    assert_eq!(
        record(&store, id, allowed_by(&["letsencrypt.org"])).await,
        ["baseline"]
    );
    for _ in 0..50 {
        // Same records in another order: still no change.
        assert!(
            record(&store, id, allowed_by(&["letsencrypt.org"]))
                .await
                .is_empty()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(count(&store, "observations").await, 1);
    assert_eq!(count(&store, "events").await, 1);
    assert_eq!(count(&store, "runs").await, 51);
    let status = store.status().await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].status, Some(CaaStatus::Allowed));
    assert_eq!(status[0].checks, 51);
    assert!(status[0].last_checked.unwrap() >= status[0].since.unwrap());
}

async fn drift_is_stored_with_before_and_after(db: Db) {
    let (store, id) = one_target_in(&db).await;
    record(&store, id, allowed_by(&["letsencrypt.org"])).await;
    assert_eq!(
        record(&store, id, forbidden_by("sectigo.com")).await,
        ["caa_drift"]
    );
    // Back to the first state: drift again, and its observation row is reused.
    assert_eq!(
        record(&store, id, allowed_by(&["letsencrypt.org"])).await,
        ["caa_drift"]
    );
    assert_eq!(count(&store, "observations").await, 2);

    let history = store.history(&HistoryFilter::default()).await.unwrap();
    let kinds: Vec<_> = history.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(kinds, ["baseline", "caa_drift", "caa_drift"]);
    let drift = &history[1];
    assert_eq!(drift.before_status.as_deref(), Some("allowed"));
    assert_eq!(drift.after_status, "forbidden");
    assert!(drift.blocks);
    assert_eq!(
        drift.caa_states().0.unwrap().records,
        [CaaRecord::new(0, "issue", "letsencrypt.org")]
    );
    assert_eq!(
        drift.caa_states().1.unwrap().records,
        [CaaRecord::new(0, "issue", "sectigo.com")]
    );
    assert!(!history[2].blocks);
}

async fn an_error_and_a_return_to_the_same_records_is_not_drift(db: Db) {
    let (store, id) = one_target_in(&db).await;
    record(&store, id, allowed_by(&["letsencrypt.org"])).await;
    assert_eq!(record(&store, id, servfail()).await, ["lookup_error"]);
    assert!(record(&store, id, servfail()).await.is_empty());

    let status = &store.status().await.unwrap()[0];
    assert_eq!(
        status.status,
        Some(CaaStatus::Error),
        "an error is not allowed"
    );
    assert_eq!(status.consecutive_errors, 2);
    assert_eq!(
        status.last_error.as_deref(),
        Some("CAA lookup at example.com failed: the name server answered SERVFAIL")
    );

    assert_eq!(
        record(&store, id, allowed_by(&["letsencrypt.org"])).await,
        ["lookup_recovered"]
    );
    let status = &store.status().await.unwrap()[0];
    assert_eq!(status.status, Some(CaaStatus::Allowed));
    assert_eq!(status.consecutive_errors, 0);
    assert!(
        status.last_error.is_some(),
        "the last error stays visible after recovery"
    );

    let history = store.history(&HistoryFilter::default()).await.unwrap();
    assert!(history.iter().all(|h| h.kind != "caa_drift"));
    let error = &history[1];
    assert_eq!(error.after_status, "error");
    assert!(error.blocks);
    assert!(error.after.is_none());
    assert_eq!(error.caa_states().0.unwrap().records.len(), 1);
}

async fn an_error_then_new_records_is_drift_from_the_last_seen(db: Db) {
    let (store, id) = one_target_in(&db).await;
    record(&store, id, allowed_by(&["letsencrypt.org"])).await;
    record(&store, id, servfail()).await;
    assert_eq!(
        record(&store, id, forbidden_by("sectigo.com")).await,
        ["caa_drift"]
    );
    let history = store.history(&HistoryFilter::default()).await.unwrap();
    let drift = history.last().unwrap();
    assert_eq!(drift.before_status.as_deref(), Some("error"));
    assert_eq!(
        drift.caa_states().0.unwrap().records,
        [CaaRecord::new(0, "issue", "letsencrypt.org")]
    );
}

async fn history_filters_by_domain_and_date(db: Db) {
    let store = db.open().await;
    let t = store
        .sync_targets(
            &[
                key("example.com", "letsencrypt"),
                key("example.net", "letsencrypt"),
            ],
            Utc::now(),
        )
        .await
        .unwrap();
    record(&store, t[0].id, allowed_by(&["letsencrypt.org"])).await;
    record(&store, t[1].id, allowed_by(&["letsencrypt.org"])).await;
    let only_net = HistoryFilter {
        domain: Some(name("example.net")),
        ..Default::default()
    };
    let h = store.history(&only_net).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].domain, name("example.net"));
    let future = HistoryFilter {
        since: Some(Utc::now() + chrono::Duration::days(1)),
        ..Default::default()
    };
    assert!(store.history(&future).await.unwrap().is_empty());
}

async fn removed_targets_are_retired_with_their_history_and_come_back(db: Db) {
    let (store, id) = one_target_in(&db).await;
    record(&store, id, allowed_by(&["letsencrypt.org"])).await;
    store
        .sync_targets(&[key("example.net", "letsencrypt")], Utc::now())
        .await
        .unwrap();
    let status = store.status().await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].domain, name("example.net"));
    assert_eq!(
        store
            .history(&HistoryFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );

    let back = store
        .sync_targets(&[key("example.com", "letsencrypt")], Utc::now())
        .await
        .unwrap();
    assert_eq!(back[0].id, id);
    assert!(!back[0].never_checked);
    assert_eq!(
        store.status().await.unwrap()[0].status,
        Some(CaaStatus::Allowed)
    );
}

async fn retention_prunes_raw_runs_into_days_and_keeps_events(db: Db) {
    let (store, id) = one_target_in(&db).await;
    let old = Utc.with_ymd_and_hms(2025, 1, 1, 10, 0, 0).unwrap();
    for (i, result) in [
        allowed_by(&["letsencrypt.org"]),
        forbidden_by("sectigo.com"),
        servfail(),
    ]
    .into_iter()
    .enumerate()
    {
        record_at(
            &store,
            id,
            result,
            old + chrono::Duration::minutes(15 * i as i64),
            Duration::from_millis(100 * (i as u64 + 1)),
        )
        .await;
    }
    record(&store, id, servfail()).await; // a recent run, kept raw
    let report = store
        .prune_runs(Utc::now() - chrono::Duration::days(30))
        .await
        .unwrap();
    assert_eq!(report.runs_deleted, 3);
    assert_eq!(count(&store, "runs").await, 1);
    let (checks, errors, max_ms): (i64, i64, i64) =
        sqlx::query_as("SELECT checks, errors, max_ms FROM run_days WHERE target_id = $1")
            .bind(id)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!((checks, errors, max_ms), (3, 1, 300));
    assert_eq!(store.total_checks(id).await.unwrap(), 4);
    assert_eq!(
        count(&store, "events").await,
        3,
        "baseline, drift, error: never pruned"
    );
}

/// Applies only the first migration, exactly as an early certvigil did.
async fn first_version_database(path: &Path) {
    let migs = path.parent().unwrap().join("v1-migrations");
    std::fs::create_dir(&migs).unwrap();
    let first = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("0001_")
        })
        .unwrap();
    std::fs::copy(&first, migs.join(first.file_name().unwrap())).unwrap();
    let pool = SqlitePoolOptions::new()
        .connect_with(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(migs.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let verdict = serde_json::to_string(&CaaVerdict {
        verdict: CaaVerdictKind::Allowed,
        relevant_name: Some(name("old.example")),
        records: vec![CaaRecord::new(0, "issue", "letsencrypt.org")],
        cname_chain: vec![name("old.example")],
        reason: "from the first version".into(),
        remedy: None,
        lookup_error: None,
        legacy_rfc6844: None,
        views: Vec::new(),
        dnssec: Vec::new(),
    })
    .unwrap();
    for stmt in [
        "INSERT INTO targets (id, domain, wildcard, ca, created_at) VALUES (1, 'old.example', 0, 'letsencrypt', 1000)",
        "INSERT INTO observations (id, target_id, fingerprint, verdict, verdict_json, first_seen) VALUES (1, 1, x'00', 'allowed', ?, 1000)",
        "INSERT INTO caa_state VALUES (1, 'allowed', 1000, 1, 5000, 9, 0, NULL, NULL)",
        "INSERT INTO runs VALUES (5000, 1, 30, 0)",
        "INSERT INTO events (target_id, at, kind, after_status, after_observation, blocks) VALUES (1, 1000, 'baseline', 'allowed', 1, 0)",
    ] {
        sqlx::query(stmt)
            .bind(&verdict)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

#[tokio::test]
async fn a_database_from_the_first_migration_is_upgraded_without_losing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certvigil.db");
    first_version_database(&path).await;

    // Readers refuse to touch an old schema and say what upgrades it.
    let err = Store::open_existing(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::TooOld { found: 1, .. }), "{err}");
    assert!(err.to_string().contains("certvigil run"), "{err}");

    let store = Store::open(&path).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        Some(certvigil::store::latest_known_version())
    );
    let status = store.status().await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].domain, name("old.example"));
    assert_eq!(status[0].checks, 9);
    let history = store.history(&HistoryFilter::default()).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0].caa_states().1.unwrap().reason,
        "from the first version"
    );
    assert_eq!(count(&store, "runs").await, 1);
    // The new parts of the schema work on the upgraded file.
    assert_eq!(store.prune_runs(Utc::now()).await.unwrap().runs_deleted, 1);
    assert_eq!(store.total_checks(1).await.unwrap(), 1);
    store.close().await;
    assert!(Store::open_existing(&path).await.is_ok());
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certvigil.db");
    let store = Store::open(&path).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.close().await;
    let err = Store::open(&path).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found: 9999, .. }),
        "{err}"
    );
    let err = Store::open_existing(&path).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found: 9999, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn readers_need_an_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certvigil.db");
    let err = Store::open_existing(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
    assert!(!path.exists(), "a reader must not create the database");
}

/// A copy of the database the 0.1.0 daemon wrote, opened (and so migrated)
/// as the daemon opens it at start.
async fn open_v0_1_0_copy(dir: &Path) -> (Store, std::path::PathBuf) {
    let path = dir.join("certvigil.db");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/upgrade/v0.1.0.db"),
        &path,
    )
    .unwrap();
    (Store::open(&path).await.unwrap(), path)
}

/// The database the 0.1.0 daemon wrote (tests/data/upgrade/README.md):
/// after the daemon's start-up migration, every event it held is in the
/// one timeline of `certvigil history`, and nothing else was lost.
#[tokio::test]
async fn a_database_written_by_0_1_0_keeps_every_event_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = open_v0_1_0_copy(dir.path()).await;
    assert_eq!(
        store.schema_version().await.unwrap(),
        Some(certvigil::store::latest_known_version())
    );
    for (table, rows) in [
        ("orders", 1),
        ("order_statuses", 1),
        ("alert_outbox", 26),
        ("targets", 5),
        ("check_state", 6),
    ] {
        assert_eq!(count(&store, table).await, rows, "{table}");
    }
    let (dangling,): (i64,) = sqlx::query_as("SELECT count(*) FROM pragma_foreign_key_check")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(dangling, 0);
    store.close().await;

    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\ndatabase = \"{}\"\n\n[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\n",
            path.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certvigil"))
        .args(["history", "--format", "json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tally = |check: &str, event: &str| {
        events
            .iter()
            .filter(|e| e["check"] == check && e["event"] == event)
            .count()
    };
    // 17 CAA events and 3 reach events were written by 0.1.0, and its
    // order's status and three alerted conditions are order events now
    // (migration 0042): the timeline shows orders among the other checks.
    assert_eq!(events.len(), 24, "{events:#?}");
    assert_eq!(tally("order", "order_status"), 1);
    for condition in ["order_blocked", "order_deadline", "order_stuck"] {
        assert_eq!(tally("order", condition), 1, "{condition}");
    }
    let stuck = events.iter().find(|e| e["event"] == "order_stuck").unwrap();
    assert_eq!(stuck["order"], "tencent/Mss1ng00", "{stuck}");
    assert_eq!(stuck["domain"], "shop.example.com", "{stuck}");
    assert_eq!(stuck["after_status"], "holding", "{stuck}");

    assert_eq!(tally("caa", "baseline"), 5);
    assert_eq!(tally("caa", "caa_drift"), 8);
    assert_eq!(tally("caa", "lookup_error"), 4);
    assert_eq!(tally("reach", "baseline"), 1);
    assert_eq!(tally("reach", "reach_change"), 2);
    // One timeline: ordered by time across checks.
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // The drift still carries its record diff, and reach changes their reason.
    let drift = events.iter().find(|e| e["event"] == "caa_drift").unwrap();
    assert_eq!(drift["diff"]["added"][0]["value"], "sectigo.com", "{drift}");
    let reach = events
        .iter()
        .find(|e| e["event"] == "reach_change")
        .unwrap();
    assert!(reach["after"]["reason"].is_string(), "{reach}");
    assert_eq!(reach["before"]["verdict"], "reachable", "{reach}");
}

/// Finished outbox rows go with the retention; waiting ones stay.
#[tokio::test]
async fn retention_prunes_finished_outbox_rows_and_keeps_waiting_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open_v0_1_0_copy(dir.path()).await;
    let waiting = "SELECT count(*) FROM alert_outbox WHERE status IN ('pending', 'sending')";
    let (before,): (i64,) = sqlx::query_as(waiting)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(before, 13);
    // Not yet past the retention: nothing goes.
    let report = store
        .prune_runs(Utc::now() - chrono::Duration::days(14))
        .await
        .unwrap();
    assert_eq!(report.outbox_deleted, 0);
    let report = store
        .prune_runs(Utc::now() + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(report.outbox_deleted, 13, "the delivered rows");
    assert_eq!(count(&store, "alert_outbox").await, 13);
    let (after,): (i64,) = sqlx::query_as(waiting)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(after, 13, "waiting alerts are never pruned");
}

/// PostgreSQL keeps the same schema-version rules as SQLite: a database a
/// newer certvigil migrated is refused by `open` and by readers, and left
/// as it is.
#[tokio::test]
async fn a_postgres_database_from_a_newer_version_is_refused_and_left_alone() {
    let db = Db::postgres().await;
    let store = db.open().await;
    assert_eq!(store.backend(), certvigil::store::Backend::Postgres);
    let known = certvigil::store::Backend::Postgres.latest_known_version();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES ($1, 'from the future', TRUE, '\\x00'::bytea, 0)",
    )
    .bind(known + 1)
    .execute(store.pool())
    .await
    .unwrap();
    store.close().await;
    let err = Store::open(&db.setting()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found, .. } if found == known + 1),
        "{err}"
    );
    let err = Store::open_existing(&db.setting()).await.unwrap_err();
    assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
}

/// `status` and `history` open an existing PostgreSQL store without
/// migrating it; an empty database is not a certvigil store.
#[tokio::test]
async fn a_postgres_reader_needs_a_migrated_database() {
    let db = Db::postgres().await;
    let err = Store::open_existing(&db.setting()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotCertvigil { .. }), "{err}");
    db.open().await.close().await;
    let store = Store::open_existing(&db.setting()).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        Some(certvigil::store::Backend::Postgres.latest_known_version())
    );
}
