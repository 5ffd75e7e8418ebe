//! From TOML text to a typed [`Config`], collecting every problem.
//!
//! Sections, and each element of the top-level arrays (`[[domains]]`, ...),
//! are deserialized one by one, so a type error in `domains[0]` does not
//! hide a bad duration in `[alerts]` or an unknown CA in `domains[3]`.

use std::ffi::OsStr;

use serde::Deserialize;
use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::problem::{ConfigErrors, Problems};
use super::raw::SECTIONS;
use super::{Config, alerts, ca, daemon, dns, domains, orders, providers, reach, vantage, web};
use crate::ca::{CaEntry, Catalogue};
use certvigil_core::checks::risk::RiskConfig;
use certvigil_core::orders::judge::Thresholds;

/// The configuration with nothing configured: each component's defaults.
pub(crate) fn defaults(state_directory: Option<&OsStr>) -> Config {
    Config {
        daemon: daemon::defaults(state_directory),
        dns: dns::defaults(),
        domains: Vec::new(),
        alerts: alerts::defaults(),
        reach: reach::defaults(),
        vantage: Vec::new(),
        providers: Vec::new(),
        acme: Vec::new(),
        orders: Vec::new(),
        order_thresholds: Thresholds::default(),
        risk: RiskConfig::default(),
        ca: Vec::new(),
        catalogue: Catalogue::builtin(),
        web: web::defaults(),
        globalping: None,
        dnssec: super::DnssecConfig::default(),
        warnings: Vec::new(),
    }
}

/// The file's sections as serde read them; `None`/empty where absent or
/// where deserializing failed (the failure is already recorded).
#[derive(Default)]
struct RawSections {
    daemon: Option<daemon::RawDaemon>,
    dns: Option<dns::RawDns>,
    domains: Vec<Spanned<domains::RawDomain>>,
    alerts: Option<alerts::RawAlerts>,
    reach: Option<reach::RawReach>,
    vantage: Vec<Spanned<vantage::RawVantage>>,
    providers: Vec<Spanned<providers::RawProvider>>,
    orders: Vec<Spanned<orders::RawOrder>>,
    order_thresholds: Option<orders::RawOrderThresholds>,
    risk: Option<RiskConfig>,
    ca: Vec<Spanned<CaEntry>>,
    web: Option<web::RawWeb>,
    globalping: Option<super::globalping::RawGlobalping>,
    dnssec: Option<super::dnssec::RawDnssec>,
}

pub(crate) fn parse(
    text: &str,
    file: &str,
    state_directory: Option<&OsStr>,
) -> Result<Config, ConfigErrors> {
    let mut p = Problems::new(file, text);
    let (root, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        let root = DeValue::Table(root.into_inner());
        for err in &syntax_errors {
            p.toml_error(err, "", Some(&root));
        }
        return Err(ConfigErrors::Invalid(p.into_sorted()));
    }

    let mut raw = RawSections::default();
    let mut risk_span = None;
    for (key, value) in root.into_inner() {
        let name = key.get_ref().as_ref();
        match name {
            "daemon" => raw.daemon = table(value, name, &mut p),
            "dns" => raw.dns = table(value, name, &mut p),
            "alerts" => raw.alerts = table(value, name, &mut p),
            "reach" => raw.reach = table(value, name, &mut p),
            "order_thresholds" => raw.order_thresholds = table(value, name, &mut p),
            "web" => raw.web = table(value, name, &mut p),
            "globalping" => raw.globalping = table(value, name, &mut p),
            "dnssec" => raw.dnssec = table(value, name, &mut p),
            "risk" => {
                risk_span = Some(key.span());
                raw.risk = table(value, name, &mut p);
            }
            "domains" => raw.domains = array_of_tables(value, name, &mut p),
            "vantage" => raw.vantage = array_of_tables(value, name, &mut p),
            "providers" => raw.providers = array_of_tables(value, name, &mut p),
            "orders" => raw.orders = array_of_tables(value, name, &mut p),
            "ca" => raw.ca = array_of_tables(value, name, &mut p),
            other => p.at(
                key.span(),
                other,
                format!(
                    "unknown section {other:?}; the sections are {} (see config.example.toml)",
                    SECTIONS.join(", ")
                ),
            ),
        }
    }

    let mut config = defaults(state_directory);
    let mut warnings = Problems::new(file, text);
    // Once per load, after every section named its secrets.
    let warn_secret_modes = |p: &Problems<'_>, w: &mut Problems<'_>| {
        for (span, key, path) in &p.secret_files {
            if let Some(mode) = secret_file_exposed(path) {
                w.at(
                    span.clone(),
                    key.clone(),
                    format!(
                        "the secret file {} is readable by {} (mode {mode:04o}); make it private: chmod 600 {}",
                        path.display(),
                        if mode & 0o004 != 0 { "every user" } else { "its group" },
                        path.display()
                    ),
                );
            }
        }
    };
    ca::resolve_ca(&raw.ca, &mut config, &mut p);
    if let Some(daemon) = raw.daemon {
        daemon::resolve_daemon(daemon, &mut config.daemon, &mut p);
    }
    if let Some(dns) = raw.dns {
        dns::resolve_dns(dns, &mut config.dns, &mut p);
    }
    config.domains =
        domains::resolve_domains(&raw.domains, &config.catalogue, &mut p, &mut warnings);
    if let Some(alerts) = raw.alerts {
        alerts::resolve_alerts(alerts, &mut config.alerts, &mut p, &mut warnings);
    }
    if let Some(reach) = raw.reach {
        reach::resolve_reach(reach, &mut config.reach, &mut p, &mut warnings);
    }
    config.vantage = vantage::resolve_vantage(&raw.vantage, &mut p, &mut warnings);
    let (providers, acme) =
        providers::resolve_providers(&raw.providers, &config.catalogue, &mut p, &mut warnings);
    config.providers = providers;
    config.acme = acme;
    config.orders = orders::resolve_orders(
        &raw.orders,
        &raw.providers,
        &mut config.acme,
        &config.catalogue,
        &mut p,
        &mut warnings,
    );
    if let Some(thresholds) = raw.order_thresholds {
        orders::resolve_order_thresholds(&thresholds, &mut config.order_thresholds, &mut p);
    }
    if let Some(web) = raw.web {
        config.web = web::resolve_web(web, &mut p);
    }
    config.globalping = raw
        .globalping
        .and_then(|g| super::globalping::resolve_globalping(g, &mut p));
    if let Some(dnssec) = raw.dnssec {
        config.dnssec = super::dnssec::resolve_dnssec(dnssec, &mut p);
    }
    if let Some(risk) = raw.risk {
        // The lists are compiled into a model at start; an entry the model
        // cannot use is a config error, not a surprise at the first check.
        if let (Err(e), Some(span)) = (risk.validate(), risk_span.clone()) {
            p.at(span, "risk", e.to_string());
        }
        config.risk = risk;
    }

    if p.list.is_empty() {
        warn_secret_modes(&p, &mut warnings);
        config.warnings = warnings.into_sorted();
        Ok(config)
    } else {
        Err(ConfigErrors::Invalid(p.into_sorted()))
    }
}

/// The mode of a secret file that its group or other users may read, or
/// `None` (private, or not readable here: a missing file is reported when
/// the secret is used).
fn secret_file_exposed(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o044 != 0).then_some(mode)
}

/// Deserializes one value, recording a failure under `key`.
///
/// serde stops at the first error, which would hide every later mistake in
/// the same table. So after an error at a key (unknown key, wrong type), that
/// key is dropped and the table deserialized again, until it succeeds or a
/// required key is missing; the value is then still checked semantically,
/// and the file still fails because the error was recorded.
fn value<T: for<'de> Deserialize<'de>>(
    value: Spanned<DeValue<'_>>,
    key: &str,
    p: &mut Problems<'_>,
) -> Option<T> {
    let span = value.span();
    let mut current = value.into_inner();
    let mut dropped: Vec<String> = Vec::new();
    // Each round drops one key, so a table of n keys needs at most n + 1.
    loop {
        let mut copy = current.clone();
        match T::deserialize(ValueDeserializer::from(Spanned::new(span.clone(), current))) {
            Ok(v) => return Some(v),
            Err(err) => {
                // A required key we dropped ourselves was already reported.
                let missing_dropped = dropped
                    .iter()
                    .any(|k| err.message().starts_with(&format!("missing field `{k}`")));
                if !missing_dropped {
                    p.toml_error(&err, key, Some(&copy));
                }
                if err.message().starts_with("missing field") {
                    return None;
                }
                let name = err.span().and_then(|s| drop_key_at(&mut copy, s.start))?;
                dropped.push(name);
                current = copy;
            }
        }
    }
}

/// Removes the innermost key whose key or value span holds `offset`, and
/// returns its name.
fn drop_key_at(value: &mut DeValue<'_>, offset: usize) -> Option<String> {
    match value {
        DeValue::Table(table) => {
            for (_, v) in table.iter_mut() {
                if let Some(name) = drop_key_at(v.get_mut(), offset) {
                    return Some(name);
                }
            }
            let key = table
                .iter()
                .find(|(k, v)| k.span().contains(&offset) || v.span().contains(&offset))
                .map(|(k, _)| k.clone())?;
            table.remove(&key);
            Some(key.into_inner().into_owned())
        }
        DeValue::Array(array) => array
            .iter_mut()
            .filter(|item| matches!(item.get_ref(), DeValue::Table(_)))
            .find_map(|item| drop_key_at(item.get_mut(), offset)),
        _ => None,
    }
}

fn table<T: for<'de> Deserialize<'de>>(
    v: Spanned<DeValue<'_>>,
    key: &str,
    p: &mut Problems<'_>,
) -> Option<T> {
    if !matches!(v.get_ref(), DeValue::Table(_)) {
        p.at(
            v.span(),
            key,
            format!(
                "must be a table: write it as [{key}] on a line of its own, with its keys below"
            ),
        );
        return None;
    }
    value(v, key, p)
}

fn array_of_tables<T: for<'de> Deserialize<'de>>(
    v: Spanned<DeValue<'_>>,
    key: &str,
    p: &mut Problems<'_>,
) -> Vec<Spanned<T>> {
    let span = v.span();
    let DeValue::Array(items) = v.into_inner() else {
        p.at(
            span,
            key,
            format!(
                "must be an array of tables: write each entry as [[{key}]] with its keys below"
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let item_key = format!("{key}[{i}]");
        let item_span = item.span();
        if !matches!(item.get_ref(), DeValue::Table(_)) {
            p.at(
                item_span,
                item_key,
                format!("must be a table: write each entry as [[{key}]] with its keys below"),
            );
            continue;
        }
        if let Some(parsed) = value(item, &item_key, p) {
            out.push(Spanned::new(item_span, parsed));
        }
    }
    out
}

/// Problems found, for tests.
#[cfg(test)]
pub(crate) fn problems_of(text: &str) -> Vec<super::Problem> {
    match parse(text, "config.toml", None) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems().to_vec(),
    }
}
