//! Retention: raw runs older than the configured period are folded into
//! per-day counts and deleted. Events and observations are never pruned.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, to_millis};

const MS_PER_DAY: i64 = 86_400_000;

/// What a prune did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PruneReport {
    /// Raw run rows deleted (after being counted into `run_days`).
    pub runs_deleted: u64,
}

impl Store {
    /// Folds every raw run that started before `cutoff` into `run_days`,
    /// then deletes it, in one transaction.
    pub async fn prune_runs(&self, cutoff: DateTime<Utc>) -> Result<PruneReport, StoreError> {
        let cutoff = to_millis(cutoff);
        let mut tx = super::tx::immediate(&self.pool, "the retention prune")
            .await
            .map_err(StoreError::query("starting the retention prune"))?;
        sqlx::query(
            "INSERT INTO run_days (target_id, day, checks, errors, total_ms, max_ms)
             SELECT target_id, started_at / ?2, count(*), sum(outcome = 2), sum(duration_ms), max(duration_ms)
             FROM runs WHERE started_at < ?1
             GROUP BY target_id, started_at / ?2
             ON CONFLICT (target_id, day) DO UPDATE SET
                checks = checks + excluded.checks,
                errors = errors + excluded.errors,
                total_ms = total_ms + excluded.total_ms,
                max_ms = max(max_ms, excluded.max_ms)",
        )
        .bind(cutoff)
        .bind(MS_PER_DAY)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("summarising old runs"))?;
        let deleted = sqlx::query("DELETE FROM runs WHERE started_at < ?")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("deleting old runs"))?
            .rows_affected();
        tx.commit()
            .await
            .map_err(StoreError::query("committing the retention prune"))?;
        Ok(PruneReport {
            runs_deleted: deleted,
        })
    }

    /// Total checks per target ever made, raw runs plus pruned days.
    pub async fn total_checks(&self, target_id: i64) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM runs WHERE target_id = ?1)
                  + (SELECT coalesce(sum(checks), 0) FROM run_days WHERE target_id = ?1)",
        )
        .bind(target_id)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("counting checks"))?;
        Ok(n)
    }
}
