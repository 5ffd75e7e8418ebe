//! Each target's latest `CheckReport` (the `check --format json` object), so
//! `status --format json` shows what the daemon found in the very shape
//! `certvigil check` prints. One row per target, rewritten by every check.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::value::RawValue;

use super::{Recorder, Store, StoreError, TargetKey, rows, to_millis};
use crate::domain::DomainName;
use crate::report::CheckReport;

impl Recorder {
    /// Replaces a target's latest report, in the check's transaction.
    pub async fn save_report(
        &mut self,
        target_id: i64,
        report: &CheckReport,
    ) -> Result<(), StoreError> {
        self.save_reports(&[(target_id, report)]).await
    }

    /// Replaces the targets' latest reports, in one statement. A report
    /// equal to the stored one is not rewritten (an unchanged check writes
    /// no report bytes); when it was last checked comes from the check's
    /// state ([`Store::reports`]).
    pub async fn save_reports(
        &mut self,
        reports: &[(i64, &CheckReport)],
    ) -> Result<(), StoreError> {
        let now = to_millis(self.now());
        for chunk in reports.chunks(rows::rows_per_statement(3)) {
            let sql = format!(
                "INSERT INTO target_reports (target_id, report_json, checked_at) VALUES {}
                 ON CONFLICT (target_id) DO UPDATE
                 SET report_json = excluded.report_json, checked_at = excluded.checked_at
                 WHERE target_reports.report_json <> excluded.report_json",
                rows::values(chunk.len(), 3)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (target_id, report) in chunk {
                let json = serde_json::to_string(report).map_err(|e| StoreError::Corrupt {
                    what: "a check report",
                    detail: e.to_string(),
                })?;
                q = q.bind(*target_id).bind(json).bind(now);
            }
            q.execute(self.conn())
                .await
                .map_err(StoreError::query("saving reports"))?;
        }
        Ok(())
    }
}

/// A target's latest report as stored: the JSON text exactly as the daemon
/// serialized it (kept raw so a reader prints the same bytes).
#[derive(Debug, Clone)]
pub struct StoredReport {
    pub key: TargetKey,
    pub report: Box<RawValue>,
    pub checked_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ReportRow {
    domain: String,
    wildcard: i64,
    ca: String,
    report_json: String,
    checked_at: i64,
}

impl Store {
    /// The latest report of every configured (not retired) target that has
    /// one, ordered by name, wildcard, CA.
    pub async fn reports(&self) -> Result<Vec<StoredReport>, StoreError> {
        let rows: Vec<ReportRow> = sqlx::query_as(
            // An unchanged report is not rewritten: the CAA state says when
            // the target was last checked.
            "SELECT t.domain, t.wildcard, t.ca, r.report_json,
                    CASE WHEN s.last_checked > r.checked_at THEN s.last_checked
                         ELSE r.checked_at END AS checked_at
             FROM target_reports r JOIN targets t ON t.id = r.target_id
             LEFT JOIN check_state s ON s.target_id = r.target_id AND s.check_kind = 'caa'
             WHERE t.retired_at IS NULL
             ORDER BY t.domain, t.wildcard, t.ca",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("reading the reports"))?;
        rows.into_iter()
            .map(|r| {
                let corrupt = |what, detail: String| StoreError::Corrupt { what, detail };
                Ok(StoredReport {
                    key: TargetKey {
                        domain: DomainName::from_ascii(&r.domain)
                            .map_err(|e| corrupt("targets.domain", e.to_string()))?,
                        wildcard: r.wildcard != 0,
                        ca: r.ca,
                    },
                    report: RawValue::from_string(r.report_json)
                        .map_err(|e| corrupt("target_reports.report_json", e.to_string()))?,
                    // A value no clock can give is corruption, not 1970.
                    checked_at: Utc.timestamp_millis_opt(r.checked_at).single().ok_or_else(
                        || corrupt("target_reports.checked_at", r.checked_at.to_string()),
                    )?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::CaChoice;
    use crate::checks::caa::{CaaVerdict, CaaVerdictKind};
    use crate::domain::CertName;

    fn report(name: &CertName, verdict: CaaVerdictKind, reason: &str) -> CheckReport {
        let ca = CaChoice {
            name: "letsencrypt".into(),
            display: String::new(),
            issuer_domains: vec![DomainName::parse("letsencrypt.org").unwrap()],
            scanner_ips: Vec::new(),
        };
        let verdict = CaaVerdict {
            verdict,
            relevant_name: None,
            records: Vec::new(),
            cname_chain: Vec::new(),
            reason: reason.into(),
            remedy: None,
            lookup_error: None,
            legacy_rfc6844: None,
            views: Vec::new(),
            dnssec: Vec::new(),
        };
        CheckReport::new(name, &ca, &verdict, Vec::new())
    }

    #[tokio::test]
    async fn the_latest_report_replaces_the_previous_one_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.db")).await.unwrap();
        let name = CertName::parse("example.com").unwrap();
        let key = TargetKey {
            domain: name.base().clone(),
            wildcard: false,
            ca: "letsencrypt".into(),
        };
        let targets = store
            .sync_targets(std::slice::from_ref(&key), Utc::now())
            .await
            .unwrap();
        let id = targets[0].id;
        assert!(store.reports().await.unwrap().is_empty());

        let first = report(&name, CaaVerdictKind::Allowed, "allowed");
        let t1 = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
        let save = |report: CheckReport, at| {
            let store = store.clone();
            async move {
                let mut rec = store.recorder(at).await.unwrap();
                rec.save_report(id, &report).await.unwrap();
                rec.commit().await.unwrap();
            }
        };
        save(first, t1).await;
        let second = report(&name, CaaVerdictKind::Forbidden, "now forbidden");
        let t2 = Utc.timestamp_millis_opt(1_700_000_060_000).unwrap();
        save(second.clone(), t2).await;

        let stored = store.reports().await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].key, key);
        assert_eq!(stored[0].checked_at, t2);
        assert_eq!(
            stored[0].report.get(),
            serde_json::to_string(&second).unwrap()
        );
        store.close().await;
    }
}
