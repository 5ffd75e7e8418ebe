//! The configuration file as serde reads it: keys and TOML types only.
//! Values that need more than a type check (durations, cron, names, CAs,
//! URLs) are kept as `Spanned` strings so `resolve` can report them at
//! their line and column. Every table refuses unknown keys: a misspelt key
//! silently ignored is a check silently not done.
//!
//! Each section's raw struct lives in its component's file (`daemon.rs`,
//! `alerts.rs`, ...); this file keeps the list of sections and the names
//! tests use to walk every table.

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
    "globalping",
    "dnssec",
];

#[cfg(test)]
pub(crate) use super::alerts::{RawAlerts, RawEmail, RawWebhook};
#[cfg(test)]
pub(crate) use super::daemon::RawDaemon;
#[cfg(test)]
pub(crate) use super::dns::RawDns;
#[cfg(test)]
pub(crate) use super::domains::RawDomain;
#[cfg(test)]
pub(crate) use super::orders::{RawOrder, RawOrderThresholds, RawOrderValidation};
#[cfg(test)]
pub(crate) use super::providers::RawProvider;
#[cfg(test)]
pub(crate) use super::reach::RawReach;
#[cfg(test)]
pub(crate) use super::vantage::{RawLocation, RawVantage};
