//! How many heap allocations judging one name's CAA and building its report
//! costs, for the three cases most names of a large run are in. `check` over
//! 100,000 names spent ~30% of its instructions in malloc/free, and the CAA
//! judge and its report were ~55 allocations a name (issue 15).
//!
//! Its own test binary: its global allocator counts
//! (`support/counting_alloc.rs`).

use certvigil_core::ca::CaChoice;
use certvigil_core::checks::caa::judge::judge;
use certvigil_core::checks::caa::{
    CaaAnswer, CaaLookup, CaaObservation, CaaRecord, CaaVerdictKind, IssuanceRequest,
};
use certvigil_core::domain::{CertName, DomainName};
use certvigil_core::report::CheckReport;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

fn dn(s: &str) -> DomainName {
    DomainName::parse(s).unwrap()
}

/// The climb from `queried` to its TLD as the gatherer records it, with
/// `records` at the names that have any.
fn observe(queried: &str, records: &[(&str, CaaRecord)]) -> CaaObservation {
    let q = dn(queried);
    let climb = q
        .self_and_ancestors()
        .into_iter()
        .map(|name| CaaLookup {
            result: Ok(CaaAnswer {
                cname_chain: vec![name.clone()],
                records: records
                    .iter()
                    .filter(|(at, _)| dn(at) == name)
                    .map(|(_, r)| r.clone())
                    .collect(),
                nxdomain: false,
                dnssec: None,
            }),
            name,
        })
        .collect();
    CaaObservation {
        queried: q,
        climb,
        alias_target_climb: Vec::new(),
    }
}

fn lets_encrypt() -> CaChoice {
    CaChoice {
        name: "letsencrypt".into(),
        display: "Let's Encrypt".into(),
        issuer_domains: vec![dn("letsencrypt.org")],
        scanner_ips: Vec::new(),
    }
}

/// Allocations to judge `obs` for Let's Encrypt and to build the report of
/// it (`check`'s per-name work in the core): (judge, report).
fn measure(obs: &CaaObservation, expect: CaaVerdictKind) -> (usize, usize) {
    let ca = lets_encrypt();
    let req = IssuanceRequest {
        wildcard: false,
        issuer_domains: ca.issuer_domains.clone(),
        account_uris: Vec::new(),
        validation_method: None,
        outside_acme: None,
    };
    let name = CertName::new(obs.queried.clone(), false);
    // Once unmeasured, so that nothing lazily set up counts.
    let warm = judge(obs, &req);
    assert_eq!(warm.verdict, expect, "{}", warm.reason);
    drop(CheckReport::new(&name, &ca, &warm, Vec::new()));
    let (judging, verdict) = counting_alloc::allocations(|| judge(obs, &req));
    let (reporting, report) =
        counting_alloc::allocations(|| CheckReport::new(&name, &ca, &verdict, Vec::new()));
    drop(report);
    (judging, reporting)
}

#[test]
fn judging_a_name_and_reporting_it_allocates_little() {
    let cases = [
        (
            "no CAA anywhere up the climb",
            observe("www.shop.example.com", &[]),
            CaaVerdictKind::Allowed,
            // (judge, report) at most: measured 4 and 8, before 39 and 8.
            (6, 10),
        ),
        (
            "the parent's issue record authorizes the CA",
            observe(
                "www.example.com",
                &[("example.com", CaaRecord::new(0, "issue", "letsencrypt.org"))],
            ),
            CaaVerdictKind::Allowed,
            // Measured 10 and 12, before 55 and 12.
            (12, 14),
        ),
        (
            "the name's own record names another CA",
            observe(
                "www.example.com",
                &[("www.example.com", CaaRecord::new(0, "issue", "sectigo.com"))],
            ),
            CaaVerdictKind::Forbidden,
            // Measured 11 and 16, before 47 and 16.
            (13, 18),
        ),
    ];
    let mut failed = Vec::new();
    for (case, obs, expect, (max_judge, max_report)) in &cases {
        let (judging, reporting) = measure(obs, *expect);
        eprintln!("{case}: judge {judging}, report {reporting}");
        if judging > *max_judge || reporting > *max_report {
            failed.push(format!(
                "{case}: judge {judging} (at most {max_judge}), report {reporting} (at most {max_report})"
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "too many allocations:\n{}",
        failed.join("\n")
    );
}
