//! Lookups from abroad (issue 13) end to end: a GeoDNS server — BIND with
//! views by client address (`match-clients`) — serves one CAA set and a
//! `_dnsauth` TXT record to home (queries from ::1) and another CAA set
//! without the TXT record to "abroad" (queries from 127.0.0.1). Home
//! resolves through [::1]; the real probe agent (`certvigil probe serve`)
//! resolves through 127.0.0.1, so the daemon and `check` see both views.

use crate::support;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use support::authdns::{self, View};
use support::daemon::DaemonBench;
use support::http::HttpReceiver;

pub(crate) const TOKEN: &str = "perspective-agent-token-5d1e";

fn zone(caa: &str, dnsauth: Option<&str>) -> String {
    let mut z = format!(
        "$ORIGIN geo.test.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n@ CAA 0 issue \"{caa}\"\n"
    );
    if let Some(t) = dnsauth {
        z.push_str(&format!("_dnsauth TXT \"{t}\"\n"));
    }
    z
}

/// The GeoDNS server: home (::1) sees Let's Encrypt allowed and the
/// validation record; abroad (anything else) sees only Sectigo allowed and
/// no validation record.
pub(crate) fn geodns() -> authdns::Server {
    let port = authdns::common_port(&[
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ]);
    authdns::bind_views(
        port,
        "geo.test",
        &[
            View {
                name: "home",
                clients: "::1",
                zone_text: zone("letsencrypt.org", Some("token-1")),
            },
            View {
                name: "abroad",
                clients: "any",
                zone_text: zone("sectigo.com", None),
            },
        ],
    )
}

/// `certvigil probe serve` resolving through `nameserver`; killed on drop.
pub(crate) struct Agent {
    child: Child,
    pub(crate) url: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn agent(nameserver: SocketAddr, token_file: &str) -> Agent {
    let mut child = Command::new(env!("CARGO_BIN_EXE_certvigil"))
        .args([
            "probe",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--insecure-http",
            "--token-file",
            token_file,
            "--nameserver",
            &nameserver.to_string(),
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("certvigil probe: listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    Agent { child, url }
}

fn config(
    bench: &DaemonBench,
    server: &authdns::Server,
    agent: &Agent,
    token_file: &str,
    rest: &str,
) {
    let home = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), server.addr.port());
    bench.write_config(
        home,
        &format!(
            r#"view = "recursive"

[[vantage]]
name = "abroad-agent"
kind = "agent"
url = "{url}/"
token_file = "{token_file}"
overseas = true
{rest}"#,
            url = agent.url,
        ),
    );
}

fn views_of(r: &Value) -> Vec<Value> {
    r["caa"]["views"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_geodns_zone_seen_otherwise_abroad_is_reported_with_the_share_that_allows() {
    let server = geodns();
    let bench = DaemonBench::new();
    let token_file = bench.secret("agent.token", TOKEN);
    let agent = agent(server.addr, &token_file);
    config(&bench, &server, &agent, &token_file, "");
    let out = bench.cli(&[
        "check",
        "--ca",
        "letsencrypt",
        "--validation-method",
        "dns",
        "--format",
        "json",
        "geo.test",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let r: Value = serde_json::from_str(
        text.lines()
            .next()
            .unwrap_or_else(|| panic!("no output: {}", String::from_utf8_lossy(&out.stderr))),
    )
    .unwrap();
    // Home allows Let's Encrypt…
    assert_eq!(r["caa"]["verdict"], "allowed", "{r}");
    // …abroad does not, and has no validation record.
    assert_eq!(r["issuable"], false, "{r}");
    assert_eq!(out.status.code(), Some(1), "{r}");
    let views = views_of(&r);
    let kinds: Vec<&str> = views.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "perspective_caa_differs",
            "perspective_records_differ",
            "perspective_verdict_differs"
        ],
        "{views:#?}"
    );
    assert!(
        views[0]["summary"]
            .as_str()
            .unwrap()
            .contains("from abroad-agent, CAA at geo.test is [0 issue \"sectigo.com\"], while home sees [0 issue \"letsencrypt.org\"]"),
        "{}",
        views[0]
    );
    assert_eq!(views[1]["severity"], "blocking");
    assert!(
        views[1]["summary"].as_str().unwrap().contains(
            "the validation record _dnsauth.geo.test is absent, while home sees [\"token-1\"]"
        ),
        "{}",
        views[1]
    );
    assert_eq!(views[2]["allow_share"]["allowing"], 1);
    assert_eq!(views[2]["allow_share"]["total"], 2);
    assert!(
        views[2]["summary"].as_str().unwrap().contains(
            "1 of 2 allow (allows issuance from home; forbids issuance from abroad-agent)"
        ),
        "{}",
        views[2]
    );

    // For Sectigo it is the other way round: still one of two.
    let out = bench.cli(&["check", "--ca", "sectigo", "--format", "json", "geo.test"]);
    let r: Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(r["caa"]["verdict"], "forbidden", "{r}");
    let views = views_of(&r);
    let split = views
        .iter()
        .find(|v| v["kind"] == "perspective_verdict_differs")
        .unwrap_or_else(|| panic!("{views:#?}"));
    assert_eq!(split["allow_share"]["allowing"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_alerts_on_a_perspective_split_and_keeps_it_in_status_and_history() {
    let server = geodns();
    let bench = DaemonBench::new();
    let token_file = bench.secret("agent.token", TOKEN);
    let agent = agent(server.addr, &token_file);
    let hook = HttpReceiver::ok("{}").await;
    config(
        &bench,
        &server,
        &agent,
        &token_file,
        &format!(
            r#"
[[alerts.webhook]]
url = "{hook}"
format = "generic"

[[domains]]
name = "geo.test"
ca = ["letsencrypt"]
validation_method = "dns"
"#,
            hook = hook.url("/hook"),
        ),
    );
    let daemon = bench.start();
    let requests = hook.wait_for(1).await;
    let alert = requests[0].json();
    let text = alert.to_string();
    assert_eq!(alert["event"], "blocking", "{alert:#}");
    assert!(
        text.contains("blocks Let's Encrypt as seen elsewhere: from abroad-agent"),
        "{alert:#}"
    );
    let status = bench
        .wait_for("the CAA state in status", || {
            let s = bench.status();
            (!s.is_empty()).then_some(s)
        })
        .await;
    let all = serde_json::to_string(&status).unwrap();
    assert!(all.contains("from abroad-agent"), "{all}");
    let out = bench.cli(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("letsencrypt: CAA allowed here but blocked elsewhere since"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    let history = serde_json::to_string(&bench.history()).unwrap();
    assert!(history.contains("from abroad-agent"), "{history}");
    drop(daemon);
}

/// Globalping's documented DNS result shape, served by a local mock: one
/// probe sees the validation record, the other does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn globalping_dns_measurements_compare_the_validation_record() {
    use support::dns::TestDns;
    use support::http::Reply;
    let dns = TestDns::start().await;
    dns.set_txt("_dnsauth.gp.test", &["token-1"]);
    let created = r#"{"id":"m-dns-1","probesCount":2}"#;
    let finished = r#"{
      "id": "m-dns-1", "type": "dns", "status": "finished",
      "createdAt": "2026-12-01T10:00:00.000Z", "updatedAt": "2026-12-01T10:00:01.000Z",
      "target": "_dnsauth.gp.test", "probesCount": 2,
      "results": [
        {"probe": {"continent": "EU", "country": "DE", "city": "Frankfurt", "asn": 3320, "network": "Telekom"},
         "result": {"status": "finished", "statusCode": 0, "statusCodeName": "NOERROR", "resolver": "192.0.2.53",
                    "answers": [{"name": "_dnsauth.gp.test.", "type": "TXT", "ttl": 60, "class": "IN", "value": "\"token-1\""}],
                    "timings": {"total": 12}, "rawOutput": ";; ANSWER SECTION ..."}},
        {"probe": {"continent": "AS", "country": "SG", "city": "Singapore", "asn": 7473, "network": "Singtel"},
         "result": {"status": "finished", "statusCode": 0, "statusCodeName": "NOERROR", "resolver": "192.0.2.54",
                    "answers": [], "timings": {"total": 30}, "rawOutput": ";; ANSWER SECTION ..."}}
      ]
    }"#;
    let api = HttpReceiver::start(
        vec![Reply::new(202, created), Reply::new(200, finished)],
        Reply::new(404, r#"{"error":{"message":"no such measurement"}}"#),
    )
    .await;
    let bench = DaemonBench::new();
    bench.write_config(
        dns.addr(),
        &format!(
            "view = \"recursive\"\n\n[globalping]\nendpoint = \"{}\"\ntoken_env = \"CV_TEST_GP_TOKEN\"\nlocations = [\"DE\", \"SG\"]\nlimit = 2\n",
            api.url("/")
        ),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certvigil"))
        .args([
            "check",
            "--ca",
            "letsencrypt",
            "--validation-method",
            "dns",
            "--format",
            "json",
            "gp.test",
            "--config",
        ])
        .arg(bench.config())
        .env("CV_TEST_GP_TOKEN", "gp-secret-token")
        .env_remove("CERTVIGIL_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let r: Value = serde_json::from_str(
        text.lines()
            .next()
            .unwrap_or_else(|| panic!("no output: {}", String::from_utf8_lossy(&out.stderr))),
    )
    .unwrap();
    let views = views_of(&r);
    assert_eq!(views.len(), 1, "{views:#?}");
    assert_eq!(views[0]["kind"], "perspective_records_differ");
    assert_eq!(views[0]["severity"], "blocking");
    assert!(
        views[0]["summary"]
            .as_str()
            .unwrap()
            .contains("from globalping/SG-Singapore, the validation record _dnsauth.gp.test is absent, while home sees [\"token-1\"]"),
        "{}",
        views[0]
    );
    assert_eq!(r["issuable"], false, "{r}");
    let asked = api.received();
    let post = &asked[0];
    assert_eq!(post.header("authorization"), Some("Bearer gp-secret-token"));
    let body = post.json();
    assert_eq!(body["type"], "dns");
    assert_eq!(body["target"], "_dnsauth.gp.test");
    assert_eq!(body["measurementOptions"]["query"]["type"], "TXT");
    assert_eq!(body["locations"][1]["magic"], "SG");
    assert_eq!(body["limit"], 2);
    assert!(
        asked[1].target.ends_with("/v1/measurements/m-dns-1"),
        "{:?}",
        asked[1].target
    );
}

/// `POST /v1/resolve` at the real agent: the probe's token, the probe's
/// rate limit, bounded questions; the answer carries the rcode and the
/// records the agent's resolver gave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_resolves_only_with_the_token_within_the_rate_limit() {
    use support::dns::{Behaviour, TestDns};
    let dns = TestDns::start().await;
    dns.set_txt("_dnsauth.r.test", &["token-1"]);
    dns.set_behaviour("broken.test", Behaviour::Servfail);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_certvigil"))
        .args([
            "probe",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--insecure-http",
            "--rate-limit",
            "2",
            "--token-file",
        ])
        .arg(&token_file)
        .args(["--nameserver", &dns.addr().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let agent = Agent {
        url: first
            .trim()
            .strip_prefix("certvigil probe: listening on ")
            .unwrap()
            .to_string(),
        child,
    };
    certvigil::tls::ensure_crypto_provider();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/resolve", agent.url);
    let body = serde_json::json!({"questions": [
        {"name": "_dnsauth.r.test", "type": "TXT"},
        {"name": "broken.test", "type": "CAA"}
    ]});
    let no_token = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    let too_many = serde_json::json!({"questions": (0..17).map(|_| serde_json::json!({"name": "r.test", "type": "CAA"})).collect::<Vec<_>>()});
    let refused = client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&too_many)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let ok: Value = client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answers = ok["answers"].as_array().unwrap();
    assert_eq!(answers[0]["rcode"], "NOERROR", "{ok}");
    // "token-1" as one character-string: length 7, then the octets.
    assert_eq!(answers[0]["records"][0], "07746f6b656e2d31", "{ok}");
    assert_eq!(answers[1]["rcode"], "SERVFAIL", "{ok}");
    // The bucket holds 2: the second accepted request empties it.
    let second = client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    let limited = client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
}
