//! The proxy vantage point through a real forward proxy on loopback: plain
//! http forwarded, https tunnelled with CONNECT, names resolved by the
//! proxy; a proxy that cannot reach the site is a site failure seen from
//! there, a proxy that is down is a vantage error.

use crate::support;

use std::net::{IpAddr, Ipv4Addr};

use certvigil::checks::reach::model::{Failure, HopOutcome, VantageOutcome};
use certvigil::checks::reach::vantage::{self, Access};
use certvigil::checks::reach::{Ports, ProbeSettings, ProbeTarget, VantagePoint};
use certvigil::dns::DnsHandle;
use certvigil::domain::DomainName;
use support::dns::TestDns;
use support::proxy::TestProxy;
use support::site;

const NAME: &str = "shop.test";
const CANARY: &str = "/.well-known/pki-validation/canary.txt";

fn proxy_vantage(url: &str) -> VantagePoint {
    VantagePoint {
        name: "hk-proxy".into(),
        counters: Default::default(),
        overseas: true,
        access: Access::Proxy {
            url: url.parse().unwrap(),
        },
    }
}

fn target(site: &site::TestSite) -> ProbeTarget {
    ProbeTarget {
        name: DomainName::parse(NAME).unwrap(),
        path: CANARY.into(),
        expected: Some("canary-7f3a".into()),
        ports: Ports {
            http: site.http.port(),
            https: site.https.port(),
        },
    }
}

#[tokio::test]
async fn both_ports_are_fetched_through_the_proxy() {
    let site = site::TestSite::start(NAME);
    site.serve(CANARY, "canary-7f3a");
    let proxy = TestProxy::start().await;
    proxy.resolve(NAME, IpAddr::V4(Ipv4Addr::LOCALHOST));
    // Our own DNS does not know the name: the proxy resolves it.
    let dns_server = TestDns::start().await;
    let dns = DnsHandle::new(&dns_server.settings()).unwrap();

    let obs = vantage::observe(
        &target(&site),
        &proxy_vantage(&proxy.url()),
        &dns,
        &ProbeSettings::default(),
    )
    .await;
    let VantageOutcome::Probed(p) = &obs[0].outcome else {
        panic!("{:?}", obs[0].outcome)
    };
    for port in &p.ports {
        match &port.hops[0].outcome {
            HopOutcome::Response { status, body, .. } => {
                assert_eq!(*status, 200, "{:?}", port.scheme);
                assert_eq!(body.matched, Some(true), "{:?}", port.scheme);
            }
            other => panic!("{:?}: {other:?}", port.scheme),
        }
    }
    let seen = proxy.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|l| l.starts_with(&format!("CONNECT {NAME}:"))),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.starts_with(&format!("GET http://{NAME}:"))),
        "{seen:?}"
    );
    assert!(
        dns_server
            .queries()
            .iter()
            .all(|q| q.name.trim_end_matches('.') != NAME)
    );
}

#[tokio::test]
async fn a_proxy_that_cannot_reach_the_site_reports_a_proxy_failure() {
    let site = site::TestSite::start(NAME);
    let proxy = TestProxy::start().await;
    let dns_server = TestDns::start().await;
    let dns = DnsHandle::new(&dns_server.settings()).unwrap();
    let obs = vantage::observe(
        &target(&site),
        &proxy_vantage(&proxy.url()),
        &dns,
        &ProbeSettings::default(),
    )
    .await;
    let VantageOutcome::Probed(p) = &obs[0].outcome else {
        panic!("{:?}", obs[0].outcome)
    };
    for port in &p.ports {
        match &port.hops[0].outcome {
            HopOutcome::Failed { failure, .. } => {
                assert_eq!(*failure, Failure::Proxy, "{:?}", port.scheme)
            }
            other => panic!(
                "{:?}: a 502 of the proxy is not the site's answer: {other:?}",
                port.scheme
            ),
        }
    }
}

#[tokio::test]
async fn a_proxy_that_is_down_is_a_vantage_error() {
    let site = site::TestSite::start(NAME);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("socks5h://{}", closed.local_addr().unwrap());
    drop(closed);
    let dns_server = TestDns::start().await;
    let dns = DnsHandle::new(&dns_server.settings()).unwrap();
    let obs = vantage::observe(
        &target(&site),
        &proxy_vantage(&url),
        &dns,
        &ProbeSettings::default(),
    )
    .await;
    match &obs[0].outcome {
        VantageOutcome::Error { message } => {
            assert!(message.contains("cannot connect to the proxy"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

use certvigil::checks::reach::{JudgeContext, Method, ReachVerdictKind};
use support::socks::{SocksMode, TestSocks};

fn judge_file(
    obs: &certvigil::checks::reach::ReachObservation,
) -> certvigil::checks::reach::ReachVerdict {
    certvigil::checks::reach::judge(
        obs,
        &JudgeContext {
            method: Method::File,
            ca: "Sectigo".into(),
            scanner_ips: vec![],
        },
    )
}

/// Issue 11: `socks5://` resolved the site's name with the system resolver,
/// which does not know it, and the failure read as a geo-block. Now the
/// name goes through `[dns]` and the proxy is handed the address.
#[tokio::test]
async fn a_socks5_vantage_resolves_names_through_the_configured_dns() {
    let site = site::TestSite::start(NAME);
    site.serve(CANARY, "canary-7f3a");
    let socks = TestSocks::start(SocksMode::Forward).await;
    let dns_server = TestDns::start().await;
    dns_server.set_a(NAME, &[Ipv4Addr::LOCALHOST]);
    let dns = DnsHandle::new(&dns_server.settings()).unwrap();
    let vantages = [VantagePoint::local(), proxy_vantage(&socks.url("socks5"))];
    let obs = vantage::check(&target(&site), &vantages, &dns, &ProbeSettings::default()).await;
    let verdict = judge_file(&obs);
    assert_eq!(
        verdict.verdict,
        ReachVerdictKind::Reachable,
        "{}",
        verdict.reason
    );
    let asked = socks.asked();
    assert!(
        asked.iter().all(|a| a.starts_with("127.0.0.1:")) && asked.len() >= 2,
        "the proxy must be handed the address certvigil resolved: {asked:?}"
    );
    assert!(
        dns_server
            .queries()
            .iter()
            .any(|q| q.name.trim_end_matches('.') == NAME),
        "the name is looked up through [dns]"
    );
}

/// `socks5h://` leaves the name to the proxy, as before.
#[tokio::test]
async fn a_socks5h_vantage_leaves_the_name_to_the_proxy() {
    let site = site::TestSite::start(NAME);
    site.serve(CANARY, "canary-7f3a");
    let socks = TestSocks::start(SocksMode::Forward).await;
    socks.resolve(NAME, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let dns_server = TestDns::start().await;
    let dns = DnsHandle::new(&dns_server.settings()).unwrap();
    let obs = vantage::observe(
        &target(&site),
        &proxy_vantage(&socks.url("socks5h")),
        &dns,
        &ProbeSettings::default(),
    )
    .await;
    let VantageOutcome::Probed(p) = &obs[0].outcome else {
        panic!("{:?}", obs[0].outcome)
    };
    assert!(
        p.ports.iter().all(|port| matches!(
            port.hops[0].outcome,
            HopOutcome::Response { status: 200, .. }
        )),
        "{p:?}"
    );
    assert!(
        socks
            .asked()
            .iter()
            .all(|a| a.starts_with(&format!("{NAME}:")))
    );
}

/// A proxy that fails in its own right (SOCKS "general server failure") is
/// the vantage point's failure: never `geo_blocked`, and said so.
#[tokio::test]
async fn a_broken_socks_proxy_is_a_vantage_failure_not_a_geo_block() {
    let site = site::TestSite::start(NAME);
    site.serve(CANARY, "canary-7f3a");
    let socks = TestSocks::start(SocksMode::GeneralFailure).await;
    let dns_server = TestDns::start().await;
    dns_server.set_a(NAME, &[Ipv4Addr::LOCALHOST]);
    let dns = DnsHandle::new(&dns_server.settings()).unwrap();
    for scheme in ["socks5", "socks5h"] {
        let vantages = [VantagePoint::local(), proxy_vantage(&socks.url(scheme))];
        let obs = vantage::check(&target(&site), &vantages, &dns, &ProbeSettings::default()).await;
        let verdict = judge_file(&obs);
        assert_eq!(
            verdict.verdict,
            ReachVerdictKind::Error,
            "{scheme}: {}",
            verdict.reason
        );
        assert!(
            verdict.reason.contains("vantage hk-proxy failed: "),
            "{scheme}: {}",
            verdict.reason
        );
        assert!(
            !verdict.blocks_issuance(),
            "{scheme}: {:?}",
            verdict.findings
        );
    }
}
