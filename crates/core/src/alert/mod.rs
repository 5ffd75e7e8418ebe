//! Alerts, the pure half: what an alert is ([`Alert`], the JSON the outbox
//! stores and the webhooks send), when to raise one ([`policy`]), and what
//! the CAA and reach verdicts say to the policy ([`caa`], [`reach`]). The
//! outbox, delivery and the channels are the `certvigil` crate's `alert`
//! module, which re-exports these at their old paths.

pub mod caa;
pub mod policy;
pub mod reach;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How bad it is, as named in the generic webhook body (`severity`): the
/// findings' severity, so a finding's severity is an alert's.
pub use crate::findings::Severity;

/// What happened, as named in the generic webhook body (`event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A state that would block issuance began.
    Blocking,
    /// A blocking state that was alerted ended.
    Resolved,
    /// A blocking state still lasts (every `alerts.reminder`).
    Reminder,
    /// The relevant CAA record set changed, blocking or not.
    CaaDrift,
    /// A pending order can never issue as things stand (its CAA forbids
    /// its CA, its validation record is missing or wrong).
    OrderBlocked,
    /// A pending order's status has held longer than usual.
    OrderStuck,
    /// A pending order's deadline (e.g. the validation window) is near.
    OrderDeadline,
    /// The CA refused the order.
    OrderFailed,
    /// The order was issued.
    OrderIssued,
    /// Sent by `certvigil alert test`; never produced by the policy.
    Test,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Blocking => "blocking",
            AlertKind::Resolved => "resolved",
            AlertKind::Reminder => "reminder",
            AlertKind::CaaDrift => "caa_drift",
            AlertKind::OrderBlocked => "order_blocked",
            AlertKind::OrderStuck => "order_stuck",
            AlertKind::OrderDeadline => "order_deadline",
            AlertKind::OrderFailed => "order_failed",
            AlertKind::OrderIssued => "order_issued",
            AlertKind::Test => "test",
        }
    }
}

/// Why an alert speaks for several changes at once: the state flapped, and
/// the policy held back the individual changes (see [`policy`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Damping {
    /// State changes seen within `window`.
    pub changes: u32,
    pub window_secs: u64,
    /// What the alert says about it, one sentence, ready to print.
    pub note: String,
}

/// One alert, complete: everything a channel needs to render it, so the
/// outbox can store it as JSON and deliver it after a restart without
/// looking anything else up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Random and unique; the same for every channel the alert goes to. It is
    /// the idempotency key receivers see (Message-ID, `id` in webhooks),
    /// because a crash between sending and recording can repeat a delivery.
    pub id: String,
    pub kind: AlertKind,
    /// The certificate name as the user wrote it in Unicode (`*.bücher.example`).
    pub domain: String,
    /// The CA's display name (`Sectigo`); for a drift, the CAs it now
    /// forbids, comma-separated, or empty when it forbids none.
    pub ca: String,
    /// Which check (`caa`, `reach`, `risk`, `order`).
    pub check: String,
    pub severity: Severity,
    /// One line that says what happened, to which domain, for which CA.
    pub summary: String,
    /// Why this blocks (or why it does not), in full sentences.
    pub reason: String,
    /// Machine-readable state before and after (`null` when unknown).
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    /// The same for people: e.g. the CAA records, one per line.
    pub before_text: String,
    pub after_text: String,
    /// The exact fix, when there is one.
    pub remedy: Option<String>,
    /// When the condition this alert is about was first seen.
    pub first_seen: DateTime<Utc>,
    /// When the alert was raised.
    pub at: DateTime<Utc>,
    pub damped: Option<Damping>,
    /// The store event that caused it, for `certvigil history`; set by the
    /// daemon when it has one.
    pub event_id: Option<i64>,
}

/// A fresh random alert id (128 bits, hex).
pub fn new_alert_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

impl Alert {
    /// The alert `certvigil alert test` sends: harmless, clearly a test.
    pub fn test(now: DateTime<Utc>) -> Self {
        Self {
            id: new_alert_id(),
            kind: AlertKind::Test,
            domain: "example.com".into(),
            ca: "Example CA".into(),
            check: "test".into(),
            severity: Severity::Info,
            summary: "Test alert: this channel works".into(),
            reason: "Someone ran `certvigil alert test` to check that alerts reach this channel. \
                     Nothing is wrong with any certificate."
                .into(),
            before: serde_json::Value::Null,
            after: serde_json::Value::Null,
            before_text: String::new(),
            after_text: String::new(),
            remedy: None,
            first_seen: now,
            at: now,
            damped: None,
            event_id: None,
        }
    }
}
