//! Heap allocations of the risk assessment per name (issue 15): `check`
//! judges every name it is given, and at 100,000 names the allocator was
//! about 30% of its user-space instructions, 60 allocations per name of
//! them from `RiskModel::assess`'s scratch buffers.
//!
//! A test binary of its own: its global allocator counts
//! (`support/counting_alloc.rs`).

use certvigil_core::checks::risk::{RiskConfig, RiskLevel, RiskModel};
use certvigil_core::domain::CertName;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// The allocations of assessing `name` once the model is warm (the first
/// call may fill lazily built tables of the crates used).
fn per_assessment(model: &RiskModel, name: &str) -> (usize, RiskLevel) {
    let name = CertName::parse(name).expect("test names are valid");
    let _ = model.assess(&name);
    counting_alloc::allocations(|| model.assess(&name).level)
}

/// Names with nothing to report, of the shapes a large `check` holds:
/// generated hosts, an ordinary shop, hyphens, and internationalized labels.
const ORDINARY: [&str; 6] = [
    "n12345.site1234.test",
    "shop.example.com",
    "www.my-little-garden.co.uk",
    "api-7.eu-west.internal.example.org",
    "xn--mnchen-3ya.de",
    "xn--bcher-kva.example.com",
];

/// At most this many per ordinary name (measured: see the commit that
/// added this test: 1 or 2, and 21 to 95 before).
const MAX_PER_ORDINARY_NAME: usize = 4;

#[test]
fn an_ordinary_name_is_assessed_with_few_allocations() {
    let model = RiskModel::new(&RiskConfig::default()).expect("the default config is valid");
    let mut report = Vec::new();
    for name in ORDINARY {
        let (n, level) = per_assessment(&model, name);
        assert_eq!(level, RiskLevel::Low, "{name} is an ordinary name");
        report.push((name, n));
    }
    // Printed for the record (`--nocapture`), hits included.
    for name in [
        "paypal-login.com",
        "xn--pple-43d.com",
        "paypa1.com",
        "mypaypalhelp.example.com",
    ] {
        let (n, level) = per_assessment(&model, name);
        println!("{name}: {n} allocations ({level})");
    }
    for (name, n) in &report {
        println!("{name}: {n} allocations");
    }
    for (name, n) in report {
        assert!(
            n <= MAX_PER_ORDINARY_NAME,
            "{name}: {n} allocations, at most {MAX_PER_ORDINARY_NAME} expected"
        );
    }
}
