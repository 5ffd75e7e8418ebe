//! The order judge, one rule per test, on small hand-built observations.

use chrono::TimeZone;

use super::*;
use crate::ca::Catalogue;
use crate::checks::caa::CaaVerdict;
use crate::domain::DomainName;
use crate::orders::{OrderStatus, ProgressSignals, ValidationRequirement};

fn t(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
}

fn status(phase: Phase, code: &str) -> OrderStatus {
    OrderStatus {
        phase,
        code: code.into(),
        label: format!("label of {code}"),
    }
}

fn order(phase: Phase, code: &str) -> OrderObservation {
    let catalogue = Catalogue::builtin();
    OrderObservation {
        key: OrderKey::new("tencent", "AbCd1234"),
        kind: SourceKind::Tencent,
        display_name: "www.example.com".into(),
        ca: catalogue.resolve("trustasia").ok(),
        ca_label: "TrustAsia C1 DV Free".into(),
        names: vec![CertName::parse("www.example.com").unwrap()],
        status: status(phase, code),
        method: Some(ValidationMethod::Dns),
        requirements: vec![txt_requirement()],
        deadlines: vec![],
        signals: ProgressSignals::default(),
        failure: None,
        placed_at: Some(t(0)),
        is_dv: Some(true),
        observed_at: t(0),
    }
}

fn txt_requirement() -> ValidationRequirement {
    ValidationRequirement {
        for_name: "www.example.com".into(),
        requirement: Requirement::DnsTxt {
            name: DomainName::parse("_dnsauth.www.example.com").unwrap(),
            value: "202611200000abc".into(),
        },
    }
}

fn history(since: DateTime<Utc>) -> OrderHistory {
    OrderHistory {
        status_since: since,
        notices: vec![],
    }
}

fn checks_with(outcome: ValidationOutcome) -> OrderChecks {
    OrderChecks {
        validation: vec![ValidationCheck::new(txt_requirement(), outcome)],
        ..OrderChecks::default()
    }
}

fn in_place() -> OrderChecks {
    checks_with(ValidationOutcome::InPlace)
}

fn kinds(events: &[OrderEvent]) -> Vec<OrderEventKind> {
    events.iter().map(|e| e.kind).collect()
}

fn forbidden_caa() -> CaaCheck {
    CaaCheck {
        name: CertName::parse("www.example.com").unwrap(),
        verdict: CaaVerdict {
            verdict: CaaVerdictKind::Forbidden,
            relevant_name: Some(DomainName::parse("example.com").unwrap()),
            records: vec![],
            cname_chain: vec![DomainName::parse("example.com").unwrap()],
            reason: "example.com's CAA records authorize only letsencrypt.org".into(),
            remedy: Some("Add example.com. CAA 0 issue \"trustasia.com\"".into()),
            lookup_error: None,
            legacy_rfc6844: None,
            views: Vec::new(),
            dnssec: Vec::new(),
        },
    }
}

#[test]
fn ca_reviewing_after_a_recorded_notice_is_stuck_with_the_lag_explanation() {
    let obs = order(Phase::Reviewing, "0/CA-REVIEWING");
    let mut h = history(t(0));
    h.notices.push(Notice {
        at: t(2),
        kind: NoticeKind::ValidationPassed,
        note: Some("TrustAsia: domain validation completed".into()),
    });
    let th = Thresholds::default();
    // Five hours after the notice: within the 6h lag, and the DV review
    // threshold (24h) has not passed either.
    assert!(judge(&obs, &h, &in_place(), &th, t(7)).is_empty());

    let events = judge(&obs, &h, &in_place(), &th, t(9));
    assert_eq!(kinds(&events), [OrderEventKind::OrderStuck]);
    let e = &events[0];
    assert_eq!(e.severity, Severity::Warning);
    assert!(e.summary.contains("console may lag"), "{}", e.summary);
    assert!(
        e.reason.contains("TrustAsia: domain validation completed"),
        "{}",
        e.reason
    );
    assert!(e.reason.contains("label of 0/CA-REVIEWING"), "{}", e.reason);
    let remedy = e.remedy.as_deref().unwrap();
    assert!(remedy.contains("Wait for the CA's update"), "{remedy}");
    assert!(remedy.contains("CompleteCertificate"), "{remedy}");
    assert!(remedy.contains("AbCd1234"), "{remedy}");
    assert_eq!(e.since, t(2));

    // A day after the notice, the advice is to contact support now.
    let late = judge(&obs, &h, &in_place(), &th, t(27));
    assert!(
        late[0]
            .remedy
            .as_deref()
            .unwrap()
            .starts_with("It has waited long enough"),
        "{:?}",
        late[0].remedy
    );
}

#[test]
fn a_notice_before_the_console_moved_does_not_count() {
    let obs = order(Phase::Reviewing, "0/CA-REVIEWING");
    let mut h = history(t(5));
    h.notices.push(Notice {
        at: t(1),
        kind: NoticeKind::Review,
        note: None,
    });
    assert!(judge(&obs, &h, &in_place(), &Thresholds::default(), t(12)).is_empty());
}

#[test]
fn missing_dnsauth_record_blocks_with_the_record_to_publish() {
    let obs = order(Phase::AwaitingValidation, "0/PENDING-DCV");
    let checks = checks_with(ValidationOutcome::Missing {
        detail: "_dnsauth.www.example.com does not exist (NXDOMAIN)".into(),
    });
    let events = judge(&obs, &history(t(0)), &checks, &Thresholds::default(), t(1));
    assert_eq!(kinds(&events), [OrderEventKind::OrderBlocked]);
    let e = &events[0];
    assert_eq!(e.severity, Severity::Blocking);
    assert!(e.summary.contains("can never issue"), "{}", e.summary);
    assert!(
        e.summary
            .contains("TXT record for www.example.com is missing"),
        "{}",
        e.summary
    );
    let remedy = e.remedy.as_deref().unwrap();
    assert!(remedy.contains("_dnsauth.www.example.com"), "{remedy}");
    assert!(remedy.contains("\"202611200000abc\""), "{remedy}");
}

#[test]
fn wrong_record_value_blocks_and_shows_what_was_found() {
    let obs = order(Phase::AwaitingValidation, "0/PENDING-DCV");
    let checks = checks_with(ValidationOutcome::Wrong {
        found: vec!["old-value".into()],
        detail: "1 TXT record, none with the value the CA expects".into(),
    });
    let e = &judge(&obs, &history(t(0)), &checks, &Thresholds::default(), t(1))[0];
    assert_eq!(e.kind, OrderEventKind::OrderBlocked);
    assert!(e.reason.contains("old-value"), "{}", e.reason);
}

#[test]
fn a_missing_record_does_not_block_once_validation_passed() {
    let mut obs = order(Phase::Reviewing, "0/CA-REVIEWING");
    obs.signals.validation_passed_at = Some(t(1));
    let checks = checks_with(ValidationOutcome::Missing {
        detail: "gone".into(),
    });
    let events = judge(&obs, &history(t(0)), &checks, &Thresholds::default(), t(2));
    assert!(
        !kinds(&events).contains(&OrderEventKind::OrderBlocked),
        "{events:?}"
    );
}

#[test]
fn caa_forbidding_the_ca_blocks_at_once() {
    let obs = order(Phase::AwaitingValidation, "0/PENDING-DCV");
    let checks = OrderChecks {
        caa: vec![forbidden_caa()],
        ..in_place()
    };
    // The order was placed this very minute: no threshold applies to CAA.
    let events = judge(&obs, &history(t(0)), &checks, &Thresholds::default(), t(0));
    assert_eq!(kinds(&events), [OrderEventKind::OrderBlocked]);
    let e = &events[0];
    assert_eq!(e.severity, Severity::Blocking);
    assert!(
        e.summary
            .contains("CAA forbids TrustAsia for www.example.com"),
        "{}",
        e.summary
    );
    assert!(
        e.reason.contains("authorize only letsencrypt.org"),
        "{}",
        e.reason
    );
    assert!(e.remedy.as_deref().unwrap().contains("trustasia.com"));
    assert_eq!(e.fingerprint, "caa:www.example.com:forbidden");
}

#[test]
fn issued_resolves_and_nothing_else_is_said() {
    let obs = order(Phase::Issued, "1");
    let checks = OrderChecks {
        caa: vec![forbidden_caa()],
        ..in_place()
    };
    let events = judge(&obs, &history(t(0)), &checks, &Thresholds::default(), t(30));
    assert_eq!(kinds(&events), [OrderEventKind::OrderIssued]);
    assert_eq!(events[0].severity, Severity::Info);

    // The provider's Issued flag ends the order although the console lags.
    let mut lagging = order(Phase::Reviewing, "0/CA-REVIEWING");
    lagging.signals.issued_reported = true;
    let events = judge(
        &lagging,
        &history(t(0)),
        &in_place(),
        &Thresholds::default(),
        t(30),
    );
    assert_eq!(kinds(&events), [OrderEventKind::OrderIssued]);
    assert!(
        events[0].reason.contains("console lags"),
        "{}",
        events[0].reason
    );
}

#[test]
fn failed_order_carries_the_cas_message() {
    let mut obs = order(Phase::Failed, "2");
    obs.failure = Some("域名所有权验证失败 (domain validation failed)".into());
    let events = judge(
        &obs,
        &history(t(0)),
        &in_place(),
        &Thresholds::default(),
        t(3),
    );
    assert_eq!(kinds(&events), [OrderEventKind::OrderFailed]);
    assert!(events[0].summary.contains("domain validation failed"));
    assert_eq!(events[0].severity, Severity::Blocking);
}

#[test]
fn validation_passed_without_issuance_is_stuck_after_the_threshold() {
    let mut obs = order(Phase::Reviewing, "0/CA-REVIEWING");
    obs.signals.ca_check_passed = true;
    let th = Thresholds::default();
    assert!(judge(&obs, &history(t(0)), &in_place(), &th, t(1)).is_empty());
    let events = judge(&obs, &history(t(0)), &in_place(), &th, t(3));
    assert_eq!(kinds(&events), [OrderEventKind::OrderStuck]);
    assert!(events[0].reason.contains("CaCheck"), "{}", events[0].reason);
    assert!(
        events[0].summary.contains("passed validation"),
        "{}",
        events[0].summary
    );

    let mut waiting = order(Phase::Validated, "0/WAIT-ISSUE");
    waiting.signals = ProgressSignals::default();
    let events = judge(&waiting, &history(t(0)), &in_place(), &th, t(3));
    assert_eq!(kinds(&events), [OrderEventKind::OrderStuck]);
    assert!(
        events[0].reason.contains("WAIT-ISSUE"),
        "{}",
        events[0].reason
    );
}

#[test]
fn thresholds_depend_on_the_validation_method() {
    let th = Thresholds::default();
    let mut auto = order(Phase::AwaitingValidation, "4");
    auto.method = Some(ValidationMethod::DnsAuto);
    let manual = order(Phase::AwaitingValidation, "0/PENDING-DCV");
    assert_eq!(
        kinds(&judge(&auto, &history(t(0)), &in_place(), &th, t(3))),
        [OrderEventKind::OrderStuck]
    );
    assert!(judge(&manual, &history(t(0)), &in_place(), &th, t(3)).is_empty());
    let late = judge(&manual, &history(t(0)), &in_place(), &th, t(25));
    assert_eq!(kinds(&late), [OrderEventKind::OrderStuck]);
    assert!(
        late[0].reason.contains("record is in place"),
        "{}",
        late[0].reason
    );

    let custom = Thresholds {
        awaiting_validation_manual: Duration::from_secs(3600),
        ..Thresholds::default()
    };
    assert_eq!(
        kinds(&judge(&manual, &history(t(0)), &in_place(), &custom, t(2))),
        [OrderEventKind::OrderStuck]
    );
}

#[test]
fn deadlines_warn_then_block_and_stop_mattering_after_validation() {
    let mut obs = order(Phase::AwaitingValidation, "0/PENDING-DCV");
    obs.deadlines.push(crate::orders::Deadline {
        at: t(100),
        what: "DVAuthDeadline".into(),
        until_validated: true,
    });
    let th = Thresholds::default();
    assert!(judge(&obs, &history(t(0)), &in_place(), &th, t(20)).is_empty());
    let near = judge(&obs, &history(t(0)), &in_place(), &th, t(40));
    assert_eq!(
        kinds(&near),
        [OrderEventKind::OrderDeadline, OrderEventKind::OrderStuck]
    );
    assert_eq!(near[0].severity, Severity::Warning);
    let urgent = judge(&obs, &history(t(0)), &in_place(), &th, t(90));
    assert_eq!(urgent[0].severity, Severity::Blocking);
    assert_ne!(near[0].fingerprint, urgent[0].fingerprint);
    let passed = judge(&obs, &history(t(0)), &in_place(), &th, t(101));
    assert!(
        passed[0].summary.contains("passed"),
        "{}",
        passed[0].summary
    );

    obs.signals.validation_passed_at = Some(t(39));
    let after = judge(&obs, &history(t(0)), &in_place(), &th, t(40));
    assert!(!kinds(&after).contains(&OrderEventKind::OrderDeadline));
}

#[test]
fn file_validation_of_a_wildcard_can_never_issue() {
    let mut obs = order(Phase::AwaitingValidation, "0/PENDING-DCV");
    obs.method = Some(ValidationMethod::File);
    obs.names = vec![CertName::parse("*.example.com").unwrap()];
    let e = &judge(
        &obs,
        &history(t(0)),
        &in_place(),
        &Thresholds::default(),
        t(0),
    )[0];
    assert_eq!(e.kind, OrderEventKind::OrderBlocked);
    assert!(e.reason.contains("BR §3.2.2.4.18"), "{}", e.reason);
}

#[test]
fn cancelled_orders_hold_no_conditions() {
    let obs = order(Phase::Cancelled, "7");
    let checks = OrderChecks {
        caa: vec![forbidden_caa()],
        ..in_place()
    };
    assert!(
        judge(
            &obs,
            &history(t(0)),
            &checks,
            &Thresholds::default(),
            t(100)
        )
        .is_empty()
    );
}

#[test]
fn a_users_validation_passed_notice_is_quoted_as_the_users_not_the_providers() {
    // A manual order: the user recorded at t(5) the CA's email of t(1);
    // the poller saw the status move at t(5), so the status row is new.
    let mut obs = order(Phase::Validated, "validation_passed");
    obs.kind = SourceKind::Manual;
    obs.key = OrderKey::new("manual", "shop");
    obs.signals.validation_passed_at = Some(t(1));
    let history = OrderHistory {
        status_since: t(5),
        notices: vec![Notice {
            at: t(1),
            kind: NoticeKind::ValidationPassed,
            note: Some("CA says validation passed".into()),
        }],
    };
    let events = judge(&obs, &history, &in_place(), &Thresholds::default(), t(5));
    let e = events
        .iter()
        .find(|e| e.kind == OrderEventKind::OrderStuck)
        .expect("stuck");
    assert!(!e.reason.contains("provider logged"), "{}", e.reason);
    assert!(e.reason.contains("Your recorded notice"), "{}", e.reason);
    assert!(
        e.reason.contains("CA says validation passed"),
        "{}",
        e.reason
    );
    assert!(!e.reason.contains("unchanged for 0m"), "{}", e.reason);
    assert!(e.reason.contains("unchanged for 4h"), "{}", e.reason);
}

#[test]
fn a_dnssec_bogus_record_blocks_with_the_cause_and_the_caa_paths_fix() {
    use crate::checks::dnssec::{BogusCause, RrsigRef};
    let cause = BogusCause::RrsigExpired {
        rrsig: RrsigRef {
            owner: "_dnsauth.www.example.com".into(),
            rtype: "TXT".into(),
            signer: "example.com".into(),
            key_tag: 4242,
            algorithm: 13,
            inception: 1_700_000_000,
            expiration: 1_764_460_800,
        },
    };
    let obs = order(Phase::AwaitingValidation, "0/PENDING-DCV");
    let checks = checks_with(ValidationOutcome::Bogus {
        cause: cause.clone(),
    });
    let events = judge(&obs, &history(t(0)), &checks, &Thresholds::default(), t(1));
    assert_eq!(kinds(&events), [OrderEventKind::OrderBlocked]);
    let e = &events[0];
    assert_eq!(e.severity, Severity::Blocking);
    assert!(e.summary.contains("DNSSEC-bogus"), "{}", e.summary);
    assert!(e.reason.contains(&cause.describe()), "{}", e.reason);
    assert!(
        e.reason.contains("expired at 2025-11-30T00:00:00Z"),
        "{}",
        e.reason
    );
    assert_eq!(e.remedy.as_deref(), Some(cause.fix().as_str()));
    assert!(e.fingerprint.contains("dnssec-bogus"), "{}", e.fingerprint);
    // Never "in place": the stuck hint does not say so either.
    let late = judge(&obs, &history(t(0)), &checks, &Thresholds::default(), t(30));
    assert!(
        late.iter().all(|e| !e.reason.contains("is in place")),
        "{late:?}"
    );
}

#[test]
fn a_secure_record_in_place_says_so_in_the_stuck_hint() {
    use crate::checks::dnssec::{DnssecNote, DnssecStatus};
    let obs = order(Phase::AwaitingValidation, "0/PENDING-DCV");
    let mut checks = in_place();
    checks.validation[0].dnssec = Some(DnssecNote::new(
        "_dnsauth.www.example.com",
        "TXT",
        DnssecStatus::Secure,
        None,
    ));
    let events = judge(&obs, &history(t(0)), &checks, &Thresholds::default(), t(25));
    assert_eq!(kinds(&events), [OrderEventKind::OrderStuck]);
    assert!(
        events[0]
            .reason
            .contains("in place as the CA will look for it (DNSSEC: secure)"),
        "{}",
        events[0].reason
    );
}

#[test]
fn a_server_lacking_the_record_blocks_and_names_the_server() {
    use crate::checks::authority::{ServerAnswer, ServerOutcome, ZoneObservation};
    use crate::checks::perspective::RecordsSeen;
    let name = DomainName::parse("_dnsauth.www.example.com").unwrap();
    let seen = |texts: &[&str]| RecordsSeen {
        cname_chain: vec![name.clone()],
        texts: texts.iter().map(|s| s.to_string()).collect(),
        nxdomain: false,
    };
    let server = |ns: &str, last: u8, texts: &[&str]| ServerAnswer {
        ns: DomainName::parse(ns).unwrap(),
        address: std::net::IpAddr::from([127, 0, 0, last]),
        outcome: ServerOutcome::Answered {
            answer: seen(texts),
        },
    };
    let obs = order(Phase::AwaitingValidation, "0/PENDING-DCV");
    let mut checks = in_place();
    checks.validation[0].views.authority = Some(ZoneObservation {
        zone: DomainName::parse("example.com").unwrap(),
        asked: name.clone(),
        parent: None,
        parent_ns: None,
        child_ns: None,
        servers: vec![
            server("ns1.example.com", 2, &["202611200000abc"]),
            server("ns2.example.com", 3, &["old"]),
        ],
        unresolved: vec![],
    });
    let events = judge(&obs, &history(t(0)), &checks, &Thresholds::default(), t(1));
    assert_eq!(kinds(&events), [OrderEventKind::OrderBlocked]);
    let e = &events[0];
    assert_eq!(e.severity, Severity::Blocking);
    assert!(
        e.reason
            .contains("ns2.example.com (127.0.0.3) answered [\"old\"]"),
        "{}",
        e.reason
    );
    assert!(!e.reason.contains("ns1.example.com"), "{}", e.reason);
    assert!(
        e.fingerprint
            .contains("servers-lack:ns2.example.com (127.0.0.3)"),
        "{}",
        e.fingerprint
    );
    // Nor is the record "in place as the CA will look for it" when the
    // order is stuck.
    assert_stuck_not_in_place(&obs, &checks);
}

#[test]
fn servers_that_could_not_be_asked_are_a_warning_never_a_block_nor_in_place() {
    let obs = order(Phase::AwaitingValidation, "0/PENDING-DCV");
    let mut checks = in_place();
    checks.validation[0].views.authority_failure =
        Some("the NS query for www.example.com failed (SERVFAIL)".into());
    let events = judge(&obs, &history(t(0)), &checks, &Thresholds::default(), t(1));
    assert_eq!(kinds(&events), [OrderEventKind::OrderBlocked]);
    let e = &events[0];
    assert_eq!(e.severity, Severity::Warning);
    // Said with the CAA check's words, and not as a reason it cannot issue.
    assert!(
        e.summary.starts_with(
            "order tencent/AbCd1234 (www.example.com): could not ask the authoritative servers of _dnsauth.www.example.com: the NS query for www.example.com failed (SERVFAIL)"
        ),
        "{}",
        e.summary
    );
    assert!(!e.summary.contains("issue"), "{}", e.summary);
    assert!(
        e.reason.contains(
            "could not ask the authoritative servers of _dnsauth.www.example.com: the NS query for www.example.com failed (SERVFAIL)"
        ),
        "{}",
        e.reason
    );
    assert!(
        e.remedy
            .as_deref()
            .unwrap()
            .contains("answers NS queries for _dnsauth.www.example.com"),
        "{:?}",
        e.remedy
    );
    assert!(
        e.fingerprint.ends_with(":delegation-unknown"),
        "{}",
        e.fingerprint
    );
    // Nor is the record "in place as the CA will look for it" when the
    // order is stuck.
    assert_stuck_not_in_place(&obs, &checks);
    // With a real block beside it, the block decides the words and the
    // severity; the failure to ask is one more cause.
    checks.caa.push(forbidden_caa());
    let events = judge(&obs, &history(t(0)), &checks, &Thresholds::default(), t(1));
    let e = &events[0];
    assert_eq!(e.severity, Severity::Blocking);
    assert!(
        e.summary
            .contains("can never issue as things stand: CAA forbids"),
        "{}",
        e.summary
    );
    assert!(e.summary.ends_with("(and 1 more)"), "{}", e.summary);
    assert!(
        e.reason.contains("could not ask the authoritative servers"),
        "{}",
        e.reason
    );
}

/// Once the order has held its status long enough to be stuck, its reason
/// does not call the validation record "in place as the CA will look for
/// it" (a view found it missing, or could not be asked).
fn assert_stuck_not_in_place(obs: &OrderObservation, checks: &OrderChecks) {
    let late = judge(obs, &history(t(0)), checks, &Thresholds::default(), t(25));
    let stuck = late
        .iter()
        .find(|e| e.kind == OrderEventKind::OrderStuck)
        .expect("stuck");
    assert!(!stuck.reason.contains("in place"), "{}", stuck.reason);
}
