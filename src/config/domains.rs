//! `[[domains]]`: the names watched, with their CAs and validation method.
//! Its raw form (as serde reads it), its resolution (each problem at its
//! line:column with its key) and its typed result live here; `resolve`
//! only dispatches.

use super::fields::cron;
use super::problem::Problems;
use super::raw::Text;
use super::schedule::CronSchedule;
use crate::ca::{CaChoice, Catalogue};
use crate::domain::CertName;
use certvigil_core::method::ValidationMethod;
use reqwest::Url;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDomain {
    pub name: Text,
    pub ca: Spanned<Vec<Text>>,
    #[serde(default)]
    pub wildcard: bool,
    pub validation_method: Option<Text>,
    pub account_uri: Option<Text>,
    /// More URIs of the same ACME account (issue 13.6).
    #[serde(default)]
    pub account_uris: Vec<Text>,
    pub schedule: Option<Text>,
    pub canary_path: Option<Text>,
    pub canary_content: Option<Text>,
}

/// One `[[domains]]` entry: a name a certificate is wanted for, and from whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainTarget {
    /// As written, converted to A-labels; may itself be a wildcard.
    pub name: CertName,
    /// The CAs the user buys from, in the order given; never empty. Shared
    /// by every domain that lists the same CAs (issue 15: a resolved CA,
    /// its issuer domains and scanner addresses, is ~400 bytes in a handful
    /// of allocations; 100,000 domains on one CA hold one copy).
    pub ca: Arc<[CaChoice]>,
    /// Also judge `*.name` (CAA `issuewild`).
    pub wildcard: bool,
    /// How the CA will validate (`file`, `dns`, `http-01`, `dns-01`, ...);
    /// only its ACME kinds bind to RFC 8657 `validationmethods`.
    pub validation_method: Option<certvigil_core::method::ValidationMethod>,
    /// RFC 8657 `accounturi`, compared exactly as a CA compares it: the
    /// `account_uri` key and the `account_uris` list, in that order (an
    /// account can have several URIs; any of them authorizes).
    pub account_uris: Vec<String>,
    /// Overrides `[daemon] schedule` for this domain.
    pub schedule: Option<CronSchedule>,
    /// File-validation canary path, starting with `/.well-known/`.
    pub canary_path: Option<String>,
    /// What the canary file must contain.
    pub canary_content: Option<String>,
}

impl DomainTarget {
    /// The certificate names to judge: `name`, and `*.name` when
    /// `wildcard` is set and `name` is not already a wildcard.
    pub fn cert_names(&self) -> Vec<CertName> {
        let mut names = vec![self.name.clone()];
        if self.wildcard && !self.name.is_wildcard() {
            names.push(CertName::new(self.name.base().clone(), true));
        }
        names
    }
}

/// RFC 8657 §4: `label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))`.
pub(super) fn resolve_domains(
    raw: &[Spanned<RawDomain>],
    catalogue: &Catalogue,
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) -> Vec<DomainTarget> {
    let mut out = Vec::new();
    let mut seen: HashMap<CertName, (usize, usize)> = HashMap::new();
    // The distinct CA lists met so far (a config has a few).
    let mut ca_lists: Vec<Arc<[CaChoice]>> = Vec::new();
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
        let uris = d.account_uri.iter().map(|a| (a, "account_uri".to_string()));
        let listed =
            (d.account_uris.iter().enumerate()).map(|(j, a)| (a, format!("account_uris[{j}]")));
        let account_uris = uris.chain(listed).filter_map(|(a, field)| {
            // RFC 8657 §3: the CA compares accounturi exactly, so it is kept
            // as written, only checked to be a URI.
            match Url::parse(a.get_ref()) {
                Ok(_) => Some(a.get_ref().clone()),
                Err(e) => {
                    p.on(a, format!("{key}.{field}"), format!("not a URI ({e}); give the ACME account URL, e.g. \"https://acme-v02.api.letsencrypt.org/acme/acct/123\""));
                    None
                }
            }
        }).collect();
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
                ca: Arc::from([]),
                wildcard: d.wildcard,
                validation_method: None,
                account_uris: Vec::new(),
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
            let ca = match ca_lists.iter().find(|l| l[..] == cas[..]) {
                Some(l) => Arc::clone(l),
                None => {
                    let l: Arc<[CaChoice]> = cas.into();
                    ca_lists.push(Arc::clone(&l));
                    l
                }
            };
            out.push(DomainTarget {
                name,
                ca,
                wildcard: d.wildcard,
                validation_method: method,
                account_uris,
                schedule,
                canary_path,
                canary_content: d.canary_content.as_ref().map(|c| c.get_ref().clone()),
            });
        }
    }
    out
}
