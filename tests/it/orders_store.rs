//! The order write paths on both engines (`support::postgres`): an order
//! poll's record, status timeline, conditions, order events and alerts
//! (`orders::run::check_order`, `orders::record`), source polls, poll
//! errors and notices, and two writers recording the same order at once
//! (two instances on one PostgreSQL, or the CLI beside the daemon).

use std::time::Duration;

use certvigil::alert::{ChannelId, outbox};
use certvigil::domain::CertName;
use certvigil::orders::judge::{Notice, NoticeKind, OrderEventKind, Thresholds};
use certvigil::orders::record;
use certvigil::orders::run::{RunContext, check_order};
use certvigil::orders::validation::{FileCheckSettings, FileFetcher};
use certvigil::orders::{
    OrderKey, OrderObservation, OrderStatus, Phase, ProgressSignals, SourceKind,
};
use certvigil::store::{HistoryFilter, Store};
use chrono::{DateTime, TimeZone, Utc};

use crate::support;
use crate::support::postgres::Db;

crate::on_both_backends!(
    an_order_poll_records_its_timeline_conditions_events_and_alerts,
    source_polls_poll_errors_and_notices_are_stored,
    two_writers_recording_a_new_order_at_once_store_it_once,
    two_writers_recording_a_status_change_at_once_record_it_once,
);

fn at(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap() + chrono::Duration::hours(hours)
}

/// A DV order from a (mocked) source, in `phase`, placed at hour 0. It has
/// no CA and no validation requirement, so its poll asks nothing of DNS.
fn order(id: &str, phase: Phase, code: &str, now: DateTime<Utc>) -> OrderObservation {
    OrderObservation {
        key: OrderKey::new("tencent", id),
        kind: SourceKind::Tencent,
        display_name: format!("{id}.example.com").to_lowercase(),
        ca: None,
        ca_label: "TrustAsia C1 DV Free".into(),
        names: vec![CertName::parse(&format!("{id}.example.com").to_lowercase()).unwrap()],
        status: OrderStatus {
            phase,
            code: code.into(),
            label: format!("label of {code}"),
        },
        method: None,
        requirements: vec![],
        deadlines: vec![],
        signals: ProgressSignals::default(),
        failure: None,
        placed_at: Some(at(0)),
        is_dv: Some(true),
        observed_at: now,
    }
}

fn files() -> FileFetcher {
    FileFetcher::new(FileCheckSettings::default(), support::dns::nowhere()).unwrap()
}

async fn poll(store: &Store, obs: OrderObservation, now: DateTime<Utc>) -> Vec<String> {
    let dns = support::dns::nowhere();
    let files = files();
    let thresholds = Thresholds::default();
    let channels = [ChannelId::from_stored("webhook:test#1")];
    let views = certvigil::views::Views::default();
    let ctx = RunContext {
        dns: &dns,
        dnssec: None,
        views: &views,
        files: &files,
        thresholds: &thresholds,
        risk: None,
        channels: &channels,
    };
    let outcome = check_order(store.pool(), obs, &ctx, now).await.unwrap();
    outcome
        .alerts
        .iter()
        .map(|a| {
            assert!(a.event_id.is_some(), "an order alert names its event");
            a.kind.as_str().to_string()
        })
        .collect()
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Reviewing for 30 h (stuck: a DV review should take a day), then
/// validated (the stuck condition clears), then issued.
async fn an_order_poll_records_its_timeline_conditions_events_and_alerts(db: Db) {
    let store = db.open().await;
    let stuck = order("AbCd1234", Phase::Reviewing, "0/CA-REVIEWING", at(30));
    assert_eq!(poll(&store, stuck.clone(), at(30)).await, ["order_stuck"]);
    // The same again: nothing new, nothing alerted twice.
    assert!(poll(&store, stuck, at(31)).await.is_empty());

    let stored = record::find_order(store.pool(), "tencent/AbCd1234")
        .await
        .unwrap();
    assert_eq!(stored.phase, Phase::Reviewing);
    assert_eq!(
        stored.status_since,
        at(0),
        "held since the order was placed"
    );
    assert_eq!(stored.first_seen, at(30));
    assert_eq!(stored.last_polled, at(31));
    let mut conn = store.pool().acquire().await.unwrap();
    let holding = record::active_conditions(&mut conn, stored.id)
        .await
        .unwrap();
    assert_eq!(
        holding.iter().map(|c| c.kind).collect::<Vec<_>>(),
        [OrderEventKind::OrderStuck]
    );
    drop(conn);

    let validated = order("AbCd1234", Phase::Validated, "3/WAIT-ISSUE", at(32));
    assert_eq!(poll(&store, validated, at(32)).await, ["resolved"]);
    let issued = order("AbCd1234", Phase::Issued, "1/ISSUED", at(33));
    assert_eq!(poll(&store, issued, at(33)).await, ["order_issued"]);

    let timeline = record::timeline(store.pool(), stored.id).await.unwrap();
    type Span<'a> = (&'a str, DateTime<Utc>, Option<DateTime<Utc>>);
    let spans: Vec<Span> = timeline
        .iter()
        .map(|t| (t.status_code.as_str(), t.since, t.until))
        .collect();
    assert_eq!(
        spans,
        [
            ("0/CA-REVIEWING", at(0), Some(at(32))),
            ("3/WAIT-ISSUE", at(32), Some(at(33))),
            ("1/ISSUED", at(33), None),
        ]
    );
    let listed = record::list_orders(store.pool()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].phase, Phase::Issued);
    assert!(
        record::pending_ids(store.pool(), "tencent")
            .await
            .unwrap()
            .is_empty()
    );

    // The shared timeline: statuses and conditions, under the order's
    // first name (compared in one order: the reader's is newest first).
    let history = store.history(&HistoryFilter::default()).await.unwrap();
    let mut events: Vec<String> = history
        .iter()
        .map(|e| {
            assert_eq!(e.order.as_deref(), Some("tencent/AbCd1234"));
            assert_eq!(e.domain.to_string(), "abcd1234.example.com");
            format!(
                "{} {:?} {} {}",
                e.kind, e.before_status, e.after_status, e.blocks
            )
        })
        .collect();
    events.sort();
    let mut expected: Vec<String> = [
        ("order_status", None, "0/CA-REVIEWING"),
        ("order_stuck", None, record::HOLDING),
        ("order_status", Some("0/CA-REVIEWING"), "3/WAIT-ISSUE"),
        ("order_stuck", Some(record::HOLDING), record::CLEARED),
        ("order_status", Some("3/WAIT-ISSUE"), "1/ISSUED"),
        ("order_issued", None, record::HOLDING),
    ]
    .iter()
    .map(|(kind, before, after)| format!("{kind} {before:?} {after} false"))
    .collect();
    expected.sort();
    assert_eq!(events, expected);

    // One outbox row per alert, each pointing at its event.
    let rows = outbox::all(store.pool(), 100).await.unwrap();
    let mut kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    kinds.sort();
    assert_eq!(kinds, ["order_issued", "order_stuck", "resolved"]);
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM alert_outbox a JOIN events e ON e.id = a.event_id WHERE e.check_kind = 'order'"
        )
        .await,
        3
    );
}

async fn source_polls_poll_errors_and_notices_are_stored(db: Db) {
    let store = db.open().await;
    let pool = store.pool();
    record::record_source_poll(pool, "tencent", Err("key refused"), at(1))
        .await
        .unwrap();
    let polls = record::source_polls(pool).await.unwrap();
    assert_eq!(polls.len(), 1);
    assert_eq!(polls[0].last_error.as_deref(), Some("key refused"));
    assert_eq!(polls[0].last_error_at, Some(at(1)));
    assert_eq!(polls[0].last_ok, None);
    record::record_source_poll(pool, "tencent", Ok(()), at(2))
        .await
        .unwrap();
    let polls = record::source_polls(pool).await.unwrap();
    assert_eq!(polls.len(), 1, "one row per source");
    assert_eq!(polls[0].last_error, None);
    assert_eq!(polls[0].last_ok, Some(at(2)));
    assert_eq!(polls[0].last_polled, at(2));

    let obs = order("Notes1", Phase::AwaitingValidation, "4/PENDING-DCV", at(2));
    let mut conn = pool.acquire().await.unwrap();
    let (id, history) = record::record_observation(&mut conn, &obs, at(2))
        .await
        .unwrap();
    assert!(history.notices.is_empty());
    drop(conn);
    record::record_poll_error(pool, &obs.key, "the API timed out", at(3))
        .await
        .unwrap();
    let stored = record::find_order(pool, "Notes1").await.unwrap();
    assert_eq!(stored.last_error.as_deref(), Some("the API timed out"));
    assert_eq!(
        stored.phase,
        Phase::AwaitingValidation,
        "the status is kept"
    );
    assert_eq!(
        record::pending_ids(pool, "tencent").await.unwrap(),
        ["Notes1"]
    );

    for (h, note) in [(5, "second"), (4, "first")] {
        let notice = Notice {
            at: at(h),
            kind: NoticeKind::Other,
            note: Some(note.into()),
        };
        record::add_notice(pool, id, &notice, at(6)).await.unwrap();
    }
    let mut conn = pool.acquire().await.unwrap();
    let notes: Vec<String> = record::notices_for_key(&mut conn, &obs.key)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|n| n.note)
        .collect();
    assert_eq!(notes, ["first", "second"], "oldest first");
    // A later poll clears the error and reads the notices back.
    let (_, history) = record::record_observation(&mut conn, &obs, at(7))
        .await
        .unwrap();
    assert_eq!(history.notices.len(), 2);
    drop(conn);
    assert_eq!(
        record::find_order(pool, "Notes1").await.unwrap().last_error,
        None
    );
}

/// Holds a write transaction that recorded `first`, lets a second writer
/// record `second` meanwhile, and commits once the second is waiting (on
/// PostgreSQL, seen as a backend waiting for a lock; SQLite's second
/// writer waits in BEGIN IMMEDIATE, which cannot be observed, so it gets a
/// moment). Returns the second writer's result.
async fn two_writers(
    store: &Store,
    first: OrderObservation,
    second: OrderObservation,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let pool = store.pool().clone();
    let mut tx1 = certvigil::store::tx::immediate(&pool, "the first writer")
        .await
        .unwrap();
    record::record_observation(&mut tx1, &first, now)
        .await
        .unwrap();
    let writer = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut tx2 = certvigil::store::tx::immediate(&pool, "the second writer")
                .await
                .map_err(|e| e.to_string())?;
            record::record_observation(&mut tx2, &second, now)
                .await
                .map_err(|e| e.to_string())?;
            tx2.commit().await.map_err(|e| e.to_string())
        })
    };
    if store.backend() == certvigil::store::Backend::Postgres {
        let mut waited = 0;
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            // The second writer may also have gone through without
            // waiting (nothing to wait for): then it is done.
            if writer.is_finished() {
                break;
            }
            waited += 1;
            assert!(waited < 2000, "the second writer neither waits nor ends");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    } else {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tx1.commit().await.unwrap();
    writer.await.unwrap()
}

/// A new order seen by two writers at once (two instances, or `orders
/// notice` recording a manual order beside the daemon): one order, one
/// status, one event. On PostgreSQL the second writer's INSERT used to
/// fail on the unique key (the first one's row was not committed when it
/// looked); SQLite serializes the two.
async fn two_writers_recording_a_new_order_at_once_store_it_once(db: Db) {
    let store = db.open().await;
    let obs = order("Race1", Phase::Reviewing, "0/CA-REVIEWING", at(1));
    two_writers(&store, obs.clone(), obs, at(1))
        .await
        .expect("the second writer records the same order");
    assert_eq!(count(&store, "SELECT count(*) FROM orders").await, 1);
    assert_eq!(
        count(&store, "SELECT count(*) FROM order_statuses").await,
        1
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM events WHERE check_kind = 'order'"
        )
        .await,
        1
    );
}

/// A status change seen by two writers at once: one new status, one
/// event. On PostgreSQL both used to read the old status before either
/// committed, so the change was recorded twice.
async fn two_writers_recording_a_status_change_at_once_record_it_once(db: Db) {
    let store = db.open().await;
    let before = order("Race2", Phase::Reviewing, "0/CA-REVIEWING", at(1));
    let mut conn = store.pool().acquire().await.unwrap();
    record::record_observation(&mut conn, &before, at(1))
        .await
        .unwrap();
    drop(conn);
    let after = order("Race2", Phase::Validated, "3/WAIT-ISSUE", at(2));
    two_writers(&store, after.clone(), after, at(2))
        .await
        .expect("the second writer records the same status");
    let id = record::find_order(store.pool(), "Race2").await.unwrap().id;
    let codes: Vec<String> = record::timeline(store.pool(), id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.status_code)
        .collect();
    assert_eq!(codes, ["0/CA-REVIEWING", "3/WAIT-ISSUE"]);
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM events WHERE check_kind = 'order'"
        )
        .await,
        2
    );
}
