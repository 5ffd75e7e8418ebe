//! `certvigil store copy`: moves a whole history from one store to another
//! (typically an SQLite file to PostgreSQL), keeping every row and its id:
//! targets, observations, events, state, runs, reports, the alert outbox
//! and the orders. Both stores must have the same schema version; the
//! destination must hold no history yet. One transaction on the
//! destination: it gets all of it or none.
//!
//! The instances and leases of several daemons are not copied: they
//! describe processes, not history.

use super::tx;
use super::{Backend, Store, StoreError};
use sqlx::Row;

/// The kind of a column's values (the stores keep only these).
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
    Blob,
}
use Kind::{Blob, Int, Text};

/// Every table of the history, parents before children, with its columns.
/// The last flag says whether the table has an `id` identity to move on.
/// A table: its name, its columns, whether it has an `id` identity.
type Table = (&'static str, &'static [(&'static str, Kind)], bool);

const TABLES: &[Table] = &[
    (
        "targets",
        &[
            ("id", Int),
            ("domain", Text),
            ("wildcard", Int),
            ("ca", Text),
            ("created_at", Int),
            ("retired_at", Int),
        ],
        true,
    ),
    (
        "observations",
        &[
            ("id", Int),
            ("target_id", Int),
            ("check_kind", Text),
            ("fingerprint", Blob),
            ("verdict", Text),
            ("verdict_json", Text),
            ("first_seen", Int),
        ],
        true,
    ),
    (
        "orders",
        &[
            ("id", Int),
            ("source", Text),
            ("external_id", Text),
            ("kind", Text),
            ("display_name", Text),
            ("ca", Text),
            ("names", Text),
            ("phase", Text),
            ("status_code", Text),
            ("status_label", Text),
            ("placed_at", Int),
            ("first_seen", Int),
            ("last_polled", Int),
            ("observation_json", Text),
            ("last_error", Text),
            ("last_error_at", Int),
        ],
        true,
    ),
    (
        "events",
        &[
            ("id", Int),
            ("target_id", Int),
            ("order_id", Int),
            ("at", Int),
            ("kind", Text),
            ("before_status", Text),
            ("after_status", Text),
            ("before_observation", Int),
            ("after_observation", Int),
            ("blocks", Int),
            ("detail", Text),
            ("check_kind", Text),
        ],
        true,
    ),
    (
        "check_state",
        &[
            ("target_id", Int),
            ("check_kind", Text),
            ("status", Text),
            ("blocks", Int),
            ("since", Int),
            ("observation_id", Int),
            ("last_checked", Int),
            ("checks", Int),
            ("consecutive_errors", Int),
            ("last_error", Text),
            ("last_error_at", Int),
            ("alert_memory", Text),
        ],
        false,
    ),
    (
        "runs",
        &[
            ("started_at", Int),
            ("target_id", Int),
            ("duration_ms", Int),
            ("outcome", Int),
        ],
        false,
    ),
    (
        "run_days",
        &[
            ("target_id", Int),
            ("day", Int),
            ("checks", Int),
            ("errors", Int),
            ("total_ms", Int),
            ("max_ms", Int),
        ],
        false,
    ),
    (
        "caa_rrsets",
        &[("domain", Text), ("rrset_json", Text), ("updated_at", Int)],
        false,
    ),
    (
        "target_reports",
        &[
            ("target_id", Int),
            ("report_json", Text),
            ("checked_at", Int),
        ],
        false,
    ),
    (
        "alert_outbox",
        &[
            ("id", Int),
            ("alert_id", Text),
            ("channel", Text),
            ("event_id", Int),
            ("kind", Text),
            ("domain", Text),
            ("severity", Text),
            ("summary", Text),
            ("alert_json", Text),
            ("status", Text),
            ("attempts", Int),
            ("created_at", Int),
            ("next_attempt_at", Int),
            ("lease_until", Int),
            ("last_attempt_at", Int),
            ("last_error", Text),
            ("finished_at", Int),
        ],
        true,
    ),
    (
        "order_statuses",
        &[
            ("id", Int),
            ("order_id", Int),
            ("status_code", Text),
            ("label", Text),
            ("phase", Text),
            ("since", Int),
            ("until", Int),
        ],
        true,
    ),
    (
        "order_notices",
        &[
            ("id", Int),
            ("order_id", Int),
            ("at", Int),
            ("kind", Text),
            ("note", Text),
            ("recorded_at", Int),
        ],
        true,
    ),
    (
        "order_conditions",
        &[
            ("order_id", Int),
            ("kind", Text),
            ("fingerprint", Text),
            ("severity", Text),
            ("summary", Text),
            ("since", Int),
            ("alerted_at", Int),
        ],
        false,
    ),
    (
        "order_sources",
        &[
            ("source", Text),
            ("last_polled", Int),
            ("last_ok", Int),
            ("last_error", Text),
            ("last_error_at", Int),
        ],
        false,
    ),
];

/// How many rows of each table were copied (and found at the destination).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<(&'static str, u64)>,
}

async fn count(store: &Store, table: &str) -> Result<i64, StoreError> {
    // Table names come from the constant list above.
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&store.pool)
        .await
        .map_err(StoreError::query("counting rows"))
}

/// Copies every row of `from` into `to` (see the module comment).
pub async fn copy(from: &Store, to: &Store) -> Result<CopyReport, StoreError> {
    // Each engine numbers its own migrations: both must be at this
    // build's newest, so the tables above are exactly theirs.
    for store in [from, to] {
        let found = store.schema_version().await?.unwrap_or(0);
        let known = store.backend.latest_known_version();
        if found != known {
            return Err(StoreError::Copy(format!(
                "{} has schema version {found}, this certvigil's is {known}; run `certvigil store migrate` with a config naming it first",
                store.path.display()
            )));
        }
    }
    for (table, _, _) in TABLES {
        if count(to, table).await? > 0 {
            return Err(StoreError::Copy(format!(
                "{} already holds rows in {table}; copy into an empty database",
                to.path.display()
            )));
        }
    }
    let mut report = CopyReport::default();
    let mut dest = tx::immediate(&to.pool, "copying a history")
        .await
        .map_err(StoreError::query("starting the copy"))?;
    for (table, columns, _) in TABLES {
        let names = columns.iter().map(|(c, _)| *c).collect::<Vec<_>>();
        let select = format!("SELECT {} FROM {table}", names.join(", "));
        let placeholders = (1..=names.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let insert = format!(
            "INSERT INTO {table} ({}) VALUES ({placeholders})",
            names.join(", ")
        );
        // Both statements are built from the constant list above.
        let rows = sqlx::query(sqlx::AssertSqlSafe(select))
            .fetch_all(&from.pool)
            .await
            .map_err(StoreError::query("reading rows to copy"))?;
        for row in &rows {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
            for (i, (_, kind)) in columns.iter().enumerate() {
                let bad = |e: sqlx::Error| StoreError::Corrupt {
                    what: "a row to copy",
                    detail: format!("{table}: {e}"),
                };
                q = match kind {
                    Int => q.bind(row.try_get::<Option<i64>, _>(i).map_err(bad)?),
                    Text => q.bind(row.try_get::<Option<String>, _>(i).map_err(bad)?),
                    Blob => q.bind(row.try_get::<Option<Vec<u8>>, _>(i).map_err(bad)?),
                };
            }
            q.execute(&mut *dest)
                .await
                .map_err(StoreError::query("writing a copied row"))?;
        }
        report.tables.push((table, rows.len() as u64));
    }
    if to.backend == Backend::Postgres {
        // Rows came with their ids: new rows must be numbered after them.
        for (table, _, identity) in TABLES {
            if *identity {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *dest)
                    .await
                    .map_err(StoreError::query("moving an id sequence on"))?;
            }
        }
    }
    dest.commit()
        .await
        .map_err(StoreError::query("committing the copy"))?;
    for (table, copied) in &report.tables {
        let found = count(to, table).await?;
        if found != *copied as i64 {
            return Err(StoreError::Copy(format!(
                "{table}: {copied} rows copied, {found} found after"
            )));
        }
    }
    Ok(report)
}
