//! Outcomes per day of a certificate name (all its CAs), for the web
//! interface's chart: the raw runs of the retention period plus the
//! per-day counts older runs were folded into.

use chrono::NaiveDate;

use super::{Store, StoreError};
use crate::domain::DomainName;

/// One day of checks. `blocking` is known only for raw runs (the per-day
/// counts keep checks and errors): older days count it as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutcomeDay {
    pub day: NaiveDate,
    pub checks: i64,
    pub blocking: i64,
    pub errors: i64,
}

const DAY_MS: i64 = 86_400_000;

impl Store {
    /// Checks per day of `domain` (plain or wildcard), oldest first, the
    /// last `days` days that have any.
    pub async fn outcome_days(
        &self,
        domain: &DomainName,
        wildcard: bool,
        days: i64,
    ) -> Result<Vec<OutcomeDay>, StoreError> {
        let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "WITH ids AS (SELECT id FROM targets WHERE domain = $1 AND wildcard = $2)
             SELECT day, CAST(sum(checks) AS BIGINT), CAST(sum(blocking) AS BIGINT),
                    CAST(sum(errors) AS BIGINT) FROM (
                 SELECT day, checks, 0 AS blocking, errors FROM run_days
                 WHERE target_id IN (SELECT id FROM ids)
                 UNION ALL
                 SELECT started_at / $3 AS day, 1, CASE WHEN outcome = 1 THEN 1 ELSE 0 END,
                        CASE WHEN outcome = 2 THEN 1 ELSE 0 END FROM runs
                 WHERE target_id IN (SELECT id FROM ids)
             ) AS d GROUP BY day ORDER BY day DESC LIMIT $4",
        )
        .bind(domain.as_str())
        .bind(i64::from(wildcard))
        .bind(DAY_MS)
        .bind(days)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("reading the outcomes per day"))?;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let mut out: Vec<OutcomeDay> = rows
            .into_iter()
            .map(|(day, checks, blocking, errors)| OutcomeDay {
                day: epoch + chrono::Days::new(u64::try_from(day).unwrap_or(0)),
                checks,
                blocking,
                errors,
            })
            .collect();
        out.reverse();
        Ok(out)
    }
}
