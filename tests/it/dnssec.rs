//! DNSSEC validation end to end: the real `certvigil check` binary and the
//! real daemon against a signed hierarchy served by NSD on loopback
//! (`support::signed_zones`), with the test root's DS as trust anchor.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::daemon::DaemonBench;
use support::http::HttpReceiver;
use support::signed_zones::SignedZones;

fn config(zones: &SignedZones, extra: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "[dns]\nnameservers = [\"{}\"]\ntimeout = \"2s\"\n# These tests are about the validator: the authoritative view (which\n# asks port 53) is tested in authority.rs.\nview = \"recursive\"\n{}{extra}",
            zones.addr,
            zones.dnssec_toml()
        ),
    )
    .unwrap();
    file
}

fn check(zones: &SignedZones, name: &str, format: &str) -> Output {
    let cfg = config(zones, "");
    check_with(cfg.path(), name, format)
}

/// `certvigil check --ca letsencrypt` on `name` with the config at `cfg`.
pub(crate) fn check_with(cfg: &Path, name: &str, format: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certvigil"))
        .args([
            "check",
            "--ca",
            "letsencrypt",
            "--format",
            format,
            "--config",
        ])
        .arg(cfg)
        .arg(name)
        .env_remove("CERTVIGIL_CONFIG")
        .output()
        .unwrap()
}

fn report(zones: &SignedZones, name: &str) -> (i32, Value) {
    let out = check(zones, name, "json");
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().next().unwrap_or_else(|| {
        panic!(
            "no report for {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code().unwrap(),
        serde_json::from_str(line).unwrap(),
    )
}

fn statuses(r: &Value) -> Vec<(String, String)> {
    r["caa"]["dnssec"]
        .as_array()
        .unwrap_or_else(|| panic!("no dnssec notes: {r}"))
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_string(),
                n["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The key tag of `zone`'s first key file (`K<zone>.+013+<tag>.key`).
fn key_tags(zones: &SignedZones, zone: &str) -> Vec<u64> {
    let prefix = format!("K{zone}.+013+");
    let mut tags: Vec<u64> = std::fs::read_dir(zones.dir.path().join("keys"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix) && n.ends_with(".key"))
        .map(|n| n[prefix.len()..n.len() - 4].parse().unwrap())
        .collect();
    tags.sort();
    tags
}

#[test]
fn a_good_chain_is_secure_and_allowed() {
    let zones = SignedZones::start();
    let (code, r) = report(&zones, "good.test");
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["caa"]["verdict"], "allowed", "{r}");
    assert_eq!(
        statuses(&r),
        vec![("good.test".to_string(), "secure".to_string())]
    );
}

#[test]
fn an_alias_into_another_signed_zone_is_validated_link_by_link() {
    let zones = SignedZones::start();
    let (code, r) = report(&zones, "alias.good.test");
    assert_eq!(code, 0, "{r}");
    // The target (NSEC3-signed) has no CAA; good.test's record decides.
    assert_eq!(r["caa"]["relevant_name"], "good.test", "{r}");
    assert_eq!(
        statuses(&r),
        vec![
            ("alias.good.test".to_string(), "secure".to_string()),
            ("good.test".to_string(), "secure".to_string()),
        ]
    );
}

#[test]
fn a_wildcard_answer_is_secure_with_its_proof() {
    let zones = SignedZones::start();
    let (code, r) = report(&zones, "x.wild.good.test");
    // The wildcard's record names sectigo.com only.
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["caa"]["verdict"], "forbidden", "{r}");
    assert_eq!(r["caa"]["relevant_name"], "x.wild.good.test", "{r}");
    assert_eq!(
        statuses(&r),
        vec![("x.wild.good.test".to_string(), "secure".to_string())]
    );
    // The empty non-terminal above it: NODATA proven by the NSEC whose
    // next name lies below it.
    let (_, r) = report(&zones, "wild.good.test");
    assert_eq!(r["caa"]["relevant_name"], "good.test", "{r}");
    assert_eq!(
        statuses(&r)[0],
        ("wild.good.test".to_string(), "secure".to_string())
    );
}

#[test]
fn nxdomain_is_proven_with_nsec_and_with_nsec3() {
    let zones = SignedZones::start();
    for (name, parent) in [
        ("nope.good.test", "good.test"),
        ("nope.nsec3.test", "nsec3.test"),
    ] {
        let (_, r) = report(&zones, name);
        let s = statuses(&r);
        assert_eq!(s[0], (name.to_string(), "secure".to_string()), "{r}");
        assert_eq!(s[1], (parent.to_string(), "secure".to_string()), "{r}");
    }
}

#[test]
fn an_expired_rrsig_is_bogus_and_names_the_rrsig_and_its_expiry() {
    let zones = SignedZones::start();
    let (code, r) = report(&zones, "expired.test");
    assert_eq!(code, 1, "bogus blocks: {r}");
    assert_eq!(r["issuable"], false);
    assert_eq!(r["caa"]["verdict"], "error", "{r}");
    let failure = &r["caa"]["lookup_error"]["failure"];
    assert_eq!(failure["kind"], "dnssec", "{r}");
    let cause = &failure["cause"];
    assert_eq!(cause["kind"], "rrsig_expired", "{r}");
    assert_eq!(cause["rrsig"]["signer"], "expired.test");
    assert_eq!(
        vec![cause["rrsig"]["key_tag"].as_u64().unwrap()],
        key_tags(&zones, "expired.test")
    );
    let expiration = cause["rrsig"]["expiration"].as_i64().unwrap();
    assert!(expiration < chrono::Utc::now().timestamp(), "{cause}");
    assert_eq!(statuses(&r)[0].1, "bogus");

    let text = String::from_utf8(check(&zones, "expired.test", "text").stdout).unwrap();
    let when = chrono::DateTime::from_timestamp(expiration, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(text.contains(&format!("expired at {when}")), "{text}");
    assert!(text.contains("signer expired.test"), "{text}");
    assert!(
        text.contains("fix: Re-sign the zone expired.test"),
        "{text}"
    );
}

#[test]
fn a_ds_matching_no_dnskey_is_bogus_and_names_the_ds() {
    let zones = SignedZones::start();
    let (code, r) = report(&zones, "staleds.test");
    assert_eq!(code, 1, "{r}");
    let cause = &r["caa"]["lookup_error"]["failure"]["cause"];
    assert_eq!(cause["kind"], "ds_matches_no_dnskey", "{r}");
    assert_eq!(cause["zone"], "staleds.test");
    assert_eq!(cause["parent"], "test");
    let tags = key_tags(&zones, "staleds.test");
    let ds_tag = cause["ds"][0]["key_tag"].as_u64().unwrap();
    let published = cause["dnskey_tags"][0].as_u64().unwrap();
    assert!(tags.contains(&ds_tag) && tags.contains(&published) && ds_tag != published);
    assert_eq!(cause["ds"][0]["algorithm"], 13);
    assert_eq!(cause["ds"][0]["digest_type"], 2);
    let remedy = r["caa"]["remedy"].as_str().unwrap();
    assert!(
        remedy.contains("Remove the stale DS record for staleds.test at the registrar"),
        "{remedy}"
    );
}

#[test]
fn an_unsigned_child_of_a_signed_parent_is_insecure_and_judged_normally() {
    let zones = SignedZones::start();
    let (code, r) = report(&zones, "plain.test");
    // CAA names sectigo.com only: forbidden for Let's Encrypt, as without
    // DNSSEC.
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["caa"]["verdict"], "forbidden", "{r}");
    let note = &r["caa"]["dnssec"][0];
    assert_eq!(note["status"], "insecure", "{r}");
    assert_eq!(note["reason"]["kind"], "unsigned_delegation");
    assert_eq!(note["reason"]["zone"], "plain.test");
    assert_eq!(note["reason"]["parent"], "test");
}

#[test]
fn nsec3_denial_of_caa_is_secure_no_caa() {
    let zones = SignedZones::start();
    let (code, r) = report(&zones, "www.nsec3.test");
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["caa"]["verdict"], "allowed", "{r}");
    assert!(r["caa"]["relevant_name"].is_null());
    assert_eq!(
        statuses(&r),
        vec![
            ("www.nsec3.test".to_string(), "secure".to_string()),
            ("nsec3.test".to_string(), "secure".to_string()),
            ("test".to_string(), "secure".to_string()),
        ]
    );
}

#[test]
fn validate_false_turns_validation_off() {
    let zones = SignedZones::start();
    let cfg = config(&zones, "validate = false\n");
    let out = check_with(cfg.path(), "expired.test", "json");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["caa"]["verdict"], "allowed", "{r}");
    assert!(r["caa"].get("dnssec").is_none(), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_that_turns_bogus_alerts_blocking_once_then_resolved() {
    let mut zones = SignedZones::start();
    let hook = HttpReceiver::ok("{}").await;
    let bench = DaemonBench::new();
    bench.write_config(
        zones.addr,
        &format!(
            "view = \"recursive\"\n{}\n[[alerts.webhook]]\nurl = \"{}\"\nformat = \"generic\"\n\n[[domains]]\nname = \"good.test\"\nca = [\"letsencrypt\"]\n",
            zones.dnssec_toml(),
            hook.url("/hook")
        ),
    );
    let daemon = bench.start();
    bench
        .wait_for("good.test to be checked allowed", || {
            bench
                .status()
                .iter()
                .any(|r| r["domain"] == "good.test" && r["verdict"] == "allowed")
                .then_some(())
        })
        .await;
    assert!(hook.received().is_empty());

    zones.break_good_signatures();
    let requests = hook.wait_for(1).await;
    bench.wait_checks("good.test", 2).await;
    assert_eq!(hook.received().len(), 1, "one alert for one change");
    let body = requests[0].json();
    assert_eq!(body["domain"], "good.test", "{body}");
    assert_eq!(body["event"], "blocking", "{body}");
    assert_eq!(body["severity"], "blocking", "{body}");
    let summary = body["summary"].as_str().unwrap();
    assert!(summary.contains("DNSSEC-bogus"), "{body}");
    assert!(summary.contains("expired at"), "{body}");
    let status = bench.cli_text(&["status"]).unwrap();
    assert!(status.contains("DNSSEC-bogus"), "{status}");

    // The zone is re-signed: the alert is resolved, once.
    zones.repair_good_signatures();
    let requests = hook.wait_for(2).await;
    bench.wait_checks("good.test", 2).await;
    assert_eq!(hook.received().len(), 2, "one resolved message");
    let body = requests[1].json();
    assert_eq!(body["domain"], "good.test", "{body}");
    assert_eq!(body["event"], "resolved", "{body}");
    assert_eq!(daemon.terminate().await, Some(0));
}
