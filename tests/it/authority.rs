//! The authoritative view (issue 13) end to end: real NSD servers on
//! loopback addresses for a zone and its parent, the recursive resolver a
//! `TestDns` that knows the delegation, and the real `certvigil check`
//! binary with `[dns] authoritative_port` pointing at the servers' port.
//!
//! The zone `example.test` has four NS: ns1 (127.0.0.2) serves the current
//! CAA set, ns2 (127.0.0.3) a stale one left from a provider move, ns3
//! (127.0.0.5) is an NSD that does not hold the zone (lame: REFUSED), ns4
//! (127.0.0.6) has no server at all, ns5 is IPv6 only (::1) and serves the
//! current set. The parent `test` (127.0.0.4) delegates to ns1 and ns2
//! only.

use crate::support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde_json::Value;
use support::authdns;
use support::daemon::DaemonBench;
use support::dns::{Behaviour, TestDns, caa_rdata, rtype};

use certvigil::checks::caa::CaaRecord;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

fn child_zone(caa: &str) -> String {
    format!(
        "$ORIGIN example.test.\n$TTL 60\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\n@ NS ns2\n@ NS ns3\n@ NS ns4\n@ NS ns5\nns1 A 127.0.0.2\nns2 A 127.0.0.3\nns3 A 127.0.0.5\nns4 A 127.0.0.6\nns5 AAAA ::1\n@ CAA 0 issue \"{caa}\"\n"
    )
}

const PARENT_ZONE: &str = "$ORIGIN test.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.4\nexample NS ns1.example\nexample NS ns2.example\nns1.example A 127.0.0.2\nns2.example A 127.0.0.3\n";

const OTHER_ZONE: &str = "$ORIGIN other.test.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.5\n";

/// The recursive resolver's view: the delegation, the addresses, and the
/// CAA set it resolved (from ns1).
fn recursive() -> TestDns {
    let dns = TestDns::start_sync();
    dns.set_ns(
        "example.test",
        &[
            "ns1.example.test",
            "ns2.example.test",
            "ns3.example.test",
            "ns4.example.test",
            "ns5.example.test",
        ],
    );
    dns.set_ns("test", &["ns.test"]);
    dns.set_a("ns.test", &[Ipv4Addr::new(127, 0, 0, 4)]);
    for (n, last) in [("ns1", 2), ("ns2", 3), ("ns3", 5), ("ns4", 6)] {
        dns.set_a(
            &format!("{n}.example.test"),
            &[Ipv4Addr::new(127, 0, 0, last)],
        );
    }
    dns.set_records(
        "ns5.example.test",
        support::dns::rtype::AAAA,
        vec![std::net::Ipv6Addr::LOCALHOST.octets().to_vec()],
    );
    dns.set_records(
        "example.test",
        support::dns::rtype::CAA,
        vec![caa_rdata(&CaaRecord::new(0, "issue", "letsencrypt.org"))],
    );
    dns
}

struct Lab {
    _servers: Vec<authdns::Server>,
    port: u16,
    dns: TestDns,
}

fn lab(ns2_caa: &str) -> Lab {
    let v6 = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    let port = authdns::common_port(&[ip(2), ip(3), ip(4), ip(5), ip(6), v6]);
    let at = |last| SocketAddr::new(ip(last), port);
    let servers = vec![
        authdns::nsd(at(4), &[("test", PARENT_ZONE.to_string())]),
        authdns::nsd(at(2), &[("example.test", child_zone("letsencrypt.org"))]),
        authdns::nsd(at(3), &[("example.test", child_zone(ns2_caa))]),
        authdns::nsd(at(5), &[("other.test", OTHER_ZONE.to_string())]),
        authdns::nsd(
            SocketAddr::new(v6, port),
            &[("example.test", child_zone("letsencrypt.org"))],
        ),
    ];
    Lab {
        _servers: servers,
        port,
        dns: recursive(),
    }
}

fn check_json(bench: &DaemonBench, lab: &Lab, view: &str, ca: &str) -> (i32, Value) {
    bench.write_config(
        lab.dns.addr(),
        &format!("view = \"{view}\"\nauthoritative_port = {}\n", lab.port),
    );
    let out = bench.cli(&["check", "--ca", ca, "--format", "json", "example.test"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().next().unwrap_or_else(|| {
        panic!(
            "no output; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code().unwrap(),
        serde_json::from_str(line).unwrap(),
    )
}

fn views_of(r: &Value) -> Vec<Value> {
    r["caa"]["views"].as_array().cloned().unwrap_or_default()
}

fn find<'a>(views: &'a [Value], kind: &str) -> Vec<&'a Value> {
    views.iter().filter(|v| v["kind"] == kind).collect()
}

#[test]
fn servers_disagreeing_on_caa_are_named_with_what_each_serves_and_who_would_block() {
    let lab = lab("sectigo.com");
    let bench = DaemonBench::new();
    let (code, r) = check_json(&bench, &lab, "both", "letsencrypt");
    // The recursive resolver allows Let's Encrypt; ns2 does not.
    assert_eq!(r["caa"]["verdict"], "allowed", "{r}");
    assert_eq!(r["issuable"], false, "{r}");
    assert_eq!(code, 1, "{r}");
    let views = views_of(&r);
    let split = find(&views, "servers_disagree");
    assert_eq!(split.len(), 1, "{views:#?}");
    let s = split[0]["summary"].as_str().unwrap();
    assert!(
        s.contains(
            "ns1.example.test (127.0.0.2), ns5.example.test (::1) serve(s) [0 issue \"letsencrypt.org\"] (allows issuance)"
        ),
        "{s}"
    );
    assert!(
        s.contains(
            "ns2.example.test (127.0.0.3) serve(s) [0 issue \"sectigo.com\"] (forbids issuance)"
        ),
        "{s}"
    );
    assert!(
        s.contains("a CA whose resolver asks ns2.example.test (127.0.0.3) would refuse"),
        "{s}"
    );
    assert_eq!(split[0]["severity"], "blocking");
    assert_eq!(split[0]["allow_share"]["allowing"], 2);
    assert_eq!(split[0]["allow_share"]["total"], 3);
    // The same finding is in the report's findings.
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["summary"] == s && f["severity"] == "blocking"),
        "{r}"
    );

    // The lame one and the dead one.
    let lame = find(&views, "lame_server");
    assert_eq!(lame.len(), 1, "{views:#?}");
    let l = lame[0]["summary"].as_str().unwrap();
    assert!(
        l.contains("ns3.example.test (127.0.0.5) is lame for example.test"),
        "{l}"
    );
    assert!(l.contains("REFUSED"), "{l}");
    let dead = find(&views, "unreachable_server");
    assert_eq!(dead.len(), 1, "{views:#?}");
    assert!(
        dead[0]["summary"].as_str().unwrap().contains(
            "ns4.example.test (127.0.0.6), a name server of example.test, did not answer"
        ),
        "{}",
        dead[0]
    );
    // The parent delegates to ns1 and ns2, the zone names four.
    let ns = find(&views, "ns_mismatch");
    assert_eq!(ns.len(), 1, "{views:#?}");
    let n = ns[0]["summary"].as_str().unwrap();
    assert!(
        n.contains("at the parent (test) is [ns1.example.test, ns2.example.test], but the zone's own servers serve [ns1.example.test, ns2.example.test, ns3.example.test, ns4.example.test, ns5.example.test]"),
        "{n}"
    );
}

#[test]
fn the_text_output_names_the_servers_and_the_fix() {
    let lab = lab("sectigo.com");
    let bench = DaemonBench::new();
    bench.write_config(
        lab.dns.addr(),
        &format!("authoritative_port = {}\n", lab.port),
    );
    let out = bench.cli(&["check", "--ca", "letsencrypt", "example.test"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("blocked"), "{text}");
    assert!(
        text.contains("caa (blocking): the authoritative servers of example.test disagree on CAA"),
        "{text}"
    );
    assert!(
        text.contains("fix: make every name server of example.test serve the same CAA records"),
        "{text}"
    );
}

#[test]
fn agreeing_servers_give_no_disagreement_and_recursive_only_asks_none() {
    let lab = lab("letsencrypt.org");
    let bench = DaemonBench::new();
    let (_, r) = check_json(&bench, &lab, "both", "letsencrypt");
    let views = views_of(&r);
    assert!(find(&views, "servers_disagree").is_empty(), "{views:#?}");
    // The lame and dead servers are still reported, as warnings: issuable.
    assert_eq!(find(&views, "lame_server").len(), 1, "{views:#?}");
    assert_eq!(r["issuable"], true, "{r}");

    let (code, r) = check_json(&bench, &lab, "recursive", "letsencrypt");
    assert!(views_of(&r).is_empty(), "{r}");
    assert_eq!(code, 0, "{r}");

    // `--view` overrides the file's `[dns] view` for one run (the file
    // now says "recursive"): the lame server is reported again.
    let out = bench.cli(&[
        "check",
        "--ca",
        "letsencrypt",
        "--format",
        "json",
        "--view",
        "both",
        "example.test",
    ]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(find(&views_of(&r), "lame_server").len(), 1, "{r}");
}

#[test]
fn authoritative_only_judges_what_the_zone_servers_serve() {
    // The recursive resolver still has an old answer (sectigo.com); the
    // zone's servers all serve letsencrypt.org now.
    let lab = lab("letsencrypt.org");
    lab.dns.set_records(
        "example.test",
        support::dns::rtype::CAA,
        vec![caa_rdata(&CaaRecord::new(0, "issue", "sectigo.com"))],
    );
    let bench = DaemonBench::new();
    let (_, both) = check_json(&bench, &lab, "both", "letsencrypt");
    assert_eq!(both["caa"]["verdict"], "forbidden", "{both}");
    let views = views_of(&both);
    let differs = find(&views, "recursive_differs");
    assert_eq!(differs.len(), 1, "{both}");
    let (_, auth) = check_json(&bench, &lab, "authoritative", "letsencrypt");
    assert_eq!(auth["caa"]["verdict"], "allowed", "{auth}");
}

#[test]
fn a_delegation_that_cannot_be_found_is_a_warning_finding_not_silence() {
    // The resolver answers CAA but fails the NS query that finds the zone:
    // the servers cannot be asked, and the user who asked for them is told
    // so, without the CAA verdict changing.
    let lab = lab("sectigo.com");
    let bench = DaemonBench::new();
    for (behaviour, rcode) in [
        (Behaviour::Servfail, "SERVFAIL"),
        (Behaviour::Refused, "REFUSED"),
    ] {
        lab.dns
            .set_type_behaviour("example.test", rtype::NS, behaviour);
        for view in ["both", "authoritative"] {
            let (code, r) = check_json(&bench, &lab, view, "letsencrypt");
            assert_eq!(r["caa"]["verdict"], "allowed", "{view} {rcode}: {r}");
            assert_eq!(r["issuable"], true, "{view} {rcode}: {r}");
            assert_eq!(code, 0, "{view} {rcode}: {r}");
            let views = views_of(&r);
            let unknown = find(&views, "delegation_unknown");
            assert_eq!(unknown.len(), 1, "{view} {rcode}: {views:#?}");
            assert_eq!(unknown[0]["severity"], "warning");
            let s = unknown[0]["summary"].as_str().unwrap();
            assert!(
                s.starts_with("could not ask the authoritative servers of example.test: the NS query for example.test failed"),
                "{s}"
            );
            assert!(s.contains(rcode), "{s}");
            // ns2's stale set is never seen: nothing else is claimed.
            assert_eq!(views.len(), 1, "{views:#?}");
            assert!(
                r["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["summary"] == s && f["severity"] == "warning"),
                "{r}"
            );
        }
    }
    // The text output shows it with its fix.
    let out = bench.cli(&["check", "--ca", "letsencrypt", "example.test"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("caa (warning): could not ask the authoritative servers of example.test"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_keeps_an_unknown_delegation_in_its_state_and_warns_once_per_cycle() {
    let lab = lab("letsencrypt.org");
    lab.dns
        .set_type_behaviour("example.test", rtype::NS, Behaviour::Servfail);
    let bench = DaemonBench::new();
    bench.write_config(
        lab.dns.addr(),
        &format!(
            "authoritative_port = {}\n\n[[domains]]\nname = \"example.test\"\nca = [\"letsencrypt\"]\n\n[[domains]]\nname = \"www.example.test\"\nca = [\"letsencrypt\"]\n",
            lab.port
        ),
    );
    let daemon = bench.start();
    bench.wait_checks("example.test", 3).await;
    bench.wait_checks("www.example.test", 1).await;
    let status = serde_json::to_string(&bench.status()).unwrap();
    assert!(
        status.contains("could not ask the authoritative servers of example.test"),
        "{status}"
    );
    // Every cycle fails the delegation of at least two names (one per
    // domain); it is logged at WARN once per cycle, not once per name.
    let cycles = bench.checks("example.test");
    let log = bench.log_text();
    let warns = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("the delegation could not be found"))
        .count();
    assert!(warns >= 1, "{log}");
    assert!(
        warns <= usize::try_from(cycles).unwrap() + 1,
        "{warns} WARN lines in {cycles} cycles:\n{log}"
    );
    assert_eq!(daemon.terminate().await, Some(0));
}
