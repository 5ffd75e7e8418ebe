//! Pending orders (issue #6, DESIGN.md cause 4): the certificate was paid
//! for or requested, the CA may even have mailed about it, yet it is not
//! issued. certvigil follows every pending order, knows how long each status
//! has held, checks what the order needs (its validation record, its CAA),
//! and says when to wait, when to act, and when the order can never issue.
//!
//! Gather, then judge:
//! - sources ([`OrderProvider`]): [`tencent`] (Tencent Cloud SSL API,
//!   signed with [`tc3`]), [`acme`] (RFC 8555 order URLs) and [`manual`]
//!   (orders declared in the config) each turn what their CA says into an
//!   [`OrderObservation`];
//! - [`validation`] looks for the validation record (DNS TXT/CNAME, the
//!   file under `/.well-known/pki-validation/`) as the CA will;
//! - [`record`] keeps the status timeline, the CA notices the user recorded
//!   and the conditions already alerted, in SQLite;
//! - [`judge`] (pure) decides blocked / stuck / deadline / failed / issued,
//!   with the message; [`alerts`] turns its events into alerts;
//! - [`run`] strings these together for the daemon.

pub mod acme;
pub mod alerts;
pub mod manual;
pub mod poller;
pub mod record;
pub mod run;
pub mod status;
pub mod tc3;
pub mod tencent;
pub mod validation;

use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::config::{Config, ProviderKind};

// The order model and the judge are pure and live in the core crate;
// re-exported here at their old paths.
pub use certvigil_core::orders::{
    Deadline, OrderKey, OrderObservation, OrderStatus, Phase, ProgressSignals, Requirement,
    SourceKind, ValidationMethod, ValidationRequirement, human_duration, judge,
};

/// Why a source could not report. Each says which provider, what failed,
/// and what to do.
#[derive(Debug, Error)]
pub enum ProviderError {
    #[error(transparent)]
    Tencent(#[from] tencent::TencentError),
    #[error(transparent)]
    Acme(#[from] acme::AcmeError),
}

impl ProviderError {
    /// How long the source asked us to wait before asking again, when it
    /// throttled us (Tencent `LimitExceeded.RateLimitExceeded`, ACME
    /// `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Tencent(e) => e.retry_after(),
            ProviderError::Acme(e) => e.retry_after(),
        }
    }
}

/// A source of orders. `pending` lists the ids the source itself calls
/// pending; `observe` reports one order by id, pending or not, so an order
/// that left the pending list (issued, failed) is still seen once more and
/// resolved.
pub trait OrderProvider {
    /// The `[[providers]]` name (or `manual`): the `source` of its keys.
    fn source(&self) -> &str;

    fn pending(&self) -> impl Future<Output = Result<Vec<String>, ProviderError>> + Send;

    fn observe(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<OrderObservation, ProviderError>> + Send;
}

/// Why the order sources named by the configuration could not be set up.
#[derive(Debug, Error)]
pub enum OrderSetupError {
    #[error(transparent)]
    Tencent(#[from] tencent::TencentError),
    #[error(transparent)]
    Acme(#[from] acme::AcmeError),
    #[error(
        "provider {provider}: kind = \"acme\" but the configuration holds no ACME settings for it; load the configuration with config::load or config::parse"
    )]
    MissingAcmeSettings { provider: String },
}

/// Every kind of source, so the daemon can hold them in one list.
#[derive(Debug)]
pub enum AnyProvider {
    // Boxed: the clients are large (HTTP client, settings), a list of
    // manual orders is not.
    Tencent(Box<tencent::TencentClient>),
    Acme(Box<acme::AcmeClient>),
    Manual(manual::ManualOrders),
}

impl AnyProvider {
    /// Every order source the configuration names: each `[[providers]]`
    /// entry in file order, then the manual `[[orders]]` (when there are
    /// any) as one source.
    pub fn all_from_config(config: &Config) -> Result<Vec<AnyProvider>, OrderSetupError> {
        let mut out = Vec::new();
        for provider in &config.providers {
            out.push(match provider.kind {
                ProviderKind::Tencent => AnyProvider::Tencent(Box::new(
                    tencent::TencentClient::new(provider, &config.catalogue)?,
                )),
                ProviderKind::Acme => {
                    let settings = config.acme_provider(&provider.name).ok_or_else(|| {
                        OrderSetupError::MissingAcmeSettings {
                            provider: provider.name.clone(),
                        }
                    })?;
                    AnyProvider::Acme(Box::new(acme::AcmeClient::from_config(settings)?))
                }
            });
        }
        if !config.orders.is_empty() {
            out.push(AnyProvider::Manual(manual::ManualOrders::new(
                &config.orders,
            )));
        }
        Ok(out)
    }
}

impl OrderProvider for AnyProvider {
    fn source(&self) -> &str {
        match self {
            AnyProvider::Tencent(p) => p.source(),
            AnyProvider::Acme(p) => p.source(),
            AnyProvider::Manual(p) => p.source(),
        }
    }

    async fn pending(&self) -> Result<Vec<String>, ProviderError> {
        match self {
            AnyProvider::Tencent(p) => p.pending().await,
            AnyProvider::Acme(p) => p.pending().await,
            AnyProvider::Manual(p) => p.pending().await,
        }
    }

    async fn observe(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<OrderObservation, ProviderError> {
        match self {
            AnyProvider::Tencent(p) => p.observe(id, now).await,
            AnyProvider::Acme(p) => p.observe(id, now).await,
            AnyProvider::Manual(p) => p.observe(id, now).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configured_source_is_set_up() {
        let text = r#"
[[providers]]
name = "tc"
kind = "tencent"
secret_id_env = "CERTVIGIL_TEST_TC_ID"
secret_key_env = "CERTVIGIL_TEST_TC_KEY"
endpoint = "http://127.0.0.1:9"

[[providers]]
name = "le"
kind = "acme"
account_key_env = "CERTVIGIL_TEST_ACME_KEY"
ca = "letsencrypt"

[[orders]]
name = "acme-1"
provider = "le"
url = "https://acme.example/acme/order/1"

[[orders]]
name = "by-hand"
ca = "sectigo"
domains = ["www.example.com"]
"#;
        let config = crate::config::parse_with_state_directory(text, "c.toml", None).unwrap();
        let sources: Vec<String> = AnyProvider::all_from_config(&config)
            .unwrap()
            .iter()
            .map(|p| p.source().to_string())
            .collect();
        assert_eq!(sources, ["tc", "le", "manual"]);
        // Without the ACME side, an acme provider cannot be built.
        let mut broken = config.clone();
        broken.acme.clear();
        assert!(matches!(
            AnyProvider::all_from_config(&broken),
            Err(OrderSetupError::MissingAcmeSettings { .. })
        ));
    }
}
