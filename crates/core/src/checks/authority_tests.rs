use super::*;
use crate::checks::views::fixtures::{answer, home, n, req};

fn server(ns: &str, last: u8, outcome: ServerOutcome) -> ServerAnswer {
    ServerAnswer {
        ns: n(ns),
        address: IpAddr::from([127, 0, 0, last]),
        outcome,
    }
}

fn answered(records: &[&str]) -> ServerOutcome {
    ServerOutcome::Answered {
        answer: answer(records),
    }
}

fn zone(servers: Vec<ServerAnswer>) -> ZoneObservation {
    ZoneObservation {
        zone: n("example.test"),
        asked: n("example.test"),
        parent: Some(n("test")),
        parent_ns: Some(vec![n("ns1.example.test"), n("ns2.example.test")]),
        child_ns: Some(vec![n("ns2.example.test"), n("ns1.example.test")]),
        servers,
        unresolved: Vec::new(),
    }
}

fn judged(h: &CaaObservation, z: ZoneObservation) -> Vec<ViewFinding> {
    judge(
        h,
        &AuthorityObservation {
            zones: vec![z],
            failures: Vec::new(),
        },
        &req(),
    )
}

#[test]
fn agreeing_servers_and_matching_delegation_find_nothing() {
    let h = home(&["letsencrypt.org"]);
    let f = judged(
        &h,
        zone(vec![
            server("ns1.example.test", 2, answered(&["letsencrypt.org"])),
            server("ns2.example.test", 3, answered(&["letsencrypt.org"])),
        ]),
    );
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn a_server_serving_a_forbidding_set_blocks_and_is_named() {
    let h = home(&["letsencrypt.org"]);
    let f = judged(
        &h,
        zone(vec![
            server("ns1.example.test", 2, answered(&["letsencrypt.org"])),
            server("ns2.example.test", 3, answered(&["sectigo.com"])),
        ]),
    );
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].kind, ViewKind::ServersDisagree);
    assert_eq!(f[0].severity, Severity::Blocking);
    assert!(
        f[0].summary
            .ends_with("a CA whose resolver asks ns2.example.test (127.0.0.3) would refuse"),
        "{}",
        f[0].summary
    );
    assert_eq!(
        f[0].allow_share,
        Some(Share {
            allowing: 1,
            total: 2
        })
    );
}

#[test]
fn servers_differing_without_changing_the_verdict_warn() {
    let h = home(&["letsencrypt.org"]);
    let f = judged(
        &h,
        zone(vec![
            server("ns1.example.test", 2, answered(&["letsencrypt.org"])),
            server(
                "ns2.example.test",
                3,
                answered(&["letsencrypt.org", "sectigo.com"]),
            ),
        ]),
    );
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(!f[0].summary.contains("would refuse"), "{}", f[0].summary);
}

#[test]
fn record_order_is_not_a_disagreement() {
    let h = home(&["a.example", "letsencrypt.org"]);
    let f = judged(
        &h,
        zone(vec![
            server(
                "ns1.example.test",
                2,
                answered(&["letsencrypt.org", "a.example"]),
            ),
            server(
                "ns2.example.test",
                3,
                answered(&["a.example", "letsencrypt.org"]),
            ),
        ]),
    );
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn lame_and_unreachable_servers_warn_each() {
    let h = home(&["letsencrypt.org"]);
    let f = judged(
        &h,
        zone(vec![
            server("ns1.example.test", 2, answered(&["letsencrypt.org"])),
            server(
                "ns2.example.test",
                3,
                ServerOutcome::Rcode {
                    rcode: "REFUSED".into(),
                },
            ),
            server(
                "ns3.example.test",
                4,
                ServerOutcome::NotAuthoritative {
                    rcode: "NOERROR".into(),
                },
            ),
            server(
                "ns4.example.test",
                5,
                ServerOutcome::Unreachable {
                    detail: "no answer within 1s".into(),
                },
            ),
            server(
                "ns5.example.test",
                6,
                ServerOutcome::Malformed {
                    detail: "short".into(),
                },
            ),
        ]),
    );
    let kinds: Vec<ViewKind> = f.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            ViewKind::LameServer,
            ViewKind::LameServer,
            ViewKind::UnreachableServer,
            ViewKind::LameServer
        ],
        "{f:#?}"
    );
    assert!(f.iter().all(|f| f.severity == Severity::Warning));
    assert!(
        f[0].summary.contains("answered REFUSED"),
        "{}",
        f[0].summary
    );
    assert!(f[1].summary.contains("AA bit clear"), "{}", f[1].summary);
    assert!(
        f[2].summary.contains("no answer within 1s"),
        "{}",
        f[2].summary
    );
    assert!(
        f[3].summary.contains("cannot be parsed"),
        "{}",
        f[3].summary
    );
}

#[test]
fn no_authoritative_answer_at_all_blocks() {
    let h = home(&["letsencrypt.org"]);
    let f = judged(
        &h,
        zone(vec![server(
            "ns1.example.test",
            2,
            ServerOutcome::Rcode {
                rcode: "SERVFAIL".into(),
            },
        )]),
    );
    assert_eq!(f.last().unwrap().kind, ViewKind::NoAuthoritativeAnswer);
    assert_eq!(f.last().unwrap().severity, Severity::Blocking);
}

#[test]
fn parent_child_ns_mismatch_names_both_sets() {
    let h = home(&["letsencrypt.org"]);
    let mut z = zone(vec![server(
        "ns1.example.test",
        2,
        answered(&["letsencrypt.org"]),
    )]);
    z.child_ns = Some(vec![n("ns1.example.test"), n("ns3.example.test")]);
    let f = judged(&h, z);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].kind, ViewKind::NsMismatch);
    assert!(
        f[0].summary.contains(
            "at the parent (test) is [ns1.example.test, ns2.example.test], but the zone's own servers serve [ns1.example.test, ns3.example.test]"
        ),
        "{}",
        f[0].summary
    );
}

#[test]
fn ns_without_address_and_unknown_delegation_warn() {
    let h = home(&["letsencrypt.org"]);
    let mut z = zone(vec![server(
        "ns1.example.test",
        2,
        answered(&["letsencrypt.org"]),
    )]);
    z.unresolved = vec![(n("ns9.example.test"), "NXDOMAIN".into())];
    let f = judge(
        &h,
        &AuthorityObservation {
            zones: vec![z],
            failures: vec![(n("x.example.test"), "timeout".into())],
        },
        &req(),
    );
    let kinds: Vec<ViewKind> = f.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [ViewKind::DelegationUnknown, ViewKind::NsWithoutAddress]
    );
    // Said, never blocking: the recursive view still decides.
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(
        f[0].summary
            .starts_with("could not ask the authoritative servers of x.example.test: timeout"),
        "{}",
        f[0].summary
    );
}

#[test]
fn all_servers_agreeing_against_the_recursive_answer_is_news_not_a_block() {
    let h = home(&["sectigo.com"]);
    let f = judged(
        &h,
        zone(vec![
            server("ns1.example.test", 2, answered(&["letsencrypt.org"])),
            server("ns2.example.test", 3, answered(&["letsencrypt.org"])),
        ]),
    );
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].kind, ViewKind::RecursiveDiffers);
    assert_eq!(f[0].severity, Severity::Info);
}

#[test]
fn authoritative_mode_takes_the_first_answering_server() {
    let h = home(&["sectigo.com"]);
    let auth = AuthorityObservation {
        zones: vec![zone(vec![
            server(
                "ns1.example.test",
                2,
                ServerOutcome::Unreachable { detail: "x".into() },
            ),
            server("ns2.example.test", 3, answered(&["letsencrypt.org"])),
        ])],
        failures: Vec::new(),
    };
    let obs = authoritative_observation(&h, &auth);
    assert_eq!(
        crate::checks::caa::judge::judge(&obs, &req()).verdict,
        CaaVerdictKind::Allowed
    );
    // Nobody answered: the first failure decides, as a lookup error.
    let dead = AuthorityObservation {
        zones: vec![zone(vec![server(
            "ns1.example.test",
            2,
            ServerOutcome::Rcode {
                rcode: "SERVFAIL".into(),
            },
        )])],
        failures: Vec::new(),
    };
    let obs = authoritative_observation(&h, &dead);
    assert_eq!(
        crate::checks::caa::judge::judge(&obs, &req()).verdict,
        CaaVerdictKind::Error
    );
}
