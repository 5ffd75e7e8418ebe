//! Resolver agreement end to end (issue 13): the configured resolver is a
//! real validating one (unbound, `support::unbound`) in front of the signed
//! hierarchy NSD serves (`support::signed_zones`), and the real `certvigil
//! check` binary says whether its own validation and the resolver's agree.

use crate::support;

use std::path::Path;

use serde_json::Value;
use support::signed_zones::SignedZones;
use support::unbound::Unbound;

/// `certvigil check` asking `resolver`, validating from `anchor`; the JSON
/// report and the text output.
fn check(resolver: &Unbound, anchor: &Path, name: &str) -> (i32, Value, String) {
    let cfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        cfg.path(),
        format!(
            "[dns]\nnameservers = [\"{}\"]\ntimeout = \"5s\"\n# About the resolver's validation: the authoritative view is authority.rs's.\nview = \"recursive\"\n\n[dnssec]\ntrust_anchor_file = \"{}\"\n",
            resolver.addr,
            anchor.display()
        ),
    )
    .unwrap();
    let run = |format: &str| crate::dnssec::check_with(cfg.path(), name, format);
    let out = run("json");
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().next().unwrap_or_else(|| {
        panic!(
            "no report for {name}: {}\nunbound:\n{}",
            String::from_utf8_lossy(&out.stderr),
            resolver.log()
        )
    });
    let report: Value = serde_json::from_str(line).unwrap();
    let text = String::from_utf8(run("text").stdout).unwrap();
    (out.status.code().unwrap(), report, text)
}

fn note<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["caa"]["dnssec"]
        .as_array()
        .unwrap_or_else(|| panic!("no dnssec notes: {r}"))
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no dnssec note for {name}: {r}"))
}

fn summaries(r: &Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["summary"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_good_zone_is_secure_to_both_and_the_output_says_they_agree() {
    let zones = SignedZones::start();
    let unbound = Unbound::start(&zones, &zones.trust_anchor());
    let (code, r, text) = check(&unbound, &zones.trust_anchor(), "good.test");
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["caa"]["verdict"], "allowed", "{r}");
    let n = note(&r, "good.test");
    assert_eq!(n["status"], "secure", "{r}");
    assert_eq!(n["resolver"], "secure", "unbound set AD: {r}");
    assert_eq!(n["resolver_agrees"], true, "{r}");
    assert!(summaries(&r).is_empty(), "{r}");
    assert!(
        text.contains("dnssec: good.test CAA: secure (signed, chain to the root trust anchor verified); the configured resolver validates too and agrees: secure (AD set)"),
        "{text}"
    );

    // An unsigned child of the signed TLD: insecure here, AD clear there.
    let (code, r, text) = check(&unbound, &zones.trust_anchor(), "plain.test");
    assert_eq!(code, 1, "its CAA names sectigo.com only: {r}");
    let n = note(&r, "plain.test");
    assert_eq!(n["status"], "insecure", "{r}");
    assert_eq!(n["resolver"], "not_secure", "{r}");
    assert_eq!(n["resolver_agrees"], true, "{r}");
    assert!(
        text.contains("the configured resolver validates too and agrees: not secure (AD clear)"),
        "{text}"
    );
}

#[test]
fn a_bogus_zone_is_named_with_its_cause_and_the_resolvers_servfail_agrees() {
    let zones = SignedZones::start();
    let unbound = Unbound::start(&zones, &zones.trust_anchor());
    for (name, kind) in [
        ("expired.test", "rrsig_expired"),
        ("staleds.test", "ds_matches_no_dnskey"),
    ] {
        let (code, r, text) = check(&unbound, &zones.trust_anchor(), name);
        assert_eq!(code, 1, "bogus blocks: {r}");
        assert_eq!(r["caa"]["verdict"], "error", "{r}");
        // Not "the name server answered SERVFAIL": the cause, found with
        // the CD bit, and the resolver's SERVFAIL as the same failure.
        let failure = &r["caa"]["lookup_error"]["failure"];
        assert_eq!(failure["kind"], "dnssec", "{r}");
        assert_eq!(failure["cause"]["kind"], kind, "{r}");
        assert_eq!(failure["resolver"], "servfail", "{r}");
        let n = note(&r, name);
        assert_eq!(n["status"], "bogus", "{r}");
        assert_eq!(n["resolver"], "servfail", "{r}");
        assert_eq!(n["resolver_agrees"], true, "{r}");
        let reason = r["caa"]["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("The CAA answer for {name} is DNSSEC-bogus: ")),
            "{reason}"
        );
        assert!(
            reason.contains("The configured resolver validates too and answered SERVFAIL for it: the same validation failure."),
            "{reason}"
        );
        assert!(
            !summaries(&r)
                .iter()
                .any(|s| s.contains("disagree") || s.contains("says")),
            "{r}"
        );
        assert!(
            text.contains(&format!("dnssec: {name} CAA: the configured resolver validates too and answered SERVFAIL: it finds the same answer bogus")),
            "{text}"
        );
    }
    // The expired RRSIG, exactly: signer, key tag and the expiry in the past.
    let (_, r, text) = check(&unbound, &zones.trust_anchor(), "expired.test");
    let rrsig = &r["caa"]["lookup_error"]["failure"]["cause"]["rrsig"];
    assert_eq!(rrsig["signer"], "expired.test", "{r}");
    assert!(rrsig["expiration"].as_i64().unwrap() < chrono::Utc::now().timestamp());
    assert!(
        text.contains("fix: Re-sign the zone expired.test"),
        "{text}"
    );
    // unbound found it bogus on its own, for the same reason.
    assert!(unbound.log().contains("expired.test"), "{}", unbound.log());
}

#[test]
fn different_trust_anchors_are_a_disagreement_that_says_what_each_side_found() {
    let zones = SignedZones::start();
    // certvigil is given a root key the test root does not have; unbound
    // the right one: unbound says secure, certvigil bogus.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-root.ds");
    std::fs::write(
        &other,
        format!(". 300 IN DS 12345 13 2 {}\n", "AB".repeat(32)),
    )
    .unwrap();
    let unbound = Unbound::start(&zones, &zones.trust_anchor());
    let (code, r, text) = check(&unbound, &other, "good.test");
    assert_eq!(code, 1, "{r}");
    let failure = &r["caa"]["lookup_error"]["failure"];
    assert_eq!(failure["cause"]["kind"], "trust_anchor_mismatch", "{r}");
    let n = note(&r, "good.test");
    assert_eq!(n["status"], "bogus", "{r}");
    assert_eq!(n["resolver"], "secure", "{r}");
    assert_eq!(n["resolver_agrees"], false, "{r}");
    let want = "DNSSEC of the CAA lookup for good.test: certvigil finds this answer bogus, but the configured resolver, which validates, says secure (AD set)";
    let finding = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["summary"].as_str().unwrap().starts_with(want))
        .unwrap_or_else(|| panic!("no disagreement finding: {r}"));
    assert_eq!(finding["severity"], "warning", "{finding}");
    assert!(
        finding["remedy"]
            .as_str()
            .unwrap()
            .contains("delv good.test CAA"),
        "{finding}"
    );
    assert!(text.contains(want), "{text}");

    // The other way round: unbound holds a negative trust anchor for
    // good.test (it no longer validates it), certvigil validates it.
    drop(unbound);
    let unbound = Unbound::start_with(
        &zones,
        &zones.trust_anchor(),
        "    domain-insecure: \"good.test\"\n",
    );
    let (code, r, text) = check(&unbound, &zones.trust_anchor(), "good.test");
    assert_eq!(code, 0, "a disagreement is a warning: {r}");
    let n = note(&r, "good.test");
    assert_eq!(n["status"], "secure", "{r}");
    assert_eq!(n["resolver"], "not_secure", "{r}");
    assert_eq!(n["resolver_agrees"], false, "{r}");
    let want = "DNSSEC of the CAA lookup for good.test: certvigil finds this answer secure, but the configured resolver, which validates, says not secure (AD clear)";
    assert!(summaries(&r).iter().any(|s| s.starts_with(want)), "{r}");
    assert!(text.contains(want), "{text}");
}

#[test]
fn a_resolver_with_another_trust_anchor_is_named_as_the_fault_not_the_zone() {
    let zones = SignedZones::start();
    // unbound holds a root key the test root does not have (a stale
    // anchor after a root KSK rollover): it answers SERVFAIL to everything;
    // certvigil, with the right one, validates the same answers as secure.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-root.ds");
    std::fs::write(
        &other,
        format!(". 300 IN DS 12345 13 2 {}\n", "AB".repeat(32)),
    )
    .unwrap();
    let unbound = Unbound::start(&zones, &other);
    let (code, r, text) = check(&unbound, &zones.trust_anchor(), "good.test");
    assert_eq!(code, 1, "CAA cannot be judged through this resolver: {r}");
    assert_eq!(r["caa"]["verdict"], "error", "{r}");
    let failure = &r["caa"]["lookup_error"]["failure"];
    assert_eq!(failure["kind"], "resolver_rejects", "{r}");
    assert_eq!(failure["validated"]["status"], "secure", "{r}");
    assert_eq!(failure["server"], unbound.addr.to_string(), "{r}");
    let reason = r["caa"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("validates DNSSEC and answered SERVFAIL, but certvigil validates the same answer as secure"),
        "{reason}"
    );
    assert!(
        reason.contains("The fault is the resolver's own DNSSEC validation"),
        "{reason}"
    );
    assert!(
        r["caa"]["remedy"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Update the root trust anchor of {}", unbound.addr)),
        "{r}"
    );
    let n = note(&r, "good.test");
    assert_eq!(n["status"], "secure", "{r}");
    assert_eq!(n["resolver"], "servfail", "{r}");
    assert_eq!(n["resolver_agrees"], false, "{r}");
    let want = "DNSSEC of the CAA lookup for good.test: certvigil finds this answer secure, but the configured resolver, which validates, says bogus (SERVFAIL)";
    assert!(summaries(&r).iter().any(|s| s.starts_with(want)), "{r}");
    assert!(text.contains(want), "{text}");
}
