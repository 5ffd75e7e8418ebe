//! The orders part of `certvigil status` (and of the web interface's
//! `/api/status`): every order with its active conditions, and how each
//! source's last poll went. One model for both renderings.

use super::record::{self, ActiveCondition, SourcePoll, StoredOrder};

use certvigil_core::millis::rfc3339 as time;

#[derive(Debug, Default)]
pub struct OrdersStatus {
    pub orders: Vec<(StoredOrder, Vec<ActiveCondition>)>,
    pub sources: Vec<SourcePoll>,
}

impl OrdersStatus {
    pub async fn read(pool: &sqlx::AnyPool) -> Result<OrdersStatus, record::RecordError> {
        let mut orders = Vec::new();
        for o in record::list_orders(pool).await? {
            let mut conn = pool
                .acquire()
                .await
                .map_err(|source| record::RecordError::Query {
                    what: "reading conditions",
                    source,
                })?;
            let conditions = record::active_conditions(&mut conn, o.id).await?;
            orders.push((o, conditions));
        }
        let sources = record::source_polls(pool).await?;
        Ok(OrdersStatus { orders, sources })
    }

    /// Whether a pending order holds a blocking condition (`order_blocked`,
    /// an urgent deadline): the order cannot issue as things stand.
    pub fn blocks(&self) -> bool {
        self.orders
            .iter()
            .any(|(o, c)| o.phase.is_pending() && c.iter().any(|c| c.severity == "blocking"))
    }

    /// One JSON line per source (`"source"`) and per order (`"order"`),
    /// after the targets' lines (which carry `"domain"`).
    pub fn render_json(&self) -> String {
        let mut out = String::new();
        for s in &self.sources {
            let line = serde_json::json!({
                "source": s.source,
                "last_polled": time(s.last_polled),
                "last_ok": s.last_ok.map(time),
                "last_error": s.last_error,
                "last_error_at": s.last_error_at.map(time),
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        for (o, conditions) in &self.orders {
            let line = serde_json::json!({
                "order": o.key.to_string(),
                "name": o.display_name,
                "ca": o.ca,
                "names": o.names,
                "status": o.status_code,
                "status_label": o.status_label,
                "pending": o.phase.is_pending(),
                "since": time(o.status_since),
                "last_polled": time(o.last_polled),
                "last_error": o.last_error,
                "conditions": conditions.iter().map(condition_json).collect::<Vec<_>>(),
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        out
    }
}

pub fn condition_json(c: &ActiveCondition) -> serde_json::Value {
    serde_json::json!({
        "kind": c.kind.as_str(),
        "severity": c.severity,
        "since": time(c.since),
        "summary": c.summary,
    })
}
