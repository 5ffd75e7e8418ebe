//! Reachability state (`reach_state`, `reach_events`): one row per target
//! whose validation method is file or http-01, rewritten on every check; a
//! change of the verdict's fingerprint is an event. The alert policy runs in
//! the same transaction, as for CAA (see `super::alerting`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError, from_millis, to_millis};
use crate::alert::policy::{self, PolicyConfig, Subject, TrackMemory};
use crate::alert::{Alert, ChannelId, outbox};
use crate::checks::reach::{ReachVerdict, ReachVerdictKind};
use crate::domain::DomainName;

/// One target's reach verdict, ready to be recorded.
#[derive(Debug, Clone)]
pub struct ReachCheck {
    pub target_id: i64,
    /// The certificate name for display (Unicode).
    pub domain: String,
    /// The CA's display name.
    pub ca: String,
    pub verdict: ReachVerdict,
}

/// How reach checks raise alerts.
#[derive(Debug, Clone, Copy)]
pub struct ReachAlerting<'a> {
    pub policy: &'a PolicyConfig,
    pub channels: &'a [ChannelId],
}

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

/// One reach state change, for `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReachEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub domain: DomainName,
    pub wildcard: bool,
    pub ca: String,
    pub before_verdict: Option<String>,
    pub after_verdict: String,
    pub blocks: bool,
    pub reason: String,
}

#[derive(sqlx::FromRow)]
struct Prior {
    verdict: String,
    fingerprint: String,
    alert_memory: Option<String>,
}

fn corrupt(what: &'static str) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    }
}

fn domain(s: &str) -> Result<DomainName, StoreError> {
    DomainName::from_ascii(s).map_err(|e| StoreError::Corrupt {
        what: "targets.domain",
        detail: e.to_string(),
    })
}

impl Store {
    /// Records the reach verdicts of one name's targets in one transaction:
    /// the state, an event when the fingerprint changed, the policy's memory
    /// and, with channels, its alerts in the outbox. Returns the alerts.
    pub async fn record_reach(
        &self,
        checks: &[ReachCheck],
        alerting: &ReachAlerting<'_>,
    ) -> Result<Vec<Alert>, StoreError> {
        let now = Utc::now();
        let now_ms = to_millis(now);
        let mut tx = super::tx::immediate(&self.pool, "recording a reach check")
            .await
            .map_err(StoreError::query("starting to record a reach check"))?;
        let mut alerts = Vec::new();
        for check in checks {
            let v = &check.verdict;
            let fingerprint = v.fingerprint();
            let json = serde_json::to_string(v).map_err(corrupt("a reach verdict"))?;
            let is_error = v.verdict == ReachVerdictKind::Error;
            let prior: Option<Prior> = sqlx::query_as(
                "SELECT verdict, fingerprint, alert_memory FROM reach_state WHERE target_id = ?",
            )
            .bind(check.target_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::query("reading a target's reach state"))?;
            match &prior {
                None => {
                    sqlx::query(
                        "INSERT INTO reach_state (target_id, verdict, fingerprint, blocks, reason,
                             verdict_json, since, last_checked, checks, consecutive_errors)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                    )
                    .bind(check.target_id)
                    .bind(v.verdict.as_str())
                    .bind(&fingerprint)
                    .bind(v.blocks_issuance())
                    .bind(&v.reason)
                    .bind(&json)
                    .bind(now_ms)
                    .bind(now_ms)
                    .bind(i64::from(is_error))
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("creating a target's reach state"))?;
                }
                Some(_) => {
                    sqlx::query(
                        "UPDATE reach_state SET
                            verdict = ?1, blocks = ?2, reason = ?3, verdict_json = ?4,
                            since = CASE WHEN fingerprint = ?5 THEN since ELSE ?6 END,
                            fingerprint = ?5, last_checked = ?6, checks = checks + 1,
                            consecutive_errors = CASE WHEN ?7 THEN consecutive_errors + 1 ELSE 0 END
                         WHERE target_id = ?8",
                    )
                    .bind(v.verdict.as_str())
                    .bind(v.blocks_issuance())
                    .bind(&v.reason)
                    .bind(&json)
                    .bind(&fingerprint)
                    .bind(now_ms)
                    .bind(is_error)
                    .bind(check.target_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("updating a target's reach state"))?;
                }
            }
            if prior.as_ref().map(|p| &p.fingerprint) != Some(&fingerprint) {
                sqlx::query(
                    "INSERT INTO reach_events (target_id, at, before_verdict, after_verdict,
                                               blocks, reason, verdict_json)
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(check.target_id)
                .bind(now_ms)
                .bind(prior.as_ref().map(|p| p.verdict.as_str()))
                .bind(v.verdict.as_str())
                .bind(v.blocks_issuance())
                .bind(&v.reason)
                .bind(&json)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("recording a reach event"))?;
            }

            let memory: TrackMemory = match prior.as_ref().and_then(|p| p.alert_memory.as_ref()) {
                Some(json) => {
                    serde_json::from_str(json).map_err(corrupt("reach_state.alert_memory"))?
                }
                None => TrackMemory::default(),
            };
            let observation = crate::alert::reach::observation(v, &check.domain, &check.ca);
            let subject = Subject {
                domain: check.domain.clone(),
                ca: check.ca.clone(),
                check: "reach".into(),
            };
            let decision = policy::decide(&memory, &observation, &subject, alerting.policy, now);
            if decision.memory != memory {
                let json =
                    serde_json::to_string(&decision.memory).map_err(corrupt("alert memory"))?;
                sqlx::query("UPDATE reach_state SET alert_memory = ? WHERE target_id = ?")
                    .bind(json)
                    .bind(check.target_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("storing a target's alert memory"))?;
            }
            // Reach events live in their own table, and `Alert::event_id`
            // points at `events`: reach alerts carry none.
            for alert in decision.alerts {
                if !alerting.channels.is_empty() {
                    outbox::enqueue(&mut tx, &alert, alerting.channels).await?;
                }
                alerts.push(alert);
            }
        }
        tx.commit()
            .await
            .map_err(StoreError::query("committing a reach check"))?;
        Ok(alerts)
    }

    /// The reach state of every configured target that has one.
    pub async fn reach_status(&self) -> Result<Vec<ReachStatusRow>, StoreError> {
        let rows: Vec<StatusDbRow> = sqlx::query_as(
            "SELECT t.domain, t.wildcard, t.ca, r.verdict, r.blocks, r.reason, r.since,
                    r.last_checked, r.checks
             FROM reach_state r JOIN targets t ON t.id = r.target_id
             WHERE t.retired_at IS NULL
             ORDER BY t.domain, t.wildcard, t.ca",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("reading the reach states"))?;
        rows.into_iter()
            .map(|r| {
                Ok(ReachStatusRow {
                    domain: domain(&r.domain)?,
                    wildcard: r.wildcard,
                    ca: r.ca,
                    verdict: r.verdict,
                    blocks: r.blocks,
                    reason: r.reason,
                    since: from_millis(r.since),
                    last_checked: from_millis(r.last_checked),
                    checks: r.checks,
                })
            })
            .collect()
    }

    /// Reach state changes, oldest first, optionally of one name.
    pub async fn reach_history(
        &self,
        of: Option<&DomainName>,
    ) -> Result<Vec<ReachEvent>, StoreError> {
        let rows: Vec<EventDbRow> = sqlx::query_as(
            "SELECT e.id, e.at, t.domain, t.wildcard, t.ca, e.before_verdict,
                    e.after_verdict, e.blocks, e.reason
             FROM reach_events e JOIN targets t ON t.id = e.target_id
             WHERE ?1 IS NULL OR t.domain = ?1
             ORDER BY e.at, e.id",
        )
        .bind(of.map(DomainName::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("reading the reach history"))?;
        rows.into_iter()
            .map(|r| {
                Ok(ReachEvent {
                    id: r.id,
                    at: from_millis(r.at),
                    domain: domain(&r.domain)?,
                    wildcard: r.wildcard,
                    ca: r.ca,
                    before_verdict: r.before_verdict,
                    after_verdict: r.after_verdict,
                    blocks: r.blocks,
                    reason: r.reason,
                })
            })
            .collect()
    }
}

#[derive(sqlx::FromRow)]
struct StatusDbRow {
    domain: String,
    wildcard: bool,
    ca: String,
    verdict: String,
    blocks: bool,
    reason: String,
    since: i64,
    last_checked: i64,
    checks: i64,
}

#[derive(sqlx::FromRow)]
struct EventDbRow {
    id: i64,
    at: i64,
    domain: String,
    wildcard: bool,
    ca: String,
    before_verdict: Option<String>,
    after_verdict: String,
    blocks: bool,
    reason: String,
}
