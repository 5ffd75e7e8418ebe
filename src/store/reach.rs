//! Reachability as `status` shows it: the `reach` rows of `check_state`
//! (recorded like every check, see `super::record`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError, from_millis};
use crate::domain::DomainName;

/// The current reach state of one target, for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReachStatusRow {
    pub domain: DomainName,
    pub wildcard: bool,
    pub ca: String,
    pub verdict: String,
    pub blocks: bool,
    pub reason: String,
    pub since: DateTime<Utc>,
    pub last_checked: DateTime<Utc>,
    pub checks: i64,
}

fn domain(s: &str) -> Result<DomainName, StoreError> {
    DomainName::from_ascii(s).map_err(|e| StoreError::Corrupt {
        what: "targets.domain",
        detail: e.to_string(),
    })
}

impl Store {
    /// The reach state of every configured target that has one.
    pub async fn reach_status(&self) -> Result<Vec<ReachStatusRow>, StoreError> {
        let rows: Vec<StatusDbRow> = sqlx::query_as(match self.backend {
            super::Backend::Sqlite => {
                "SELECT t.domain, t.wildcard, t.ca, r.status AS verdict, r.blocks,
                    json_extract(o.verdict_json, '$.reason') AS reason, r.last_error,
                    r.since, r.last_checked, r.checks
             FROM check_state r JOIN targets t ON t.id = r.target_id
             LEFT JOIN observations o ON o.id = r.observation_id
             WHERE t.retired_at IS NULL AND r.check_kind = 'reach'
             ORDER BY t.domain, t.wildcard, t.ca"
            }
            super::Backend::Postgres => {
                "SELECT t.domain, t.wildcard, t.ca, r.status AS verdict, r.blocks,
                    o.verdict_json::jsonb ->> 'reason' AS reason, r.last_error,
                    r.since, r.last_checked, r.checks
             FROM check_state r JOIN targets t ON t.id = r.target_id
             LEFT JOIN observations o ON o.id = r.observation_id
             WHERE t.retired_at IS NULL AND r.check_kind = 'reach'
             ORDER BY t.domain, t.wildcard, t.ca"
            }
        })
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("reading the reach states"))?;
        rows.into_iter()
            .map(|r| {
                Ok(ReachStatusRow {
                    domain: domain(&r.domain)?,
                    wildcard: r.wildcard != 0,
                    ca: r.ca,
                    verdict: r.verdict.clone(),
                    blocks: r.blocks != 0,
                    // An error keeps the last observed state: its message
                    // is what `status` should say.
                    reason: if r.verdict == "error" {
                        r.last_error.unwrap_or_default()
                    } else {
                        r.reason.unwrap_or_default()
                    },
                    since: from_millis(r.since)?,
                    last_checked: from_millis(r.last_checked)?,
                    checks: r.checks,
                })
            })
            .collect()
    }
}

#[derive(sqlx::FromRow)]
struct StatusDbRow {
    domain: String,
    wildcard: i64,
    ca: String,
    verdict: String,
    blocks: i64,
    reason: Option<String>,
    last_error: Option<String>,
    since: i64,
    last_checked: i64,
    checks: i64,
}
