//! The configuration file as serde reads it: keys and TOML types only.
//! Values that need more than a type check (durations, cron, names, CAs,
//! URLs) are kept as `Spanned` strings so `resolve` can report them at
//! their line and column. Every table refuses unknown keys: a misspelt key
//! silently ignored is a check silently not done.

use std::path::PathBuf;

use serde::Deserialize;
use serde_spanned::Spanned;

pub(crate) type Text = Spanned<String>;

/// Top-level tables and arrays, in the order `resolve` handles them.
pub(crate) const SECTIONS: &[&str] = &[
    "daemon",
    "dns",
    "domains",
    "alerts",
    "reach",
    "vantage",
    "providers",
    "orders",
    "order_thresholds",
    "risk",
    "ca",
    "web",
    "dnssec",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDaemon {
    pub database: Option<Spanned<PathBuf>>,
    pub schedule: Option<Text>,
    pub concurrency: Option<Spanned<usize>>,
    pub jitter: Option<Text>,
    pub retention: Option<Text>,
    pub allow_no_domains: Option<Spanned<bool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    pub nameservers: Option<Vec<Text>>,
    pub timeout: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDomain {
    pub name: Text,
    pub ca: Spanned<Vec<Text>>,
    #[serde(default)]
    pub wildcard: bool,
    pub validation_method: Option<Text>,
    pub account_uri: Option<Text>,
    pub schedule: Option<Text>,
    pub canary_path: Option<Text>,
    pub canary_content: Option<Text>,
}

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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReach {
    pub http_port: Option<Spanned<u16>>,
    pub https_port: Option<Spanned<u16>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVantage {
    pub name: Text,
    /// The one definition of the kinds, with its serde names.
    pub kind: Spanned<super::VantageKind>,
    pub url: Option<Text>,
    pub token_file: Option<Spanned<PathBuf>>,
    pub token_env: Option<Text>,
    pub tls_fingerprint: Option<Text>,
    #[serde(default)]
    pub overseas: bool,
    pub region: Option<Text>,
    pub locations: Option<Spanned<Vec<Spanned<RawLocation>>>>,
}

/// One Globalping location filter (`MeasurementLocationOption`): exactly
/// one of its keys, checked by `resolve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLocation {
    pub country: Option<Text>,
    pub continent: Option<Text>,
    pub city: Option<Text>,
    pub asn: Option<Spanned<u32>>,
    pub magic: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawProviderKind {
    Tencent,
    Acme,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    pub name: Text,
    pub kind: Spanned<RawProviderKind>,
    pub secret_id_file: Option<Spanned<PathBuf>>,
    pub secret_id_env: Option<Text>,
    pub secret_key_file: Option<Spanned<PathBuf>>,
    pub secret_key_env: Option<Text>,
    pub endpoint: Option<Text>,
    pub account_key_file: Option<Spanned<PathBuf>>,
    pub account_key_env: Option<Text>,
    pub account_url: Option<Text>,
    pub ca: Option<Text>,
    pub challenge: Option<Spanned<RawAcmeChallenge>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum RawAcmeChallenge {
    #[serde(rename = "http-01")]
    Http01,
    #[serde(rename = "dns-01")]
    Dns01,
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrder {
    pub name: Text,
    /// Required for a manual order (no `provider`); `resolve` says so.
    pub ca: Option<Text>,
    /// Required for a manual order (no `provider`); `resolve` says so.
    pub domains: Option<Spanned<Vec<Text>>>,
    pub validation: Option<Spanned<RawOrderValidation>>,
    pub placed_at: Option<Text>,
    pub provider: Option<Text>,
    pub url: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrderValidation {
    pub method: Text,
    pub record: Option<Text>,
    #[serde(rename = "type")]
    pub record_type: Option<Text>,
    pub value: Option<Text>,
    pub url: Option<Text>,
}

/// `[order_thresholds]`: one duration per field of
/// `certvigil_core::orders::judge::Thresholds`, same names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrderThresholds {
    pub awaiting_validation_manual: Option<Text>,
    pub awaiting_validation_auto: Option<Text>,
    pub awaiting_validation_email: Option<Text>,
    pub reviewing_dv: Option<Text>,
    pub reviewing_ov: Option<Text>,
    pub submitting: Option<Text>,
    pub validated_not_issued: Option<Text>,
    pub notice_lag: Option<Text>,
    pub contact_support_after: Option<Text>,
    pub deadline_warning: Option<Text>,
    pub deadline_urgent: Option<Text>,
}
