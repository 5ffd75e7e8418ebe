//! A configured place alerts go to, and its stable identity in the outbox.

use std::fmt;

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::Alert;
use super::email::EmailSender;
use super::webhook::WebhookSender;
use crate::config::{AlertsConfig, WebhookFormat};

/// Names a channel in the outbox, in logs and in `certvigil status`.
///
/// It is derived from what the channel *is* (server and recipients, or the
/// webhook's URL), not from its position in the file, so reordering the
/// config does not re-route pending alerts. URLs of chat webhooks carry
/// their access token, so only the host and a short hash of the whole URL
/// appear: `webhook:slack:hooks.slack.com#3fa2c1d0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(String);

impl ChannelId {
    /// Wraps an id read back from the outbox.
    pub fn from_stored(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn short_hash(parts: &[&str]) -> String {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..4])
    }

    pub fn for_email(ch: &crate::config::EmailChannel) -> Self {
        let to: Vec<String> = ch.to.iter().map(|m| m.email.to_string()).collect();
        let hash = Self::short_hash(&[ch.from.email.as_ref(), &to.join(",")]);
        Self(format!("email:{}:{}#{hash}", ch.server, ch.port))
    }

    pub fn for_webhook(ch: &crate::config::WebhookChannel) -> Self {
        let host = ch.url.host_str().unwrap_or("?");
        let hash = Self::short_hash(&[ch.url.as_str()]);
        Self(format!("webhook:{}:{host}#{hash}", format_name(ch.format)))
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn format_name(format: WebhookFormat) -> &'static str {
    match format {
        WebhookFormat::Generic => "generic",
        WebhookFormat::Slack => "slack",
        WebhookFormat::Feishu => "feishu",
        WebhookFormat::Dingtalk => "dingtalk",
        WebhookFormat::Wecom => "wecom",
    }
}

/// Why one delivery attempt failed. Every failure is retried until
/// `alerts.give_up_after`: a wrong password or a revoked token is fixed by a
/// person, and the alert should still arrive when they have. Messages never
/// contain secrets or whole webhook URLs.
#[derive(Debug, Error)]
pub enum SendError {
    #[error("cannot read the secret for {channel}: {source}")]
    Secret {
        channel: ChannelId,
        #[source]
        source: crate::config::SecretError,
    },
    #[error("cannot build the mail for {channel}: {detail}")]
    Message { channel: ChannelId, detail: String },
    #[error(
        "SMTP delivery through {channel} failed: {detail}; check that the server is up and that `tls`, `port` and the credentials match it"
    )]
    Smtp { channel: ChannelId, detail: String },
    #[error(
        "the webhook {channel} could not be reached: {detail}; check the URL and that this host may connect to it"
    )]
    Http { channel: ChannelId, detail: String },
    #[error("the webhook {channel} answered HTTP {status}: {body}")]
    Status {
        channel: ChannelId,
        status: u16,
        body: String,
    },
    #[error(
        "the webhook {channel} answered 200 but refused the message ({body}); check the token, the signing secret and the robot's keyword/IP settings"
    )]
    Refused { channel: ChannelId, body: String },
}

/// A channel ready to send, built from the config.
#[derive(Debug, Clone)]
pub enum Channel {
    Email(EmailSender),
    Webhook(WebhookSender),
}

impl Channel {
    pub fn id(&self) -> &ChannelId {
        match self {
            Channel::Email(e) => e.id(),
            Channel::Webhook(w) => w.id(),
        }
    }

    /// Sends one alert once. No retry here: that is the deliverer's job.
    pub async fn send(&self, alert: &Alert) -> Result<(), SendError> {
        match self {
            Channel::Email(e) => e.send(alert).await,
            Channel::Webhook(w) => w.send(alert).await,
        }
    }

    /// Every channel in `[alerts]`, emails first, in file order.
    pub fn all_from_config(alerts: &AlertsConfig) -> Vec<Channel> {
        let email = alerts
            .email
            .iter()
            .map(|e| Channel::Email(EmailSender::new(e.clone())));
        let webhook = alerts
            .webhook
            .iter()
            .map(|w| Channel::Webhook(WebhookSender::new(w.clone())));
        email.chain(webhook).collect()
    }
}
