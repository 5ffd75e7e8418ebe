//! Network namespaces for tests that need a real firewall: a "site"
//! namespace and an "abroad" namespace, wired to this (root) namespace with
//! veth pairs on 10.213.x.0/24 subnets the test owns, and nftables in the
//! site's namespace. Every namespace is deleted on drop (also when the test
//! panics), which removes its interfaces, routes and rules with it.
//!
//! Topology (X and Y unique per lab):
//!
//! ```text
//!  root (this test, `certvigil check`)      site (web server, nftables)      abroad (agent)
//!  10.213.X.1 ──────── veth ──────── 10.213.X.2
//!                                    10.213.Y.1 ──────── veth ──────── 10.213.Y.2
//! ```
//!
//! The site forwards between the two links, so the agent abroad can reach
//! a DNS server in the root namespace and the root can reach the agent.
//! Needs root privileges, iproute2 and nftables (`apt-get install nftables`).
// Each test binary uses part of the bench.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Moves the calling thread into network namespace `name`.
pub fn enter(name: &str) -> io::Result<()> {
    let file = std::fs::File::open(format!("/var/run/netns/{name}"))?;
    // SAFETY: setns with a valid namespace descriptor affects only the
    // calling thread's network namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs a command, panicking with its output when it fails.
pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace that is deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn create(name: String) -> Self {
        run("ip", &["netns", "add", &name]);
        let ns = Self { name };
        run("ip", &["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `program args` inside the namespace.
    pub fn exec(&self, program: &str, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        run("ip", &all);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The two-namespace lab described in the module documentation.
pub struct GeoLab {
    /// Dropped first: the abroad side hangs off the site.
    pub abroad: Netns,
    pub site: Netns,
    /// This namespace's end of the root-site link.
    pub root_addr: Ipv4Addr,
    /// The site's address on the root link (what its name resolves to).
    pub site_addr: Ipv4Addr,
    /// The abroad namespace's address (the source the firewall drops).
    pub abroad_addr: Ipv4Addr,
}

impl GeoLab {
    pub fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let tag = format!("{}{n}", pid % 1_000_000);
        let x = u8::try_from(20 + (pid * 2 + n * 2) % 220).unwrap();
        let y = x + 1;
        let site = Netns::create(format!("cvsite{tag}"));
        let abroad = Netns::create(format!("cvabroad{tag}"));
        let (root_if, site_if) = (format!("cvr{tag}"), format!("cvs{tag}"));
        let (site_out, abroad_if) = (format!("cvo{tag}"), format!("cva{tag}"));
        let root_addr = Ipv4Addr::new(10, 213, x, 1);
        let site_addr = Ipv4Addr::new(10, 213, x, 2);
        let site_abroad_side = Ipv4Addr::new(10, 213, y, 1);
        let abroad_addr = Ipv4Addr::new(10, 213, y, 2);
        let cidr = |a: Ipv4Addr| format!("{a}/24");

        run(
            "ip",
            &[
                "link", "add", &root_if, "type", "veth", "peer", "name", &site_if, "netns",
                &site.name,
            ],
        );
        run("ip", &["addr", "add", &cidr(root_addr), "dev", &root_if]);
        run("ip", &["link", "set", &root_if, "up"]);
        run(
            "ip",
            &[
                "-n",
                &site.name,
                "addr",
                "add",
                &cidr(site_addr),
                "dev",
                &site_if,
            ],
        );
        run("ip", &["-n", &site.name, "link", "set", &site_if, "up"]);

        run(
            "ip",
            &[
                "-n",
                &site.name,
                "link",
                "add",
                &site_out,
                "type",
                "veth",
                "peer",
                "name",
                &abroad_if,
                "netns",
                &abroad.name,
            ],
        );
        run(
            "ip",
            &[
                "-n",
                &site.name,
                "addr",
                "add",
                &cidr(site_abroad_side),
                "dev",
                &site_out,
            ],
        );
        run("ip", &["-n", &site.name, "link", "set", &site_out, "up"]);
        run(
            "ip",
            &[
                "-n",
                &abroad.name,
                "addr",
                "add",
                &cidr(abroad_addr),
                "dev",
                &abroad_if,
            ],
        );
        run("ip", &["-n", &abroad.name, "link", "set", &abroad_if, "up"]);
        run(
            "ip",
            &[
                "-n",
                &abroad.name,
                "route",
                "add",
                "default",
                "via",
                &site_abroad_side.to_string(),
            ],
        );
        site.exec("sysctl", &["-q", "-w", "net.ipv4.ip_forward=1"]);
        // Deleted with the interface when the site namespace goes.
        run(
            "ip",
            &[
                "route",
                "add",
                &format!("10.213.{y}.0/24"),
                "via",
                &site_addr.to_string(),
            ],
        );

        Self {
            abroad,
            site,
            root_addr,
            site_addr,
            abroad_addr,
        }
    }

    /// The firewall rule of a geo-block: the site drops (no answer, as
    /// real geo-blocks do) TCP to `ports` from the abroad address.
    pub fn block_abroad(&self, ports: &[u16]) {
        let ports = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        self.site.exec("nft", &["add", "table", "inet", "geoblock"]);
        self.site.exec(
            "nft",
            &[
                "add",
                "chain",
                "inet",
                "geoblock",
                "input",
                "{ type filter hook input priority 0; policy accept; }",
            ],
        );
        self.site.exec(
            "nft",
            &[
                "add",
                "rule",
                "inet",
                "geoblock",
                "input",
                "ip",
                "saddr",
                &self.abroad_addr.to_string(),
                "tcp",
                "dport",
                &format!("{{ {ports} }}"),
                "drop",
            ],
        );
    }
}
