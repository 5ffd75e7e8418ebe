//! What `certvigil status` shows, read from the store once: the targets
//! (with reach and risk), the latest reports, the orders, and the alerts not
//! delivered yet or given up on. `status` (text and JSON) and `/api/status`
//! render this one model, so the JSON carries everything the text shows.

use std::collections::BTreeMap;

use serde_json::json;

use super::json::{render_json_full, time};
use crate::alert::outbox::{self, OutboxEntry};
use crate::checks::risk::RiskAssessment;
use crate::orders::status::OrdersStatus;
use crate::store::{InstanceRow, ReachStatusRow, StatusRow, Store, StoreError, StoredReport};
use chrono::Utc;

/// How many undelivered and failed alerts `status` lists at most (each).
pub const ALERTS_SHOWN: i64 = 20;

pub struct StatusModel {
    pub rows: Vec<StatusRow>,
    pub reach: Vec<ReachStatusRow>,
    pub reports: Vec<StoredReport>,
    /// An orders table that cannot be read is shown as an error, not
    /// fatal: the targets' state is still worth printing.
    pub orders: Result<OrdersStatus, String>,
    /// Waiting or being retried, newest first.
    pub undelivered: Vec<OutboxEntry>,
    /// Given up on, newest first.
    pub failed: Vec<OutboxEntry>,
    /// The daemons sharing a PostgreSQL database (empty on SQLite).
    pub instances: Vec<InstanceRow>,
}

impl StatusModel {
    pub async fn read(store: &Store) -> Result<StatusModel, StoreError> {
        let rows = store.status().await?;
        let reach = store.reach_status().await?;
        let reports = store.reports().await?;
        let undelivered = outbox::undelivered(store.pool(), ALERTS_SHOWN).await?;
        let failed = outbox::failed(store.pool(), ALERTS_SHOWN).await?;
        let orders = OrdersStatus::read(store.pool())
            .await
            .map_err(|e| e.to_string());
        let instances = store.instances(Utc::now()).await?;
        Ok(StatusModel {
            rows,
            reach,
            reports,
            orders,
            undelivered,
            failed,
            instances,
        })
    }

    /// JSON Lines: one line per target, then per order source and order,
    /// then per undelivered alert and per failed alert
    /// (`docs/contracts.md`).
    pub fn render_json(&self, risks: &BTreeMap<String, RiskAssessment>) -> String {
        let mut out = render_json_full(&self.rows, &self.reach, risks, &self.reports);
        out.push_str(&self.render_json_tail());
        out
    }

    /// The lines after the targets' (orders and alerts): `/api/status`
    /// filtered by target leaves them out.
    pub fn render_json_tail(&self) -> String {
        let mut out = self
            .orders
            .as_ref()
            .map(OrdersStatus::render_json)
            .unwrap_or_default();
        for e in &self.undelivered {
            out.push_str(&alert_json(e, "undelivered").to_string());
            out.push('\n');
        }
        for e in &self.failed {
            out.push_str(&alert_json(e, "failed").to_string());
            out.push('\n');
        }
        out.push_str(&render_instances_json(&self.instances, Utc::now()));
        out
    }
}

/// One alert line: `delivery` is `undelivered` (waiting, `next_attempt_at`
/// set) or `failed` (given up, `next_attempt_at` null).
pub fn alert_json(e: &OutboxEntry, delivery: &str) -> serde_json::Value {
    json!({
        "alert": e.id,
        "delivery": delivery,
        "event": e.kind,
        "domain": e.domain,
        "channel": e.channel.as_str(),
        "severity": e.severity,
        "summary": e.summary,
        "attempts": e.attempts,
        "created_at": time(e.created_at),
        "next_attempt_at": (delivery == "undelivered").then(|| time(e.next_attempt_at)),
        "last_error": e.last_error,
    })
}

/// The daemons sharing a PostgreSQL database: when each was last seen,
/// how many domains it holds a lease on. Empty for SQLite (one daemon).
pub fn render_instances_text(instances: &[InstanceRow], now: chrono::DateTime<Utc>) -> String {
    if instances.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "
instances (sharing this database):
",
    );
    for i in instances {
        let state = match i.stopped_at {
            Some(at) => format!("stopped {}", time(at)),
            None => format!(
                "last seen {} ({}s ago), {} leases",
                time(i.last_seen),
                (now - i.last_seen).num_seconds().max(0),
                i.leases
            ),
        };
        out.push_str(&format!(
            "  {}  {} pid {}  started {}  {}\n",
            i.id,
            i.host,
            i.pid,
            time(i.started_at),
            state
        ));
    }
    out
}

/// One JSON line `{"instances": [...]}` (nothing for SQLite).
pub fn render_instances_json(instances: &[InstanceRow], now: chrono::DateTime<Utc>) -> String {
    if instances.is_empty() {
        return String::new();
    }
    let list: Vec<serde_json::Value> = instances
        .iter()
        .map(|i| {
            serde_json::json!({
                "id": i.id,
                "host": i.host,
                "pid": i.pid,
                "started_at": time(i.started_at),
                "last_seen": time(i.last_seen),
                "last_seen_seconds_ago": (now - i.last_seen).num_seconds().max(0),
                "stopped_at": i.stopped_at.map(time),
                "leases": i.leases,
            })
        })
        .collect();
    format!("{}\n", serde_json::json!({ "instances": list }))
}
