//! Manual-review risk (issue 7): names that send an order to a CA's risk
//! control. A name that carries a brand, looks like one, or holds words CAs
//! watch (banking, payment, login, ...) is held for a person to review, and
//! may be refused; certvigil warns before the order is placed.
//!
//! There is nothing to gather: the verdict is a pure function of the name,
//! the built-in lists (`data/risk/`) and `[risk]`. Build a [`RiskModel`]
//! once per configuration and call [`RiskModel::assess`] for each name.

mod lists;
mod model;
mod text;
mod verdict;

use serde::Deserialize;
use thiserror::Error;

pub use model::RiskModel;
pub use verdict::{REMEDY, ReasonCode, RiskAssessment, RiskLevel, RiskReason, Scope};

/// `[risk]` in the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// Brands the user owns: names containing them are not flagged.
    #[serde(default)]
    pub own_brands: Vec<String>,
    /// Extra sensitive words to flag.
    #[serde(default)]
    pub extra_words: Vec<String>,
    /// Names (or `*.` patterns) never flagged.
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// An entry of `[risk]` that cannot be used. Each variant names the key and
/// the entry, so `config check` can point at it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RiskConfigError {
    #[error(
        "[risk] own_brands entry {entry:?} cannot be used: {why}; write a brand (\"acme\") or your domain (\"acme.com\")"
    )]
    OwnBrand { entry: String, why: String },
    #[error("[risk] extra_words entry {entry:?} cannot be used: {why}")]
    ExtraWord { entry: String, why: String },
    #[error(
        "[risk] ignore entry {entry:?} is not a name: {why}; write a name (\"shop.example.com\") or \"*.\" and a name for everything below it"
    )]
    Ignore { entry: String, why: String },
}

impl RiskConfig {
    /// Checks the entries without keeping the model, for `config check`.
    pub fn validate(&self) -> Result<(), RiskConfigError> {
        RiskModel::new(self).map(|_| ())
    }
}

#[cfg(test)]
mod tests;
