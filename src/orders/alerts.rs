//! Order events as alerts for the outbox (`crate::alert`).
//!
//! docs/contracts.md ("The webhook body") names the order events `order_blocked`, `order_stuck`,
//! `order_deadline`, `order_failed` and `order_issued`; each is its own
//! `alert::AlertKind` (the webhook's `event`), with `check = "order"` and
//! the event name also in `after.event`. A condition that stops holding
//! (other than by issuance) is `resolved`.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::judge::{OrderEvent, OrderEventKind};
use super::record::ActiveCondition;
use crate::alert::{Alert, AlertKind, new_alert_id};
use crate::findings::Severity;

/// The alert kind an order event is sent as.
pub fn alert_kind(kind: OrderEventKind) -> AlertKind {
    match kind {
        OrderEventKind::OrderIssued => AlertKind::OrderIssued,
        OrderEventKind::OrderBlocked => AlertKind::OrderBlocked,
        OrderEventKind::OrderStuck => AlertKind::OrderStuck,
        OrderEventKind::OrderDeadline => AlertKind::OrderDeadline,
        OrderEventKind::OrderFailed => AlertKind::OrderFailed,
    }
}

/// The alert for a raised order event.
pub fn to_alert(event: &OrderEvent, now: DateTime<Utc>) -> Alert {
    Alert {
        id: new_alert_id(),
        kind: alert_kind(event.kind),
        domain: event.names.join(", "),
        ca: event.ca.clone(),
        check: "order".into(),
        severity: event.severity,
        summary: event.summary.clone(),
        reason: event.reason.clone(),
        before: serde_json::Value::Null,
        after: json!({
            "event": event.kind.as_str(),
            "order": event.key.to_string(),
            "order_name": event.display_name,
            "since": event.since.to_rfc3339(),
        }),
        before_text: String::new(),
        after_text: format!("{} since {}", event.kind.as_str(), event.since.to_rfc3339()),
        remedy: event.remedy.clone(),
        first_seen: event.since,
        at: now,
        damped: None,
        event_id: None,
    }
}

/// The alert for a condition that stopped holding (other than by
/// issuance, which has its own event): e.g. the missing record appeared.
pub fn cleared_alert(
    order: &super::OrderKey,
    names: &[String],
    ca: &str,
    cleared: &ActiveCondition,
    now: DateTime<Utc>,
) -> Alert {
    Alert {
        id: new_alert_id(),
        kind: AlertKind::Resolved,
        domain: names.join(", "),
        ca: ca.to_string(),
        check: "order".into(),
        severity: Severity::Info,
        summary: format!("resolved for order {order}: {}", cleared.summary),
        reason: format!(
            "The condition {} no longer holds at the latest poll.",
            cleared.kind.as_str()
        ),
        before: json!({"event": cleared.kind.as_str(), "order": order.to_string()}),
        after: serde_json::Value::Null,
        before_text: cleared.summary.clone(),
        after_text: String::new(),
        remedy: None,
        first_seen: cleared.since,
        at: now,
        damped: None,
        event_id: None,
    }
}
