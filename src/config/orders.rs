//! `[[orders]]` and `[order_thresholds]`: orders followed, and when one counts as stuck.
//! Its raw form (as serde reads it), its resolution (each problem at its
//! line:column with its key) and its typed result live here; `resolve`
//! only dispatches.

use super::fields::{duration, unique_name, url};
use super::problem::Problems;
use super::providers::AcmeProvider;
use super::raw::Text;
use crate::ca::{CaChoice, Catalogue};
use crate::domain::{CertName, DomainName};
use certvigil_core::orders::judge::Thresholds;
use chrono::{DateTime, FixedOffset};
use reqwest::Url;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrder {
    pub name: Text,
    /// Required for a manual order (no `provider`); `resolve` says so.
    pub ca: Option<Text>,
    /// Required for a manual order (no `provider`); `resolve` says so.
    pub domains: Option<Spanned<Vec<Text>>>,
    pub validation: Option<Spanned<RawOrderValidation>>,
    pub placed_at: Option<Text>,
    pub provider: Option<Text>,
    pub url: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrderValidation {
    pub method: Text,
    pub record: Option<Text>,
    #[serde(rename = "type")]
    pub record_type: Option<Text>,
    pub value: Option<Text>,
    pub url: Option<Text>,
}

/// `[order_thresholds]`: one duration per field of
/// `certvigil_core::orders::judge::Thresholds`, same names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrderThresholds {
    pub awaiting_validation_manual: Option<Text>,
    pub awaiting_validation_auto: Option<Text>,
    pub awaiting_validation_email: Option<Text>,
    pub reviewing_dv: Option<Text>,
    pub reviewing_ov: Option<Text>,
    pub submitting: Option<Text>,
    pub validated_not_issued: Option<Text>,
    pub notice_lag: Option<Text>,
    pub contact_support_after: Option<Text>,
    pub deadline_warning: Option<Text>,
    pub deadline_urgent: Option<Text>,
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

/// Resolves `[[orders]]`: manual orders are returned; orders naming an
/// acme provider are added to its entry in `acme`.
pub(super) fn resolve_orders(
    raw: &[Spanned<RawOrder>],
    raw_providers: &[Spanned<super::providers::RawProvider>],
    acme: &mut [AcmeProvider],
    catalogue: &Catalogue,
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) -> Vec<Order> {
    // By name, as written (a provider with other mistakes still counts, so
    // an order naming it is not reported as naming nothing).
    let mut providers: HashMap<&str, (usize, super::providers::RawProviderKind)> = HashMap::new();
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
            Some((j, super::providers::RawProviderKind::Tencent)) => {
                p.on(
                    provider,
                    &provider_key,
                    format!("providers[{j}] ({pname:?}) is a tencent provider, which lists its orders itself through the API; only acme providers take [[orders]]: remove this entry, or remove provider for an order placed by hand"),
                );
                continue;
            }
            Some((j, super::providers::RawProviderKind::Acme)) => *j,
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
    item: &Spanned<RawOrder>,
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
pub(super) fn resolve_order_thresholds(
    raw: &RawOrderThresholds,
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
    item: &Spanned<RawOrderValidation>,
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
