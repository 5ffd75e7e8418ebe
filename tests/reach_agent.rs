//! The probe agent (`certvigil probe serve`) on loopback: it authenticates
//! every request, refuses private addresses without `--allow-private`,
//! probes only validation paths, and rate-limits. And the agent vantage
//! point turns its refusals into vantage errors, not site failures.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use certvigil::checks::reach::agent::{self, AgentSettings};
use certvigil::checks::reach::model::VantageOutcome;
use certvigil::checks::reach::vantage::{self, Access};
use certvigil::checks::reach::{Ports, ProbeSettings, ProbeTarget, VantagePoint};
use certvigil::config::SecretSource;
use certvigil::dns::DnsHandle;
use certvigil::domain::DomainName;
use serde_json::{Value, json};
use support::dns::TestDns;

const TOKEN: &str = "agent-test-token-91c2";

struct Agent {
    base: String,
    _dns: TestDns,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start_agent(per_minute: u32) -> Agent {
    let dns = TestDns::start().await;
    dns.set_a("loop.test", &[Ipv4Addr::LOCALHOST]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let settings = AgentSettings {
        token: TOKEN.into(),
        allow_private: false,
        per_minute,
        max_in_flight: 4,
        probe: ProbeSettings::default(),
        dns: DnsHandle::new(&dns.settings()).unwrap(),
    };
    tokio::spawn(agent::serve(listener, settings, async {
        let _ = stopped.await;
    }));
    Agent {
        base: format!("http://{addr}"),
        _dns: dns,
        _stop: stop,
    }
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

    // Even unknown endpoints ask for the token first.
    certvigil::tls::ensure_crypto_provider();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
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
