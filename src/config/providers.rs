//! `[[providers]]`: certificate order APIs (Tencent Cloud, ACME).
//! Its raw form (as serde reads it), its resolution (each problem at its
//! line:column with its key) and its typed result live here; `resolve`
//! only dispatches.

use super::fields::{KeyAt, secret, span_of, unique_name, url};
use super::orders::ProviderOrder;
use super::problem::Problems;
use super::raw::Text;
use super::secret::SecretSource;
use crate::ca::{CaChoice, Catalogue};
use reqwest::Url;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawProviderKind {
    Tencent,
    Acme,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    pub name: Text,
    pub kind: Spanned<RawProviderKind>,
    pub secret_id_file: Option<Spanned<PathBuf>>,
    pub secret_id_env: Option<Text>,
    pub secret_key_file: Option<Spanned<PathBuf>>,
    pub secret_key_env: Option<Text>,
    pub endpoint: Option<Text>,
    pub account_key_file: Option<Spanned<PathBuf>>,
    pub account_key_env: Option<Text>,
    pub account_url: Option<Text>,
    pub ca: Option<Text>,
    pub challenge: Option<Spanned<RawAcmeChallenge>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum RawAcmeChallenge {
    #[serde(rename = "http-01")]
    Http01,
    #[serde(rename = "dns-01")]
    Dns01,
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Tencent Cloud SSL API.
    Tencent,
    /// An ACME server.
    Acme,
}

/// One `[[providers]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Unique among providers.
    pub name: String,
    pub kind: ProviderKind,
    /// Required for tencent.
    pub secret_id: Option<SecretSource>,
    /// Required for tencent.
    pub secret_key: Option<SecretSource>,
    /// API endpoint; `None` means the provider's public one. For acme: the
    /// ACME directory URL (RFC 8555 §7.1.1).
    pub endpoint: Option<Url>,
}

/// The ACME challenge type the ACME client answers (RFC 8555 §8, RFC 8737).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallenge {
    Http01,
    Dns01,
    TlsAlpn01,
}

impl AcmeChallenge {
    /// The type as ACME names it: `http-01`, `dns-01`, `tls-alpn-01`.
    pub fn as_str(self) -> &'static str {
        match self {
            AcmeChallenge::Http01 => "http-01",
            AcmeChallenge::Dns01 => "dns-01",
            AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// The ACME settings of one `[[providers]]` entry with `kind = "acme"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeProvider {
    /// The `[[providers]]` name.
    pub name: String,
    /// The provider's `endpoint`: the ACME directory, for `newNonce` and
    /// `newAccount` when an order must be read with POST-as-GET.
    pub directory: Option<Url>,
    /// `account_key_file` / `account_key_env`: the ACME client's account
    /// key as PEM (PKCS#8 EC P-256 or RSA, SEC1 EC, PKCS#1 RSA); parsed by
    /// `orders::acme` when used.
    pub account_key: Option<SecretSource>,
    /// `account_url`: the account's URL (the JWS `kid`); looked up with
    /// the key when absent.
    pub account_url: Option<Url>,
    /// `ca`: which CA the ACME server is, for the CAA check of its orders.
    pub ca: Option<CaChoice>,
    /// `challenge`: the type the ACME client answers, when an
    /// authorization does not show it yet.
    pub challenge: Option<AcmeChallenge>,
    /// The `[[orders]]` with `provider` = this name, in file order.
    pub orders: Vec<ProviderOrder>,
}

/// Orders are recorded under their provider's name; `manual` is the
/// source name of the manual `[[orders]]` (`orders::manual::SOURCE`).
const RESERVED_PROVIDER_NAME: &str = "manual";

pub(super) fn resolve_providers(
    raw: &[Spanned<RawProvider>],
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
            RawProviderKind::Tencent => ProviderKind::Tencent,
            RawProviderKind::Acme => ProviderKind::Acme,
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
    v: &RawProvider,
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
        RawAcmeChallenge::Http01 => AcmeChallenge::Http01,
        RawAcmeChallenge::Dns01 => AcmeChallenge::Dns01,
        RawAcmeChallenge::TlsAlpn01 => AcmeChallenge::TlsAlpn01,
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
