//! Manual-review risk (issue 7): names that send an order to a CA's risk control.

use serde::Deserialize;

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
