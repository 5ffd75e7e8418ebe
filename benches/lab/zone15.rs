//! The zone `test.` in the shape of issue 15, served by NSD on loopback:
//! names `n{i}.site{i/10}.test`, so one shared parent per ten names, each
//! parent with a CAA RRset authorizing the CA; one name in 7 with its own
//! CAA RRset (of those, one in 10 naming another CA only: forbidden); the
//! other names hold an A record, so their CAA answer is NODATA and the climb
//! goes on to the parent.

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::procfs::first_lines;

pub const CA: &str = "letsencrypt";
pub const ALLOWED_ISSUER: &str = "letsencrypt.org";
pub const OTHER_ISSUER: &str = "digicert.com";
/// Names per shared parent `site{j}.test`.
pub const PER_PARENT: usize = 10;
/// One name in this many has its own CAA RRset.
pub const OWN_CAA_EVERY: usize = 7;

/// The `i`th name.
pub fn name(i: usize) -> String {
    format!("n{i}.site{}.test", i / PER_PARENT)
}

/// The first `count` names.
pub fn names(count: usize) -> Vec<String> {
    (0..count).map(name).collect()
}

/// The issuer of name `i`'s own CAA RRset, if it has one: one name in
/// [`OWN_CAA_EVERY`]; of those, one in ten names another CA only.
pub fn own_caa(i: usize) -> Option<&'static str> {
    if !i.is_multiple_of(OWN_CAA_EVERY) {
        None
    } else if (i / OWN_CAA_EVERY) % 10 == 3 {
        Some(OTHER_ISSUER)
    } else {
        Some(ALLOWED_ISSUER)
    }
}

/// How many of the first `count` names are forbidden for [`CA`].
pub fn forbidden_count(count: usize) -> usize {
    (0..count)
        .filter(|i| own_caa(*i) == Some(OTHER_ISSUER))
        .count()
}

/// The zone file of `test.` holding `names` (as made by [`names`]).
pub fn zone_file(names: &[String]) -> String {
    let mut z = String::with_capacity(names.len() * 64);
    z.push_str(
        "$ORIGIN test.\n$TTL 3600\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 3600\n\
         @ IN NS ns.test.\nns IN A 127.0.0.1\n",
    );
    let parents = names.len().div_ceil(PER_PARENT);
    for j in 0..parents {
        z.push_str(&format!("site{j} IN CAA 0 issue \"{ALLOWED_ISSUER}\"\n"));
    }
    for (i, name) in names.iter().enumerate() {
        let owner = name.strip_suffix(".test").expect("under test.");
        match own_caa(i) {
            Some(issuer) => z.push_str(&format!("{owner} IN CAA 0 issue \"{issuer}\"\n")),
            None => z.push_str(&format!("{owner} IN A 192.0.2.1\n")),
        }
    }
    z
}

/// A UDP and TCP port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
        let port = udp.local_addr().expect("its address").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// NSD serving a zone from `dir`, on a free loopback port (one server
/// process, response rate limiting off, 4 MiB receive buffer), with its
/// control channel on a Unix socket in `dir` (for its query counters);
/// stopped when dropped.
pub struct Nsd {
    pub addr: SocketAddr,
    child: std::process::Child,
    pub version: String,
    conf: std::path::PathBuf,
}

impl Nsd {
    /// Serves `zone` (the text of the zone file of `test.`).
    pub fn start(zone: &str, dir: &Path) -> Self {
        let version = Command::new("nsd")
            .arg("-v")
            .output()
            .map(|o| {
                let text = String::from_utf8_lossy(&o.stderr).into_owned()
                    + &String::from_utf8_lossy(&o.stdout);
                text.lines().next().unwrap_or("").to_string()
            })
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run nsd ({e}): install it with `apt-get install -y nsd` (Debian/Ubuntu)"
                )
            });
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let zone_path = dir.join("test.zone");
        fs::write(&zone_path, zone).expect("write the zone file");
        let conf = dir.join("nsd.conf");
        let d = dir.display();
        fs::write(
            &conf,
            format!(
                "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  username: \"\"\n  \
                 chroot: \"\"\n  zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  \
                 xfrdfile: \"{d}/xfrd.state\"\n  zonelistfile: \"{d}/zone.list\"\n  \
                 logfile: \"{d}/nsd.log\"\n  server-count: 1\n  verbosity: 0\n  \
                 receive-buffer-size: 4194304\n  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n  \
                 do-ip6: no\n\
                 remote-control:\n  control-enable: yes\n  control-interface: \"{d}/nsd.ctl\"\n\
                 zone:\n  name: \"test\"\n  zonefile: \"{}\"\n",
                zone_path.display()
            ),
        )
        .expect("write nsd.conf");
        let child = Command::new("nsd")
            .args(["-d", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("nsd.stderr")).expect("create nsd.stderr"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nsd: {e}"));
        let nsd = Nsd {
            addr,
            child,
            version,
            conf,
        };
        nsd.wait_until_it_answers(dir);
        nsd
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Queries answered so far (`nsd-control stats_noreset`: num.queries),
    /// `None` when the control channel does not answer.
    pub fn queries(&self) -> Option<u64> {
        let out = Command::new("nsd-control")
            .arg("-c")
            .arg(&self.conf)
            .arg("stats_noreset")
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("num.queries="))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Asks the SOA of `test.` until NSD answers (it loads the zone first).
    fn wait_until_it_answers(&self, dir: &Path) {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("set a timeout");
        // ID 0x1234, RD off, one question: test. SOA IN.
        let query = [
            0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, b't', b'e', b's', b't', 0, 0, 6, 0, 1,
        ];
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut buf = [0u8; 512];
        while Instant::now() < deadline {
            let _ = socket.send_to(&query, self.addr);
            if let Ok(n) = socket.recv(&mut buf)
                && n >= 4
                && buf[..2] == [0x12, 0x34]
                && buf[3] & 0x0f == 0
            {
                return;
            }
        }
        panic!(
            "nsd did not answer on {} within 60 s: {}",
            self.addr,
            first_lines(
                &(fs::read_to_string(dir.join("nsd.log")).unwrap_or_default()
                    + &fs::read_to_string(dir.join("nsd.stderr")).unwrap_or_default()),
                10
            )
        );
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        // SIGTERM, so NSD stops its server processes too.
        // SAFETY: kill has no memory preconditions; the pid is our child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}
