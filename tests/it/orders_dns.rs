//! An order's DNS validation record looked up as the CA looks it up (issue
//! 13), through the real daemon's order polling, its store and its
//! alerts: DNSSEC-validated against a signed hierarchy served by NSD
//! (`support::signed_zones`), asked of every authoritative server of its
//! zone (two NSD servers, one without the record), and asked from abroad
//! (a real probe agent resolving through a BIND GeoDNS view that lacks
//! it).

use crate::support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde_json::Value;
use support::authdns;
use support::daemon::DaemonBench;
use support::dns::{Behaviour, TestDns, caa_rdata, rtype};
use support::http::HttpReceiver;
use support::signed_zones::SignedZones;

use certvigil::checks::caa::CaaRecord;

/// A manual order placed long ago (so an order whose record is in place
/// is stuck, and says how its record looked), validated by a TXT record.
fn order(name: &str, domain: &str, record: &str, value: &str) -> String {
    order_of("TXT", name, domain, record, value)
}

fn order_of(rtype: &str, name: &str, domain: &str, record: &str, value: &str) -> String {
    format!(
        r#"
[[orders]]
name = "{name}"
ca = "letsencrypt"
domains = ["{domain}"]
validation = {{ method = "dns", record = "{record}", type = "{rtype}", value = "{value}" }}
placed_at = "2020-01-01T00:00:00Z"
"#
    )
}

fn webhook(hook: &HttpReceiver) -> String {
    format!(
        "\n[[alerts.webhook]]\nurl = \"{}\"\nformat = \"generic\"\n",
        hook.url("/hook")
    )
}

/// The order alerts the webhook received for `order` (`manual/NAME`) of
/// kind `event`.
fn order_alerts(hook: &HttpReceiver, order: &str, event: &str) -> Vec<Value> {
    hook.received()
        .iter()
        .map(|r| r.json())
        .filter(|a| a["check"] == "order" && a["event"] == event && a["after"]["order"] == order)
        .collect()
}

async fn wait_alert(bench: &DaemonBench, hook: &HttpReceiver, order: &str, event: &str) -> Value {
    bench
        .wait_for(&format!("an {event} alert for {order}"), || {
            order_alerts(hook, order, event).into_iter().next()
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_record_in_a_zone_with_expired_signatures_is_blocked_with_the_cause_and_a_good_one_is_secure()
 {
    let zones = SignedZones::start();
    let hook = HttpReceiver::ok("{}").await;
    let bench = DaemonBench::new();
    bench.write_config(
        zones.addr,
        &format!(
            "view = \"recursive\"\n{}{}\n[[domains]]\nname = \"good.test\"\nca = [\"letsencrypt\"]\n{}{}",
            zones.dnssec_toml(),
            webhook(&hook),
            order("bad", "expired.test", "_dnsauth.expired.test", "token-expired"),
            order("good", "good.test", "_dnsauth.good.test", "token-good"),
        ),
    );
    let daemon = bench.start();
    let blocked = wait_alert(&bench, &hook, "manual/bad", "order_blocked").await;
    let reason = blocked["reason"].as_str().unwrap();
    assert_eq!(blocked["severity"], "blocking", "{blocked:#}");
    // The TXT record holds the right value: only DNSSEC makes it unusable.
    assert!(
        reason.contains("the answer for _dnsauth.expired.test is DNSSEC-bogus"),
        "{blocked:#}"
    );
    assert!(reason.contains("expired.test"), "{blocked:#}");
    assert!(reason.contains("expired at"), "{blocked:#}");
    let remedy = blocked["remedy"].as_str().unwrap();
    assert!(
        remedy.contains("Re-sign the zone expired.test"),
        "{blocked:#}"
    );

    // The good zone: in place, and the stuck order says the record is
    // secure, as the CA's validating lookup finds it.
    let stuck = wait_alert(&bench, &hook, "manual/good", "order_stuck").await;
    let reason = stuck["reason"].as_str().unwrap();
    assert!(
        reason.contains("in place as the CA will look for it (DNSSEC: secure)"),
        "{stuck:#}"
    );
    // Stored as a condition, shown by the order views.
    let show = bench.cli_text(&["orders", "show", "manual/bad"]).unwrap();
    assert!(show.contains("order_blocked (blocking)"), "{show}");
    let bad_stuck = order_alerts(&hook, "manual/bad", "order_stuck");
    assert!(
        bad_stuck
            .iter()
            .all(|a| !a["reason"].as_str().unwrap().contains("is in place")),
        "{bad_stuck:#?}"
    );
    assert!(order_alerts(&hook, "manual/good", "order_blocked").is_empty());
    assert_eq!(daemon.terminate().await, Some(0));
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// `shop.test`, served by ns1 (127.0.0.2) and ns2 (127.0.0.3): the
/// current zone has the TXT validation record and the CNAME of another
/// order pointing to the CA's target; the stale one neither (the TXT is
/// missing, the CNAME points to an old target).
fn shop_zone(current: bool) -> String {
    let mut z = "$ORIGIN shop.test.\n$TTL 60\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\n@ NS ns2\nns1 A 127.0.0.2\nns2 A 127.0.0.3\n@ CAA 0 issue \"letsencrypt.org\"\n".to_string();
    if current {
        z.push_str("_dnsauth TXT \"token-1\"\n_abc CNAME dcv.ca.test.\n");
    } else {
        z.push_str("_abc CNAME old-dcv.ca.test.\n");
    }
    z
}

const TEST_ZONE: &str = "$ORIGIN test.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.4\nshop NS ns1.shop\nshop NS ns2.shop\nns1.shop A 127.0.0.2\nns2.shop A 127.0.0.3\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authoritative_server_lacking_the_order_record_or_aliasing_elsewhere_is_named_with_its_answer()
 {
    let port = authdns::common_port(&[ip(2), ip(3), ip(4)]);
    let at = |last| SocketAddr::new(ip(last), port);
    let _servers = [
        authdns::nsd(at(4), &[("test", TEST_ZONE.to_string())]),
        authdns::nsd(at(2), &[("shop.test", shop_zone(true))]),
        authdns::nsd(at(3), &[("shop.test", shop_zone(false))]),
    ];
    // The recursive resolver: the delegation, and the record as ns1
    // serves it (the resolver happened to ask ns1).
    let dns = TestDns::start_sync();
    dns.set_logging(false);
    dns.set_ns("shop.test", &["ns1.shop.test", "ns2.shop.test"]);
    dns.set_ns("test", &["ns.test"]);
    dns.set_a("ns.test", &[Ipv4Addr::new(127, 0, 0, 4)]);
    dns.set_a("ns1.shop.test", &[Ipv4Addr::new(127, 0, 0, 2)]);
    dns.set_a("ns2.shop.test", &[Ipv4Addr::new(127, 0, 0, 3)]);
    dns.set_records(
        "shop.test",
        support::dns::rtype::CAA,
        vec![caa_rdata(&CaaRecord::new(0, "issue", "letsencrypt.org"))],
    );
    dns.set_txt("_dnsauth.shop.test", &["token-1"]);
    dns.set_cname("_abc.shop.test", "dcv.ca.test");

    let hook = HttpReceiver::ok("{}").await;
    let bench = DaemonBench::new();
    bench.write_config(
        dns.addr(),
        &format!(
            "view = \"both\"\nauthoritative_port = {port}\n\n[dnssec]\nvalidate = false\n{}{}{}",
            webhook(&hook),
            order("shop", "shop.test", "_dnsauth.shop.test", "token-1"),
            order_of(
                "CNAME",
                "alias",
                "shop.test",
                "_abc.shop.test",
                "dcv.ca.test"
            ),
        ),
    );
    let daemon = bench.start();
    let blocked = wait_alert(&bench, &hook, "manual/shop", "order_blocked").await;
    let reason = blocked["reason"].as_str().unwrap();
    assert_eq!(blocked["severity"], "blocking", "{blocked:#}");
    assert!(
        reason.contains(
            "with the TXT record _dnsauth.shop.test = \"token-1\"; 1 of the 2 authoritative server address(es) of shop.test do not serve it"
        ),
        "{blocked:#}"
    );
    assert!(
        reason.contains("ns2.shop.test (127.0.0.3) answered NXDOMAIN"),
        "{blocked:#}"
    );
    assert!(!reason.contains("ns1.shop.test (127.0.0.2)"), "{blocked:#}");
    let remedy = blocked["remedy"].as_str().unwrap();
    assert!(
        remedy.contains("Publish the record on every name server of shop.test"),
        "{blocked:#}"
    );
    // The CNAME order: ns2 aliases to another target.
    let blocked = wait_alert(&bench, &hook, "manual/alias", "order_blocked").await;
    let reason = blocked["reason"].as_str().unwrap();
    assert!(
        reason.contains("ns2.shop.test (127.0.0.3) answered an alias of old-dcv.ca.test"),
        "{blocked:#}"
    );
    assert!(!reason.contains("127.0.0.2"), "{blocked:#}");
    let show = bench.cli_text(&["orders", "show", "manual/shop"]).unwrap();
    assert!(show.contains("order_blocked (blocking)"), "{show}");
    let history = serde_json::to_string(&bench.history()).unwrap();
    assert!(history.contains("order_blocked"), "{history}");
    assert_eq!(daemon.terminate().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_record_whose_zone_delegation_cannot_be_found_is_a_warning_not_silence() {
    // The resolver answers the TXT record but fails the NS query that
    // finds its zone: the zone's servers cannot be asked. The user who
    // asked for them is told so, in the order's conditions, without the
    // order being called blocked (nothing is known against the record) or
    // the record "in place as the CA will look for it".
    let dns = TestDns::start_sync();
    dns.set_logging(false);
    dns.set_records(
        "shop.test",
        support::dns::rtype::CAA,
        vec![caa_rdata(&CaaRecord::new(0, "issue", "letsencrypt.org"))],
    );
    dns.set_txt("_dnsauth.shop.test", &["token-1"]);
    dns.set_type_behaviour("shop.test", rtype::NS, Behaviour::Servfail);
    for view in ["both", "authoritative"] {
        let hook = HttpReceiver::ok("{}").await;
        let bench = DaemonBench::new();
        bench.write_config(
            dns.addr(),
            &format!(
                "view = \"{view}\"\n\n[dnssec]\nvalidate = false\n{}{}",
                webhook(&hook),
                order("shop", "shop.test", "_dnsauth.shop.test", "token-1"),
            ),
        );
        let daemon = bench.start();
        // Placed long ago: stuck, and its reason never says the record is
        // in place as the CA will look for it.
        let stuck = wait_alert(&bench, &hook, "manual/shop", "order_stuck").await;
        let reason = stuck["reason"].as_str().unwrap();
        assert!(!reason.contains("in place"), "{view}: {stuck:#}");
        // The condition: a warning with the CAA path's words, and its fix.
        let warned = wait_alert(&bench, &hook, "manual/shop", "order_blocked").await;
        assert_eq!(warned["severity"], "warning", "{view}: {warned:#}");
        let summary = warned["summary"].as_str().unwrap();
        let reason = warned["reason"].as_str().unwrap();
        for said in [summary, reason] {
            assert!(
                said.contains(
                    "could not ask the authoritative servers of _dnsauth.shop.test: the NS query for shop.test failed"
                ),
                "{view}: {warned:#}"
            );
            assert!(said.contains("SERVFAIL"), "{view}: {warned:#}");
        }
        // Not blocked because of it: nothing says the order cannot issue.
        assert!(!summary.contains("cannot issue"), "{view}: {warned:#}");
        assert!(!summary.contains("can never issue"), "{view}: {warned:#}");
        let remedy = warned["remedy"].as_str().unwrap();
        assert!(
            remedy.contains("answers NS queries for _dnsauth.shop.test"),
            "{view}: {warned:#}"
        );
        // The order views and the history show it as a warning.
        let show = bench.cli_text(&["orders", "show", "manual/shop"]).unwrap();
        assert!(show.contains("order_blocked (warning)"), "{view}: {show}");
        assert!(!show.contains("(blocking)"), "{view}: {show}");
        assert!(
            show.contains("could not ask the authoritative servers of _dnsauth.shop.test"),
            "{view}: {show}"
        );
        let history = serde_json::to_string(&bench.history()).unwrap();
        assert!(
            history.contains("could not ask the authoritative servers of _dnsauth.shop.test"),
            "{view}: {history}"
        );
        assert!(
            order_alerts(&hook, "manual/shop", "order_blocked")
                .iter()
                .all(|a| a["severity"] == "warning"),
            "{view}"
        );
        // Logged at WARN, as for the CAA check's names.
        let log = bench.log_text();
        assert!(
            log.lines()
                .any(|l| l.contains("WARN") && l.contains("the delegation could not be found")),
            "{view}: {log}"
        );
        assert_eq!(daemon.terminate().await, Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_perspective_that_does_not_see_the_order_record_is_named() {
    // Home (::1) sees `_dnsauth.geo.test TXT "token-1"`; the agent,
    // resolving from 127.0.0.1, gets the "abroad" view without it.
    let server = crate::perspective::geodns();
    let bench = DaemonBench::new();
    let token_file = bench.secret("agent.token", crate::perspective::TOKEN);
    let agent = crate::perspective::agent(server.addr, &token_file);
    let hook = HttpReceiver::ok("{}").await;
    let home = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), server.addr.port());
    bench.write_config(
        home,
        &format!(
            r#"view = "recursive"

[dnssec]
validate = false

[[vantage]]
name = "abroad-agent"
kind = "agent"
url = "{url}/"
token_file = "{token_file}"
overseas = true
{hook}{order}"#,
            url = agent.url,
            hook = webhook(&hook),
            order = order("geo", "geo.test", "_dnsauth.geo.test", "token-1"),
        ),
    );
    let daemon = bench.start();
    let blocked = wait_alert(&bench, &hook, "manual/geo", "order_blocked").await;
    let reason = blocked["reason"].as_str().unwrap();
    assert_eq!(blocked["severity"], "blocking", "{blocked:#}");
    assert!(
        reason.contains("it is in place from here, but from abroad-agent it is NXDOMAIN"),
        "{blocked:#}"
    );
    let remedy = blocked["remedy"].as_str().unwrap();
    assert!(
        remedy.contains("Publish _dnsauth.geo.test in every view of the zone"),
        "{blocked:#}"
    );
    assert_eq!(daemon.terminate().await, Some(0));
}

/// A validating resolver in miniature, in front of NSD: a query without
/// the CD bit for a name in `bogus_zone` gets SERVFAIL, as a validating
/// resolver answers bogus data (RFC 4035 §5.5); every other query (and
/// every query with CD) is relayed to `upstream`. UDP only: the answers
/// here are small. Stopped on drop.
struct ValidatingFront {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ValidatingFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The question's name (lower case, no trailing dot) and where the
/// question ends.
fn question(query: &[u8]) -> Option<(String, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_lowercase());
        at += len;
    }
    Some((labels.join("."), at + 4))
}

async fn validating_front(upstream: SocketAddr, bogus_zone: &'static str) -> ValidatingFront {
    use std::sync::Arc;
    use tokio::net::UdpSocket;
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = socket.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let query = buf[..n].to_vec();
            let socket = socket.clone();
            tokio::spawn(async move {
                let Some((name, end)) = question(&query) else {
                    return;
                };
                let checking_disabled = query[3] & 0x10 != 0;
                let bogus = name == bogus_zone || name.ends_with(&format!(".{bogus_zone}"));
                if bogus && !checking_disabled {
                    // The header and the question; QR, RA, SERVFAIL, no
                    // records.
                    let mut reply = query[..end].to_vec();
                    reply[2] |= 0x80;
                    reply[3] = 0x80 | 2;
                    reply[6..12].fill(0);
                    let _ = socket.send_to(&reply, from).await;
                    return;
                }
                let relay = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                relay.send_to(&query, upstream).await.unwrap();
                let mut answer = vec![0u8; 65535];
                if let Ok(Ok((m, _))) = tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    relay.recv_from(&mut answer),
                )
                .await
                {
                    let _ = socket.send_to(&answer[..m], from).await;
                }
            });
        }
    });
    ValidatingFront { addr, task }
}

/// Behind a validating resolver the bogus record is a SERVFAIL, which by
/// itself says nothing; certvigil validates it (with CD) and tells the
/// cause, as for a non-validating resolver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validating_resolvers_servfail_for_the_order_record_is_explained_by_its_dnssec_cause() {
    let zones = SignedZones::start();
    let front = validating_front(zones.addr, "expired.test").await;
    let hook = HttpReceiver::ok("{}").await;
    let bench = DaemonBench::new();
    bench.write_config(
        front.addr,
        &format!(
            "view = \"recursive\"\n{}{}{}",
            zones.dnssec_toml(),
            webhook(&hook),
            order(
                "bad",
                "expired.test",
                "_dnsauth.expired.test",
                "token-expired"
            ),
        ),
    );
    let daemon = bench.start();
    let blocked = wait_alert(&bench, &hook, "manual/bad", "order_blocked").await;
    let reason = blocked["reason"].as_str().unwrap();
    assert!(
        reason.contains("the answer for _dnsauth.expired.test is DNSSEC-bogus"),
        "{blocked:#}"
    );
    assert!(reason.contains("expired at"), "{blocked:#}");
    assert_eq!(daemon.terminate().await, Some(0));
}
