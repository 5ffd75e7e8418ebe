//! `certvigil store copy --from sqlite:PATH --to postgres://…` (the binary)
//! moves a real history — the database the 0.1.0 daemon wrote, upgraded —
//! into a fresh PostgreSQL database without losing a row.

use crate::support;

use std::process::Command;

use certvigil::alert::outbox;
use certvigil::store::{HistoryFilter, Store, TargetKey};
use chrono::Utc;
use support::daemon::BIN;
use support::postgres::fresh_database;

const TABLES: &[&str] = &[
    "targets",
    "observations",
    "events",
    "check_state",
    "runs",
    "run_days",
    "caa_rrsets",
    "target_reports",
    "alert_outbox",
    "orders",
    "order_statuses",
    "order_notices",
    "order_conditions",
    "order_sources",
];

async fn count(store: &Store, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn store_copy_moves_every_event_outbox_row_and_order_to_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certvigil.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/upgrade/v0.1.0.db"),
        &path,
    )
    .unwrap();
    // The daemon's start-up migration, as after an upgrade.
    let sqlite = Store::open(&path).await.unwrap();
    let url = fresh_database().await;

    let out = Command::new(BIN)
        .args(["store", "copy", "--from"])
        .arg(format!("sqlite:{}", path.display()))
        .args(["--to", &url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The 0.1.0 history: 20 check events, and 4 order events migration
    // 0042 carried into the timeline.
    assert!(stdout.contains("events: 24 rows"), "{stdout}");

    let pg = Store::open_existing(std::path::Path::new(&url))
        .await
        .unwrap();
    for table in TABLES {
        assert_eq!(
            count(&pg, table).await,
            count(&sqlite, table).await,
            "{table}"
        );
    }
    // Every event, with its before/after states, in the same timeline.
    let all = HistoryFilter::default();
    let before = sqlite.history(&all).await.unwrap();
    assert_eq!(before.len(), 24);
    assert_eq!(pg.history(&all).await.unwrap(), before);
    assert_eq!(pg.status().await.unwrap(), sqlite.status().await.unwrap());
    assert_eq!(
        format!("{:?}", outbox::all(pg.pool(), 1000).await.unwrap()),
        format!("{:?}", outbox::all(sqlite.pool(), 1000).await.unwrap())
    );
    assert_eq!(
        format!(
            "{:?}",
            certvigil::orders::record::list_orders(pg.pool())
                .await
                .unwrap()
        ),
        format!(
            "{:?}",
            certvigil::orders::record::list_orders(sqlite.pool())
                .await
                .unwrap()
        )
    );
    pg.close().await;

    // The copy goes on from there: new rows get new ids.
    let pg = Store::open(std::path::Path::new(&url)).await.unwrap();
    let max: i64 = sqlx::query_scalar("SELECT max(id) FROM targets")
        .fetch_one(pg.pool())
        .await
        .unwrap();
    let added = pg
        .sync_targets(
            &[TargetKey {
                domain: certvigil::domain::DomainName::from_ascii("new.example").unwrap(),
                wildcard: false,
                ca: "letsencrypt".into(),
            }],
            Utc::now(),
        )
        .await
        .unwrap();
    assert!(added[0].id > max);

    // A second copy into a database that has a history is refused.
    let again = Command::new(BIN)
        .args(["store", "copy", "--from"])
        .arg(format!("sqlite:{}", path.display()))
        .args(["--to", &url])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("empty database"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// Issue 16: `/metrics` shows the instances sharing a PostgreSQL database
/// (when each was last seen, how many domains it holds), not the stopped
/// ones; an SQLite store has none.
#[tokio::test]
async fn metrics_show_the_running_instances_of_a_shared_database() {
    let url = support::postgres::fresh_database().await;
    let pg = Store::open(std::path::Path::new(&url)).await.unwrap();
    let seen = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    pg.register_instance("alive-1", "host-a", 11, seen)
        .await
        .unwrap();
    pg.register_instance("gone-2", "host-b", 12, seen)
        .await
        .unwrap();
    pg.instance_stopped("gone-2", seen).await.unwrap();
    let text = certvigil::web::metrics::render(&pg).await.unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("certvigil_instance_last_seen_timestamp_seconds{"))
        .unwrap_or_else(|| panic!("no instance metric:\n{text}"));
    assert!(
        line.contains("id=\"alive-1\"") && line.contains("host=\"host-a\""),
        "{line}"
    );
    assert!(line.ends_with(&format!(" {}", seen.timestamp())), "{line}");
    assert!(
        !text.contains("gone-2"),
        "a stopped instance is not shown:\n{text}"
    );
    assert!(text.contains("certvigil_instance_leases{"), "{text}");

    // The web board lists them too.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let web = certvigil::web::WebServer::start(
        &certvigil::config::WebConfig {
            listen: Some(listen),
            token: None,
            require_token: false,
        },
        pg.clone(),
        Default::default(),
    )
    .await
    .unwrap()
    .unwrap();
    certvigil::tls::ensure_crypto_provider();
    let page = reqwest::get(format!("http://{listen}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Instances sharing this database"), "{page}");
    assert!(
        page.contains("alive-1") && page.contains("host-a"),
        "{page}"
    );
    assert!(page.contains("stopped 2026-12-01T10:00:00Z"), "{page}");
    web.shutdown().await;
    pg.close().await;

    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&dir.path().join("one.db")).await.unwrap();
    let text = certvigil::web::metrics::render(&sqlite).await.unwrap();
    assert!(
        !text.contains("certvigil_instance_last_seen_timestamp_seconds{"),
        "{text}"
    );
    sqlite.close().await;
}
