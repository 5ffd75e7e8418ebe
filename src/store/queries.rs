//! Reading: what `status` and `history` show.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError, TargetKey, from_millis, to_millis};
use crate::checks::caa::CaaVerdict;
use crate::domain::DomainName;
use crate::drift::CaaStatus;
use crate::findings::CheckKind;

/// The current state of one configured target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusRow {
    pub domain: DomainName,
    pub wildcard: bool,
    pub ca: String,
    /// `None` while the target has never been checked.
    pub status: Option<CaaStatus>,
    pub since: Option<DateTime<Utc>>,
    pub last_checked: Option<DateTime<Utc>>,
    pub checks: i64,
    pub consecutive_errors: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// The stored state blocks issuance: a `forbidden` or `error` status,
    /// or an `allowed` one that another authoritative server or a
    /// perspective abroad would refuse (issue 13).
    pub blocks: bool,
}

/// Which events `history` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    pub domain: Option<DomainName>,
    /// With a domain: only the wildcard (`Some(true)`) or only the plain
    /// name (`Some(false)`); `None` for both.
    pub wildcard: Option<bool>,
    pub since: Option<DateTime<Utc>>,
}

/// One state change of any check, with the states before and after it:
/// the timeline is one across checks, ordered by time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub check: CheckKind,
    pub domain: DomainName,
    pub wildcard: bool,
    pub ca: String,
    /// The event's name (`baseline`, `caa_drift`, `reach_change`, ...).
    pub kind: String,
    /// The check's verdict words.
    pub before_status: Option<String>,
    pub after_status: String,
    pub blocks: bool,
    /// The check's verdicts (JSON as the judge wrote it) before and after.
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// For an error: what failed.
    pub detail: Option<String>,
    /// For an order's event (`check` = order): the order as `source/id`;
    /// `domain` is then the order's first name and `ca` the order's CA.
    pub order: Option<String>,
}

impl HistoryEntry {
    pub fn target(&self) -> TargetKey {
        TargetKey {
            domain: self.domain.clone(),
            wildcard: self.wildcard,
            ca: self.ca.clone(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct StatusDbRow {
    domain: String,
    wildcard: i64,
    ca: String,
    status: Option<String>,
    since: Option<i64>,
    last_checked: Option<i64>,
    checks: Option<i64>,
    consecutive_errors: Option<i64>,
    last_error: Option<String>,
    last_error_at: Option<i64>,
    blocks: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct HistoryDbRow {
    id: i64,
    at: i64,
    domain: String,
    wildcard: i64,
    ca: String,
    kind: String,
    before_status: Option<String>,
    after_status: String,
    blocks: i64,
    detail: Option<String>,
    before_json: Option<String>,
    after_json: Option<String>,
    check_kind: String,
    order_key: Option<String>,
}

fn domain(s: &str) -> Result<DomainName, StoreError> {
    DomainName::from_ascii(s).map_err(|e| StoreError::Corrupt {
        what: "targets.domain",
        detail: e.to_string(),
    })
}

fn status(s: &str) -> Result<CaaStatus, StoreError> {
    CaaStatus::parse(s).ok_or_else(|| StoreError::Corrupt {
        what: "a status",
        detail: s.to_string(),
    })
}

fn verdict<T: serde::de::DeserializeOwned>(json: Option<&str>) -> Result<Option<T>, StoreError> {
    json.map(|j| {
        serde_json::from_str(j).map_err(|e| StoreError::Corrupt {
            what: "observations.verdict_json",
            detail: e.to_string(),
        })
    })
    .transpose()
}

/// The CAA verdict of a history entry's state, for diffs.
impl HistoryEntry {
    pub fn caa_states(&self) -> (Option<CaaVerdict>, Option<CaaVerdict>) {
        if self.check != CheckKind::Caa {
            return (None, None);
        }
        let parse = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .and_then(|v| serde_json::from_value(v.clone()).ok())
        };
        (parse(&self.before), parse(&self.after))
    }
}

impl Store {
    /// Every configured (not retired) target, ordered by name, wildcard, CA.
    pub async fn status(&self) -> Result<Vec<StatusRow>, StoreError> {
        let rows: Vec<StatusDbRow> = sqlx::query_as(
            "SELECT t.domain, t.wildcard, t.ca, s.status, s.since, s.last_checked, s.checks,
                    s.consecutive_errors, s.last_error, s.last_error_at, s.blocks
             FROM targets t
             LEFT JOIN check_state s ON s.target_id = t.id AND s.check_kind = 'caa'
             WHERE t.retired_at IS NULL
             ORDER BY t.domain, t.wildcard, t.ca",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("reading the status"))?;
        rows.into_iter()
            .map(|r| {
                Ok(StatusRow {
                    domain: domain(&r.domain)?,
                    wildcard: r.wildcard != 0,
                    ca: r.ca,
                    blocks: r.blocks.is_some_and(|b| b != 0),
                    status: r.status.as_deref().map(status).transpose()?,
                    since: r.since.map(from_millis).transpose()?,
                    last_checked: r.last_checked.map(from_millis).transpose()?,
                    checks: r.checks.unwrap_or(0),
                    consecutive_errors: r.consecutive_errors.unwrap_or(0),
                    last_error: r.last_error,
                    last_error_at: r.last_error_at.map(from_millis).transpose()?,
                })
            })
            .collect()
    }

    /// State changes of every check, oldest first, including those of
    /// retired targets.
    pub async fn history(&self, filter: &HistoryFilter) -> Result<Vec<HistoryEntry>, StoreError> {
        // An event is about a target or (migration 0042) an order; an
        // order's is shown under its first name, and a domain filter
        // matches an order holding that name (or its wildcard). The order's
        // names are a JSON array: read with each backend's JSON functions.
        let sql = match self.backend {
            super::Backend::Sqlite => HISTORY_SQLITE,
            super::Backend::Postgres => HISTORY_POSTGRES,
        };
        let rows: Vec<HistoryDbRow> = sqlx::query_as(sql)
            .bind(filter.domain.as_ref().map(DomainName::as_str))
            .bind(filter.wildcard.map(i64::from))
            .bind(filter.since.map_or(i64::MIN, to_millis))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("reading the history"))?;
        rows.into_iter()
            .map(|r| {
                Ok(HistoryEntry {
                    id: r.id,
                    at: from_millis(r.at)?,
                    domain: domain(&r.domain)?,
                    wildcard: r.wildcard != 0,
                    ca: r.ca,
                    check: CheckKind::parse(&r.check_kind).ok_or_else(|| StoreError::Corrupt {
                        what: "events.check_kind",
                        detail: r.check_kind.clone(),
                    })?,
                    kind: r.kind,
                    before_status: r.before_status,
                    after_status: r.after_status,
                    blocks: r.blocks != 0,
                    before: verdict(r.before_json.as_deref())?,
                    after: verdict(r.after_json.as_deref())?,
                    detail: r.detail,
                    order: r.order_key,
                })
            })
            .collect()
    }

    /// How many raw runs are stored (all targets).
    pub async fn run_count(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM runs")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("counting runs"))?;
        Ok(n)
    }
}

const HISTORY_SQLITE: &str =
    "SELECT e.id, e.at, e.kind, e.before_status, e.after_status, e.blocks, e.detail,
        e.check_kind, bo.verdict_json AS before_json, ao.verdict_json AS after_json,
        coalesce(t.domain, ltrim(json_extract(o.names, '$[0]'), '*.')) AS domain,
        coalesce(t.wildcard, json_extract(o.names, '$[0]') LIKE '*.%') AS wildcard,
        coalesce(t.ca, o.ca) AS ca,
        o.source || '/' || o.external_id AS order_key
 FROM events e
 LEFT JOIN targets t ON t.id = e.target_id
 LEFT JOIN orders o ON o.id = e.order_id
 LEFT JOIN observations bo ON bo.id = e.before_observation
 LEFT JOIN observations ao ON ao.id = e.after_observation
 WHERE ($1 IS NULL OR t.domain = $1
        OR EXISTS (SELECT 1 FROM json_each(o.names) n
                    WHERE n.value IN ($1, '*.' || $1)
                      AND ($2 IS NULL OR (n.value LIKE '*.%') = $2)))
   AND ($2 IS NULL OR e.order_id IS NOT NULL OR t.wildcard = $2)
   AND e.at >= $3
 ORDER BY e.at, e.id";

const HISTORY_POSTGRES: &str = "SELECT e.id, e.at, e.kind, e.before_status, e.after_status, e.blocks, e.detail,
        e.check_kind, bo.verdict_json AS before_json, ao.verdict_json AS after_json,
        coalesce(t.domain, ltrim(o.names::json->>0, '*.')) AS domain,
        coalesce(t.wildcard, CASE WHEN (o.names::json->>0) LIKE '*.%' THEN 1 ELSE 0 END) AS wildcard,
        coalesce(t.ca, o.ca) AS ca,
        o.source || '/' || o.external_id AS order_key
 FROM events e
 LEFT JOIN targets t ON t.id = e.target_id
 LEFT JOIN orders o ON o.id = e.order_id
 LEFT JOIN observations bo ON bo.id = e.before_observation
 LEFT JOIN observations ao ON ao.id = e.after_observation
 WHERE ($1::text IS NULL OR t.domain = $1
        OR EXISTS (SELECT 1 FROM json_array_elements_text(o.names::json) n(value)
                    WHERE n.value IN ($1, '*.' || $1)
                      AND ($2::bigint IS NULL
                           OR (CASE WHEN n.value LIKE '*.%' THEN 1 ELSE 0 END) = $2)))
   AND ($2::bigint IS NULL OR e.order_id IS NOT NULL OR t.wildcard = $2)
   AND e.at >= $3
 ORDER BY e.at, e.id";
