//! Webhooks through reqwest: certvigil's own `generic` JSON and the chat
//! robots people in this field use (Slack, Feishu/Lark, DingTalk, WeCom).
//!
//! ## The `generic` format and its signature
//!
//! The body is the versioned JSON object of docs/contracts.md ("The webhook body") (see [`generic_body`]).
//! When `secret_file`/`secret_env` is set, two headers are added:
//!
//! ```text
//! X-Certvigil-Timestamp: 1764000000
//! X-Certvigil-Signature: t=1764000000,v1=<hex HMAC-SHA256(secret, "1764000000.<body>")>
//! ```
//!
//! A receiver recomputes the HMAC over the timestamp, a dot and the raw body
//! bytes, compares in constant time, and rejects timestamps far from its
//! clock (replays). `X-Certvigil-Delivery` carries the alert id, which is
//! the same on a retry: use it to drop duplicates.
//!
//! ## Failure
//!
//! Every attempt goes through `crate::http`: a connect and a total timeout,
//! no redirect followed (a redirect would replay a signed request
//! elsewhere), at most [`MAX_RESPONSE_BYTES`] of the answer read. It counts
//! as failed on any non-2xx status, and on the 200 answers DingTalk, WeCom
//! and Feishu use for errors (`errcode`/`code`/`StatusCode` other than 0).
//! What an error keeps of the answer is cut and scrubbed of query strings
//! and tokens ([`redact::peer_text`]).

use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use reqwest::Url;
use serde_json::{Value, json};
use sha2::Sha256;

use super::channel::{ChannelId, SendError};
use super::{Alert, render};
use crate::config::{WebhookChannel, WebhookFormat};
use crate::http::{self, HttpError, redact};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
/// Answers are only read to tell success from failure; a receiver that
/// streams megabytes back must not exhaust memory.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Message size limits of the chat services, in bytes of text, with room
/// for the JSON around it: WeCom 2048, DingTalk 20000, Feishu's 20 KB
/// request body, Slack's 40000 characters.
fn text_limit(format: WebhookFormat) -> usize {
    match format {
        WebhookFormat::Wecom => 2000,
        WebhookFormat::Dingtalk => 18_000,
        WebhookFormat::Feishu => 18_000,
        WebhookFormat::Slack => 35_000,
        WebhookFormat::Generic => usize::MAX,
    }
}

#[derive(Debug, Clone)]
pub struct WebhookSender {
    id: ChannelId,
    cfg: WebhookChannel,
    client: reqwest::Client,
}

/// One request, ready to send: exactly what goes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRequest {
    pub url: Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl WebhookSender {
    pub fn new(cfg: WebhookChannel) -> Self {
        crate::tls::ensure_crypto_provider();
        let client = http::client(&http::ClientOptions::api(CONNECT_TIMEOUT, TOTAL_TIMEOUT))
            .expect("a client with static settings builds");
        Self {
            id: ChannelId::for_webhook(&cfg),
            cfg,
            client,
        }
    }

    pub fn id(&self) -> &ChannelId {
        &self.id
    }

    pub(crate) fn set_id(&mut self, id: ChannelId) {
        self.id = id;
    }

    pub fn config(&self) -> &WebhookChannel {
        &self.cfg
    }

    /// Builds the request for `alert` signed at `unix_seconds`. Reads the
    /// secret now, so a rotated one is used without a reload.
    pub fn prepare(&self, alert: &Alert, unix_seconds: i64) -> Result<PreparedRequest, SendError> {
        let secret = match &self.cfg.secret {
            Some(source) => Some(source.read().map_err(|source| SendError::Secret {
                channel: self.id.clone(),
                source,
            })?),
            None => None,
        };
        let secret = secret.as_ref().map(|s| s.expose());
        Ok(prepare(
            self.cfg.format,
            &self.cfg.url,
            secret,
            alert,
            unix_seconds,
        ))
    }

    pub async fn send(&self, alert: &Alert) -> Result<(), SendError> {
        let req = self.prepare(alert, Utc::now().timestamp())?;
        let mut request =
            http::Request::post(req.url, req.body).header("content-type", "application/json");
        for (name, value) in req.headers {
            request = request.header(name, &value);
        }
        let limits = http::Limits {
            body_cap: MAX_RESPONSE_BYTES,
            total: TOTAL_TIMEOUT,
        };
        let (status, text) =
            match http::fetch(&self.client, request, &limits, http::Redirects::None).await {
                Ok(answer) => (
                    answer.status,
                    String::from_utf8_lossy(&answer.body).into_owned(),
                ),
                // A 2xx is a delivery for formats judged by status alone;
                // the chat robots' verdict is in a body too large to be one.
                Err(HttpError::BodyTooLarge { status, cap, .. }) => {
                    let judged_by_status = matches!(
                        self.cfg.format,
                        WebhookFormat::Generic | WebhookFormat::Slack
                    );
                    if (200..300).contains(&status) && judged_by_status {
                        return Ok(());
                    }
                    let body = format!("an answer larger than {cap} bytes, not read");
                    return Err(if (200..300).contains(&status) {
                        SendError::Refused {
                            channel: self.id.clone(),
                            body,
                        }
                    } else {
                        SendError::Status {
                            channel: self.id.clone(),
                            status,
                            body,
                        }
                    });
                }
                // No URL in the error: `without_url` in the helper, and
                // the chat webhook URLs carry their token besides.
                Err(e) => {
                    return Err(SendError::Http {
                        channel: self.id.clone(),
                        detail: describe(&e),
                    });
                }
            };
        if !(200..300).contains(&status) {
            return Err(SendError::Status {
                channel: self.id.clone(),
                status,
                body: excerpt(&text),
            });
        }
        if let Some(refusal) = refused_in_body(self.cfg.format, &text) {
            return Err(SendError::Refused {
                channel: self.id.clone(),
                body: refusal,
            });
        }
        Ok(())
    }
}

/// The request for one alert in one format. Pure, for tests and for the
/// sender.
pub fn prepare(
    format: WebhookFormat,
    url: &Url,
    secret: Option<&str>,
    alert: &Alert,
    unix_seconds: i64,
) -> PreparedRequest {
    let mut url = url.clone();
    let mut headers = vec![("x-certvigil-delivery", alert.id.clone())];
    let text = truncate(&render::short(alert), text_limit(format));
    let body = match format {
        WebhookFormat::Generic => {
            let body = serde_json::to_vec(&generic_body(alert)).expect("JSON values serialize");
            headers.push(("x-certvigil-event", alert.kind.as_str().to_string()));
            if let Some(secret) = secret {
                let sig = generic_signature(secret, unix_seconds, &body);
                headers.push(("x-certvigil-timestamp", unix_seconds.to_string()));
                headers.push((
                    "x-certvigil-signature",
                    format!("t={unix_seconds},v1={sig}"),
                ));
            }
            body
        }
        WebhookFormat::Slack => to_vec(json!({ "text": text })),
        WebhookFormat::Feishu => {
            let mut body = json!({ "msg_type": "text", "content": { "text": text } });
            if let Some(secret) = secret {
                body["timestamp"] = json!(unix_seconds.to_string());
                body["sign"] = json!(feishu_sign(secret, unix_seconds));
            }
            to_vec(body)
        }
        WebhookFormat::Dingtalk => {
            if let Some(secret) = secret {
                let millis = unix_seconds * 1000;
                url.query_pairs_mut()
                    .append_pair("timestamp", &millis.to_string())
                    .append_pair("sign", &dingtalk_sign(secret, millis));
            }
            to_vec(json!({ "msgtype": "text", "text": { "content": text } }))
        }
        WebhookFormat::Wecom => to_vec(json!({ "msgtype": "text", "text": { "content": text } })),
    };
    PreparedRequest { url, headers, body }
}

fn to_vec(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).expect("JSON values serialize")
}

/// docs/contracts.md's generic body; fields beyond the contract are additive.
pub fn generic_body(alert: &Alert) -> Value {
    json!({
        "version": 1,
        "id": alert.id,
        "event": alert.kind.as_str(),
        "domain": alert.domain,
        "ca": alert.ca,
        "check": alert.check,
        "severity": alert.severity.as_str(),
        "summary": alert.summary,
        "reason": alert.reason,
        "remedy": alert.remedy,
        "before": alert.before,
        "after": alert.after,
        "first_seen": alert.first_seen.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "at": alert.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "damped": alert.damped.as_ref().map(|d| json!({
            "changes": d.changes, "window_secs": d.window_secs, "note": d.note,
        })),
    })
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Hex HMAC-SHA256 over `"<t>.<body>"`, keyed with the secret.
pub fn generic_signature(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let mut message = format!("{unix_seconds}.").into_bytes();
    message.extend_from_slice(body);
    hex::encode(hmac_sha256(secret.as_bytes(), &message))
}

/// Feishu/Lark custom bot: the key is `"<timestamp>\n<secret>"` and the
/// message is empty (their documented, inverted construction), base64.
pub fn feishu_sign(secret: &str, unix_seconds: i64) -> String {
    let key = format!("{unix_seconds}\n{secret}");
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(key.as_bytes(), b""))
}

/// DingTalk custom robot: HMAC-SHA256 keyed with the secret over
/// `"<timestamp ms>\n<secret>"`, base64 (the caller URL-encodes it as a
/// query parameter).
pub fn dingtalk_sign(secret: &str, unix_millis: i64) -> String {
    let message = format!("{unix_millis}\n{secret}");
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(secret.as_bytes(), message.as_bytes()))
}

/// The robots answer HTTP 200 for errors too; their JSON says otherwise.
fn refused_in_body(format: WebhookFormat, body: &str) -> Option<String> {
    let keys: &[&str] = match format {
        WebhookFormat::Dingtalk | WebhookFormat::Wecom => &["errcode"],
        WebhookFormat::Feishu => &["code", "StatusCode"],
        WebhookFormat::Slack | WebhookFormat::Generic => return None,
    };
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        // These services always answer JSON; anything else is a proxy or a
        // wrong URL, not a delivery.
        return Some(format!("not the expected JSON: {}", excerpt(body)));
    };
    for key in keys {
        if let Some(code) = v.get(*key).and_then(Value::as_i64)
            && code != 0
        {
            return Some(excerpt(body));
        }
    }
    None
}

/// What of a receiver's answer an error keeps: short, and scrubbed of
/// query strings and token values (DingTalk echoes the request URL with
/// its `access_token` in some errors), since errors go to `status`, the
/// log and the outbox row.
fn excerpt(body: &str) -> String {
    redact::peer_text(body, redact::PEER_EXCERPT_CHARS)
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A transport failure without any URL: the helper's error names the
/// URL (redacted), but a chat webhook's path may itself be the secret
/// (Slack's `/services/T/B/XXXX`), so only the failure is kept.
fn describe(e: &HttpError) -> String {
    match e {
        HttpError::Send { detail, .. } | HttpError::Body { detail, .. } => detail.clone(),
        HttpError::Timeout { after, .. } => format!("no complete answer within {after:?}"),
        other => {
            let text = other.to_string();
            redact::peer_text(&text, 1000)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_vectors_computed_elsewhere() {
        // openssl dgst -sha256 -hmac s3cret <<< '1700000000.{"a":1}' (no newline)
        assert_eq!(
            generic_signature("s3cret", 1_700_000_000, br#"{"a":1}"#),
            "1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
        );
        // Python: hmac.new(b"1700000000\ns3cret", b"", sha256), base64.
        assert_eq!(
            feishu_sign("s3cret", 1_700_000_000),
            "IX3eHI0/v/Td7jqJ0ynSEK3Dq5JY3HUZeoeMgVZeZGo="
        );
        // Python: hmac.new(b"s3cret", b"1700000000000\ns3cret", sha256), base64.
        assert_eq!(
            dingtalk_sign("s3cret", 1_700_000_000_000),
            "MT7bXSNfVTPzQMEuLWvmMNbmZSCUY1X6YKn9AxBnLsI="
        );
    }

    #[test]
    fn dingtalk_and_wecom_errcode_is_a_refusal() {
        assert!(
            refused_in_body(WebhookFormat::Dingtalk, r#"{"errcode":0,"errmsg":"ok"}"#).is_none()
        );
        assert!(
            refused_in_body(
                WebhookFormat::Dingtalk,
                r#"{"errcode":310000,"errmsg":"sign not match"}"#
            )
            .unwrap()
            .contains("sign not match")
        );
        assert!(
            refused_in_body(
                WebhookFormat::Wecom,
                r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#
            )
            .is_some()
        );
        assert!(
            refused_in_body(
                WebhookFormat::Feishu,
                r#"{"code":19021,"msg":"sign match fail"}"#
            )
            .is_some()
        );
        assert!(
            refused_in_body(
                WebhookFormat::Feishu,
                r#"{"StatusCode":0,"StatusMessage":"success"}"#
            )
            .is_none()
        );
        assert!(refused_in_body(WebhookFormat::Wecom, "<html>proxy</html>").is_some());
        assert!(refused_in_body(WebhookFormat::Slack, "ok").is_none());
    }

    #[test]
    fn truncation_respects_characters() {
        let s = "é".repeat(10);
        let t = truncate(&s, 7);
        assert!(t.len() <= 7 && t.ends_with('…'), "{t}");
        assert_eq!(truncate("short", 10), "short");
    }
}
