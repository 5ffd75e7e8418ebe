//! Real authoritative DNS servers for tests: NSD (Debian `nsd`) serving
//! zone files, and BIND (`bind9`) with views by client address. Each runs
//! in the foreground as a child process with its files in a temp dir, on
//! a loopback address and port the test picks, and is killed on drop.
//! `scripts/test` installs both packages.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free on UDP and TCP on every one of `addrs` (servers for one
/// zone share the port, as they share 53 on the Internet).
pub fn common_port(addrs: &[IpAddr]) -> u16 {
    'again: for _ in 0..200 {
        let probe = UdpSocket::bind(SocketAddr::new(addrs[0], 0)).unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        for a in addrs {
            let s = SocketAddr::new(*a, port);
            if UdpSocket::bind(s).is_err() || std::net::TcpListener::bind(s).is_err() {
                continue 'again;
            }
        }
        return port;
    }
    panic!("no common free port on {addrs:?}");
}

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    _dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `addr` answers a DNS query for `zone` SOA (any answer).
fn wait_ready(addr: SocketAddr, zone: &str, child: &mut Child, what: &str, log: &Path) {
    let socket = UdpSocket::bind(SocketAddr::new(
        if addr.is_ipv4() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
        },
        0,
    ))
    .unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in zone.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 6, 0, 1]);
    let start = Instant::now();
    let mut buf = [0u8; 2048];
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        let _ = socket.send_to(&q, addr);
        if let Ok((n, _)) = socket.recv_from(&mut buf)
            && n > 3
            && buf[0] == 0x12
        {
            return;
        }
    }
    panic!(
        "{what} on {addr} did not answer: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// NSD on `addr`, serving each (zone, zone file text).
pub fn nsd(addr: SocketAddr, zones: &[(&str, String)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let mut conf = format!(
        "server:\n  ip-address: {ip}\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  zonelistfile: \"{d}/zone.list\"\n  logfile: \"{d}/nsd.log\"\n  server-count: 1\n  verbosity: 1\nremote-control:\n  control-enable: no\n",
        ip = addr.ip(),
        port = addr.port(),
    );
    for (i, (zone, text)) in zones.iter().enumerate() {
        std::fs::write(dir.path().join(format!("z{i}.zone")), text).unwrap();
        conf.push_str(&format!(
            "zone:\n  name: \"{zone}\"\n  zonefile: \"z{i}.zone\"\n"
        ));
    }
    let conf_path = dir.path().join("nsd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let log = dir.path().join("nsd.log");
    let mut child = Command::new("nsd")
        .arg("-d")
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nsd is installed (scripts/test installs it)");
    let zone = zones.first().map_or("test", |z| z.0);
    wait_ready(addr, zone, &mut child, "nsd", &log);
    Server {
        child,
        _dir: dir,
        addr,
    }
}

/// One BIND view: the clients it serves and its zone file for `zone`.
pub struct View<'a> {
    pub name: &'a str,
    pub clients: &'a str,
    pub zone_text: String,
}

/// BIND on `port` of 127.0.0.1 and ::1, serving `zone` authoritatively
/// (no recursion) with one zone file per view, views chosen by the
/// client's address (`match-clients`): GeoDNS in miniature.
pub fn bind_views(port: u16, zone: &str, views: &[View<'_>]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let mut conf = format!(
        "options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 port {port} {{ ::1; }};\n  recursion no;\n  dnssec-validation no;\n  allow-query {{ any; }};\n}};\ncontrols {{ }};\n"
    );
    for (i, v) in views.iter().enumerate() {
        std::fs::write(dir.path().join(format!("v{i}.zone")), &v.zone_text).unwrap();
        conf.push_str(&format!(
            "view \"{name}\" {{\n  match-clients {{ {clients}; }};\n  zone \"{zone}\" {{ type primary; file \"{d}/v{i}.zone\"; }};\n}};\n",
            name = v.name,
            clients = v.clients,
        ));
    }
    let conf_path = dir.path().join("named.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let log = dir.path().join("named.log");
    let mut child = Command::new("named")
        .args(["-g", "-c"])
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("named is installed (scripts/test installs bind9)");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_ready(addr, zone, &mut child, "named", &log);
    Server {
        child,
        _dir: dir,
        addr,
    }
}
