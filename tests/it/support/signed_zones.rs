//! A small signed DNS hierarchy on loopback, built by the test: a test root
//! `.`, the TLD `test.` and one child zone per case under it, signed with
//! `dnssec-keygen`/`dnssec-signzone` (Debian bind9-utils) and served by
//! one NSD (Debian nsd) on 127.0.0.1:<free port>. NSD is authoritative for
//! every zone, so certvigil can use it as its "resolver": it answers each
//! question from the closest zone, and DS from the parent. The root's DS
//! set is the trust anchor (`[dnssec] trust_anchor_file`).
//!
//! Cases (children of `test.`):
//! - `good.test`: signed (NSEC), `CAA 0 issue "letsencrypt.org"`, and
//!   `alias.good.test CNAME www.nsec3.test`, and a wildcard CAA at
//!   `*.wild.good.test` (below the empty non-terminal `wild.good.test`),
//!   and an order's validation record `_dnsauth TXT "token-good"`;
//! - `nsec3.test`: signed with NSEC3, no CAA anywhere (`www` has an A);
//! - `expired.test`: signed with signatures that expired three days ago,
//!   with `_dnsauth TXT "token-expired"`;
//! - `staleds.test`: signed, but the DS in `test.` is of another key;
//! - `plain.test`: not signed, no DS: insecure, `CAA 0 issue "sectigo.com"`.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every zone NSD serves, and its file: a resolver in front of it needs a
/// stub for each (`support::unbound`).
pub const ZONES: [(&str, &str); 7] = [
    (".", "root.signed"),
    ("test.", "test.signed"),
    ("good.test.", "good.test.signed"),
    ("nsec3.test.", "nsec3.test.signed"),
    ("expired.test.", "expired.test.signed"),
    ("staleds.test.", "staleds.test.signed"),
    ("plain.test.", "plain.test"),
];

pub struct SignedZones {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    nsd: Option<Child>,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn stamp(offset_days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(offset_days))
        .format("%Y%m%d%H%M%S")
        .to_string()
}

fn head(origin: &str) -> String {
    format!(
        "$TTL 300\n$ORIGIN {origin}\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300\n@ IN NS ns.test.\n"
    )
}

/// A key for `zone` in `keys/`; its file base name (`K<zone>+013+<tag>`).
/// Published and active since 60 days, so zones can be signed with dates
/// in the past.
fn keygen(dir: &Path, zone: &str) -> String {
    let since = stamp(-60);
    run(Command::new("dnssec-keygen").current_dir(dir).args([
        "-q",
        "-K",
        "keys",
        "-a",
        "ECDSAP256SHA256",
        "-f",
        "KSK",
        "-n",
        "ZONE",
        "-P",
        &since,
        "-A",
        &since,
        zone,
    ]))
    .trim()
    .to_string()
}

fn key_line(dir: &Path, base: &str) -> String {
    std::fs::read_to_string(dir.join("keys").join(format!("{base}.key")))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with(';'))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Signs `zones/<file>` for `origin` with its key, writing `<file>.signed`
/// and `dsset-<origin>` into `dir`.
fn sign(dir: &Path, origin: &str, file: &str, base: &str, extra: &[&str]) {
    let zone = dir.join("zones").join(file);
    let mut text = std::fs::read_to_string(&zone).unwrap();
    text.push_str(&key_line(dir, base));
    std::fs::write(&zone, text).unwrap();
    let mut cmd = Command::new("dnssec-signzone");
    cmd.current_dir(dir.join("zones"))
        // -P: no post-signing verification, which refuses expired signatures.
        .args(["-q", "-P", "-z", "-K", "../keys", "-d", ".."])
        .args(extra)
        .args(["-o", origin, "-f"])
        .arg(format!("{file}.signed"))
        .arg(file)
        .arg(format!("../keys/{base}.private"));
    run(&mut cmd);
}

fn dsset(dir: &Path, origin: &str) -> String {
    std::fs::read_to_string(dir.join(format!("dsset-{origin}"))).unwrap()
}

impl SignedZones {
    pub fn start() -> SignedZones {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("keys")).unwrap();
        std::fs::create_dir_all(d.join("zones")).unwrap();
        let write =
            |file: &str, text: String| std::fs::write(d.join("zones").join(file), text).unwrap();

        // The children, bottom up.
        write(
            "good.test",
            head("good.test.")
                + "@ IN CAA 0 issue \"letsencrypt.org\"\nwww IN A 127.0.0.1\nalias IN CNAME www.nsec3.test.\n*.wild IN CAA 0 issue \"sectigo.com\"\n_dnsauth IN TXT \"token-good\"\n",
        );
        let good = keygen(d, "good.test.");
        sign(d, "good.test.", "good.test", &good, &[]);

        write("nsec3.test", head("nsec3.test.") + "www IN A 127.0.0.1\n");
        let nsec3 = keygen(d, "nsec3.test.");
        sign(
            d,
            "nsec3.test.",
            "nsec3.test",
            &nsec3,
            &["-3", "aabbccdd", "-H", "0"],
        );

        write(
            "expired.test",
            head("expired.test.")
                + "@ IN CAA 0 issue \"letsencrypt.org\"\n_dnsauth IN TXT \"token-expired\"\n",
        );
        let expired = keygen(d, "expired.test.");
        // Expired three days ago: beyond the clock skew validators allow
        // (unbound: a tenth of the validity period, at most a day).
        let (s, e) = (stamp(-30), stamp(-3));
        sign(
            d,
            "expired.test.",
            "expired.test",
            &expired,
            &["-s", &s, "-e", &e],
        );

        write(
            "staleds.test",
            head("staleds.test.") + "@ IN CAA 0 issue \"letsencrypt.org\"\n",
        );
        let staleds = keygen(d, "staleds.test.");
        sign(d, "staleds.test.", "staleds.test", &staleds, &[]);
        // The DS the registrar still has: of a key the zone no longer uses.
        let old = keygen(d, "staleds.test.");
        let stale_ds = run(Command::new("dnssec-dsfromkey")
            .current_dir(d)
            .args(["-2", &format!("keys/{old}.key")]));

        write(
            "plain.test",
            head("plain.test.") + "@ IN CAA 0 issue \"sectigo.com\"\n",
        );

        // The TLD: delegations, DS of the signed children.
        let mut tld = head("test.") + "ns IN A 127.0.0.1\n";
        for child in ["good", "nsec3", "expired", "staleds", "plain"] {
            tld.push_str(&format!("{child} IN NS ns.test.\n"));
        }
        for child in ["good.test.", "nsec3.test.", "expired.test."] {
            tld.push_str(&dsset(d, child));
        }
        tld.push_str(&stale_ds);
        write("test", tld);
        let tld_key = keygen(d, "test.");
        sign(d, "test.", "test", &tld_key, &[]);

        // The root.
        write(
            "root",
            head(".") + "test. IN NS ns.test.\nns.test. IN A 127.0.0.1\n" + &dsset(d, "test."),
        );
        let root_key = keygen(d, ".");
        sign(d, ".", "root", &root_key, &[]);
        std::fs::write(d.join("root.ds"), dsset(d, ".")).unwrap();

        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut zones = String::new();
        for (name, file) in ZONES {
            zones.push_str(&format!(
                "zone:\n    name: \"{name}\"\n    zonefile: \"{}\"\n",
                d.join("zones").join(file).display()
            ));
        }
        let conf = format!(
            r#"server:
    ip-address: 127.0.0.1@{port}
    port: {port}
    username: ""
    chroot: ""
    zonesdir: "{dir}"
    database: ""
    zonelistfile: "{dir}/zone.list"
    xfrdfile: "{dir}/xfrd.state"
    xfrdir: "{dir}"
    pidfile: "{dir}/nsd.pid"
    logfile: "{dir}/nsd.log"
    server-count: 1
    verbosity: 1
    hide-version: yes
remote-control:
    control-enable: no
{zones}"#,
            dir = d.display()
        );
        std::fs::write(d.join("nsd.conf"), conf).unwrap();
        let mut zones = SignedZones {
            dir,
            addr,
            nsd: None,
        };
        zones.start_nsd();
        zones
    }

    fn start_nsd(&mut self) {
        let d = self.dir.path();
        run(Command::new("nsd-checkconf").arg(d.join("nsd.conf")));
        let child = Command::new("nsd")
            .args(["-d", "-c"])
            .arg(d.join("nsd.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nsd (Debian package nsd) must be installed: scripts/test installs it");
        self.nsd = Some(child);
        self.wait_ready();
    }

    /// Waits until NSD answers the root SOA (a failure guard: NSD loads
    /// the zones after it starts): an answer without error with a record.
    fn wait_ready(&self) {
        wait_for_root_soa(
            self.addr,
            "nsd",
            |reply| reply[3] & 0x0f == 0 && reply[7] > 0,
            || std::fs::read_to_string(self.dir.path().join("nsd.log")).unwrap_or_default(),
        );
    }

    /// The root's DS records: the trust anchor file.
    pub fn trust_anchor(&self) -> PathBuf {
        self.dir.path().join("root.ds")
    }

    /// `[dnssec]` pointing at the test root.
    pub fn dnssec_toml(&self) -> String {
        format!(
            "\n[dnssec]\ntrust_anchor_file = \"{}\"\n",
            self.trust_anchor().display()
        )
    }

    /// Serves `good.test` with signatures that expired yesterday from now
    /// on (re-signed with past dates, then NSD restarted).
    pub fn break_good_signatures(&mut self) {
        self.resign_good(Some((stamp(-30), stamp(-1))));
    }

    /// Serves `good.test` with valid signatures again.
    pub fn repair_good_signatures(&mut self) {
        self.resign_good(None);
    }

    fn resign_good(&mut self, dates: Option<(String, String)>) {
        let d = self.dir.path().to_path_buf();
        let zones = d.join("zones");
        let unsigned: String = std::fs::read_to_string(zones.join("good.test"))
            .unwrap()
            .lines()
            .filter(|l| !l.contains("DNSKEY"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(zones.join("good.test"), unsigned).unwrap();
        let base = std::fs::read_dir(d.join("keys"))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with("Kgood.test.+") && n.ends_with(".key"))
            .unwrap()
            .trim_end_matches(".key")
            .to_string();
        match &dates {
            Some((s, e)) => sign(&d, "good.test.", "good.test", &base, &["-s", s, "-e", e]),
            None => sign(&d, "good.test.", "good.test", &base, &[]),
        }
        self.stop_nsd();
        self.start_nsd();
    }

    fn stop_nsd(&mut self) {
        if let Some(mut child) = self.nsd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SignedZones {
    fn drop(&mut self) {
        self.stop_nsd();
    }
}

/// A port free on UDP and TCP right now.
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Asks `addr` for the root SOA until a reply `accept`s (within 30 s), for
/// a DNS server a test started; else fails with `what` and its `log`.
pub fn wait_for_root_soa(
    addr: SocketAddr,
    what: &str,
    accept: impl Fn(&[u8]) -> bool,
    log: impl Fn() -> String,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // ID 0x1234, RD, one question: ". SOA IN".
    let query = [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1];
    let mut buf = [0u8; 4096];
    loop {
        let _ = socket.send_to(&query, addr);
        if let Ok((n, _)) = socket.recv_from(&mut buf)
            && n > 12
            && buf[..2] == query[..2]
            && accept(&buf[..n])
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not answer on {addr}; its log:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
