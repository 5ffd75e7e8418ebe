//! The probe agent (`certvigil probe serve`) on loopback: it authenticates
//! every request, refuses private addresses without `--allow-private`,
//! probes only validation paths (checked after percent-decoding), and
//! rate-limits. The agent vantage point turns its refusals into vantage
//! errors, not site failures, and talks to the agent over TLS with a pinned
//! certificate. The real binary holds a bounded number of descriptors
//! under 1,100 half-sent requests, closes idle connections, logs 3,000
//! refused tokens in a few lines, and gives a plain-HTTP client nothing.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certvigil::checks::reach::agent::{self, AgentSettings, ListenerLimits};
use certvigil::checks::reach::agent_tls;
use certvigil::checks::reach::model::VantageOutcome;
use certvigil::checks::reach::vantage::{self, Access};
use certvigil::checks::reach::{Ports, ProbeSettings, ProbeTarget, VantagePoint};
use certvigil::config::SecretSource;
use certvigil::dns::DnsHandle;
use certvigil::domain::DomainName;
use certvigil::tls::Fingerprint;
use serde_json::{Value, json};
use support::dns::TestDns;

const TOKEN: &str = "agent-test-token-91c2";

const BIN: &str = env!("CARGO_BIN_EXE_certvigil");

struct Agent {
    base: String,
    _dns: TestDns,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start_agent(per_minute: u32) -> Agent {
    start_agent_with(per_minute, false, None).await
}

/// An agent in this process; over TLS when `tls` is given.
async fn start_agent_with(
    per_minute: u32,
    allow_private: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Agent {
    let dns = TestDns::start().await;
    dns.set_a("loop.test", &[Ipv4Addr::LOCALHOST]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let settings = AgentSettings {
        token: TOKEN.into(),
        allow_private,
        per_minute,
        max_in_flight: 4,
        probe: ProbeSettings::default(),
        dns: DnsHandle::new(&dns.settings()).unwrap(),
        limits: ListenerLimits::default(),
        tls,
        refusal_log_window: Duration::from_secs(60),
    };
    tokio::spawn(agent::serve(listener, settings, async {
        let _ = stopped.await;
    }));
    Agent {
        base: format!("{scheme}://{addr}"),
        _dns: dns,
        _stop: stop,
    }
}

/// The real `certvigil probe serve` on 127.0.0.1; killed on drop.
struct AgentProcess {
    child: Child,
    addr: SocketAddr,
    fingerprint: Option<String>,
    /// Every line it wrote to stdout (the listening lines, then its log).
    lines: std::sync::mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl AgentProcess {
    fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, TOKEN).unwrap();
        let mut child = Command::new(BIN)
            .args(["probe", "serve", "--listen", "127.0.0.1:0", "--token-file"])
            .arg(&token_file)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let first = lines.recv_timeout(Duration::from_secs(30)).unwrap();
        let url = first
            .strip_prefix("certvigil probe: listening on ")
            .unwrap_or_else(|| panic!("{first}"));
        let addr = url.split_once("://").unwrap().1.parse().unwrap();
        let fingerprint = url.starts_with("https://").then(|| {
            let line = lines.recv_timeout(Duration::from_secs(30)).unwrap();
            line.strip_prefix("certvigil probe: certificate fingerprint ")
                .unwrap_or_else(|| panic!("{line}"))
                .to_string()
        });
        Self {
            child,
            addr,
            fingerprint,
            lines,
            _dir: dir,
        }
    }

    /// Descriptors the process holds now.
    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    /// SIGTERM, wait, and every line it wrote.
    fn stop(mut self) -> Vec<String> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the agent did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut out = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            out.push(line);
        }
        out
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it holds or `limit` passes.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET /healthz` on a fresh connection: the status line, or why not.
fn healthz(addr: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text.lines().next().unwrap_or_default().to_string())
}

fn probe_request(name: &str, path: &str) -> Value {
    json!({"name": name, "path": path, "ports": {"http": 80, "https": 443}})
}

async fn post(
    agent: &Agent,
    token: Option<&str>,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    certvigil::tls::ensure_crypto_provider();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut req = client.post(format!("{}/v1/probe", agent.base)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

const PATH: &str = "/.well-known/pki-validation/fileauth.txt";

#[tokio::test]
async fn a_request_without_the_token_is_refused() {
    let agent = start_agent(60).await;
    let (status, headers, body) = post(&agent, None, &probe_request("example.com", PATH)).await;
    assert_eq!(status, 401);
    assert!(
        headers
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert!(
        body["error"].as_str().unwrap().contains("bearer token"),
        "{body}"
    );

    let (status, _, _) = post(
        &agent,
        Some("agent-test-token-91c"),
        &probe_request("example.com", PATH),
    )
    .await;
    assert_eq!(status, 401, "a prefix of the token is not the token");

    // Even unknown endpoints ask for the token first; only /healthz, which
    // says nothing but "up", does not.
    certvigil::tls::ensure_crypto_provider();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = client
        .get(format!("{}/healthz", agent.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok\n");
    let resp = client
        .get(format!("{}/v1/health", agent.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = client
        .get(format!("{}/v1/health", agent.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn loopback_is_refused_without_allow_private() {
    let agent = start_agent(60).await;
    let (status, _, body) = post(&agent, Some(TOKEN), &probe_request("127.0.0.1", PATH)).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("--allow-private"),
        "{body}"
    );

    // A name that resolves to loopback is refused the same way.
    let (status, _, body) = post(&agent, Some(TOKEN), &probe_request("loop.test", PATH)).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("127.0.0.1"),
        "{body}"
    );
}

#[tokio::test]
async fn only_validation_paths_and_ports_are_probed() {
    let agent = start_agent(60).await;
    let (status, _, body) = post(
        &agent,
        Some(TOKEN),
        &probe_request("example.com", "/admin/"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let mut other_port = probe_request("example.com", PATH);
    other_port["ports"]["http"] = json!(22);
    let (status, _, body) = post(&agent, Some(TOKEN), &other_port).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("80 and 443"),
        "{body}"
    );
}

#[tokio::test]
async fn the_agent_rate_limits() {
    let agent = start_agent(2).await;
    for _ in 0..2 {
        let (status, _, _) = post(&agent, Some(TOKEN), &probe_request("loop.test", PATH)).await;
        assert_eq!(status, 403);
    }
    let (status, headers, _) = post(&agent, Some(TOKEN), &probe_request("loop.test", PATH)).await;
    assert_eq!(status, 429);
    assert!(headers.get("retry-after").is_some());
}

#[tokio::test]
async fn a_wrong_token_is_a_vantage_error_not_a_site_failure() {
    let agent = start_agent(60).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "not-the-token").unwrap();
    let v = VantagePoint {
        name: "fra".into(),
        counters: Default::default(),
        overseas: true,
        access: Access::Agent {
            url: agent.base.parse().unwrap(),
            token: Some(SecretSource::file("token_file", &token_file)),
            tls_fingerprint: None,
        },
    };
    let target = ProbeTarget {
        name: DomainName::parse("example.com").unwrap(),
        path: PATH.into(),
        expected: None,
        ports: Ports::STANDARD,
    };
    let dns_server = TestDns::start().await;
    let dns = DnsHandle::new(&dns_server.settings()).unwrap();
    let obs = vantage::observe(
        &target,
        &v,
        &dns,
        &ProbeSettings {
            connect_timeout: Duration::from_secs(2),
            ..ProbeSettings::default()
        },
    )
    .await;
    match &obs[0].outcome {
        VantageOutcome::Error { message } => {
            assert!(message.contains("refused the probe (401)"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn dot_segments_are_refused_in_every_spelling() {
    let agent = start_agent(600).await;
    for prefix in [
        "/.well-known/pki-validation/",
        "/.well-known/acme-challenge/",
    ] {
        for spelling in [
            "%2e%2e/%2e%2e/secret",
            "%2E%2E/%2E%2E/secret",
            ".%2e/.%2e/secret",
            "%2e./secret",
            ".%09./secret",
            ".%0a./secret",
            ".\t./secret",
            ".\n./secret",
            "..%5csecret",
            "..\\secret",
            "%252e%252e/secret",
            "a%00b",
        ] {
            let path = format!("{prefix}{spelling}");
            let (status, _, body) =
                post(&agent, Some(TOKEN), &probe_request("example.com", &path)).await;
            assert_eq!(status, 422, "{path:?}: {body}");
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .contains("not a validation path"),
                "{path:?}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn embedded_ipv4_addresses_are_refused() {
    let agent = start_agent(600).await;
    for name in [
        "::127.0.0.1",
        "[::ffff:127.0.0.1]",
        "64:ff9b::10.0.0.1",
        "[64:ff9b::7f00:1]",
        "2002:7f00:1::1",
        "2002:c0a8:101::53",
    ] {
        let (status, _, body) = post(&agent, Some(TOKEN), &probe_request(name, PATH)).await;
        assert_eq!(status, 403, "{name}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("not a public address"),
            "{name}: {body}"
        );
    }
}

fn target() -> ProbeTarget {
    ProbeTarget {
        // Not in the test DNS: the agent answers with a resolution failure,
        // which is an observation; nothing is connected to.
        name: DomainName::parse("absent.test").unwrap(),
        path: PATH.into(),
        expected: None,
        ports: Ports::STANDARD,
    }
}

async fn observe_through(base: &str, pin: Option<Fingerprint>) -> VantageOutcome {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let v = VantagePoint {
        name: "fra".into(),
        counters: Default::default(),
        overseas: true,
        access: Access::Agent {
            url: base.parse().unwrap(),
            token: Some(SecretSource::file("token_file", &token_file)),
            tls_fingerprint: pin,
        },
    };
    let dns_server = TestDns::start().await;
    let dns = DnsHandle::new(&dns_server.settings()).unwrap();
    let settings = ProbeSettings {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        ..ProbeSettings::default()
    };
    let mut obs = vantage::observe(&target(), &v, &dns, &settings).await;
    obs.remove(0).outcome
}

#[tokio::test]
async fn the_daemon_talks_to_the_agent_over_tls_with_a_pinned_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = agent_tls::self_signed(dir.path()).unwrap();
    let agent = start_agent_with(60, true, Some(cert.config.clone())).await;
    assert!(agent.base.starts_with("https://"));

    match observe_through(&agent.base, Some(cert.fingerprint)).await {
        VantageOutcome::Probed(_) => {}
        other => panic!("the pinned agent should have probed: {other:?}"),
    }

    // Another certificate's fingerprint: refused before the token is sent.
    let other = tempfile::tempdir().unwrap();
    let wrong = agent_tls::self_signed(other.path()).unwrap().fingerprint;
    match observe_through(&agent.base, Some(wrong)).await {
        VantageOutcome::Error { message } => {
            assert!(message.contains("cannot reach the agent"), "{message}");
            assert!(
                message.contains(&format!("not the pinned {wrong}")),
                "{message}"
            );
        }
        other => panic!("a wrong pin must be refused: {other:?}"),
    }

    // No pin: a self-signed certificate fails the public CAs.
    match observe_through(&agent.base, None).await {
        VantageOutcome::Error { message } => {
            assert!(message.contains("cannot reach the agent"), "{message}")
        }
        other => panic!("an unpinned self-signed agent must be refused: {other:?}"),
    }
}

#[test]
fn a_plain_http_client_gets_nothing_from_the_tls_port() {
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("tls");
    let agent = AgentProcess::start(&["--tls-self-signed", tls_dir.to_str().unwrap()]);
    let fp = agent.fingerprint.clone().unwrap();
    assert!(fp.starts_with("sha256:") && fp.len() == 7 + 64, "{fp}");

    let mut s = TcpStream::connect(agent.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        format!(
            "POST /v1/probe HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut got = Vec::new();
    // The TLS layer answers a record it cannot parse with an alert (or
    // nothing) and closes: no HTTP response, no JSON.
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(!text.contains("HTTP/"), "{text:?}");
    assert!(got.len() < 64, "{got:?}");

    // And the reqwest client as the daemon would use it, with http://.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plain = rt.block_on(async {
        certvigil::tls::ensure_crypto_provider();
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("http://{}/healthz", agent.addr))
            .send()
            .await
    });
    assert!(plain.is_err(), "{plain:?}");

    // Without a TLS option, or with plain HTTP on a non-loopback address,
    // the agent does not start.
    let out = Command::new(BIN)
        .args(["probe", "serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(dir.path().join("no-such-token"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let out = Command::new(BIN)
        .args(["probe", "serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&token_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--tls-self-signed"),
        "{out:?}"
    );
    let out = Command::new(BIN)
        .args([
            "probe",
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--insecure-http",
            "--token-file",
        ])
        .arg(&token_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("loopback address only"),
        "{out:?}"
    );
}

#[test]
fn half_sent_requests_hold_a_bounded_number_of_descriptors_until_the_header_timeout() {
    const CAP: usize = 64;
    // This process holds the 1,100 client ends: lift a soft limit of 1,024.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < 4096 {
            limit.rlim_cur = limit.rlim_max.min(4096);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
    let agent = AgentProcess::start(&[
        "--insecure-http",
        "--max-connections",
        "64",
        "--header-timeout",
        "2s",
    ]);
    let baseline = agent.open_fds();

    // An idle kept-alive connection is closed after the same deadline.
    let mut idle = TcpStream::connect(agent.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    let idle_since = Instant::now();

    let mut held = Vec::new();
    let mut peak = 0;
    for i in 0..1100 {
        let Ok(mut s) = TcpStream::connect(agent.addr) else {
            continue;
        };
        // A request head that never ends.
        let _ = s.write_all(b"POST /v1/probe HTTP/1.1\r\nHost: a\r\nX-Slow: ");
        held.push(s);
        if i % 50 == 0 {
            peak = peak.max(agent.open_fds());
        }
    }
    peak = peak.max(agent.open_fds());
    assert!(held.len() > 1000, "only {} connections opened", held.len());
    assert!(
        peak <= baseline + CAP + 8,
        "{peak} descriptors open with 1,100 half-sent requests (baseline {baseline}, cap {CAP})"
    );

    // The idle connection was closed by the agent (EOF), about 2 s after
    // its response.
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).unwrap();
    let idle_for = idle_since.elapsed();
    assert!(
        idle_for >= Duration::from_millis(1500) && idle_for < Duration::from_secs(8),
        "idle connection closed after {idle_for:?}"
    );

    // Every half-sent request is closed by the header timeout.
    assert!(
        eventually(Duration::from_secs(10), || agent.open_fds() <= baseline + 2),
        "still {} descriptors (baseline {baseline})",
        agent.open_fds()
    );
    let mut closed = 0;
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut sink = Vec::new();
        // EOF, or a reset (closed on arrival with the request unread).
        match s.read_to_end(&mut sink) {
            Ok(_) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            Err(e) => panic!("a half-sent request still open: {e}"),
        }
    }
    assert_eq!(closed, held.len());
    drop(held);
    assert_eq!(healthz(agent.addr).unwrap(), "HTTP/1.1 200 OK");
}

#[test]
fn three_thousand_bad_tokens_make_a_few_log_lines_that_count_them() {
    let agent = AgentProcess::start(&["--insecure-http", "--refusal-log-window", "1s"]);
    let addr = agent.addr;
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut tasks = Vec::new();
        for t in 0..6 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..500 {
                    let resp = client
                        .post(format!("http://{addr}/v1/probe"))
                        .bearer_auth(format!("guess-{t}-{i}"))
                        .json(&probe_request("example.com", PATH))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status().as_u16(), 401);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let secs = started.elapsed().as_secs() + 2;
    let lines = agent.stop();
    let refusals: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("without a valid token"))
        .collect();
    let each = refusals.iter().filter(|l| !l.contains("unlogged=")).count();
    let unlogged: u64 = refusals
        .iter()
        .filter_map(|l| l.split("unlogged=").nth(1))
        .map(|v| v.split_whitespace().next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        each as u64 + unlogged,
        3000,
        "every refusal is logged or counted: {refusals:#?}"
    );
    // At most three lines and a summary per one-second window.
    assert!(
        refusals.len() as u64 <= 4 * (secs + 1),
        "{} lines in {secs} s: {refusals:#?}",
        refusals.len()
    );
    assert!(
        refusals.iter().all(|l| !l.contains("guess-")),
        "the tokens themselves are never logged"
    );
}
