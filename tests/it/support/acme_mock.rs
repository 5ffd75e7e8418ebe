//! A local ACME server (RFC 8555) on 127.0.0.1 with what reading an order
//! needs: the directory, `newNonce`, `newAccount` with
//! `onlyReturnExisting`, orders and authorizations. Orders and
//! authorizations answer a plain GET (as Let's Encrypt does) unless
//! `require_post_as_get` is set, in which case GET gets 405 (RFC 8555 §6.3)
//! and a POST-as-GET must be a JWS (ES256 or RS256) signed by the account's key,
//! with a fresh nonce and the request URL in its protected header; anything
//! else is refused with the RFC 8555 §6.7 error types.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::http::read_request;

#[derive(Default)]
struct State {
    /// path -> JSON resource (orders and authorizations).
    resources: BTreeMap<String, Value>,
    require_post_as_get: bool,
    nonces: BTreeSet<String>,
    next_nonce: u64,
    /// The registered account's public key.
    account: Option<AccountPublic>,
    /// Counters, for assertions.
    plain_gets: usize,
    signed_posts: usize,
    refused: Vec<String>,
}

/// An account's public key: a P-256 point `04||x||y`, or RSA (n, e).
#[derive(Clone, PartialEq, Eq)]
enum AccountPublic {
    Ec(Vec<u8>),
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

#[derive(Clone)]
pub struct AcmeMock {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

pub const ACCOUNT_PATH: &str = "/acme/acct/1";

impl AcmeMock {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = Self {
            port,
            state: Arc::new(Mutex::new(State::default())),
        };
        let server = me.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let _ = server.serve(stream).await;
                });
            }
        });
        me
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Registers the account whose key is the P-256 point `04||x||y`.
    pub fn register_account(&self, point: Vec<u8>) {
        self.state.lock().unwrap().account = Some(AccountPublic::Ec(point));
    }

    /// Registers the account whose key is RSA (n, e big-endian): its JWSs
    /// must be RS256.
    pub fn register_rsa_account(&self, n: Vec<u8>, e: Vec<u8>) {
        self.state.lock().unwrap().account = Some(AccountPublic::Rsa { n, e });
    }

    pub fn set_resource(&self, path: &str, body: Value) {
        self.state
            .lock()
            .unwrap()
            .resources
            .insert(path.into(), body);
    }

    pub fn require_post_as_get(&self, on: bool) {
        self.state.lock().unwrap().require_post_as_get = on;
    }

    pub fn counts(&self) -> (usize, usize, Vec<String>) {
        let s = self.state.lock().unwrap();
        (s.plain_gets, s.signed_posts, s.refused.clone())
    }

    async fn serve(&self, stream: tokio::net::TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream);
        loop {
            let Some(request) = read_request(&mut reader).await? else {
                return Ok(());
            };
            let (status, headers, text) =
                self.handle(&request.method, &request.target, &request.body);
            let nonce = self.fresh_nonce();
            let mut reply = format!(
                "HTTP/1.1 {status} X\r\nReplay-Nonce: {nonce}\r\nCache-Control: no-store\r\nContent-Length: {}\r\n",
                text.len()
            );
            for (k, v) in headers {
                reply.push_str(&format!("{k}: {v}\r\n"));
            }
            reply.push_str("\r\n");
            reply.push_str(&text);
            reader.get_mut().write_all(reply.as_bytes()).await?;
        }
    }

    fn fresh_nonce(&self) -> String {
        let mut s = self.state.lock().unwrap();
        s.next_nonce += 1;
        let n = format!("nonce-{}", s.next_nonce);
        s.nonces.insert(n.clone());
        n
    }

    fn handle(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, String) {
        let json_ct = || vec![("Content-Type".to_string(), "application/json".to_string())];
        if path == "/directory" {
            let d = json!({"newNonce": self.url("/acme/new-nonce"),
                           "newAccount": self.url("/acme/new-acct"),
                           "newOrder": self.url("/acme/new-order")});
            return (200, json_ct(), d.to_string());
        }
        if path == "/acme/new-nonce" {
            return (200, vec![], String::new());
        }
        if path == "/acme/new-acct" {
            return match self.verify(body, path, true) {
                Ok(payload) if payload["onlyReturnExisting"] == json!(true) => (
                    200,
                    vec![("Location".into(), self.url(ACCOUNT_PATH))],
                    json!({"status": "valid"}).to_string(),
                ),
                Ok(_) => problem(400, "malformed", "only onlyReturnExisting is supported"),
                Err((status, kind, detail)) => problem(status, kind, &detail),
            };
        }
        let Some(resource) = self.state.lock().unwrap().resources.get(path).cloned() else {
            return problem(404, "malformed", "no such resource");
        };
        match method {
            "GET" => {
                let mut s = self.state.lock().unwrap();
                if s.require_post_as_get {
                    s.refused.push(format!("GET {path}"));
                    return problem(405, "malformed", "use POST-as-GET");
                }
                s.plain_gets += 1;
                (200, json_ct(), resource.to_string())
            }
            "POST" => match self.verify(body, path, false) {
                Ok(Value::Null) => {
                    self.state.lock().unwrap().signed_posts += 1;
                    (200, json_ct(), resource.to_string())
                }
                Ok(_) => problem(400, "malformed", "POST-as-GET needs an empty payload"),
                Err((status, kind, detail)) => problem(status, kind, &detail),
            },
            _ => problem(405, "malformed", "method not allowed"),
        }
    }

    /// Checks a JWS: flattened JSON, fresh nonce, url, jwk or kid, ES256
    /// signature. Returns the payload (`Null` for the empty payload).
    fn verify(
        &self,
        body: &[u8],
        path: &str,
        with_jwk: bool,
    ) -> Result<Value, (u16, &'static str, String)> {
        let bad = |d: &str| (400, "malformed", d.to_string());
        let jws: Value = serde_json::from_slice(body).map_err(|_| bad("the body is not a JWS"))?;
        let field = |k: &str| jws[k].as_str().map(str::to_string).ok_or_else(|| bad(k));
        let (protected_b64, payload_b64, sig_b64) =
            (field("protected")?, field("payload")?, field("signature")?);
        let protected: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(&protected_b64)
                .map_err(|_| bad("protected"))?,
        )
        .map_err(|_| bad("protected"))?;
        let alg = protected["alg"].as_str().unwrap_or("").to_string();
        if alg != "ES256" && alg != "RS256" {
            return Err((400, "badSignatureAlgorithm", "ES256 or RS256".into()));
        }
        if protected["url"].as_str() != Some(self.url(path).as_str()) {
            return Err((
                401,
                "unauthorized",
                "the url in the JWS is not the request's".into(),
            ));
        }
        let nonce = protected["nonce"].as_str().unwrap_or("").to_string();
        let mut s = self.state.lock().unwrap();
        if !s.nonces.remove(&nonce) {
            s.refused.push(format!("bad nonce for {path}"));
            return Err((400, "badNonce", "the nonce is unknown or used".into()));
        }
        let account = if with_jwk {
            let jwk = &protected["jwk"];
            let part = |k: &str| {
                URL_SAFE_NO_PAD
                    .decode(jwk[k].as_str().unwrap_or(""))
                    .map_err(|_| bad("jwk"))
            };
            let given = if jwk["kty"] == "RSA" {
                AccountPublic::Rsa {
                    n: part("n")?,
                    e: part("e")?,
                }
            } else {
                let mut p = vec![4u8];
                p.extend(part("x")?);
                p.extend(part("y")?);
                AccountPublic::Ec(p)
            };
            if s.account.as_ref() != Some(&given) {
                return Err((
                    400,
                    "accountDoesNotExist",
                    "no account with this key".into(),
                ));
            }
            given
        } else {
            if protected["kid"].as_str() != Some(self.url(ACCOUNT_PATH).as_str()) {
                return Err((401, "unauthorized", "unknown kid".into()));
            }
            s.account
                .clone()
                .ok_or((401, "unauthorized", "no account".to_string()))?
        };
        let sig = URL_SAFE_NO_PAD
            .decode(&sig_b64)
            .map_err(|_| bad("signature"))?;
        let signed = format!("{protected_b64}.{payload_b64}");
        let verified = match &account {
            AccountPublic::Ec(point) => {
                alg == "ES256"
                    && UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                        .verify(signed.as_bytes(), &sig)
                        .is_ok()
            }
            AccountPublic::Rsa { n, e } => {
                alg == "RS256"
                    && ring::signature::RsaPublicKeyComponents { n, e }
                        .verify(
                            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                            signed.as_bytes(),
                            &sig,
                        )
                        .is_ok()
            }
        };
        if !verified {
            s.refused.push(format!("bad signature for {path}"));
            return Err((
                403,
                "unauthorized",
                "the JWS signature does not verify".into(),
            ));
        }
        if payload_b64.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(&payload_b64)
                .map_err(|_| bad("payload"))?,
        )
        .map_err(|_| bad("payload"))
    }
}

fn problem(status: u16, kind: &str, detail: &str) -> (u16, Vec<(String, String)>, String) {
    (
        status,
        vec![("Content-Type".into(), "application/problem+json".into())],
        json!({"type": format!("urn:ietf:params:acme:error:{kind}"), "detail": detail}).to_string(),
    )
}
