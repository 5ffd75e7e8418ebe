//! The configuration file (docs/contracts.md "Configuration"): what the
//! daemon watches, how often, and whom it tells.
//!
//! [`load`] and [`parse`] turn TOML into a [`Config`] whose values are
//! already checked and typed — durations are `Duration`s, schedules are
//! [`CronSchedule`]s, names are [`CertName`]s, CAs are [`CaChoice`]s — so
//! nothing downstream re-validates. Every problem in a file is reported at
//! once, each with line, column and key path (`problem`). Secrets are only
//! named here and read at use (`secret`).

mod dnssec;
mod problem;
mod raw;
mod resolve;
mod schedule;
mod secret;
#[cfg(test)]
mod tests;
mod web;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use lettre::message::Mailbox;
use reqwest::Url;

use crate::ca::{CaChoice, CaEntry, Catalogue};
use crate::domain::{CertName, DomainName};
use certvigil_core::alert::policy::PolicyConfig;
use certvigil_core::checks::risk::RiskConfig;
use certvigil_core::orders::judge::Thresholds;

pub use dnssec::DnssecConfig;
pub use problem::{ConfigErrors, Location, Problem};
pub use schedule::{CronSchedule, CronScheduleError, DurationError, parse_duration};
pub use secret::{Secret, SecretError, SecretLocation, SecretSource};
pub use web::{WebConfig, needs_token};

/// Where the daemon looks when neither `--config` nor `CERTVIGIL_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/certvigil/config.toml";

/// The database file name under `$STATE_DIRECTORY` or the working directory.
pub const DATABASE_FILE_NAME: &str = "certvigil.db";

/// How often every target is re-checked when `[daemon] schedule` is absent.
pub const DEFAULT_SCHEDULE: &str = "0 */15 * * * *";

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub daemon: DaemonConfig,
    pub dns: DnsConfig,
    /// `[[domains]]`, in file order.
    pub domains: Vec<DomainTarget>,
    pub alerts: AlertsConfig,
    pub reach: ReachConfig,
    /// `[[vantage]]`, in file order; empty means "this host only".
    pub vantage: Vec<Vantage>,
    /// `[[providers]]`, in file order.
    pub providers: Vec<Provider>,
    /// The ACME side of each `[[providers]]` entry with `kind = "acme"`
    /// (each is also in `providers`), with the `[[orders]]` that name it.
    pub acme: Vec<AcmeProvider>,
    /// The manual `[[orders]]` (those without `provider`); orders followed
    /// through a provider are in that provider's entry (`acme[].orders`).
    pub orders: Vec<Order>,
    /// `[order_thresholds]`: when an order counts as stuck, and when a
    /// deadline warns. Absent keys keep `Thresholds::default()`.
    pub order_thresholds: Thresholds,
    pub risk: RiskConfig,
    /// `[[ca]]` entries as written (already applied to `catalogue`).
    pub ca: Vec<CaEntry>,
    /// The built-in CA catalogue with the `[[ca]]` overrides applied; use it
    /// to resolve CA names given on the command line.
    pub catalogue: Catalogue,
    /// `[web]`: the read-only web interface and `/metrics`.
    pub web: WebConfig,
    /// `[dnssec]`: validation of the decisive lookups.
    pub dnssec: DnssecConfig,
    /// Things that do not stop certvigil but that an operator should fix
    /// (e.g. a password sent without TLS). The daemon logs them at start;
    /// `config check` prints them.
    pub warnings: Vec<Problem>,
}

/// `[daemon]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// The SQLite database. Default: `$STATE_DIRECTORY/certvigil.db` when
    /// started by systemd with `StateDirectory=`, else `./certvigil.db`
    /// (see [`default_database_path`]).
    pub database: PathBuf,
    /// When every target is re-checked (unless a domain has its own).
    pub schedule: CronSchedule,
    /// Checks in flight at once. Default 64.
    pub concurrency: usize,
    /// Each target's check starts after a random delay of up to this, so
    /// thousands of targets sharing a schedule do not hit the name servers
    /// in the same second. Default 30s.
    pub jitter: Duration,
    /// How long raw check runs are kept; state changes are kept forever.
    /// Default 14 days.
    pub retention: Duration,
    /// `allow_no_domains = true`: a SIGHUP reload may bring a config
    /// without `[[domains]]`. Off by default: an emptied or truncated file
    /// would otherwise retire every target and fail every waiting alert.
    pub allow_no_domains: bool,
}

/// `[dns]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Recursive resolvers to ask; empty means the system resolver
    /// (`/etc/resolv.conf`). A bare IP in the file means port 53.
    pub nameservers: Vec<std::net::SocketAddr>,
    /// How long one query may take before it counts as a timeout (which a
    /// CA treats as a refusal for CAA). Default 5s.
    pub timeout: Duration,
}

/// One `[[domains]]` entry: a name a certificate is wanted for, and from whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainTarget {
    /// As written, converted to A-labels; may itself be a wildcard.
    pub name: CertName,
    /// The CAs the user buys from, in the order given; never empty.
    pub ca: Vec<CaChoice>,
    /// Also judge `*.name` (CAA `issuewild`).
    pub wildcard: bool,
    /// How the CA will validate (`file`, `dns`, `http-01`, `dns-01`, ...);
    /// only its ACME kinds bind to RFC 8657 `validationmethods`.
    pub validation_method: Option<certvigil_core::method::ValidationMethod>,
    /// RFC 8657 `accounturi`, compared exactly as a CA compares it.
    pub account_uri: Option<String>,
    /// Overrides `[daemon] schedule` for this domain.
    pub schedule: Option<CronSchedule>,
    /// File-validation canary path, starting with `/.well-known/`.
    pub canary_path: Option<String>,
    /// What the canary file must contain.
    pub canary_content: Option<String>,
}

impl DomainTarget {
    /// The certificate names to judge: `name`, and `*.name` when
    /// `wildcard` is set and `name` is not already a wildcard.
    pub fn cert_names(&self) -> Vec<CertName> {
        let mut names = vec![self.name.clone()];
        if self.wildcard && !self.name.is_wildcard() {
            names.push(CertName::new(self.name.base().clone(), true));
        }
        names
    }
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

/// `[reach]`: the ports file validation is tried on. Only tests change them
/// (BR §3.2.2.4.18 allows 80 and 443 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReachConfig {
    pub http_port: u16,
    pub https_port: u16,
}

/// `[[vantage]] kind`: one type with what the reach check records, owned by
/// the core crate (config depends on the core, never the other way).
pub use certvigil_core::checks::reach::model::VantageKind;

/// One `[[vantage]]` point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vantage {
    /// Unique among vantage points.
    pub name: String,
    /// Whether this point is outside the mainland, where CAs validate from.
    pub overseas: bool,
    /// Where the point is, in the operator's words (`"eu-central"`), for
    /// reports; free text.
    pub region: Option<String>,
    /// How it is reached; what else it needs depends on its kind.
    pub access: VantageAccess,
}

/// A vantage point by kind, each with what that kind needs and nothing
/// else: a proxy or an agent cannot exist without its URL (the resolver
/// refuses the file, naming the key's line and column), so none can
/// silently probe from this host while labelled overseas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VantageAccess {
    /// This host.
    Local,
    /// An HTTP, HTTPS or SOCKS5 proxy: `http://`, `https://`, `socks5://`
    /// or `socks5h://`, credentials in the URL.
    Proxy { url: Url },
    /// A certvigil running `certvigil probe serve` on a host abroad.
    Agent {
        /// `https://` (or `http://` to a loopback agent).
        url: Url,
        /// The agent's bearer token.
        token: Option<SecretSource>,
        /// The agent's certificate, pinned: trusted by this digest alone
        /// (a self-signed agent). `None`: verified against the public CAs.
        tls_fingerprint: Option<certvigil_core::pin::Fingerprint>,
    },
    /// The Globalping measurement service.
    Globalping {
        /// The API endpoint; `None` means the public API
        /// (`checks::reach::globalping::DEFAULT_ENDPOINT`).
        endpoint: Option<Url>,
        /// Globalping API token.
        token: Option<SecretSource>,
        /// Where its probes are. Empty means the default locations
        /// (`checks::reach::globalping::default_locations`, all outside
        /// the mainland); never empty when written in the file.
        locations: Vec<GlobalpingLocation>,
    },
}

impl Vantage {
    pub fn kind(&self) -> VantageKind {
        match self.access {
            VantageAccess::Local => VantageKind::Local,
            VantageAccess::Proxy { .. } => VantageKind::Proxy,
            VantageAccess::Agent { .. } => VantageKind::Agent,
            VantageAccess::Globalping { .. } => VantageKind::Globalping,
        }
    }

    /// The secret this point reads, if any.
    pub fn token(&self) -> Option<&SecretSource> {
        match &self.access {
            VantageAccess::Agent { token, .. } | VantageAccess::Globalping { token, .. } => {
                token.as_ref()
            }
            VantageAccess::Local | VantageAccess::Proxy { .. } => None,
        }
    }
}

/// One Globalping location filter (its API's `MeasurementLocationOption`):
/// each selects at least one probe. Globalping has no exclusion, so
/// "abroad" means naming places outside the mainland.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalpingLocation {
    /// ISO 3166-1 alpha-2, upper case (`"DE"`).
    Country(String),
    /// Two-letter continent code, upper case: AF, AN, AS, EU, NA, OC, SA.
    Continent(String),
    /// A city name, as Globalping matches it (`"Frankfurt"`).
    City(String),
    /// An autonomous system number.
    Asn(u32),
    /// Globalping's free-form "magic" filter (`"Singapore"`, `"aws-eu-west-1"`).
    Magic(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Tencent Cloud SSL API.
    Tencent,
    /// An ACME server.
    Acme,
}

/// One `[[providers]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Unique among providers.
    pub name: String,
    pub kind: ProviderKind,
    /// Required for tencent.
    pub secret_id: Option<SecretSource>,
    /// Required for tencent.
    pub secret_key: Option<SecretSource>,
    /// API endpoint; `None` means the provider's public one. For acme: the
    /// ACME directory URL (RFC 8555 §7.1.1).
    pub endpoint: Option<Url>,
}

/// The ACME challenge type the ACME client answers (RFC 8555 §8, RFC 8737).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallenge {
    Http01,
    Dns01,
    TlsAlpn01,
}

impl AcmeChallenge {
    /// The type as ACME names it: `http-01`, `dns-01`, `tls-alpn-01`.
    pub fn as_str(self) -> &'static str {
        match self {
            AcmeChallenge::Http01 => "http-01",
            AcmeChallenge::Dns01 => "dns-01",
            AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// The ACME settings of one `[[providers]]` entry with `kind = "acme"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeProvider {
    /// The `[[providers]]` name.
    pub name: String,
    /// The provider's `endpoint`: the ACME directory, for `newNonce` and
    /// `newAccount` when an order must be read with POST-as-GET.
    pub directory: Option<Url>,
    /// `account_key_file` / `account_key_env`: the ACME client's account
    /// key as PEM (PKCS#8 EC P-256 or RSA, SEC1 EC, PKCS#1 RSA); parsed by
    /// `orders::acme` when used.
    pub account_key: Option<SecretSource>,
    /// `account_url`: the account's URL (the JWS `kid`); looked up with
    /// the key when absent.
    pub account_url: Option<Url>,
    /// `ca`: which CA the ACME server is, for the CAA check of its orders.
    pub ca: Option<CaChoice>,
    /// `challenge`: the type the ACME client answers, when an
    /// authorization does not show it yet.
    pub challenge: Option<AcmeChallenge>,
    /// The `[[orders]]` with `provider` = this name, in file order.
    pub orders: Vec<ProviderOrder>,
}

/// One `[[orders]]` entry followed through its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderOrder {
    /// Unique among all `[[orders]]`.
    pub name: String,
    /// The ACME order URL (RFC 8555 §7.1.3).
    pub url: Url,
}

/// One manual `[[orders]]` entry (no `provider`): an order placed by hand,
/// for CAs without an API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Unique among orders.
    pub name: String,
    pub ca: CaChoice,
    /// Never empty.
    pub domains: Vec<CertName>,
    pub validation: Option<OrderValidation>,
    pub placed_at: Option<DateTime<FixedOffset>>,
}

/// The validation the CA asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderValidation {
    /// `method = "dns"`: a record to publish.
    Dns {
        record: DomainName,
        record_type: ValidationRecordType,
        value: String,
    },
    /// `method = "file"`: a file to serve at `url`.
    File { url: Url, value: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationRecordType {
    Txt,
    Cname,
}

impl Config {
    /// Every section at its default, no targets: what `certvigil check`
    /// uses when no configuration file is given. Reads `STATE_DIRECTORY`.
    pub fn default_for_check() -> Config {
        resolve::defaults(std::env::var_os("STATE_DIRECTORY").as_deref())
    }

    /// Where the database is (already resolved at load).
    pub fn database_path(&self) -> &Path {
        &self.daemon.database
    }

    /// Email plus webhook channels.
    pub fn alert_channel_count(&self) -> usize {
        self.alerts.email.len() + self.alerts.webhook.len()
    }

    /// Every secret the configuration names.
    pub fn secret_sources(&self) -> Vec<&SecretSource> {
        let email = self.alerts.email.iter().filter_map(|e| e.password.as_ref());
        let webhook = self.alerts.webhook.iter().filter_map(|w| w.secret.as_ref());
        let vantage = self.vantage.iter().filter_map(Vantage::token);
        let providers = self
            .providers
            .iter()
            .flat_map(|p| p.secret_id.iter().chain(p.secret_key.iter()));
        let acme = self.acme.iter().filter_map(|a| a.account_key.as_ref());
        email
            .chain(webhook)
            .chain(vantage)
            .chain(providers)
            .chain(acme)
            .collect()
    }

    /// The ACME settings of the `[[providers]]` entry named `name`, when it
    /// is an acme provider.
    pub fn acme_provider(&self, name: &str) -> Option<&AcmeProvider> {
        self.acme.iter().find(|a| a.name == name)
    }

    /// Tries to read every secret now and describes each that cannot be
    /// read (never a value). For `config check`; the daemon reads them at use.
    pub fn unreadable_secrets(&self) -> Vec<SecretError> {
        self.secret_sources()
            .into_iter()
            .filter_map(|s| s.read().err())
            .collect()
    }
}

/// The database path when `[daemon] database` is absent: the first entry
/// of systemd's `STATE_DIRECTORY` (it may list several, colon-separated),
/// else `./certvigil.db`.
pub fn default_database_path(state_directory: Option<&OsStr>) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let first = state_directory
        .and_then(|dirs| dirs.as_bytes().split(|b| *b == b':').next())
        .filter(|dir| !dir.is_empty());
    match first {
        Some(dir) => Path::new(OsStr::from_bytes(dir)).join(DATABASE_FILE_NAME),
        None => Path::new(".").join(DATABASE_FILE_NAME),
    }
}

/// A name server given as something other than an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{given:?} is not a name server address: write IP or IP:PORT (e.g. \"127.0.0.1:53\", \"[2001:db8::1]:53\"); a name server cannot be given by name, since resolving it would need a name server"
)]
pub struct NameserverError {
    pub given: String,
}

/// Parses a name server as `[dns] nameservers` and `--nameserver` take it:
/// `IP:PORT`, `[IPv6]:PORT`, or a bare IP meaning port 53.
pub fn parse_nameserver(text: &str) -> Result<std::net::SocketAddr, NameserverError> {
    use std::net::{IpAddr, SocketAddr};
    let trimmed = text.trim();
    let bad = || NameserverError {
        given: text.to_string(),
    };
    if let Ok(addr) = trimmed.parse::<SocketAddr>() {
        return if addr.port() == 0 {
            Err(bad())
        } else {
            Ok(addr)
        };
    }
    let bare = trimmed
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(trimmed);
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| bad())
}

/// Reads and validates the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigErrors::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Validates `text`; `path_for_messages` prefixes every problem. Reads
/// `STATE_DIRECTORY` for the database default.
pub fn parse(text: &str, path_for_messages: &str) -> Result<Config, ConfigErrors> {
    parse_with_state_directory(
        text,
        path_for_messages,
        std::env::var_os("STATE_DIRECTORY").as_deref(),
    )
}

/// [`parse`] with the `STATE_DIRECTORY` value given, for tests and callers
/// that must not read the environment.
pub fn parse_with_state_directory(
    text: &str,
    path_for_messages: &str,
    state_directory: Option<&OsStr>,
) -> Result<Config, ConfigErrors> {
    resolve::parse(text, path_for_messages, state_directory)
}
