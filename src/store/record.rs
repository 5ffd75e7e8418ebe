//! Writing a check's results: one transaction per domain check, in which the
//! caller records the state of each (target, check), reads and writes what
//! the alert policy remembers, and enqueues alerts. The store persists and
//! decides nothing: which event a state change is comes from the pure
//! [`classify`], what to tell whom from the alert policy above it.
//!
//! A [`Recorder`] is one `BEGIN IMMEDIATE` transaction ([`super::tx`]): if
//! it is dropped without a successful [`Recorder::commit`] — a failed
//! statement, a failed COMMIT (disk full, read-only file system), a
//! cancelled task — its connection is closed instead of going back to the
//! pool, so no connection returns to the pool inside a transaction (the
//! failure that wedged every later check), and storage is reported failing
//! until a write succeeds again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::tx::ImmediateTx;
use super::{Store, StoreError, to_millis};
use crate::alert::{Alert, ChannelId, outbox};
use crate::checks::state::{Observed, Prior, Transition, classify};
use crate::findings::CheckKind;

/// A write transaction on the store.
pub struct Recorder {
    conn: ImmediateTx,
    now: DateTime<Utc>,
}

/// What recording one (target, check) found and wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedState {
    /// The status word before this check (`None` on the first).
    pub before_status: Option<String>,
    /// The event written, if the check was a change.
    pub event: Option<(i64, Transition)>,
    /// The verdict JSON of the last observed state before this check, when
    /// this check changed it (for a diff).
    pub before_json: Option<String>,
}

#[derive(sqlx::FromRow)]
struct PriorRow {
    status: String,
    observation_id: Option<i64>,
    fingerprint: Option<Vec<u8>>,
    verdict_json: Option<String>,
}

fn serialise(what: &'static str, v: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

impl Store {
    /// Starts a write transaction; `now` is the time every row it writes
    /// carries (a parameter, so callers and tests decide the clock).
    pub async fn recorder(&self, now: DateTime<Utc>) -> Result<Recorder, StoreError> {
        let conn = super::tx::immediate(&self.pool, "recording a check")
            .await
            .map_err(StoreError::query("starting a write transaction"))?;
        Ok(Recorder { conn, now })
    }
}

impl Recorder {
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The transaction's connection, for the store's own statements.
    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.conn
    }

    /// Commits. On failure the connection is discarded (see the module
    /// comment) and nothing of this transaction is stored.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.conn
            .commit()
            .await
            .map_err(StoreError::query("committing a check"))
    }

    /// Records the verdict of one check of one target: the state row is
    /// updated in place; a new observed state is stored once (deduplicated
    /// by fingerprint); a change (see [`classify`]) is an event.
    pub async fn record_state<V: Observed>(
        &mut self,
        target_id: i64,
        verdict: &V,
    ) -> Result<RecordedState, StoreError> {
        let check = V::CHECK.as_str();
        let now_ms = to_millis(self.now);
        let prior: Option<PriorRow> = sqlx::query_as(
            "SELECT s.status, s.observation_id, o.fingerprint, o.verdict_json
             FROM check_state s LEFT JOIN observations o ON o.id = s.observation_id
             WHERE s.target_id = $1 AND s.check_kind = $2",
        )
        .bind(target_id)
        .bind(check)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(StoreError::query("reading a target's state"))?;
        let fingerprint = verdict.fingerprint();
        let error = verdict.error_message();
        let status = verdict.status_word();
        let transition = classify(
            prior
                .as_ref()
                .map(|p| Prior {
                    in_error: p.status == "error",
                    last_observed: p.fingerprint.clone(),
                })
                .as_ref(),
            fingerprint.as_deref(),
        );

        let same_as_before = prior
            .as_ref()
            .is_some_and(|p| p.fingerprint.is_some() && p.fingerprint == fingerprint);
        let observation_id = match &fingerprint {
            Some(_) if same_as_before => prior.as_ref().and_then(|p| p.observation_id),
            Some(fp) => {
                let json = serialise("a verdict to store", verdict)?;
                // A state seen before (A -> B -> A) reuses its row.
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO observations (target_id, check_kind, fingerprint, verdict,
                                               verdict_json, first_seen)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (target_id, check_kind, fingerprint)
                        DO UPDATE SET target_id = excluded.target_id
                     RETURNING id",
                )
                .bind(target_id)
                .bind(check)
                .bind(fp.as_slice())
                .bind(status)
                .bind(json)
                .bind(now_ms)
                .fetch_one(&mut *self.conn)
                .await
                .map_err(StoreError::query("storing an observation"))?;
                Some(id)
            }
            None => prior.as_ref().and_then(|p| p.observation_id),
        };

        // `since` moves when the status word or whether it blocks changes;
        // `last_error` is kept after a recovery: `status` shows the most
        // recent error and when it happened.
        sqlx::query(
            "INSERT INTO check_state (target_id, check_kind, status, blocks, since, observation_id,
                                      last_checked, checks, consecutive_errors, last_error,
                                      last_error_at)
             VALUES ($1, $2, $3, $4, $5, $6, $5, 1, CASE WHEN $7 IS NULL THEN 0 ELSE 1 END, $7,
                     CASE WHEN $7 IS NULL THEN NULL ELSE $5 END)
             ON CONFLICT (target_id, check_kind) DO UPDATE SET
                status = excluded.status,
                blocks = excluded.blocks,
                since = CASE WHEN check_state.status = excluded.status
                                  AND check_state.blocks = excluded.blocks
                             THEN check_state.since ELSE excluded.since END,
                observation_id = excluded.observation_id,
                last_checked = excluded.last_checked,
                checks = check_state.checks + 1,
                consecutive_errors = CASE WHEN $7 IS NULL THEN 0
                                          ELSE check_state.consecutive_errors + 1 END,
                last_error = coalesce($7, check_state.last_error),
                last_error_at = CASE WHEN $7 IS NULL THEN check_state.last_error_at ELSE $5 END",
        )
        .bind(target_id)
        .bind(check)
        .bind(status)
        .bind(i64::from(verdict.blocks()))
        .bind(now_ms)
        .bind(observation_id)
        .bind(error.as_deref())
        .execute(&mut *self.conn)
        .await
        .map_err(StoreError::query("updating a target's state"))?;

        let before_status = prior.as_ref().map(|p| p.status.clone());
        let Some(transition) = transition else {
            return Ok(RecordedState {
                before_status,
                event: None,
                before_json: None,
            });
        };
        let before_observation = match transition {
            Transition::Baseline => None,
            _ => prior.as_ref().and_then(|p| p.observation_id),
        };
        let after_observation = fingerprint.as_ref().and(observation_id);
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO events (target_id, check_kind, at, kind, before_status, after_status,
                                 before_observation, after_observation, blocks, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(target_id)
        .bind(check)
        .bind(now_ms)
        .bind(transition.name(&V::EVENTS))
        .bind(before_status.as_deref())
        .bind(status)
        .bind(before_observation)
        .bind(after_observation)
        .bind(i64::from(verdict.blocks()))
        .bind(error.as_deref())
        .fetch_one(&mut *self.conn)
        .await
        .map_err(StoreError::query("recording an event"))?;
        Ok(RecordedState {
            before_status,
            event: Some((id, transition)),
            before_json: before_observation.and(prior.and_then(|p| p.verdict_json)),
        })
    }

    /// One raw run row (about 20 bytes): the target was checked at
    /// `started_at`, took `duration`, and came out `outcome` (0 ok,
    /// 1 blocking, 2 error). Pruned into per-day counts after `retention`.
    pub async fn record_run(
        &mut self,
        target_id: i64,
        started_at: DateTime<Utc>,
        duration: Duration,
        outcome: i64,
    ) -> Result<(), StoreError> {
        // A collision (same target, same millisecond) cannot come from the
        // scheduler, which never overlaps checks of one domain; if it ever
        // did, losing one raw run row is harmless.
        sqlx::query(
            "INSERT INTO runs (started_at, target_id, duration_ms, outcome) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(to_millis(started_at))
        .bind(target_id)
        .bind(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
        .bind(outcome)
        .execute(&mut *self.conn)
        .await
        .map_err(StoreError::query("recording a check run"))?;
        Ok(())
    }

    /// What the alert policy remembers about a (target, check); `None`
    /// before its first decision.
    pub async fn alert_memory<T: DeserializeOwned>(
        &mut self,
        target_id: i64,
        check: CheckKind,
    ) -> Result<Option<T>, StoreError> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT alert_memory FROM check_state WHERE target_id = $1 AND check_kind = $2",
        )
        .bind(target_id)
        .bind(check.as_str())
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(StoreError::query("reading a target's alert memory"))?;
        row.and_then(|(m,)| m)
            .map(|json| {
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                    what: "check_state.alert_memory",
                    detail: e.to_string(),
                })
            })
            .transpose()
    }

    pub async fn save_alert_memory(
        &mut self,
        target_id: i64,
        check: CheckKind,
        memory: &impl Serialize,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE check_state SET alert_memory = $1 WHERE target_id = $2 AND check_kind = $3",
        )
        .bind(serialise("alert memory", memory)?)
        .bind(target_id)
        .bind(check.as_str())
        .execute(&mut *self.conn)
        .await
        .map_err(StoreError::query("storing a target's alert memory"))?;
        Ok(())
    }

    /// The relevant CAA record set last seen for a configured domain (what
    /// `caa_drift` compares with).
    pub async fn caa_rrset<T: DeserializeOwned>(
        &mut self,
        domain: &str,
    ) -> Result<Option<T>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT rrset_json FROM caa_rrsets WHERE domain = $1")
                .bind(domain)
                .fetch_optional(&mut *self.conn)
                .await
                .map_err(StoreError::query("reading a domain's CAA record set"))?;
        row.map(|(json,)| {
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                what: "caa_rrsets.rrset_json",
                detail: e.to_string(),
            })
        })
        .transpose()
    }

    pub async fn save_caa_rrset(
        &mut self,
        domain: &str,
        rrset: &impl Serialize,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO caa_rrsets (domain, rrset_json, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (domain) DO UPDATE SET rrset_json = excluded.rrset_json,
                                                updated_at = excluded.updated_at",
        )
        .bind(domain)
        .bind(serialise("a CAA record set", rrset)?)
        .bind(to_millis(self.now))
        .execute(&mut *self.conn)
        .await
        .map_err(StoreError::query("storing a domain's CAA record set"))?;
        Ok(())
    }

    /// Puts an alert in the outbox of every channel, in this transaction:
    /// it exists exactly when the check that raised it is recorded.
    pub async fn enqueue(
        &mut self,
        alert: &Alert,
        channels: &[ChannelId],
    ) -> Result<(), StoreError> {
        if !channels.is_empty() {
            outbox::enqueue(&mut self.conn, alert, channels).await?;
        }
        Ok(())
    }
}
