//! The local vantage point against a real HTTP and HTTPS site on loopback,
//! names resolved by a real DNS server on loopback: what a CA would see for
//! a served canary, a 404, and the hostile and broken set-ups of issue #5.

use crate::support;

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use certvigil::checks::reach::model::{
    Failure, HopOutcome, PortObservation, Scheme, VantageOutcome,
};
use certvigil::checks::reach::{
    self, JudgeContext, Method, Ports, ProbeSettings, ProbeTarget, ReachObservation,
    ReachVerdictKind, VantagePoint,
};
use certvigil::dns::DnsHandle;
use certvigil::domain::DomainName;
use certvigil::findings::Severity;
use serde_json::Value;
use support::dns::TestDns;
use support::site::{Answer, TestSite};

const NAME: &str = "shop.test";
const CANARY: &str = "/.well-known/pki-validation/canary.txt";

struct Bench {
    dns: TestDns,
    site: TestSite,
}

impl Bench {
    fn new() -> Self {
        let dns = TestDns::start_sync();
        dns.set_a(NAME, &[Ipv4Addr::LOCALHOST]);
        Self {
            dns,
            site: TestSite::start(NAME),
        }
    }

    fn ports(&self) -> Ports {
        Ports {
            http: self.site.http.port(),
            https: self.site.https.port(),
        }
    }

    fn target(&self, expected: Option<&str>) -> ProbeTarget {
        ProbeTarget {
            name: DomainName::parse(NAME).unwrap(),
            path: CANARY.into(),
            expected: expected.map(str::to_string),
            ports: self.ports(),
        }
    }

    async fn observe(&self, expected: Option<&str>) -> ReachObservation {
        let dns = DnsHandle::new(&self.dns.settings()).unwrap();
        let settings = ProbeSettings {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(2),
            body_cap: 64 * 1024,
        };
        reach::check(
            &self.target(expected),
            &[VantagePoint::local()],
            &dns,
            &settings,
        )
        .await
    }
}

fn ctx() -> JudgeContext {
    JudgeContext {
        method: Method::File,
        ca: "Sectigo".into(),
        scanner_ips: vec![],
    }
}

fn port(obs: &ReachObservation, scheme: Scheme) -> &PortObservation {
    match &obs.vantages[0].outcome {
        VantageOutcome::Probed(p) => p.ports.iter().find(|p| p.scheme == scheme).unwrap(),
        VantageOutcome::Error { message } => panic!("the local vantage point failed: {message}"),
    }
}

fn blocking_summaries(obs: &ReachObservation) -> Vec<String> {
    reach::judge(obs, &ctx())
        .findings
        .into_iter()
        .filter(|f| f.severity == Severity::Blocking)
        .map(|f| f.summary)
        .collect()
}

#[tokio::test]
async fn a_served_canary_matches_on_both_ports_despite_a_self_signed_certificate() {
    let b = Bench::new();
    b.site.serve(CANARY, "canary-7f3a\n");
    let obs = b.observe(Some("canary-7f3a")).await;
    for scheme in [Scheme::Http, Scheme::Https] {
        let p = port(&obs, scheme);
        assert_eq!(p.hops.len(), 1);
        match &p.hops[0].outcome {
            HopOutcome::Response { status, body, .. } => {
                assert_eq!(*status, 200);
                assert_eq!(body.matched, Some(true));
            }
            other => panic!("{scheme:?}: {other:?}"),
        }
        assert_eq!(
            p.hops[0].addresses,
            vec![std::net::IpAddr::from(Ipv4Addr::LOCALHOST)]
        );
    }
    let v = reach::judge(&obs, &ctx());
    assert_eq!(v.verdict, ReachVerdictKind::Reachable);
    assert!(blocking_summaries(&obs).is_empty());
    assert!(
        b.site.hits().iter().any(|h| h.https),
        "the HTTPS side was asked"
    );
}

#[tokio::test]
async fn a_404_proves_reachability_without_a_canary_but_not_with_one() {
    let b = Bench::new();
    let obs = b.observe(None).await;
    assert_eq!(port(&obs, Scheme::Http).hops[0].status(), Some(404));
    assert_eq!(
        reach::judge(&obs, &ctx()).verdict,
        ReachVerdictKind::Reachable
    );
    assert!(blocking_summaries(&obs).is_empty());

    let obs = b.observe(Some("canary-7f3a")).await;
    let blocking = blocking_summaries(&obs);
    assert!(
        blocking.iter().any(|s| s.contains("status 404")),
        "{blocking:?}"
    );
}

#[tokio::test]
async fn an_application_answering_the_path_is_caught_by_the_canary() {
    let b = Bench::new();
    b.site.serve(CANARY, "<html>Welcome to our shop</html>");
    let obs = b.observe(Some("canary-7f3a")).await;
    let blocking = blocking_summaries(&obs);
    assert!(
        blocking.iter().any(|s| s.contains("rewritten")),
        "{blocking:?}"
    );
}

#[tokio::test]
async fn a_redirect_to_port_8080_is_not_followed() {
    let b = Bench::new();
    let to = format!("http://{NAME}:8080{CANARY}");
    b.site.answer(
        CANARY,
        Answer::Redirect {
            status: 301,
            location: to.clone(),
        },
    );
    let obs = b.observe(None).await;
    let p = port(&obs, Scheme::Http);
    assert_eq!(
        p.hops.len(),
        1,
        "a CA does not go to port 8080, nor does the probe"
    );
    let blocking = blocking_summaries(&obs);
    assert!(
        blocking.iter().any(|s| s.contains("port 8080")),
        "{blocking:?}"
    );
    assert!(!b.site.hits().iter().any(|h| h.path != CANARY));
}

#[tokio::test]
async fn a_redirect_loop_is_detected_and_ends() {
    let b = Bench::new();
    let ports = b.ports();
    b.site.answer(
        CANARY,
        Answer::Redirect {
            status: 302,
            location: "/.well-known/pki-validation/b".into(),
        },
    );
    b.site.answer(
        "/.well-known/pki-validation/b",
        Answer::Redirect {
            status: 302,
            location: format!("http://{NAME}:{}{CANARY}", ports.http),
        },
    );
    let obs = b.observe(None).await;
    assert_eq!(port(&obs, Scheme::Http).hops.len(), 2);
    let blocking = blocking_summaries(&obs);
    assert!(blocking.iter().any(|s| s.contains("loop")), "{blocking:?}");
}

#[tokio::test]
async fn three_redirects_break_tencents_two_hop_rule() {
    let b = Bench::new();
    let p = |i: u32| format!("/.well-known/pki-validation/hop{i}");
    b.site.answer(
        CANARY,
        Answer::Redirect {
            status: 301,
            location: p(1),
        },
    );
    b.site.answer(
        &p(1),
        Answer::Redirect {
            status: 302,
            location: p(2),
        },
    );
    b.site.answer(
        &p(2),
        Answer::Redirect {
            status: 307,
            location: p(3),
        },
    );
    b.site.serve(&p(3), "canary-7f3a");
    let obs = b.observe(Some("canary-7f3a")).await;
    let http = port(&obs, Scheme::Http);
    assert_eq!(http.hops.len(), 4, "the probe follows to the end");
    let blocking = blocking_summaries(&obs);
    assert!(
        blocking
            .iter()
            .any(|s| s.contains("3 redirects") && s.contains("at most 2")),
        "{blocking:?}"
    );
    // ACME http-01 (Let's Encrypt) accepts the same chain.
    let acme = JudgeContext {
        method: Method::Http01,
        ..ctx()
    };
    assert!(
        reach::judge(&obs, &acme)
            .findings
            .iter()
            .all(|f| f.severity != Severity::Blocking)
    );
}

#[tokio::test]
async fn a_10_mib_body_is_capped_and_is_not_the_file() {
    let b = Bench::new();
    b.site.answer(
        CANARY,
        Answer::Huge {
            bytes: 10 * 1024 * 1024,
        },
    );
    let obs = b.observe(Some("canary-7f3a")).await;
    match &port(&obs, Scheme::Http).hops[0].outcome {
        HopOutcome::Response { body, .. } => {
            assert!(body.truncated);
            assert_eq!(body.bytes_read, 64 * 1024);
            assert_eq!(body.matched, Some(false));
        }
        other => panic!("{other:?}"),
    }
    let blocking = blocking_summaries(&obs);
    assert!(
        blocking.iter().any(|s| s.contains("larger than")),
        "{blocking:?}"
    );
}

#[tokio::test]
async fn a_server_that_accepts_and_never_answers_times_out() {
    let b = Bench::new();
    b.site.answer(CANARY, Answer::Hang);
    let obs = b.observe(None).await;
    for scheme in [Scheme::Http, Scheme::Https] {
        match &port(&obs, scheme).hops[0].outcome {
            HopOutcome::Failed { failure, .. } => {
                assert_eq!(*failure, Failure::Timeout, "{scheme:?}")
            }
            other => panic!("{scheme:?}: {other:?}"),
        }
    }
    assert_eq!(
        reach::judge(&obs, &ctx()).verdict,
        ReachVerdictKind::Unreachable
    );
}

#[tokio::test]
async fn a_closed_port_is_refused() {
    let b = Bench::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut target = b.target(None);
    target.ports.http = closed_port;
    let dns = DnsHandle::new(&b.dns.settings()).unwrap();
    let obs = reach::check(
        &target,
        &[VantagePoint::local()],
        &dns,
        &ProbeSettings::default(),
    )
    .await;
    match &port(&obs, Scheme::Http).hops[0].outcome {
        HopOutcome::Failed { failure, .. } => assert_eq!(*failure, Failure::Refused),
        other => panic!("{other:?}"),
    }
    // https still answers, so file validation can still pass.
    let v = reach::judge(&obs, &ctx());
    assert_eq!(v.verdict, ReachVerdictKind::Reachable);
    assert!(
        v.findings
            .iter()
            .any(|f| f.severity == Severity::Warning && f.summary.contains("connection refused"))
    );
}

#[tokio::test]
async fn a_name_without_addresses_is_reported_as_such() {
    let b = Bench::new();
    b.dns.remove(NAME);
    b.dns.set_txt(NAME, &["exists"]);
    let obs = b.observe(None).await;
    let v = reach::judge(&obs, &ctx());
    assert_eq!(v.verdict, ReachVerdictKind::Unreachable);
    assert!(
        v.findings
            .iter()
            .any(|f| f.summary.contains("no A or AAAA record")),
        "{:?}",
        v.findings
    );
    assert!(b.site.hits().is_empty());
}

/// `certvigil check --reach`: the real binary, the `reach` section of the
/// JSON contract.
#[test]
fn check_reports_a_reach_section() {
    let b = Bench::new();
    b.site.serve(CANARY, "canary-7f3a");
    b.dns.set_caa(NAME, []);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let ports = b.ports();
    std::fs::write(
        &config,
        format!(
            "[dns]\nnameservers = [\"{}\"]\n\n[reach]\nhttp_port = {}\nhttps_port = {}\n\n[[domains]]\nname = \"{NAME}\"\nca = [\"sectigo\"]\nvalidation_method = \"file\"\ncanary_path = \"{CANARY}\"\ncanary_content = \"canary-7f3a\"\n",
            b.dns.addr(),
            ports.http,
            ports.https
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_certvigil"))
        .args(["check", NAME, "--format", "json", "--config"])
        .arg(&config)
        .env_remove("CERTVIGIL_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(report["reach"]["verdict"], "reachable");
    assert_eq!(report["reach"]["path"], CANARY);
    let vantage = &report["reach"]["vantages"][0];
    assert_eq!(vantage["name"], "local");
    assert_eq!(vantage["ports"][0]["scheme"], "http");
    assert_eq!(vantage["ports"][0]["status"], 200);
    assert_eq!(vantage["ports"][0]["body_matched"], true);
    assert_eq!(vantage["ports"][1]["scheme"], "https");
    assert_eq!(vantage["ports"][1]["body_matched"], true);

    // The canary is gone: the same check now blocks (exit 1).
    b.site.answer(
        CANARY,
        Answer::File {
            status: 404,
            body: "gone".into(),
        },
    );
    let out = Command::new(env!("CARGO_BIN_EXE_certvigil"))
        .args(["check", NAME, "--format", "json", "--config"])
        .arg(&config)
        .env_remove("CERTVIGIL_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(report["issuable"], false);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "reach" && f["severity"] == "blocking")
    );
}

#[test]
fn a_wildcard_cannot_be_validated_by_file() {
    let dns = TestDns::start_sync();
    dns.set_caa("example.test", []);
    let out = Command::new(env!("CARGO_BIN_EXE_certvigil"))
        .args([
            "check",
            "*.example.test",
            "--ca",
            "sectigo",
            "--validation-method",
            "file",
            "--format",
            "json",
            "--nameserver",
        ])
        .arg(dns.addr().to_string())
        .env_remove("CERTVIGIL_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    let f = &report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "reach")
        .unwrap()["summary"];
    assert!(f.as_str().unwrap().contains("wildcard"), "{f}");
}
