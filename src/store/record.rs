//! Writing checks' results: one transaction for one domain's check or for
//! a batch of them ([`crate::recording`]), in which the caller records the
//! state of each (target, check), reads and writes what the alert policy
//! remembers, and enqueues alerts. The store persists and decides nothing:
//! which event a state change is comes from the pure [`classify`], what to
//! tell whom from the alert policy above it.
//!
//! A batch costs a few statements whatever its size: the prior states in
//! one read ([`Recorder::prior_states`]), then observations, state rows and
//! events in one multi-row statement each ([`Recorder::write_states`]). An
//! unchanged check writes its state row (and, elsewhere, its run row) and
//! nothing else.
//!
//! A [`Recorder`] is one `BEGIN IMMEDIATE` transaction ([`super::tx`]): if
//! it is dropped without a successful [`Recorder::commit`] — a failed
//! statement, a failed COMMIT (disk full, read-only file system), a
//! cancelled task — its connection is closed instead of going back to the
//! pool, so no connection returns to the pool inside a transaction (the
//! failure that wedged every later check), and storage is reported failing
//! until a write succeeds again.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::tx::ImmediateTx;
use super::{Store, StoreError, rows, to_millis};
use crate::alert::{Alert, ChannelId, outbox};
use crate::checks::state::{EventNames, Observed, Prior, Transition, classify};
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
}

/// What the store holds about a (target, check) before a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorState {
    pub status: String,
    pub observation_id: Option<i64>,
    /// The fingerprint of the last observed state.
    pub fingerprint: Option<Vec<u8>>,
    /// What the alert policy remembers (JSON), if it decided before.
    pub alert_memory: Option<String>,
}

#[derive(sqlx::FromRow)]
struct PriorRow {
    target_id: i64,
    check_kind: String,
    status: String,
    observation_id: Option<i64>,
    fingerprint: Option<Vec<u8>>,
    alert_memory: Option<String>,
}

/// One raw run of a check of a target: when it started, how long it took,
/// how it came out (0 ok, 1 blocking, 2 error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRow {
    pub target_id: i64,
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub outcome: i64,
}

/// A check's verdict as the store sees it, whatever its type: [`Observed`]
/// in a form a `dyn` can carry (the registered checks' verdicts are trait
/// objects).
pub trait AnyObserved: Send + Sync {
    fn check(&self) -> CheckKind;
    fn event_names(&self) -> EventNames;
    fn status_word(&self) -> &'static str;
    fn blocks(&self) -> bool;
    fn fingerprint(&self) -> Option<Vec<u8>>;
    fn error_message(&self) -> Option<String>;
    /// The verdict as stored in `observations.verdict_json`.
    fn verdict_json(&self) -> Result<String, StoreError>;
}

impl<V: Observed + Send + Sync> AnyObserved for V {
    fn check(&self) -> CheckKind {
        V::CHECK
    }
    fn event_names(&self) -> EventNames {
        V::EVENTS
    }
    fn status_word(&self) -> &'static str {
        Observed::status_word(self)
    }
    fn blocks(&self) -> bool {
        Observed::blocks(self)
    }
    fn fingerprint(&self) -> Option<Vec<u8>> {
        Observed::fingerprint(self)
    }
    fn error_message(&self) -> Option<String> {
        Observed::error_message(self)
    }
    fn verdict_json(&self) -> Result<String, StoreError> {
        serialise("a verdict to store", self)
    }
}

/// Which observation a state row points at after this check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObservationRef {
    /// The same state as last observed: its row.
    Same(i64),
    /// A state not observed last time: stored (or found, A -> B -> A) by
    /// its fingerprint.
    New { fingerprint: Vec<u8>, json: String },
    /// Nothing observed (an error): the last observed state is kept.
    NotObserved(Option<i64>),
}

/// The event a check makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    pub transition: Transition,
    /// Its name in `events.kind`.
    pub kind: &'static str,
    pub before_observation: Option<i64>,
}

/// One (target, check)'s rows to write, decided from its prior state and
/// verdict by [`plan_state`] (pure), written by [`Recorder::write_states`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatePlan {
    pub target_id: i64,
    pub check: CheckKind,
    pub status: &'static str,
    pub blocks: bool,
    pub error: Option<String>,
    pub observation: ObservationRef,
    pub before_status: Option<String>,
    pub event: Option<PlannedEvent>,
    /// What the alert policy remembers now, when it changed (JSON).
    pub alert_memory: Option<String>,
}

/// Decides what recording `verdict` for a target writes, given what the
/// store held ([`Recorder::prior_states`]): the state row, a new
/// observation only for a state not seen last time, an event only for a
/// change ([`classify`]). No I/O.
pub fn plan_state(
    target_id: i64,
    verdict: &(impl AnyObserved + ?Sized),
    prior: Option<&PriorState>,
) -> Result<StatePlan, StoreError> {
    let fingerprint = verdict.fingerprint();
    let transition = classify(
        prior
            .map(|p| Prior {
                in_error: p.status == "error",
                last_observed: p.fingerprint.clone(),
            })
            .as_ref(),
        fingerprint.as_deref(),
    );
    let prior_observation = prior.and_then(|p| p.observation_id);
    let observation = match fingerprint {
        Some(fp) => match prior {
            Some(PriorState {
                fingerprint: Some(last),
                observation_id: Some(id),
                ..
            }) if *last == fp => ObservationRef::Same(*id),
            _ => ObservationRef::New {
                fingerprint: fp,
                json: verdict.verdict_json()?,
            },
        },
        None => ObservationRef::NotObserved(prior_observation),
    };
    let event = transition.map(|transition| PlannedEvent {
        transition,
        kind: transition.name(&verdict.event_names()),
        before_observation: match transition {
            Transition::Baseline => None,
            _ => prior_observation,
        },
    });
    Ok(StatePlan {
        target_id,
        check: verdict.check(),
        status: verdict.status_word(),
        blocks: verdict.blocks(),
        error: verdict.error_message(),
        observation,
        before_status: prior.map(|p| p.status.clone()),
        event,
        alert_memory: None,
    })
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
    /// by fingerprint); a change (see [`classify`]) is an event. The same
    /// steps as a batch's ([`Recorder::prior_states`], [`plan_state`],
    /// [`Recorder::write_states`]), for one row.
    pub async fn record_state<V: Observed + Send + Sync>(
        &mut self,
        target_id: i64,
        verdict: &V,
    ) -> Result<RecordedState, StoreError> {
        let key = (target_id, V::CHECK);
        let priors = self.prior_states(&[key]).await?;
        let plan = plan_state(target_id, verdict, priors.get(&key))?;
        let before_status = plan.before_status.clone();
        let written = self.write_states(std::slice::from_ref(&plan)).await?;
        Ok(RecordedState {
            before_status,
            event: written.into_iter().next().flatten(),
        })
    }

    /// What the store holds about each of `keys` (target, check) before
    /// this check, in one statement; a key never checked is absent.
    pub async fn prior_states(
        &mut self,
        keys: &[(i64, CheckKind)],
    ) -> Result<HashMap<(i64, CheckKind), PriorState>, StoreError> {
        let mut ids: Vec<i64> = keys.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        let wanted: HashSet<&(i64, CheckKind)> = keys.iter().collect();
        let mut out = HashMap::with_capacity(keys.len());
        for chunk in ids.chunks(rows::rows_per_statement(1)) {
            let sql = format!(
                "SELECT s.target_id, s.check_kind, s.status, s.observation_id, o.fingerprint,
                        s.alert_memory
                 FROM check_state s LEFT JOIN observations o ON o.id = s.observation_id
                 WHERE s.target_id IN ({})",
                rows::params(chunk.len())
            );
            let mut q = sqlx::query_as::<_, PriorRow>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            let found = q
                .fetch_all(&mut *self.conn)
                .await
                .map_err(StoreError::query("reading the targets' states"))?;
            for row in found {
                // Another check of the same target, not asked about: skip.
                let Some(check) = CheckKind::parse(&row.check_kind) else {
                    continue;
                };
                let key = (row.target_id, check);
                if !wanted.contains(&key) {
                    continue;
                }
                out.insert(
                    key,
                    PriorState {
                        status: row.status,
                        observation_id: row.observation_id,
                        fingerprint: row.fingerprint,
                        alert_memory: row.alert_memory,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Writes planned states ([`plan_state`]): the new observations, the
    /// state rows and the events, one multi-row statement each (whatever
    /// the number of rows, up to the parameter limit). Each (target, check)
    /// may appear once. Returns, row by row, the event written.
    pub async fn write_states(
        &mut self,
        plans: &[StatePlan],
    ) -> Result<Vec<Option<(i64, Transition)>>, StoreError> {
        debug_assert!(
            plans
                .iter()
                .map(|p| (p.target_id, p.check))
                .collect::<HashSet<_>>()
                .len()
                == plans.len(),
            "a (target, check) twice in one write"
        );
        let now_ms = to_millis(self.now);

        // 1. New observed states. A state seen before (A -> B -> A) reuses
        // its row: the conflict returns its id.
        let new: Vec<&StatePlan> = plans
            .iter()
            .filter(|p| matches!(p.observation, ObservationRef::New { .. }))
            .collect();
        let mut new_ids: HashMap<(i64, String), i64> = HashMap::with_capacity(new.len());
        for chunk in new.chunks(rows::rows_per_statement(6)) {
            let sql = format!(
                "INSERT INTO observations (target_id, check_kind, fingerprint, verdict,
                                           verdict_json, first_seen)
                 VALUES {}
                 ON CONFLICT (target_id, check_kind, fingerprint)
                    DO UPDATE SET target_id = excluded.target_id
                 RETURNING target_id, check_kind, id",
                rows::values(chunk.len(), 6)
            );
            let mut q = sqlx::query_as::<_, (i64, String, i64)>(sqlx::AssertSqlSafe(sql));
            for p in chunk {
                let ObservationRef::New { fingerprint, json } = &p.observation else {
                    continue;
                };
                q = q
                    .bind(p.target_id)
                    .bind(p.check.as_str())
                    .bind(fingerprint.as_slice())
                    .bind(p.status)
                    .bind(json.as_str())
                    .bind(now_ms);
            }
            let returned = q
                .fetch_all(&mut *self.conn)
                .await
                .map_err(StoreError::query("storing observations"))?;
            for (target_id, check, id) in returned {
                new_ids.insert((target_id, check), id);
            }
        }
        let observation_of = |p: &StatePlan| -> Result<(Option<i64>, Option<i64>), StoreError> {
            // (the state row's observation, the event's after-observation)
            Ok(match &p.observation {
                ObservationRef::Same(id) => (Some(*id), Some(*id)),
                ObservationRef::NotObserved(kept) => (*kept, None),
                ObservationRef::New { .. } => {
                    let id = new_ids
                        .get(&(p.target_id, p.check.as_str().to_string()))
                        .copied()
                        .ok_or(StoreError::Corrupt {
                            what: "observations",
                            detail: "an inserted observation returned no id".into(),
                        })?;
                    (Some(id), Some(id))
                }
            })
        };

        // 2. The state rows, updated in place. `since` moves when the status
        // word or whether it blocks changes; `last_error` is kept after a
        // recovery (`status` shows the most recent error and when); the
        // alert memory is rewritten only when the policy changed it.
        for chunk in plans.chunks(rows::rows_per_statement(12)) {
            let sql = format!(
                "INSERT INTO check_state (target_id, check_kind, status, blocks, since,
                                          observation_id, last_checked, checks,
                                          consecutive_errors, last_error, last_error_at,
                                          alert_memory)
                 VALUES {}
                 ON CONFLICT (target_id, check_kind) DO UPDATE SET
                    status = excluded.status,
                    blocks = excluded.blocks,
                    since = CASE WHEN check_state.status = excluded.status
                                      AND check_state.blocks = excluded.blocks
                                 THEN check_state.since ELSE excluded.since END,
                    observation_id = excluded.observation_id,
                    last_checked = excluded.last_checked,
                    checks = check_state.checks + 1,
                    consecutive_errors = CASE WHEN excluded.last_error IS NULL THEN 0
                                              ELSE check_state.consecutive_errors + 1 END,
                    last_error = coalesce(excluded.last_error, check_state.last_error),
                    last_error_at = CASE WHEN excluded.last_error IS NULL
                                         THEN check_state.last_error_at
                                         ELSE excluded.last_error_at END,
                    alert_memory = coalesce(excluded.alert_memory, check_state.alert_memory)",
                rows::values(chunk.len(), 12)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for p in chunk {
                let (observation_id, _) = observation_of(p)?;
                let errored = p.error.is_some();
                q = q
                    .bind(p.target_id)
                    .bind(p.check.as_str())
                    .bind(p.status)
                    .bind(i64::from(p.blocks))
                    .bind(now_ms)
                    .bind(observation_id)
                    .bind(now_ms)
                    .bind(1_i64)
                    .bind(i64::from(errored))
                    .bind(p.error.as_deref())
                    .bind(errored.then_some(now_ms))
                    .bind(p.alert_memory.as_deref());
            }
            q.execute(&mut *self.conn)
                .await
                .map_err(StoreError::query("updating the targets' states"))?;
        }

        // 3. The events.
        let with_event: Vec<&StatePlan> = plans.iter().filter(|p| p.event.is_some()).collect();
        let mut event_ids: HashMap<(i64, String), i64> = HashMap::with_capacity(with_event.len());
        for chunk in with_event.chunks(rows::rows_per_statement(10)) {
            let sql = format!(
                "INSERT INTO events (target_id, check_kind, at, kind, before_status, after_status,
                                     before_observation, after_observation, blocks, detail)
                 VALUES {} RETURNING target_id, check_kind, id",
                rows::values(chunk.len(), 10)
            );
            let mut q = sqlx::query_as::<_, (i64, String, i64)>(sqlx::AssertSqlSafe(sql));
            for p in chunk {
                let Some(event) = &p.event else { continue };
                let (_, after) = observation_of(p)?;
                q = q
                    .bind(p.target_id)
                    .bind(p.check.as_str())
                    .bind(now_ms)
                    .bind(event.kind)
                    .bind(p.before_status.as_deref())
                    .bind(p.status)
                    .bind(event.before_observation)
                    .bind(after)
                    .bind(i64::from(p.blocks))
                    .bind(p.error.as_deref());
            }
            let returned = q
                .fetch_all(&mut *self.conn)
                .await
                .map_err(StoreError::query("recording events"))?;
            for (target_id, check, id) in returned {
                event_ids.insert((target_id, check), id);
            }
        }
        plans
            .iter()
            .map(|p| {
                let Some(event) = &p.event else {
                    return Ok(None);
                };
                event_ids
                    .get(&(p.target_id, p.check.as_str().to_string()))
                    .map(|id| Some((*id, event.transition)))
                    .ok_or(StoreError::Corrupt {
                        what: "events",
                        detail: "an inserted event returned no id".into(),
                    })
            })
            .collect()
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
        self.record_runs(&[RunRow {
            target_id,
            started_at,
            duration,
            outcome,
        }])
        .await
    }

    /// Run rows ([`Recorder::record_run`]), in one statement.
    pub async fn record_runs(&mut self, runs: &[RunRow]) -> Result<(), StoreError> {
        // A collision (same target, same millisecond) cannot come from the
        // scheduler, which never overlaps checks of one domain; if it ever
        // did, losing one raw run row is harmless.
        for chunk in runs.chunks(rows::rows_per_statement(4)) {
            let sql = format!(
                "INSERT INTO runs (started_at, target_id, duration_ms, outcome) VALUES {}
                 ON CONFLICT DO NOTHING",
                rows::values(chunk.len(), 4)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(to_millis(r.started_at))
                    .bind(r.target_id)
                    .bind(i64::try_from(r.duration.as_millis()).unwrap_or(i64::MAX))
                    .bind(r.outcome);
            }
            q.execute(&mut *self.conn)
                .await
                .map_err(StoreError::query("recording check runs"))?;
        }
        Ok(())
    }

    /// The relevant CAA record sets last seen for configured domains (what
    /// `caa_drift` compares with), in one statement; a domain never seen
    /// is absent.
    pub async fn caa_rrsets<T: DeserializeOwned>(
        &mut self,
        domains: &[&str],
    ) -> Result<HashMap<String, T>, StoreError> {
        let mut out = HashMap::with_capacity(domains.len());
        for chunk in domains.chunks(rows::rows_per_statement(1)) {
            let sql = format!(
                "SELECT domain, rrset_json FROM caa_rrsets WHERE domain IN ({})",
                rows::params(chunk.len())
            );
            let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
            for d in chunk {
                q = q.bind(*d);
            }
            let found = q
                .fetch_all(&mut *self.conn)
                .await
                .map_err(StoreError::query("reading the domains' CAA record sets"))?;
            for (domain, json) in found {
                let rrset = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                    what: "caa_rrsets.rrset_json",
                    detail: e.to_string(),
                })?;
                out.insert(domain, rrset);
            }
        }
        Ok(out)
    }

    /// Stores the record sets (domain, set) that changed, in one statement.
    pub async fn save_caa_rrsets<T: Serialize>(
        &mut self,
        rrsets: &[(&str, &T)],
    ) -> Result<(), StoreError> {
        let now_ms = to_millis(self.now);
        for chunk in rrsets.chunks(rows::rows_per_statement(3)) {
            let sql = format!(
                "INSERT INTO caa_rrsets (domain, rrset_json, updated_at) VALUES {}
                 ON CONFLICT (domain) DO UPDATE SET rrset_json = excluded.rrset_json,
                                                    updated_at = excluded.updated_at",
                rows::values(chunk.len(), 3)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (domain, rrset) in chunk {
                q = q
                    .bind(*domain)
                    .bind(serialise("a CAA record set", rrset)?)
                    .bind(now_ms);
            }
            q.execute(&mut *self.conn)
                .await
                .map_err(StoreError::query("storing the domains' CAA record sets"))?;
        }
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

    /// [`Recorder::enqueue`] for several alerts, in one statement.
    pub async fn enqueue_all(
        &mut self,
        alerts: &[Alert],
        channels: &[ChannelId],
    ) -> Result<(), StoreError> {
        if !channels.is_empty() && !alerts.is_empty() {
            outbox::enqueue_all(&mut self.conn, alerts, channels).await?;
        }
        Ok(())
    }
}
