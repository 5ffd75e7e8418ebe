//! The real `certvigil run` binary against a real DNS server on 127.0.0.1
//! whose records change while it runs; `status` and `history` read the
//! database meanwhile; SIGHUP reloads, SIGTERM stops; a restart keeps the
//! history.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use certvigil::checks::caa::CaaRecord;
use serde_json::Value;
use support::dns::{Behaviour, TestDns};

const BIN: &str = env!("CARGO_BIN_EXE_certvigil");
/// Generous: two cores are shared with other builds and tests.
const PATIENCE: Duration = Duration::from_secs(30);

fn issue(ca: &str) -> CaaRecord {
    CaaRecord::new(0, "issue", ca)
}

struct Bench {
    dir: tempfile::TempDir,
    dns: TestDns,
}

impl Bench {
    fn new() -> Bench {
        let dns = TestDns::start_sync();
        dns.set_logging(false);
        Bench {
            dir: tempfile::tempdir().unwrap(),
            dns,
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// Writes the config with `extra` appended (more [[domains]]).
    fn write_config(&self, extra: &str) {
        let text = format!(
            r#"[daemon]
database = "{db}"
schedule = "* * * * * *"
jitter = "0s"
concurrency = 4

[dns]
nameservers = ["{dns}"]
timeout = "1s"

[[domains]]
name = "example.com"
ca = ["letsencrypt"]
{extra}"#,
            db = self.dir.path().join("certvigil.db").display(),
            dns = self.dns.addr(),
        );
        std::fs::write(self.config(), text).unwrap();
    }

    fn start(&self) -> Daemon {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(self.config())
            .env("RUST_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .env_remove("CERTVIGIL_CONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon { child: Some(child) }
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(self.config())
            .env_remove("CERTVIGIL_CONFIG")
            .output()
            .unwrap()
    }

    fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        let out = self.cli(args);
        if !out.status.success() {
            return Vec::new();
        }
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn status(&self) -> Vec<Value> {
        self.json_lines(&["status", "--format", "json"])
    }

    fn history(&self) -> Vec<Value> {
        self.json_lines(&["history", "--format", "json"])
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// Polls `probe` until it returns `Some`, or fails with `what` and the log.
    fn wait_for<T>(&self, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(v) = probe() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; daemon log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The daemon process; killed (SIGKILL) if a test fails before stopping it.
struct Daemon {
    child: Option<Child>,
}

impl Daemon {
    fn pid(&self) -> String {
        self.child.as_ref().unwrap().id().to_string()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn is_running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// SIGTERM, then the exit status and how long it took.
    fn terminate(mut self) -> (std::process::ExitStatus, Duration) {
        let start = Instant::now();
        self.signal("-TERM");
        let mut child = self.child.take().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, start.elapsed());
            }
            if start.elapsed() > PATIENCE {
                let _ = child.kill();
                panic!("the daemon did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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

#[test]
fn the_daemon_records_drift_reloads_stops_and_keeps_history() {
    let bench = Bench::new();
    bench.dns.set_caa("example.com", [issue("letsencrypt.org")]);
    bench.write_config("");
    let mut daemon = bench.start();

    // First check: the baseline, allowed.
    bench.wait_for("example.com to be checked", || {
        find(&bench.status(), "example.com")
            .filter(|r| r["verdict"] == "allowed")
            .cloned()
    });

    // The CAA record changes under the running daemon: drift, now blocking.
    bench.dns.set_caa("example.com", [issue("sectigo.com")]);
    let drift = bench.wait_for("a caa_drift event", || {
        events(&bench.history(), "example.com", "caa_drift")
            .first()
            .map(|e| (*e).clone())
    });
    assert_eq!(drift["before_status"], "allowed");
    assert_eq!(drift["after_status"], "forbidden");
    assert_eq!(drift["blocks"], true);
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
    bench.dns.set_behaviour("example.com", Behaviour::Servfail);
    bench.wait_for("a lookup_error event", || {
        (!events(&bench.history(), "example.com", "lookup_error").is_empty()).then_some(())
    });
    let status = bench.status();
    let row = find(&status, "example.com").unwrap();
    assert_eq!(row["verdict"], "error");
    assert!(
        row["last_error"].as_str().unwrap().contains("SERVFAIL"),
        "{row}"
    );
    bench.dns.clear_behaviour("example.com");
    bench.wait_for("a lookup_recovered event", || {
        (!events(&bench.history(), "example.com", "lookup_recovered").is_empty()).then_some(())
    });
    assert_eq!(
        events(&bench.history(), "example.com", "caa_drift").len(),
        1
    );

    // SIGHUP with a new domain on a once-a-year schedule: only the
    // immediate check of an added domain can have checked it.
    bench.dns.set_caa("example.net", [issue("letsencrypt.org")]);
    bench.write_config(
        "\n[[domains]]\nname = \"example.net\"\nca = [\"letsencrypt\"]\nschedule = \"0 0 0 1 1 *\"\n",
    );
    daemon.signal("-HUP");
    bench.wait_for("example.net to be checked after the reload", || {
        find(&bench.status(), "example.net")
            .filter(|r| r["verdict"] == "allowed")
            .cloned()
    });

    // SIGHUP with a broken config: refused, logged, the old one kept.
    std::fs::write(
        bench.config(),
        "[daemon]\nschedule = \"every now and then\"\n",
    )
    .unwrap();
    daemon.signal("-HUP");
    bench.wait_for("the refused reload in the log", || {
        bench
            .log_text()
            .contains("configuration reload refused")
            .then_some(())
    });
    assert!(
        bench.log_text().contains("daemon.schedule"),
        "{}",
        bench.log_text()
    );
    assert!(daemon.is_running());
    bench.write_config(
        "\n[[domains]]\nname = \"example.net\"\nca = [\"letsencrypt\"]\nschedule = \"0 0 0 1 1 *\"\n",
    );
    // Checks go on under the old configuration.
    let checks_before = find(&bench.status(), "example.com").unwrap()["checks"]
        .as_i64()
        .unwrap();
    bench.wait_for("example.com to be checked again", || {
        let checks = find(&bench.status(), "example.com")?["checks"].as_i64()?;
        (checks > checks_before).then_some(())
    });

    let history_before = bench.history();
    let (status, took) = daemon.terminate();
    assert_eq!(status.code(), Some(0), "log:\n{}", bench.log_text());
    assert!(took < Duration::from_secs(10), "SIGTERM took {took:?}");

    // Restart: all history kept, and the daemon carries on from it.
    let daemon = bench.start();
    bench.dns.set_caa("example.com", [issue("letsencrypt.org")]);
    bench.wait_for("a second caa_drift after the restart", || {
        (events(&bench.history(), "example.com", "caa_drift").len() == 2).then_some(())
    });
    let history_after = bench.history();
    assert_eq!(&history_after[..history_before.len()], &history_before[..]);
    assert!(
        events(&history_after, "example.com", "baseline").len() == 1,
        "a restart must not start a new baseline"
    );
    let (status, _) = daemon.terminate();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_config_with_mistakes_stops_the_daemon_with_exit_code_2() {
    let bench = Bench::new();
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
    let bench = Bench::new();
    bench.write_config("");
    for cmd in ["status", "history"] {
        let out = bench.cli(&[cmd]);
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("there is no database at"),
            "{cmd}: {stderr}"
        );
        assert!(stderr.contains("certvigil run"), "{cmd}: {stderr}");
    }
    assert!(!Path::new(&bench.dir.path().join("certvigil.db")).exists());
}
