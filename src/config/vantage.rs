//! `[[vantage]]`: where reachability is probed from, an enum by kind.
//! Its raw form (as serde reads it), its resolution (each problem at its
//! line:column with its key) and its typed result live here; `resolve`
//! only dispatches.

use super::fields::{secret, unique_name, url};
use super::problem::Problems;
use super::raw::Text;
use super::secret::SecretSource;
use certvigil_core::checks::reach::locations as globalping;
use reqwest::Url;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVantage {
    pub name: Text,
    /// The one definition of the kinds, with its serde names.
    pub kind: Spanned<VantageKind>,
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

pub(super) fn resolve_vantage(
    raw: &[Spanned<RawVantage>],
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) -> Vec<Vantage> {
    let mut out = Vec::new();
    let mut seen = HashMap::new();
    for (i, item) in raw.iter().enumerate() {
        let v = item.get_ref();
        let key = format!("vantage[{i}]");
        let before = p.list.len();
        let name = unique_name(&v.name, &format!("{key}.name"), "vantage", &mut seen, i, p);
        let kind = *v.kind.get_ref();
        let url_key = format!("{key}.url");
        let url = match (kind, &v.url) {
            (VantageKind::Local, Some(u)) => {
                p.on(u, &url_key, "a local vantage point has no URL; remove it, or use kind = \"proxy\" or \"agent\"");
                None
            }
            (VantageKind::Local, None) => None,
            (VantageKind::Proxy, Some(u)) => {
                url(u, &url_key, &["http", "https", "socks5", "socks5h"], p)
            }
            (VantageKind::Agent | VantageKind::Globalping, Some(u)) => {
                url(u, &url_key, &["http", "https"], p)
            }
            (VantageKind::Proxy | VantageKind::Agent, None) => {
                p.on(
                    &v.kind,
                    &url_key,
                    "this kind needs url = \"...\": the proxy or agent to go through",
                );
                None
            }
            // The public API (globalping::DEFAULT_ENDPOINT).
            (VantageKind::Globalping, None) => None,
        };
        let token = match kind {
            VantageKind::Agent | VantageKind::Globalping => {
                secret(&v.token_file, &v.token_env, &key, "token", p)
            }
            VantageKind::Local | VantageKind::Proxy => {
                let why = if kind == VantageKind::Local {
                    "a local vantage point has no token; remove it"
                } else {
                    "a proxy vantage point has no token; remove it (proxy credentials go in url, as scheme://user:password@host:port)"
                };
                if let Some(f) = &v.token_file {
                    p.on(f, format!("{key}.token_file"), why);
                }
                if let Some(e) = &v.token_env {
                    p.on(e, format!("{key}.token_env"), why);
                }
                None
            }
        };
        let region = v.region.as_ref().and_then(|r| {
            let text = r.get_ref().trim();
            if text.is_empty() {
                p.on(
                    r,
                    format!("{key}.region"),
                    "the region is empty; say where the point is (e.g. \"eu-central\") or remove the key",
                );
                return None;
            }
            Some(text.to_string())
        });
        let locations = match (&v.locations, kind) {
            (Some(list), VantageKind::Globalping) => {
                globalping_locations(list, &key, v.overseas, p, w)
            }
            (Some(list), _) => {
                p.on(
                    list,
                    format!("{key}.locations"),
                    "only a globalping vantage point has locations; remove them, or use kind = \"globalping\"",
                );
                Vec::new()
            }
            (None, _) => Vec::new(),
        };
        if kind == VantageKind::Globalping && v.locations.is_none() && !v.overseas {
            let defaults: Vec<String> = globalping::default_locations()
                .iter()
                .filter_map(|l| l.country.clone())
                .collect();
            w.on(
                &v.kind,
                format!("{key}.overseas"),
                format!(
                    "without locations, Globalping probes from {}, all abroad, yet overseas = false; set overseas = true, or name the locations",
                    defaults.join(", ")
                ),
            );
        }
        let tls_fingerprint = match (&v.tls_fingerprint, kind, &url) {
            (None, _, _) => None,
            (Some(f), VantageKind::Agent, Some(u)) if u.scheme() != "https" => {
                p.on(
                    f,
                    format!("{key}.tls_fingerprint"),
                    "a pinned certificate needs an https:// url; start the agent with --tls-self-signed and use https://",
                );
                None
            }
            (Some(f), VantageKind::Agent, _) => {
                match certvigil_core::pin::Fingerprint::parse(f.get_ref()) {
                    Ok(fp) => Some(fp),
                    Err(why) => {
                        p.on(f, format!("{key}.tls_fingerprint"), why);
                        None
                    }
                }
            }
            (Some(f), _, _) => {
                p.on(
                    f,
                    format!("{key}.tls_fingerprint"),
                    "only an agent vantage point pins a certificate; remove it, or use kind = \"agent\"",
                );
                None
            }
        };
        if kind == VantageKind::Agent
            && let Some(u) = &url
            && u.scheme() == "http"
            && !url_host_is_loopback(u)
            && let Some(text) = &v.url
        {
            w.on(
                text,
                &url_key,
                "an agent over http:// sends its bearer token in clear; start it with --tls-self-signed DIR, use https:// and pin tls_fingerprint",
            );
        }
        if p.list.len() != before {
            continue;
        }
        let Some(name) = name else { continue };
        let access = match (kind, url) {
            (VantageKind::Local, _) => VantageAccess::Local,
            (VantageKind::Proxy, Some(url)) => VantageAccess::Proxy { url },
            (VantageKind::Agent, Some(url)) => VantageAccess::Agent {
                url,
                token,
                tls_fingerprint,
            },
            (VantageKind::Globalping, endpoint) => VantageAccess::Globalping {
                endpoint,
                token,
                locations,
            },
            // A problem was recorded above ("this kind needs url").
            (VantageKind::Proxy | VantageKind::Agent, None) => continue,
        };
        out.push(Vantage {
            name,
            overseas: v.overseas,
            region,
            access,
        });
    }
    if let Some(first) = raw.first()
        && !raw.iter().any(|v| v.get_ref().overseas)
    {
        w.on(
            first,
            "vantage",
            "no vantage point has overseas = true, so a site reachable here but blocked abroad (where CAs validate from) cannot be told apart",
        );
    }
    out
}

/// Whether a URL's host is this machine (an agent behind a local TLS
/// proxy, or a test).
fn url_host_is_loopback(u: &Url) -> bool {
    let host = u.host_str().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// The continent codes Globalping accepts.
const CONTINENTS: &[&str] = &["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// `[[vantage]] locations` of a globalping point: each entry selects by
/// exactly one key, as Globalping's location objects do.
fn globalping_locations(
    list: &Spanned<Vec<Spanned<RawLocation>>>,
    key: &str,
    overseas: bool,
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) -> Vec<GlobalpingLocation> {
    if list.get_ref().is_empty() {
        p.on(
            list,
            format!("{key}.locations"),
            "no locations: name at least one, e.g. locations = [{ country = \"DE\" }], or remove the key for the defaults",
        );
    }
    let mut out = Vec::new();
    for (j, item) in list.get_ref().iter().enumerate() {
        let lkey = format!("{key}.locations[{j}]");
        let l = item.get_ref();
        let given: Vec<&str> = [
            ("country", l.country.is_some()),
            ("continent", l.continent.is_some()),
            ("city", l.city.is_some()),
            ("asn", l.asn.is_some()),
            ("magic", l.magic.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        match given.len() {
            1 => {}
            0 => {
                // A key dropped for a type error was reported already.
                let inner = format!("{lkey}.");
                let reported = p
                    .list
                    .iter()
                    .any(|q| q.key.as_ref().is_some_and(|k| k.starts_with(&inner)));
                if !reported {
                    p.on(
                        item,
                        &lkey,
                        "an empty location: give one of country, continent, city, asn or magic, e.g. { country = \"DE\" }",
                    );
                }
                continue;
            }
            _ => {
                p.on(
                    item,
                    &lkey,
                    format!(
                        "a location selects by one key, this one has {}: write one location for each (each selects its own probes), or combine them in magic = \"...\"",
                        given.join(" and ")
                    ),
                );
                continue;
            }
        }
        let text = |t: &Text, what: &str, p: &mut Problems<'_>| {
            let v = t.get_ref().trim();
            if v.is_empty() {
                p.on(
                    t,
                    format!("{lkey}.{what}"),
                    format!("the {what} is empty; name one or remove the location"),
                );
                return None;
            }
            Some(v.to_string())
        };
        let location = if let Some(c) = &l.country {
            let code = c.get_ref().trim().to_ascii_uppercase();
            if code.len() != 2 || !code.chars().all(|ch| ch.is_ascii_alphabetic()) {
                p.on(
                    c,
                    format!("{lkey}.country"),
                    format!(
                        "{:?} is not a country code: use ISO 3166-1 alpha-2, e.g. \"DE\", \"US\", \"JP\"",
                        c.get_ref()
                    ),
                );
                None
            } else if overseas && code == "CN" {
                p.on(
                    c,
                    format!("{lkey}.country"),
                    "CN is the mainland, but this vantage point has overseas = true, so a geo-block would go unseen; put mainland probes in a [[vantage]] of their own with overseas = false",
                );
                None
            } else {
                Some(GlobalpingLocation::Country(code))
            }
        } else if let Some(c) = &l.continent {
            let code = c.get_ref().trim().to_ascii_uppercase();
            if !CONTINENTS.contains(&code.as_str()) {
                p.on(
                    c,
                    format!("{lkey}.continent"),
                    format!(
                        "{:?} is not a continent code; use one of {}",
                        c.get_ref(),
                        CONTINENTS.join(", ")
                    ),
                );
                None
            } else {
                if overseas && code == "AS" {
                    w.on(
                        c,
                        format!("{lkey}.continent"),
                        "continent AS includes probes in the mainland, and Globalping cannot exclude them; name countries abroad instead (e.g. \"JP\", \"SG\")",
                    );
                }
                Some(GlobalpingLocation::Continent(code))
            }
        } else if let Some(c) = &l.city {
            text(c, "city", p).map(GlobalpingLocation::City)
        } else if let Some(a) = &l.asn {
            if *a.get_ref() == 0 {
                p.on(
                    a,
                    format!("{lkey}.asn"),
                    "AS 0 is reserved (RFC 7607) and holds no probes; give a real AS number",
                );
                None
            } else {
                Some(GlobalpingLocation::Asn(*a.get_ref()))
            }
        } else if let Some(m) = &l.magic {
            text(m, "magic", p).map(GlobalpingLocation::Magic)
        } else {
            None
        };
        out.extend(location);
    }
    out
}
