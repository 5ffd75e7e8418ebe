//! Pending Tencent Cloud orders end to end: a local Tencent SSL API that
//! verifies every TC3 signature, the loopback DNS server for the validation
//! records and CAA, and a real SQLite store with the alert outbox. The
//! clock is an argument (`now`), so "eight hours later" is a value, not a
//! wait.

use crate::support;

use certvigil::alert::{ChannelId, outbox};
use certvigil::ca::Catalogue;
use certvigil::checks::caa::CaaRecord;
use certvigil::config::{Provider, ProviderKind, SecretSource};
use certvigil::dns::DnsHandle;
use certvigil::orders::judge::{Notice, NoticeKind, OrderEventKind, Thresholds};
use certvigil::orders::record;
use certvigil::orders::run::{PollReport, RunContext, poll_provider};
use certvigil::orders::tencent::TencentClient;
use certvigil::orders::validation::{FileCheckSettings, FileFetcher};
use certvigil::store::Store;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use support::dns::TestDns;
use support::tencent_mock::{TencentMock, dv_order};

const SECRET_ID: &str = "AKIDtestcertvigil0000000000000000000";
const SECRET_KEY: &str = "testsecretkeycertvigil00000000000";

/// 2026-11-20 08:00:00 GMT+8, when the orders below were placed.
fn placed() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap()
}

fn at(hours: i64) -> DateTime<Utc> {
    placed() + chrono::Duration::hours(hours)
}

struct Bench {
    mock: TencentMock,
    dns: TestDns,
    store: Store,
    client: TencentClient,
    handle: DnsHandle,
    files: FileFetcher,
    thresholds: Thresholds,
    channels: Vec<ChannelId>,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn start() -> Self {
        Self::start_with_key(SECRET_KEY).await
    }

    /// A bench whose client signs with `client_key` (the server knows
    /// SECRET_KEY).
    async fn start_with_key(client_key: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let id_file = dir.path().join("tencent.id");
        let key_file = dir.path().join("tencent.key");
        std::fs::write(&id_file, format!("{SECRET_ID}\n")).unwrap();
        std::fs::write(&key_file, format!("{client_key}\n")).unwrap();
        let mock = TencentMock::start(SECRET_ID, SECRET_KEY).await;
        let provider = Provider {
            name: "tencent".into(),
            kind: ProviderKind::Tencent,
            secret_id: Some(SecretSource::file("providers[0].secret_id_file", &id_file)),
            secret_key: Some(SecretSource::file(
                "providers[0].secret_key_file",
                &key_file,
            )),
            endpoint: Some(mock.endpoint().parse().unwrap()),
        };
        let client = TencentClient::new(&provider, &Catalogue::builtin()).unwrap();
        let dns = TestDns::start().await;
        let handle = DnsHandle::new(&dns.settings()).unwrap();
        let store = Store::open(&dir.path().join("certvigil.db")).await.unwrap();
        Self {
            mock,
            dns,
            store,
            client,
            handle,
            files: FileFetcher::new(FileCheckSettings::default(), crate::support::dns::nowhere())
                .unwrap(),
            thresholds: Thresholds::default(),
            channels: vec![ChannelId::from_stored("webhook:test#1")],
            _dir: dir,
        }
    }

    async fn poll(&self, now: DateTime<Utc>) -> PollReport {
        let views = certvigil::views::Views::default();
        let ctx = RunContext {
            dns: &self.handle,
            dnssec: None,
            views: &views,
            files: &self.files,
            thresholds: &self.thresholds,
            risk: None,
            channels: &self.channels,
        };
        poll_provider(&self.client, self.store.pool(), &ctx, now).await
    }
}

fn raised(report: &PollReport) -> Vec<OrderEventKind> {
    report
        .outcomes
        .iter()
        .flat_map(|o| o.transitions.raised.iter().map(|e| e.kind))
        .collect()
}

fn assert_clean(report: &PollReport) {
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[tokio::test]
async fn ca_reviewing_after_a_recorded_notice_raises_order_stuck_with_the_lag_explanation() {
    let b = Bench::start().await;
    b.mock
        .set_certificate("Juz8JAxn", dv_order("www.example.com", "CA-REVIEWING"));
    b.dns
        .set_txt("_dnsauth.www.example.com", &["20261120000000abcdef"]);

    let first = b.poll(at(1)).await;
    assert_clean(&first);
    assert_eq!(raised(&first), []);

    // The CA mails at 02:00; the user records it.
    let order = record::find_order(b.store.pool(), "tencent/Juz8JAxn")
        .await
        .unwrap();
    record::add_notice(
        b.store.pool(),
        order.id,
        &Notice {
            at: at(2),
            kind: NoticeKind::ValidationPassed,
            note: Some("TrustAsia: validation passed, issuing".into()),
        },
        at(2),
    )
    .await
    .unwrap();

    // Five hours later: still within the usual lag.
    assert_eq!(raised(&b.poll(at(7)).await), []);

    let report = b.poll(at(9)).await;
    assert_clean(&report);
    assert_eq!(raised(&report), [OrderEventKind::OrderStuck]);
    let e = &report.outcomes[0].transitions.raised[0];
    assert!(
        e.summary.contains("console may lag the CA"),
        "{}",
        e.summary
    );
    assert!(
        e.reason.contains("TrustAsia: validation passed, issuing"),
        "{}",
        e.reason
    );
    assert!(e.reason.contains("CA-REVIEWING"), "{}", e.reason);
    let remedy = e.remedy.as_deref().unwrap();
    assert!(remedy.contains("contact Tencent Cloud support"), "{remedy}");
    assert!(remedy.contains("CompleteCertificate"), "{remedy}");

    // The alert went to the outbox with the event that caused it.
    let rows = outbox::all(b.store.pool(), 10).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].summary, e.summary);
    assert_eq!(rows[0].channel.as_str(), "webhook:test#1");

    // State, not noise: the next poll raises nothing new.
    assert_eq!(raised(&b.poll(at(10)).await), []);
    assert_eq!(outbox::all(b.store.pool(), 10).await.unwrap().len(), 1);
    assert!(b.mock.rejected().is_empty(), "{:?}", b.mock.rejected());
}

#[tokio::test]
async fn a_missing_dnsauth_record_raises_order_blocked_until_it_is_published() {
    let b = Bench::start().await;
    b.mock
        .set_certificate("Mss1ng00", dv_order("shop.example.com", "PENDING-DCV"));

    let report = b.poll(at(1)).await;
    assert_clean(&report);
    assert_eq!(raised(&report), [OrderEventKind::OrderBlocked]);
    let e = &report.outcomes[0].transitions.raised[0];
    assert!(e.summary.contains("can never issue"), "{}", e.summary);
    assert!(
        e.reason.contains("_dnsauth.shop.example.com"),
        "{}",
        e.reason
    );
    assert!(
        e.remedy
            .as_deref()
            .unwrap()
            .contains("\"20261120000000abcdef\""),
        "{:?}",
        e.remedy
    );

    // A wrong value is still blocking, with a new cause.
    b.dns.set_txt("_dnsauth.shop.example.com", &["stale-value"]);
    let report = b.poll(at(2)).await;
    assert_eq!(raised(&report), [OrderEventKind::OrderBlocked]);
    assert!(
        report.outcomes[0].transitions.raised[0]
            .reason
            .contains("stale-value")
    );

    b.dns
        .set_txt("_dnsauth.shop.example.com", &["20261120000000abcdef"]);
    let report = b.poll(at(3)).await;
    assert_eq!(raised(&report), []);
    let cleared: Vec<_> = report.outcomes[0]
        .transitions
        .cleared
        .iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(cleared, [OrderEventKind::OrderBlocked]);
}

#[tokio::test]
async fn caa_forbidding_the_orders_ca_raises_order_blocked_at_once() {
    let b = Bench::start().await;
    b.mock
        .set_certificate("CaaF0rb1", dv_order("www.example.net", "PENDING-DCV"));
    b.dns
        .set_txt("_dnsauth.www.example.net", &["20261120000000abcdef"]);
    b.dns.set_caa(
        "example.net",
        [CaaRecord::new(0, "issue", "letsencrypt.org")],
    );

    // The very first poll, an hour after the order was placed.
    let report = b.poll(at(1)).await;
    assert_clean(&report);
    assert_eq!(raised(&report), [OrderEventKind::OrderBlocked]);
    let e = &report.outcomes[0].transitions.raised[0];
    assert!(
        e.summary
            .contains("CAA forbids TrustAsia for www.example.net"),
        "{}",
        e.summary
    );
    assert!(
        e.remedy.as_deref().unwrap().contains("trustasia"),
        "{:?}",
        e.remedy
    );
}

#[tokio::test]
async fn an_issued_order_resolves_and_is_no_longer_polled() {
    let b = Bench::start().await;
    b.mock
        .set_certificate("Issu3d00", dv_order("api.example.com", "PENDING-DCV"));
    assert_eq!(raised(&b.poll(at(1)).await), [OrderEventKind::OrderBlocked]);

    // Issued: DescribeCertificates no longer lists it as pending, but the
    // stored pending order is observed once more.
    b.mock
        .update_certificate("Issu3d00", json!({"Status": 1, "StatusMsg": ""}));
    b.mock.add_log(
        json!({"Action": "签发", "Type": "issued", "CreatedOn": "2026-11-20 10:00:00",
                          "Uin": "100000000001", "CertId": "Issu3d00"}),
    );
    let report = b.poll(at(3)).await;
    assert_clean(&report);
    assert_eq!(raised(&report), [OrderEventKind::OrderIssued]);
    let outcome = &report.outcomes[0];
    assert_eq!(outcome.holding.len(), 1);
    assert_eq!(
        outcome
            .transitions
            .cleared
            .iter()
            .map(|c| c.kind)
            .collect::<Vec<_>>(),
        [OrderEventKind::OrderBlocked]
    );
    assert!(
        record::pending_ids(b.store.pool(), "tencent")
            .await
            .unwrap()
            .is_empty()
    );
    let timeline = record::timeline(
        b.store.pool(),
        record::find_order(b.store.pool(), "Issu3d00")
            .await
            .unwrap()
            .id,
    )
    .await
    .unwrap();
    assert_eq!(
        timeline
            .iter()
            .map(|t| t.status_code.as_str())
            .collect::<Vec<_>>(),
        ["0/PENDING-DCV", "1"]
    );

    let calls_before = b.mock.calls().len();
    let report = b.poll(at(4)).await;
    assert!(report.outcomes.is_empty());
    assert_eq!(b.mock.calls()[calls_before..], ["DescribeCertificates"]);
}

#[tokio::test]
async fn validation_passed_but_not_issued_is_stuck_from_the_tencent_signals() {
    let b = Bench::start().await;
    b.mock
        .set_certificate("Wa1t1ss0", dv_order("www.example.org", "CA-REVIEWING"));
    b.mock.set_verification(
        "Wa1t1ss0",
        json!([{"Domain": "www.example.org", "VerifyType": "DNS", "LocalCheck": 1, "CaCheck": 2,
                "LocalCheckFailReason": "", "CheckValue": ["20261120000000abcdef"],
                "Frequently": false, "Issued": false}]),
    );
    b.mock.add_log(json!({"Action": "域名验证通过", "Type": "domainValidationPassed",
                          "CreatedOn": "2026-11-20 09:00:00", "Uin": "100000000001", "CertId": "Wa1t1ss0"}));
    // The record was removed after validation; that must not block.
    let report = b.poll(at(2)).await;
    assert_clean(&report);
    assert_eq!(raised(&report), []);
    let report = b.poll(at(4)).await;
    assert_eq!(raised(&report), [OrderEventKind::OrderStuck]);
    let e = &report.outcomes[0].transitions.raised[0];
    assert!(e.reason.contains("domainValidationPassed"), "{}", e.reason);
    assert_eq!(e.since, at(1));
}

#[tokio::test]
async fn a_wrong_signature_is_refused_and_reported_with_what_to_check() {
    let b = Bench::start_with_key("not-the-right-secret-key-000000000").await;
    b.mock
        .set_certificate("Juz8JAxn", dv_order("www.example.com", "CA-REVIEWING"));
    let report = b.poll(at(1)).await;
    assert!(report.outcomes.is_empty());
    let (_, message) = &report.errors[0];
    assert!(
        message.contains("AuthFailure.SignatureFailure"),
        "{message}"
    );
    assert!(message.contains("clock"), "{message}");
    assert!(
        !message.contains("not-the-right-secret-key"),
        "the secret leaked: {message}"
    );
    assert_eq!(
        b.mock.rejected(),
        ["DescribeCertificates: AuthFailure.SignatureFailure"]
    );
    assert!(b.mock.calls().is_empty());
}

#[tokio::test]
async fn throttling_stops_the_poll_and_asks_to_come_back_later() {
    let b = Bench::start().await;
    b.mock
        .set_certificate("Juz8JAxn", dv_order("www.example.com", "CA-REVIEWING"));
    b.mock.throttle_next(1);
    let report = b.poll(at(1)).await;
    assert!(report.outcomes.is_empty());
    assert!(report.retry_after.is_some());
    assert!(
        report.errors[0].1.contains("throttled"),
        "{:?}",
        report.errors
    );
    // The next poll goes through.
    let report = b.poll(at(2)).await;
    assert_clean(&report);
    assert_eq!(report.outcomes.len(), 1);
}

/// Issue 11: the order poller read, then wrote, in a deferred transaction;
/// when the check writer committed in between, the upgrade to a write
/// failed at once with SQLITE_BUSY_SNAPSHOT ("database is locked"), which
/// busy_timeout cannot help. IMMEDIATE takes the write lock first and waits
/// its turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_while_another_writer_holds_the_lock_waits_its_turn() {
    use sqlx::Connection;
    let b = Bench::start().await;
    b.mock
        .set_certificate("Juz8JAxn", dv_order("www.example.com", "CA-REVIEWING"));
    b.dns
        .set_txt("_dnsauth.www.example.com", &["20261120000000abcdef"]);
    assert_clean(&b.poll(at(1)).await);

    // The check writer: holds the write lock for a moment, writes, commits.
    let url = format!("sqlite://{}", b.store.path().display());
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query("INSERT INTO targets (domain, wildcard, ca, created_at) VALUES ('x.example', 0, 'letsencrypt', 0)")
        .execute(&mut other)
        .await
        .unwrap();
    let (report, ()) = tokio::join!(b.poll(at(2)), async {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    });
    assert_clean(&report);
    assert_eq!(report.outcomes.len(), 1);
}

/// A refused key lists no order at all: the failure must still reach
/// `orders list` and `status` (text and JSON), not only the daemon log.
#[tokio::test]
async fn a_refused_key_shows_in_orders_list_and_status() {
    let b = Bench::start_with_key("not-the-right-secret-key-000000000").await;
    let report = b.poll(at(1)).await;
    assert!(!report.errors.is_empty());
    let polls = record::source_polls(b.store.pool()).await.unwrap();
    assert_eq!(polls.len(), 1, "{polls:?}");
    assert!(
        polls[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("AuthFailure.SignatureFailure")),
        "{polls:?}"
    );

    let config = b._dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\ndatabase = \"{}\"\n\n[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\n",
            b._dir.path().join("certvigil.db").display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(support::daemon::BIN)
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_remove("CERTVIGIL_CONFIG")
            .output()
            .unwrap()
    };
    let list = run(&["orders", "list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("source tencent: polling failed")
            && text.contains("AuthFailure.SignatureFailure"),
        "{text}"
    );
    let status = run(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("\norders:\n"), "{text}");
    assert!(text.contains("AuthFailure.SignatureFailure"), "{text}");
    let json = run(&["status", "--format", "json"]);
    let source = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["source"] == "tencent")
        .expect("a source line");
    assert!(
        source["last_error"]
            .as_str()
            .unwrap()
            .contains("AuthFailure.SignatureFailure"),
        "{source}"
    );

    let json = run(&["orders", "list", "--format", "json"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["source"], "tencent");
    assert!(lines[0]["last_error"].is_string(), "{lines:?}");

    // A good poll clears it.
    record::record_source_poll(b.store.pool(), "tencent", Ok(()), at(2))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&run(&["orders", "list"]).stdout).to_string();
    assert!(!text.contains("polling failed"), "{text}");
}
