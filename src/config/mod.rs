//! The configuration file (docs/contracts.md "Configuration"): what the
//! daemon watches, how often, and whom it tells.
//!
//! [`load`] and [`parse`] turn TOML into a [`Config`] whose values are
//! already checked and typed — durations are `Duration`s, schedules are
//! [`CronSchedule`]s, names are [`CertName`](crate::domain::CertName)s, CAs are
//! [`CaChoice`](crate::ca::CaChoice)s — so
//! nothing downstream re-validates. Every problem in a file is reported at
//! once, each with line, column and key path (`problem`). Secrets are only
//! named here and read at use (`secret`).

mod alerts;
mod ca;
mod daemon;
mod dns;
mod dns_view;
mod dnssec;
mod domains;
mod fields;
mod globalping;
mod orders;
mod problem;
mod providers;
mod raw;
mod reach;
mod resolve;
mod schedule;
mod secret;
#[cfg(test)]
mod tests;
mod vantage;
mod web;

use std::ffi::OsStr;
use std::path::Path;

use crate::ca::{CaEntry, Catalogue};
use certvigil_core::checks::risk::RiskConfig;
use certvigil_core::orders::judge::Thresholds;

pub use dns_view::{DnsView, ViewsConfig};
pub use dnssec::DnssecConfig;
pub use globalping::{DEFAULT_GLOBALPING_API, GlobalpingConfig};
pub use problem::{ConfigErrors, Location, Problem};
pub use schedule::{CronSchedule, CronScheduleError, DurationError, parse_duration};
pub use secret::{Secret, SecretError, SecretLocation, SecretSource};
pub use web::{WebConfig, needs_token};

pub use alerts::{AlertsConfig, EmailChannel, SmtpTls, WebhookChannel, WebhookFormat};
pub use daemon::{DaemonConfig, default_database_path};
pub use dns::{DnsConfig, NameserverError, parse_nameserver};
pub use domains::DomainTarget;
pub use orders::{Order, OrderValidation, ProviderOrder, ValidationRecordType};
pub use providers::{AcmeChallenge, AcmeProvider, Provider, ProviderKind};
pub use reach::ReachConfig;
pub use vantage::{GlobalpingLocation, Vantage, VantageAccess, VantageKind};

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
    /// `[globalping]`: DNS measurements from abroad; `None` when absent.
    pub globalping: Option<GlobalpingConfig>,
    /// `[dnssec]`: validation of the decisive lookups.
    pub dnssec: DnssecConfig,
    /// Things that do not stop certvigil but that an operator should fix
    /// (e.g. a password sent without TLS). The daemon logs them at start;
    /// `config check` prints them.
    pub warnings: Vec<Problem>,
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
        let globalping = self.globalping.iter().filter_map(|g| g.token.as_ref());
        email
            .chain(webhook)
            .chain(vantage)
            .chain(providers)
            .chain(acme)
            .chain(globalping)
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
