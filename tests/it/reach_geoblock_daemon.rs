//! The done-when of issue #5, for the daemon: a site that blocks one
//! network but not another is reported `geo_blocked`, with the right
//! remedy, by the daemon's alert, from a real firewall rule.
//!
//! The lab is the one of `reach_geoblock.rs` (see `support/netns.rs`): the
//! site (HTTP on 80, HTTPS on 443) in its own namespace, names resolving
//! through a DNS server on this namespace's end of the lab link. The probe
//! agent is the real binary (`certvigil probe serve`) started in the abroad
//! namespace with `ip netns exec`; the daemon is the real `certvigil run` in
//! this namespace (the domestic vantage point), alerting a webhook receiver
//! on 127.0.0.1. The site is open to both at first; then an nftables rule
//! in the site's namespace drops the abroad address, and the daemon alerts.
//! No packet leaves 127.0.0.0/8 and the namespaces the test made.

use crate::support;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use serde_json::Value;
use support::daemon::{BIN, DaemonBench, PATIENCE};
use support::dns::TestDns;
use support::http::HttpReceiver;
use support::netns::GeoLab;
use support::site::TestSite;

const NAME: &str = "shop.test";
const TOKEN: &str = "geo-daemon-token-8c2e";
const TRUSTASIA_SCANNERS: [&str; 4] = [
    "64.78.193.238",
    "216.168.247.9",
    "216.168.249.9",
    "54.189.196.217",
];

/// The real `certvigil probe serve`, inside the abroad namespace; killed on
/// drop.
struct AgentProcess {
    child: Child,
    url: String,
    /// The certificate fingerprint it printed, for `tls_fingerprint`.
    fingerprint: String,
}

impl AgentProcess {
    fn start(
        lab: &GeoLab,
        dns: SocketAddr,
        token_file: &str,
        tls_dir: &std::path::Path,
        log: &std::path::Path,
    ) -> Self {
        let listen = SocketAddr::new(IpAddr::V4(lab.abroad_addr), 0).to_string();
        let stderr = std::fs::File::create(log).unwrap();
        // `ip netns exec` execs the program, so the child is the agent.
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.abroad.name, BIN, "probe", "serve"])
            .args(["--listen", &listen, "--token-file", token_file])
            .args(["--allow-private", "--nameserver", &dns.to_string()])
            .args(["--connect-timeout", "2s", "--request-timeout", "3s"])
            // Over TLS with a self-signed certificate, pinned by the daemon.
            .args(["--tls-self-signed", tls_dir.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("ip netns exec certvigil probe serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keeps reading so the agent never writes to a closed pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let _ = tx.send(line);
            }
        });
        let mut me = Self {
            child,
            url: String::new(),
            fingerprint: String::new(),
        };
        let line = rx.recv_timeout(PATIENCE).unwrap_or_else(|_| {
            panic!(
                "the agent did not print its listening line; stderr:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        });
        let addr = line
            .strip_prefix("certvigil probe: listening on ")
            .unwrap_or_else(|| panic!("unexpected agent output: {line}"));
        assert!(addr.starts_with("https://"), "{line}");
        me.url = format!("{addr}/");
        let line = rx.recv_timeout(PATIENCE).unwrap();
        me.fingerprint = line
            .strip_prefix("certvigil probe: certificate fingerprint ")
            .unwrap_or_else(|| panic!("unexpected agent output: {line}"))
            .to_string();
        me
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn reach_of(bench: &DaemonBench) -> Option<Value> {
    bench
        .status()
        .into_iter()
        .find(|r| r["domain"] == NAME)
        .and_then(|r| r.get("reach").cloned())
        .filter(|r| !r.is_null())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: network namespaces"]
async fn the_daemon_alerts_a_firewall_that_drops_the_abroad_network_as_geo_blocked() {
    // Declared first, dropped last: the processes go before the namespaces.
    let lab = GeoLab::new();
    let dns = TestDns::start_on(SocketAddr::new(IpAddr::V4(lab.root_addr), 0))
        .expect("DNS on this namespace's end of the lab link");
    dns.set_a(NAME, &[lab.site_addr]);
    dns.set_caa(NAME, []);
    let site = TestSite::start_in(
        Some(&lab.site.name),
        NAME,
        "0.0.0.0:80".parse().unwrap(),
        "0.0.0.0:443".parse().unwrap(),
    )
    .expect("the site listens on 80 and 443 in its namespace");
    let bench = DaemonBench::new();
    let token_file = bench.secret("agent.token", TOKEN);
    let agent = AgentProcess::start(
        &lab,
        dns.addr(),
        &token_file,
        &bench.path("agent-tls"),
        &bench.path("agent.log"),
    );
    let hook = HttpReceiver::ok("{}").await;

    bench.write_config(
        dns.addr(),
        &format!(
            r#"
[reach]
http_port = 80
https_port = 443

[[vantage]]
name = "home"
kind = "local"
overseas = false

[[vantage]]
name = "abroad-agent"
kind = "agent"
url = "{url}"
token_file = "{token_file}"
tls_fingerprint = "{fingerprint}"
overseas = true

[[alerts.webhook]]
url = "{hook}"
format = "generic"

[[domains]]
name = "{NAME}"
ca = ["trustasia"]
validation_method = "file"
"#,
            url = agent.url,
            fingerprint = agent.fingerprint,
            hook = hook.url("/hook"),
        ),
    );
    let daemon = bench.start();

    // Open to everyone: the daemon sees the site from both vantage points.
    let open = bench
        .wait_for("a reach verdict in status", || reach_of(&bench))
        .await;
    assert_eq!(open["verdict"], "reachable", "{open}");
    let abroad = IpAddr::V4(lab.abroad_addr);
    assert!(
        site.hits().iter().any(|h| h.peer.ip() == abroad),
        "the agent reached the site from abroad"
    );
    assert!(hook.received().is_empty(), "{:?}", hook.received());

    // The geo-block: the site drops the abroad network on 80 and 443.
    lab.block_abroad(&[80, 443]);
    let requests = hook.wait_for(1).await;
    let alert = requests[0].json();
    assert_eq!(alert["event"], "blocking", "{alert:#}");
    assert_eq!(alert["check"], "reach", "{alert:#}");
    assert_eq!(alert["domain"], NAME, "{alert:#}");
    assert_eq!(alert["severity"], "blocking", "{alert:#}");
    assert_eq!(alert["before"]["verdict"], "reachable", "{alert:#}");
    assert_eq!(alert["after"]["verdict"], "geo_blocked", "{alert:#}");
    let summary = alert["summary"].as_str().unwrap();
    assert!(
        summary.contains("geo-blocked")
            && summary.contains("answers home but not abroad-agent (overseas)"),
        "{alert:#}"
    );
    let remedy = alert["remedy"].as_str().unwrap_or_default();
    assert!(remedy.contains("geo rules"), "{alert:#}");
    for ip in TRUSTASIA_SCANNERS {
        assert!(remedy.contains(ip), "TrustAsia's scanner {ip}: {alert:#}");
    }
    assert!(
        remedy.contains("80 and 443") && remedy.contains("all regions"),
        "{alert:#}"
    );

    // The state behind the alert, as `certvigil status` reports it.
    let state = reach_of(&bench).unwrap();
    assert_eq!(state["verdict"], "geo_blocked", "{state}");
    assert_eq!(state["blocks"], true, "{state}");
    let status = bench.cli_text(&["status"]).unwrap();
    assert!(
        status.contains(&format!("{NAME}  trustasia: geo_blocked")),
        "{status}"
    );

    // No second alert for the same state over further checks.
    bench.wait_checks(NAME, 2).await;
    let events: Vec<Value> = hook.received().iter().map(|r| r.json()).collect();
    assert_eq!(events.len(), 1, "{events:#?}");

    assert_eq!(daemon.terminate().await, Some(0));
}
