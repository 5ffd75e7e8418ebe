//! The targets the config asks about: added, retired and brought back.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{Store, StoreError, Target, TargetKey, to_millis};

impl Store {
    /// Makes the stored targets match the configuration: new ones are
    /// added, ones that were retired come back with their history, and
    /// ones no longer configured are retired (kept, not deleted).
    pub async fn sync_targets(
        &self,
        wanted: &[TargetKey],
        now: DateTime<Utc>,
    ) -> Result<Vec<Target>, StoreError> {
        let mut rec = self.recorder(now).await?;
        let tx = rec.conn();
        let now = to_millis(now);
        let mut out = Vec::with_capacity(wanted.len());
        let mut seen = HashSet::new();
        for key in wanted {
            if !seen.insert(key) {
                continue;
            }
            sqlx::query(
                "INSERT INTO targets (domain, wildcard, ca, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (domain, wildcard, ca) DO UPDATE SET retired_at = NULL",
            )
            .bind(key.domain.as_str())
            .bind(i64::from(key.wildcard))
            .bind(&key.ca)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("adding a target"))?;
            let (id, never_checked): (i64, i64) = sqlx::query_as(
                "SELECT t.id, CASE WHEN s.target_id IS NULL THEN 1 ELSE 0 END FROM targets t
                 LEFT JOIN check_state s ON s.target_id = t.id AND s.check_kind = 'caa'
                 WHERE t.domain = $1 AND t.wildcard = $2 AND t.ca = $3",
            )
            .bind(key.domain.as_str())
            .bind(i64::from(key.wildcard))
            .bind(&key.ca)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::query("reading a target"))?;
            out.push(Target {
                id,
                key: key.clone(),
                never_checked: never_checked != 0,
            });
        }
        // Retire what is no longer wanted. The id list is built from
        // integers, so formatting it into the statement is safe.
        let keep = out
            .iter()
            .map(|t| t.id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let retire = format!(
            "UPDATE targets SET retired_at = $1 WHERE retired_at IS NULL AND id NOT IN ({keep})"
        );
        sqlx::query(sqlx::AssertSqlSafe(retire))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("retiring targets"))?;
        rec.commit().await?;
        Ok(out)
    }
}
