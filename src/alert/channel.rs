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
/// A channel's identity is its `name` in the config (`email:ops-mail`,
/// `webhook:oncall`), so fixing a wrong URL, token, server or recipient
/// keeps the alerts that wait for it: they go out through the fixed
/// channel. Without a name it is derived from where the channel points,
/// never from a secret: `email:<server>:<port>`, `webhook:<host>` (URLs of
/// chat webhooks carry their access token, so only the host), with `-2`,
/// `-3` appended in file order when two channels would share one.
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

    /// `email` or `webhook`: what kind of channel the id names.
    pub fn kind(&self) -> &str {
        self.0.split(':').next().unwrap_or_default()
    }

    pub fn for_email(ch: &crate::config::EmailChannel) -> Self {
        match &ch.name {
            Some(name) => Self(format!("email:{name}")),
            None => Self(format!("email:{}:{}", ch.server, ch.port)),
        }
    }

    pub fn for_webhook(ch: &crate::config::WebhookChannel) -> Self {
        match &ch.name {
            Some(name) => Self(format!("webhook:{name}")),
            None => Self(format!("webhook:{}", ch.url.host_str().unwrap_or("?"))),
        }
    }

    /// `self` with `-n` appended (a second channel with the same derived id).
    fn numbered(&self, n: usize) -> Self {
        Self(format!("{}-{n}", self.0))
    }

    fn short_hash(parts: &[&str]) -> String {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..4])
    }

    /// The id certvigil 0.1 stored: a hash of what the channel pointed at.
    /// Only to re-key the rows such a version left waiting.
    pub fn legacy_email(ch: &crate::config::EmailChannel) -> Self {
        let to: Vec<String> = ch.to.iter().map(|m| m.email.to_string()).collect();
        let hash = Self::short_hash(&[ch.from.email.as_ref(), &to.join(",")]);
        Self(format!("email:{}:{}#{hash}", ch.server, ch.port))
    }

    /// See [`ChannelId::legacy_email`].
    pub fn legacy_webhook(ch: &crate::config::WebhookChannel) -> Self {
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

    /// The id an older certvigil stored this channel's rows under.
    pub fn legacy_id(&self) -> ChannelId {
        match self {
            Channel::Email(e) => ChannelId::legacy_email(e.config()),
            Channel::Webhook(w) => ChannelId::legacy_webhook(w.config()),
        }
    }

    fn set_id(&mut self, id: ChannelId) {
        match self {
            Channel::Email(e) => e.set_id(id),
            Channel::Webhook(w) => w.set_id(id),
        }
    }

    /// Every channel in `[alerts]`, emails first, in file order. Derived
    /// ids that collide get `-2`, `-3`... in that order (names given in
    /// the config are unique: the config refuses duplicates).
    pub fn all_from_config(alerts: &AlertsConfig) -> Vec<Channel> {
        let email = alerts
            .email
            .iter()
            .map(|e| Channel::Email(EmailSender::new(e.clone())));
        let webhook = alerts
            .webhook
            .iter()
            .map(|w| Channel::Webhook(WebhookSender::new(w.clone())));
        let mut all: Vec<Channel> = email.chain(webhook).collect();
        let mut taken: std::collections::HashSet<ChannelId> = std::collections::HashSet::new();
        for ch in &mut all {
            let base = ch.id().clone();
            let mut id = base.clone();
            let mut n = 1;
            while taken.contains(&id) {
                n += 1;
                id = base.numbered(n);
            }
            taken.insert(id.clone());
            ch.set_id(id);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn channels(text: &str) -> Vec<Channel> {
        Channel::all_from_config(&parse(text, "c.toml").unwrap().alerts)
    }

    #[test]
    fn a_channel_is_named_by_its_config_name_not_by_its_url() {
        let named = |url: &str| {
            channels(&format!(
                "[[alerts.webhook]]\nname = \"oncall\"\nurl = \"{url}\"\n"
            ))[0]
                .id()
                .clone()
        };
        let before = named("https://oapi.dingtalk.com/robot/send?access_token=WRONG");
        let after = named("https://oapi.dingtalk.com/robot/send?access_token=RIGHT");
        assert_eq!(before.as_str(), "webhook:oncall");
        assert_eq!(before, after);
    }

    #[test]
    fn derived_ids_carry_no_token_and_collisions_are_numbered() {
        let all = channels(
            "[[alerts.email]]\nserver = \"smtp.example.com\"\nport = 587\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n\
             [[alerts.webhook]]\nurl = \"https://hooks.slack.com/services/T/B/TOKEN1\"\n\
             [[alerts.webhook]]\nurl = \"https://hooks.slack.com/services/T/B/TOKEN2\"\n",
        );
        let ids: Vec<&str> = all.iter().map(|c| c.id().as_str()).collect();
        assert_eq!(
            ids,
            [
                "email:smtp.example.com:587",
                "webhook:hooks.slack.com",
                "webhook:hooks.slack.com-2"
            ]
        );
    }

    #[test]
    fn waiting_rows_follow_a_legacy_id_or_the_only_channel_of_their_kind() {
        use crate::alert::deliver::successor;
        let one = channels(
            "[[alerts.webhook]]\nname = \"oncall\"\nurl = \"https://new.example.com/x\"\n",
        );
        // An id from before names: a hash of the old URL.
        let stale = ChannelId::from_stored("webhook:generic:old.example.com#0badc0de");
        assert_eq!(
            successor(&stale, &one).unwrap().id().as_str(),
            "webhook:oncall"
        );
        // Never across kinds.
        let stale_mail = ChannelId::from_stored("email:smtp.example.com:587");
        assert!(successor(&stale_mail, &one).is_none());
        // With two candidates nothing is guessed, unless the legacy id says.
        let two = channels(
            "[[alerts.webhook]]\nname = \"a\"\nurl = \"https://a.example.com/x\"\n\
             [[alerts.webhook]]\nname = \"b\"\nurl = \"https://b.example.com/y\"\n",
        );
        assert!(successor(&stale, &two).is_none());
        let legacy_b = two[1].legacy_id();
        assert_eq!(
            successor(&legacy_b, &two).unwrap().id().as_str(),
            "webhook:b"
        );
    }
}
