//! The real daemon under faults: its storage failing and coming back, a
//! second daemon on the same database, peers that hang (an SMTP server
//! silent after its greeting, a webhook that never answers), and the
//! configuration changing while alerts wait.

use crate::support;

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
    wait_storage_failing(&bench, &notify).await;
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

/// Issue 10: the daemon records checks in batches. With eight domains
/// checked every second, their results share transactions; while writes
/// fail (the file-size limit again), every batch's commit fails. Once
/// writes work, each domain's change seen during the outage is recorded
/// and alerted exactly once: no batch lost another's alert or doubled it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_batches_of_several_domains_alert_each_change_once_after_recovery() {
    let dns = dns().await;
    let domains: Vec<String> = (0..8).map(|i| format!("d{i}.example")).collect();
    for d in &domains {
        dns.set_caa(d, [issue("letsencrypt.org")]);
    }
    let hook = HttpReceiver::ok("{}").await;
    let bench = DaemonBench::new();
    let entries: String = domains.iter().map(|d| domain_toml(d)).collect();
    bench.write_config(
        dns.addr(),
        &format!("{}{entries}", webhook_toml("ops", &hook.url("/hook"))),
    );
    let notify = NotifyListener::start();
    let daemon = bench.start_with(&[("NOTIFY_SOCKET", notify.path.as_os_str())]);
    for d in &domains {
        bench
            .wait_for(&format!("{d} to be checked"), || {
                (bench.checks(d) > 0).then_some(())
            })
            .await;
    }

    limit_file_size(daemon.pid(), Some(4096));
    for d in &domains {
        dns.set_caa(d, [issue("sectigo.com")]);
    }
    wait_storage_failing(&bench, &notify).await;
    // A few cycles of failed batches.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(hook.received().is_empty(), "nothing recorded, nothing sent");

    limit_file_size(daemon.pid(), None);
    hook.wait_for(domains.len()).await;
    for d in &domains {
        bench.wait_checks(d, 2).await;
    }
    let sent = events(&hook);
    let mut alerted: Vec<String> = sent
        .iter()
        .map(|e| {
            assert_eq!(e["event"], "caa_drift", "{e}");
            e["domain"].as_str().unwrap().to_string()
        })
        .collect();
    alerted.sort();
    assert_eq!(alerted, domains, "each change alerted once: {sent:?}");
    let text = bench.cli_text(&["status"]).unwrap();
    assert!(!text.contains("storage failing"), "{text}");
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
    let mut second = std::process::Command::new(support::daemon::BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while second.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = second.kill();
            let _ = second.wait();
            panic!("the second daemon kept running on the first one's database");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = second.wait_with_output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr).into_owned()
        + &String::from_utf8_lossy(&second.stdout);
    assert!(
        err.contains("another certvigil daemon") && err.contains(&format!("(pid {})", first.pid())),
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

/// A TCP server on 127.0.0.1 that accepts, sends `greeting` (if any), reads
/// what comes and never answers: a hung SMTP server or webhook receiver.
/// Holds every connection open; counts them.
struct SilentPeer {
    port: u16,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SilentPeer {
    async fn start(greeting: &'static str) -> Self {
        Self::start_on(
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            greeting,
        )
    }

    fn start_on(listener: tokio::net::TcpListener, greeting: &'static str) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let port = listener.local_addr().unwrap().port();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let _ = stream.write_all(greeting.as_bytes()).await;
                    let mut buf = [0u8; 4096];
                    // Read and discard until the client gives up.
                    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                });
            }
        });
        Self { port, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn email_toml(port: u16, timeout: &str) -> String {
    format!(
        r#"
[[alerts.email]]
name = "ops-mail"
server = "127.0.0.1"
port = {port}
tls = "none"
timeout = "{timeout}"
from = "certvigil <certvigil@example.com>"
to = ["ops@example.com"]
"#
    )
}

/// H2, `alert test`: an SMTP server that sends `220` and then nothing used
/// to hold the command for minutes; now it fails within the channel's
/// `timeout`, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_test_against_an_smtp_server_silent_after_220_fails_in_bounded_time() {
    let smtp = SilentPeer::start("220 silent.example ESMTP\r\n").await;
    let dns = dns().await;
    let bench = DaemonBench::new();
    bench.write_config(
        dns.addr(),
        &format!(
            "{}{}",
            email_toml(smtp.port, "2s"),
            domain_toml("example.com")
        ),
    );
    let started = Instant::now();
    let out = tokio::task::spawn_blocking({
        let config = bench.config();
        move || {
            std::process::Command::new(support::daemon::BIN)
                .args(["alert", "test", "--config"])
                .arg(config)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        text.contains("FAILED  email:ops-mail") && text.contains("stopped answering"),
        "{text}"
    );
    assert!(smtp.connections() >= 1);
}

/// H2, the daemon: the delivery to a silent SMTP server fails after the
/// timeout and the row goes back to pending (retried), instead of staying
/// `sending` forever; SIGTERM is not held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deliverer_gives_up_on_a_silent_smtp_server_and_retries_later() {
    let smtp = SilentPeer::start("220 silent.example ESMTP\r\n").await;
    let dns = dns().await;
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let bench = DaemonBench::new();
    bench.write_config(
        dns.addr(),
        &format!(
            "{}{}",
            email_toml(smtp.port, "2s"),
            domain_toml("example.com")
        ),
    );
    let daemon = bench.start();
    bench
        .wait_for("example.com to be checked", || {
            (bench.checks("example.com") > 0).then_some(())
        })
        .await;
    dns.set_caa("example.com", [issue("sectigo.com")]);
    let text = bench
        .wait_for("the failed attempt to be recorded as a retry", || {
            bench
                .cli_text(&["status"])
                .filter(|t| t.contains("1 attempt, next") && t.contains("stopped answering"))
        })
        .await;
    assert!(text.contains("via email:ops-mail"), "{text}");
    let started = Instant::now();
    assert_eq!(daemon.terminate().await, Some(0));
    assert!(started.elapsed() < Duration::from_secs(6));
}

/// SIGTERM while a webhook delivery hangs: the daemon stops within the
/// documented 5 s grace (it used to wait for the webhook's 30 s timeout),
/// and the delivery is retried, and arrives, after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_hanging_webhook_delivery_stops_within_the_grace_and_retries_after_restart()
 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let hang = SilentPeer::start_on(tokio::net::TcpListener::from_std(listener).unwrap(), "");
    let dns = dns().await;
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let bench = DaemonBench::new();
    let url = format!("http://127.0.0.1:{port}/hook");
    bench.write_config(
        dns.addr(),
        &format!(
            "{}{}",
            webhook_toml("ops", &url),
            domain_toml("example.com")
        ),
    );
    let daemon = bench.start();
    bench
        .wait_for("example.com to be checked", || {
            (bench.checks("example.com") > 0).then_some(())
        })
        .await;
    dns.set_caa("example.com", [issue("sectigo.com")]);
    bench
        .wait_for("the webhook request to be in flight", || {
            (hang.connections() > 0).then_some(())
        })
        .await;
    let started = Instant::now();
    assert_eq!(daemon.terminate().await, Some(0));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "stop took {took:?}");
    assert!(
        bench
            .log_text()
            .contains("were cancelled; they are retried after the restart"),
        "{}",
        bench.log_text()
    );

    // The receiver is fixed; the same URL now answers.
    drop(hang);
    let hook = HttpReceiver::ok("{}").await;
    let url = hook.url("/hook");
    bench.write_config(
        dns.addr(),
        &format!(
            "{}{}",
            webhook_toml("ops", &url),
            domain_toml("example.com")
        ),
    );
    let daemon = bench.start();
    hook.wait_for(1).await;
    bench.wait_checks("example.com", 2).await;
    let sent = events(&hook);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["event"], "caa_drift");
    assert_eq!(daemon.terminate().await, Some(0));
}

/// Starts a daemon whose only webhook (`ops`) points at a dead port, and
/// waits until an alert waits for it. Returns the bench and the daemon.
async fn an_alert_waiting_for_a_dead_webhook(
    dns: &TestDns,
) -> (DaemonBench, support::daemon::Daemon) {
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let dead = format!("http://127.0.0.1:{}/hook", support::smtp::unused_port());
    let bench = DaemonBench::new();
    bench.write_config(
        dns.addr(),
        &format!(
            "{}{}",
            webhook_toml("ops", &dead),
            domain_toml("example.com")
        ),
    );
    let daemon = bench.start();
    bench
        .wait_for("example.com to be checked", || {
            (bench.checks("example.com") > 0).then_some(())
        })
        .await;
    dns.set_caa("example.com", [issue("sectigo.com")]);
    bench
        .wait_for("the alert to wait for a retry", || {
            bench
                .cli_text(&["status"])
                .filter(|t| t.contains("alerts not delivered yet (1)") && t.contains("1 attempt"))
        })
        .await;
    (bench, daemon)
}

/// M1. SIGHUP with an emptied config while an alert waits: refused (it
/// used to be applied as "0 domains" and fail the alert for good); the
/// alert still waits, and goes out once the channel is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_with_an_empty_config_is_refused_and_the_waiting_alert_survives() {
    let dns = dns().await;
    let (bench, daemon) = an_alert_waiting_for_a_dead_webhook(&dns).await;
    std::fs::write(bench.config(), "").unwrap();
    daemon.signal("-HUP");
    bench
        .wait_for("the reload to be refused", || {
            bench
                .log_text()
                .contains("configuration reload refused")
                .then_some(())
        })
        .await;
    let log = bench.log_text();
    assert!(log.contains("allow_no_domains = true"), "{log}");
    assert!(!log.contains("no longer in the configuration"), "{log}");

    let hook = HttpReceiver::ok("{}").await;
    bench.write_config(
        dns.addr(),
        &format!(
            "{}{}",
            webhook_toml("ops", &hook.url("/hook")),
            domain_toml("example.com")
        ),
    );
    // (`status` needs the config to find the database.)
    let text = bench.cli_text(&["status"]).unwrap();
    assert!(text.contains("alerts not delivered yet (1)"), "{text}");
    assert!(!text.contains("given up"), "{text}");
    daemon.signal("-HUP");
    let got = hook.wait_for(1).await;
    assert_eq!(got[0].json()["event"], "caa_drift");
    assert_eq!(daemon.terminate().await, Some(0));
}

/// M1. Fixing a wrong webhook URL while an alert waits: the alert follows
/// the channel (its identity is its name, not a hash of the URL) and is
/// delivered to the new URL, not failed as "channel removed".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_webhook_url_takes_the_waiting_alert_with_it() {
    let dns = dns().await;
    let (bench, daemon) = an_alert_waiting_for_a_dead_webhook(&dns).await;
    let hook = HttpReceiver::ok("{}").await;
    bench.write_config(
        dns.addr(),
        &format!(
            "{}{}",
            webhook_toml("ops", &hook.url("/fixed")),
            domain_toml("example.com")
        ),
    );
    daemon.signal("-HUP");
    let got = hook.wait_for(1).await;
    assert_eq!(got[0].target, "/fixed");
    assert_eq!(got[0].json()["event"], "caa_drift");
    assert_eq!(got[0].json()["domain"], "example.com");
    bench.wait_checks("example.com", 1).await;
    let text = bench.cli_text(&["status"]).unwrap();
    assert!(!text.contains("not delivered"), "{text}");
    assert_eq!(daemon.terminate().await, Some(0));
}

/// With the unit's WatchdogSec (systemd passes WATCHDOG_USEC), the daemon
/// pings WATCHDOG=1 at half the period; without it, never.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_pings_the_systemd_watchdog_only_when_asked() {
    let dns = dns().await;
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    for (usec, wanted) in [(Some("400000"), true), (None, false)] {
        let bench = DaemonBench::new();
        bench.write_config(dns.addr(), &domain_toml("example.com"));
        let notify = NotifyListener::start();
        let mut env = vec![("NOTIFY_SOCKET", notify.path.as_os_str())];
        if let Some(usec) = usec {
            env.push(("WATCHDOG_USEC", std::ffi::OsStr::new(usec)));
        }
        let daemon = bench.start_with(&env);
        bench
            .wait_for("the daemon to be ready", || {
                notify.last_status().filter(|s| s.starts_with("watching"))
            })
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let pings = notify.watchdog_pings();
        if wanted {
            assert!(pings >= 3, "{pings} pings in 1.5 s at a 0.4 s WatchdogSec");
        } else {
            assert_eq!(pings, 0);
        }
        drop(daemon);
    }
}

/// Waits for the daemon's sd-notify STATUS= to say storage is failing.
async fn wait_storage_failing(bench: &DaemonBench, notify: &NotifyListener) {
    bench
        .wait_for("STATUS= to say storage is failing", || {
            notify
                .last_status()
                .filter(|s| s.starts_with("storage failing since"))
        })
        .await;
}
