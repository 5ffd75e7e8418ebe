//! The targets the config asks about: added, retired and brought back.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{Store, StoreError, Target, TargetKey, rows, to_millis};

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
        let mut seen = HashSet::new();
        let keys: Vec<&TargetKey> = wanted.iter().filter(|k| seen.insert(*k)).collect();
        // A few multi-row statements, not two per target: a daemon with
        // 10,000 domains starts its first cycle without 20,000 round trips.
        let mut ids: HashMap<(String, bool, String), i64> = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(rows::rows_per_statement(4)) {
            let sql = format!(
                "INSERT INTO targets (domain, wildcard, ca, created_at) VALUES {}
                 ON CONFLICT (domain, wildcard, ca) DO UPDATE SET retired_at = NULL
                 RETURNING id, domain, wildcard, ca",
                rows::values(chunk.len(), 4)
            );
            let mut q = sqlx::query_as::<_, (i64, String, i64, String)>(sqlx::AssertSqlSafe(sql));
            for key in chunk {
                q = q
                    .bind(key.domain.as_str())
                    .bind(i64::from(key.wildcard))
                    .bind(&key.ca)
                    .bind(now);
            }
            let returned = q
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::query("adding targets"))?;
            for (id, domain, wildcard, ca) in returned {
                ids.insert((domain, wildcard != 0, ca), id);
            }
        }
        let all: Vec<i64> = ids.values().copied().collect();
        let mut checked = HashSet::with_capacity(all.len());
        for chunk in all.chunks(rows::rows_per_statement(1)) {
            let sql = format!(
                "SELECT target_id FROM check_state WHERE check_kind = 'caa' AND target_id IN ({})",
                rows::params(chunk.len())
            );
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            checked.extend(
                q.fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading the targets' states"))?,
            );
        }
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let id = ids
                .get(&(
                    key.domain.as_str().to_string(),
                    key.wildcard,
                    key.ca.clone(),
                ))
                .copied()
                .ok_or(StoreError::Corrupt {
                    what: "targets",
                    detail: format!("adding {} returned no id", key.domain),
                })?;
            out.push(Target {
                id,
                key: key.clone(),
                never_checked: !checked.contains(&id),
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
