//! Issue 10, item 1: `certvigil check` and the daemon run one engine, so
//! for the same target they produce the same findings, byte for byte in
//! JSON. The real binary both ways: `check --format json` against the
//! loopback DNS server and site, and `certvigil run` (DaemonBench) whose
//! latest report `status --format json` shows.
//!
//! The target is validated by file, and its CAA record allows only ACME
//! http-01 (RFC 8657 validationmethods): the case where the old daemon
//! passed "file" to the RFC 8657 judge and advised
//! `CAA 0 issue "sectigo.com; validationmethods=file"` while `check` did not.

use crate::support;

use std::net::Ipv4Addr;

use certvigil::checks::caa::CaaRecord;
use serde::Deserialize;
use serde_json::value::RawValue;
use support::daemon::DaemonBench;
use support::dns::TestDns;
use support::site::TestSite;

const NAME: &str = "shop.parity.test";

/// A `status --format json` line, its `report` kept as the bytes printed.
#[derive(Deserialize)]
struct StatusLine {
    domain: String,
    ca: String,
    report: Option<Box<RawValue>>,
}

/// The probe's timings are the one thing two runs cannot share: every
/// `"elapsed_ms":N` becomes `"elapsed_ms":0`; every other byte is kept.
fn without_timings(json: &str) -> String {
    const KEY: &str = "\"elapsed_ms\":";
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(at) = rest.find(KEY) {
        out.push_str(&rest[..at + KEY.len()]);
        out.push('0');
        rest = rest[at + KEY.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_the_daemon_report_the_same_findings_byte_for_byte() {
    let dns = TestDns::start().await;
    dns.set_logging(false);
    dns.set_caa(
        NAME,
        [CaaRecord::new(
            0,
            "issue",
            "sectigo.com; validationmethods=http-01",
        )],
    );
    dns.set_a(NAME, &[Ipv4Addr::LOCALHOST]);
    let site = TestSite::start(NAME);
    let bench = DaemonBench::new();
    bench.write_config(
        dns.addr(),
        &format!(
            r#"
[reach]
http_port = {http}
https_port = {https}

[[domains]]
name = "{NAME}"
ca = ["sectigo"]
validation_method = "file"
"#,
            http = site.http.port(),
            https = site.https.port(),
        ),
    );

    let daemon = bench.start();
    let report = bench
        .wait_for("the daemon's report in status --format json", || {
            let out = bench.cli_text(&["status", "--format", "json"])?;
            out.lines()
                .map(|l| serde_json::from_str::<StatusLine>(l).unwrap())
                .find(|l| l.domain == NAME && l.ca == "sectigo")
                .and_then(|l| l.report)
        })
        .await;
    assert_eq!(daemon.terminate().await, Some(0));
    let daemon_json = report.get().to_string();

    let out = bench.cli(&["check", "--format", "json", NAME]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let check_json = lines[0];

    assert_eq!(without_timings(check_json), without_timings(&daemon_json));

    // What they agree on is the RFC 8657 reading: file validation is no
    // ACME method, so the record's http-01 restriction is not satisfied,
    // and the fix never names a "file" method label.
    let r: serde_json::Value = serde_json::from_str(check_json).unwrap();
    assert_eq!(r["caa"]["verdict"], "forbidden", "{r}");
    assert_eq!(r["reach"]["method"], "file", "{r}");
    assert_eq!(r["reach"]["verdict"], "reachable", "{r}");
    let remedy = r["caa"]["remedy"].as_str().unwrap();
    assert!(!remedy.contains("validationmethods=file"), "{remedy}");
    assert!(
        remedy.contains(&format!("{NAME}. CAA 0 issue \"sectigo.com\"")),
        "{remedy}"
    );
    assert!(
        !site.hits().is_empty(),
        "both probed the validation path on the site"
    );
}
