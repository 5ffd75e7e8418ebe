//! The real `certvigil run` binary against a real DNS server on 127.0.0.1
//! whose records change while it runs; `status` and `history` read the
//! database meanwhile; SIGHUP reloads, SIGTERM stops; a restart keeps the
//! history.

use crate::support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use certvigil::checks::caa::CaaRecord;
use serde_json::Value;
use support::daemon::{BIN, DaemonBench};
use support::dns::{Behaviour, TestDns};

fn issue(ca: &str) -> CaaRecord {
    CaaRecord::new(0, "issue", ca)
}

fn dns() -> TestDns {
    let dns = TestDns::start_sync();
    dns.set_logging(false);
    dns
}

/// The config: example.com for Let's Encrypt, then `extra` (more [[domains]]).
fn write_config(bench: &DaemonBench, dns: &TestDns, extra: &str) {
    bench.write_config(
        dns.addr(),
        &format!("\n[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\n{extra}"),
    );
}

fn find<'a>(rows: &'a [Value], domain: &str) -> Option<&'a Value> {
    rows.iter().find(|r| r["domain"] == domain)
}

fn events<'a>(history: &'a [Value], domain: &str, kind: &str) -> Vec<&'a Value> {
    history
        .iter()
        .filter(|e| e["domain"] == domain && e["event"] == kind)
        .collect()
}

#[tokio::test]
async fn the_daemon_records_drift_reloads_stops_and_keeps_history() {
    let bench = DaemonBench::new();
    let dns = dns();
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    write_config(&bench, &dns, "");
    let mut daemon = bench.start();

    // First check: the baseline, allowed.
    bench
        .wait_for("example.com to be checked", || {
            find(&bench.status(), "example.com")
                .filter(|r| r["verdict"] == "allowed")
                .cloned()
        })
        .await;
    // `status` is a monitoring check: 0 while nothing blocks.
    assert_eq!(bench.cli(&["status"]).status.code(), Some(0));

    // The CAA record changes under the running daemon: drift, now blocking.
    dns.set_caa("example.com", [issue("sectigo.com")]);
    let drift = bench
        .wait_for("a caa_drift event", || {
            events(&bench.history(), "example.com", "caa_drift")
                .first()
                .map(|e| (*e).clone())
        })
        .await;
    assert_eq!(drift["before_status"], "allowed");
    assert_eq!(drift["after_status"], "forbidden");
    assert_eq!(drift["blocks"], true);
    // ... and 1 while something blocks, in either format.
    assert_eq!(bench.cli(&["status"]).status.code(), Some(1));
    let json = bench.cli(&["status", "--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    assert_eq!(drift["diff"]["removed"][0]["value"], "letsencrypt.org");
    assert_eq!(drift["diff"]["added"][0]["value"], "sectigo.com");
    let text = String::from_utf8(bench.cli(&["history", "example.com"]).stdout).unwrap();
    assert!(
        text.contains("caa_drift  allowed -> forbidden  (blocks letsencrypt)"),
        "{text}"
    );
    assert!(text.contains("    - 0 issue \"letsencrypt.org\""), "{text}");
    assert!(text.contains("    + 0 issue \"sectigo.com\""), "{text}");

    // SERVFAIL, then the same records again: an error state and a recovery,
    // not a second drift.
    dns.set_behaviour("example.com", Behaviour::Servfail);
    bench
        .wait_for("a lookup_error event", || {
            (!events(&bench.history(), "example.com", "lookup_error").is_empty()).then_some(())
        })
        .await;
    let status = bench.status();
    let row = find(&status, "example.com").unwrap();
    assert_eq!(row["verdict"], "error");
    assert!(
        row["last_error"].as_str().unwrap().contains("SERVFAIL"),
        "{row}"
    );
    dns.clear_behaviour("example.com");
    bench
        .wait_for("a lookup_recovered event", || {
            (!events(&bench.history(), "example.com", "lookup_recovered").is_empty()).then_some(())
        })
        .await;
    assert_eq!(
        events(&bench.history(), "example.com", "caa_drift").len(),
        1
    );

    // SIGHUP with a new domain on a once-a-year schedule: only the
    // immediate check of an added domain can have checked it.
    dns.set_caa("example.net", [issue("letsencrypt.org")]);
    write_config(
        &bench,
        &dns,
        "\n[[domains]]\nname = \"example.net\"\nca = [\"letsencrypt\"]\nschedule = \"0 0 0 1 1 *\"\n",
    );
    daemon.signal("-HUP");
    bench
        .wait_for("example.net to be checked after the reload", || {
            find(&bench.status(), "example.net")
                .filter(|r| r["verdict"] == "allowed")
                .cloned()
        })
        .await;

    // SIGHUP with a broken config: refused, logged, the old one kept.
    std::fs::write(
        bench.config(),
        "[daemon]\nschedule = \"every now and then\"\n",
    )
    .unwrap();
    daemon.signal("-HUP");
    bench
        .wait_for("the refused reload in the log", || {
            bench
                .log_text()
                .contains("configuration reload refused")
                .then_some(())
        })
        .await;
    assert!(
        bench.log_text().contains("daemon.schedule"),
        "{}",
        bench.log_text()
    );
    assert!(daemon.is_running());
    write_config(
        &bench,
        &dns,
        "\n[[domains]]\nname = \"example.net\"\nca = [\"letsencrypt\"]\nschedule = \"0 0 0 1 1 *\"\n",
    );
    // Checks go on under the old configuration.
    let checks_before = find(&bench.status(), "example.com").unwrap()["checks"]
        .as_i64()
        .unwrap();
    bench
        .wait_for("example.com to be checked again", || {
            let checks = find(&bench.status(), "example.com")?["checks"].as_i64()?;
            (checks > checks_before).then_some(())
        })
        .await;

    let history_before = bench.history();
    let stopping = Instant::now();
    let code = daemon.terminate().await;
    let took = stopping.elapsed();
    assert_eq!(code, Some(0), "log:\n{}", bench.log_text());
    assert!(took < Duration::from_secs(10), "SIGTERM took {took:?}");

    // Restart: all history kept, and the daemon carries on from it.
    let daemon = bench.start();
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    bench
        .wait_for("a second caa_drift after the restart", || {
            (events(&bench.history(), "example.com", "caa_drift").len() == 2).then_some(())
        })
        .await;
    let history_after = bench.history();
    assert_eq!(&history_after[..history_before.len()], &history_before[..]);
    assert!(
        events(&history_after, "example.com", "baseline").len() == 1,
        "a restart must not start a new baseline"
    );
    assert_eq!(daemon.terminate().await, Some(0));
}

#[test]
fn a_config_with_mistakes_stops_the_daemon_with_exit_code_2() {
    let bench = DaemonBench::new();
    std::fs::write(
        bench.config(),
        "[daemon]\nconcurrency = \"lots\"\n\n[[domains]]\nname = \"example..com\"\nca = [\"letsencrypt\"]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(bench.config())
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("config.toml:2:"), "{stderr}");
    assert!(stderr.contains("example..com"), "{stderr}");
    assert!(!bench.dir.path().join("certvigil.db").exists());
}

#[test]
fn status_and_history_without_a_database_say_so() {
    let bench = DaemonBench::new();
    let dns = dns();
    write_config(&bench, &dns, "");
    for cmd in ["status", "history"] {
        let out = bench.cli(&[cmd]);
        // status: 2, cannot tell (a monitoring check); history: 1.
        let code = if cmd == "status" { 2 } else { 1 };
        assert_eq!(out.status.code(), Some(code), "{cmd}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("there is no database at"),
            "{cmd}: {stderr}"
        );
        assert!(stderr.contains("certvigil run"), "{cmd}: {stderr}");
    }
    assert!(!Path::new(&bench.dir.path().join("certvigil.db")).exists());
}

/// Issue 11: with no resolver on the configured address the first log
/// lines said nothing of the cause, and the status blamed the zone. Now the
/// first WARN about the failing check says it is the resolver.
#[tokio::test]
async fn a_dead_resolver_is_named_in_the_first_warning() {
    let bench = DaemonBench::new();
    // Nothing listens on the discard port of loopback.
    bench.write_config(
        "127.0.0.1:9".parse().unwrap(),
        "\n[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\n",
    );
    let daemon = bench.start();
    let line = bench
        .wait_for("a warning about the failing check", || {
            bench
                .log_text()
                .lines()
                .find(|l| l.contains("WARN") && l.contains("example.com"))
                .map(str::to_string)
        })
        .await;
    assert!(
        line.contains("the resolver certvigil asks, not the zone's servers"),
        "{line}"
    );
    let out = bench.cli(&["check", "example.com", "--ca", "letsencrypt"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Your resolver is unreachable"), "{text}");
    assert!(!text.contains("Fix the name servers"), "{text}");
    daemon.terminate().await;
}
