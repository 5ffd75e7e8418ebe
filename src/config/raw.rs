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
    "risk",
    "ca",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDaemon {
    pub database: Option<Spanned<PathBuf>>,
    pub schedule: Option<Text>,
    pub concurrency: Option<Spanned<usize>>,
    pub jitter: Option<Text>,
    pub retention: Option<Text>,
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
    pub server: Text,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawVantageKind {
    Local,
    Proxy,
    Agent,
    Globalping,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVantage {
    pub name: Text,
    pub kind: Spanned<RawVantageKind>,
    pub url: Option<Text>,
    pub token_file: Option<Spanned<PathBuf>>,
    pub token_env: Option<Text>,
    #[serde(default)]
    pub overseas: bool,
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrder {
    pub name: Text,
    pub ca: Text,
    pub domains: Spanned<Vec<Text>>,
    pub validation: Option<Spanned<RawOrderValidation>>,
    pub placed_at: Option<Text>,
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
