//! `[globalping]`: lookups from abroad through Globalping's DNS
//! measurements (issue 13). Off unless the table is present. Globalping's
//! DNS measurements cannot ask CAA (their query types stop at A, AAAA,
//! ANY, CNAME, DNSKEY, DS, HTTPS, MX, NS, NSEC, PTR, RRSIG, SOA, TXT,
//! SRV), so they compare the validation records (TXT and their aliases);
//! probe agents compare CAA too.

use std::path::PathBuf;

use reqwest::Url;
use serde::Deserialize;
use serde_spanned::Spanned;

use super::problem::Problems;
use super::raw::Text;
use super::secret::SecretSource;

/// The public API.
pub const DEFAULT_GLOBALPING_API: &str = "https://api.globalping.io/";

/// `[globalping]` as serde reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGlobalping {
    pub enabled: Option<Spanned<bool>>,
    pub endpoint: Option<Text>,
    pub token_file: Option<Spanned<PathBuf>>,
    pub token_env: Option<Text>,
    pub locations: Option<Vec<Text>>,
    pub limit: Option<Spanned<u32>>,
}

/// `[globalping]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalpingConfig {
    /// The API's base URL (tests serve a mock).
    pub endpoint: Url,
    pub token: Option<SecretSource>,
    /// Globalping "magic" location filters (`"DE"`, `"Singapore"`,
    /// `"AS13335"`); empty: the default set outside the mainland.
    pub locations: Vec<String>,
    /// Probes per measurement (1 to 50, default 3).
    pub limit: u32,
}

/// `None` when `enabled = false` (the table is still checked).
pub(crate) fn resolve_globalping(
    raw: RawGlobalping,
    p: &mut Problems<'_>,
) -> Option<GlobalpingConfig> {
    let enabled = raw.enabled.as_ref().is_none_or(|e| *e.get_ref());
    let endpoint = match &raw.endpoint {
        None => Url::parse(DEFAULT_GLOBALPING_API).expect("a valid URL"),
        Some(e) => match Url::parse(e.get_ref()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => {
                p.on(
                    e,
                    "globalping.endpoint",
                    format!("{:?} is not an http(s) URL; remove the key to use {DEFAULT_GLOBALPING_API}", e.get_ref()),
                );
                Url::parse(DEFAULT_GLOBALPING_API).expect("a valid URL")
            }
        },
    };
    let token = match (&raw.token_file, &raw.token_env) {
        (Some(f), Some(_)) => {
            p.on(
                f,
                "globalping.token_file",
                "give token_file or token_env, not both",
            );
            None
        }
        (Some(f), None) => {
            p.secret_files.push((
                f.span(),
                "globalping.token_file".into(),
                f.get_ref().clone(),
            ));
            Some(SecretSource::file(
                "globalping.token_file",
                f.get_ref().clone(),
            ))
        }
        (None, Some(v)) => Some(SecretSource::env(
            "globalping.token_env",
            v.get_ref().clone(),
        )),
        (None, None) => None,
    };
    let mut locations = Vec::new();
    for (i, l) in raw.locations.iter().flatten().enumerate() {
        if l.get_ref().trim().is_empty() {
            p.on(
                l,
                format!("globalping.locations[{i}]"),
                "empty location; name a country, city, region or ASN",
            );
        } else {
            locations.push(l.get_ref().trim().to_string());
        }
    }
    let mut limit = 3;
    if let Some(l) = &raw.limit {
        if (1..=50).contains(l.get_ref()) {
            limit = *l.get_ref();
        } else {
            p.on(l, "globalping.limit", "use 1 to 50 probes per measurement");
        }
    }
    enabled.then_some(GlobalpingConfig {
        endpoint,
        token,
        locations,
        limit,
    })
}
