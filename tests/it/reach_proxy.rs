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
