//! Every HTTP reply certvigil reads is bounded, follows only the redirects
//! its caller's rules allow, and shows no credential: against real servers
//! on 127.0.0.1 that stream 1.5 GB bodies generated on the fly, redirect in
//! loops and in ways a CA does not follow, and echo tokens in their errors.

use crate::support;

use std::time::{Duration, Instant};

use certvigil::alert::deliver::{self, DeliverConfig};
use certvigil::alert::outbox;
use certvigil::alert::policy::{self, CaUnderRrset, CaaRrset};
use certvigil::alert::{Alert, Channel, ChannelId, SendError};
use certvigil::checks::caa::CaaRecord;
use certvigil::checks::reach::model::VantageOutcome;
use certvigil::checks::reach::vantage::{self, Access};
use certvigil::checks::reach::{Ports, ProbeSettings, ProbeTarget, VantagePoint};
use certvigil::config;
use certvigil::dns::DnsHandle;
use certvigil::domain::DomainName;
use certvigil::orders::Requirement;
use certvigil::orders::validation::{self, FileCheckSettings, FileFetcher, ValidationOutcome};
use certvigil::store::Store;
use chrono::{DateTime, Utc};
use support::dns::TestDns;
use support::http::{Flood, HttpReceiver, Reply};
use support::site::{Answer, TestSite};

/// What a hostile peer sends: 1.5 GB, written as fast as it is read.
const HUGE: u64 = 1_500_000_000;
/// What a bounded reader lets through, socket buffers included: far below
/// the 1.5 GB offered.
const FAR_BELOW: u64 = 64 * 1024 * 1024;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Asserts a hostile body was cut short: quickly, with little written and
/// little memory taken.
fn assert_bounded(flood: &Flood, started: Instant, rss_before: u64) {
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    let written = flood.written();
    assert!(written < FAR_BELOW, "the server wrote {written} octets");
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(grown < 200 * 1024, "RSS grew by {grown} KiB");
}

async fn file_check(files: &FileFetcher, url: &str, content: &str) -> ValidationOutcome {
    let dns_server = TestDns::start().await;
    let dns = DnsHandle::new(&dns_server.settings()).unwrap();
    validation::check_one(
        &dns,
        files,
        &Requirement::File {
            url: url.parse().unwrap(),
            content: content.into(),
        },
    )
    .await
}

// ------------------------------------------------------- order validation

#[tokio::test]
async fn a_huge_validation_file_stops_at_the_cap() {
    let flood = Flood::start(200, HUGE).await;
    let files = FileFetcher::new(
        FileCheckSettings {
            http_port: flood.port,
            https_port: closed_port(),
            timeout: Duration::from_secs(20),
        },
        crate::support::dns::nowhere(),
    )
    .unwrap();
    let rss_before = rss_kib();
    let started = Instant::now();
    let outcome = file_check(
        &files,
        "http://127.0.0.1/.well-known/pki-validation/fileauth.txt",
        "token",
    )
    .await;
    match &outcome {
        ValidationOutcome::Wrong { detail, .. } => {
            assert!(detail.contains("larger than 65536 bytes"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert_bounded(&flood, started, rss_before);
}

fn site_files(site: &TestSite) -> FileFetcher {
    FileFetcher::new(
        FileCheckSettings {
            http_port: site.http.port(),
            https_port: site.https.port(),
            timeout: Duration::from_secs(5),
        },
        crate::support::dns::nowhere(),
    )
    .unwrap()
}

const VALUE: &str = "2026112400000sectigo";

#[tokio::test]
async fn validation_follows_the_redirects_a_ca_follows() {
    let site = TestSite::start("shop.example");
    site.answer(
        "/.well-known/pki-validation/a.txt",
        Answer::Redirect {
            status: 301,
            location: "/real.txt".into(),
        },
    );
    site.serve("/real.txt", VALUE);
    let outcome = file_check(
        &site_files(&site),
        "http://127.0.0.1/.well-known/pki-validation/a.txt",
        VALUE,
    )
    .await;
    assert_eq!(outcome, ValidationOutcome::InPlace);
}

/// Issue 11: an order's validation URL was fetched through the system
/// resolver, which does not know the name, and the order read "can never
/// issue" while the site served the file. Names, redirect targets too,
/// resolve through `[dns]`.
#[tokio::test]
async fn validation_urls_resolve_through_the_configured_dns() {
    let site = TestSite::start("shop.test");
    site.answer(
        "/.well-known/pki-validation/a.txt",
        Answer::Redirect {
            status: 302,
            location: format!("http://www.shop.test:{}/real.txt", site.http.port()),
        },
    );
    site.serve("/real.txt", VALUE);
    let dns_server = TestDns::start().await;
    dns_server.set_a("shop.test", &[std::net::Ipv4Addr::LOCALHOST]);
    dns_server.set_a("www.shop.test", &[std::net::Ipv4Addr::LOCALHOST]);
    let dns = DnsHandle::new(&dns_server.settings()).unwrap();
    let files = FileFetcher::new(
        FileCheckSettings {
            http_port: site.http.port(),
            https_port: site.https.port(),
            timeout: Duration::from_secs(5),
        },
        dns.clone(),
    )
    .unwrap();
    let outcome = validation::check_one(
        &dns,
        &files,
        &Requirement::File {
            url: "http://shop.test/.well-known/pki-validation/a.txt"
                .parse()
                .unwrap(),
            content: VALUE.into(),
        },
    )
    .await;
    assert_eq!(outcome, ValidationOutcome::InPlace);
    let asked: Vec<String> = dns_server
        .queries()
        .iter()
        .map(|q| q.name.trim_end_matches('.').to_string())
        .collect();
    assert!(asked.iter().any(|n| n == "shop.test"), "{asked:?}");
    assert!(asked.iter().any(|n| n == "www.shop.test"), "{asked:?}");
    assert!(site.hits().iter().any(|h| h.path == "/real.txt"));
}

#[tokio::test]
async fn validation_does_not_follow_redirects_the_rules_forbid() {
    let site = TestSite::start("shop.example");
    site.serve("/real.txt", VALUE);
    // Another server that holds the right file, on a port no CA uses.
    let elsewhere = HttpReceiver::ok(VALUE).await;
    // 303 is not among BR §3.2.2.4.18's statuses.
    site.answer(
        "/.well-known/pki-validation/303.txt",
        Answer::Redirect {
            status: 303,
            location: "/real.txt".into(),
        },
    );
    // A permitted status, but to a port that is not the validation port.
    site.answer(
        "/.well-known/pki-validation/port.txt",
        Answer::Redirect {
            status: 302,
            location: elsewhere.url("/real.txt"),
        },
    );
    let files = site_files(&site);
    for (path, why) in [("303.txt", "303"), ("port.txt", "port")] {
        let outcome = file_check(
            &files,
            &format!("http://127.0.0.1/.well-known/pki-validation/{path}"),
            VALUE,
        )
        .await;
        match &outcome {
            ValidationOutcome::Unreachable { detail } => {
                assert!(
                    detail.contains("not followed") && detail.contains(why),
                    "{detail}"
                )
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    assert!(elsewhere.received().is_empty(), "a forbidden hop was taken");
}

#[tokio::test]
async fn a_validation_redirect_loop_is_reported() {
    let site = TestSite::start("shop.example");
    site.answer(
        "/.well-known/pki-validation/a.txt",
        Answer::Redirect {
            status: 302,
            location: "/b.txt".into(),
        },
    );
    site.answer(
        "/b.txt",
        Answer::Redirect {
            status: 302,
            location: "/.well-known/pki-validation/a.txt".into(),
        },
    );
    let outcome = file_check(
        &site_files(&site),
        "http://127.0.0.1/.well-known/pki-validation/a.txt",
        VALUE,
    )
    .await;
    match &outcome {
        ValidationOutcome::Unreachable { detail } => {
            assert!(detail.contains("lead back"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------- the agent

fn target() -> ProbeTarget {
    ProbeTarget {
        name: DomainName::parse("example.com").unwrap(),
        path: "/.well-known/pki-validation/certvigil-probe.txt".into(),
        expected: None,
        ports: Ports::STANDARD,
    }
}

async fn ask_agent(url: &str) -> VantageOutcome {
    let v = VantagePoint {
        name: "fra".into(),
        counters: Default::default(),
        overseas: true,
        access: Access::Agent {
            url: url.parse().unwrap(),
            token: None,
            tls_fingerprint: None,
        },
    };
    let dns_server = TestDns::start().await;
    let dns = DnsHandle::new(&dns_server.settings()).unwrap();
    let settings = ProbeSettings {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        ..ProbeSettings::default()
    };
    let mut obs = vantage::observe(&target(), &v, &dns, &settings).await;
    obs.remove(0).outcome
}

#[tokio::test]
async fn a_huge_agent_reply_stops_at_the_cap() {
    let flood = Flood::start(200, HUGE).await;
    let rss_before = rss_kib();
    let started = Instant::now();
    match ask_agent(&flood.url("/")).await {
        VantageOutcome::Error { message } => {
            assert!(message.contains("larger than 1048576 bytes"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_bounded(&flood, started, rss_before);
}

#[tokio::test]
async fn an_agent_password_is_never_in_its_errors() {
    // Down: nothing listens.
    let down = format!("http://u:PASS@127.0.0.1:{}/", closed_port());
    // Up but refusing, with the URL echoed back in its answer.
    let refusing = HttpReceiver::start(
        vec![],
        Reply::new(
            403,
            r#"{"error":"no access for http://u:PASS@agent/ token=PASS"}"#,
        ),
    )
    .await;
    let up = format!("http://u:PASS@127.0.0.1:{}/", refusing.port);
    for url in [down, up] {
        match ask_agent(&url).await {
            VantageOutcome::Error { message } => {
                assert!(!message.contains("PASS"), "{message}");
                assert!(message.contains("u:[redacted]@127.0.0.1"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn check_json_never_shows_an_agent_password() {
    let dns = TestDns::start_sync();
    dns.set_caa("example.com", [CaaRecord::new(0, "issue", "trustasia.com")]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"[dns]
nameservers = ["{dns}"]

[[vantage]]
name = "abroad"
kind = "agent"
url = "http://u:PASS@127.0.0.1:{port}/"
overseas = true
"#,
            dns = dns.addr(),
            port = closed_port(),
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certvigil"))
        .args([
            "check",
            "example.com",
            "--ca",
            "trustasia",
            "--validation-method",
            "file",
            "--format",
            "json",
            "--config",
        ])
        .arg(&config)
        .env_remove("CERTVIGIL_CONFIG")
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("u:[redacted]@127.0.0.1"),
        "the agent's error is in the report: {stdout}\n{stderr}"
    );
    assert!(!stdout.contains("PASS"), "{stdout}");
    assert!(!stderr.contains("PASS"), "{stderr}");
}

// ------------------------------------------------------------- webhooks

fn channels(url: &str, format: &str) -> Vec<Channel> {
    let toml = format!(
        r#"
[[alerts.webhook]]
url = "{url}"
format = "{format}"
"#
    );
    let cfg = config::parse(&toml, "test.toml").unwrap();
    Channel::all_from_config(&cfg.alerts)
}

fn alert(at: DateTime<Utc>) -> Alert {
    let rrset = |v: &str| CaaRrset::new(None, vec![CaaRecord::new(0, "issue", v)]);
    policy::decide_drift(
        Some(&rrset("sectigo.com")),
        &rrset("letsencrypt.org"),
        "example.com",
        &[CaUnderRrset {
            ca: "Sectigo".into(),
            forbidden: true,
        }],
        at,
    )
    .expect("a drift")
}

#[tokio::test]
async fn a_huge_webhook_answer_stops_at_the_cap() {
    for (status, format) in [(200, "dingtalk"), (500, "generic")] {
        let flood = Flood::start(status, HUGE).await;
        let chans = channels(&flood.url("/robot/send?access_token=T"), format);
        let rss_before = rss_kib();
        let started = Instant::now();
        let err = chans[0].send(&alert(Utc::now())).await.unwrap_err();
        assert!(
            matches!(err, SendError::Refused { .. } | SendError::Status { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("larger than 65536 bytes"), "{err}");
        assert_bounded(&flood, started, rss_before);
    }
}

#[tokio::test]
async fn a_webhook_error_body_leaves_no_token_in_the_stored_error() {
    let echo = r#"{"errcode":310000,"errmsg":"sign not match, more: [https://oapi.dingtalk.com/robot/send?access_token=SECRETTOKEN&timestamp=1] access_token=SECRETTOKEN"}"#;
    for (status, format) in [(200, "dingtalk"), (400, "generic")] {
        let recv = HttpReceiver::start(vec![], Reply::new(status, echo)).await;
        let chans = channels(&recv.url("/robot/send"), format);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("certvigil.db")).await.unwrap();
        let now = Utc::now();
        let ids: Vec<ChannelId> = chans.iter().map(|c| c.id().clone()).collect();
        let mut tx = store.pool().begin().await.unwrap();
        outbox::enqueue(&mut tx, &alert(now), &ids).await.unwrap();
        tx.commit().await.unwrap();
        let outcome =
            deliver::deliver_one(store.pool(), &chans[0], &DeliverConfig::default(), now, 0.5)
                .await
                .unwrap();
        assert!(
            !format!("{outcome:?}").contains("SECRETTOKEN"),
            "{outcome:?}"
        );
        let rows = outbox::all(store.pool(), 10).await.unwrap();
        let stored = rows[0]
            .last_error
            .as_deref()
            .expect("the failure is recorded");
        assert!(stored.contains("310000"), "{stored}");
        assert!(!stored.contains("SECRETTOKEN"), "{stored}");
    }
}
