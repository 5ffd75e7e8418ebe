//! `[alerts]`: the alert policy's knobs and the email and webhook channels.
//! Its raw form (as serde reads it), its resolution (each problem at its
//! line:column with its key) and its typed result live here; `resolve`
//! only dispatches.

use super::fields::{duration, secret, url};
use super::problem::Problems;
use super::raw::Text;
use super::secret::SecretSource;
use crate::domain::DomainName;
use certvigil_core::alert::policy::PolicyConfig;
use lettre::message::Mailbox;
use reqwest::Url;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlerts {
    pub reminder: Option<Text>,
    pub error_threshold: Option<Spanned<u32>>,
    pub give_up_after: Option<Text>,
    pub flap_window: Option<Text>,
    pub flap_changes: Option<Spanned<u32>>,
    pub settle_after: Option<Text>,
    #[serde(default)]
    pub email: Vec<Spanned<RawEmail>>,
    #[serde(default)]
    pub webhook: Vec<Spanned<RawWebhook>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawSmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEmail {
    pub name: Option<Text>,
    pub server: Text,
    pub timeout: Option<Text>,
    pub port: Option<Spanned<u16>>,
    pub tls: Option<Spanned<RawSmtpTls>>,
    pub username: Option<Text>,
    pub password_file: Option<Spanned<PathBuf>>,
    pub password_env: Option<Text>,
    pub from: Text,
    #[serde(default)]
    pub to: Vec<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawWebhookFormat {
    Generic,
    Slack,
    Feishu,
    Dingtalk,
    Wecom,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    pub name: Option<Text>,
    pub url: Text,
    pub format: Option<RawWebhookFormat>,
    pub secret_file: Option<Spanned<PathBuf>>,
    pub secret_env: Option<Text>,
}

/// `[alerts]`.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// Repeat a blocking alert this often while it lasts; `None` when
    /// `reminder = "off"`. Default 24h.
    pub reminder: Option<Duration>,
    /// Consecutive lookup errors before a lookup error alerts; a single
    /// timeout is noise, three in a row is an outage a CA would also see.
    /// Default 3, at least 1.
    pub error_threshold: u32,
    /// How long delivery of one alert is retried before it is marked failed
    /// (and that failure logged loudly). Default 24h.
    pub give_up_after: Duration,
    /// Flap damping: `flap_changes` changes of state within `flap_window`
    /// is flapping; further changes (a `resolved` too) are then held back
    /// until the state has held for `settle_after`, never longer. Defaults
    /// 6h, 3, 1h.
    pub flap_window: Duration,
    pub flap_changes: u32,
    pub settle_after: Duration,
    pub email: Vec<EmailChannel>,
    pub webhook: Vec<WebhookChannel>,
}

impl AlertsConfig {
    /// The alert policy these settings ask for.
    pub fn policy(&self) -> PolicyConfig {
        PolicyConfig::from_alerts(self.reminder, self.error_threshold).with_damping(
            self.flap_window,
            self.flap_changes,
            self.settle_after,
        )
    }
}

/// How an SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (only sensible to a relay on this host).
    None,
    /// Plain connection upgraded with STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
}

/// One `[[alerts.email]]` channel.
#[derive(Debug, Clone)]
pub struct EmailChannel {
    /// `name`: the channel's identity in the outbox, so alerts waiting for
    /// it follow it when its server or recipients change. Absent: derived
    /// from `server:port` (see `alert::ChannelId`).
    pub name: Option<String>,
    /// The longest one SMTP conversation may take (connect, each reply,
    /// the data). Default 30s.
    pub timeout: Duration,
    /// The SMTP server's host name or IP address.
    pub server: String,
    /// Default by `tls`: 25 for none, 587 for starttls, 465 for tls.
    pub port: u16,
    /// Default starttls.
    pub tls: SmtpTls,
    pub username: Option<String>,
    /// Present exactly when `username` is.
    pub password: Option<SecretSource>,
    pub from: Mailbox,
    /// Never empty.
    pub to: Vec<Mailbox>,
}

/// The body a webhook expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// certvigil's own JSON event (docs/contracts.md).
    Generic,
    Slack,
    Feishu,
    Dingtalk,
    Wecom,
}

/// One `[[alerts.webhook]]` channel.
#[derive(Debug, Clone)]
pub struct WebhookChannel {
    /// `name`: the channel's identity in the outbox, so alerts waiting for
    /// it follow it when its URL changes. Absent: derived from the URL's
    /// host (see `alert::ChannelId`).
    pub name: Option<String>,
    /// http or https. May itself carry a token (Slack, DingTalk, WeCom put
    /// one in the URL): do not log it whole.
    pub url: Url,
    /// Default generic.
    pub format: WebhookFormat,
    /// HMAC-SHA256 signing secret, optional.
    pub secret: Option<SecretSource>,
}

const DEFAULT_REMINDER: Duration = Duration::from_secs(86_400);
const DEFAULT_ERROR_THRESHOLD: u32 = 3;
const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(86_400);

/// `[alerts]` with nothing written: no channels, the default policy.
pub(super) fn defaults() -> AlertsConfig {
    AlertsConfig {
        reminder: Some(DEFAULT_REMINDER),
        error_threshold: DEFAULT_ERROR_THRESHOLD,
        give_up_after: DEFAULT_GIVE_UP_AFTER,
        flap_window: Duration::from_secs(6 * 3600),
        flap_changes: 3,
        settle_after: Duration::from_secs(3600),
        email: Vec::new(),
        webhook: Vec::new(),
    }
}

/// Default `[[alerts.email]] timeout`.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A channel `name`: letters, digits, `.`, `_`, `-`, at most 64 (it is
/// shown in logs and `status`, and stored with each waiting alert).
fn channel_name(text: &Option<Text>, key: &str, p: &mut Problems<'_>) -> Option<String> {
    let t = text.as_ref()?;
    let name = t.get_ref().trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        p.on(
            t,
            format!("{key}.name"),
            format!("{name:?} is not a channel name: use 1 to 64 letters, digits, '.', '_' or '-', e.g. \"ops-mail\""),
        );
        return None;
    }
    Some(name.to_string())
}

pub(super) fn resolve_alerts(
    raw: RawAlerts,
    out: &mut AlertsConfig,
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) {
    if let Some(r) = &raw.reminder {
        if r.get_ref().trim().eq_ignore_ascii_case("off") {
            out.reminder = None;
        } else if let Some(d) = duration(r, "alerts.reminder", p) {
            out.reminder = Some(d);
        }
    }
    if let Some(t) = &raw.error_threshold {
        if *t.get_ref() == 0 {
            p.on(
                t,
                "alerts.error_threshold",
                "0 would alert before any error happened; give at least 1",
            );
        } else {
            out.error_threshold = *t.get_ref();
        }
    }
    if let Some(d) = raw
        .give_up_after
        .as_ref()
        .and_then(|t| duration(t, "alerts.give_up_after", p))
    {
        out.give_up_after = d;
    }
    if let Some(d) = raw
        .flap_window
        .as_ref()
        .and_then(|t| duration(t, "alerts.flap_window", p))
    {
        out.flap_window = d;
    }
    if let Some(d) = raw
        .settle_after
        .as_ref()
        .and_then(|t| duration(t, "alerts.settle_after", p))
    {
        out.settle_after = d;
    }
    if let Some(t) = &raw.flap_changes {
        if *t.get_ref() < 2 {
            p.on(
                t,
                "alerts.flap_changes",
                "fewer than 2 would damp the first change; give at least 2",
            );
        } else {
            out.flap_changes = *t.get_ref();
        }
    }
    for (i, email) in raw.email.iter().enumerate() {
        if let Some(e) = resolve_email(email, &format!("alerts.email[{i}]"), p, w) {
            out.email.push(e);
        }
    }
    for (i, hook) in raw.webhook.iter().enumerate() {
        let key = format!("alerts.webhook[{i}]");
        let h = hook.get_ref();
        let before = p.list.len();
        let url = url(&h.url, &format!("{key}.url"), &["http", "https"], p);
        let secret = secret(&h.secret_file, &h.secret_env, &key, "secret", p);
        let name = channel_name(&h.name, &key, p);
        if p.list.len() == before
            && let Some(url) = url
        {
            out.webhook.push(WebhookChannel {
                name,
                url,
                format: match h.format.unwrap_or(RawWebhookFormat::Generic) {
                    RawWebhookFormat::Generic => WebhookFormat::Generic,
                    RawWebhookFormat::Slack => WebhookFormat::Slack,
                    RawWebhookFormat::Feishu => WebhookFormat::Feishu,
                    RawWebhookFormat::Dingtalk => WebhookFormat::Dingtalk,
                    RawWebhookFormat::Wecom => WebhookFormat::Wecom,
                },
                secret,
            });
        }
    }
    // A name is a channel's identity: two channels of a kind with one name
    // would share (and steal) each other's waiting alerts.
    let names = raw
        .email
        .iter()
        .map(|e| ("email", &e.get_ref().name))
        .chain(raw.webhook.iter().map(|h| ("webhook", &h.get_ref().name)));
    let mut seen = std::collections::HashSet::new();
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for (kind, name) in names {
        let i = counts.entry(kind).or_default();
        let key = format!("alerts.{kind}[{i}].name");
        *i += 1;
        let Some(name) = name else { continue };
        if !seen.insert((kind, name.get_ref().trim().to_string())) {
            p.on(
                name,
                key,
                format!(
                    "another [[alerts.{kind}]] is already named {:?}; give each channel its own name",
                    name.get_ref().trim()
                ),
            );
        }
    }
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub(super) fn resolve_email(
    item: &Spanned<RawEmail>,
    key: &str,
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) -> Option<EmailChannel> {
    let e = item.get_ref();
    let before = p.list.len();
    let server = e.server.get_ref().trim();
    if server.parse::<IpAddr>().is_err() && DomainName::parse(server).is_err() {
        p.on(
            &e.server,
            format!("{key}.server"),
            format!("{server:?} is not a host name or IP address; give the SMTP server's host alone (no scheme, no port), e.g. \"smtp.example.com\""),
        );
    }
    let tls = match e.tls.as_ref().map(|t| *t.get_ref()) {
        None | Some(RawSmtpTls::Starttls) => SmtpTls::Starttls,
        Some(RawSmtpTls::None) => SmtpTls::None,
        Some(RawSmtpTls::Tls) => SmtpTls::Tls,
    };
    let port = match &e.port {
        Some(port) if *port.get_ref() == 0 => {
            p.on(
                port,
                format!("{key}.port"),
                "port 0 is not a port; use 587 (starttls), 465 (tls) or 25",
            );
            0
        }
        Some(port) => *port.get_ref(),
        None => match tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        },
    };
    let password = secret(&e.password_file, &e.password_env, key, "password", p);
    let name = channel_name(&e.name, key, p);
    let timeout = e
        .timeout
        .as_ref()
        .and_then(|t| duration(t, &format!("{key}.timeout"), p))
        .unwrap_or(DEFAULT_SMTP_TIMEOUT);
    match (&e.username, &password) {
        (Some(u), None) if e.password_file.is_none() && e.password_env.is_none() => p.on(
            u,
            format!("{key}.username"),
            "a username without a password: add password_file (or password_env), or remove username",
        ),
        (None, Some(_)) => p.on(
            item,
            format!("{key}.username"),
            "a password without a username: add username, or remove the password",
        ),
        _ => {}
    }
    if password.is_some() && tls == SmtpTls::None && !is_loopback_host(server) {
        let at = e.tls.as_ref().map_or_else(|| item.span(), |t| t.span());
        w.at(
            at,
            format!("{key}.tls"),
            format!("tls = \"none\" sends the SMTP password to {server} unencrypted; use \"starttls\" or \"tls\""),
        );
    }
    let from = e
        .from
        .get_ref()
        .parse::<Mailbox>()
        .map_err(|err| {
            p.on(
                &e.from,
                format!("{key}.from"),
                format!("{:?} is not an email address ({err}); e.g. \"certvigil@example.com\" or \"certvigil <certvigil@example.com>\"", e.from.get_ref()),
            )
        })
        .ok();
    if e.to.is_empty() {
        p.on(
            item,
            format!("{key}.to"),
            "no recipients: add to = [\"ops@example.com\"]",
        );
    }
    let mut to = Vec::new();
    for (j, addr) in e.to.iter().enumerate() {
        match addr.get_ref().parse::<Mailbox>() {
            Ok(m) => to.push(m),
            Err(err) => p.on(
                addr,
                format!("{key}.to[{j}]"),
                format!("{:?} is not an email address ({err})", addr.get_ref()),
            ),
        }
    }
    if p.list.len() != before {
        return None;
    }
    Some(EmailChannel {
        name,
        timeout,
        server: server.to_string(),
        port,
        tls,
        username: e.username.as_ref().map(|u| u.get_ref().clone()),
        password,
        from: from?,
        to,
    })
}
