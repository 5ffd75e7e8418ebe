//! Writing: the targets the config asks about, and the result of each check
//! (state, raw run, events) in one transaction.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::alerting::{CaaAlerting, enqueue_caa_alerts};
use super::{Store, StoreError, Target, TargetKey, to_millis};
use crate::checks::caa::CaaVerdict;
use crate::domain::DomainName;
use crate::drift::{CaaStatus, CheckResult, EventKind, Fingerprint, PriorState, classify};

/// The result of checking one target, ready to be recorded.
#[derive(Debug, Clone)]
pub struct TargetCheck {
    pub target_id: i64,
    pub result: CheckResult,
}

/// A state-change event about to be written, with everything an alert needs
/// (the alert engine enqueues from this inside the same transaction).
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub target_id: i64,
    pub target: &'a TargetKey,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    pub before_status: Option<CaaStatus>,
    pub after_status: CaaStatus,
    /// The last observed state before the change, if there was one.
    pub before: Option<&'a CaaVerdict>,
    pub before_observation: Option<i64>,
    /// The state observed now; `None` for a lookup error.
    pub after: Option<&'a CaaVerdict>,
    pub after_observation: Option<i64>,
    /// Whether the configured CA would now refuse (forbidden or error).
    pub blocks: bool,
    /// For a lookup error: what failed.
    pub detail: Option<&'a str>,
}

/// An event as written, returned so the daemon can log it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub id: i64,
    pub target: TargetKey,
    pub kind: EventKind,
    pub before_status: Option<CaaStatus>,
    pub after_status: CaaStatus,
    pub blocks: bool,
}

/// What recording one domain's checks wrote.
#[derive(Debug, Clone, Default)]
pub struct RecordedChecks {
    pub events: Vec<RecordedEvent>,
    /// The alerts enqueued in the same transaction (empty without alerting).
    pub alerts: Vec<crate::alert::Alert>,
}

/// Writes one event. Alerts join the same transaction after the events of a
/// domain's check are written (see `super::alerting`).
pub async fn record_event(
    tx: &mut SqliteConnection,
    event: &NewEvent<'_>,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO events (target_id, at, kind, before_status, after_status,
                             before_observation, after_observation, blocks, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(event.target_id)
    .bind(to_millis(event.at))
    .bind(event.kind.as_str())
    .bind(event.before_status.map(CaaStatus::as_str))
    .bind(event.after_status.as_str())
    .bind(event.before_observation)
    .bind(event.after_observation)
    .bind(event.blocks)
    .bind(event.detail)
    .fetch_one(&mut *tx)
    .await
    .map_err(StoreError::query("recording an event"))?;
    Ok(id)
}

#[derive(sqlx::FromRow)]
struct PriorRow {
    domain: String,
    wildcard: bool,
    ca: String,
    status: Option<String>,
    observation_id: Option<i64>,
    fingerprint: Option<Vec<u8>>,
    verdict_json: Option<String>,
}

impl Store {
    /// Makes the stored targets match the configuration: new ones are
    /// added, ones that were retired come back with their history, and
    /// ones no longer configured are retired (kept, not deleted).
    pub async fn sync_targets(&self, wanted: &[TargetKey]) -> Result<Vec<Target>, StoreError> {
        let now = to_millis(Utc::now());
        let mut tx = super::tx::immediate(&self.pool, "the target update")
            .await
            .map_err(StoreError::query("starting the target update"))?;
        let mut out = Vec::with_capacity(wanted.len());
        let mut seen = HashSet::new();
        for key in wanted {
            if !seen.insert(key) {
                continue;
            }
            sqlx::query(
                "INSERT INTO targets (domain, wildcard, ca, created_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (domain, wildcard, ca) DO UPDATE SET retired_at = NULL",
            )
            .bind(key.domain.as_str())
            .bind(key.wildcard)
            .bind(&key.ca)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("adding a target"))?;
            let (id, never_checked): (i64, bool) = sqlx::query_as(
                "SELECT t.id, s.target_id IS NULL FROM targets t
                 LEFT JOIN caa_state s ON s.target_id = t.id
                 WHERE t.domain = ? AND t.wildcard = ? AND t.ca = ?",
            )
            .bind(key.domain.as_str())
            .bind(key.wildcard)
            .bind(&key.ca)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::query("reading a target"))?;
            out.push(Target {
                id,
                key: key.clone(),
                never_checked,
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
            "UPDATE targets SET retired_at = ? WHERE retired_at IS NULL AND id NOT IN ({keep})"
        );
        sqlx::query(sqlx::AssertSqlSafe(retire))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("retiring targets"))?;
        tx.commit()
            .await
            .map_err(StoreError::query("committing the target update"))?;
        Ok(out)
    }

    /// Records the checks of one domain's targets, all started at
    /// `started_at` and taking `duration`, in one transaction: per target,
    /// the state is updated in place, a raw run row is added, and, if the
    /// state changed (see [`classify`]), the new observation and an event.
    pub async fn record_checks(
        &self,
        started_at: DateTime<Utc>,
        duration: Duration,
        checks: &[TargetCheck],
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.record_checks_alerting(started_at, duration, checks, None)
            .await
            .map(|r| r.events)
    }

    /// [`Store::record_checks`], and with `alerting`, the alert policy's
    /// memory and the alerts it raises, in the same transaction.
    pub async fn record_checks_alerting(
        &self,
        started_at: DateTime<Utc>,
        duration: Duration,
        checks: &[TargetCheck],
        alerting: Option<&CaaAlerting<'_>>,
    ) -> Result<RecordedChecks, StoreError> {
        let now = Utc::now();
        let now_ms = to_millis(now);
        let duration_ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        // IMMEDIATE takes the write lock up front: a deferred transaction
        // that reads then writes can fail with SQLITE_BUSY when another
        // connection wrote in between, which busy_timeout cannot fix.
        let mut tx = super::tx::immediate(&self.pool, "recording a check")
            .await
            .map_err(StoreError::query("starting to record a check"))?;
        let mut events = Vec::new();
        let mut event_ids = HashMap::new();
        for check in checks {
            let prior: PriorRow = sqlx::query_as(
                "SELECT t.domain, t.wildcard, t.ca, s.status, s.observation_id,
                        o.fingerprint, o.verdict_json
                 FROM targets t
                 LEFT JOIN caa_state s ON s.target_id = t.id
                 LEFT JOIN observations o ON o.id = s.observation_id
                 WHERE t.id = ?",
            )
            .bind(check.target_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::query("reading a target's state"))?;
            let target = TargetKey {
                domain: DomainName::from_ascii(&prior.domain).map_err(|e| StoreError::Corrupt {
                    what: "targets.domain",
                    detail: e.to_string(),
                })?,
                wildcard: prior.wildcard,
                ca: prior.ca.clone(),
            };
            let prior_state = match &prior.status {
                None => None,
                Some(s) => Some(PriorState {
                    status: CaaStatus::parse(s).ok_or_else(|| StoreError::Corrupt {
                        what: "caa_state.status",
                        detail: s.clone(),
                    })?,
                    last_observed: prior
                        .fingerprint
                        .as_deref()
                        .and_then(Fingerprint::from_slice),
                }),
            };
            let kind = classify(prior_state.as_ref(), &check.result);
            let status = check.result.status();

            let (observation_id, error) = match &check.result {
                CheckResult::Observed(snapshot) => {
                    let fp = snapshot.fingerprint();
                    let id = if prior_state.and_then(|p| p.last_observed) == Some(fp) {
                        prior.observation_id
                    } else {
                        Some(
                            insert_observation(
                                &mut tx,
                                check.target_id,
                                fp,
                                snapshot.verdict(),
                                now_ms,
                            )
                            .await?,
                        )
                    };
                    (id, None)
                }
                CheckResult::LookupFailed(e) => (prior.observation_id, Some(e.message.as_str())),
            };

            match &prior_state {
                None => {
                    sqlx::query(
                        "INSERT INTO caa_state (target_id, status, since, observation_id, last_checked,
                                                checks, consecutive_errors, last_error, last_error_at)
                         VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)",
                    )
                    .bind(check.target_id)
                    .bind(status.as_str())
                    .bind(now_ms)
                    .bind(observation_id)
                    .bind(now_ms)
                    .bind(i64::from(error.is_some()))
                    .bind(error)
                    .bind(error.map(|_| now_ms))
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("creating a target's state"))?;
                }
                Some(_) => {
                    // `last_error` is kept after a recovery: `status` shows
                    // the most recent error and when it happened.
                    sqlx::query(
                        "UPDATE caa_state SET
                            status = ?1,
                            since = CASE WHEN status = ?1 THEN since ELSE ?2 END,
                            observation_id = ?3,
                            last_checked = ?2,
                            checks = checks + 1,
                            consecutive_errors = CASE WHEN ?4 IS NULL THEN 0 ELSE consecutive_errors + 1 END,
                            last_error = coalesce(?4, last_error),
                            last_error_at = CASE WHEN ?4 IS NULL THEN last_error_at ELSE ?2 END
                         WHERE target_id = ?5",
                    )
                    .bind(status.as_str())
                    .bind(now_ms)
                    .bind(observation_id)
                    .bind(error)
                    .bind(check.target_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("updating a target's state"))?;
                }
            }

            // A collision (same target, same millisecond) cannot come from
            // the scheduler, which never overlaps checks of one target; if
            // it ever did, losing one raw run row is harmless.
            sqlx::query(
                "INSERT INTO runs (started_at, target_id, duration_ms, outcome) VALUES (?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .bind(to_millis(started_at))
            .bind(check.target_id)
            .bind(duration_ms)
            .bind(status.code())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("recording a check run"))?;

            let Some(kind) = kind else { continue };
            let before: Option<CaaVerdict> = match &prior.verdict_json {
                Some(json) if kind != EventKind::Baseline => {
                    Some(serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
                        what: "observations.verdict_json",
                        detail: e.to_string(),
                    })?)
                }
                _ => None,
            };
            let after = match &check.result {
                CheckResult::Observed(s) => Some(s.verdict()),
                CheckResult::LookupFailed(_) => None,
            };
            let event = NewEvent {
                target_id: check.target_id,
                target: &target,
                at: now,
                kind,
                before_status: prior_state.map(|p| p.status),
                after_status: status,
                before: before.as_ref(),
                before_observation: if before.is_some() {
                    prior.observation_id
                } else {
                    None
                },
                after,
                after_observation: if after.is_some() {
                    observation_id
                } else {
                    None
                },
                blocks: status.blocks(),
                detail: error,
            };
            let id = record_event(&mut tx, &event).await?;
            event_ids.insert(check.target_id, (id, kind));
            events.push(RecordedEvent {
                id,
                target: target.clone(),
                kind,
                before_status: event.before_status,
                after_status: status,
                blocks: event.blocks,
            });
        }
        let alerts = match alerting {
            Some(a) => enqueue_caa_alerts(&mut tx, a, &event_ids, now).await?,
            None => Vec::new(),
        };
        tx.commit()
            .await
            .map_err(StoreError::query("committing a check"))?;
        Ok(RecordedChecks { events, alerts })
    }
}

async fn insert_observation(
    tx: &mut SqliteConnection,
    target_id: i64,
    fingerprint: Fingerprint,
    verdict: &CaaVerdict,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let json = serde_json::to_string(verdict).map_err(|e| StoreError::Corrupt {
        what: "a verdict to store",
        detail: e.to_string(),
    })?;
    // A state seen before (A -> B -> A) reuses its row.
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO observations (target_id, fingerprint, verdict, verdict_json, first_seen)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (target_id, fingerprint) DO UPDATE SET target_id = excluded.target_id
         RETURNING id",
    )
    .bind(target_id)
    .bind(&fingerprint.0[..])
    .bind(verdict.verdict.as_str())
    .bind(json)
    .bind(now_ms)
    .fetch_one(&mut *tx)
    .await
    .map_err(StoreError::query("storing an observation"))?;
    Ok(id)
}
