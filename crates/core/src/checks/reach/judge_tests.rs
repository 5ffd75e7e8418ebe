//! The verdict rules, one small fixture each.

use super::*;
use crate::checks::reach::model::{
    AddressObservation, BodyObservation, Ports, ProbeTarget, VantageObservation,
};
use crate::domain::DomainName;

fn target(expected: Option<&str>) -> ProbeTarget {
    ProbeTarget {
        name: DomainName::parse("shop.example.com").unwrap(),
        path: "/.well-known/pki-validation/fileauth.txt".into(),
        expected: expected.map(str::to_string),
        ports: Ports::STANDARD,
    }
}

fn ctx(method: Method) -> JudgeContext {
    JudgeContext {
        method,
        ca: "Sectigo".into(),
        scanner_ips: ["91.199.212.132", "54.189.196.217"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect(),
    }
}

fn response(
    url: &str,
    status: u16,
    location: Option<&str>,
    matched: Option<bool>,
) -> HopObservation {
    HopObservation {
        url: url.into(),
        addresses: vec![],
        elapsed_ms: 5,
        outcome: HopOutcome::Response {
            status,
            location: location.map(str::to_string),
            body: BodyObservation {
                bytes_read: 10,
                truncated: false,
                matched,
            },
        },
    }
}

fn failed(url: &str, failure: Failure) -> HopObservation {
    HopObservation {
        url: url.into(),
        addresses: vec![],
        elapsed_ms: 5,
        outcome: HopOutcome::Failed {
            failure,
            detail: "x".into(),
        },
    }
}

const HTTP_URL: &str = "http://shop.example.com/.well-known/pki-validation/fileauth.txt";
const HTTPS_URL: &str = "https://shop.example.com/.well-known/pki-validation/fileauth.txt";

fn port(scheme: Scheme, hops: Vec<HopObservation>) -> PortObservation {
    PortObservation {
        scheme,
        port: Ports::STANDARD.of(scheme),
        hops,
        follows_redirects: true,
    }
}

fn probed(http: Vec<HopObservation>, https: Vec<HopObservation>) -> VantageOutcome {
    VantageOutcome::Probed(ProbeObservation {
        resolved: Some(AddressObservation {
            addresses: vec!["203.0.113.10".parse().unwrap()],
            error: None,
        }),
        ports: vec![port(Scheme::Http, http), port(Scheme::Https, https)],
    })
}

fn answering() -> VantageOutcome {
    probed(
        vec![response(HTTP_URL, 404, None, None)],
        vec![response(HTTPS_URL, 404, None, None)],
    )
}

fn silent(f: Failure) -> VantageOutcome {
    probed(vec![failed(HTTP_URL, f)], vec![failed(HTTPS_URL, f)])
}

fn vantage(name: &str, overseas: bool, outcome: VantageOutcome) -> VantageObservation {
    VantageObservation {
        vantage: name.into(),
        kind: if overseas {
            VantageKind::Agent
        } else {
            VantageKind::Local
        },
        overseas,
        outcome,
    }
}

fn obs(expected: Option<&str>, vantages: Vec<VantageObservation>) -> ReachObservation {
    ReachObservation {
        target: target(expected),
        vantages,
    }
}

fn blocking(v: &ReachVerdict) -> Vec<&Finding> {
    v.findings
        .iter()
        .filter(|f| f.severity == Severity::Blocking)
        .collect()
}

#[test]
fn any_http_answer_without_a_canary_is_reachable() {
    let v = judge(
        &obs(
            None,
            vec![
                vantage("home", false, answering()),
                vantage("fra", true, answering()),
            ],
        ),
        &ctx(Method::File),
    );
    assert_eq!(v.verdict, ReachVerdictKind::Reachable);
    assert!(blocking(&v).is_empty(), "{:?}", v.findings);
    assert_eq!(v.fingerprint(), "reachable|");
}

#[test]
fn domestic_answer_and_overseas_silence_is_a_geo_block_with_the_scanner_ips() {
    let v = judge(
        &obs(
            None,
            vec![
                vantage("home", false, answering()),
                vantage("fra", true, silent(Failure::Timeout)),
            ],
        ),
        &ctx(Method::File),
    );
    assert_eq!(v.verdict, ReachVerdictKind::GeoBlocked);
    let remedy = v.remedy.as_deref().unwrap();
    assert!(
        remedy.contains("91.199.212.132") && remedy.contains("54.189.196.217"),
        "{remedy}"
    );
    assert!(remedy.contains("80 and 443"), "{remedy}");
    assert!(remedy.contains("fragile"), "{remedy}");
    let b = blocking(&v);
    assert_eq!(b.len(), 1);
    assert!(
        b[0].summary.contains("fra: http timeout, https timeout"),
        "{}",
        b[0].summary
    );
    assert_eq!(v.fingerprint(), "geo_blocked|geo_blocked");
}

#[test]
fn no_answer_anywhere_is_unreachable_and_blocks() {
    let v = judge(
        &obs(
            None,
            vec![
                vantage("home", false, silent(Failure::Refused)),
                vantage("fra", true, silent(Failure::Refused)),
            ],
        ),
        &ctx(Method::File),
    );
    assert_eq!(v.verdict, ReachVerdictKind::Unreachable);
    assert!(v.verdict.blocks_issuance());
    assert_eq!(blocking(&v).len(), 1);
}

#[test]
fn vantage_errors_alone_are_an_error_not_a_block() {
    let err = VantageOutcome::Error {
        message: "agent down".into(),
    };
    let v = judge(
        &obs(None, vec![vantage("fra", true, err.clone())]),
        &ctx(Method::File),
    );
    assert_eq!(v.verdict, ReachVerdictKind::Error);
    assert!(blocking(&v).is_empty());
    // Domestic answers but the only overseas point could not look.
    let v = judge(
        &obs(
            None,
            vec![
                vantage("home", false, answering()),
                vantage("fra", true, err),
            ],
        ),
        &ctx(Method::File),
    );
    assert_eq!(v.verdict, ReachVerdictKind::Error);
}

#[test]
fn a_canary_must_be_served_with_2xx_and_the_right_content() {
    let served = probed(
        vec![response(HTTP_URL, 200, None, Some(true))],
        vec![response(HTTPS_URL, 200, None, Some(true))],
    );
    let v = judge(
        &obs(Some("c-1"), vec![vantage("home", false, served)]),
        &ctx(Method::File),
    );
    assert!(blocking(&v).is_empty(), "{:?}", v.findings);
    assert!(
        v.vantages[0]
            .ports
            .iter()
            .all(|p| p.validates && p.body_matched == Some(true))
    );

    let rewritten = probed(
        vec![response(HTTP_URL, 200, None, Some(false))],
        vec![response(HTTPS_URL, 200, None, Some(false))],
    );
    let v = judge(
        &obs(Some("c-1"), vec![vantage("home", false, rewritten)]),
        &ctx(Method::File),
    );
    assert_eq!(v.verdict, ReachVerdictKind::Reachable);
    let b = blocking(&v);
    assert!(b.iter().any(|f| f.summary.contains("rewritten")), "{b:?}");

    let missing = probed(
        vec![response(HTTP_URL, 404, None, Some(false))],
        vec![response(HTTPS_URL, 404, None, Some(false))],
    );
    let v = judge(
        &obs(Some("c-1"), vec![vantage("home", false, missing)]),
        &ctx(Method::File),
    );
    assert!(
        blocking(&v)
            .iter()
            .any(|f| f.summary.contains("status 404"))
    );
}

#[test]
fn one_port_serving_is_enough_for_file_validation() {
    let v = judge(
        &obs(
            Some("c-1"),
            vec![vantage(
                "home",
                false,
                probed(
                    vec![failed(HTTP_URL, Failure::Refused)],
                    vec![response(HTTPS_URL, 200, None, Some(true))],
                ),
            )],
        ),
        &ctx(Method::File),
    );
    assert_eq!(v.verdict, ReachVerdictKind::Reachable);
    assert!(blocking(&v).is_empty());
    assert!(
        v.findings
            .iter()
            .any(|f| f.severity == Severity::Warning && f.summary.contains("connection refused"))
    );
}

#[test]
fn http_01_needs_port_80() {
    let v = judge(
        &obs(
            None,
            vec![vantage(
                "fra",
                true,
                probed(
                    vec![failed(HTTP_URL, Failure::Timeout)],
                    vec![response(HTTPS_URL, 404, None, None)],
                ),
            )],
        ),
        &ctx(Method::Http01),
    );
    assert_eq!(v.verdict, ReachVerdictKind::Unreachable);
}

#[test]
fn redirect_to_port_8080_breaks_the_chain() {
    let to = "http://shop.example.com:8080/.well-known/pki-validation/fileauth.txt";
    let v = judge(
        &obs(
            None,
            vec![vantage(
                "home",
                false,
                probed(
                    vec![response(HTTP_URL, 301, Some(to), None)],
                    vec![response(HTTPS_URL, 302, Some(to), None)],
                ),
            )],
        ),
        &ctx(Method::File),
    );
    let b = blocking(&v);
    assert!(
        b.iter().any(|f| f.summary.contains("port 8080")),
        "{:?}",
        v.findings
    );
    assert!(v.problems.contains(&"http_redirect_port".to_string()));
}

#[test]
fn tencent_allows_two_redirects_not_three() {
    let hop = |i: usize| format!("http://shop.example.com/r{i}");
    let chain = |n: usize| {
        let mut hops = vec![response(HTTP_URL, 302, Some(&hop(1)), None)];
        for i in 1..n {
            hops.push(response(&hop(i), 302, Some(&hop(i + 1)), None));
        }
        hops.push(response(&hop(n), 404, None, None));
        hops
    };
    let judge_chain = |n: usize, method: Method| {
        judge(
            &obs(
                None,
                vec![vantage(
                    "home",
                    false,
                    probed(chain(n), vec![failed(HTTPS_URL, Failure::Refused)]),
                )],
            ),
            &ctx(method),
        )
    };
    assert!(blocking(&judge_chain(2, Method::File)).is_empty());
    let three = judge_chain(3, Method::File);
    assert!(
        blocking(&three)
            .iter()
            .any(|f| f.summary.contains("at most 2")),
        "{:?}",
        three.findings
    );
    // ACME CAs follow more.
    assert!(blocking(&judge_chain(3, Method::Http01)).is_empty());
}

#[test]
fn a_redirect_loop_is_named() {
    let other = "http://shop.example.com/b";
    let v = judge(
        &obs(
            None,
            vec![vantage(
                "home",
                false,
                probed(
                    vec![
                        response(HTTP_URL, 302, Some(other), None),
                        response(other, 302, Some(HTTP_URL), None),
                    ],
                    vec![failed(HTTPS_URL, Failure::Refused)],
                ),
            )],
        ),
        &ctx(Method::File),
    );
    assert!(
        blocking(&v).iter().any(|f| f.summary.contains("loop")),
        "{:?}",
        v.findings
    );
}

#[test]
fn tencent_requires_the_same_registered_domain() {
    let away = "https://cdn.example.net/.well-known/pki-validation/fileauth.txt";
    let within = "https://www.example.com/.well-known/pki-validation/fileauth.txt";
    let run = |to: &str| {
        judge(
            &obs(
                None,
                vec![vantage(
                    "home",
                    false,
                    probed(
                        vec![
                            response(HTTP_URL, 301, Some(to), None),
                            response(to, 404, None, None),
                        ],
                        vec![failed(HTTPS_URL, Failure::Refused)],
                    ),
                )],
            ),
            &ctx(Method::File),
        )
    };
    assert!(
        blocking(&run(away))
            .iter()
            .any(|f| f.summary.contains("registered domain"))
    );
    assert!(blocking(&run(within)).is_empty());
}

#[test]
fn a_303_is_not_followed_by_cas() {
    let v = judge(
        &obs(
            None,
            vec![vantage(
                "home",
                false,
                probed(
                    vec![response(HTTP_URL, 303, Some(HTTPS_URL), None)],
                    vec![response(HTTPS_URL, 303, Some(HTTP_URL), None)],
                ),
            )],
        ),
        &ctx(Method::File),
    );
    assert!(blocking(&v).iter().any(|f| f.summary.contains("303")));
}

#[test]
fn no_address_is_a_finding_of_its_own() {
    let outcome = VantageOutcome::Probed(ProbeObservation {
        resolved: Some(AddressObservation::default()),
        ports: vec![
            port(Scheme::Http, vec![failed(HTTP_URL, Failure::NoAddress)]),
            port(Scheme::Https, vec![failed(HTTPS_URL, Failure::NoAddress)]),
        ],
    });
    let v = judge(
        &obs(None, vec![vantage("home", false, outcome)]),
        &ctx(Method::File),
    );
    assert_eq!(v.verdict, ReachVerdictKind::Unreachable);
    assert!(
        v.findings
            .iter()
            .any(|f| f.summary.contains("no A or AAAA"))
    );
    assert!(v.fingerprint().contains("no_address"));
}

#[test]
fn without_an_overseas_vantage_the_user_is_told_what_cannot_be_seen() {
    let v = judge(
        &obs(None, vec![vantage("home", false, answering())]),
        &ctx(Method::File),
    );
    assert!(
        v.findings
            .iter()
            .any(|f| f.severity == Severity::Info && f.summary.contains("abroad"))
    );
}

#[test]
fn fingerprints_ignore_timings() {
    let slow = probed(
        vec![HopObservation {
            elapsed_ms: 9000,
            ..response(HTTP_URL, 404, None, None)
        }],
        vec![response(HTTPS_URL, 404, None, None)],
    );
    let a = judge(
        &obs(None, vec![vantage("home", false, answering())]),
        &ctx(Method::File),
    );
    let b = judge(
        &obs(None, vec![vantage("home", false, slow)]),
        &ctx(Method::File),
    );
    assert_eq!(a.fingerprint(), b.fingerprint());
}

#[test]
fn the_json_section_names_verdict_and_vantage_points() {
    let v = judge(
        &obs(
            None,
            vec![
                vantage("home", false, answering()),
                vantage("fra", true, silent(Failure::Timeout)),
            ],
        ),
        &ctx(Method::File),
    );
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["verdict"], "geo_blocked");
    assert_eq!(json["vantages"][1]["name"], "fra");
    assert_eq!(json["vantages"][1]["ports"][0]["result"], "timeout");
    assert_eq!(json["vantages"][0]["ports"][0]["status"], 404);
    assert!(json.get("findings").is_none());
}

#[test]
fn an_overseas_vantage_that_failed_itself_is_no_geo_block() {
    // Issue 11: a socks5 proxy that could not resolve the name gave
    // "proxy" on both ports, read as silence abroad: geo_blocked.
    let o = obs(
        None,
        vec![
            vantage("local", false, answering()),
            vantage("hk-proxy", true, silent(Failure::Vantage)),
        ],
    );
    let v = judge(&o, &ctx(Method::File));
    assert_eq!(v.verdict, ReachVerdictKind::Error, "{}", v.reason);
    assert!(
        v.reason.contains("vantage hk-proxy failed: "),
        "{}",
        v.reason
    );
    assert!(blocking(&v).is_empty(), "{:?}", v.findings);
    let view = v.vantages.iter().find(|x| x.name == "hk-proxy").unwrap();
    assert!(view.error.as_deref().unwrap().contains("hk-proxy failed"));
}

#[test]
fn the_verdict_rests_on_the_vantages_that_worked() {
    let o = obs(
        None,
        vec![
            vantage("local", false, answering()),
            vantage("hk-proxy", true, silent(Failure::Vantage)),
            vantage("fra-agent", true, answering()),
        ],
    );
    let v = judge(&o, &ctx(Method::File));
    assert_eq!(v.verdict, ReachVerdictKind::Reachable, "{}", v.reason);
    assert!(
        v.findings
            .iter()
            .any(|f| f.summary.contains("vantage hk-proxy failed")),
        "{:?}",
        v.findings
    );
    // A site failure seen through a proxy (its 502) is still a site failure.
    let o = obs(
        None,
        vec![
            vantage("local", false, answering()),
            vantage("hk-proxy", true, silent(Failure::Proxy)),
        ],
    );
    assert_eq!(
        judge(&o, &ctx(Method::File)).verdict,
        ReachVerdictKind::GeoBlocked
    );
}
