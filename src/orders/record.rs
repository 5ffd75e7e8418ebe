//! What certvigil remembers about orders, in its store (SQLite or PostgreSQL)
//! (`migrations/0020_orders.sql`): each order, its status timeline, the CA
//! notices the user recorded, and the conditions already alerted.
//!
//! Writers take a `&mut AnyConnection` so the daemon can record an
//! observation, its conditions and the alerts they cause (the outbox) in one
//! transaction (docs/design.md "Nothing lost").
//!
//! Every change of an order's status or conditions is also an event in the
//! shared `events` table (check_kind `order`, migration 0042), so `history`
//! and the web timeline show orders among the other checks.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, AnyPool, Row};
use thiserror::Error;

use super::judge::{Notice, NoticeKind, OrderEvent, OrderEventKind, OrderHistory};
use super::{OrderKey, OrderObservation, Phase};

#[derive(Debug, Error)]
pub enum RecordError {
    #[error("database {what} failed: {source}")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "no order {given:?} is known: the daemon records orders when it first polls them; `certvigil orders list` shows the known ones (by source/id or name)"
    )]
    UnknownOrder { given: String },
    #[error("{given:?} names {count} orders ({candidates}); give the one you mean as source/id")]
    Ambiguous {
        given: String,
        count: usize,
        candidates: String,
    },
    #[error(
        "the database holds a value certvigil cannot read ({what}: {detail}); was it edited by hand?"
    )]
    Corrupt { what: &'static str, detail: String },
}

fn query(what: &'static str) -> impl FnOnce(sqlx::Error) -> RecordError {
    move |source| RecordError::Query { what, source }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored time, or the corruption it is.
fn from_ms(v: i64) -> Result<DateTime<Utc>, RecordError> {
    certvigil_core::millis::from_millis(v).map_err(|e| RecordError::Corrupt {
        what: "a stored time",
        detail: e.to_string(),
    })
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrder {
    pub id: i64,
    pub key: OrderKey,
    pub kind: String,
    pub display_name: String,
    pub ca: String,
    pub names: Vec<String>,
    pub phase: Phase,
    pub status_code: String,
    pub status_label: String,
    /// Since when the current status holds.
    pub status_since: DateTime<Utc>,
    pub placed_at: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    pub last_polled: DateTime<Utc>,
    pub last_error: Option<String>,
    pub observation: Option<OrderObservation>,
}

/// One status of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub status_code: String,
    pub label: String,
    pub phase: Phase,
    pub since: DateTime<Utc>,
    /// `None` while it holds.
    pub until: Option<DateTime<Utc>>,
}

/// A condition that holds and was alerted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveCondition {
    pub kind: OrderEventKind,
    pub fingerprint: String,
    pub severity: String,
    pub summary: String,
    pub since: DateTime<Utc>,
}

/// What changed in an order's conditions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transitions {
    /// New conditions, or old ones whose cause changed: alert these.
    pub raised: Vec<OrderEvent>,
    /// The `events` row of each of `raised`, in the same order (for the
    /// alert's `event_id`).
    pub raised_events: Vec<i64>,
    /// Conditions that no longer hold.
    pub cleared: Vec<ActiveCondition>,
    /// The `events` row of each of `cleared`, in the same order.
    pub cleared_events: Vec<i64>,
}

/// Words an order condition's events carry in `before_status`/`after_status`.
pub const HOLDING: &str = "holding";
pub const CLEARED: &str = "cleared";
/// The event kind of a change of an order's status.
pub const STATUS_EVENT: &str = "order_status";

/// One change of an order in the shared timeline (`events`, check_kind
/// `order`); returns its id.
#[allow(clippy::too_many_arguments)]
async fn record_event(
    conn: &mut AnyConnection,
    order_id: i64,
    at: DateTime<Utc>,
    kind: &str,
    before_status: Option<&str>,
    after_status: &str,
    blocks: bool,
    detail: &str,
) -> Result<i64, RecordError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO events (order_id, check_kind, at, kind, before_status, after_status, blocks, detail) \
         VALUES ($1, 'order', $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(order_id)
    .bind(ms(at))
    .bind(kind)
    .bind(before_status)
    .bind(after_status)
    .bind(i64::from(blocks))
    .bind(detail)
    .fetch_one(&mut *conn)
    .await
    .map_err(query("recording an order event"))?;
    Ok(id)
}

/// Records one observation: upserts the order and extends its timeline
/// when the status changed. Returns the order's id and what the judge needs
/// of its past. The first status of a newly seen order is taken to hold
/// since the order was placed, when the source says when that was (it
/// cannot have begun earlier, and the user counts from there).
pub async fn record_observation(
    conn: &mut AnyConnection,
    obs: &OrderObservation,
    now: DateTime<Utc>,
) -> Result<(i64, OrderHistory), RecordError> {
    let json = serde_json::to_string(obs).expect("observations serialize");
    let names = serde_json::to_string(
        &obs.names
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
    )
    .expect("names serialize");
    let ca = obs
        .ca
        .as_ref()
        .map(|c| c.display.clone())
        .unwrap_or_else(|| obs.ca_label.clone());
    // Two writers may record the same order at once: two instances on one
    // PostgreSQL (a poll that outlived its source's claim), or `orders
    // notice` recording a manual order beside the daemon. SQLite runs one
    // write transaction at a time; PostgreSQL does not, so the order's row
    // is locked before its status is read. The UPDATE waits for a writer
    // holding the row and returns the status that writer committed; a new
    // order's INSERT waits for a concurrent insert of the same key and then
    // does nothing, and the row it committed is locked and read instead.
    // (A plain SELECT read the old status, or no row, and both writers
    // recorded the change, or the second failed on the unique key.)
    let (order_id, previous) = loop {
        let locked: Option<(i64, String)> = sqlx::query_as(
            "UPDATE orders SET last_polled = $1 WHERE source = $2 AND external_id = $3 \
             RETURNING id, status_code",
        )
        .bind(ms(now))
        .bind(&obs.key.source)
        .bind(&obs.key.id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(query("locking an order"))?;
        if let Some((id, code)) = locked {
            sqlx::query(
                "UPDATE orders SET display_name = $1, ca = $2, names = $3, phase = $4, status_code = $5, \
                 status_label = $6, placed_at = $7, last_polled = $8, observation_json = $9, \
                 last_error = NULL, last_error_at = NULL WHERE id = $10",
            )
            .bind(&obs.display_name)
            .bind(&ca)
            .bind(&names)
            .bind(obs.status.phase.as_str())
            .bind(&obs.status.code)
            .bind(&obs.status.label)
            .bind(obs.placed_at.map(ms))
            .bind(ms(now))
            .bind(&json)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(query("updating an order"))?;
            break (id, Some(code));
        }
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO orders (source, external_id, kind, display_name, ca, names, phase, \
             status_code, status_label, placed_at, first_seen, last_polled, observation_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (source, external_id) DO NOTHING RETURNING id",
        )
        .bind(&obs.key.source)
        .bind(&obs.key.id)
        .bind(obs.kind.as_str())
        .bind(&obs.display_name)
        .bind(&ca)
        .bind(&names)
        .bind(obs.status.phase.as_str())
        .bind(&obs.status.code)
        .bind(&obs.status.label)
        .bind(obs.placed_at.map(ms))
        .bind(ms(now))
        .bind(ms(now))
        .bind(&json)
        .fetch_optional(&mut *conn)
        .await
        .map_err(query("inserting an order"))?;
        if let Some(id) = inserted {
            break (id, None);
        }
        // Another writer inserted it and committed (orders are never
        // deleted): the next round locks and reads its row.
    };
    let changed = previous
        .as_ref()
        .is_none_or(|code| *code != obs.status.code);
    if changed {
        let since = match &previous {
            None => obs.placed_at.filter(|p| *p < now).unwrap_or(now),
            Some(_) => now,
        };
        sqlx::query("UPDATE order_statuses SET until = $1 WHERE order_id = $2 AND until IS NULL")
            .bind(ms(now))
            .bind(order_id)
            .execute(&mut *conn)
            .await
            .map_err(query("closing a status"))?;
        sqlx::query(
            "INSERT INTO order_statuses (order_id, status_code, label, phase, since) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(order_id)
        .bind(&obs.status.code)
        .bind(&obs.status.label)
        .bind(obs.status.phase.as_str())
        .bind(ms(since))
        .execute(&mut *conn)
        .await
        .map_err(query("opening a status"))?;
        let before = previous.as_deref();
        record_event(
            &mut *conn,
            order_id,
            since,
            STATUS_EVENT,
            before,
            &obs.status.code,
            false,
            &obs.status.label,
        )
        .await?;
    }
    let status_since = current_status_since(&mut *conn, order_id)
        .await?
        .unwrap_or(now);
    let notices = notices_of(&mut *conn, order_id).await?;
    Ok((
        order_id,
        OrderHistory {
            status_since,
            notices,
        },
    ))
}

async fn current_status_since(
    conn: &mut AnyConnection,
    order_id: i64,
) -> Result<Option<DateTime<Utc>>, RecordError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT since FROM order_statuses WHERE order_id = $1 AND until IS NULL ORDER BY since DESC LIMIT 1",
    )
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(query("reading the current status"))?;
    row.map(|(s,)| from_ms(s)).transpose()
}

/// Records that polling an order failed (the order keeps its last status).
pub async fn record_poll_error(
    pool: &AnyPool,
    key: &OrderKey,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), RecordError> {
    sqlx::query(
        "UPDATE orders SET last_error = $1, last_error_at = $2 WHERE source = $3 AND external_id = $4",
    )
    .bind(error)
    .bind(ms(now))
    .bind(&key.source)
    .bind(&key.id)
    .execute(pool)
    .await
    .map_err(query("recording a poll error"))?;
    Ok(())
}

/// How the last poll of one order source went (`order_sources`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePoll {
    pub source: String,
    pub last_polled: DateTime<Utc>,
    pub last_ok: Option<DateTime<Utc>>,
    /// Set while the source's last poll failed.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// Records how a source's poll went: `Err(message)` when it failed before
/// it could list its orders (a refused key, an unreachable API), `Ok`
/// clears a previous failure.
pub async fn record_source_poll(
    pool: &AnyPool,
    source: &str,
    outcome: Result<(), &str>,
    now: DateTime<Utc>,
) -> Result<(), RecordError> {
    let q = match outcome {
        Ok(()) => sqlx::query(
            "INSERT INTO order_sources (source, last_polled, last_ok) VALUES ($1, $2, $2) \
             ON CONFLICT (source) DO UPDATE SET last_polled = $2, last_ok = $2, last_error = NULL, last_error_at = NULL",
        )
        .bind(source)
        .bind(ms(now)),
        Err(error) => sqlx::query(
            "INSERT INTO order_sources (source, last_polled, last_error, last_error_at) VALUES ($1, $2, $3, $2) \
             ON CONFLICT (source) DO UPDATE SET last_polled = $2, last_error = $3, last_error_at = $2",
        )
        .bind(source)
        .bind(ms(now))
        .bind(error),
    };
    q.execute(pool)
        .await
        .map_err(query("recording a source poll"))?;
    Ok(())
}

/// Every source polled so far, by name.
pub async fn source_polls(pool: &AnyPool) -> Result<Vec<SourcePoll>, RecordError> {
    let rows = sqlx::query(
        "SELECT source, last_polled, last_ok, last_error, last_error_at FROM order_sources ORDER BY source",
    )
    .fetch_all(pool)
    .await
    .map_err(query("reading source polls"))?;
    rows.iter()
        .map(|r| {
            Ok(SourcePoll {
                source: r.get("source"),
                last_polled: from_ms(r.get("last_polled"))?,
                last_ok: r
                    .get::<Option<i64>, _>("last_ok")
                    .map(from_ms)
                    .transpose()?,
                last_error: r.get("last_error"),
                last_error_at: r
                    .get::<Option<i64>, _>("last_error_at")
                    .map(from_ms)
                    .transpose()?,
            })
        })
        .collect()
}

/// The notices of an order, oldest first.
pub async fn notices_of(
    conn: &mut AnyConnection,
    order_id: i64,
) -> Result<Vec<Notice>, RecordError> {
    let rows =
        sqlx::query("SELECT at, kind, note FROM order_notices WHERE order_id = $1 ORDER BY at, id")
            .bind(order_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(query("reading notices"))?;
    rows.iter()
        .map(|r| {
            let kind: String = r.get("kind");
            Ok(Notice {
                at: from_ms(r.get("at"))?,
                kind: NoticeKind::parse(&kind).ok_or(RecordError::Corrupt {
                    what: "order_notices.kind",
                    detail: kind.clone(),
                })?,
                note: r.get("note"),
            })
        })
        .collect()
}

/// Records a CA notice for an order.
pub async fn add_notice(
    pool: &AnyPool,
    order_id: i64,
    notice: &Notice,
    now: DateTime<Utc>,
) -> Result<(), RecordError> {
    sqlx::query(
        "INSERT INTO order_notices (order_id, at, kind, note, recorded_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(order_id)
    .bind(ms(notice.at))
    .bind(notice.kind.as_str())
    .bind(&notice.note)
    .bind(ms(now))
    .execute(pool)
    .await
    .map_err(query("recording a notice"))?;
    Ok(())
}

const ORDER_COLUMNS: &str = "o.id, o.source, o.external_id, o.kind, o.display_name, o.ca, o.names, o.phase, \
     o.status_code, o.status_label, o.placed_at, o.first_seen, o.last_polled, o.last_error, o.observation_json, \
     (SELECT since FROM order_statuses s WHERE s.order_id = o.id AND s.until IS NULL ORDER BY since DESC LIMIT 1) AS status_since";

fn order_of(r: &sqlx::any::AnyRow) -> Result<StoredOrder, RecordError> {
    let phase: String = r.get("phase");
    let names: String = r.get("names");
    let json: String = r.get("observation_json");
    let first_seen = from_ms(r.get("first_seen"))?;
    Ok(StoredOrder {
        id: r.get("id"),
        key: OrderKey::new(
            r.get::<String, _>("source"),
            r.get::<String, _>("external_id"),
        ),
        kind: r.get("kind"),
        display_name: r.get("display_name"),
        ca: r.get("ca"),
        names: serde_json::from_str(&names).map_err(|e| RecordError::Corrupt {
            what: "orders.names",
            detail: e.to_string(),
        })?,
        phase: Phase::parse(&phase).ok_or(RecordError::Corrupt {
            what: "orders.phase",
            detail: phase.clone(),
        })?,
        status_code: r.get("status_code"),
        status_label: r.get("status_label"),
        status_since: r
            .get::<Option<i64>, _>("status_since")
            .map_or(Ok(first_seen), from_ms)?,
        placed_at: r
            .get::<Option<i64>, _>("placed_at")
            .map(from_ms)
            .transpose()?,
        first_seen,
        last_polled: from_ms(r.get("last_polled"))?,
        last_error: r.get("last_error"),
        // An observation written by another version may not read back; the
        // summary columns still do.
        observation: serde_json::from_str(&json).ok(),
    })
}

/// Every order, pending first, then by name.
pub async fn list_orders(pool: &AnyPool) -> Result<Vec<StoredOrder>, RecordError> {
    // ORDER_COLUMNS is a constant: nothing from outside enters the SQL.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders o ORDER BY o.source, o.display_name, o.external_id"
    )))
    .fetch_all(pool)
    .await
    .map_err(query("listing orders"))?;
    let mut out = rows.iter().map(order_of).collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|o| !o.phase.is_pending());
    Ok(out)
}

/// The ids of a source's orders still pending, to poll again even when the
/// source no longer lists them as pending (so their end is seen).
pub async fn pending_ids(pool: &AnyPool, source: &str) -> Result<Vec<String>, RecordError> {
    Ok(list_orders(pool)
        .await?
        .into_iter()
        .filter(|o| o.key.source == source && o.phase.is_pending())
        .map(|o| o.key.id)
        .collect())
}

/// Finds an order by `source/id`, by id, or by display name.
pub async fn find_order(pool: &AnyPool, given: &str) -> Result<StoredOrder, RecordError> {
    let all = list_orders(pool).await?;
    let exact: Vec<&StoredOrder> = all.iter().filter(|o| o.key.to_string() == given).collect();
    let matches: Vec<&StoredOrder> = if exact.is_empty() {
        all.iter()
            .filter(|o| o.key.id == given || o.display_name == given)
            .collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(RecordError::UnknownOrder {
            given: given.to_string(),
        }),
        many => Err(RecordError::Ambiguous {
            given: given.to_string(),
            count: many.len(),
            candidates: many
                .iter()
                .map(|o| o.key.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The status timeline of an order, oldest first.
pub async fn timeline(pool: &AnyPool, order_id: i64) -> Result<Vec<TimelineEntry>, RecordError> {
    let rows = sqlx::query(
        "SELECT status_code, label, phase, since, until FROM order_statuses WHERE order_id = $1 ORDER BY since, id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await
    .map_err(query("reading a timeline"))?;
    rows.iter()
        .map(|r| {
            let phase: String = r.get("phase");
            Ok(TimelineEntry {
                status_code: r.get("status_code"),
                label: r.get("label"),
                phase: Phase::parse(&phase).ok_or(RecordError::Corrupt {
                    what: "order_statuses.phase",
                    detail: phase.clone(),
                })?,
                since: from_ms(r.get("since"))?,
                until: r.get::<Option<i64>, _>("until").map(from_ms).transpose()?,
            })
        })
        .collect()
}

/// The conditions that hold for an order.
pub async fn active_conditions(
    conn: &mut AnyConnection,
    order_id: i64,
) -> Result<Vec<ActiveCondition>, RecordError> {
    let rows = sqlx::query(
        "SELECT kind, fingerprint, severity, summary, since FROM order_conditions WHERE order_id = $1 ORDER BY kind",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(query("reading conditions"))?;
    rows.iter()
        .map(|r| {
            let kind: String = r.get("kind");
            Ok(ActiveCondition {
                kind: OrderEventKind::parse(&kind).ok_or(RecordError::Corrupt {
                    what: "order_conditions.kind",
                    detail: kind.clone(),
                })?,
                fingerprint: r.get("fingerprint"),
                severity: r.get("severity"),
                summary: r.get("summary"),
                since: from_ms(r.get("since"))?,
            })
        })
        .collect()
}

/// Replaces an order's conditions with `now_holding` and says what changed:
/// a condition alerts when its kind is new or its fingerprint changed (a
/// different cause), and is cleared when it no longer holds.
pub async fn update_conditions(
    conn: &mut AnyConnection,
    order_id: i64,
    now_holding: &[OrderEvent],
    now: DateTime<Utc>,
) -> Result<Transitions, RecordError> {
    let before = active_conditions(&mut *conn, order_id).await?;
    let mut out = Transitions::default();
    for old in &before {
        if !now_holding.iter().any(|e| e.kind == old.kind) {
            sqlx::query("DELETE FROM order_conditions WHERE order_id = $1 AND kind = $2")
                .bind(order_id)
                .bind(old.kind.as_str())
                .execute(&mut *conn)
                .await
                .map_err(query("clearing a condition"))?;
            let id = record_event(
                &mut *conn,
                order_id,
                now,
                old.kind.as_str(),
                Some(HOLDING),
                CLEARED,
                false,
                &old.summary,
            )
            .await?;
            out.cleared.push(old.clone());
            out.cleared_events.push(id);
        }
    }
    for e in now_holding {
        let same = before
            .iter()
            .any(|old| old.kind == e.kind && old.fingerprint == e.fingerprint);
        if same {
            continue;
        }
        sqlx::query(
            "INSERT INTO order_conditions (order_id, kind, fingerprint, severity, summary, since, alerted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (order_id, kind) DO UPDATE SET \
             fingerprint = excluded.fingerprint, severity = excluded.severity, summary = excluded.summary, \
             since = excluded.since, alerted_at = excluded.alerted_at",
        )
        .bind(order_id)
        .bind(e.kind.as_str())
        .bind(&e.fingerprint)
        .bind(e.severity.as_str())
        .bind(&e.summary)
        .bind(ms(e.since))
        .bind(ms(now))
        .execute(&mut *conn)
        .await
        .map_err(query("recording a condition"))?;
        // A changed cause of a condition that held is holding -> holding:
        // a change, with the new summary.
        let held = before.iter().any(|old| old.kind == e.kind);
        let id = record_event(
            &mut *conn,
            order_id,
            now,
            e.kind.as_str(),
            held.then_some(HOLDING),
            HOLDING,
            e.severity == crate::findings::Severity::Blocking,
            &e.summary,
        )
        .await?;
        out.raised.push(e.clone());
        out.raised_events.push(id);
    }
    Ok(out)
}

/// The notices of the order with `key`, empty when it is not stored yet.
pub async fn notices_for_key(
    conn: &mut AnyConnection,
    key: &OrderKey,
) -> Result<Vec<Notice>, RecordError> {
    let id: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM orders WHERE source = $1 AND external_id = $2")
            .bind(&key.source)
            .bind(&key.id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(query("reading an order"))?;
    match id {
        Some((id,)) => notices_of(conn, id).await,
        None => Ok(Vec::new()),
    }
}
