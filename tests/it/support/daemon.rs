//! The real `certvigil run` binary as a child process, with a config and a
//! database in a temporary directory, and the CLI (`status`, `history`,
//! `orders list`) run against the same config. For tests that run inside a
//! tokio runtime (their loopback servers are async): waits poll with
//! `tokio::time::sleep`, under a deadline that only stops a broken test.
// Each test binary uses part of the bench.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_certvigil");
/// Generous: two cores are shared with other builds and tests.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct DaemonBench {
    pub dir: tempfile::TempDir,
}

impl DaemonBench {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config(&self) -> PathBuf {
        self.path("config.toml")
    }

    pub fn database(&self) -> PathBuf {
        self.path("certvigil.db")
    }

    pub fn log(&self) -> PathBuf {
        self.path("daemon.log")
    }

    /// `[daemon]` checking every second without jitter, `[dns]` at
    /// `nameserver` with a short timeout, then `rest`.
    pub fn write_config(&self, nameserver: std::net::SocketAddr, rest: &str) {
        let text = format!(
            r#"[daemon]
database = "{db}"
schedule = "* * * * * *"
jitter = "0s"
concurrency = 4

[dns]
nameservers = ["{nameserver}"]
timeout = "1s"
{rest}"#,
            db = self.database().display(),
        );
        std::fs::write(self.config(), text).unwrap();
    }

    /// A file holding `value` (a secret), its path for the config.
    pub fn secret(&self, name: &str, value: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, format!("{value}\n")).unwrap();
        p.display().to_string()
    }

    pub fn start(&self) -> Daemon {
        self.start_with(&[])
    }

    /// [`DaemonBench::start`] with extra environment variables (e.g.
    /// `NOTIFY_SOCKET` for a [`NotifyListener`]).
    pub fn start_with(&self, env: &[(&str, &std::ffi::OsStr)]) -> Daemon {
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
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .spawn()
            .unwrap();
        Daemon { child: Some(child) }
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(self.config())
            .env_remove("CERTVIGIL_CONFIG")
            .output()
            .unwrap()
    }

    /// The command's stdout when it succeeds, else `None`. `status` exits
    /// 1 (something blocks) or 2 (cannot tell) with a full report: that
    /// counts as printed.
    pub fn cli_text(&self, args: &[&str]) -> Option<String> {
        let out = self.cli(args);
        let verdict = args.first() == Some(&"status")
            && matches!(out.status.code(), Some(1 | 2))
            && !out.stdout.is_empty();
        (out.status.success() || verdict).then(|| String::from_utf8(out.stdout).unwrap())
    }

    pub fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        self.cli_text(args)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn status(&self) -> Vec<Value> {
        self.json_lines(&["status", "--format", "json"])
    }

    pub fn history(&self) -> Vec<Value> {
        self.json_lines(&["history", "--format", "json"])
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// Polls `probe` until it returns `Some`, or fails with `what` and the
    /// daemon's log.
    pub async fn wait_for<T>(&self, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
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
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The number of checks recorded for `domain` (summed over its CAs).
    pub fn checks(&self, domain: &str) -> i64 {
        self.status()
            .iter()
            .filter(|r| r["domain"] == domain)
            .filter_map(|r| r["checks"].as_i64())
            .sum()
    }

    /// Waits until `domain` was checked `n` more times: "nothing more came"
    /// is then a statement about `n` further checks, not about a time.
    pub async fn wait_checks(&self, domain: &str, n: i64) {
        let target = self.checks(domain) + n;
        self.wait_for(&format!("{n} more checks of {domain}"), || {
            (self.checks(domain) >= target).then_some(())
        })
        .await;
    }
}

/// The daemon process; killed (SIGKILL) if a test fails before stopping it.
pub struct Daemon {
    child: Option<Child>,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Waits for the process to exit on its own, up to `limit`; its exit
    /// code, or `None` when it still runs.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<Option<i32>> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return Some(status.code());
            }
            if start.elapsed() > limit {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let ok = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(ok.success());
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// SIGTERM, and waits for the exit; returns the exit code.
    pub async fn terminate(mut self) -> Option<i32> {
        let start = Instant::now();
        self.signal("-TERM");
        let mut child = self.child.take().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if start.elapsed() > PATIENCE {
                let _ = child.kill();
                panic!("the daemon did not exit after SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
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

/// A systemd notification socket (`NOTIFY_SOCKET`): records every datagram
/// the daemon sends (`READY=1`, `STATUS=...`), in order.
pub struct NotifyListener {
    pub path: PathBuf,
    received: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl NotifyListener {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = received.clone();
        // Ends with the test process; the socket file goes with the dir.
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push(text);
            }
        });
        Self {
            path,
            received,
            _dir: dir,
        }
    }

    /// Every `STATUS=` value received so far, in order.
    pub fn statuses(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|m| m.lines().map(str::to_string).collect::<Vec<_>>())
            .filter_map(|l| l.strip_prefix("STATUS=").map(str::to_string))
            .collect()
    }

    /// How many `WATCHDOG=1` pings arrived so far.
    pub fn watchdog_pings(&self) -> usize {
        self.received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|m| m.lines().map(str::to_string).collect::<Vec<_>>())
            .filter(|l| l == "WATCHDOG=1")
            .count()
    }

    /// The last `STATUS=` value.
    pub fn last_status(&self) -> Option<String> {
        self.statuses().pop()
    }
}
