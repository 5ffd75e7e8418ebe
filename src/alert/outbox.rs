//! The outbox: alerts that must still reach a channel, in SQLite
//! (`migrations/0010_alert_outbox.sql`).
//!
//! [`enqueue`] runs inside the caller's transaction, next to the event row
//! that caused the alert: both are committed or neither is. Deliverers then
//! [`claim_next`] the oldest unfinished row of their channel, and finish it
//! with [`mark_delivered`], [`mark_retry`] or [`mark_failed`]. Rows of one
//! channel go out in order (a `resolved` never overtakes its `blocking`);
//! channels are independent.
//!
//! Delivery is at least once: a crash after the server accepted a message
//! but before [`mark_delivered`] committed sends it again after the
//! restart. Receivers can recognise the repeat by the alert id.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, AnyPool, Row};
use thiserror::Error;

use super::{Alert, ChannelId};

#[derive(Debug, Error)]
pub enum OutboxError {
    #[error(
        "alert outbox: {what} failed: {source}; check that the database is writable and not full"
    )]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "alert outbox row {id} cannot be read ({detail}); it was written by another version or edited by hand; mark it failed with: UPDATE alert_outbox SET status = 'failed' WHERE id = {id}"
    )]
    Corrupt { id: i64, detail: String },
}

fn query(what: &'static str) -> impl FnOnce(sqlx::Error) -> OutboxError {
    move |source| OutboxError::Query { what, source }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored time of row `id`, or the corruption it is.
fn from_ms(id: i64, v: i64) -> Result<DateTime<Utc>, OutboxError> {
    certvigil_core::millis::from_millis(v).map_err(|e| OutboxError::Corrupt {
        id,
        detail: e.to_string(),
    })
}

/// Writes one row per channel for `alert`, on the caller's connection (so
/// inside the caller's transaction). Enqueuing the same alert id for the
/// same channel twice is a no-op, so a retried transaction cannot double it.
pub async fn enqueue(
    conn: &mut AnyConnection,
    alert: &Alert,
    channels: &[ChannelId],
) -> Result<(), OutboxError> {
    enqueue_all(conn, std::slice::from_ref(alert), channels).await
}

/// [`enqueue`] for several alerts, in one multi-row statement (a batch of
/// checks' alerts costs one round trip, not one per row).
pub async fn enqueue_all(
    conn: &mut AnyConnection,
    alerts: &[Alert],
    channels: &[ChannelId],
) -> Result<(), OutboxError> {
    const COLS: usize = 10;
    let rows: Vec<(&Alert, String, &ChannelId)> = alerts
        .iter()
        .flat_map(|alert| {
            let json = serde_json::to_string(alert).expect("alerts serialize");
            channels.iter().map(move |c| (alert, json.clone(), c))
        })
        .collect();
    // Well below either database's parameter limit.
    for chunk in rows.chunks(500) {
        let values = (0..chunk.len())
            .map(|r| {
                let cols: Vec<String> = (1..=COLS).map(|c| format!("${}", r * COLS + c)).collect();
                format!("({})", cols.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO alert_outbox (alert_id, channel, event_id, kind, domain, severity, summary, \
             alert_json, created_at, next_attempt_at) \
             VALUES {values} ON CONFLICT (alert_id, channel) DO NOTHING"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (alert, json, channel) in chunk {
            q = q
                .bind(&alert.id)
                .bind(channel.as_str())
                .bind(alert.event_id)
                .bind(alert.kind.as_str())
                .bind(&alert.domain)
                .bind(alert.severity.as_str())
                .bind(&alert.summary)
                .bind(json.as_str())
                .bind(ms(alert.at))
                .bind(ms(alert.at));
        }
        q.execute(&mut *conn).await.map_err(query("enqueue"))?;
    }
    Ok(())
}

/// A row a deliverer has claimed.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub alert: Alert,
    /// Including this one.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// The previous attempt's error, if any (to say "still failing").
    pub last_error: Option<String>,
}

/// Claims the oldest unfinished row of `channel` if it is due: pending with
/// its retry time reached, or left `sending` by a deliverer whose lease ran
/// out (it crashed). The claim lasts `lease`. Returns `None` when the head
/// of the queue is not due, even if later rows are: order is kept.
pub async fn claim_next(
    pool: &AnyPool,
    channel: &ChannelId,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Option<Claimed>, OutboxError> {
    let now_ms = ms(now);
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let row = sqlx::query(
        "UPDATE alert_outbox SET status = 'sending', attempts = attempts + 1, \
           lease_until = $1 + $2, last_attempt_at = $1 \
         WHERE id = (SELECT id FROM alert_outbox \
                     WHERE channel = $3 AND status IN ('pending', 'sending') ORDER BY id LIMIT 1) \
           AND ((status = 'pending' AND next_attempt_at <= $1) \
             OR (status = 'sending' AND lease_until <= $1)) \
         RETURNING id, alert_json, attempts, created_at, last_error",
    )
    .bind(now_ms)
    .bind(lease_ms)
    .bind(channel.as_str())
    .fetch_optional(pool)
    .await
    .map_err(query("claim"))?;
    let Some(row) = row else { return Ok(None) };
    let id: i64 = row.get("id");
    let json: String = row.get("alert_json");
    let alert: Alert = serde_json::from_str(&json).map_err(|e| OutboxError::Corrupt {
        id,
        detail: e.to_string(),
    })?;
    Ok(Some(Claimed {
        id,
        alert,
        attempts: u32::try_from(row.get::<i64, _>("attempts")).unwrap_or(u32::MAX),
        created_at: from_ms(id, row.get("created_at"))?,
        last_error: row.get("last_error"),
    }))
}

/// When the head of `channel`'s queue becomes due, if it has one.
pub async fn next_due(
    pool: &AnyPool,
    channel: &ChannelId,
) -> Result<Option<DateTime<Utc>>, OutboxError> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT id, CASE status WHEN 'sending' THEN lease_until ELSE next_attempt_at END \
         FROM alert_outbox WHERE channel = $1 AND status IN ('pending', 'sending') \
         ORDER BY id LIMIT 1",
    )
    .bind(channel.as_str())
    .fetch_optional(pool)
    .await
    .map_err(query("look up the next due alert"))?;
    row.map(|(id, at)| from_ms(id, at)).transpose()
}

/// After a restart: rows this process's deliverer of `channel` was sending
/// when it stopped are due again now (no waiting for the lease). Returns
/// how many; they may reach the recipient twice.
pub async fn resume_interrupted(
    pool: &AnyPool,
    channel: &ChannelId,
    now: DateTime<Utc>,
) -> Result<u64, OutboxError> {
    // On a database several daemons share (PostgreSQL), a row `sending`
    // may be in the hands of another live instance: taking it back now
    // would send it twice. A dead deliverer's rows are taken over when
    // their lease runs out (`claim_next`) instead. With SQLite the daemon
    // is alone (its lock file), so every such row is this daemon's.
    let conn = pool
        .acquire()
        .await
        .map_err(query("resume interrupted deliveries"))?;
    if !conn.backend_name().eq_ignore_ascii_case("sqlite") {
        return Ok(0);
    }
    drop(conn);
    let done = sqlx::query(
        "UPDATE alert_outbox SET status = 'pending', next_attempt_at = $1, lease_until = NULL \
         WHERE channel = $2 AND status = 'sending'",
    )
    .bind(ms(now))
    .bind(channel.as_str())
    .execute(pool)
    .await
    .map_err(query("resume interrupted deliveries"))?;
    Ok(done.rows_affected())
}

/// At start (and reload): rows of `channel` waiting for a retry are due
/// now. A restart or reload is how an operator says "the channel is fixed"
/// (a new password, the SMTP server back), and nobody should wait out a
/// backoff of up to half an hour after that. Order and the give-up time are
/// kept; returns how many rows were brought forward.
pub async fn retry_now(
    pool: &AnyPool,
    channel: &ChannelId,
    now: DateTime<Utc>,
) -> Result<u64, OutboxError> {
    let done = sqlx::query(
        "UPDATE alert_outbox SET next_attempt_at = $1 \
         WHERE channel = $2 AND status = 'pending' AND next_attempt_at > $3",
    )
    .bind(ms(now))
    .bind(channel.as_str())
    .bind(ms(now))
    .execute(pool)
    .await
    .map_err(query("bring retries forward"))?;
    Ok(done.rows_affected())
}

pub async fn mark_delivered(
    pool: &AnyPool,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), OutboxError> {
    sqlx::query(
        "UPDATE alert_outbox SET status = 'delivered', finished_at = $1, lease_until = NULL \
         WHERE id = $2",
    )
    .bind(ms(now))
    .bind(id)
    .execute(pool)
    .await
    .map_err(query("mark delivered"))?;
    Ok(())
}

pub async fn mark_retry(
    pool: &AnyPool,
    id: i64,
    next_attempt_at: DateTime<Utc>,
    error: &str,
) -> Result<(), OutboxError> {
    sqlx::query(
        "UPDATE alert_outbox SET status = 'pending', next_attempt_at = $1, last_error = $2, \
           lease_until = NULL WHERE id = $3",
    )
    .bind(ms(next_attempt_at))
    .bind(error)
    .bind(id)
    .execute(pool)
    .await
    .map_err(query("schedule a retry"))?;
    Ok(())
}

pub async fn mark_failed(
    pool: &AnyPool,
    id: i64,
    now: DateTime<Utc>,
    error: &str,
) -> Result<(), OutboxError> {
    sqlx::query(
        "UPDATE alert_outbox SET status = 'failed', finished_at = $1, last_error = $2, \
           lease_until = NULL WHERE id = $3",
    )
    .bind(ms(now))
    .bind(error)
    .bind(id)
    .execute(pool)
    .await
    .map_err(query("mark failed"))?;
    Ok(())
}

/// The channels that have unfinished rows (pending or sending).
pub async fn unfinished_channels(pool: &AnyPool) -> Result<Vec<ChannelId>, OutboxError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT channel FROM alert_outbox WHERE status IN ('pending', 'sending') \
         ORDER BY channel",
    )
    .fetch_all(pool)
    .await
    .map_err(query("list channels with waiting alerts"))?;
    Ok(ids.into_iter().map(ChannelId::from_stored).collect())
}

/// Moves the unfinished rows of `from` to `to` (a channel whose identity
/// changed), keeping their order, attempts and give-up time. A row whose
/// alert already waits for `to` stays behind (the caller fails it as
/// unconfigured), so nothing is sent twice. Returns how many moved.
pub async fn rekey(pool: &AnyPool, from: &ChannelId, to: &ChannelId) -> Result<u64, OutboxError> {
    let done = sqlx::query(
        "UPDATE alert_outbox SET channel = $1 \
         WHERE channel = $2 AND status IN ('pending', 'sending') \
           AND NOT EXISTS (SELECT 1 FROM alert_outbox o \
                           WHERE o.alert_id = alert_outbox.alert_id AND o.channel = $1)",
    )
    .bind(to.as_str())
    .bind(from.as_str())
    .execute(pool)
    .await
    .map_err(query("move waiting alerts to a renamed channel"))?;
    Ok(done.rows_affected())
}

/// Rows of channels that are no longer configured would wait forever:
/// they are marked failed (and returned, for the error log) instead.
pub async fn fail_unconfigured(
    pool: &AnyPool,
    configured: &[ChannelId],
    now: DateTime<Utc>,
) -> Result<Vec<OutboxEntry>, OutboxError> {
    let unfinished = entries(pool, "status IN ('pending', 'sending')", i64::MAX).await?;
    let mut failed = Vec::new();
    for mut e in unfinished {
        if configured.contains(&e.channel) {
            continue;
        }
        let why = format!(
            "channel {} is no longer in the configuration; the alert was not sent there",
            e.channel
        );
        mark_failed(pool, e.id, now, &why).await?;
        e.status = "failed".into();
        e.last_error = Some(why);
        failed.push(e);
    }
    Ok(failed)
}

/// One outbox row as `certvigil status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub channel: ChannelId,
    pub kind: String,
    pub domain: String,
    pub severity: String,
    pub summary: String,
    /// pending | sending | delivered | failed
    pub status: String,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

async fn entries(
    pool: &AnyPool,
    filter: &'static str,
    limit: i64,
) -> Result<Vec<OutboxEntry>, OutboxError> {
    let sql = format!(
        "SELECT id, channel, kind, domain, severity, summary, status, attempts, created_at, \
         next_attempt_at, finished_at, last_error FROM alert_outbox WHERE {filter} \
         ORDER BY id DESC LIMIT $1"
    );
    // `filter` is one of the 'static clauses below, never user input.
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(query("list alerts"))?;
    rows.into_iter()
        .map(|r| {
            let id: i64 = r.get("id");
            Ok(OutboxEntry {
                id,
                channel: ChannelId::from_stored(r.get::<String, _>("channel")),
                kind: r.get("kind"),
                domain: r.get("domain"),
                severity: r.get("severity"),
                summary: r.get("summary"),
                status: r.get("status"),
                attempts: u32::try_from(r.get::<i64, _>("attempts")).unwrap_or(u32::MAX),
                created_at: from_ms(id, r.get("created_at"))?,
                next_attempt_at: from_ms(id, r.get("next_attempt_at"))?,
                finished_at: r
                    .get::<Option<i64>, _>("finished_at")
                    .map(|v| from_ms(id, v))
                    .transpose()?,
                last_error: r.get("last_error"),
            })
        })
        .collect()
}

/// Alerts given up on, newest first: `certvigil status` prints them.
pub async fn failed(pool: &AnyPool, limit: i64) -> Result<Vec<OutboxEntry>, OutboxError> {
    entries(pool, "status = 'failed'", limit).await
}

/// Alerts not yet delivered (waiting or being retried), newest first.
pub async fn undelivered(pool: &AnyPool, limit: i64) -> Result<Vec<OutboxEntry>, OutboxError> {
    entries(pool, "status IN ('pending', 'sending')", limit).await
}

/// How many rows each channel has in each status (`/metrics`).
pub async fn counts_by_channel(pool: &AnyPool) -> Result<Vec<(String, String, i64)>, OutboxError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT channel, status, count(*) FROM alert_outbox GROUP BY channel, status \
         ORDER BY channel, status",
    )
    .fetch_all(pool)
    .await
    .map_err(query("count alerts"))?;
    Ok(rows)
}

/// Every row, newest first (tests, debugging).
pub async fn all(pool: &AnyPool, limit: i64) -> Result<Vec<OutboxEntry>, OutboxError> {
    entries(pool, "1 = 1", limit).await
}

/// How long to wait before retrying, and when to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure; doubles with each failure after.
    pub first: Duration,
    /// The wait never grows beyond this.
    pub max: Duration,
    /// `alerts.give_up_after`, counted from when the alert was raised.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(30),
            max: Duration::from_secs(30 * 60),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// What to do with a row whose attempt just failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(DateTime<Utc>),
    GiveUp,
}

/// Exponential backoff with "equal jitter": half of the doubled wait is
/// fixed, half random (`jitter` in `[0, 1)`), so that many alerts failing at
/// once (a dead SMTP server) do not retry in lockstep. The last retry is
/// pulled in to the give-up time, so an alert is always tried at its
/// deadline before it is marked failed.
pub fn after_failure(
    policy: &RetryPolicy,
    attempts: u32,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
    jitter: f64,
) -> AfterFailure {
    let deadline = created_at
        + chrono::Duration::from_std(policy.give_up_after).unwrap_or(chrono::Duration::MAX);
    if now >= deadline {
        return AfterFailure::GiveUp;
    }
    let doublings = attempts.saturating_sub(1).min(30);
    let full = policy
        .first
        .saturating_mul(1u32 << doublings)
        .min(policy.max);
    let jitter = jitter.clamp(0.0, 1.0);
    let wait = full.mul_f64(0.5 + 0.5 * jitter);
    let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
    AfterFailure::RetryAt(at.min(deadline))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            first: Duration::from_secs(10),
            max: Duration::from_secs(60),
            give_up_after: Duration::from_secs(3600),
        };
        let waits: Vec<i64> = (1..=6)
            .map(|n| match after_failure(&p, n, t(0), t(0), 0.999_999) {
                AfterFailure::RetryAt(at) => (at - t(0)).num_seconds(),
                AfterFailure::GiveUp => -1,
            })
            .collect();
        assert_eq!(waits, [9, 19, 39, 59, 59, 59]);
    }

    #[test]
    fn jitter_keeps_at_least_half_the_wait() {
        let p = RetryPolicy::default();
        let AfterFailure::RetryAt(at) = after_failure(&p, 1, t(0), t(0), 0.0) else {
            panic!("expected a retry")
        };
        assert_eq!((at - t(0)).num_seconds(), 15);
    }

    #[test]
    fn gives_up_after_the_deadline_and_tries_at_it_first() {
        let p = RetryPolicy {
            first: Duration::from_secs(600),
            max: Duration::from_secs(600),
            give_up_after: Duration::from_secs(1000),
        };
        assert_eq!(
            after_failure(&p, 3, t(0), t(900), 0.5),
            AfterFailure::RetryAt(t(1000))
        );
        assert_eq!(
            after_failure(&p, 4, t(0), t(1000), 0.5),
            AfterFailure::GiveUp
        );
    }
}
