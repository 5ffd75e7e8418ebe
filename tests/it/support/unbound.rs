//! A validating recursive resolver: Debian's unbound, started by the test
//! (no system service) on a free loopback port, in a temp dir, in front of
//! the signed hierarchy of `support::signed_zones`. Its trust anchor is a
//! DS file (the test root's, or another to make it disagree), and every
//! zone NSD serves is a stub zone at NSD's address: the iterator asks NSD
//! for each zone directly, never a delegation's port 53.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::signed_zones::{SignedZones, ZONES, free_port, wait_for_root_soa};

pub struct Unbound {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Child,
}

impl Unbound {
    /// unbound validating with `trust_anchor` (a file of root DS records)
    /// in front of `zones`.
    pub fn start(zones: &SignedZones, trust_anchor: &Path) -> Unbound {
        Self::start_with(zones, trust_anchor, "")
    }

    /// [`Unbound::start`] with more `server:` lines (e.g. a negative
    /// trust anchor, `domain-insecure: "good.test"`).
    pub fn start_with(zones: &SignedZones, trust_anchor: &Path, extra: &str) -> Unbound {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut stubs = String::new();
        for (zone, _) in ZONES {
            stubs.push_str(&format!(
                "stub-zone:\n    name: \"{zone}\"\n    stub-addr: {}@{}\n",
                zones.addr.ip(),
                zones.addr.port()
            ));
        }
        // Minimal: listen, log to a file, run in the foreground as the
        // caller. `do-not-query-localhost: no` lets it ask NSD on
        // loopback; `test.` is one of unbound's default local zones
        // (RFC 6761), served empty unless told otherwise.
        let conf = format!(
            r#"server:
    interface: 127.0.0.1
    port: {port}
    do-ip6: no
    do-daemonize: no
    num-threads: 1
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    logfile: "{dir}/unbound.log"
    use-syslog: no
    verbosity: 1
    val-log-level: 2
    module-config: "validator iterator"
    trust-anchor-file: "{anchor}"
    do-not-query-localhost: no
    local-zone: "test." nodefault
{extra}
remote-control:
    control-enable: no
{stubs}"#,
            dir = d.display(),
            anchor = trust_anchor.display(),
        );
        let path = d.join("unbound.conf");
        std::fs::write(&path, conf).unwrap();
        let check = Command::new("unbound-checkconf")
            .arg(&path)
            .output()
            .expect("unbound (Debian package unbound) must be installed: scripts/test installs it");
        assert!(
            check.status.success(),
            "unbound-checkconf: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new("unbound")
            .args(["-d", "-c"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unbound must be installed: scripts/test installs it");
        let unbound = Unbound { addr, dir, child };
        unbound.wait_ready();
        unbound
    }

    /// What unbound logged (validation failures at `val-log-level: 2`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("unbound.log")).unwrap_or_default()
    }

    /// Waits until unbound answers a query for the root SOA (any answer
    /// code: it is up once it replies at all).
    fn wait_ready(&self) {
        wait_for_root_soa(self.addr, "unbound", |_| true, || self.log());
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
