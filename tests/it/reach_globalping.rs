//! The Globalping vantage point against a local HTTP server that serves the
//! API's documented answers (jsdelivr/globalping `public/v1/spec.yaml`): a
//! measurement is created, is `in-progress` at first, then `finished` with
//! one result per probe. And its rate limit is honoured.

use crate::support;

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use certvigil::checks::reach::globalping::Location;
use certvigil::checks::reach::model::VantageOutcome;
use certvigil::checks::reach::vantage::Access;
use certvigil::checks::reach::{
    self, Method, Ports, ProbeSettings, ProbeTarget, ReachVerdictKind, VantagePoint,
};
use certvigil::config::SecretSource;
use certvigil::dns::DnsHandle;
use certvigil::domain::DomainName;
use serde_json::{Value, json};
use support::dns::TestDns;
use support::site;

const NAME: &str = "shop.test";
const CANARY: &str = "/.well-known/pki-validation/canary.txt";

#[derive(Default)]
struct Mock {
    created: Vec<(Option<String>, Value)>,
    polls: Vec<String>,
    rate_limited: bool,
}

type Shared = Arc<Mutex<Mock>>;

fn result(country: &str, city: &str, result: Value) -> Value {
    json!({
        "probe": {"continent": "EU", "region": "Western Europe", "country": country, "state": null,
                  "city": city, "asn": 3320, "network": "Test", "latitude": 0.0, "longitude": 0.0,
                  "tags": [], "resolvers": ["private"]},
        "result": result,
    })
}

fn finished(body: &str) -> Value {
    json!({
        "status": "finished", "rawOutput": "HTTP/1.1 200\n...", "rawHeaders": "content-type: text/plain",
        "rawBody": body, "truncated": false, "headers": {"content-type": "text/plain"},
        "statusCode": 200, "statusCodeName": "OK", "resolvedAddress": "203.0.113.10",
        "timings": {"total": 180, "dns": 5, "tcp": 60, "tls": null, "firstByte": 100, "download": 15},
        "tls": null,
    })
}

fn failed(raw: &str) -> Value {
    json!({"status": "failed", "rawOutput": raw})
}

async fn create(
    State(m): State<Shared>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> axum::response::Response {
    let mut m = m.lock().unwrap();
    if m.rate_limited {
        m.created.push((None, body.0));
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("x-ratelimit-limit", "250"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "120")],
            axum::Json(json!({"error": {"type": "rate_limit_exceeded", "message": "API rate limit exceeded."}})),
        )
            .into_response();
    }
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    m.created.push((auth, body.0));
    let id = format!("m{}", m.created.len());
    (
        StatusCode::ACCEPTED,
        [
            ("x-ratelimit-limit", "250"),
            ("x-ratelimit-remaining", "200"),
            ("x-ratelimit-reset", "3000"),
        ],
        axum::Json(json!({"id": id, "probesCount": 2})),
    )
        .into_response()
}

async fn measurement(State(m): State<Shared>, Path(id): Path<String>) -> axum::Json<Value> {
    let mut m = m.lock().unwrap();
    m.polls.push(id.clone());
    let seen = m.polls.iter().filter(|p| **p == id).count();
    if seen == 1 {
        return axum::Json(json!({
            "id": id, "type": "http", "status": "in-progress", "createdAt": "2026-11-24T06:00:00Z",
            "updatedAt": "2026-11-24T06:00:00Z", "target": NAME, "probesCount": 2,
            "results": [
                result("DE", "Frankfurt", json!({"status": "in-progress", "rawOutput": ""})),
                result("JP", "Tokyo", json!({"status": "in-progress", "rawOutput": ""})),
            ],
        }));
    }
    // Frankfurt gets the file; Tokyo's connection times out (a geo-block
    // that covers Japan but not Germany).
    axum::Json(json!({
        "id": id, "type": "http", "status": "finished", "createdAt": "2026-11-24T06:00:00Z",
        "updatedAt": "2026-11-24T06:00:02Z", "target": NAME, "probesCount": 2,
        "results": [
            result("DE", "Frankfurt", finished("canary-7f3a\n")),
            result("JP", "Tokyo", failed("connect ETIMEDOUT 203.0.113.10:80")),
        ],
    }))
}

async fn start_mock(state: Shared) -> String {
    let app = Router::new()
        .route("/v1/measurements", post(create))
        .route("/v1/measurements/{id}", get(measurement))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn gp_vantage(endpoint: &str, token: Option<SecretSource>) -> VantagePoint {
    VantagePoint {
        name: "gp".into(),
        counters: Default::default(),
        overseas: true,
        access: Access::Globalping {
            endpoint: endpoint.parse().unwrap(),
            token,
            locations: vec![Location::country("DE"), Location::country("JP")],
        },
    }
}

#[tokio::test]
async fn globalping_results_are_one_vantage_point_per_probe() {
    let dns_server = TestDns::start().await;
    dns_server.set_a(NAME, &[Ipv4Addr::LOCALHOST]);
    let site = site::TestSite::start(NAME);
    site.serve(CANARY, "canary-7f3a");
    let state: Shared = Arc::default();
    let endpoint = start_mock(state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("gp.token");
    std::fs::write(&token_file, "gp-token-1\n").unwrap();

    let target = ProbeTarget {
        name: DomainName::parse(NAME).unwrap(),
        path: CANARY.into(),
        expected: Some("canary-7f3a".into()),
        ports: Ports {
            http: site.http.port(),
            https: site.https.port(),
        },
    };
    let vantages = vec![
        VantagePoint::local(),
        gp_vantage(
            &endpoint,
            Some(SecretSource::file("token_file", &token_file)),
        ),
    ];
    let dns = DnsHandle::new(&dns_server.settings()).unwrap();
    let obs = reach::check(&target, &vantages, &dns, &ProbeSettings::default()).await;
    let names: Vec<&str> = obs.vantages.iter().map(|v| v.vantage.as_str()).collect();
    assert_eq!(names, ["local", "gp/DE-Frankfurt", "gp/JP-Tokyo"]);

    let ca = certvigil::ca::Catalogue::builtin()
        .resolve("sectigo")
        .unwrap();
    let verdict = reach::judge(&obs, &reach::context_for(Method::File, &ca));
    assert_eq!(
        verdict.verdict,
        ReachVerdictKind::GeoBlocked,
        "{verdict:#?}"
    );
    assert!(verdict.reason.contains("gp/JP-Tokyo"), "{}", verdict.reason);
    let frankfurt = &verdict.vantages[1];
    assert!(frankfurt.answered);
    assert_eq!(frankfurt.ports[0].body_matched, Some(true));
    assert_eq!(verdict.vantages[2].ports[0].result, "timeout");
    assert!(verdict.remedy.unwrap().contains("91.199.212.132"));

    let m = state.lock().unwrap();
    assert_eq!(m.created.len(), 2, "one measurement per port");
    let (auth, http) = &m.created[0];
    assert_eq!(auth.as_deref(), Some("Bearer gp-token-1"));
    assert_eq!(http["type"], "http");
    assert_eq!(http["target"], NAME);
    assert_eq!(
        http["locations"],
        json!([{"country": "DE"}, {"country": "JP"}])
    );
    assert_eq!(http["measurementOptions"]["protocol"], "HTTP");
    assert_eq!(http["measurementOptions"]["port"], site.http.port());
    assert_eq!(http["measurementOptions"]["request"]["path"], CANARY);
    assert_eq!(http["measurementOptions"]["request"]["method"], "GET");
    let https = &m.created[1].1;
    assert_eq!(https["measurementOptions"]["protocol"], "HTTPS");
    assert_eq!(
        https["locations"], "m1",
        "the https test reuses the http test's probes"
    );
    assert_eq!(
        m.polls.iter().filter(|p| *p == "m1").count(),
        2,
        "polled until finished"
    );
}

#[tokio::test]
async fn a_rate_limit_stops_further_measurements_until_it_resets() {
    let state: Shared = Arc::new(Mutex::new(Mock {
        rate_limited: true,
        ..Mock::default()
    }));
    let endpoint = start_mock(state.clone()).await;
    let target = ProbeTarget {
        name: DomainName::parse(NAME).unwrap(),
        path: CANARY.into(),
        expected: None,
        ports: Ports::STANDARD,
    };
    let dns_server = TestDns::start().await;
    let dns = DnsHandle::new(&dns_server.settings()).unwrap();
    let settings = ProbeSettings {
        connect_timeout: Duration::from_secs(2),
        ..ProbeSettings::default()
    };
    for _ in 0..2 {
        let obs =
            reach::vantage::observe(&target, &gp_vantage(&endpoint, None), &dns, &settings).await;
        match &obs[0].outcome {
            VantageOutcome::Error { message } => {
                assert!(
                    message.contains("rate limit") && message.contains("resume in"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        state.lock().unwrap().created.len(),
        1,
        "the second check did not ask while the limit lasts"
    );
}
