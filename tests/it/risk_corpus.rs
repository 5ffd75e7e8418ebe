//! Measures the manual-review risk check on the corpus the project keeps
//! (tests/data/risk/, see generate_corpus.py there): look-alike names of
//! brands must be flagged, ordinary names must not. Prints the figures that
//! docs/risk.md reports:
//!
//!     cargo test --test it risk_corpus -- --nocapture

use std::collections::BTreeMap;

use certvigil::checks::risk::{RiskConfig, RiskModel};
use certvigil::domain::CertName;

const POSITIVES: &str = include_str!("../data/risk/positives.txt");
const NEGATIVES: &str = include_str!("../data/risk/negatives.txt");

/// Names of a corpus file with the `## ` section each belongs to.
fn names(corpus: &str) -> Vec<(String, &str)> {
    let mut section = String::from("-");
    let mut out = Vec::new();
    for line in corpus.lines().map(str::trim) {
        if let Some(s) = line.strip_prefix("## ") {
            section = s.to_string();
        } else if !line.is_empty() && !line.starts_with('#') {
            out.push((section.clone(), line));
        }
    }
    out
}

struct Tally {
    flagged: usize,
    total: usize,
}

impl Tally {
    fn rate(&self) -> f64 {
        self.flagged as f64 / self.total as f64
    }
}

/// Flags every name of a corpus; returns the tally overall and per key,
/// and the names whose flag disagrees with `expect_flagged`.
fn measure<'a>(
    model: &RiskModel,
    corpus: &'a [(String, &'a str)],
    key: impl Fn(&str) -> String,
    expect_flagged: bool,
) -> (Tally, BTreeMap<String, Tally>, Vec<&'a str>) {
    let mut all = Tally {
        flagged: 0,
        total: 0,
    };
    let mut by = BTreeMap::new();
    let mut wrong = Vec::new();
    for (section, name) in corpus {
        let cert = CertName::parse(name).unwrap_or_else(|e| panic!("corpus name: {e}"));
        let flagged = model.assess(&cert).is_flagged();
        let t = by.entry(key(section)).or_insert(Tally {
            flagged: 0,
            total: 0,
        });
        for t in [&mut all, t] {
            t.total += 1;
            t.flagged += usize::from(flagged);
        }
        if flagged != expect_flagged {
            wrong.push(*name);
        }
    }
    (all, by, wrong)
}

#[test]
fn corpus_flag_rates_meet_the_thresholds() {
    let model = RiskModel::new(&RiskConfig::default()).expect("default config");
    let positives = names(POSITIVES);
    let negatives = names(NEGATIVES);
    assert!(positives.len() >= 2000, "{} positives", positives.len());
    assert!(negatives.len() >= 500, "{} negatives", negatives.len());

    let fuzzer = |s: &str| s.split(' ').nth(1).unwrap_or("-").to_string();
    let brand = |s: &str| s.split(' ').next().unwrap_or("-").to_string();
    let (pos, by_fuzzer, missed) = measure(&model, &positives, fuzzer, true);
    let (_, by_brand, _) = measure(&model, &positives, brand, true);
    let (neg, neg_by_section, false_alarms) = measure(&model, &negatives, str::to_string, false);

    println!(
        "positives flagged: {}/{} = {:.1}%",
        pos.flagged,
        pos.total,
        100.0 * pos.rate()
    );
    println!(
        "negatives flagged: {}/{} = {:.1}%",
        neg.flagged,
        neg.total,
        100.0 * neg.rate()
    );
    println!("\n| negatives | flagged |\n|---|---|");
    for (k, t) in &neg_by_section {
        let k = if k == "-" { "multi-word names" } else { k };
        println!(
            "| {k} | {}/{} ({:.0}%) |",
            t.flagged,
            t.total,
            100.0 * t.rate()
        );
    }
    println!("\n| dnstwist fuzzer | flagged |\n|---|---|");
    for (k, t) in &by_fuzzer {
        println!(
            "| {k} | {}/{} ({:.0}%) |",
            t.flagged,
            t.total,
            100.0 * t.rate()
        );
    }
    println!("\n| brand | flagged |\n|---|---|");
    for (k, t) in &by_brand {
        println!(
            "| {k} | {}/{} ({:.0}%) |",
            t.flagged,
            t.total,
            100.0 * t.rate()
        );
    }
    println!("\nmissed positives: {missed:?}");
    println!("flagged negatives: {false_alarms:?}");

    assert!(
        pos.rate() >= 0.90,
        "only {:.1}% of positives flagged",
        100.0 * pos.rate()
    );
    assert!(
        neg.rate() <= 0.05,
        "{:.1}% of negatives flagged",
        100.0 * neg.rate()
    );
}

#[test]
fn own_brands_silence_their_look_alikes_in_the_corpus() {
    // The owner of a brand silences warnings about its names, look-alikes
    // (their own defensive registrations) included.
    let model = RiskModel::new(&RiskConfig {
        own_brands: vec!["paypal".into()],
        ..RiskConfig::default()
    })
    .expect("valid config");
    let paypal: Vec<_> = names(POSITIVES)
        .into_iter()
        .filter(|(s, _)| s.starts_with("paypal.com "))
        .collect();
    assert!(paypal.len() > 50);
    let (t, _, wrong) = measure(&model, &paypal, |_| String::new(), false);
    assert_eq!(
        t.flagged, 0,
        "paypal.com's look-alikes still flagged: {wrong:?}"
    );
}
