//! ACME (RFC 8555) orders followed by their order URL.
//!
//! Reading an order: RFC 8555 §6.3 makes every read a POST-as-GET (a JWS
//! with an empty payload, signed with the account key), but lets a server
//! also answer a plain GET; Let's Encrypt does for orders and
//! authorizations. certvigil tries GET first and, when the server answers
//! 405 Method Not Allowed (§6.3) or 401/403, signs a POST-as-GET with the
//! account key (`account_key_file`). The account URL (`kid`) is the one
//! configured, or looked up with `newAccount` and `onlyReturnExisting`
//! (§7.3.1).
//!
//! Reported: the order's `status` (§7.1.6: pending, ready, processing,
//! valid, invalid), its `expires` and `error`; each authorization's status
//! and `expires`; the challenge in use and, with the account key, the exact
//! record or file it needs (§8.1 key authorization, §8.3 http-01, §8.4
//! dns-01). `Retry-After` on 429/503 is honoured (§6.6).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use reqwest::{StatusCode, Url};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::sync::Mutex;

use super::{
    Deadline, OrderKey, OrderObservation, OrderProvider, OrderStatus, Phase, ProgressSignals,
    ProviderError, Requirement, SourceKind, ValidationMethod, ValidationRequirement,
};
use crate::ca::CaChoice;
use crate::config::{AcmeProvider, SecretError, SecretSource};
use crate::domain::{CertName, DomainName};
use crate::http::{self, HttpError, redact};

/// The error types of RFC 8555 §6.7 certvigil reacts to.
const BAD_NONCE: &str = "urn:ietf:params:acme:error:badNonce";
/// One request to the ACME server, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read: an order with the 100 names a certificate
/// may hold is some tens of KiB.
pub const API_REPLY_CAP: usize = 1024 * 1024;

#[derive(Debug, Error)]
pub enum AcmeError {
    #[error("provider {provider}: {source}")]
    Secret {
        provider: String,
        #[source]
        source: SecretError,
    },
    #[error(
        "provider {provider}: {url} needs a signed request (POST-as-GET, RFC 8555 §6.3) and no account key is configured; set account_key_file to the ACME client's account key"
    )]
    NeedsAccountKey { provider: String, url: String },
    #[error(
        "provider {provider}: the account key cannot be used: {detail}; certvigil reads PEM keys (PKCS#8 \"PRIVATE KEY\", \"EC PRIVATE KEY\" for P-256, \"RSA PRIVATE KEY\")"
    )]
    BadAccountKey { provider: String, detail: String },
    #[error(
        "provider {provider}: no directory is configured to look up the account with (RFC 8555 §7.3.1); set endpoint to the ACME directory URL or account_url to the account's URL"
    )]
    NoDirectory { provider: String },
    #[error(
        "provider {provider}: the ACME server throttled the request to {url} (HTTP {status}); certvigil asks again after {retry_after:?}"
    )]
    RateLimited {
        provider: String,
        url: String,
        status: u16,
        retry_after: Duration,
    },
    #[error("provider {provider}: {url} answered HTTP {status}: {detail}")]
    Server {
        provider: String,
        url: String,
        status: u16,
        detail: String,
    },
    #[error("provider {provider}: could not reach {url}: {detail}; check the network and the URL")]
    Http {
        provider: String,
        url: String,
        detail: String,
    },
    #[error("provider {provider}: the answer from {url} is not what RFC 8555 describes: {detail}")]
    BadResponse {
        provider: String,
        url: String,
        detail: String,
    },
}

impl AcmeError {
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AcmeError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// One ACME provider: where its directory is, the account key, and the
/// order URLs to follow.
#[derive(Debug, Clone)]
pub struct AcmeSettings {
    /// The `[[providers]]` name.
    pub name: String,
    /// The directory URL (`endpoint`), for `newNonce` and `newAccount`.
    pub directory: Option<Url>,
    /// The account key (`account_key_file`), for POST-as-GET and for the
    /// key authorizations of challenges.
    pub account_key: Option<SecretSource>,
    /// The account URL, if known; else looked up.
    pub account_url: Option<String>,
    /// The CA, for the CAA check.
    pub ca: Option<CaChoice>,
    /// The challenge type the ACME client answers (`dns-01`, `http-01`),
    /// when it cannot be told from the authorization.
    pub challenge: Option<String>,
    /// The order URLs to follow.
    pub orders: Vec<Url>,
}

impl AcmeSettings {
    /// From the configuration: the `[[providers]]` entry with
    /// `kind = "acme"` (`Config::acme`), which carries its `[[orders]]`.
    pub fn from_config(provider: &AcmeProvider) -> AcmeSettings {
        AcmeSettings {
            name: provider.name.clone(),
            directory: provider.directory.clone(),
            account_key: provider.account_key.clone(),
            account_url: provider.account_url.as_ref().map(ToString::to_string),
            ca: provider.ca.clone(),
            challenge: provider.challenge.map(|c| c.as_str().to_string()),
            orders: provider.orders.iter().map(|o| o.url.clone()).collect(),
        }
    }
}

#[derive(Debug, Default)]
struct Session {
    nonce: Option<String>,
    kid: Option<String>,
    new_nonce: Option<Url>,
    new_account: Option<Url>,
}

#[derive(Debug)]
pub struct AcmeClient {
    settings: AcmeSettings,
    http: reqwest::Client,
    session: Mutex<Session>,
}

/// The account key, ready to sign.
enum AccountKey {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl AccountKey {
    fn alg(&self) -> &'static str {
        match self {
            AccountKey::Ec(_) => "ES256",
            AccountKey::Rsa(_) => "RS256",
        }
    }

    /// The public key as a JWK with only the required members in
    /// lexicographic order, which is also the RFC 7638 thumbprint input.
    fn jwk(&self) -> Value {
        match self {
            AccountKey::Ec(k) => {
                let point = k.public_key().as_ref();
                json!({"crv": "P-256", "kty": "EC",
                       "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                       "y": URL_SAFE_NO_PAD.encode(&point[33..65])})
            }
            AccountKey::Rsa(k) => {
                // n and e straight from the key (big-endian, no leading
                // zeros, as RFC 7518 §6.3.1 wants): never an empty
                // stand-in, which would give a wrong thumbprint and a
                // false order_blocked.
                let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(k.public());
                json!({"e": URL_SAFE_NO_PAD.encode(strip_zeros(&public.e)),
                       "kty": "RSA",
                       "n": URL_SAFE_NO_PAD.encode(strip_zeros(&public.n))})
            }
        }
    }

    /// RFC 7638 thumbprint, base64url.
    fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        // serde_json keeps object keys sorted (no preserve_order feature),
        // and the JWK has no white space: the RFC 7638 canonical form.
        let canonical = serde_json::to_string(&jwk).expect("a JWK serializes");
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let rng = SystemRandom::new();
        match self {
            AccountKey::Ec(k) => k
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_string()),
            AccountKey::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| "RSA signing failed".to_string())?;
                Ok(sig)
            }
        }
    }
}

/// Reads a PEM account key: PKCS#8 (EC P-256 or RSA), SEC1 EC, PKCS#1 RSA.
fn parse_account_key(pem: &str) -> Result<AccountKey, String> {
    let (label, der) = pem_decode(pem)?;
    let rng = SystemRandom::new();
    let ec = |pkcs8: &[u8]| {
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
    };
    match label.as_str() {
        "PRIVATE KEY" => ec(&der)
            .map(AccountKey::Ec)
            .or_else(|_| RsaKeyPair::from_pkcs8(&der).map(AccountKey::Rsa))
            .map_err(|e| format!("the PKCS#8 key is neither EC P-256 nor RSA ({e})")),
        "EC PRIVATE KEY" => ec(&sec1_to_pkcs8(&der))
            .map(AccountKey::Ec)
            .map_err(|e| format!("the EC key is not a P-256 key with its public key ({e})")),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der)
            .map(AccountKey::Rsa)
            .map_err(|e| format!("the RSA key is rejected ({e})")),
        other => Err(format!(
            "a PEM block labelled {other:?} is not a private key"
        )),
    }
}

fn pem_decode(pem: &str) -> Result<(String, Vec<u8>), String> {
    // Every slice below starts after the one before it, so a cut-short or
    // empty block is an error message, never a panic in the poller.
    let begin = pem
        .find("-----BEGIN ")
        .ok_or("no \"-----BEGIN\" line: the file is not PEM")?;
    let rest = &pem[begin + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or("a broken BEGIN line")?;
    let label = rest[..label_end].trim().to_string();
    let body = &rest[label_end + "-----".len()..];
    let end = body.find("-----END ").ok_or("no \"-----END\" line")?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    if b64.is_empty() {
        return Err(format!("the PEM block {label:?} is empty"));
    }
    let der = STANDARD
        .decode(b64)
        .map_err(|e| format!("the PEM body is not base64 ({e})"))?;
    Ok((label, der))
}

/// Wraps a SEC1 `ECPrivateKey` (RFC 5915) for P-256 in PKCS#8 (RFC 5208),
/// which is what ring reads.
fn sec1_to_pkcs8(sec1: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { id-ecPublicKey, prime256v1 }
    const ALG: &[u8] = &[
        0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
        0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ];
    let mut inner = vec![0x02, 0x01, 0x00];
    inner.extend_from_slice(ALG);
    inner.extend(der_tlv(0x04, sec1));
    der_tlv(0x30, &inner)
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// A big-endian integer without leading zero octets.
fn strip_zeros(v: &[u8]) -> &[u8] {
    let i = v.iter().position(|b| *b != 0).unwrap_or(v.len());
    &v[i..]
}

/// A fetched resource: its JSON and the `Retry-After` it came with.
struct Fetched {
    body: Value,
}

impl AcmeClient {
    pub fn new(settings: AcmeSettings) -> Result<Self, AcmeError> {
        crate::tls::ensure_crypto_provider();
        let http = http::client(&http::ClientOptions::api(
            Duration::from_secs(10),
            REQUEST_TIMEOUT,
        ))
        .map_err(|e| AcmeError::Http {
            provider: settings.name.clone(),
            url: "-".into(),
            detail: e.to_string(),
        })?;
        Ok(Self {
            session: Mutex::new(Session {
                kid: settings.account_url.clone(),
                ..Session::default()
            }),
            settings,
            http,
        })
    }

    /// [`AcmeClient::new`] with [`AcmeSettings::from_config`].
    pub fn from_config(provider: &AcmeProvider) -> Result<Self, AcmeError> {
        Self::new(AcmeSettings::from_config(provider))
    }

    fn provider(&self) -> String {
        self.settings.name.clone()
    }

    fn key(&self) -> Result<Option<AccountKey>, AcmeError> {
        let Some(source) = &self.settings.account_key else {
            return Ok(None);
        };
        let pem = source.read().map_err(|source| AcmeError::Secret {
            provider: self.provider(),
            source,
        })?;
        parse_account_key(pem.expose())
            .map(Some)
            .map_err(|detail| AcmeError::BadAccountKey {
                provider: self.provider(),
                detail,
            })
    }

    /// One request, no redirect followed, the answer capped.
    async fn send(&self, request: http::Request) -> Result<http::Fetched, AcmeError> {
        let url = request.url.clone();
        let limits = http::Limits {
            body_cap: API_REPLY_CAP,
            total: REQUEST_TIMEOUT,
        };
        http::fetch(&self.http, request, &limits, http::Redirects::None)
            .await
            .map_err(|e| match e {
                e @ HttpError::BodyTooLarge { .. } => AcmeError::BadResponse {
                    provider: self.provider(),
                    url: redact::url(&url),
                    detail: e.to_string(),
                },
                e => AcmeError::Http {
                    provider: self.provider(),
                    url: redact::url(&url),
                    detail: e.to_string(),
                },
            })
    }

    /// Reads a resource: GET, then POST-as-GET when the server wants it.
    async fn fetch(&self, url: &Url) -> Result<Fetched, AcmeError> {
        let response = self.send(http::Request::get(url.clone())).await?;
        let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY);
        if matches!(
            status,
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return self.post_as_get(url).await;
        }
        self.read(url, response).await
    }

    async fn read(&self, url: &Url, response: http::Fetched) -> Result<Fetched, AcmeError> {
        let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY);
        if let Some(n) = response.header("Replay-Nonce") {
            self.session.lock().await.nonce = Some(n.to_string());
        }
        let retry_after = response.header("Retry-After").and_then(parse_retry_after);
        let text = String::from_utf8_lossy(&response.body).into_owned();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            return Err(AcmeError::RateLimited {
                provider: self.provider(),
                url: redact::url(url),
                status: status.as_u16(),
                retry_after: retry_after.unwrap_or(Duration::from_secs(60)),
            });
        }
        if !status.is_success() {
            let detail = serde_json::from_str::<Problem>(&text)
                .map(|p| {
                    format!(
                        "{} ({})",
                        p.detail.unwrap_or_default(),
                        p.kind.unwrap_or_default()
                    )
                })
                .map(|d| redact::peer_text(&d, redact::PEER_EXCERPT_CHARS))
                .unwrap_or_else(|_| redact::peer_text(&text, redact::PEER_EXCERPT_CHARS));
            return Err(AcmeError::Server {
                provider: self.provider(),
                url: redact::url(url),
                status: status.as_u16(),
                detail,
            });
        }
        let body = serde_json::from_str(&text).map_err(|e| AcmeError::BadResponse {
            provider: self.provider(),
            url: redact::url(url),
            detail: e.to_string(),
        })?;
        Ok(Fetched { body })
    }

    async fn post_as_get(&self, url: &Url) -> Result<Fetched, AcmeError> {
        let key = self.key()?.ok_or_else(|| AcmeError::NeedsAccountKey {
            provider: self.provider(),
            url: redact::url(url),
        })?;
        let kid = self.account_url(&key).await?;
        // One retry on badNonce (RFC 8555 §6.5: the error carries a fresh nonce).
        for attempt in 0..2 {
            let nonce = self.nonce().await?;
            let body = jws(&key, json!({"kid": kid}), &nonce, url, None).map_err(|detail| {
                AcmeError::BadAccountKey {
                    provider: self.provider(),
                    detail,
                }
            })?;
            let response = self
                .send(
                    http::Request::post(url.clone(), body.into_bytes())
                        .header("Content-Type", "application/jose+json"),
                )
                .await?;
            match self.read(url, response).await {
                Err(AcmeError::Server { detail, .. })
                    if attempt == 0 && detail.contains(BAD_NONCE) =>
                {
                    continue;
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    async fn directory(&self) -> Result<(Url, Url), AcmeError> {
        {
            let s = self.session.lock().await;
            if let (Some(n), Some(a)) = (&s.new_nonce, &s.new_account) {
                return Ok((n.clone(), a.clone()));
            }
        }
        let dir = self
            .settings
            .directory
            .clone()
            .ok_or(AcmeError::NoDirectory {
                provider: self.provider(),
            })?;
        let d = self
            .read(&dir, self.send(http::Request::get(dir.clone())).await?)
            .await?;
        let url_of = |k: &str| {
            d.body
                .get(k)
                .and_then(Value::as_str)
                .and_then(|u| Url::parse(u).ok())
                .ok_or_else(|| AcmeError::BadResponse {
                    provider: self.provider(),
                    url: redact::url(&dir),
                    detail: format!("the directory has no {k} URL"),
                })
        };
        let (n, a) = (url_of("newNonce")?, url_of("newAccount")?);
        let mut s = self.session.lock().await;
        s.new_nonce = Some(n.clone());
        s.new_account = Some(a.clone());
        Ok((n, a))
    }

    async fn nonce(&self) -> Result<String, AcmeError> {
        if let Some(n) = self.session.lock().await.nonce.take() {
            return Ok(n);
        }
        let (new_nonce, _) = self.directory().await?;
        let response = self.send(http::Request::head(new_nonce.clone())).await?;
        response
            .header("Replay-Nonce")
            .map(str::to_string)
            .ok_or_else(|| AcmeError::BadResponse {
                provider: self.provider(),
                url: redact::url(&new_nonce),
                detail: "newNonce gave no Replay-Nonce header".into(),
            })
    }

    /// The account URL: configured, or found with `onlyReturnExisting`.
    async fn account_url(&self, key: &AccountKey) -> Result<String, AcmeError> {
        if let Some(kid) = self.session.lock().await.kid.clone() {
            return Ok(kid);
        }
        let (_, new_account) = self.directory().await?;
        let nonce = self.nonce().await?;
        let body = jws(
            key,
            json!({"jwk": key.jwk()}),
            &nonce,
            &new_account,
            Some(&json!({"onlyReturnExisting": true})),
        )
        .map_err(|detail| AcmeError::BadAccountKey {
            provider: self.provider(),
            detail,
        })?;
        let response = self
            .send(
                http::Request::post(new_account.clone(), body.into_bytes())
                    .header("Content-Type", "application/jose+json"),
            )
            .await?;
        let location = response.header("Location").map(str::to_string);
        self.read(&new_account, response).await?;
        let kid = location.ok_or_else(|| AcmeError::BadResponse {
            provider: self.provider(),
            url: redact::url(&new_account),
            detail: "newAccount gave no Location (the account URL)".into(),
        })?;
        self.session.lock().await.kid = Some(kid.clone());
        Ok(kid)
    }

    /// Everything about one order.
    pub async fn observe_order(
        &self,
        url: &Url,
        now: DateTime<Utc>,
    ) -> Result<OrderObservation, AcmeError> {
        let order: AcmeOrder = self.parse(url, self.fetch(url).await?)?;
        let mut authzs = Vec::new();
        for a in &order.authorizations {
            let Ok(a_url) = Url::parse(a) else { continue };
            let authz: Authorization = self.parse(&a_url, self.fetch(&a_url).await?)?;
            authzs.push(authz);
        }
        let key = self.key().ok().flatten();
        Ok(observation_of(
            &self.settings,
            url,
            &order,
            &authzs,
            key.as_ref().map(AccountKey::thumbprint).as_deref(),
            now,
        ))
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, url: &Url, f: Fetched) -> Result<T, AcmeError> {
        serde_json::from_value(f.body).map_err(|e| AcmeError::BadResponse {
            provider: self.provider(),
            url: redact::url(url),
            detail: e.to_string(),
        })
    }
}

/// The JWS of RFC 8555 §6.2 in flattened JSON serialization (RFC 7515
/// §7.2.2). `payload` `None` is POST-as-GET: the empty string.
fn jws(
    key: &AccountKey,
    id: Value,
    nonce: &str,
    url: &Url,
    payload: Option<&Value>,
) -> Result<String, String> {
    let mut protected = json!({"alg": key.alg(), "nonce": nonce, "url": url.as_str()});
    if let (Value::Object(p), Value::Object(i)) = (&mut protected, id) {
        p.extend(i);
    }
    let protected = URL_SAFE_NO_PAD.encode(protected.to_string());
    let payload = payload
        .map(|p| URL_SAFE_NO_PAD.encode(p.to_string()))
        .unwrap_or_default();
    let signature = key.sign(format!("{protected}.{payload}").as_bytes())?;
    Ok(json!({"protected": protected, "payload": payload,
              "signature": URL_SAFE_NO_PAD.encode(signature)})
    .to_string())
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3).
fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v.trim()).ok()?;
    (at.with_timezone(&Utc) - Utc::now()).to_std().ok()
}

#[derive(Debug, Deserialize)]
struct Problem {
    #[serde(rename = "type")]
    kind: Option<String>,
    detail: Option<String>,
}

/// RFC 8555 §7.1.3.
#[derive(Debug, Deserialize)]
pub struct AcmeOrder {
    pub status: String,
    pub expires: Option<DateTime<Utc>>,
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
    #[serde(default)]
    pub authorizations: Vec<String>,
    pub error: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// RFC 8555 §7.1.4.
#[derive(Debug, Deserialize)]
pub struct Authorization {
    pub identifier: Identifier,
    pub status: String,
    pub expires: Option<DateTime<Utc>>,
    #[serde(default)]
    pub challenges: Vec<Challenge>,
    #[serde(default)]
    pub wildcard: bool,
}

/// RFC 8555 §8.
#[derive(Debug, Deserialize)]
pub struct Challenge {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub token: Option<String>,
    pub error: Option<Value>,
}

fn problem_text(v: &Value) -> String {
    let detail = v.get("detail").and_then(Value::as_str).unwrap_or("");
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    match (detail.is_empty(), kind.is_empty()) {
        (false, false) => format!("{detail} ({kind})"),
        (false, true) => detail.to_string(),
        _ => kind.to_string(),
    }
}

/// Turns an order and its authorizations into an observation. Pure.
pub fn observation_of(
    settings: &AcmeSettings,
    url: &Url,
    order: &AcmeOrder,
    authzs: &[Authorization],
    thumbprint: Option<&str>,
    now: DateTime<Utc>,
) -> OrderObservation {
    let names: Vec<CertName> = order
        .identifiers
        .iter()
        .filter(|i| i.kind == "dns")
        .filter_map(|i| CertName::parse(&i.value).ok())
        .collect();
    let (phase, what) = match order.status.as_str() {
        "pending" => (Phase::AwaitingValidation, "authorizations pending"),
        "ready" => (
            Phase::Validated,
            "validated, waiting for the client to finalize",
        ),
        "processing" => (Phase::Validated, "finalized, the CA is issuing"),
        "valid" => (Phase::Issued, "issued"),
        "invalid" => (Phase::Failed, "invalid"),
        _ => (Phase::Other, "unknown status"),
    };
    let mut failure = order.error.as_ref().map(problem_text);
    let mut deadlines = Vec::new();
    if let Some(at) = order.expires {
        deadlines.push(Deadline {
            at,
            what: "the ACME order expires (RFC 8555 §7.1.3) and must be created again".into(),
            until_validated: false,
        });
    }
    let mut requirements = Vec::new();
    let mut method = None;
    for a in authzs {
        if a.status == "invalid"
            || a.status == "expired"
            || a.status == "revoked"
            || a.status == "deactivated"
        {
            let why = a
                .challenges
                .iter()
                .find_map(|c| c.error.as_ref().map(problem_text))
                .unwrap_or_else(|| format!("authorization {}", a.status));
            failure.get_or_insert(format!("{}: {why}", a.identifier.value));
        }
        if a.status != "pending" {
            continue;
        }
        if let Some(at) = a.expires {
            deadlines.push(Deadline {
                at,
                what: format!(
                    "the authorization for {} expires (RFC 8555 §7.1.4)",
                    a.identifier.value
                ),
                until_validated: true,
            });
        }
        let Some(challenge) = challenge_in_use(a, settings.challenge.as_deref()) else {
            continue;
        };
        method = Some(match challenge.kind.as_str() {
            "dns-01" => ValidationMethod::Dns01,
            "http-01" => ValidationMethod::Http01,
            "tls-alpn-01" => ValidationMethod::TlsAlpn01,
            other => ValidationMethod::Other(other.to_string()),
        });
        let (Some(token), Some(thumb)) = (&challenge.token, thumbprint) else {
            continue;
        };
        // RFC 8555 §8.1: keyAuthorization = token || '.' || base64url(Thumbprint(accountKey)).
        let key_authorization = format!("{token}.{thumb}");
        let Ok(domain) = DomainName::parse(&a.identifier.value) else {
            continue;
        };
        let for_name = if a.wildcard {
            format!("*.{domain}")
        } else {
            domain.to_string()
        };
        let requirement = match challenge.kind.as_str() {
            // §8.4: TXT at _acme-challenge.<domain> = base64url(SHA-256(keyAuthorization)).
            "dns-01" => DomainName::parse(&format!("_acme-challenge.{domain}"))
                .ok()
                .map(|name| Requirement::DnsTxt {
                    name,
                    value: URL_SAFE_NO_PAD.encode(Sha256::digest(key_authorization.as_bytes())),
                }),
            // §8.3: http://<domain>/.well-known/acme-challenge/<token> = keyAuthorization.
            "http-01" => Url::parse(&format!(
                "http://{domain}/.well-known/acme-challenge/{token}"
            ))
            .ok()
            .map(|url| Requirement::File {
                url,
                content: key_authorization.clone(),
            }),
            _ => None,
        };
        if let Some(requirement) = requirement {
            requirements.push(ValidationRequirement {
                for_name,
                requirement,
            });
        }
    }
    let pending_authz = authzs.iter().filter(|a| a.status == "pending").count();
    let label = if phase == Phase::AwaitingValidation {
        format!(
            "{what}: {pending_authz} of {} authorizations pending (ACME order status pending)",
            authzs.len()
        )
    } else {
        format!("{what} (ACME order status {})", order.status)
    };
    OrderObservation {
        key: OrderKey::new(&settings.name, url.as_str()),
        kind: SourceKind::Acme,
        display_name: names
            .first()
            .map(ToString::to_string)
            .unwrap_or_else(|| redact::url(url)),
        ca: settings.ca.clone(),
        ca_label: settings
            .ca
            .as_ref()
            .map(|c| c.display.clone())
            .unwrap_or_default(),
        names,
        status: OrderStatus {
            phase,
            code: order.status.clone(),
            label,
        },
        method,
        requirements,
        deadlines,
        signals: ProgressSignals {
            validation_passed_at: None,
            ..ProgressSignals::default()
        },
        failure: if phase == Phase::Failed {
            Some(
                failure
                    .unwrap_or_else(|| "the CA marked the order invalid without a reason".into()),
            )
        } else {
            None
        },
        placed_at: None,
        is_dv: Some(true),
        observed_at: now,
    }
}

/// The challenge the ACME client is answering: one it already triggered
/// (processing/valid/invalid), else the configured type, else dns-01 for a
/// wildcard (the only type allowed, RFC 8555 §7.1.3).
fn challenge_in_use<'a>(a: &'a Authorization, preferred: Option<&str>) -> Option<&'a Challenge> {
    a.challenges
        .iter()
        .find(|c| c.status != "pending")
        .or_else(|| preferred.and_then(|p| a.challenges.iter().find(|c| c.kind == p)))
        .or_else(|| {
            a.wildcard
                .then(|| a.challenges.iter().find(|c| c.kind == "dns-01"))
                .flatten()
        })
}

impl OrderProvider for AcmeClient {
    fn source(&self) -> &str {
        &self.settings.name
    }

    async fn pending(&self) -> Result<Vec<String>, ProviderError> {
        Ok(self.settings.orders.iter().map(|u| u.to_string()).collect())
    }

    async fn observe(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<OrderObservation, ProviderError> {
        let url = Url::parse(id).map_err(|e| AcmeError::BadResponse {
            provider: self.provider(),
            url: id.to_string(),
            detail: format!("not a URL: {e}"),
        })?;
        Ok(self.observe_order(&url, now).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AcmeSettings {
        AcmeSettings {
            name: "le".into(),
            directory: None,
            account_key: None,
            account_url: None,
            ca: None,
            challenge: None,
            orders: vec![],
        }
    }

    fn authz(status: &str, challenges: Value, wildcard: bool) -> Authorization {
        serde_json::from_value(json!({
            "identifier": {"type": "dns", "value": "example.com"},
            "status": status, "expires": "2026-12-01T00:00:00Z",
            "challenges": challenges, "wildcard": wildcard
        }))
        .unwrap()
    }

    #[test]
    fn rfc8555_8_4_dns01_value_is_the_hashed_key_authorization() {
        let order: AcmeOrder = serde_json::from_value(json!({
            "status": "pending", "expires": "2026-12-07T00:00:00Z",
            "identifiers": [{"type": "dns", "value": "*.example.com"}],
            "authorizations": ["https://acme.test/authz/1"]
        }))
        .unwrap();
        let a = authz(
            "pending",
            json!([{"type": "dns-01", "status": "pending", "token": "tok", "url": "https://acme.test/chall/1"}]),
            true,
        );
        let url = Url::parse("https://acme.test/order/1").unwrap();
        let obs = observation_of(&settings(), &url, &order, &[a], Some("thumb"), Utc::now());
        assert_eq!(obs.status.phase, Phase::AwaitingValidation);
        assert_eq!(obs.method, Some(ValidationMethod::Dns01));
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(b"tok.thumb"));
        assert_eq!(
            obs.requirements[0].requirement,
            Requirement::DnsTxt {
                name: DomainName::parse("_acme-challenge.example.com").unwrap(),
                value: expected
            }
        );
        assert_eq!(obs.requirements[0].for_name, "*.example.com");
        assert_eq!(obs.deadlines.len(), 2);
        assert!(obs.deadlines.iter().any(|d| d.until_validated));
    }

    #[test]
    fn invalid_order_carries_the_challenge_error() {
        let order: AcmeOrder = serde_json::from_value(json!({
            "status": "invalid", "identifiers": [{"type": "dns", "value": "example.com"}],
            "authorizations": ["https://acme.test/authz/1"]
        }))
        .unwrap();
        let a = authz(
            "invalid",
            json!([{"type": "http-01", "status": "invalid", "token": "t",
                    "error": {"type": "urn:ietf:params:acme:error:caa", "detail": "CAA record for example.com prevents issuance"}}]),
            false,
        );
        let url = Url::parse("https://acme.test/order/2").unwrap();
        let obs = observation_of(&settings(), &url, &order, &[a], None, Utc::now());
        assert_eq!(obs.status.phase, Phase::Failed);
        let f = obs.failure.unwrap();
        assert!(
            f.contains("CAA record for example.com prevents issuance"),
            "{f}"
        );
    }

    #[test]
    fn sec1_and_pkcs8_ec_keys_sign_and_give_a_jwk() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        let key = parse_account_key(&pem).unwrap();
        assert_eq!(key.alg(), "ES256");
        let jwk = key.jwk();
        assert_eq!(jwk["kty"], "EC");
        let sig = key.sign(b"message").unwrap();
        let point = match &key {
            AccountKey::Ec(k) => k.public_key().as_ref().to_vec(),
            AccountKey::Rsa(_) => unreachable!(),
        };
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
            .verify(b"message", &sig)
            .unwrap();
        assert_eq!(key.thumbprint().len(), 43);
        assert!(parse_account_key("not a key").is_err());
    }

    #[test]
    fn an_empty_or_cut_short_pem_block_is_an_error_not_a_panic() {
        for pem in [
            "-----BEGIN PRIVATE KEY-----END PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
            "-----BEGIN PRIVATE KEY-----\n",
            "-----BEGIN -----END",
        ] {
            let err = std::panic::catch_unwind(|| parse_account_key(pem).err())
                .unwrap_or_else(|_| panic!("panicked on {pem:?}"))
                .unwrap_or_else(|| panic!("accepted {pem:?}"));
            assert!(!err.is_empty());
        }
        let err = parse_account_key("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----")
            .err()
            .unwrap();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn rsa_keys_give_their_modulus_and_exponent_and_sign_rs256() {
        let pem = include_str!("../../tests/data/acme-account-rsa.pem");
        let key = parse_account_key(pem).unwrap();
        assert_eq!(key.alg(), "RS256");
        let jwk = key.jwk();
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256, "a 2048-bit modulus");
        assert_ne!(n[0], 0);
        assert_eq!(e, [1, 0, 1]);
        let sig = key.sign(b"message").unwrap();
        signature::RsaPublicKeyComponents { n: &n, e: &e }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, b"message", &sig)
            .unwrap();
        let canonical = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk["e"].as_str().unwrap(),
            jwk["n"].as_str().unwrap()
        );
        assert_eq!(
            key.thumbprint(),
            URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
        );
    }

    #[test]
    fn settings_come_from_the_config() {
        let text = r#"
[[providers]]
name = "le"
kind = "acme"
endpoint = "https://acme.example/directory"
account_key_env = "CERTVIGIL_TEST_ACME_KEY"
account_url = "https://acme.example/acme/acct/7"
ca = "letsencrypt"
challenge = "http-01"

[[orders]]
name = "www"
provider = "le"
url = "https://acme.example/acme/order/1"
"#;
        let config = crate::config::parse_with_state_directory(text, "c.toml", None).unwrap();
        let s = AcmeSettings::from_config(config.acme_provider("le").unwrap());
        assert_eq!(s.name, "le");
        assert_eq!(
            s.directory.unwrap().as_str(),
            "https://acme.example/directory"
        );
        assert_eq!(
            s.account_url.as_deref(),
            Some("https://acme.example/acme/acct/7")
        );
        assert_eq!(s.ca.unwrap().name, "letsencrypt");
        assert_eq!(s.challenge.as_deref(), Some("http-01"));
        assert_eq!(
            s.orders,
            vec![Url::parse("https://acme.example/acme/order/1").unwrap()]
        );
        assert_eq!(s.account_key.unwrap().key, "providers[0].account_key_env");
    }

    #[test]
    fn retry_after_reads_seconds() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
