//! The real daemon under faults: its storage failing and coming back, a
//! second daemon on the same database, peers that hang (an SMTP server
//! silent after its greeting, a webhook that never answers), and the
//! configuration changing while alerts wait.

mod support;

use std::time::{Duration, Instant};

use certvigil::checks::caa::CaaRecord;
use serde_json::Value;
use support::daemon::{DaemonBench, NotifyListener};
use support::dns::TestDns;
use support::http::HttpReceiver;

fn issue(ca: &str) -> CaaRecord {
    CaaRecord::new(0, "issue", ca)
}

fn webhook_toml(name: &str, url: &str) -> String {
    format!("\n[[alerts.webhook]]\nname = \"{name}\"\nurl = \"{url}\"\nformat = \"generic\"\n")
}

fn domain_toml(name: &str) -> String {
    format!("\n[[domains]]\nname = \"{name}\"\nca = [\"letsencrypt\"]\n")
}

async fn dns() -> TestDns {
    let dns = TestDns::start().await;
    dns.set_logging(false);
    dns
}

fn events(hook: &HttpReceiver) -> Vec<Value> {
    hook.received().iter().map(|r| r.json()).collect()
}

/// Sets the soft RLIMIT_FSIZE of another process of ours (prlimit(2)
/// needs no privilege for that); `None` lifts it to the hard limit.
fn limit_file_size(pid: u32, bytes: Option<u64>) {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let pid = pid as libc::pid_t;
    // SAFETY: plain syscalls on valid pointers to local structs.
    let got = unsafe { libc::prlimit(pid, libc::RLIMIT_FSIZE, std::ptr::null(), &mut old) };
    assert_eq!(got, 0, "prlimit get: {}", std::io::Error::last_os_error());
    let new = libc::rlimit {
        rlim_cur: bytes.unwrap_or(old.rlim_max),
        rlim_max: old.rlim_max,
    };
    let set = unsafe { libc::prlimit(pid, libc::RLIMIT_FSIZE, &new, std::ptr::null_mut()) };
    assert_eq!(set, 0, "prlimit set: {}", std::io::Error::last_os_error());
}

/// H1. A file-size limit on the daemon makes every write of the database
/// and its WAL fail with EFBIG (what a full disk or EROFS does, without
/// root): COMMITs fail and SQLite rolls back by itself. Before, sqlx kept
/// each such connection "inside a transaction" and returned it to the
/// pool; after four, the daemon never wrote again. Now it reports storage
/// failing (sd-notify STATUS and `status`), and once writes work the CAA
/// change seen during the outage is recorded and alerted, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_outage_is_reported_and_survived_without_losing_the_alert() {
    let dns = dns().await;
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let hook = HttpReceiver::ok("{}").await;
    let bench = DaemonBench::new();
    bench.write_config(
        dns.addr(),
        &format!(
            "{}{}",
            webhook_toml("ops", &hook.url("/hook")),
            domain_toml("example.com")
        ),
    );
    let notify = NotifyListener::start();
    let daemon = bench.start_with(&[("NOTIFY_SOCKET", notify.path.as_os_str())]);
    bench
        .wait_for("example.com to be checked", || {
            (bench.checks("example.com") > 0).then_some(())
        })
        .await;

    limit_file_size(daemon.pid(), Some(4096));
    dns.set_caa("example.com", [issue("sectigo.com")]);
    bench
        .wait_for("STATUS= to say storage is failing", || {
            notify
                .last_status()
                .filter(|s| s.starts_with("storage failing since"))
        })
        .await;
    let text = bench
        .wait_for("`status` to say storage is failing", || {
            bench
                .cli_text(&["status"])
                .filter(|t| t.contains("daemon: storage failing since"))
        })
        .await;
    assert!(text.contains("failed writes"), "{text}");
    // More failed commits than the pool has connections (four): each one
    // used to leave a connection wedged.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(hook.received().is_empty(), "nothing recorded, nothing sent");

    limit_file_size(daemon.pid(), None);
    hook.wait_for(1).await;
    bench
        .wait_for("STATUS= back to normal", || {
            notify
                .last_status()
                .filter(|s| s.starts_with("watching 1 domains"))
        })
        .await;
    bench.wait_checks("example.com", 2).await;
    let sent = events(&hook);
    assert_eq!(sent.len(), 1, "one alert, not lost, not doubled: {sent:?}");
    assert_eq!(sent[0]["event"], "caa_drift");
    assert_eq!(sent[0]["after"]["records"][0]["value"], "sectigo.com");
    let text = bench.cli_text(&["status"]).unwrap();
    assert!(!text.contains("storage failing"), "{text}");
    let log = bench.log_text();
    assert!(
        !log.contains("non-zero transaction depth"),
        "the pool never wedges:\n{log}"
    );
    assert_eq!(daemon.terminate().await, Some(0));
}

/// M1. A second daemon on the same database (another config) is refused
/// with a clear error, and the first one keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_database_is_refused() {
    let dns = dns().await;
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let bench = DaemonBench::new();
    bench.write_config(dns.addr(), &domain_toml("example.com"));
    let mut first = bench.start();
    bench
        .wait_for("example.com to be checked", || {
            (bench.checks("example.com") > 0).then_some(())
        })
        .await;

    let other = tempfile::tempdir().unwrap();
    let config = other.path().join("other.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\ndatabase = \"{}\"\n[dns]\nnameservers = [\"{}\"]\n{}",
            bench.database().display(),
            dns.addr(),
            domain_toml("other.example")
        ),
    )
    .unwrap();
    let started = Instant::now();
    let second = std::process::Command::new(support::daemon::BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr).into_owned()
        + &String::from_utf8_lossy(&second.stdout);
    assert!(
        err.contains("another certvigil daemon")
            && err.contains(&format!("(pid {})", first.pid())),
        "{err}"
    );
    assert!(first.is_running());
    // The first one's target was not retired by the second.
    bench.wait_checks("example.com", 1).await;
    assert!(
        !bench
            .status()
            .iter()
            .any(|r| r["domain"] == "other.example")
    );
    assert_eq!(first.terminate().await, Some(0));
}
