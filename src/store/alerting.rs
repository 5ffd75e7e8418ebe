//! The alert seam of a CAA check: inside the transaction that records the
//! check, run the alert policy (pure, `crate::alert::policy`) on what was
//! just observed and what it remembers, store what it remembers now, and
//! enqueue its alerts in the outbox. An alert therefore exists exactly when
//! the check that caused it was recorded ("Nothing lost").
//!
//! The policy runs on every check, changed or not: reminders of a blocking
//! state that lasts come from an unchanged observation.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{StoreError, to_millis};
use crate::alert::policy::{self, CaUnderRrset, CaaRrset, PolicyConfig, Subject, TrackMemory};
use crate::alert::{Alert, ChannelId, outbox};
use crate::checks::caa::{CaaVerdict, CaaVerdictKind};
use crate::domain::DomainName;
use crate::drift::EventKind;

/// What the alert policy needs about one domain's check.
#[derive(Debug, Clone, Copy)]
pub struct CaaAlerting<'a> {
    pub policy: &'a PolicyConfig,
    /// The channels to enqueue for; empty: the policy still runs (so adding
    /// a channel later does not replay old news), nothing is enqueued.
    pub channels: &'a [ChannelId],
    /// The name the CAA climb started from: the key of the record set that
    /// drift compares.
    pub base: &'a DomainName,
    /// Every target of the domain, with the judge's full verdict.
    pub targets: &'a [AlertTarget],
}

/// One (certificate name, CA) as the alert names it.
#[derive(Debug, Clone)]
pub struct AlertTarget {
    pub target_id: i64,
    /// The certificate name for display (Unicode, `*.` for wildcards).
    pub domain: String,
    /// The CA's display name.
    pub ca: String,
    /// The judge's verdict, lookup errors included.
    pub verdict: CaaVerdict,
}

fn corrupt(what: &'static str) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    }
}

/// Runs the policy for every target of `alerting`, stores its memory and
/// the record set, and enqueues the alerts. `events` maps a target id to the
/// event this check recorded for it, so alerts can point at their event.
/// Returns the alerts enqueued.
pub(crate) async fn enqueue_caa_alerts(
    tx: &mut SqliteConnection,
    alerting: &CaaAlerting<'_>,
    events: &HashMap<i64, (i64, EventKind)>,
    now: DateTime<Utc>,
) -> Result<Vec<Alert>, StoreError> {
    let mut state_alerts = Vec::new();
    for t in alerting.targets {
        let (stored,): (Option<String>,) =
            sqlx::query_as("SELECT alert_memory FROM caa_state WHERE target_id = ?")
                .bind(t.target_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::query("reading a target's alert memory"))?;
        let memory: TrackMemory = match stored {
            Some(json) => serde_json::from_str(&json).map_err(corrupt("caa_state.alert_memory"))?,
            None => TrackMemory::default(),
        };
        let observation = crate::alert::caa::observation(&t.verdict, &t.domain, &t.ca);
        let subject = Subject {
            domain: t.domain.clone(),
            ca: t.ca.clone(),
            check: "caa".into(),
        };
        let decision = policy::decide(&memory, &observation, &subject, alerting.policy, now);
        if decision.memory != memory {
            let json = serde_json::to_string(&decision.memory).map_err(corrupt("alert memory"))?;
            sqlx::query("UPDATE caa_state SET alert_memory = ? WHERE target_id = ?")
                .bind(json)
                .bind(t.target_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("storing a target's alert memory"))?;
        }
        let event_id = events.get(&t.target_id).map(|(id, _)| *id);
        state_alerts.extend(decision.alerts.into_iter().map(|mut a| {
            a.event_id = event_id;
            a
        }));
    }

    let drift = drift_alert(tx, alerting, events, now).await?;
    let alerts = policy::merge_drift(drift, state_alerts);
    if !alerting.channels.is_empty() {
        for alert in &alerts {
            outbox::enqueue(&mut *tx, alert, alerting.channels).await?;
        }
    }
    Ok(alerts)
}

/// Compares the relevant record set with the one stored for the domain,
/// stores the new one, and returns the `caa_drift` alert if it changed.
/// A failed lookup has no record set and is never drift.
async fn drift_alert(
    tx: &mut SqliteConnection,
    alerting: &CaaAlerting<'_>,
    events: &HashMap<i64, (i64, EventKind)>,
    now: DateTime<Utc>,
) -> Result<Option<Alert>, StoreError> {
    let Some(current) = alerting
        .targets
        .iter()
        .find_map(|t| crate::alert::caa::rrset(&t.verdict))
    else {
        return Ok(None);
    };
    let stored: Option<(String,)> =
        sqlx::query_as("SELECT rrset_json FROM caa_rrsets WHERE domain = ?")
            .bind(alerting.base.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::query("reading a domain's CAA record set"))?;
    let previous: Option<CaaRrset> = stored
        .map(|(json,)| serde_json::from_str(&json))
        .transpose()
        .map_err(corrupt("caa_rrsets.rrset_json"))?;
    if previous.as_ref() == Some(&current) {
        return Ok(None);
    }
    let json = serde_json::to_string(&current).map_err(corrupt("a CAA record set"))?;
    sqlx::query(
        "INSERT INTO caa_rrsets (domain, rrset_json, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (domain) DO UPDATE SET rrset_json = excluded.rrset_json,
                                            updated_at = excluded.updated_at",
    )
    .bind(alerting.base.as_str())
    .bind(json)
    .bind(to_millis(now))
    .execute(&mut *tx)
    .await
    .map_err(StoreError::query("storing a domain's CAA record set"))?;

    let base = alerting.base.to_unicode();
    let cas: Vec<CaUnderRrset> = alerting
        .targets
        .iter()
        .filter(|t| t.verdict.verdict != CaaVerdictKind::Error)
        .map(|t| CaUnderRrset {
            // A wildcard is judged by `issuewild`: say which name it is.
            ca: if t.domain == base {
                t.ca.clone()
            } else {
                format!("{} ({})", t.ca, t.domain)
            },
            forbidden: t.verdict.verdict == CaaVerdictKind::Forbidden,
        })
        .collect();
    let drift_event = alerting.targets.iter().find_map(|t| {
        events
            .get(&t.target_id)
            .filter(|(_, kind)| *kind == EventKind::CaaDrift)
            .map(|(id, _)| *id)
    });
    Ok(
        policy::decide_drift(previous.as_ref(), &current, &base, &cas, now).map(|mut a| {
            a.event_id = drift_event;
            a
        }),
    )
}
