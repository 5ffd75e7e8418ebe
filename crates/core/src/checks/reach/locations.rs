//! Where Globalping probes from: the location filter of its API
//! (`MeasurementLocationOption`) and the defaults. Plain data, here so the
//! config can validate `[[vantage]] locations` without depending on the
//! Globalping client (which does I/O, in the `certvigil` crate).

use serde::{Deserialize, Serialize};

/// The public API.
pub const DEFAULT_ENDPOINT: &str = "https://api.globalping.io";

/// One location filter (`MeasurementLocationOption`). Globalping has no
/// exclusion, so "abroad" means naming countries outside the mainland.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub magic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl Location {
    pub fn country(code: &str) -> Self {
        Self {
            country: Some(code.to_string()),
            ..Self::default()
        }
    }
}

/// Where CAs validate from: Europe, North America and Asia outside the
/// mainland (Sectigo's scanners are in Europe, DigiCert's and Tencent's
/// partners' in the US).
pub fn default_locations() -> Vec<Location> {
    ["DE", "US", "JP"]
        .into_iter()
        .map(Location::country)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_locations_are_outside_the_mainland() {
        assert!(
            default_locations()
                .iter()
                .all(|l| l.country.as_deref() != Some("CN"))
        );
    }
}
