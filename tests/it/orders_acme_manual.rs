//! ACME orders (RFC 8555) against a local ACME server that verifies every
//! JWS, and manual orders with file validation against a real HTTP server;
//! validation records and CAA from the loopback DNS server.

use crate::support;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use certvigil::ca::Catalogue;
use certvigil::config::{Order, OrderValidation, SecretSource};
use certvigil::dns::DnsHandle;
use certvigil::domain::CertName;
use certvigil::orders::acme::{AcmeClient, AcmeSettings};
use certvigil::orders::judge::{NoticeKind, OrderEventKind, Thresholds};
use certvigil::orders::manual::ManualOrders;
use certvigil::orders::record;
use certvigil::orders::run::{PollReport, RunContext, poll_provider};
use certvigil::orders::validation::{FileCheckSettings, FileFetcher};
use certvigil::orders::{OrderProvider, Phase};
use certvigil::store::Store;
use chrono::{DateTime, TimeZone, Utc};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::json;
use sha2::{Digest, Sha256};
use support::acme_mock::AcmeMock;
use support::dns::TestDns;
use support::http;

fn at(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap() + chrono::Duration::hours(hours)
}

fn raised(report: &PollReport) -> Vec<OrderEventKind> {
    report
        .outcomes
        .iter()
        .flat_map(|o| o.transitions.raised.iter().map(|e| e.kind))
        .collect()
}

/// A fresh P-256 account key: the PEM file's text and the public point.
fn account_key() -> (String, Vec<u8>) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pkcs8.as_ref())
    );
    (pem, pair.public_key().as_ref().to_vec())
}

/// RFC 7638 thumbprint of the P-256 point, computed here independently.
fn thumbprint(point: &[u8]) -> String {
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..65])
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

struct Bench {
    acme: AcmeMock,
    dns: TestDns,
    handle: DnsHandle,
    store: Store,
    dir: tempfile::TempDir,
    point: Vec<u8>,
}

impl Bench {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (pem, point) = account_key();
        std::fs::write(dir.path().join("account.key"), pem).unwrap();
        let acme = AcmeMock::start().await;
        acme.register_account(point.clone());
        acme.set_resource(
            "/acme/order/1",
            json!({"status": "pending", "expires": "2026-11-27T00:00:00Z",
                   "identifiers": [{"type": "dns", "value": "*.example.com"}],
                   "authorizations": [acme.url("/acme/authz/1")],
                   "finalize": acme.url("/acme/order/1/finalize")}),
        );
        acme.set_resource(
            "/acme/authz/1",
            json!({"status": "pending", "expires": "2026-11-27T00:00:00Z", "wildcard": true,
                   "identifier": {"type": "dns", "value": "example.com"},
                   "challenges": [{"type": "dns-01", "status": "pending", "token": "tok-123",
                                   "url": acme.url("/acme/chall/1")}]}),
        );
        let dns = TestDns::start().await;
        let handle = DnsHandle::new(&dns.settings()).unwrap();
        let store = Store::open(&dir.path().join("certvigil.db")).await.unwrap();
        Self {
            acme,
            dns,
            handle,
            store,
            dir,
            point,
        }
    }

    fn client(&self, with_key: bool) -> AcmeClient {
        AcmeClient::new(AcmeSettings {
            name: "le".into(),
            directory: Some(self.acme.url("/directory").parse().unwrap()),
            account_key: with_key.then(|| {
                SecretSource::file(
                    "providers[1].account_key_file",
                    self.dir.path().join("account.key"),
                )
            }),
            account_url: None,
            ca: Catalogue::builtin().resolve("letsencrypt").ok(),
            challenge: None,
            orders: vec![self.acme.url("/acme/order/1").parse().unwrap()],
        })
        .unwrap()
    }

    async fn poll<P: OrderProvider>(
        &self,
        provider: &P,
        files: &FileFetcher,
        now: DateTime<Utc>,
    ) -> PollReport {
        let thresholds = Thresholds::default();
        let views = certvigil::views::Views::default();
        let ctx = RunContext {
            dns: &self.handle,
            dnssec: None,
            views: &views,
            files,
            thresholds: &thresholds,
            risk: None,
            channels: &[],
        };
        poll_provider(provider, self.store.pool(), &ctx, now).await
    }
}

fn files() -> FileFetcher {
    FileFetcher::new(FileCheckSettings::default(), crate::support::dns::nowhere()).unwrap()
}

#[tokio::test]
async fn acme_dns01_record_is_checked_with_the_key_authorization() {
    let b = Bench::start().await;
    let client = b.client(true);
    let report = b.poll(&client, &files(), at(1)).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(raised(&report), [OrderEventKind::OrderBlocked]);
    let e = &report.outcomes[0].transitions.raised[0];
    assert!(
        e.reason.contains("_acme-challenge.example.com"),
        "{}",
        e.reason
    );

    // Publish the RFC 8555 §8.4 value, computed independently.
    let value = URL_SAFE_NO_PAD.encode(Sha256::digest(format!("tok-123.{}", thumbprint(&b.point))));
    b.dns.set_txt("_acme-challenge.example.com", &[&value]);
    let report = b.poll(&client, &files(), at(2)).await;
    assert_eq!(raised(&report), []);
    assert_eq!(report.outcomes[0].transitions.cleared.len(), 1);
    // Let's Encrypt style: plain GETs were enough.
    let (gets, posts, refused) = b.acme.counts();
    assert!(gets >= 4, "{gets}");
    assert_eq!(posts, 0);
    assert!(refused.is_empty(), "{refused:?}");

    // The order expires in a week: warned when under three days are left.
    let report = b.poll(&client, &files(), at(24 * 5)).await;
    assert!(
        raised(&report).contains(&OrderEventKind::OrderDeadline),
        "{:?}",
        raised(&report)
    );
}

/// The checked-in 2048-bit RSA account key (tests/data), its (n, e) read
/// with ring, and its RFC 7638 thumbprint computed here.
fn rsa_account_key() -> (String, Vec<u8>, Vec<u8>, String) {
    let pem = include_str!("../data/acme-account-rsa.pem");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(b64).unwrap();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    let public = ring::signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    let strip = |v: &[u8]| v[v.iter().position(|b| *b != 0).unwrap()..].to_vec();
    let (n, e) = (strip(&public.n), strip(&public.e));
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(&e),
        URL_SAFE_NO_PAD.encode(&n)
    );
    let thumb = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    (pem.to_string(), n, e, thumb)
}

/// An RSA account key signs RS256 JWSs the server accepts (account lookup
/// by jwk, then kid), and its thumbprint makes the key authorization the
/// CA expects: no false order_blocked once the record is published.
#[tokio::test]
async fn acme_rsa_account_keys_sign_rs256_and_give_the_right_key_authorization() {
    let b = Bench::start().await;
    let (pem, n, e, thumb) = rsa_account_key();
    std::fs::write(b.dir.path().join("account.key"), pem).unwrap();
    b.acme.register_rsa_account(n, e);
    b.acme.require_post_as_get(true);
    let client = b.client(true);
    let report = b.poll(&client, &files(), at(1)).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(raised(&report), [OrderEventKind::OrderBlocked]);
    let (_, posts, refused) = b.acme.counts();
    assert!(posts >= 2, "{posts}");
    assert!(refused.iter().all(|r| r.starts_with("GET ")), "{refused:?}");

    let value = URL_SAFE_NO_PAD.encode(Sha256::digest(format!("tok-123.{thumb}")));
    b.dns.set_txt("_acme-challenge.example.com", &[&value]);
    let report = b.poll(&client, &files(), at(2)).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(raised(&report), []);
    assert_eq!(report.outcomes[0].transitions.cleared.len(), 1);
}

#[tokio::test]
async fn acme_servers_that_refuse_get_are_read_with_signed_post_as_get() {
    let b = Bench::start().await;
    b.acme.require_post_as_get(true);
    let report = b.poll(&b.client(true), &files(), at(1)).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.outcomes.len(), 1);
    let (_, posts, refused) = b.acme.counts();
    assert_eq!(posts, 2, "order and authorization");
    assert!(refused.iter().all(|r| r.starts_with("GET ")), "{refused:?}");

    // Without the account key the error says what to configure.
    let report = b.poll(&b.client(false), &files(), at(2)).await;
    assert!(
        report.errors[0].1.contains("account_key_file"),
        "{:?}",
        report.errors
    );
}

#[tokio::test]
async fn acme_invalid_order_raises_order_failed_with_the_cas_error() {
    let b = Bench::start().await;
    b.acme.set_resource(
        "/acme/authz/1",
        json!({"status": "invalid", "identifier": {"type": "dns", "value": "example.com"}, "wildcard": true,
               "challenges": [{"type": "dns-01", "status": "invalid", "token": "tok-123",
                               "error": {"type": "urn:ietf:params:acme:error:caa",
                                         "detail": "CAA record for example.com prevents issuance"}}]}),
    );
    b.acme.set_resource(
        "/acme/order/1",
        json!({"status": "invalid", "identifiers": [{"type": "dns", "value": "*.example.com"}],
               "authorizations": [b.acme.url("/acme/authz/1")]}),
    );
    let report = b.poll(&b.client(true), &files(), at(1)).await;
    assert_eq!(raised(&report), [OrderEventKind::OrderFailed]);
    let e = &report.outcomes[0].transitions.raised[0];
    assert!(
        e.summary
            .contains("CAA record for example.com prevents issuance"),
        "{}",
        e.summary
    );
}

fn manual_order(url: &str) -> Order {
    Order {
        name: "www-2026".into(),
        ca: Catalogue::builtin().resolve("sectigo").unwrap(),
        domains: vec![CertName::parse("www.example.com").unwrap()],
        validation: Some(OrderValidation::File {
            url: url.parse().unwrap(),
            value: "2026112400000sectigo".into(),
        }),
        placed_at: Some(at(0).fixed_offset()),
    }
}

#[tokio::test]
async fn manual_file_order_is_blocked_until_the_file_serves_the_value_then_issues_by_notice() {
    let b = Bench::start().await;
    let server = http::HttpReceiver::ok("the old token").await;
    // The https attempt goes to a closed port on 127.0.0.1.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let files = FileFetcher::new(
        FileCheckSettings {
            http_port: server.port,
            https_port: closed_port,
            timeout: std::time::Duration::from_secs(5),
        },
        crate::support::dns::nowhere(),
    )
    .unwrap();
    let manual = ManualOrders::new(&[manual_order(
        "http://127.0.0.1/.well-known/pki-validation/fileauth.txt",
    )]);
    let report = b.poll(&manual, &files, at(1)).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(raised(&report), [OrderEventKind::OrderBlocked]);
    let e = &report.outcomes[0].transitions.raised[0];
    assert!(e.reason.contains("the old token"), "{}", e.reason);
    assert_eq!(
        server.received()[0].target,
        "/.well-known/pki-validation/fileauth.txt"
    );

    let good = http::HttpReceiver::ok("2026112400000sectigo\n").await;
    let files = FileFetcher::new(
        FileCheckSettings {
            http_port: good.port,
            https_port: closed_port,
            timeout: std::time::Duration::from_secs(5),
        },
        crate::support::dns::nowhere(),
    )
    .unwrap();
    let report = b.poll(&manual, &files, at(2)).await;
    assert_eq!(raised(&report), []);
    assert_eq!(report.outcomes[0].transitions.cleared.len(), 1);

    // The CA mails that the certificate is issued: recorded, it resolves.
    let order = record::find_order(b.store.pool(), "www-2026")
        .await
        .unwrap();
    record::add_notice(
        b.store.pool(),
        order.id,
        &certvigil::orders::judge::Notice {
            at: at(3),
            kind: NoticeKind::Issued,
            note: Some("Sectigo: your certificate is ready".into()),
        },
        at(3),
    )
    .await
    .unwrap();
    let report = b.poll(&manual, &files, at(4)).await;
    assert_eq!(raised(&report), [OrderEventKind::OrderIssued]);
    let order = record::find_order(b.store.pool(), "manual/www-2026")
        .await
        .unwrap();
    assert_eq!(order.phase, Phase::Issued);
}
