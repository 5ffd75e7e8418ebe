//! Alerts from the real daemon: `certvigil run` against the loopback DNS
//! server, whose records change while it runs, with a real SMTP server
//! (python3-aiosmtpd) and a real HTTP receiver for the webhook. What the
//! channels receive is what an operator would get.

use crate::support;

use certvigil::checks::caa::CaaRecord;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use support::daemon::DaemonBench;
use support::dns::TestDns;
use support::http::{HttpReceiver, ReceivedRequest};
use support::site::{Answer, TestSite};
use support::smtp::{self, SmtpSink};
use support::tencent_mock::{TencentMock, dv_order};

const WEBHOOK_SECRET: &str = "whsec-certvigil-test";

fn issue(ca: &str) -> CaaRecord {
    CaaRecord::new(0, "issue", ca)
}

fn email_toml(port: u16) -> String {
    format!(
        r#"
[[alerts.email]]
server = "127.0.0.1"
port = {port}
tls = "none"
from = "certvigil <certvigil@example.com>"
to = ["ops@example.com"]
"#
    )
}

fn webhook_toml(url: &str, secret_file: &str) -> String {
    format!(
        r#"
[[alerts.webhook]]
url = "{url}"
format = "generic"
secret_file = "{secret_file}"
"#
    )
}

fn domain_toml(name: &str) -> String {
    format!("\n[[domains]]\nname = \"{name}\"\nca = [\"letsencrypt\"]\n")
}

async fn dns() -> TestDns {
    let dns = TestDns::start().await;
    dns.set_logging(false);
    dns
}

/// Checks `X-Certvigil-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
fn assert_signed(req: &ReceivedRequest) {
    let header = req
        .header("x-certvigil-signature")
        .expect("a signature header");
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("signature header {header:?}"));
    assert_eq!(req.header("x-certvigil-timestamp"), Some(t));
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&req.body);
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(&signed);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("the signature verifies with the configured secret");
}

fn events(hook: &HttpReceiver) -> Vec<Value> {
    hook.received().iter().map(|r| r.json()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caa_change_sends_one_email_and_one_signed_webhook_with_the_diff() {
    let dns = dns().await;
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let smtp = SmtpSink::start();
    let hook = HttpReceiver::ok("{}").await;
    let bench = DaemonBench::new();
    let secret = bench.secret("webhook.secret", WEBHOOK_SECRET);
    bench.write_config(
        dns.addr(),
        &format!(
            "{}{}{}",
            email_toml(smtp.port),
            webhook_toml(&hook.url("/hook"), &secret),
            domain_toml("example.com")
        ),
    );
    let daemon = bench.start();
    bench
        .wait_for("example.com to be checked", || {
            bench
                .status()
                .iter()
                .any(|r| r["domain"] == "example.com" && r["verdict"] == "allowed")
                .then_some(())
        })
        .await;
    // A first check that finds nothing wrong tells nobody anything.
    assert!(smtp.messages().is_empty() && hook.received().is_empty());

    dns.set_caa("example.com", [issue("sectigo.com")]);
    let mails = smtp.wait_for(1).await;
    let requests = hook.wait_for(1).await;
    // Two more checks see the same records: no second message anywhere.
    bench.wait_checks("example.com", 2).await;
    assert_eq!(smtp.messages().len(), 1, "one email per change");
    assert_eq!(hook.received().len(), 1, "one webhook per change");

    let mail = &mails[0];
    assert!(mail.subject.contains("example.com"), "{}", mail.subject);
    assert!(
        mail.body.contains("Before:") && mail.body.contains("After:"),
        "{}",
        mail.body
    );
    let before = mail.body.find("letsencrypt.org").expect("old record");
    let after = mail.body.rfind("sectigo.com").expect("new record");
    assert!(before < after, "before, then after:\n{}", mail.body);

    let req = &requests[0];
    assert_signed(req);
    let body = req.json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["event"], "caa_drift");
    assert_eq!(body["domain"], "example.com");
    assert_eq!(body["check"], "caa");
    assert_eq!(body["severity"], "blocking");
    assert!(
        body["summary"]
            .as_str()
            .unwrap()
            .contains("now forbids Let's Encrypt"),
        "{body}"
    );
    assert_eq!(body["before"]["records"][0]["value"], "letsencrypt.org");
    assert_eq!(body["after"]["records"][0]["value"], "sectigo.com");
    let at = body["at"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(at).expect("`at` is RFC 3339");

    assert_eq!(daemon.terminate().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_raised_while_smtp_is_down_arrives_once_after_a_restart() {
    let dns = dns().await;
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let port = smtp::unused_port();
    let bench = DaemonBench::new();
    bench.write_config(
        dns.addr(),
        &format!("{}{}", email_toml(port), domain_toml("example.com")),
    );
    let daemon = bench.start();
    bench
        .wait_for("example.com to be checked", || {
            (bench.checks("example.com") > 0).then_some(())
        })
        .await;

    dns.set_caa("example.com", [issue("sectigo.com")]);
    let shown = bench
        .wait_for("status to list the alert as not delivered", || {
            let text = bench.cli_text(&["status"])?;
            text.contains("alerts not delivered yet (1)")
                .then_some(text)
                .filter(|t| t.contains("1 attempt,"))
        })
        .await;
    assert!(
        shown.contains("caa_drift example.com via email:127.0.0.1:"),
        "{shown}"
    );
    assert!(shown.contains("now forbids Let's Encrypt"), "{shown}");

    // The operator fixes the mail server and restarts certvigil.
    assert_eq!(daemon.terminate().await, Some(0));
    let smtp = SmtpSink::start_on(port, None);
    let daemon = bench.start();
    let mails = smtp.wait_for(1).await;
    assert!(mails[0].body.contains("sectigo.com"), "{}", mails[0].body);
    bench.wait_checks("example.com", 2).await;
    assert_eq!(smtp.messages().len(), 1, "delivered exactly once");
    let text = bench.cli_text(&["status"]).unwrap();
    assert!(!text.contains("not delivered"), "{text}");

    assert_eq!(daemon.terminate().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_domain_that_is_forbidden_alerts_blocking_then_resolved() {
    let dns = dns().await;
    dns.set_caa("example.org", [issue("sectigo.com")]);
    let hook = HttpReceiver::ok("{}").await;
    let bench = DaemonBench::new();
    let secret = bench.secret("webhook.secret", WEBHOOK_SECRET);
    bench.write_config(
        dns.addr(),
        &format!(
            "{}{}",
            webhook_toml(&hook.url("/hook"), &secret),
            domain_toml("example.org")
        ),
    );
    let daemon = bench.start();

    hook.wait_for(1).await;
    bench.wait_checks("example.org", 2).await;
    let got = events(&hook);
    assert_eq!(
        got.len(),
        1,
        "one blocking alert, not one per check: {got:?}"
    );
    assert_eq!(got[0]["event"], "blocking");
    assert_eq!(got[0]["check"], "caa");
    assert_eq!(got[0]["severity"], "blocking");
    assert_eq!(got[0]["domain"], "example.org");
    assert!(
        got[0]["remedy"]
            .as_str()
            .unwrap_or_default()
            .contains("letsencrypt.org"),
        "the remedy names the record to add: {}",
        got[0]
    );

    dns.set_caa("example.org", [issue("letsencrypt.org")]);
    hook.wait_for(2).await;
    bench.wait_checks("example.org", 2).await;
    let got = events(&hook);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1]["event"], "resolved");
    assert_eq!(got[1]["check"], "caa");
    assert_eq!(got[1]["severity"], "info");
    assert_eq!(got[1]["after"]["records"][0]["value"], "letsencrypt.org");
    for req in hook.received() {
        assert_signed(&req);
    }

    assert_eq!(daemon.terminate().await, Some(0));
}

const CANARY: &str = "/.well-known/pki-validation/canary.txt";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_stops_being_served_alerts_blocking_then_resolved() {
    let dns = dns().await;
    dns.set_caa("shop.example.com", [issue("letsencrypt.org")]);
    dns.set_a("shop.example.com", &[std::net::Ipv4Addr::LOCALHOST]);
    let site = TestSite::start("shop.example.com");
    site.serve(CANARY, "certvigil-canary-7f3a\n");
    let hook = HttpReceiver::ok("{}").await;
    let bench = DaemonBench::new();
    let secret = bench.secret("webhook.secret", WEBHOOK_SECRET);
    bench.write_config(
        dns.addr(),
        &format!(
            r#"
[reach]
http_port = {http}
https_port = {https}
{webhook}
[[domains]]
name = "shop.example.com"
ca = ["letsencrypt"]
validation_method = "http-01"
canary_path = "{CANARY}"
canary_content = "certvigil-canary-7f3a"
"#,
            http = site.http.port(),
            https = site.https.port(),
            webhook = webhook_toml(&hook.url("/hook"), &secret),
        ),
    );
    let daemon = bench.start();
    let reach_of = |bench: &DaemonBench| {
        bench
            .status()
            .into_iter()
            .find(|r| r["domain"] == "shop.example.com")
            .and_then(|r| r.get("reach").cloned())
    };
    let ok = bench
        .wait_for("a reach verdict in status", || reach_of(&bench))
        .await;
    assert_eq!(ok["verdict"], "reachable", "{ok}");
    assert_eq!(ok["blocks"], false);

    // The canary goes away: a CA fetching it would get a 404.
    site.answer(
        CANARY,
        Answer::File {
            status: 404,
            body: "not found".into(),
        },
    );
    let requests = hook.wait_for(1).await;
    let blocking = requests[0].json();
    assert_signed(&requests[0]);
    assert_eq!(blocking["event"], "blocking", "{blocking}");
    assert_eq!(blocking["check"], "reach");
    assert_eq!(blocking["domain"], "shop.example.com");
    assert_eq!(blocking["severity"], "blocking");
    assert!(
        blocking["summary"].as_str().unwrap().contains("404"),
        "{blocking}"
    );
    let state = reach_of(&bench).unwrap();
    assert_eq!(state["blocks"], true, "{state}");
    let text = bench.cli_text(&["status"]).unwrap();
    assert!(
        text.contains("reachability of the validation path"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "shop.example.com  letsencrypt: {}",
            state["verdict"].as_str().unwrap()
        )),
        "{text}"
    );

    // It comes back: resolved, once.
    site.serve(CANARY, "certvigil-canary-7f3a\n");
    hook.wait_for(2).await;
    bench.wait_checks("shop.example.com", 2).await;
    let got = events(&hook);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1]["event"], "resolved");
    assert_eq!(got[1]["check"], "reach");
    assert_eq!(reach_of(&bench).unwrap()["verdict"], "reachable");
    let history = bench.cli_text(&["history", "shop.example.com"]).unwrap();
    assert!(
        history.contains("shop.example.com  letsencrypt  reach  reach_change"),
        "{history}"
    );

    assert_eq!(daemon.terminate().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tencent_order_missing_its_dnsauth_record_alerts_order_blocked() {
    const SECRET_ID: &str = "AKIDtestcertvigil0000000000000000000";
    const SECRET_KEY: &str = "testsecretkeycertvigil00000000000";
    let dns = dns().await;
    let mock = TencentMock::start(SECRET_ID, SECRET_KEY).await;
    mock.set_certificate("Mss1ng00", dv_order("shop.example.com", "PENDING-DCV"));
    let hook = HttpReceiver::ok("{}").await;
    let bench = DaemonBench::new();
    let secret = bench.secret("webhook.secret", WEBHOOK_SECRET);
    let id_file = bench.secret("tencent.id", SECRET_ID);
    let key_file = bench.secret("tencent.key", SECRET_KEY);
    bench.write_config(
        dns.addr(),
        &format!(
            r#"{webhook}
[[providers]]
name = "tencent"
kind = "tencent"
secret_id_file = "{id_file}"
secret_key_file = "{key_file}"
endpoint = "{endpoint}"
"#,
            webhook = webhook_toml(&hook.url("/hook"), &secret),
            endpoint = mock.endpoint(),
        ),
    );
    let daemon = bench.start();

    let listed = bench
        .wait_for("`orders list` to show the order", || {
            bench
                .cli_text(&["orders", "list"])
                .filter(|t| t.contains("tencent/Mss1ng00"))
        })
        .await;
    assert!(listed.contains("shop.example.com"), "{listed}");

    // The order was placed days ago (InsertTime 2026-11-20), so beside the
    // missing record it is stuck and near its validation deadline: one
    // alert per condition.
    let order_blocked = |hook: &HttpReceiver| {
        hook.received()
            .into_iter()
            .find(|r| r.json()["event"] == "order_blocked")
    };
    let req = bench
        .wait_for("an order_blocked webhook", || order_blocked(&hook))
        .await;
    assert_signed(&req);
    let alert = req.json();
    assert_eq!(alert["check"], "order", "{alert}");
    assert_eq!(alert["after"]["event"], "order_blocked", "{alert}");
    assert_eq!(alert["after"]["order"], "tencent/Mss1ng00");
    assert_eq!(alert["severity"], "blocking");
    assert_eq!(alert["domain"], "shop.example.com");
    assert!(
        alert["reason"]
            .as_str()
            .unwrap()
            .contains("_dnsauth.shop.example.com"),
        "{alert}"
    );

    // More polls of the same order: the conditions hold, nothing is repeated.
    let polled = |mock: &TencentMock| {
        mock.calls()
            .iter()
            .filter(|c| c.as_str() == "DescribeCertificateDetail")
            .count()
    };
    let before = polled(&mock);
    bench
        .wait_for("two more polls", || {
            (polled(&mock) >= before + 2).then_some(())
        })
        .await;
    let mut kinds: Vec<String> = events(&hook)
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    let mut unique = kinds.clone();
    unique.dedup();
    assert_eq!(kinds, unique, "each condition alerted once");
    assert!(mock.rejected().is_empty(), "{:?}", mock.rejected());

    assert_eq!(daemon.terminate().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_state_that_lasts_is_reminded_of() {
    let dns = dns().await;
    dns.set_caa("example.net", [issue("sectigo.com")]);
    let hook = HttpReceiver::ok("{}").await;
    let bench = DaemonBench::new();
    let secret = bench.secret("webhook.secret", WEBHOOK_SECRET);
    bench.write_config(
        dns.addr(),
        &format!(
            "\n[alerts]\nreminder = \"2s\"\n{}{}",
            webhook_toml(&hook.url("/hook"), &secret),
            domain_toml("example.net")
        ),
    );
    let daemon = bench.start();
    hook.wait_for(2).await;
    let got = events(&hook);
    assert_eq!(got[0]["event"], "blocking", "{got:?}");
    assert_eq!(got[1]["event"], "reminder", "{got:?}");
    assert!(
        got[1]["summary"]
            .as_str()
            .unwrap()
            .starts_with("Still blocking since "),
        "{}",
        got[1]
    );
    assert_eq!(got[1]["first_seen"], got[0]["first_seen"]);
    assert_eq!(daemon.terminate().await, Some(0));
}

/// The lines `status` prints for its listed alerts, rebuilt from the
/// alert objects of `status --format json`: what the text shows, the JSON
/// carries (the same `StatusModel` renders both).
fn alert_lines_from_json(lines: &[Value], delivery: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["delivery"] == delivery)
        .map(|a| {
            let attempts = match a["attempts"].as_u64().unwrap() {
                1 => "1 attempt".to_string(),
                n => format!("{n} attempts"),
            };
            let what = match delivery {
                "undelivered" => format!(
                    "{attempts}, next {}",
                    a["next_attempt_at"].as_str().unwrap()
                ),
                _ => attempts,
            };
            let error = a["last_error"]
                .as_str()
                .map_or(String::new(), |e| format!(": {e}"));
            format!(
                "  {} {} {} via {} ({what}){error}\n    {}\n",
                a["created_at"].as_str().unwrap(),
                a["event"].as_str().unwrap(),
                a["domain"].as_str().unwrap(),
                a["channel"].as_str().unwrap(),
                a["summary"].as_str().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_lists_the_undelivered_and_failed_alerts_the_text_shows() {
    let dns = dns().await;
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let port = smtp::unused_port();
    let bench = DaemonBench::new();
    let config = |give_up: &str| {
        format!(
            "{}\n[alerts]\ngive_up_after = \"{give_up}\"\n{}",
            email_toml(port),
            domain_toml("example.com")
        )
    };
    bench.write_config(dns.addr(), &config("24h"));
    let daemon = bench.start();
    bench
        .wait_for("example.com to be checked", || {
            (bench.checks("example.com") > 0).then_some(())
        })
        .await;
    dns.set_caa("example.com", [issue("sectigo.com")]);
    // The mail server is down: the alert waits for its next attempt.
    let (text, json) = bench
        .wait_for("status to list the alert as not delivered", || {
            let text = bench.cli_text(&["status"])?;
            let json = bench.status();
            // Read twice, so a retry between the two reads can change the
            // next attempt's time: wait for a pair that saw the same row.
            let waiting = alert_lines_from_json(&json, "undelivered");
            (text.contains("alerts not delivered yet (1)")
                && text.contains("1 attempt,")
                && json.iter().any(|l| l["attempts"] == 1)
                && waiting.iter().all(|w| text.contains(w)))
            .then_some((text, json))
        })
        .await;
    let waiting = alert_lines_from_json(&json, "undelivered");
    assert_eq!(waiting.len(), 1, "{json:?}");
    assert!(text.contains(&waiting[0]), "{text}\n---\n{}", waiting[0]);
    assert!(alert_lines_from_json(&json, "failed").is_empty());
    assert_eq!(daemon.terminate().await, Some(0));

    // Restarted with a second to give up in: the retry at start fails and
    // the alert is given up on.
    bench.write_config(dns.addr(), &config("1s"));
    let daemon = bench.start();
    let (text, json) = bench
        .wait_for("status to list the alert as given up", || {
            let text = bench.cli_text(&["status"])?;
            let json = bench.status();
            (text.contains("alerts NOT delivered, given up (1)")
                && json.iter().any(|l| l["delivery"] == "failed"))
            .then_some((text, json))
        })
        .await;
    let failed = alert_lines_from_json(&json, "failed");
    assert_eq!(failed.len(), 1, "{json:?}");
    assert!(text.contains(&failed[0]), "{text}\n---\n{}", failed[0]);
    assert!(failed[0].contains("caa_drift example.com via email:127.0.0.1:"));
    assert!(alert_lines_from_json(&json, "undelivered").is_empty());
    assert_eq!(daemon.terminate().await, Some(0));
}
