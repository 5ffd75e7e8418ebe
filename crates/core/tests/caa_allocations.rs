//! How many heap allocations judging one name's CAA and building its report
//! costs, for the three cases most names of a large run are in. `check` over
//! 100,000 names spent ~30% of its instructions in malloc/free, and the CAA
//! judge and its report were ~55 allocations a name (issue 15).
//!
//! Its own test binary, because the counter is the binary's global
//! allocator: counting is switched on for the measuring thread only, so
//! the harness's other threads do not disturb the figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use certvigil_core::ca::CaChoice;
use certvigil_core::checks::caa::judge::judge;
use certvigil_core::checks::caa::{
    CaaAnswer, CaaLookup, CaaObservation, CaaRecord, CaaVerdictKind, IssuanceRequest,
};
use certvigil_core::domain::{CertName, DomainName};
use certvigil_core::report::CheckReport;

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the allocator may run while the thread's locals are torn down.
    let _ = ON.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: every call is passed on to `System` unchanged; the counter only
// touches const-initialised thread locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A growing Vec or String is one more trip to malloc.
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Allocations made by `f` on this thread.
fn count<T>(f: impl FnOnce() -> T) -> (usize, T) {
    COUNT.with(|c| c.set(0));
    ON.with(|on| on.set(true));
    let out = f();
    ON.with(|on| on.set(false));
    (COUNT.with(Cell::get), out)
}

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
    let (judging, verdict) = count(|| judge(obs, &req));
    let (reporting, report) = count(|| CheckReport::new(&name, &ca, &verdict, Vec::new()));
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
