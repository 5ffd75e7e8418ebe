//! Retention: raw runs older than the configured period are folded into
//! per-day counts and deleted, and so are finished outbox rows. Events and
//! observations are never pruned.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, to_millis};

const MS_PER_DAY: i64 = 86_400_000;

/// What a prune did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PruneReport {
    /// Raw run rows deleted (after being counted into `run_days`).
    pub runs_deleted: u64,
    /// Delivered or failed outbox rows deleted.
    pub outbox_deleted: u64,
}

impl Store {
    /// Folds every raw run that started before `cutoff` into `run_days`,
    /// then deletes it, and deletes outbox rows finished before `cutoff`,
    /// in one transaction.
    pub async fn prune_runs(&self, cutoff: DateTime<Utc>) -> Result<PruneReport, StoreError> {
        let mut rec = self.recorder(Utc::now()).await?;
        let tx = rec.conn();
        let cutoff = to_millis(cutoff);
        sqlx::query(
            "INSERT INTO run_days (target_id, day, checks, errors, total_ms, max_ms)
             SELECT target_id, started_at / $2, count(*), CAST(sum(CASE WHEN outcome = 2 THEN 1 ELSE 0 END) AS BIGINT),
                    CAST(sum(duration_ms) AS BIGINT), max(duration_ms)
             FROM runs WHERE started_at < $1
             GROUP BY target_id, started_at / $2
             ON CONFLICT (target_id, day) DO UPDATE SET
                checks = run_days.checks + excluded.checks,
                errors = run_days.errors + excluded.errors,
                total_ms = run_days.total_ms + excluded.total_ms,
                max_ms = CASE WHEN run_days.max_ms > excluded.max_ms
                              THEN run_days.max_ms ELSE excluded.max_ms END",
        )
        .bind(cutoff)
        .bind(MS_PER_DAY)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("summarising old runs"))?;
        let deleted = sqlx::query("DELETE FROM runs WHERE started_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("deleting old runs"))?
            .rows_affected();
        // Finished outbox rows (full alert JSON each) go too: what was sent
        // where stays in `events` forever; the rows themselves would make
        // the database grow with time, not with changes.
        let outbox_deleted = sqlx::query(
            "DELETE FROM alert_outbox
             WHERE finished_at IS NOT NULL AND finished_at < $1 AND status IN ('delivered', 'failed')",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("deleting old outbox rows"))?
        .rows_affected();
        rec.commit().await?;
        Ok(PruneReport {
            runs_deleted: deleted,
            outbox_deleted,
        })
    }

    /// Total checks per target ever made, raw runs plus pruned days.
    pub async fn total_checks(&self, target_id: i64) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM runs WHERE target_id = $1)
                  + (SELECT CAST(coalesce(sum(checks), 0) AS BIGINT) FROM run_days WHERE target_id = $1)",
        )
        .bind(target_id)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("counting checks"))?;
        Ok(n)
    }
}
