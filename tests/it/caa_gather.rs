//! gather_caa against a real DNS server on 127.0.0.1 (tests/it/support/dns.rs):
//! what the gatherer observes for each shape of answer a CA can meet.

use crate::support;

use std::time::Duration;

use futures::StreamExt;

use certvigil::checks::caa::gather::gather_caa;
use certvigil::checks::caa::{CaaAnswer, CaaLookup, CaaObservation, CaaRecord, LookupFailure};
use certvigil::dns::{DnsHandle, DnsSettings};
use certvigil::domain::DomainName;
use hickory_proto::rr::RecordType;
use support::dns::{Behaviour, TestDns, rtype};

fn name(s: &str) -> DomainName {
    DomainName::parse(s).unwrap()
}

fn handle(dns: &TestDns) -> DnsHandle {
    DnsHandle::new(&dns.settings()).unwrap()
}

fn issue(ca: &str) -> CaaRecord {
    CaaRecord::new(0, "issue", ca)
}

/// The lookup of `at` in the RFC 8659 climb.
fn at<'a>(obs: &'a CaaObservation, at: &str) -> &'a CaaLookup {
    obs.climb
        .iter()
        .find(|l| l.name.as_str() == at)
        .unwrap_or_else(|| panic!("{at} was not looked up: {obs:#?}"))
}

fn answer<'a>(obs: &'a CaaObservation, name: &str) -> &'a CaaAnswer {
    match &at(obs, name).result {
        Ok(a) => a,
        Err(e) => panic!("the lookup of {name} failed: {e}"),
    }
}

fn failure<'a>(obs: &'a CaaObservation, name: &str) -> &'a LookupFailure {
    match &at(obs, name).result {
        Err(e) => e,
        Ok(a) => panic!("the lookup of {name} succeeded: {a:?}"),
    }
}

fn names(lookups: &[CaaLookup]) -> Vec<&str> {
    lookups.iter().map(|l| l.name.as_str()).collect()
}

#[tokio::test]
async fn rfc8659_3_climbs_from_the_name_to_the_tld_in_order() {
    let dns = TestDns::start().await;
    dns.set_caa("example.com", [issue("letsencrypt.org")]);

    let obs = gather_caa(&handle(&dns), &name("www.example.com")).await;

    assert_eq!(obs.queried, name("www.example.com"));
    assert_eq!(names(&obs.climb), ["www.example.com", "example.com", "com"]);
    let found = answer(&obs, "example.com");
    assert_eq!(found.records, [issue("letsencrypt.org")]);
    assert_eq!(found.cname_chain, [name("example.com")]);
    assert!(!found.nxdomain);
    assert!(obs.alias_target_climb.is_empty());
}

#[tokio::test]
async fn nxdomain_and_nodata_are_empty_answers_told_apart() {
    let dns = TestDns::start().await;
    dns.set_caa("example.com", [issue("sectigo.com")]);
    // b.example.com exists with other data (NODATA); a.b.example.com does not.
    dns.set_txt("b.example.com", &["v=spf1 -all"]);

    let obs = gather_caa(&handle(&dns), &name("a.b.example.com")).await;

    let missing = answer(&obs, "a.b.example.com");
    assert!(missing.nxdomain);
    assert!(missing.records.is_empty());
    assert_eq!(missing.cname_chain, [name("a.b.example.com")]);
    let nodata = answer(&obs, "b.example.com");
    assert!(!nodata.nxdomain);
    assert!(nodata.records.is_empty());
    assert_eq!(answer(&obs, "example.com").records, [issue("sectigo.com")]);
    // "com" only has descendants: an empty non-terminal (RFC 8020), NOERROR.
    assert!(!answer(&obs, "com").nxdomain);
}

#[tokio::test]
async fn rfc8659_3_alias_records_count_at_the_alias_with_the_chain_kept() {
    let dns = TestDns::start().await;
    dns.set_cname("www.example.com", "example.github.io");
    dns.set_cname("example.github.io", "cdn.example.net");
    dns.set_caa(
        "cdn.example.net",
        [issue("digicert.com"), issue("sectigo.com")],
    );

    let obs = gather_caa(&handle(&dns), &name("www.example.com")).await;

    let aliased = answer(&obs, "www.example.com");
    assert_eq!(
        aliased.cname_chain,
        [
            name("www.example.com"),
            name("example.github.io"),
            name("cdn.example.net")
        ]
    );
    assert_eq!(
        aliased.records,
        [issue("digicert.com"), issue("sectigo.com")]
    );
    assert!(!aliased.nxdomain);
}

#[tokio::test]
async fn alias_to_a_name_without_caa_fills_the_target_climb() {
    let dns = TestDns::start().await;
    dns.set_cname("www.example.com", "example.github.io");
    dns.set_a("example.github.io", &[std::net::Ipv4Addr::LOCALHOST]);
    dns.set_caa("github.io", [issue("letsencrypt.org")]);
    dns.set_caa("example.com", [issue("sectigo.com")]);

    let obs = gather_caa(&handle(&dns), &name("www.example.com")).await;

    let aliased = answer(&obs, "www.example.com");
    assert_eq!(
        aliased.cname_chain,
        [name("www.example.com"), name("example.github.io")]
    );
    assert!(aliased.records.is_empty());
    // RFC 6844 before erratum 5065 climbed the target's parents.
    assert_eq!(names(&obs.alias_target_climb), ["github.io", "io"]);
    let github = &obs.alias_target_climb[0];
    assert_eq!(
        github.result.as_ref().unwrap().records,
        [issue("letsencrypt.org")]
    );
}

#[tokio::test]
async fn alias_target_climb_is_deduplicated_and_reuses_the_climb() {
    let dns = TestDns::start().await;
    // Both www and the parent are aliases into the same tree; one target
    // lies inside the climbed tree itself.
    dns.set_cname("www.shop.example.com", "a.cdn.example.net");
    dns.set_cname("shop.example.com", "b.cdn.example.net");
    dns.set_cname("a.cdn.example.net", "edge.example.com");
    dns.set_caa("b.cdn.example.net", []);
    dns.set_caa("edge.example.com", []);

    let obs = gather_caa(&handle(&dns), &name("www.shop.example.com")).await;

    let mut climbed = names(&obs.alias_target_climb);
    climbed.sort_unstable();
    assert_eq!(
        climbed,
        [
            "cdn.example.net",
            "com",
            "example.com",
            "example.net",
            "net"
        ]
    );
    // Names also in the climb were not asked twice.
    let asked_example_com = dns
        .queries()
        .iter()
        .filter(|q| q.name == "example.com" && q.rtype == rtype::CAA)
        .count();
    assert_eq!(asked_example_com, 1);
}

#[tokio::test]
async fn error_codes_are_failures_named_by_mnemonic() {
    let dns = TestDns::start().await;
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    dns.set_behaviour("servfail.example.com", Behaviour::Servfail);
    dns.set_behaviour("refused.example.com", Behaviour::Refused);
    dns.set_behaviour("notimp.example.com", Behaviour::NotImp);
    let dns_handle = handle(&dns);

    for (label, rcode) in [
        ("servfail", "SERVFAIL"),
        ("refused", "REFUSED"),
        ("notimp", "NOTIMP"),
    ] {
        let queried = format!("{label}.example.com");
        let obs = gather_caa(&dns_handle, &name(&queried)).await;
        assert_eq!(
            failure(&obs, &queried),
            &LookupFailure::Rcode {
                rcode: rcode.into(),
                server: Some(dns.addr()),
            }
        );
        // The failure is at that name only; the climb above still answers.
        assert_eq!(
            answer(&obs, "example.com").records,
            [issue("letsencrypt.org")]
        );
    }
}

#[tokio::test]
async fn servfail_at_an_alias_target_fails_the_alias() {
    let dns = TestDns::start().await;
    dns.set_cname("www.example.com", "broken.example.net");
    dns.set_behaviour("broken.example.net", Behaviour::Servfail);

    let obs = gather_caa(&handle(&dns), &name("www.example.com")).await;

    assert_eq!(
        failure(&obs, "www.example.com"),
        &LookupFailure::Rcode {
            rcode: "SERVFAIL".into(),
            server: Some(dns.addr()),
        }
    );
}

#[tokio::test]
async fn silence_is_a_timeout() {
    let dns = TestDns::start().await;
    dns.set_behaviour("www.example.com", Behaviour::Silent);

    let obs = gather_caa(&handle(&dns), &name("www.example.com")).await;

    assert_eq!(failure(&obs, "www.example.com"), &LookupFailure::Timeout);
    assert!(answer(&obs, "example.com").nxdomain);
}

#[tokio::test]
async fn rfc5452_4_1_an_answer_with_another_id_is_ignored() {
    let dns = TestDns::start().await;
    dns.set_caa("www.example.com", [issue("evil.example")]);
    dns.set_behaviour("www.example.com", Behaviour::WrongId);

    let obs = gather_caa(&handle(&dns), &name("www.example.com")).await;

    // The server did answer, with records, but under the wrong ID.
    assert!(dns.queries().iter().any(|q| q.name == "www.example.com"));
    assert_eq!(failure(&obs, "www.example.com"), &LookupFailure::Timeout);
}

#[tokio::test]
async fn an_unparseable_answer_is_malformed() {
    let dns = TestDns::start().await;
    dns.set_behaviour("www.example.com", Behaviour::Malformed);

    let obs = gather_caa(&handle(&dns), &name("www.example.com")).await;

    match failure(&obs, "www.example.com") {
        LookupFailure::Malformed { detail } => {
            assert!(detail.contains("www.example.com"), "{detail}");
            assert!(detail.contains(&dns.addr().to_string()), "{detail}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[tokio::test]
async fn caa_rdata_with_a_broken_frame_is_malformed_not_dropped() {
    let dns = TestDns::start().await;
    // Tag length 9, but only "issue" follows.
    dns.set_records("example.com", rtype::CAA, vec![b"\x00\x09issue".to_vec()]);

    let obs = gather_caa(&handle(&dns), &name("example.com")).await;

    assert!(
        matches!(failure(&obs, "example.com"), LookupFailure::Malformed { detail } if detail.contains("tag length is 9")),
        "{obs:#?}"
    );
}

#[tokio::test]
async fn rfc1035_4_2_1_truncated_answers_are_retried_over_tcp() {
    let dns = TestDns::start().await;
    let records: Vec<CaaRecord> = (0..30)
        .map(|i| {
            issue(&format!(
                "ca{i:02}.example.net; account=0123456789abcdef0123456789"
            ))
        })
        .collect();
    dns.set_caa("big.example.com", records.clone());

    let obs = gather_caa(&handle(&dns), &name("big.example.com")).await;

    assert_eq!(answer(&obs, "big.example.com").records, records);
    let asked: Vec<_> = dns
        .queries()
        .into_iter()
        .filter(|q| q.name == "big.example.com")
        .map(|q| q.tcp)
        .collect();
    assert_eq!(asked, [false, true], "UDP first, then TCP after TC");
}

#[tokio::test]
async fn records_hickory_refuses_are_kept_raw() {
    let dns = TestDns::start().await;
    let long_tag = vec![0, 20]
        .into_iter()
        .chain(*b"abcdefghijklmnopqrst")
        .chain(*b"anything")
        .collect::<Vec<u8>>();
    dns.set_records(
        "example.com",
        rtype::CAA,
        vec![
            long_tag,
            b"\x00\x05issue ca.example ; policy = ev ".to_vec(),
            b"\x00\x05issue%%%%%".to_vec(),
            b"\x80\x05issue\xff\xfe".to_vec(),
        ],
    );

    let obs = gather_caa(&handle(&dns), &name("example.com")).await;

    let records = &answer(&obs, "example.com").records;
    assert_eq!(records.len(), 4);
    assert_eq!(records[0].tag, "abcdefghijklmnopqrst");
    assert_eq!(records[0].value, b"anything");
    assert_eq!(records[1].value, b" ca.example ; policy = ev ");
    assert_eq!(records[2].value, b"%%%%%");
    assert_eq!(records[3].flags, 128);
    assert_eq!(records[3].value, b"\xff\xfe");
}

#[tokio::test]
async fn idn_names_are_asked_as_a_labels() {
    let dns = TestDns::start().await;
    dns.set_caa("xn--bcher-kva.example", [issue("trustasia.com")]);

    let obs = gather_caa(&handle(&dns), &name("www.bücher.example")).await;

    assert_eq!(
        names(&obs.climb),
        [
            "www.xn--bcher-kva.example",
            "xn--bcher-kva.example",
            "example"
        ]
    );
    assert_eq!(
        answer(&obs, "xn--bcher-kva.example").records,
        [issue("trustasia.com")]
    );
    assert!(
        dns.queries()
            .iter()
            .any(|q| q.name == "xn--bcher-kva.example")
    );
}

#[tokio::test]
async fn queries_ask_for_recursion_with_edns_and_fall_back_without() {
    let dns = TestDns::start().await;
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    dns.set_behaviour("example.com", Behaviour::FormErrOnEdns);

    let obs = gather_caa(&handle(&dns), &name("example.com")).await;

    assert_eq!(
        answer(&obs, "example.com").records,
        [issue("letsencrypt.org")]
    );
    let asked: Vec<_> = dns
        .queries()
        .into_iter()
        .filter(|q| q.name == "example.com")
        .collect();
    assert!(
        asked
            .iter()
            .all(|q| q.recursion_desired && q.rtype == rtype::CAA)
    );
    // RFC 6891 §7: FORMERR to the EDNS query, then the same without OPT.
    assert_eq!(
        asked.iter().map(|q| q.edns).collect::<Vec<_>>(),
        [true, false]
    );
}

#[tokio::test]
async fn the_next_name_server_is_asked_after_silence_refused_or_notimp() {
    let refusing = TestDns::start().await;
    refusing.set_behaviour("example.com", Behaviour::Refused);
    let silent = TestDns::start().await;
    silent.set_behaviour("example.com", Behaviour::Silent);
    let notimp = TestDns::start().await;
    notimp.set_behaviour("example.com", Behaviour::NotImp);
    let good = TestDns::start().await;
    good.set_caa("example.com", [issue("globalsign.com")]);
    let dns = DnsHandle::new(&DnsSettings {
        nameservers: Some(vec![
            refusing.addr(),
            silent.addr(),
            notimp.addr(),
            good.addr(),
        ]),
        ..good.settings()
    })
    .unwrap();

    let obs = gather_caa(&dns, &name("example.com")).await;

    assert_eq!(
        answer(&obs, "example.com").records,
        [issue("globalsign.com")]
    );
}

/// Issue 13.5: a validating resolver's SERVFAIL (a bogus zone) must not be
/// turned into "no CAA, allowed" by a second resolver that does not
/// validate. The lookup ends at the SERVFAIL, naming that server; the
/// second server is never asked.
#[tokio::test]
async fn servfail_is_an_answer_naming_its_server_and_the_next_server_is_not_asked() {
    let validating = TestDns::start().await;
    validating.set_behaviour("example.com", Behaviour::Servfail);
    // Its climb above still answers: the failure is at example.com only.
    let lax = TestDns::start().await;
    let dns = DnsHandle::new(&DnsSettings {
        nameservers: Some(vec![validating.addr(), lax.addr()]),
        ..lax.settings()
    })
    .unwrap();

    let obs = gather_caa(&dns, &name("example.com")).await;

    assert_eq!(
        failure(&obs, "example.com"),
        &LookupFailure::Rcode {
            rcode: "SERVFAIL".into(),
            server: Some(validating.addr()),
        }
    );
    let asked_lax: Vec<_> = lax
        .queries()
        .into_iter()
        .filter(|q| q.name == "example.com")
        .collect();
    assert!(
        asked_lax.is_empty(),
        "the second server was asked: {asked_lax:?}"
    );
}

/// A timeout from the first server still moves on, and a SERVFAIL from the
/// second is then the answer, naming the second.
#[tokio::test]
async fn servfail_after_a_timeout_names_the_server_that_gave_it() {
    let silent = TestDns::start().await;
    silent.set_behaviour("example.com", Behaviour::Silent);
    let broken = TestDns::start().await;
    broken.set_behaviour("example.com", Behaviour::Servfail);
    let dns = DnsHandle::new(&DnsSettings {
        nameservers: Some(vec![silent.addr(), broken.addr()]),
        timeout: Duration::from_millis(200),
        attempts: 2,
    })
    .unwrap();

    let obs = gather_caa(&dns, &name("example.com")).await;

    assert_eq!(
        failure(&obs, "example.com"),
        &LookupFailure::Rcode {
            rcode: "SERVFAIL".into(),
            server: Some(broken.addr()),
        }
    );
    // Not asked again on a second attempt: the SERVFAIL was the answer.
    let asked = broken
        .queries()
        .into_iter()
        .filter(|q| q.name == "example.com")
        .count();
    assert_eq!(asked, 1);
}

#[tokio::test]
async fn when_every_server_fails_the_most_telling_failure_is_kept() {
    let silent = TestDns::start().await;
    silent.set_behaviour("example.com", Behaviour::Silent);
    let refusing = TestDns::start().await;
    refusing.set_behaviour("example.com", Behaviour::Refused);
    let dns = DnsHandle::new(&DnsSettings {
        nameservers: Some(vec![refusing.addr(), silent.addr()]),
        ..silent.settings()
    })
    .unwrap();

    let obs = gather_caa(&dns, &name("example.com")).await;

    // REFUSED says more than the silence that came after it.
    assert_eq!(
        failure(&obs, "example.com"),
        &LookupFailure::Rcode {
            rcode: "REFUSED".into(),
            server: Some(refusing.addr()),
        }
    );
}

#[tokio::test]
async fn nothing_is_cached_between_gathers() {
    let dns = TestDns::start().await;
    let dns_handle = handle(&dns);
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let before = gather_caa(&dns_handle, &name("example.com")).await;

    dns.set_caa("example.com", [issue("sectigo.com")]);
    let after = gather_caa(&dns_handle, &name("example.com")).await;
    dns.remove("example.com");
    let gone = gather_caa(&dns_handle, &name("example.com")).await;

    assert_eq!(
        answer(&before, "example.com").records,
        [issue("letsencrypt.org")]
    );
    assert_eq!(
        answer(&after, "example.com").records,
        [issue("sectigo.com")]
    );
    assert!(answer(&gone, "example.com").nxdomain);
}

#[tokio::test]
async fn many_names_at_once_all_get_answers() {
    let dns = TestDns::start().await;
    dns.set_logging(false);
    for i in 0..300 {
        dns.set_caa(
            &format!("n{i}.example.com"),
            [issue(&format!("ca{i}.example"))],
        );
    }
    // Generous limits: this is about none being lost, not about speed, and
    // a burst may overflow a socket buffer on a busy machine (a resolver
    // retries then, as this one does).
    let dns_handle = DnsHandle::new(&DnsSettings {
        timeout: std::time::Duration::from_secs(2),
        attempts: 3,
        ..dns.settings()
    })
    .unwrap();
    // More lookups in flight (300 names x 3 levels) than the handle's
    // socket bound: they queue instead of failing.
    let observations = futures::future::join_all((0..300).map(|i| {
        let dns_handle = dns_handle.clone();
        async move { gather_caa(&dns_handle, &name(&format!("n{i}.example.com"))).await }
    }))
    .await;
    for (i, obs) in observations.iter().enumerate() {
        assert_eq!(
            answer(obs, &format!("n{i}.example.com")).records,
            [issue(&format!("ca{i}.example"))]
        );
    }
}

#[tokio::test]
async fn txt_lookup_follows_aliases_and_joins_character_strings() {
    let dns = TestDns::start().await;
    let long = "x".repeat(300);
    dns.set_cname("_dnsauth.www.example.com", "auth.example.net");
    dns.set_txt("auth.example.net", &["2026112400000abc", &long]);

    let txt = handle(&dns)
        .lookup_txt(&name("_dnsauth.www.example.com"))
        .await
        .unwrap();

    assert_eq!(
        txt.cname_chain,
        [name("_dnsauth.www.example.com"), name("auth.example.net")]
    );
    assert_eq!(
        txt.records,
        [b"2026112400000abc".to_vec(), long.into_bytes()]
    );
    assert!(!txt.nxdomain);
}

// Source ports and IDs (RFC 5452): every UDP query on a socket of its own,
// on a random port, with a random ID; answers matched on ID and question.

/// Rényi (collision) entropy in bits of the distribution the counts were
/// drawn from, estimated without bias from how many pairs of queries share
/// a port: the chance that a forged answer aimed at the port of one query
/// hits another's is 2^-bits. Uniform over R ports gives log2(R); a pool of
/// S sockets rotated every Q queries gives about log2(N/Q) over N queries.
fn collision_entropy_bits(counts: impl IntoIterator<Item = usize>) -> f64 {
    let mut n = 0f64;
    let mut same = 0f64;
    for c in counts {
        let c = c as f64;
        n += c;
        same += c * (c - 1.0);
    }
    assert!(n >= 2.0, "too few queries");
    if same == 0.0 {
        // No two queries shared a port: at least this many bits.
        return (n * (n - 1.0)).log2();
    }
    -(same / (n * (n - 1.0))).log2()
}

#[test]
fn collision_entropy_of_known_distributions() {
    // 160 ports, 104 queries each (the attack run of issue 13): ~7.3 bits.
    let pool = collision_entropy_bits(std::iter::repeat_n(104, 160));
    assert!((pool - 7.3).abs() < 0.1, "{pool}");
    // Every query on its own port.
    assert!(collision_entropy_bits(std::iter::repeat_n(1, 1000)) > 19.0);
}

/// Issue 13.4: an attack run saw 16,688 queries leave from 160 ports (7.3
/// bits of port entropy). RFC 5452 §10 asks for ports drawn at random from
/// a large range: over a run of queries the loopback server must see ports
/// spread so that at least 14 bits are left to guess, on top of the ID.
#[tokio::test]
async fn rfc5452_source_ports_carry_at_least_14_bits_of_entropy() {
    const N: usize = 4_000;
    let dns = TestDns::start().await;
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let handle = DnsHandle::new(&DnsSettings {
        timeout: Duration::from_secs(5),
        ..dns.settings()
    })
    .unwrap();
    // Distinct names: one question in flight twice would be sent once.
    let names: Vec<DomainName> = (0..N).map(|i| name(&format!("n{i}.example.com"))).collect();
    // 64 at a time, as `check` asks: ports in use at once are distinct
    // anyway; what matters is that none is used for a second query.
    let answers: Vec<_> = futures::stream::iter(&names)
        .map(|n| handle.lookup(n, RecordType::CAA))
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(answers.iter().all(Result::is_ok));

    let mut counts: std::collections::HashMap<u16, usize> = Default::default();
    for (_, port) in dns.udp_query_ports() {
        *counts.entry(port).or_default() += 1;
    }
    let seen: usize = counts.values().sum();
    assert_eq!(seen, N);
    let bits = collision_entropy_bits(counts.values().copied());
    let most = counts.values().max().copied().unwrap_or(0);
    assert!(
        bits >= 14.0,
        "{bits:.1} bits of source port entropy over {N} queries ({} distinct ports, up to {most} queries on one); \
         see net.ipv4.ip_local_port_range ({})",
        counts.len(),
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .unwrap_or_default()
            .trim()
    );
}

#[tokio::test]
async fn concurrent_queries_each_get_their_own_answer() {
    let dns = TestDns::start().await;
    const N: usize = 100;
    for i in 0..N {
        let n = format!("n{i}.many.example");
        dns.set_txt(&n, &[&format!("answer {i}")]);
        // The first asked is answered last: answers come back in the
        // reverse order of the queries.
        dns.set_behaviour(
            &n,
            Behaviour::Delayed(Duration::from_millis(2 * (N - i) as u64)),
        );
    }
    // Generous: the last answer is held 200 ms by design, and the machine
    // may be loaded.
    let handle = DnsHandle::new(&DnsSettings {
        timeout: Duration::from_secs(5),
        ..dns.settings()
    })
    .unwrap();

    let answers = futures::future::join_all((0..N).map(|i| {
        let handle = &handle;
        async move {
            handle
                .lookup_txt(&name(&format!("n{i}.many.example")))
                .await
        }
    }))
    .await;

    for (i, txt) in answers.into_iter().enumerate() {
        let txt = txt.unwrap_or_else(|e| panic!("n{i}: {e}"));
        assert_eq!(txt.records, [format!("answer {i}").into_bytes()], "n{i}");
    }
}

#[tokio::test]
async fn rfc5452_4_1_an_answer_with_the_right_id_but_another_question_is_ignored() {
    let dns = TestDns::start().await;
    dns.set_caa("www.example.com", [issue("letsencrypt.org")]);
    // Before the real answer: the query's ID with another name, with TXT
    // instead of CAA, and with class CH instead of IN, each NXDOMAIN.
    dns.set_behaviour("www.example.com", Behaviour::SpoofedQuestionFirst);
    let handle = DnsHandle::new(&DnsSettings {
        timeout: Duration::from_secs(2),
        ..dns.settings()
    })
    .unwrap();

    let answer = handle
        .lookup(&name("www.example.com"), RecordType::CAA)
        .await
        .unwrap();

    assert!(!answer.nxdomain, "a forged answer was taken: {answer:?}");
    assert_eq!(
        answer.rdata,
        [support::dns::caa_rdata(&issue("letsencrypt.org"))]
    );
    assert!(!answer.over_tcp);
    // One query, answered once it had waited past the forgeries.
    assert_eq!(dns.queries().len(), 1);
}

#[test]
fn a_handle_outlives_the_runtime_its_sockets_were_opened_in() {
    let dns = TestDns::start_sync();
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let handle = DnsHandle::new(&dns.settings()).unwrap();
    let ask = |handle: &DnsHandle| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(handle.lookup(&name("example.com"), RecordType::CAA))
    };

    // The sockets opened in the first runtime die with it; the next
    // runtime's queries get new ones instead of failing.
    for round in 0..3 {
        let answer = ask(&handle).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(answer.rdata.len(), 1);
    }
}

/// Issue 15: 100 names under one parent, gathered at once on a handle for
/// one run. The parent's and the TLD's CAA questions go out once, each
/// name's own once, and every observation is what a handle that reuses
/// nothing sees.
#[tokio::test]
async fn one_run_asks_a_shared_parent_once_and_observes_the_same() {
    let dns = TestDns::start().await;
    dns.set_caa("shared.example", [issue("letsencrypt.org")]);
    for i in 0..100 {
        let n = format!("n{i}.shared.example");
        if i % 7 == 0 {
            dns.set_caa(&n, [issue("digicert.com")]);
        } else {
            dns.set_txt(&n, &["other data"]);
        }
    }
    let names: Vec<DomainName> = (0..100)
        .map(|i| name(&format!("n{i}.shared.example")))
        .collect();
    let run = handle(&dns).with_answer_reuse();

    let reused = futures::future::join_all(names.iter().map(|n| gather_caa(&run, n))).await;

    let asked = |q: &str| {
        dns.queries()
            .iter()
            .filter(|l| l.name == q && l.rtype == rtype::CAA)
            .count()
    };
    assert_eq!(asked("shared.example"), 1);
    assert_eq!(asked("example"), 1);
    assert_eq!(asked("n3.shared.example"), 1);
    assert_eq!(dns.queries().len(), 102);

    // The same names one by one on a handle that keeps nothing: every
    // question asked again, the same observations (so the same verdicts).
    dns.clear_queries();
    let plain = handle(&dns);
    for (n, seen) in names.iter().zip(&reused) {
        assert_eq!(&gather_caa(&plain, n).await, seen, "{n}");
    }
    assert_eq!(dns.queries().len(), 300);
    assert_eq!(
        answer(&reused[7], "n7.shared.example").records,
        [issue("digicert.com")]
    );
    assert_eq!(
        answer(&reused[8], "shared.example").records,
        [issue("letsencrypt.org")]
    );
}

/// Answers are reused within a run, and a new cycle (clear_cache) sees a
/// change at once; failures are never kept.
#[tokio::test]
async fn reused_answers_last_until_the_cycle_ends_and_failures_are_not_kept() {
    let dns = TestDns::start().await;
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let run = handle(&dns).with_answer_reuse();
    let first = gather_caa(&run, &name("example.com")).await;
    dns.set_caa("example.com", [issue("sectigo.com")]);
    let same_cycle = gather_caa(&run, &name("example.com")).await;
    assert_eq!(same_cycle, first);
    assert_eq!(dns.queries().len(), 2);
    assert_eq!(run.cached_answers(), 2);

    run.clear_cache();
    let next_cycle = gather_caa(&run, &name("example.com")).await;
    assert_eq!(
        answer(&next_cycle, "example.com").records,
        [issue("sectigo.com")]
    );

    dns.set_behaviour("fails.example.com", Behaviour::Servfail);
    let quick = DnsHandle::new(&DnsSettings {
        attempts: 1,
        ..dns.settings()
    })
    .unwrap()
    .with_answer_reuse();
    dns.clear_queries();
    for _ in 0..2 {
        assert!(
            quick
                .lookup(&name("fails.example.com"), RecordType::CAA)
                .await
                .is_err()
        );
    }
    assert_eq!(dns.queries().len(), 2, "a failure was reused");
}
