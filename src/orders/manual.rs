//! Orders declared in the config (`[[orders]]`), for CAs without an API.
//! certvigil cannot ask such a CA anything: the order is pending from
//! `placed_at` until the user records that the CA said otherwise
//! (`certvigil orders notice ORDER --kind issued|failed|validation-passed`),
//! and what certvigil checks is what the order needs (its validation record,
//! its CAA).

use chrono::{DateTime, Utc};
use reqwest::Url;

use super::judge::{Notice, NoticeKind};
use super::{
    OrderKey, OrderObservation, OrderProvider, OrderStatus, Phase, ProgressSignals, ProviderError,
    Requirement, SourceKind, ValidationMethod, ValidationRequirement,
};
use crate::config::{Order, OrderValidation, ValidationRecordType};

/// The source name of manual orders.
pub const SOURCE: &str = "manual";

/// The `[[orders]]` of the config.
#[derive(Debug, Clone)]
pub struct ManualOrders {
    orders: Vec<Order>,
}

impl ManualOrders {
    pub fn new(orders: &[Order]) -> Self {
        Self {
            orders: orders.to_vec(),
        }
    }

    pub fn observe_order(&self, name: &str, now: DateTime<Utc>) -> Option<OrderObservation> {
        self.orders
            .iter()
            .find(|o| o.name == name)
            .map(|o| observation_of(o, now))
    }
}

/// What a declared order needs, as an observation: pending, awaiting
/// validation when it names a validation, else reviewing.
pub fn observation_of(order: &Order, now: DateTime<Utc>) -> OrderObservation {
    let first = order
        .domains
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    let (method, requirements) = match &order.validation {
        Some(OrderValidation::Dns {
            record,
            record_type,
            value,
        }) => {
            let requirement =
                match record_type {
                    ValidationRecordType::Txt => Some(Requirement::DnsTxt {
                        name: record.clone(),
                        value: value.clone(),
                    }),
                    ValidationRecordType::Cname => crate::domain::DomainName::parse(value)
                        .ok()
                        .map(|target| Requirement::DnsCname {
                            name: record.clone(),
                            target,
                        }),
                };
            (Some(ValidationMethod::Dns), requirement)
        }
        Some(OrderValidation::File { url, value }) => (
            Some(ValidationMethod::File),
            Some(Requirement::File {
                url: url.clone(),
                content: value.clone(),
            }),
        ),
        None => (None, None),
    };
    let for_name = match &requirements {
        Some(Requirement::File { url, .. }) => url_host(url).unwrap_or_else(|| first.clone()),
        _ => first.clone(),
    };
    let phase = if requirements.is_some() {
        Phase::AwaitingValidation
    } else {
        Phase::Reviewing
    };
    OrderObservation {
        key: OrderKey::new(SOURCE, &order.name),
        kind: SourceKind::Manual,
        display_name: order.name.clone(),
        ca: Some(order.ca.clone()),
        ca_label: order.ca.display.clone(),
        names: order.domains.clone(),
        status: OrderStatus {
            phase,
            code: "declared".into(),
            label: "declared in the config, no word from the CA yet".into(),
        },
        method,
        requirements: requirements
            .into_iter()
            .map(|requirement| ValidationRequirement {
                for_name: for_name.clone(),
                requirement,
            })
            .collect(),
        deadlines: Vec::new(),
        signals: ProgressSignals::default(),
        failure: None,
        placed_at: order.placed_at.map(|t| t.with_timezone(&Utc)),
        is_dv: None,
        observed_at: now,
    }
}

fn url_host(url: &Url) -> Option<String> {
    url.host_str().map(str::to_string)
}

/// A manual order's status is what the user last recorded the CA said:
/// the latest notice that moves it decides.
pub fn apply_notices(obs: &mut OrderObservation, notices: &[Notice]) {
    for n in notices {
        match n.kind {
            NoticeKind::ValidationPassed => {
                obs.signals.validation_passed_at = Some(n.at);
                obs.status = OrderStatus {
                    phase: Phase::Validated,
                    code: "validation_passed".into(),
                    label: "validation passed (per the CA's notice), waiting for issuance".into(),
                };
            }
            NoticeKind::Issued => {
                obs.signals.issued_reported = true;
                obs.signals.issued_at = Some(n.at);
                obs.status = OrderStatus {
                    phase: Phase::Issued,
                    code: "issued".into(),
                    label: "issued (per the CA's notice)".into(),
                };
            }
            NoticeKind::Failed => {
                obs.failure = Some(
                    n.note
                        .clone()
                        .unwrap_or_else(|| "the CA refused the order".into()),
                );
                obs.status = OrderStatus {
                    phase: Phase::Failed,
                    code: "failed".into(),
                    label: "refused (per the CA's notice)".into(),
                };
            }
            NoticeKind::Review | NoticeKind::Other => {}
        }
    }
}

impl OrderProvider for ManualOrders {
    fn source(&self) -> &str {
        SOURCE
    }

    async fn pending(&self) -> Result<Vec<String>, ProviderError> {
        Ok(self.orders.iter().map(|o| o.name.clone()).collect())
    }

    async fn observe(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<OrderObservation, ProviderError> {
        // A manual order dropped from the config is reported as cancelled,
        // so its conditions clear.
        Ok(self
            .observe_order(id, now)
            .unwrap_or_else(|| OrderObservation {
                key: OrderKey::new(SOURCE, id),
                kind: SourceKind::Manual,
                display_name: id.to_string(),
                ca: None,
                ca_label: String::new(),
                names: Vec::new(),
                status: OrderStatus {
                    phase: Phase::Cancelled,
                    code: "removed".into(),
                    label: "removed from the config".into(),
                },
                method: None,
                requirements: Vec::new(),
                deadlines: Vec::new(),
                signals: ProgressSignals::default(),
                failure: None,
                placed_at: None,
                is_dv: None,
                observed_at: now,
            }))
    }
}
