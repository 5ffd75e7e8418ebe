//! From TOML text to a typed [`Config`], collecting every problem.
//!
//! Sections, and each element of the top-level arrays (`[[domains]]`, ...),
//! are deserialized one by one, so a type error in `domains[0]` does not
//! hide a bad duration in `[alerts]` or an unknown CA in `domains[3]`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::net::IpAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use reqwest::Url;
use serde::Deserialize;
use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::problem::{ConfigErrors, Problems};
use super::raw::{self, SECTIONS, Text};
use super::schedule::{CronSchedule, parse_duration};
use super::secret::SecretSource;
use super::*;
use crate::ca::{CaChoice, CaEntry, Catalogue};
use crate::domain::{CertName, DomainName};
use certvigil_core::checks::reach::locations as globalping;
use certvigil_core::checks::risk::RiskConfig;
use certvigil_core::method::ValidationMethod;
use certvigil_core::orders::judge::Thresholds;

const DEFAULT_CONCURRENCY: usize = 64;
const DEFAULT_JITTER: Duration = Duration::from_secs(30);
// 14 days keeps a year of 15-minute checks of 1,000 domains near 35 MiB
// (benches/storage.rs); change events are kept whatever this says.
const DEFAULT_RETENTION: Duration = Duration::from_secs(14 * 86_400);
const DEFAULT_DNS_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_REMINDER: Duration = Duration::from_secs(86_400);
const DEFAULT_ERROR_THRESHOLD: u32 = 3;
const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(86_400);

/// The configuration with nothing configured.
pub(crate) fn defaults(state_directory: Option<&OsStr>) -> Config {
    Config {
        daemon: DaemonConfig {
            database: default_database_path(state_directory),
            schedule: CronSchedule::parse(DEFAULT_SCHEDULE).expect("the default schedule is valid"),
            concurrency: DEFAULT_CONCURRENCY,
            jitter: DEFAULT_JITTER,
            retention: DEFAULT_RETENTION,
            allow_no_domains: false,
        },
        dns: DnsConfig {
            nameservers: Vec::new(),
            timeout: DEFAULT_DNS_TIMEOUT,
        },
        domains: Vec::new(),
        alerts: AlertsConfig {
            reminder: Some(DEFAULT_REMINDER),
            error_threshold: DEFAULT_ERROR_THRESHOLD,
            give_up_after: DEFAULT_GIVE_UP_AFTER,
            flap_window: Duration::from_secs(6 * 3600),
            flap_changes: 3,
            settle_after: Duration::from_secs(3600),
            email: Vec::new(),
            webhook: Vec::new(),
        },
        reach: ReachConfig {
            http_port: 80,
            https_port: 443,
        },
        vantage: Vec::new(),
        providers: Vec::new(),
        acme: Vec::new(),
        orders: Vec::new(),
        order_thresholds: Thresholds::default(),
        risk: RiskConfig::default(),
        ca: Vec::new(),
        catalogue: Catalogue::builtin(),
        web: super::WebConfig {
            listen: None,
            token: None,
            require_token: false,
        },
        dnssec: super::DnssecConfig::default(),
        warnings: Vec::new(),
    }
}

/// The file's sections as serde read them; `None`/empty where absent or
/// where deserializing failed (the failure is already recorded).
#[derive(Default)]
struct RawSections {
    daemon: Option<raw::RawDaemon>,
    dns: Option<raw::RawDns>,
    domains: Vec<Spanned<raw::RawDomain>>,
    alerts: Option<raw::RawAlerts>,
    reach: Option<raw::RawReach>,
    vantage: Vec<Spanned<raw::RawVantage>>,
    providers: Vec<Spanned<raw::RawProvider>>,
    orders: Vec<Spanned<raw::RawOrder>>,
    order_thresholds: Option<raw::RawOrderThresholds>,
    risk: Option<RiskConfig>,
    ca: Vec<Spanned<CaEntry>>,
    web: Option<super::web::RawWeb>,
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
    resolve_ca(&raw.ca, &mut config, &mut p);
    if let Some(daemon) = raw.daemon {
        resolve_daemon(daemon, &mut config.daemon, &mut p);
    }
    if let Some(dns) = raw.dns {
        resolve_dns(dns, &mut config.dns, &mut p);
    }
    config.domains = resolve_domains(&raw.domains, &config.catalogue, &mut p, &mut warnings);
    if let Some(alerts) = raw.alerts {
        resolve_alerts(alerts, &mut config.alerts, &mut p, &mut warnings);
    }
    if let Some(reach) = raw.reach {
        resolve_reach(reach, &mut config.reach, &mut p, &mut warnings);
    }
    config.vantage = resolve_vantage(&raw.vantage, &mut p, &mut warnings);
    let (providers, acme) =
        resolve_providers(&raw.providers, &config.catalogue, &mut p, &mut warnings);
    config.providers = providers;
    config.acme = acme;
    config.orders = resolve_orders(
        &raw.orders,
        &raw.providers,
        &mut config.acme,
        &config.catalogue,
        &mut p,
        &mut warnings,
    );
    if let Some(thresholds) = raw.order_thresholds {
        resolve_order_thresholds(&thresholds, &mut config.order_thresholds, &mut p);
    }
    if let Some(web) = raw.web {
        config.web = super::web::resolve_web(web, &mut p);
    }
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

fn duration(text: &Text, key: &str, p: &mut Problems<'_>) -> Option<Duration> {
    match parse_duration(text.get_ref()) {
        Ok(d) if d.is_zero() => {
            p.on(
                text,
                key,
                format!(
                    "{:?} is zero; give a positive duration such as \"90s\"",
                    text.get_ref()
                ),
            );
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            p.on(text, key, e.to_string());
            None
        }
    }
}

fn cron(text: &Text, key: &str, p: &mut Problems<'_>) -> Option<CronSchedule> {
    CronSchedule::parse(text.get_ref())
        .map_err(|e| p.on(text, key, e.to_string()))
        .ok()
}

fn url(text: &Text, key: &str, schemes: &[&str], p: &mut Problems<'_>) -> Option<Url> {
    // The URL itself is never echoed: webhook and proxy URLs often carry a
    // token or a password.
    match Url::parse(text.get_ref()) {
        Ok(u) if !schemes.contains(&u.scheme()) => {
            p.on(
                text,
                key,
                format!(
                    "the URL's scheme is {:?}; use one of {}",
                    u.scheme(),
                    schemes.join(", ")
                ),
            );
            None
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            p.on(
                text,
                key,
                "the URL has no host; write it as scheme://host[:port]/path",
            );
            None
        }
        Ok(u) => Some(u),
        Err(e) => {
            p.on(
                text,
                key,
                format!("not a valid URL ({e}); write it as scheme://host[:port]/path"),
            );
            None
        }
    }
}

/// `<base>_file` / `<base>_env`: at most one of them.
fn secret(
    file: &Option<Spanned<PathBuf>>,
    env: &Option<Text>,
    prefix: &str,
    base: &str,
    p: &mut Problems<'_>,
) -> Option<SecretSource> {
    match (file, env) {
        (Some(_), Some(e)) => {
            p.on(
                e,
                format!("{prefix}.{base}_env"),
                format!("both {base}_file and {base}_env are set; keep one"),
            );
            None
        }
        (Some(f), None) => {
            if f.get_ref().as_os_str().is_empty() {
                p.on(
                    f,
                    format!("{prefix}.{base}_file"),
                    "the path is empty; name the file holding the secret",
                );
                return None;
            }
            p.secret_files.push((
                f.span(),
                format!("{prefix}.{base}_file"),
                f.get_ref().clone(),
            ));
            Some(SecretSource::file(
                format!("{prefix}.{base}_file"),
                f.get_ref().clone(),
            ))
        }
        (None, Some(e)) => {
            let var = e.get_ref();
            let valid = !var.is_empty()
                && !var.starts_with(|c: char| c.is_ascii_digit())
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                p.on(
                    e,
                    format!("{prefix}.{base}_env"),
                    // Not echoed: what is written here by mistake is
                    // often the secret itself.
                    "this is not an environment variable name (letters, digits, '_'); give the variable's name, not the secret",
                );
                return None;
            }
            Some(SecretSource::env(
                format!("{prefix}.{base}_env"),
                var.clone(),
            ))
        }
        (None, None) => None,
    }
}

fn resolve_ca(entries: &[Spanned<CaEntry>], config: &mut Config, p: &mut Problems<'_>) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut ok = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let key = format!("ca[{i}]");
        let e = entry.get_ref();
        let name = e.name.to_ascii_lowercase();
        let before = p.list.len();
        if name.is_empty() || name.contains('.') || name.contains(char::is_whitespace) {
            p.on(
                entry,
                format!("{key}.name"),
                format!("{:?} cannot be a catalogue name: a name with a dot would be read as a CAA issuer domain; use a short word such as \"myca\"", e.name),
            );
        }
        if e.issuer_domains.is_empty() {
            p.on(
                entry,
                format!("{key}.issuer_domains"),
                "no issuer domains: list the CAA issuer domains that authorize this CA",
            );
        }
        if let Some(first) = seen.insert(name.clone(), i) {
            p.on(
                entry,
                format!("{key}.name"),
                format!("CA {name:?} is already defined by ca[{first}]; merge the two entries"),
            );
        }
        if p.list.len() == before {
            ok.push(e.clone());
        }
    }
    config.catalogue = Catalogue::with_overrides(&ok);
    config.ca = ok;
}

fn resolve_daemon(raw: raw::RawDaemon, out: &mut DaemonConfig, p: &mut Problems<'_>) {
    if let Some(db) = raw.database {
        if db.get_ref().as_os_str().is_empty() {
            p.on(
                &db,
                "daemon.database",
                "the path is empty; remove the key for the default or name a file",
            );
        } else {
            out.database = db.into_inner();
        }
    }
    if let Some(s) = raw
        .schedule
        .as_ref()
        .and_then(|t| cron(t, "daemon.schedule", p))
    {
        out.schedule = s;
    }
    if let Some(c) = raw.concurrency {
        if *c.get_ref() == 0 {
            p.on(
                &c,
                "daemon.concurrency",
                "0 checks at once would check nothing; give at least 1",
            );
        } else {
            out.concurrency = *c.get_ref();
        }
    }
    if let Some(j) = raw.jitter.as_ref() {
        // Zero jitter is legitimate: it turns spreading off.
        match parse_duration(j.get_ref()) {
            Ok(d) => out.jitter = d,
            Err(e) => p.on(j, "daemon.jitter", e.to_string()),
        }
    }
    if let Some(d) = raw
        .retention
        .as_ref()
        .and_then(|t| duration(t, "daemon.retention", p))
    {
        out.retention = d;
    }
    if let Some(a) = raw.allow_no_domains {
        out.allow_no_domains = *a.get_ref();
    }
}

/// Default `[[alerts.email]] timeout`.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A channel `name`: letters, digits, `.`, `_`, `-`, at most 64 (it is
/// shown in logs and `status`, and stored with each waiting alert).
fn channel_name(text: &Option<Text>, key: &str, p: &mut Problems<'_>) -> Option<String> {
    let t = text.as_ref()?;
    let name = t.get_ref().trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        p.on(
            t,
            format!("{key}.name"),
            format!("{name:?} is not a channel name: use 1 to 64 letters, digits, '.', '_' or '-', e.g. \"ops-mail\""),
        );
        return None;
    }
    Some(name.to_string())
}

fn resolve_dns(raw: raw::RawDns, out: &mut DnsConfig, p: &mut Problems<'_>) {
    for (i, ns) in raw.nameservers.iter().flatten().enumerate() {
        match parse_nameserver(ns.get_ref()) {
            Ok(addr) => out.nameservers.push(addr),
            Err(e) => p.on(ns, format!("dns.nameservers[{i}]"), e.to_string()),
        }
    }
    if let Some(d) = raw
        .timeout
        .as_ref()
        .and_then(|t| duration(t, "dns.timeout", p))
    {
        out.timeout = d;
    }
}

/// RFC 8657 §4: `label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))`.
fn resolve_domains(
    raw: &[Spanned<raw::RawDomain>],
    catalogue: &Catalogue,
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) -> Vec<DomainTarget> {
    let mut out = Vec::new();
    let mut seen: HashMap<CertName, (usize, usize)> = HashMap::new();
    for (i, item) in raw.iter().enumerate() {
        let d = item.get_ref();
        let key = format!("domains[{i}]");
        let before = p.list.len();
        let name = CertName::parse(d.name.get_ref())
            .map_err(|e| p.on(&d.name, format!("{key}.name"), e.to_string()))
            .ok();
        if d.ca.get_ref().is_empty() {
            p.on(
                &d.ca,
                format!("{key}.ca"),
                "no CA given: list the CAs you buy certificates from, e.g. ca = [\"letsencrypt\"]",
            );
        }
        let mut cas: Vec<CaChoice> = Vec::new();
        for (j, given) in d.ca.get_ref().iter().enumerate() {
            match catalogue.resolve(given.get_ref()) {
                Ok(ca) if cas.iter().any(|c| c.name == ca.name) => w.on(
                    given,
                    format!("{key}.ca[{j}]"),
                    format!(
                        "{:?} is listed twice (as {}); the second is ignored",
                        given.get_ref(),
                        ca.name
                    ),
                ),
                Ok(ca) => cas.push(ca),
                Err(e) => p.on(given, format!("{key}.ca[{j}]"), e.to_string()),
            }
        }
        // Parsed once here; past the config the method is typed, so a typo
        // like "http01" cannot silently turn reach probing off.
        let method = d.validation_method.as_ref().and_then(|m| {
            ValidationMethod::parse(m.get_ref())
                .map_err(|e| p.on(m, format!("{key}.validation_method"), e.to_string()))
                .ok()
        });
        let account_uri = d.account_uri.as_ref().and_then(|a| {
            // RFC 8657 §3: the CA compares accounturi exactly, so it is kept
            // as written, only checked to be a URI.
            match Url::parse(a.get_ref()) {
                Ok(_) => Some(a.get_ref().clone()),
                Err(e) => {
                    p.on(a, format!("{key}.account_uri"), format!("not a URI ({e}); give the ACME account URL, e.g. \"https://acme-v02.api.letsencrypt.org/acme/acct/123\""));
                    None
                }
            }
        });
        let schedule = d
            .schedule
            .as_ref()
            .and_then(|s| cron(s, &format!("{key}.schedule"), p));
        let canary_path = d.canary_path.as_ref().and_then(|c| {
            let path = c.get_ref();
            // CAs fetch validation files only under /.well-known/
            // (BR §3.2.2.4.18 pki-validation, RFC 8555 §8.3 acme-challenge).
            if path.starts_with("/.well-known/") && !path.contains(['?', '#', ' ']) {
                Some(path.clone())
            } else {
                p.on(
                    c,
                    format!("{key}.canary_path"),
                    format!("{path:?} is not where a CA looks: use a path under /.well-known/pki-validation/ (or /.well-known/acme-challenge/ for http-01), without query or spaces"),
                );
                None
            }
        });
        if let (Some(content), None) = (&d.canary_content, &d.canary_path) {
            p.on(
                content,
                format!("{key}.canary_content"),
                "canary_content needs canary_path: say where the canary file is served",
            );
        }
        if let Some(name) = &name {
            if d.wildcard && name.is_wildcard() {
                w.on(
                    &d.name,
                    format!("{key}.wildcard"),
                    format!("{name} is already a wildcard; wildcard = true adds nothing"),
                );
            }
            let wants_wildcard = d.wildcard || name.is_wildcard();
            if wants_wildcard
                && method
                    .as_ref()
                    .is_some_and(ValidationMethod::probed_over_http)
            {
                w.on(
                    d.validation_method.as_ref().unwrap_or(&d.name),
                    format!("{key}.validation_method"),
                    "file and HTTP validation cannot prove control of a wildcard name (BR §3.2.2.4.18, RFC 8555 §7.1.3): the CA will insist on DNS validation for it",
                );
            }
            let target = DomainTarget {
                name: name.clone(),
                ca: Vec::new(),
                wildcard: d.wildcard,
                validation_method: None,
                account_uri: None,
                schedule: None,
                canary_path: None,
                canary_content: None,
            };
            for cert_name in target.cert_names() {
                let here = p.locate(&d.name.span());
                if let Some((first, line)) = seen.get(&cert_name) {
                    p.on(
                        &d.name,
                        format!("{key}.name"),
                        format!("{cert_name} is already watched by domains[{first}] (line {line}); keep one entry"),
                    );
                } else {
                    seen.insert(cert_name, (i, here.line));
                }
            }
        }
        if p.list.len() == before
            && let Some(name) = name
        {
            out.push(DomainTarget {
                name,
                ca: cas,
                wildcard: d.wildcard,
                validation_method: method,
                account_uri,
                schedule,
                canary_path,
                canary_content: d.canary_content.as_ref().map(|c| c.get_ref().clone()),
            });
        }
    }
    out
}

fn resolve_alerts(
    raw: raw::RawAlerts,
    out: &mut AlertsConfig,
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) {
    if let Some(r) = &raw.reminder {
        if r.get_ref().trim().eq_ignore_ascii_case("off") {
            out.reminder = None;
        } else if let Some(d) = duration(r, "alerts.reminder", p) {
            out.reminder = Some(d);
        }
    }
    if let Some(t) = &raw.error_threshold {
        if *t.get_ref() == 0 {
            p.on(
                t,
                "alerts.error_threshold",
                "0 would alert before any error happened; give at least 1",
            );
        } else {
            out.error_threshold = *t.get_ref();
        }
    }
    if let Some(d) = raw
        .give_up_after
        .as_ref()
        .and_then(|t| duration(t, "alerts.give_up_after", p))
    {
        out.give_up_after = d;
    }
    if let Some(d) = raw
        .flap_window
        .as_ref()
        .and_then(|t| duration(t, "alerts.flap_window", p))
    {
        out.flap_window = d;
    }
    if let Some(d) = raw
        .settle_after
        .as_ref()
        .and_then(|t| duration(t, "alerts.settle_after", p))
    {
        out.settle_after = d;
    }
    if let Some(t) = &raw.flap_changes {
        if *t.get_ref() < 2 {
            p.on(
                t,
                "alerts.flap_changes",
                "fewer than 2 would damp the first change; give at least 2",
            );
        } else {
            out.flap_changes = *t.get_ref();
        }
    }
    for (i, email) in raw.email.iter().enumerate() {
        if let Some(e) = resolve_email(email, &format!("alerts.email[{i}]"), p, w) {
            out.email.push(e);
        }
    }
    for (i, hook) in raw.webhook.iter().enumerate() {
        let key = format!("alerts.webhook[{i}]");
        let h = hook.get_ref();
        let before = p.list.len();
        let url = url(&h.url, &format!("{key}.url"), &["http", "https"], p);
        let secret = secret(&h.secret_file, &h.secret_env, &key, "secret", p);
        let name = channel_name(&h.name, &key, p);
        if p.list.len() == before
            && let Some(url) = url
        {
            out.webhook.push(WebhookChannel {
                name,
                url,
                format: match h.format.unwrap_or(raw::RawWebhookFormat::Generic) {
                    raw::RawWebhookFormat::Generic => WebhookFormat::Generic,
                    raw::RawWebhookFormat::Slack => WebhookFormat::Slack,
                    raw::RawWebhookFormat::Feishu => WebhookFormat::Feishu,
                    raw::RawWebhookFormat::Dingtalk => WebhookFormat::Dingtalk,
                    raw::RawWebhookFormat::Wecom => WebhookFormat::Wecom,
                },
                secret,
            });
        }
    }
    // A name is a channel's identity: two channels of a kind with one name
    // would share (and steal) each other's waiting alerts.
    let names = raw
        .email
        .iter()
        .map(|e| ("email", &e.get_ref().name))
        .chain(raw.webhook.iter().map(|h| ("webhook", &h.get_ref().name)));
    let mut seen = std::collections::HashSet::new();
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for (kind, name) in names {
        let i = counts.entry(kind).or_default();
        let key = format!("alerts.{kind}[{i}].name");
        *i += 1;
        let Some(name) = name else { continue };
        if !seen.insert((kind, name.get_ref().trim().to_string())) {
            p.on(
                name,
                key,
                format!(
                    "another [[alerts.{kind}]] is already named {:?}; give each channel its own name",
                    name.get_ref().trim()
                ),
            );
        }
    }
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn resolve_email(
    item: &Spanned<raw::RawEmail>,
    key: &str,
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) -> Option<EmailChannel> {
    let e = item.get_ref();
    let before = p.list.len();
    let server = e.server.get_ref().trim();
    if server.parse::<IpAddr>().is_err() && DomainName::parse(server).is_err() {
        p.on(
            &e.server,
            format!("{key}.server"),
            format!("{server:?} is not a host name or IP address; give the SMTP server's host alone (no scheme, no port), e.g. \"smtp.example.com\""),
        );
    }
    let tls = match e.tls.as_ref().map(|t| *t.get_ref()) {
        None | Some(raw::RawSmtpTls::Starttls) => SmtpTls::Starttls,
        Some(raw::RawSmtpTls::None) => SmtpTls::None,
        Some(raw::RawSmtpTls::Tls) => SmtpTls::Tls,
    };
    let port = match &e.port {
        Some(port) if *port.get_ref() == 0 => {
            p.on(
                port,
                format!("{key}.port"),
                "port 0 is not a port; use 587 (starttls), 465 (tls) or 25",
            );
            0
        }
        Some(port) => *port.get_ref(),
        None => match tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        },
    };
    let password = secret(&e.password_file, &e.password_env, key, "password", p);
    let name = channel_name(&e.name, key, p);
    let timeout = e
        .timeout
        .as_ref()
        .and_then(|t| duration(t, &format!("{key}.timeout"), p))
        .unwrap_or(DEFAULT_SMTP_TIMEOUT);
    match (&e.username, &password) {
        (Some(u), None) if e.password_file.is_none() && e.password_env.is_none() => p.on(
            u,
            format!("{key}.username"),
            "a username without a password: add password_file (or password_env), or remove username",
        ),
        (None, Some(_)) => p.on(
            item,
            format!("{key}.username"),
            "a password without a username: add username, or remove the password",
        ),
        _ => {}
    }
    if password.is_some() && tls == SmtpTls::None && !is_loopback_host(server) {
        let at = e.tls.as_ref().map_or_else(|| item.span(), |t| t.span());
        w.at(
            at,
            format!("{key}.tls"),
            format!("tls = \"none\" sends the SMTP password to {server} unencrypted; use \"starttls\" or \"tls\""),
        );
    }
    let from = e
        .from
        .get_ref()
        .parse::<Mailbox>()
        .map_err(|err| {
            p.on(
                &e.from,
                format!("{key}.from"),
                format!("{:?} is not an email address ({err}); e.g. \"certvigil@example.com\" or \"certvigil <certvigil@example.com>\"", e.from.get_ref()),
            )
        })
        .ok();
    if e.to.is_empty() {
        p.on(
            item,
            format!("{key}.to"),
            "no recipients: add to = [\"ops@example.com\"]",
        );
    }
    let mut to = Vec::new();
    for (j, addr) in e.to.iter().enumerate() {
        match addr.get_ref().parse::<Mailbox>() {
            Ok(m) => to.push(m),
            Err(err) => p.on(
                addr,
                format!("{key}.to[{j}]"),
                format!("{:?} is not an email address ({err})", addr.get_ref()),
            ),
        }
    }
    if p.list.len() != before {
        return None;
    }
    Some(EmailChannel {
        name,
        timeout,
        server: server.to_string(),
        port,
        tls,
        username: e.username.as_ref().map(|u| u.get_ref().clone()),
        password,
        from: from?,
        to,
    })
}

fn resolve_reach(
    raw: raw::RawReach,
    out: &mut ReachConfig,
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) {
    for (port, key, standard, slot) in [
        (&raw.http_port, "reach.http_port", 80, &mut out.http_port),
        (
            &raw.https_port,
            "reach.https_port",
            443,
            &mut out.https_port,
        ),
    ] {
        let Some(port) = port else { continue };
        match *port.get_ref() {
            0 => p.on(
                port,
                key,
                format!("port 0 is not a port; remove the key for {standard}"),
            ),
            n => {
                if n != standard {
                    w.on(
                        port,
                        key,
                        format!("CAs validate files only on ports 80 and 443 (BR §3.2.2.4.18); port {n} is for tests"),
                    );
                }
                *slot = n;
            }
        }
    }
}

/// Records `name` as used; reports it when an earlier entry had it.
fn unique_name(
    name: &Text,
    key: &str,
    section: &str,
    seen: &mut HashMap<String, usize>,
    i: usize,
    p: &mut Problems<'_>,
) -> Option<String> {
    let n = name.get_ref().trim();
    if n.is_empty() {
        p.on(
            name,
            key,
            "the name is empty; give each entry a short unique name",
        );
        return None;
    }
    if let Some(first) = seen.get(n) {
        p.on(
            name,
            key,
            format!("{n:?} is already the name of {section}[{first}]; names must be unique"),
        );
        return None;
    }
    seen.insert(n.to_string(), i);
    Some(n.to_string())
}

fn resolve_vantage(
    raw: &[Spanned<raw::RawVantage>],
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
    list: &Spanned<Vec<Spanned<raw::RawLocation>>>,
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

/// Where a key is written (if it is), and its name.
type KeyAt<'a> = (Option<Range<usize>>, &'a str);

fn span_of<T>(value: &Option<Spanned<T>>) -> Option<Range<usize>> {
    value.as_ref().map(Spanned::span)
}

/// Orders are recorded under their provider's name; `manual` is the
/// source name of the manual `[[orders]]` (`orders::manual::SOURCE`).
const RESERVED_PROVIDER_NAME: &str = "manual";

fn resolve_providers(
    raw: &[Spanned<raw::RawProvider>],
    catalogue: &Catalogue,
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) -> (Vec<Provider>, Vec<AcmeProvider>) {
    let mut out = Vec::new();
    let mut acme_out = Vec::new();
    let mut seen = HashMap::new();
    for (i, item) in raw.iter().enumerate() {
        let v = item.get_ref();
        let key = format!("providers[{i}]");
        let before = p.list.len();
        let name = unique_name(
            &v.name,
            &format!("{key}.name"),
            "providers",
            &mut seen,
            i,
            p,
        );
        if name.as_deref() == Some(RESERVED_PROVIDER_NAME) {
            p.on(
                &v.name,
                format!("{key}.name"),
                "\"manual\" is the name certvigil records manual [[orders]] under; give the provider another name",
            );
        }
        let kind = match v.kind.get_ref() {
            raw::RawProviderKind::Tencent => ProviderKind::Tencent,
            raw::RawProviderKind::Acme => ProviderKind::Acme,
        };
        // Keys of the other kind are refused rather than ignored: a key
        // that does nothing is a setting the operator believes in.
        let (others, why): (Vec<KeyAt<'_>>, &str) = match kind {
            ProviderKind::Tencent => (
                vec![
                    (span_of(&v.account_key_file), "account_key_file"),
                    (span_of(&v.account_key_env), "account_key_env"),
                    (span_of(&v.account_url), "account_url"),
                    (span_of(&v.ca), "ca"),
                    (span_of(&v.challenge), "challenge"),
                ],
                "only an acme provider has {field}; remove it (a tencent provider reports each order's CA and validation itself)",
            ),
            ProviderKind::Acme => (
                vec![
                    (span_of(&v.secret_id_file), "secret_id_file"),
                    (span_of(&v.secret_id_env), "secret_id_env"),
                    (span_of(&v.secret_key_file), "secret_key_file"),
                    (span_of(&v.secret_key_env), "secret_key_env"),
                ],
                "an acme provider has no {field}: it reads orders with the ACME account key (account_key_file); remove it",
            ),
        };
        for (span, field) in others {
            if let Some(span) = span {
                p.at(
                    span,
                    format!("{key}.{field}"),
                    why.replace("{field}", field),
                );
            }
        }
        let (mut secret_id, mut secret_key) = (None, None);
        if kind == ProviderKind::Tencent {
            secret_id = secret(&v.secret_id_file, &v.secret_id_env, &key, "secret_id", p);
            secret_key = secret(&v.secret_key_file, &v.secret_key_env, &key, "secret_key", p);
            if v.secret_id_file.is_none() && v.secret_id_env.is_none() {
                p.on(
                    &v.kind,
                    format!("{key}.secret_id_file"),
                    "the Tencent Cloud API needs a SecretId: add secret_id_file (or secret_id_env)",
                );
            }
            if v.secret_key_file.is_none() && v.secret_key_env.is_none() {
                p.on(&v.kind, format!("{key}.secret_key_file"), "the Tencent Cloud API needs a SecretKey: add secret_key_file (or secret_key_env)");
            }
        }
        let endpoint = v
            .endpoint
            .as_ref()
            .and_then(|u| url(u, &format!("{key}.endpoint"), &["http", "https"], p));
        let acme = (kind == ProviderKind::Acme)
            .then(|| acme_provider(v, &key, endpoint.clone(), catalogue, p, w));
        if p.list.len() == before
            && let Some(name) = name
        {
            if let Some(mut acme) = acme {
                acme.name = name.clone();
                acme_out.push(acme);
            }
            out.push(Provider {
                name,
                kind,
                secret_id,
                secret_key,
                endpoint,
            });
        }
    }
    (out, acme_out)
}

/// The ACME keys of a `kind = "acme"` provider (`name` is filled in by the caller).
fn acme_provider(
    v: &raw::RawProvider,
    key: &str,
    directory: Option<Url>,
    catalogue: &Catalogue,
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) -> AcmeProvider {
    let account_key = secret(
        &v.account_key_file,
        &v.account_key_env,
        key,
        "account_key",
        p,
    );
    if v.account_key_file.is_none() && v.account_key_env.is_none() {
        w.on(
            &v.kind,
            format!("{key}.account_key_file"),
            "without account_key_file (or account_key_env), certvigil cannot work out the record or file a challenge needs (the key authorization, RFC 8555 §8.1), nor read orders from a server that insists on POST-as-GET (RFC 8555 §6.3); name the ACME client's account key",
        );
    }
    let account_url = v
        .account_url
        .as_ref()
        .and_then(|u| url(u, &format!("{key}.account_url"), &["http", "https"], p));
    let ca = match &v.ca {
        Some(c) => catalogue
            .resolve(c.get_ref())
            .map_err(|e| p.on(c, format!("{key}.ca"), e.to_string()))
            .ok(),
        None => {
            w.on(
                &v.kind,
                format!("{key}.ca"),
                "without ca, the CAA records of this provider's orders cannot be checked against its CA; name the CA the ACME server belongs to, e.g. ca = \"letsencrypt\"",
            );
            None
        }
    };
    let challenge = v.challenge.as_ref().map(|c| match c.get_ref() {
        raw::RawAcmeChallenge::Http01 => AcmeChallenge::Http01,
        raw::RawAcmeChallenge::Dns01 => AcmeChallenge::Dns01,
        raw::RawAcmeChallenge::TlsAlpn01 => AcmeChallenge::TlsAlpn01,
    });
    AcmeProvider {
        name: String::new(),
        directory,
        account_key,
        account_url,
        ca,
        challenge,
        orders: Vec::new(),
    }
}

/// Resolves `[[orders]]`: manual orders are returned; orders naming an
/// acme provider are added to its entry in `acme`.
fn resolve_orders(
    raw: &[Spanned<raw::RawOrder>],
    raw_providers: &[Spanned<raw::RawProvider>],
    acme: &mut [AcmeProvider],
    catalogue: &Catalogue,
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) -> Vec<Order> {
    // By name, as written (a provider with other mistakes still counts, so
    // an order naming it is not reported as naming nothing).
    let mut providers: HashMap<&str, (usize, raw::RawProviderKind)> = HashMap::new();
    for (i, item) in raw_providers.iter().enumerate() {
        let v = item.get_ref();
        providers
            .entry(v.name.get_ref().trim())
            .or_insert((i, *v.kind.get_ref()));
    }
    let mut out = Vec::new();
    let mut seen = HashMap::new();
    let mut urls: HashMap<(String, Url), usize> = HashMap::new();
    for (i, item) in raw.iter().enumerate() {
        let o = item.get_ref();
        let key = format!("orders[{i}]");
        let before = p.list.len();
        let name = unique_name(&o.name, &format!("{key}.name"), "orders", &mut seen, i, p);
        let Some(provider) = &o.provider else {
            if let Some(u) = &o.url {
                p.on(
                    u,
                    format!("{key}.url"),
                    "url is the order URL of an order followed through a provider; set provider = \"...\" to an acme provider, or remove url (a manual order's file validation has its own url)",
                );
            }
            let order = manual_order(item, &key, catalogue, p);
            if p.list.len() == before
                && let (Some(name), Some(order)) = (name, order)
            {
                out.push(Order { name, ..order });
            }
            continue;
        };
        let pname = provider.get_ref().trim();
        let provider_key = format!("{key}.provider");
        let index = match providers.get(pname) {
            None => {
                let mut names: Vec<&str> = providers.keys().copied().collect();
                names.sort_unstable();
                let known = if names.is_empty() {
                    "no [[providers]] entry is configured".to_string()
                } else {
                    format!("the providers are {}", names.join(", "))
                };
                p.on(
                    provider,
                    &provider_key,
                    format!("no [[providers]] entry is named {pname:?} ({known}); for an order placed by hand, remove provider"),
                );
                continue;
            }
            Some((j, raw::RawProviderKind::Tencent)) => {
                p.on(
                    provider,
                    &provider_key,
                    format!("providers[{j}] ({pname:?}) is a tencent provider, which lists its orders itself through the API; only acme providers take [[orders]]: remove this entry, or remove provider for an order placed by hand"),
                );
                continue;
            }
            Some((j, raw::RawProviderKind::Acme)) => *j,
        };
        let from_server = |what: &str| {
            format!(
                "an ACME order's {what} comes from the ACME server (providers[{index}]); remove it"
            )
        };
        if let Some(ca) = &o.ca {
            p.on(
                ca,
                format!("{key}.ca"),
                format!("an ACME order's CA is its provider's: set ca on providers[{index}] and remove it here"),
            );
        }
        if let Some(d) = &o.domains {
            p.on(d, format!("{key}.domains"), from_server("list of names"));
        }
        if let Some(v) = &o.validation {
            p.on(v, format!("{key}.validation"), from_server("validation"));
        }
        if let Some(t) = &o.placed_at {
            p.on(t, format!("{key}.placed_at"), from_server("creation"));
        }
        let order_url = match &o.url {
            Some(u) => url(u, &format!("{key}.url"), &["http", "https"], p),
            None => {
                p.on(
                    provider,
                    format!("{key}.url"),
                    "an order from an acme provider needs url = \"...\": the order URL (RFC 8555 §7.1.3), the Location the ACME server gave when the order was created",
                );
                None
            }
        };
        if let (Some(u), Some(given)) = (&order_url, &o.url) {
            if let Some(first) = urls.get(&(pname.to_string(), u.clone())) {
                p.on(
                    given,
                    format!("{key}.url"),
                    format!("orders[{first}] already follows this order URL; keep one entry"),
                );
            } else {
                urls.insert((pname.to_string(), u.clone()), i);
            }
        }
        if p.list.len() == before
            && let (Some(name), Some(url)) = (name, order_url)
            && let Some(entry) = acme.iter_mut().find(|a| a.name == pname)
        {
            entry.orders.push(ProviderOrder { name, url });
        }
    }
    for (i, item) in raw_providers.iter().enumerate() {
        let v = item.get_ref();
        if let Some(entry) = acme.iter().find(|a| a.name == v.name.get_ref().trim())
            && entry.orders.is_empty()
        {
            w.on(
                &v.kind,
                format!("providers[{i}]"),
                format!("no [[orders]] names this provider, so it watches nothing: certvigil follows ACME orders by their URL; add [[orders]] with provider = {:?} and url = \"...\"", entry.name),
            );
        }
    }
    out
}

/// A manual order's own keys (`name` is filled in by the caller).
fn manual_order(
    item: &Spanned<raw::RawOrder>,
    key: &str,
    catalogue: &Catalogue,
    p: &mut Problems<'_>,
) -> Option<Order> {
    let o = item.get_ref();
    let ca = match &o.ca {
        Some(ca) => catalogue
            .resolve(ca.get_ref())
            .map_err(|e| p.on(ca, format!("{key}.ca"), e.to_string()))
            .ok(),
        None => {
            p.on(
                item,
                format!("{key}.ca"),
                "a manual order (no provider) needs ca = \"...\": the CA it was placed with",
            );
            None
        }
    };
    let mut domains = Vec::new();
    match &o.domains {
        None => p.on(
            item,
            format!("{key}.domains"),
            "a manual order (no provider) needs domains = [...]: the names the order is for",
        ),
        Some(list) if list.get_ref().is_empty() => p.on(
            list,
            format!("{key}.domains"),
            "no domains: list the names the order is for",
        ),
        Some(list) => {
            for (j, d) in list.get_ref().iter().enumerate() {
                match CertName::parse(d.get_ref()) {
                    Ok(n) => domains.push(n),
                    Err(e) => p.on(d, format!("{key}.domains[{j}]"), e.to_string()),
                }
            }
        }
    }
    let validation = o
        .validation
        .as_ref()
        .and_then(|v| order_validation(v, &format!("{key}.validation"), p));
    let placed_at = o.placed_at.as_ref().and_then(|t| {
        chrono::DateTime::parse_from_rfc3339(t.get_ref())
            .map_err(|e| {
                p.on(
                    t,
                    format!("{key}.placed_at"),
                    format!(
                        "{:?} is not an RFC 3339 time ({e}); e.g. \"2026-11-20T10:00:00+08:00\"",
                        t.get_ref()
                    ),
                )
            })
            .ok()
    });
    Some(Order {
        name: String::new(),
        ca: ca?,
        domains,
        validation,
        placed_at,
    })
}

/// `[order_thresholds]` over `Thresholds::default()`.
fn resolve_order_thresholds(
    raw: &raw::RawOrderThresholds,
    out: &mut Thresholds,
    p: &mut Problems<'_>,
) {
    let fields: [(&Option<Text>, &str, &mut Duration); 11] = [
        (
            &raw.awaiting_validation_manual,
            "awaiting_validation_manual",
            &mut out.awaiting_validation_manual,
        ),
        (
            &raw.awaiting_validation_auto,
            "awaiting_validation_auto",
            &mut out.awaiting_validation_auto,
        ),
        (
            &raw.awaiting_validation_email,
            "awaiting_validation_email",
            &mut out.awaiting_validation_email,
        ),
        (&raw.reviewing_dv, "reviewing_dv", &mut out.reviewing_dv),
        (&raw.reviewing_ov, "reviewing_ov", &mut out.reviewing_ov),
        (&raw.submitting, "submitting", &mut out.submitting),
        (
            &raw.validated_not_issued,
            "validated_not_issued",
            &mut out.validated_not_issued,
        ),
        (&raw.notice_lag, "notice_lag", &mut out.notice_lag),
        (
            &raw.contact_support_after,
            "contact_support_after",
            &mut out.contact_support_after,
        ),
        (
            &raw.deadline_warning,
            "deadline_warning",
            &mut out.deadline_warning,
        ),
        (
            &raw.deadline_urgent,
            "deadline_urgent",
            &mut out.deadline_urgent,
        ),
    ];
    for (text, name, slot) in fields {
        if let Some(d) = text
            .as_ref()
            .and_then(|t| duration(t, &format!("order_thresholds.{name}"), p))
        {
            *slot = d;
        }
    }
    // A deadline first warns, then turns blocking: the other way round, the
    // warning would never be seen.
    if out.deadline_urgent >= out.deadline_warning {
        let (at, key) = match (&raw.deadline_urgent, &raw.deadline_warning) {
            (Some(u), _) => (u, "order_thresholds.deadline_urgent"),
            (None, Some(w)) => (w, "order_thresholds.deadline_warning"),
            (None, None) => return,
        };
        let human = |d: Duration| {
            certvigil_core::orders::human_duration(
                chrono::Duration::from_std(d).unwrap_or_default(),
            )
        };
        p.on(
            at,
            key,
            format!(
                "deadline_urgent ({}) must be shorter than deadline_warning ({}): a deadline first warns, then turns blocking",
                human(out.deadline_urgent),
                human(out.deadline_warning)
            ),
        );
    }
}

fn order_validation(
    item: &Spanned<raw::RawOrderValidation>,
    key: &str,
    p: &mut Problems<'_>,
) -> Option<OrderValidation> {
    let v = item.get_ref();
    let need = |field: &Option<Text>, name: &str, p: &mut Problems<'_>| -> Option<String> {
        match field {
            Some(t) => Some(t.get_ref().clone()),
            None => {
                p.on(
                    item,
                    format!("{key}.{name}"),
                    format!("method {:?} needs {name} = \"...\"", v.method.get_ref()),
                );
                None
            }
        }
    };
    let refuse = |field: &Option<Text>, name: &str, p: &mut Problems<'_>| {
        if let Some(t) = field {
            p.on(
                t,
                format!("{key}.{name}"),
                format!("method {:?} has no {name}; remove it", v.method.get_ref()),
            );
        }
    };
    match v.method.get_ref().trim().to_ascii_lowercase().as_str() {
        "dns" | "dns-01" => {
            refuse(&v.url, "url", p);
            let record = v.record.as_ref().and_then(|r| {
                DomainName::parse(r.get_ref())
                    .map_err(|e| p.on(r, format!("{key}.record"), e.to_string()))
                    .ok()
            });
            if v.record.is_none() {
                need(&v.record, "record", p);
            }
            let record_type = match v.record_type.as_ref() {
                None => Some(ValidationRecordType::Txt),
                Some(t) if t.get_ref().eq_ignore_ascii_case("txt") => {
                    Some(ValidationRecordType::Txt)
                }
                Some(t) if t.get_ref().eq_ignore_ascii_case("cname") => {
                    Some(ValidationRecordType::Cname)
                }
                Some(t) => {
                    p.on(
                        t,
                        format!("{key}.type"),
                        format!(
                            "{:?} is not a validation record type; use \"TXT\" or \"CNAME\"",
                            t.get_ref()
                        ),
                    );
                    None
                }
            };
            let value = need(&v.value, "value", p);
            Some(OrderValidation::Dns {
                record: record?,
                record_type: record_type?,
                value: value?,
            })
        }
        "file" | "http" | "http-01" => {
            refuse(&v.record, "record", p);
            refuse(&v.record_type, "type", p);
            let url = match &v.url {
                Some(u) => url(u, &format!("{key}.url"), &["http", "https"], p),
                None => need(&v.url, "url", p).and(None),
            };
            let value = need(&v.value, "value", p);
            Some(OrderValidation::File {
                url: url?,
                value: value?,
            })
        }
        other => {
            p.on(
                &v.method,
                format!("{key}.method"),
                format!("unknown validation method {other:?}; use \"dns\" or \"file\""),
            );
            None
        }
    }
}

/// Problems found, for tests.
#[cfg(test)]
pub(crate) fn problems_of(text: &str) -> Vec<super::Problem> {
    match parse(text, "config.toml", None) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems().to_vec(),
    }
}
