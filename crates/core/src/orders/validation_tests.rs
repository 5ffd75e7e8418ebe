//! The validation-record judges, one branch per test.

use std::net::IpAddr;

use super::*;
use crate::checks::authority::ServerAnswer;

fn n(s: &str) -> DomainName {
    DomainName::parse(s).unwrap()
}

fn txt() -> Requirement {
    Requirement::DnsTxt {
        name: n("_dnsauth.shop.example"),
        value: "token-1".into(),
    }
}

fn cname() -> Requirement {
    Requirement::DnsCname {
        name: n("_abc.shop.example"),
        target: n("xyz.sectigo.example"),
    }
}

fn seen(texts: &[&str]) -> RecordsSeen {
    RecordsSeen {
        cname_chain: vec![n("_dnsauth.shop.example")],
        texts: texts.iter().map(|s| s.to_string()).collect(),
        nxdomain: false,
    }
}

fn aliased(target: &str) -> RecordsSeen {
    RecordsSeen {
        cname_chain: vec![n("_abc.shop.example"), n(target)],
        texts: Vec::new(),
        nxdomain: false,
    }
}

fn check(requirement: Requirement, outcome: ValidationOutcome) -> ValidationCheck {
    ValidationCheck::new(
        ValidationRequirement {
            for_name: "shop.example".into(),
            requirement,
        },
        outcome,
    )
}

fn server(last: u8, outcome: ServerOutcome<RecordsSeen>) -> ServerAnswer<RecordsSeen> {
    ServerAnswer {
        ns: n(&format!("ns{last}.shop.example")),
        address: IpAddr::from([127, 0, 0, last]),
        outcome,
    }
}

fn zone(servers: Vec<ServerAnswer<RecordsSeen>>) -> ZoneObservation<RecordsSeen> {
    ZoneObservation {
        zone: n("shop.example"),
        asked: n("_dnsauth.shop.example"),
        parent: Some(n("example")),
        parent_ns: None,
        child_ns: None,
        servers,
        unresolved: Vec::new(),
    }
}

fn answered(s: RecordsSeen) -> ServerOutcome<RecordsSeen> {
    ServerOutcome::Answered { answer: s }
}

#[test]
fn txt_in_place_missing_nxdomain_and_wrong() {
    assert_eq!(
        judge_records(&txt(), &seen(&["other", " token-1 "])),
        Some(ValidationOutcome::InPlace)
    );
    let Some(ValidationOutcome::Missing { detail }) = judge_records(&txt(), &seen(&[])) else {
        panic!()
    };
    assert_eq!(detail, "_dnsauth.shop.example has no TXT record");
    let mut nx = seen(&[]);
    nx.nxdomain = true;
    let Some(ValidationOutcome::Missing { detail }) = judge_records(&txt(), &nx) else {
        panic!()
    };
    assert!(detail.contains("NXDOMAIN"), "{detail}");
    let Some(ValidationOutcome::Wrong { found, .. }) = judge_records(&txt(), &seen(&["old"]))
    else {
        panic!()
    };
    assert_eq!(found, ["old"]);
    assert_eq!(show_records(&txt(), &seen(&["b", "a"])), "[\"a\", \"b\"]");
    assert_eq!(show_records(&txt(), &nx), "NXDOMAIN");
}

#[test]
fn cname_in_place_wrong_and_missing() {
    assert_eq!(
        judge_records(&cname(), &aliased("xyz.sectigo.example")),
        Some(ValidationOutcome::InPlace)
    );
    let Some(ValidationOutcome::Wrong { found, detail }) =
        judge_records(&cname(), &aliased("old.example"))
    else {
        panic!()
    };
    assert_eq!(found, ["old.example"]);
    assert!(detail.contains("not of xyz.sectigo.example"), "{detail}");
    assert!(matches!(
        judge_records(&cname(), &seen(&[])),
        Some(ValidationOutcome::Missing { .. })
    ));
    assert_eq!(
        show_records(&cname(), &aliased("old.example")),
        "an alias of old.example"
    );
    let file = Requirement::File {
        url: "http://shop.example/.well-known/pki-validation/a.txt"
            .parse()
            .unwrap(),
        content: "x".into(),
    };
    assert_eq!(judge_records(&file, &seen(&[])), None);
}

#[test]
fn bogus_blocks_and_is_never_in_place() {
    use crate::checks::dnssec::BogusCause;
    let b = ValidationOutcome::Bogus {
        cause: BogusCause::NoDnskey {
            zone: "shop.example".into(),
            ds: Vec::new(),
        },
    };
    assert!(b.blocks());
    assert!(b.rank() < ValidationOutcome::InPlace.rank());
}

#[test]
fn servers_that_all_serve_the_value_raise_nothing() {
    let mut c = check(txt(), ValidationOutcome::InPlace);
    c.views.authority = Some(zone(vec![
        server(2, answered(seen(&["token-1"]))),
        server(3, answered(seen(&["token-1", "x"]))),
    ]));
    assert!(judge_views(&c).is_empty());
}

#[test]
fn a_server_lacking_the_value_is_blocking_and_named_with_its_answer() {
    let mut c = check(txt(), ValidationOutcome::InPlace);
    c.views.authority = Some(zone(vec![
        server(2, answered(seen(&["token-1"]))),
        server(3, answered(seen(&[]))),
    ]));
    let v = judge_views(&c);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].severity, Severity::Blocking);
    assert!(
        v[0].summary
            .contains("1 of the 2 authoritative server address(es) of shop.example"),
        "{}",
        v[0].summary
    );
    assert!(
        v[0].summary
            .contains("ns3.shop.example (127.0.0.3) answered no TXT record"),
        "{}",
        v[0].summary
    );
    assert!(!v[0].summary.contains("ns2"), "{}", v[0].summary);
    assert_eq!(v[0].key, "servers-lack:ns3.shop.example (127.0.0.3)");
}

#[test]
fn a_server_with_another_cname_target_is_named() {
    let mut c = check(cname(), ValidationOutcome::InPlace);
    c.views.authority = Some(zone(vec![
        server(2, answered(aliased("xyz.sectigo.example"))),
        server(3, answered(aliased("old.example"))),
    ]));
    let v = judge_views(&c);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].summary.contains("answered an alias of old.example"),
        "{}",
        v[0].summary
    );
}

#[test]
fn an_alias_out_of_the_zone_counts_as_the_home_answer() {
    // `_dnsauth` delegated by CNAME to another zone: the server answers
    // the alias only; the CA follows it, as home did.
    let mut c = check(txt(), ValidationOutcome::InPlace);
    let mut home = aliased("t.dns-provider.example");
    home.texts = vec!["token-1".into()];
    c.views.home = Some(home);
    c.views.authority = Some(zone(vec![server(
        2,
        answered(aliased("t.dns-provider.example")),
    )]));
    assert!(judge_views(&c).is_empty());
    // Aliased elsewhere than home: named.
    c.views.authority = Some(zone(vec![server(2, answered(aliased("old.example")))]));
    assert_eq!(judge_views(&c).len(), 1);
}

#[test]
fn lame_and_silent_servers_warn_and_no_answer_at_all_blocks() {
    let mut c = check(txt(), ValidationOutcome::InPlace);
    c.views.authority = Some(zone(vec![
        server(2, answered(seen(&["token-1"]))),
        server(
            3,
            ServerOutcome::Rcode {
                rcode: "REFUSED".into(),
            },
        ),
    ]));
    let v = judge_views(&c);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].severity, Severity::Warning);
    assert!(
        v[0].summary.contains("answered REFUSED"),
        "{}",
        v[0].summary
    );

    c.views.authority = Some(zone(vec![server(
        3,
        ServerOutcome::Unreachable {
            detail: "no answer within 2s".into(),
        },
    )]));
    let v = judge_views(&c);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].severity, Severity::Blocking);
    assert!(v[0].summary.contains("none of the 1"), "{}", v[0].summary);
}

#[test]
fn servers_that_could_not_be_asked_warn_in_the_caa_checks_words_never_in_place() {
    // The view asked for the zone's servers, and the NS query that finds
    // the zone failed: the user is told, without a block.
    let mut c = check(txt(), ValidationOutcome::InPlace);
    c.views.authority_failure =
        Some("the NS query for shop.example failed (SERVFAIL from 127.0.0.1:53)".into());
    let v = judge_views(&c);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].severity, Severity::Warning);
    assert!(v[0].unasked);
    assert_eq!(v[0].key, "delegation-unknown");
    assert!(
        v[0].summary.starts_with(
            "could not ask the authoritative servers of _dnsauth.shop.example: the NS query for shop.example failed (SERVFAIL from 127.0.0.1:53); "
        ),
        "{}",
        v[0].summary
    );
    assert!(
        v[0].remedy
            .starts_with("Check that the resolver answers NS queries for _dnsauth.shop.example"),
        "{}",
        v[0].remedy
    );
    assert!(v[0].remedy.ends_with('.'), "{}", v[0].remedy);
    // With a perspective lacking the value, both are said.
    c.views.perspectives = vec![VantageRecords {
        vantage: "fra".into(),
        seen: Ok(seen(&[])),
    }];
    let v = judge_views(&c);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(
        v.iter()
            .any(|v| v.unasked && v.severity == Severity::Warning)
    );
    // Home already finds it missing: that condition covers it.
    c.outcome = ValidationOutcome::Missing {
        detail: "gone".into(),
    };
    assert!(judge_views(&c).is_empty());
}

#[test]
fn a_failure_to_ask_is_kept_in_stored_json_and_old_json_still_reads() {
    let mut c = check(txt(), ValidationOutcome::InPlace);
    c.views.authority_failure = Some("the NS query for shop.example failed".into());
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        json["views"]["authority_failure"],
        "the NS query for shop.example failed"
    );
    let back: ValidationCheck = serde_json::from_value(json).unwrap();
    assert_eq!(back, c);
    // A check stored before the field: no failure; none is not written.
    let plain = check(txt(), ValidationOutcome::InPlace);
    let json = serde_json::to_value(&plain).unwrap();
    assert!(json.get("views").is_none(), "{json}");
    let back: ValidationCheck = serde_json::from_value(json).unwrap();
    assert_eq!(back.views.authority_failure, None);
}

#[test]
fn a_perspective_that_does_not_see_the_value_blocks_and_is_named() {
    let mut c = check(txt(), ValidationOutcome::InPlace);
    c.views.perspectives = vec![
        VantageRecords {
            vantage: "hk".into(),
            seen: Ok(seen(&["token-1"])),
        },
        VantageRecords {
            vantage: "fra".into(),
            seen: Ok(seen(&[])),
        },
        VantageRecords {
            vantage: "down".into(),
            seen: Err(LookupFailure::Network {
                detail: "connection refused".into(),
            }),
        },
        VantageRecords {
            vantage: "sfo".into(),
            seen: Err(LookupFailure::Rcode {
                rcode: "SERVFAIL".into(),
                server: None,
            }),
        },
    ];
    let v = judge_views(&c);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].severity, Severity::Blocking);
    let s = &v[0].summary;
    assert!(s.contains("from fra it is no TXT record"), "{s}");
    assert!(s.contains("from sfo it is the lookup failed"), "{s}");
    assert!(!s.contains("hk") && !s.contains("down"), "{s}");
    assert_eq!(v[0].key, "perspectives-lack:fra,sfo");
}

#[test]
fn views_add_nothing_when_home_already_blocks() {
    let mut c = check(
        txt(),
        ValidationOutcome::Missing {
            detail: "gone".into(),
        },
    );
    c.views.authority = Some(zone(vec![server(2, answered(seen(&[])))]));
    assert!(judge_views(&c).is_empty());
}

#[test]
fn authoritative_mode_judges_the_first_answering_server() {
    let z = zone(vec![
        server(2, ServerOutcome::Unreachable { detail: "x".into() }),
        server(3, answered(seen(&["token-1"]))),
    ]);
    assert_eq!(
        authoritative_outcome(&txt(), &z),
        Some(ValidationOutcome::InPlace)
    );
    assert_eq!(authoritative_outcome(&txt(), &zone(Vec::new())), None);
}

#[test]
fn stored_checks_without_the_new_fields_still_read() {
    let c = check(txt(), ValidationOutcome::InPlace);
    let json = serde_json::to_string(&c).unwrap();
    assert!(
        !json.contains("views") && !json.contains("dnssec"),
        "{json}"
    );
    let back: ValidationCheck = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c);
}
