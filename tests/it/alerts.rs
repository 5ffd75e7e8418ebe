//! Alerts end to end against real servers on 127.0.0.1: an SMTP server
//! (python3-aiosmtpd) that parses what it receives, HTTP servers that record
//! webhooks and answer scripted statuses, and real SQLite files.

use crate::support;

use std::time::Duration;

use certvigil::alert::deliver::{self, DeliverConfig, Deliverers, Outcome};
use certvigil::alert::outbox::{self, RetryPolicy};
use certvigil::alert::policy::{self, CaUnderRrset, CaaRrset};
use certvigil::alert::{Alert, AlertKind, Channel, ChannelId, SendError, render, webhook};
use certvigil::checks::caa::CaaRecord;
use certvigil::config::{self, Config};
use certvigil::store::Store;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::http::{HttpReceiver, Reply};
use support::postgres::Db;
use support::smtp::{self, SmtpSink};

fn config(toml: &str) -> Config {
    match config::parse(toml, "test.toml") {
        Ok(c) => c,
        Err(e) => panic!("test config does not parse: {e}\n{toml}"),
    }
}

fn email_toml(port: u16, extra: &str) -> String {
    format!(
        r#"
[[alerts.email]]
server = "127.0.0.1"
port = {port}
tls = "none"
from = "certvigil <certvigil@example.com>"
to = ["ops@example.com", "Ünïcode Person <oncall@example.net>"]
{extra}
"#
    )
}

fn webhook_toml(url: &str, format: &str, secret_file: Option<&std::path::Path>) -> String {
    let secret = secret_file
        .map(|p| format!("secret_file = {:?}", p.display().to_string()))
        .unwrap_or_default();
    format!(
        r#"
[[alerts.webhook]]
url = "{url}"
format = "{format}"
{secret}
"#
    )
}

fn channels(toml: &str) -> Vec<Channel> {
    Channel::all_from_config(&config(toml).alerts)
}

fn rrset(values: &[&str]) -> CaaRrset {
    CaaRrset::new(
        Some("bücher.example".into()),
        values
            .iter()
            .map(|v| CaaRecord::new(0, "issue", v))
            .collect(),
    )
}

/// A real drift alert from the policy: Sectigo was allowed, now it is not.
fn drift_alert(at: DateTime<Utc>) -> Alert {
    let mut a = policy::decide_drift(
        Some(&rrset(&["sectigo.com"])),
        &rrset(&["letsencrypt.org"]),
        "bücher.example",
        &[CaUnderRrset {
            ca: "Sectigo".into(),
            forbidden: true,
        }],
        at,
    )
    .expect("a drift");
    a.remedy = Some("Add the record: bücher.example. CAA 0 issue \"sectigo.com\"".into());
    a
}

fn secret_file(dir: &tempfile::TempDir, name: &str, value: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, format!("{value}\n")).unwrap();
    p
}

async fn store(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("certvigil.db")).await.unwrap()
}

async fn enqueue(store: &Store, alert: &Alert, channels: &[Channel]) {
    let ids: Vec<ChannelId> = channels.iter().map(|c| c.id().clone()).collect();
    let mut tx = store.pool().begin().await.unwrap();
    outbox::enqueue(&mut tx, alert, &ids).await.unwrap();
    tx.commit().await.unwrap();
}

fn hmac_hex(key: &[u8], msg: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    hex::encode(m.finalize().into_bytes())
}

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    use base64::Engine;
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

// ---------------------------------------------------------------- email

#[tokio::test]
async fn email_arrives_with_subject_body_and_headers() {
    let sink = SmtpSink::start();
    let chans = channels(&email_toml(sink.port, ""));
    let alert = drift_alert(Utc::now());
    chans[0].send(&alert).await.unwrap();

    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(
        mail.subject,
        "[certvigil] CAA at bücher.example now forbids Sectigo"
    );
    // Non-ASCII subjects travel as RFC 2047 encoded-words, not raw UTF-8.
    let raw_subject = mail.header("Subject").unwrap();
    assert!(raw_subject.is_ascii(), "{raw_subject}");
    assert!(raw_subject.contains("=?utf-8?"), "{raw_subject}");
    let (head, _) = mail.raw.split_once("\r\n\r\n").unwrap();
    assert!(head.is_ascii(), "headers must be 7-bit:\n{head}");
    assert_eq!(mail.mail_from, "certvigil@example.com");
    assert_eq!(mail.rcpt_tos, ["ops@example.com", "oncall@example.net"]);
    assert_eq!(
        mail.header("Message-ID").unwrap(),
        format!("<certvigil.{}@example.com>", alert.id)
    );
    let date = mail.header("Date").unwrap();
    assert!(
        DateTime::parse_from_rfc2822(date).is_ok(),
        "Date is not RFC 5322: {date}"
    );
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("text/plain; charset=utf-8")
    );
    for needle in [
        "The CAA record set that decides for bücher.example changed.",
        "no longer authorize Sectigo",
        "Before:\n  bücher.example. CAA 0 issue \"sectigo.com\"",
        "After:\n  bücher.example. CAA 0 issue \"letsencrypt.org\"",
        "How to fix it:\n  Add the record",
        "First seen:",
        "certvigil history bücher.example",
    ] {
        assert!(
            mail.body.contains(needle),
            "missing {needle:?} in\n{}",
            mail.body
        );
    }
}

#[tokio::test]
async fn email_authenticates_with_the_password_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start_on(0, Some(("certvigil", "hunter2-secret")));
    let good = secret_file(&dir, "good", "hunter2-secret");
    let bad = secret_file(&dir, "bad", "wrong-secret");
    let toml = |p: &std::path::Path| {
        email_toml(
            sink.port,
            &format!(
                "username = \"certvigil\"\npassword_file = {:?}",
                p.display().to_string()
            ),
        )
    };
    let alert = drift_alert(Utc::now());

    let err = channels(&toml(&bad))[0].send(&alert).await.unwrap_err();
    assert!(matches!(err, SendError::Smtp { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("wrong-secret"), "secret leaked: {text}");
    assert!(sink.messages().is_empty());

    channels(&toml(&good))[0].send(&alert).await.unwrap();
    assert_eq!(sink.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn starttls_is_required_not_opportunistic() {
    // The sink offers no STARTTLS: the mail must not go out in clear.
    let sink = SmtpSink::start();
    let toml = email_toml(sink.port, "").replace("tls = \"none\"", "tls = \"starttls\"");
    let err = channels(&toml)[0]
        .send(&drift_alert(Utc::now()))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Smtp { .. }), "{err:?}");
    assert!(sink.messages().is_empty());
}

// ---------------------------------------------------------------- webhooks

#[tokio::test]
async fn generic_webhook_is_signed_over_timestamp_and_body() {
    let dir = tempfile::tempdir().unwrap();
    let key = secret_file(&dir, "hook", "whsec-123");
    let recv = HttpReceiver::ok("").await;
    let chans = channels(&webhook_toml(&recv.url("/hook"), "generic", Some(&key)));
    let alert = drift_alert(Utc::now());
    chans[0].send(&alert).await.unwrap();

    let req = recv.wait_for(1).await.remove(0);
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/hook");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let t = req.header("x-certvigil-timestamp").unwrap();
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&req.body);
    assert_eq!(
        req.header("x-certvigil-signature").unwrap(),
        format!("t={t},v1={}", hmac_hex(b"whsec-123", &signed))
    );
    assert_eq!(req.header("x-certvigil-delivery"), Some(alert.id.as_str()));

    let body = req.json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["event"], "caa_drift");
    assert_eq!(body["domain"], "bücher.example");
    assert_eq!(body["check"], "caa");
    assert_eq!(body["severity"], "blocking");
    assert_eq!(body["summary"], "CAA at bücher.example now forbids Sectigo");
    assert_eq!(body["before"]["records"][0]["tag"], "issue");
    assert_eq!(body["after"]["relevant_name"], "bücher.example");
    let at = body["at"].as_str().unwrap();
    assert!(DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
}

#[tokio::test]
async fn generic_webhook_without_secret_has_no_signature() {
    let recv = HttpReceiver::ok("").await;
    channels(&webhook_toml(&recv.url("/"), "generic", None))[0]
        .send(&drift_alert(Utc::now()))
        .await
        .unwrap();
    let req = recv.wait_for(1).await.remove(0);
    assert!(req.header("x-certvigil-signature").is_none());
}

#[tokio::test]
async fn chat_formats_have_their_shapes_and_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let key = secret_file(&dir, "k", "SEC-abc");
    let slack = HttpReceiver::ok("ok").await;
    let feishu = HttpReceiver::ok(r#"{"code":0,"msg":"success","data":{}}"#).await;
    let dingtalk = HttpReceiver::ok(r#"{"errcode":0,"errmsg":"ok"}"#).await;
    let wecom = HttpReceiver::ok(r#"{"errcode":0,"errmsg":"ok"}"#).await;
    let toml = [
        webhook_toml(&slack.url("/services/T/B/x"), "slack", None),
        webhook_toml(
            &feishu.url("/open-apis/bot/v2/hook/x"),
            "feishu",
            Some(&key),
        ),
        webhook_toml(
            &dingtalk.url("/robot/send?access_token=tok"),
            "dingtalk",
            Some(&key),
        ),
        webhook_toml(&wecom.url("/cgi-bin/webhook/send?key=k"), "wecom", None),
    ]
    .concat();
    let alert = drift_alert(Utc::now());
    for c in channels(&toml) {
        c.send(&alert)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", c.id()));
    }
    let subject = render::subject(&alert);

    let s = slack.wait_for(1).await.remove(0).json();
    assert!(s["text"].as_str().unwrap().starts_with(&subject), "{s}");

    let f = feishu.wait_for(1).await.remove(0).json();
    assert_eq!(f["msg_type"], "text");
    assert!(
        f["content"]["text"]
            .as_str()
            .unwrap()
            .contains("Fix: Add the record")
    );
    let ts = f["timestamp"].as_str().unwrap();
    assert_eq!(
        f["sign"].as_str().unwrap(),
        hmac_b64(format!("{ts}\nSEC-abc").as_bytes(), b"")
    );

    let d = dingtalk.wait_for(1).await.remove(0);
    let q = d.query();
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("access_token"), "tok");
    let ts = get("timestamp");
    assert!(ts.len() >= 13, "DingTalk wants milliseconds: {ts}");
    assert_eq!(
        get("sign"),
        hmac_b64(b"SEC-abc", format!("{ts}\nSEC-abc").as_bytes())
    );
    let dj = d.json();
    assert_eq!(dj["msgtype"], "text");
    assert!(
        dj["text"]["content"]
            .as_str()
            .unwrap()
            .starts_with(&subject)
    );

    let w = wecom.wait_for(1).await.remove(0);
    assert_eq!(w.target, "/cgi-bin/webhook/send?key=k");
    let wj = w.json();
    assert_eq!(wj["msgtype"], "text");
    let content = wj["text"]["content"].as_str().unwrap();
    assert!(content.starts_with(&subject) && content.len() <= 2048);
}

#[tokio::test]
async fn an_errcode_in_a_200_answer_is_a_failure() {
    let recv = HttpReceiver::ok(r#"{"errcode":310000,"errmsg":"sign not match"}"#).await;
    let err = channels(&webhook_toml(&recv.url("/robot/send"), "dingtalk", None))[0]
        .send(&drift_alert(Utc::now()))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Refused { .. }), "{err:?}");
    assert!(err.to_string().contains("sign not match"), "{err}");
}

#[tokio::test]
async fn redirects_are_not_followed_and_count_as_failure() {
    let elsewhere = HttpReceiver::ok("").await;
    let recv = HttpReceiver::start(
        vec![],
        Reply {
            status: 307,
            headers: vec![("location".into(), elsewhere.url("/stolen"))],
            body: String::new(),
        },
    )
    .await;
    let err = channels(&webhook_toml(&recv.url("/"), "generic", None))[0]
        .send(&drift_alert(Utc::now()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SendError::Status { status: 307, .. }),
        "{err:?}"
    );
    assert!(elsewhere.received().is_empty());
}

#[tokio::test]
async fn webhook_errors_do_not_reveal_the_url_token() {
    let port = smtp::unused_port();
    let url = format!("http://127.0.0.1:{port}/cgi-bin/webhook/send?key=TOPSECRETKEY");
    let chans = channels(&webhook_toml(&url, "wecom", None));
    let err = chans[0].send(&drift_alert(Utc::now())).await.unwrap_err();
    assert!(matches!(err, SendError::Http { .. }), "{err:?}");
    let text = format!("{err} {err:?} {}", chans[0].id());
    assert!(!text.contains("TOPSECRETKEY"), "{text}");
}

#[test]
fn the_prepared_request_is_what_a_receiver_verifies() {
    let alert = drift_alert(Utc::now());
    let url = reqwest::Url::parse("http://127.0.0.1/x").unwrap();
    let req = webhook::prepare(
        config::WebhookFormat::Generic,
        &url,
        Some("k"),
        &alert,
        1_700_000_000,
    );
    let sig = req
        .headers
        .iter()
        .find(|(k, _)| *k == "x-certvigil-signature")
        .unwrap();
    let mut signed = b"1700000000.".to_vec();
    signed.extend_from_slice(&req.body);
    assert_eq!(
        sig.1,
        format!("t=1700000000,v1={}", hmac_hex(b"k", &signed))
    );
}

// ---------------------------------------------------------------- outbox

// The outbox suite: each runs on SQLite and on PostgreSQL.
crate::on_both_backends!(
    enqueue_is_part_of_the_callers_transaction,
    a_webhook_answering_500_then_200_gets_the_alert_on_retry,
    an_alert_that_keeps_failing_is_given_up_and_listed,
    alerts_of_one_channel_keep_their_order,
    alerts_waiting_under_an_old_hash_id_follow_their_channel_at_start,
    alerts_for_a_removed_channel_fail_loudly_at_start,
);

async fn enqueue_is_part_of_the_callers_transaction(db: Db) {
    let store = db.open().await;
    let recv = HttpReceiver::ok("").await;
    let toml = [
        webhook_toml(&recv.url("/a"), "generic", None),
        webhook_toml(&recv.url("/b"), "slack", None),
    ]
    .concat();
    let chans = channels(&toml);
    let ids: Vec<ChannelId> = chans.iter().map(|c| c.id().clone()).collect();
    assert_ne!(ids[0], ids[1]);
    let alert = drift_alert(Utc::now());

    let mut tx = store.pool().begin().await.unwrap();
    outbox::enqueue(&mut tx, &alert, &ids).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(outbox::all(store.pool(), 100).await.unwrap().is_empty());

    let mut tx = store.pool().begin().await.unwrap();
    outbox::enqueue(&mut tx, &alert, &ids).await.unwrap();
    // The same alert again (a retried transaction) does not double it.
    outbox::enqueue(&mut tx, &alert, &ids).await.unwrap();
    tx.commit().await.unwrap();
    let rows = outbox::all(store.pool(), 100).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.status == "pending" && r.kind == "caa_drift")
    );
}

fn fast_retry() -> DeliverConfig {
    DeliverConfig {
        retry: RetryPolicy {
            first: Duration::from_millis(100),
            max: Duration::from_millis(200),
            give_up_after: Duration::from_secs(3600),
        },
        lease: Duration::from_secs(60),
        poll: Duration::from_millis(200),
    }
}

async fn a_webhook_answering_500_then_200_gets_the_alert_on_retry(db: Db) {
    let store = db.open().await;
    let recv = HttpReceiver::start(vec![Reply::new(500, "boom")], Reply::new(200, "")).await;
    let chans = channels(&webhook_toml(&recv.url("/"), "generic", None));
    let now = Utc::now();
    let alert = drift_alert(now);
    enqueue(&store, &alert, &chans).await;
    let cfg = DeliverConfig::default();

    let first = deliver::deliver_one(store.pool(), &chans[0], &cfg, now, 0.0)
        .await
        .unwrap();
    let Some(Outcome::Retry { at, error, .. }) = first else {
        panic!("expected a retry, got {first:?}")
    };
    assert!(
        error.contains("HTTP 500") && error.contains("boom"),
        "{error}"
    );
    assert_eq!(
        (at - now).num_seconds(),
        15,
        "first retry: half of 30s, no jitter"
    );
    // Not due yet: nothing is sent.
    assert_eq!(
        deliver::deliver_one(store.pool(), &chans[0], &cfg, now, 0.0)
            .await
            .unwrap(),
        None
    );
    let second = deliver::deliver_one(store.pool(), &chans[0], &cfg, at, 0.0)
        .await
        .unwrap();
    assert!(
        matches!(second, Some(Outcome::Delivered { .. })),
        "{second:?}"
    );

    let reqs = recv.received();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body, reqs[1].body, "a retry sends the same alert");
    let row = &outbox::all(store.pool(), 10).await.unwrap()[0];
    assert_eq!((row.status.as_str(), row.attempts), ("delivered", 2));
}

async fn an_alert_that_keeps_failing_is_given_up_and_listed(db: Db) {
    let store = db.open().await;
    let recv = HttpReceiver::start(vec![], Reply::new(503, "down")).await;
    let chans = channels(&webhook_toml(&recv.url("/"), "generic", None));
    let now = Utc::now();
    enqueue(&store, &drift_alert(now), &chans).await;
    let cfg = DeliverConfig::default();
    let late = now + chrono::Duration::hours(25);
    let out = deliver::deliver_one(store.pool(), &chans[0], &cfg, late, 0.5)
        .await
        .unwrap();
    assert!(matches!(out, Some(Outcome::Failed { .. })), "{out:?}");
    let failed = outbox::failed(store.pool(), 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].channel, *chans[0].id());
    let why = failed[0].last_error.as_deref().unwrap();
    assert!(why.contains("gave up") && why.contains("HTTP 503"), "{why}");
    assert!(
        outbox::undelivered(store.pool(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn alerts_of_one_channel_keep_their_order(db: Db) {
    let store = db.open().await;
    let recv = HttpReceiver::start(vec![Reply::new(500, "")], Reply::new(200, "")).await;
    let chans = channels(&webhook_toml(&recv.url("/"), "generic", None));
    let now = Utc::now();
    let first = drift_alert(now);
    let mut second = drift_alert(now);
    second.kind = AlertKind::Resolved;
    enqueue(&store, &first, &chans).await;
    enqueue(&store, &second, &chans).await;
    let cfg = DeliverConfig::default();
    let r = deliver::deliver_one(store.pool(), &chans[0], &cfg, now, 0.0)
        .await
        .unwrap();
    assert!(matches!(r, Some(Outcome::Retry { .. })));
    // The second alert waits behind the first, although it is due.
    assert_eq!(
        deliver::deliver_one(store.pool(), &chans[0], &cfg, now, 0.0)
            .await
            .unwrap(),
        None
    );
    let later = now + chrono::Duration::minutes(1);
    for _ in 0..2 {
        let r = deliver::deliver_one(store.pool(), &chans[0], &cfg, later, 0.0)
            .await
            .unwrap();
        assert!(matches!(r, Some(Outcome::Delivered { .. })), "{r:?}");
    }
    let events: Vec<String> = recv
        .received()
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["caa_drift", "caa_drift", "resolved"]);
}

// ---------------------------------------------------------------- faults

async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !f().await {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn smtp_down_then_up_across_a_restart_delivers_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = smtp::unused_port();
    let toml = email_toml(port, "");

    // The alert fires while the SMTP server is down.
    let store1 = store(&dir).await;
    enqueue(&store1, &drift_alert(Utc::now()), &channels(&toml)).await;
    let d = Deliverers::start(store1.pool().clone(), channels(&toml), fast_retry())
        .await
        .unwrap();
    let pool = store1.pool().clone();
    wait_until("a failed attempt", || {
        let pool = pool.clone();
        async move {
            let rows = outbox::undelivered(&pool, 10).await.unwrap();
            rows.len() == 1 && rows[0].attempts >= 1 && rows[0].last_error.is_some()
        }
    })
    .await;
    // The daemon stops (SIGTERM) ...
    d.shutdown(std::time::Duration::from_secs(30)).await;
    store1.close().await;
    drop(store1);

    // ... the server comes back, the daemon starts again.
    let sink = SmtpSink::start_on(port, None);
    let store2 = store(&dir).await;
    let d = Deliverers::start(store2.pool().clone(), channels(&toml), fast_retry())
        .await
        .unwrap();
    let mail = sink.wait_for(1).await;
    let pool = store2.pool().clone();
    wait_until("the row to be delivered", || {
        let pool = pool.clone();
        async move { outbox::all(&pool, 10).await.unwrap()[0].status == "delivered" }
    })
    .await;
    d.waker().wake();
    d.shutdown(std::time::Duration::from_secs(30)).await;
    assert_eq!(sink.messages().len(), 1, "exactly once");
    assert_eq!(
        mail[0].subject,
        "[certvigil] CAA at bücher.example now forbids Sectigo"
    );
}

#[tokio::test]
async fn a_drift_while_both_channels_are_down_is_delivered_to_both_later() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let smtp_port = smtp::unused_port();
    let hook = HttpReceiver::start(
        vec![Reply::new(502, ""), Reply::new(502, "")],
        Reply::new(200, ""),
    )
    .await;
    let toml = [
        email_toml(smtp_port, ""),
        webhook_toml(&hook.url("/"), "generic", None),
    ]
    .concat();
    let chans = channels(&toml);
    let now = Utc::now();
    let alert = drift_alert(now);
    enqueue(&store, &alert, &chans).await;
    let cfg = DeliverConfig::default();

    // Both fail, independently.
    for c in &chans {
        let r = deliver::deliver_one(store.pool(), c, &cfg, now, 0.0)
            .await
            .unwrap();
        assert!(
            matches!(r, Some(Outcome::Retry { .. })),
            "{}: {r:?}",
            c.id()
        );
    }
    let t2 = now + chrono::Duration::minutes(1);
    let r = deliver::deliver_one(store.pool(), &chans[1], &cfg, t2, 0.0)
        .await
        .unwrap();
    assert!(matches!(r, Some(Outcome::Retry { .. })), "{r:?}");

    // Both come back.
    let sink = SmtpSink::start_on(smtp_port, None);
    let t3 = now + chrono::Duration::minutes(5);
    for c in &chans {
        let r = deliver::deliver_one(store.pool(), c, &cfg, t3, 0.0)
            .await
            .unwrap();
        assert!(
            matches!(r, Some(Outcome::Delivered { .. })),
            "{}: {r:?}",
            c.id()
        );
    }
    assert_eq!(sink.wait_for(1).await[0].subject, render::subject(&alert));
    let reqs = hook.received();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[2].json()["event"], "caa_drift");
    assert_eq!(reqs[2].json()["id"], alert.id.as_str());
    let rows = outbox::all(store.pool(), 10).await.unwrap();
    assert!(rows.iter().all(|r| r.status == "delivered"), "{rows:?}");
}

#[tokio::test]
async fn one_dead_channel_does_not_hold_up_another() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let hook = HttpReceiver::ok("").await;
    let toml = [
        email_toml(smtp::unused_port(), ""),
        webhook_toml(&hook.url("/"), "generic", None),
    ]
    .concat();
    let cfg = DeliverConfig {
        retry: RetryPolicy {
            first: Duration::from_secs(3600),
            ..RetryPolicy::default()
        },
        ..fast_retry()
    };
    let d = Deliverers::start(store.pool().clone(), channels(&toml), cfg)
        .await
        .unwrap();
    for _ in 0..2 {
        enqueue(&store, &drift_alert(Utc::now()), &channels(&toml)).await;
        d.waker().wake();
    }
    assert_eq!(hook.wait_for(2).await.len(), 2);
    d.shutdown(std::time::Duration::from_secs(30)).await;
    let rows = outbox::undelivered(store.pool(), 10).await.unwrap();
    assert_eq!(rows.len(), 2, "both mails still wait for the dead server");
    assert!(
        rows.iter()
            .all(|r| r.channel.as_str().starts_with("email:"))
    );
}

async fn alerts_for_a_removed_channel_fail_loudly_at_start(db: Db) {
    let store = db.open().await;
    let hook = HttpReceiver::ok("").await;
    let old = channels(&webhook_toml(&hook.url("/old"), "generic", None));
    enqueue(&store, &drift_alert(Utc::now()), &old).await;
    // The webhook is gone; only a mail channel is left (a channel of
    // another kind never inherits waiting alerts).
    let d = Deliverers::start(
        store.pool().clone(),
        channels(&email_toml(smtp::unused_port(), "")),
        fast_retry(),
    )
    .await
    .unwrap();
    d.shutdown(std::time::Duration::from_secs(30)).await;
    let failed = outbox::failed(store.pool(), 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("no longer in the configuration")
    );
    assert!(hook.received().is_empty());
}

/// Rows left waiting by a version that keyed channels by a hash of their
/// URL follow the channel at start: the configured webhook whose old id
/// that was, even after its URL changed (the only webhook left).
async fn alerts_waiting_under_an_old_hash_id_follow_their_channel_at_start(db: Db) {
    let store = db.open().await;
    let hook = HttpReceiver::ok("").await;
    let legacy = ChannelId::from_stored("webhook:generic:127.0.0.1#0badc0de");
    let mut tx = store.pool().begin().await.unwrap();
    outbox::enqueue(&mut tx, &drift_alert(Utc::now()), &[legacy])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let d = Deliverers::start(
        store.pool().clone(),
        channels(&webhook_toml(&hook.url("/fixed"), "generic", None)),
        fast_retry(),
    )
    .await
    .unwrap();
    let got = hook.wait_for(1).await;
    assert_eq!(got[0].target, "/fixed");
    d.shutdown(std::time::Duration::from_secs(30)).await;
    assert!(outbox::failed(store.pool(), 10).await.unwrap().is_empty());
    let rows = outbox::all(store.pool(), 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].channel.as_str(), "webhook:127.0.0.1");
    assert_eq!(rows[0].status, "delivered");
}

// ---------------------------------------------------------------- alert test

/// Runs `certvigil alert test --config <file>` as the CLI does (it builds
/// its own runtime, so it runs on a blocking thread).
async fn alert_test(config_text: String) -> (u8, String, String) {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config_text).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = certvigil::cli::alert::test(&path, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_test_reports_each_channel_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let key = secret_file(&dir, "k", "SIGNING-SECRET");
    let sink = SmtpSink::start();
    let hook = HttpReceiver::ok("").await;
    let dead = format!(
        "http://127.0.0.1:{}/cgi-bin/webhook/send?key=URLTOKEN",
        smtp::unused_port()
    );
    let toml = [
        email_toml(sink.port, ""),
        webhook_toml(&hook.url("/"), "generic", Some(&key)),
        webhook_toml(&dead, "wecom", None),
    ]
    .concat();
    let (code, out, err) = alert_test(toml).await;
    assert_eq!(code, 1, "one channel failed:\n{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ok      email:127.0.0.1:"), "{out}");
    assert!(lines[1].starts_with("ok      webhook:127.0.0.1 "), "{out}");
    assert!(
        lines[2].starts_with("FAILED  webhook:127.0.0.1-2 "),
        "{out}"
    );
    assert_eq!(lines[3], "2 of 3 channels reached");
    for secret in ["SIGNING-SECRET", "URLTOKEN"] {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{secret} leaked:\n{out}{err}"
        );
    }
    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail.subject, "[certvigil] Test alert: this channel works");
    let body = hook.wait_for(1).await.remove(0).json();
    assert_eq!(body["event"], "test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_test_without_channels_is_a_usage_error() {
    let (code, out, err) = alert_test(String::new()).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("no alert channel is configured"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_test_as_json_gives_one_object_per_channel() {
    let hook = HttpReceiver::ok("").await;
    let dead = format!("http://127.0.0.1:{}/x?key=URLTOKEN", smtp::unused_port());
    let toml = [
        webhook_toml(&hook.url("/"), "generic", None),
        webhook_toml(&dead, "wecom", None),
    ]
    .concat();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, toml).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = certvigil::cli::alert::test_as(
            &path,
            certvigil::cli::status::Format::Json,
            &mut out,
            &mut err,
        );
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["channel"], "webhook:127.0.0.1");
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[0]["error"], serde_json::Value::Null);
    assert_eq!(lines[1]["ok"], false);
    assert!(lines[1]["error"].is_string(), "{out}");
    assert!(!out.contains("URLTOKEN"), "{out}");
}
