//! One poll of the orders, for the daemon: ask each source, gather what
//! each pending order needs (validation records, CAA, manual-review risk),
//! record, judge, and enqueue the alerts of what changed — the record, the
//! conditions and the alerts in one transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::AnyPool;
use thiserror::Error;

use super::judge::{self, CaaCheck, OrderChecks, OrderEvent, Thresholds};
use super::record::{self, RecordError, Transitions};
use super::validation::{self, FileFetcher};
use super::{OrderKey, OrderObservation, OrderProvider, SourceKind, manual};
use crate::alert::{Alert, ChannelId, outbox};
use crate::checks::risk::RiskModel;
use crate::dns::DnsHandle;
use crate::dnssec::Validator;
use crate::views::Views;

/// What a poll needs besides the sources.
pub struct RunContext<'a> {
    pub dns: &'a DnsHandle,
    /// The DNSSEC validator of `[dnssec]`, `None` when validation is off:
    /// the validation records and CAA are validated as a CA validates them.
    pub dnssec: Option<&'a Validator>,
    /// The views of `[dns] view` and the perspectives abroad, asked about
    /// the validation records.
    pub views: &'a Views,
    pub files: &'a FileFetcher,
    pub thresholds: &'a Thresholds,
    /// The manual-review risk model, when configured.
    pub risk: Option<&'a RiskModel>,
    /// The alert channels to enqueue for; empty enqueues nothing.
    pub channels: &'a [ChannelId],
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("database transaction for order {key} failed: {source}")]
    Transaction {
        key: OrderKey,
        #[source]
        source: sqlx::Error,
    },
    #[error("enqueuing the alerts for order {key} failed: {detail}")]
    Outbox { key: OrderKey, detail: String },
}

/// What one order's check produced.
#[derive(Debug, Clone)]
pub struct OrderOutcome {
    pub key: OrderKey,
    /// Every condition that holds now.
    pub holding: Vec<OrderEvent>,
    /// What changed since the last poll.
    pub transitions: Transitions,
    /// The alerts enqueued for the changes.
    pub alerts: Vec<Alert>,
}

/// What one source's poll produced.
#[derive(Debug, Default)]
pub struct PollReport {
    pub outcomes: Vec<OrderOutcome>,
    /// Failures, by order when known; each message says what to do.
    pub errors: Vec<(Option<OrderKey>, String)>,
    /// The source throttled us: do not poll it again before this.
    pub retry_after: Option<Duration>,
}

/// Polls one source: every order it lists as pending, and every order
/// stored as pending (so an order that left the list is seen to end).
/// Throttling stops the poll of this source; the rest is left for the next.
pub async fn poll_provider<P: OrderProvider>(
    provider: &P,
    pool: &AnyPool,
    ctx: &RunContext<'_>,
    now: DateTime<Utc>,
) -> PollReport {
    let mut report = PollReport::default();
    let mut ids = match provider.pending().await {
        Ok(ids) => ids,
        Err(e) => {
            // Recorded before returning: `orders list` and `status` show a
            // source that refuses us (a revoked key), not only the log.
            let message = e.to_string();
            if let Err(re) =
                record::record_source_poll(pool, provider.source(), Err(&message), now).await
            {
                report.errors.push((None, re.to_string()));
            }
            report.retry_after = e.retry_after();
            report.errors.push((None, message));
            return report;
        }
    };
    if let Err(re) = record::record_source_poll(pool, provider.source(), Ok(()), now).await {
        report.errors.push((None, re.to_string()));
    }
    match record::pending_ids(pool, provider.source()).await {
        Ok(stored) => {
            for id in stored {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        Err(e) => report.errors.push((None, e.to_string())),
    }
    for id in ids {
        let key = OrderKey::new(provider.source(), &id);
        let obs = match provider.observe(&id, now).await {
            Ok(obs) => obs,
            Err(e) => {
                // Logged once, by the poller, from the report's errors.
                if let Err(re) = record::record_poll_error(pool, &key, &e.to_string(), now).await {
                    report.errors.push((Some(key.clone()), re.to_string()));
                }
                report.retry_after = e.retry_after();
                report.errors.push((Some(key), e.to_string()));
                if report.retry_after.is_some() {
                    break;
                }
                continue;
            }
        };
        match check_order(pool, obs, ctx, now).await {
            Ok(outcome) => report.outcomes.push(outcome),
            Err(e) => report.errors.push((Some(key), e.to_string())),
        }
    }
    report
}

/// Gathers what one observed order needs, then records, judges and
/// enqueues alerts in one transaction.
pub async fn check_order(
    pool: &AnyPool,
    mut obs: OrderObservation,
    ctx: &RunContext<'_>,
    now: DateTime<Utc>,
) -> Result<OrderOutcome, RunError> {
    let key = obs.key.clone();
    let tx_err = |source| RunError::Transaction {
        key: key.clone(),
        source,
    };
    if obs.kind == SourceKind::Manual {
        let mut conn = pool.acquire().await.map_err(tx_err)?;
        let notices = record::notices_for_key(&mut conn, &obs.key).await?;
        manual::apply_notices(&mut obs, &notices);
    }
    let checks = gather(&obs, ctx).await;

    // IMMEDIATE, like the check writer: a deferred transaction that reads
    // and then writes gets SQLITE_BUSY ("database is locked") when a check
    // committed in between, and busy_timeout cannot help it.
    let mut tx = crate::store::tx::immediate(pool, "recording an order poll")
        .await
        .map_err(tx_err)?;
    let (order_id, history) = record::record_observation(&mut tx, &obs, now).await?;
    let holding = judge::judge(&obs, &history, &checks, ctx.thresholds, now);
    let transitions = record::update_conditions(&mut tx, order_id, &holding, now).await?;
    let names: Vec<String> = obs.names.iter().map(ToString::to_string).collect();
    let ca = obs
        .ca
        .as_ref()
        .map(|c| c.display.clone())
        .unwrap_or_else(|| obs.ca_label.clone());
    let mut alerts: Vec<Alert> = transitions
        .raised
        .iter()
        .zip(&transitions.raised_events)
        .map(|(e, id)| Alert {
            event_id: Some(*id),
            ..super::alerts::to_alert(e, now)
        })
        .collect();
    let issued = holding
        .iter()
        .any(|e| e.kind == judge::OrderEventKind::OrderIssued);
    if !issued {
        alerts.extend(
            transitions
                .cleared
                .iter()
                .zip(&transitions.cleared_events)
                .map(|(c, id)| Alert {
                    event_id: Some(*id),
                    ..super::alerts::cleared_alert(&key, &names, &ca, c, now)
                }),
        );
    }
    if !ctx.channels.is_empty() {
        for alert in &alerts {
            outbox::enqueue(&mut tx, alert, ctx.channels)
                .await
                .map_err(|e| RunError::Outbox {
                    key: key.clone(),
                    detail: e.to_string(),
                })?;
        }
    }
    tx.commit().await.map_err(tx_err)?;
    Ok(OrderOutcome {
        key,
        holding,
        transitions,
        alerts,
    })
}

/// The checks of a pending order: validation records while validation is
/// still needed, CAA for every name and the order's CA, manual-review risk.
pub async fn gather(obs: &OrderObservation, ctx: &RunContext<'_>) -> OrderChecks {
    if !obs.status.phase.is_pending() {
        return OrderChecks::default();
    }
    let validation = if obs.signals.validation_passed() {
        Vec::new()
    } else {
        let lookups = validation::DnsLookups {
            dns: ctx.dns,
            dnssec: ctx.dnssec,
            views: ctx.views,
        };
        validation::check_all(lookups, ctx.files, &obs.requirements).await
    };
    // The engine's CAA entry: one gather per base name, and the same
    // request building as `check` and the daemon (only ACME methods bind
    // to RFC 8657 validationmethods).
    let caa = match &obs.ca {
        Some(ca) => {
            let method = obs.method.as_ref().and_then(|m| m.for_checks(obs.kind));
            crate::engine::caa_verdicts(ctx.dns, ctx.dnssec, &obs.names, ca, method.as_ref(), &[])
                .await
                .into_iter()
                .map(|(name, verdict)| CaaCheck { name, verdict })
                .collect()
        }
        None => Vec::new(),
    };
    let risk = ctx
        .risk
        .map(|model| {
            obs.names
                .iter()
                .map(|n| (n.clone(), model.assess(n)))
                .filter(|(_, a)| a.is_flagged())
                .collect()
        })
        .unwrap_or_default();
    OrderChecks {
        validation,
        caa,
        risk,
    }
}
