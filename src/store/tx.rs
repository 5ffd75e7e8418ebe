//! Write transactions that cannot wedge the pool, and whether writes work.
//!
//! sqlx's `Transaction` counts its depth on the connection. When COMMIT
//! fails on an I/O error or a full disk, SQLite has already rolled the
//! transaction back; sqlx's rollback on drop then fails too ("no
//! transaction is active"), the counter stays at 1, and the connection goes
//! back to the pool where every later `begin` fails with "attempted to call
//! begin_with at non-zero transaction depth". With four connections, four
//! failed commits wedged the daemon for good.
//!
//! [`immediate`] issues `BEGIN IMMEDIATE` and `COMMIT` itself, so sqlx keeps
//! no count, and a transaction that did not commit (a failed statement, a
//! failed COMMIT, a cancelled future) never returns its connection to the
//! pool: the connection is closed instead, which makes SQLite roll back
//! whatever is left, and the pool opens a fresh one when needed.
//!
//! The same module keeps the process's view of storage health: a failed
//! BEGIN, statement or COMMIT makes it "failing" (logged once, with the
//! cause), the next successful COMMIT makes it healthy again. The daemon
//! shows it in `status` and in the sd-notify STATUS line.

use std::ops::{Deref, DerefMut};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};
use tokio::sync::watch;

/// An open `BEGIN IMMEDIATE` transaction on a pooled connection. Use it as
/// a connection (`&mut *tx`); finish it with [`ImmediateTx::commit`].
/// Dropped without a successful commit, it closes its connection rather
/// than returning it to the pool.
pub struct ImmediateTx {
    conn: PoolConnection<Any>,
    what: &'static str,
    open: bool,
}

/// Starts a write transaction. IMMEDIATE takes the write lock up front: a
/// deferred transaction that reads then writes can fail with SQLITE_BUSY
/// when another connection wrote in between, which busy_timeout cannot fix.
/// `what` names the write in the storage-failing message.
pub async fn immediate(pool: &AnyPool, what: &'static str) -> Result<ImmediateTx, sqlx::Error> {
    let mut conn = match pool.acquire().await {
        Ok(c) => c,
        Err(e) => {
            note_failure(what, &e);
            return Err(e);
        }
    };
    // PostgreSQL has no IMMEDIATE: its writers lock rows, not the file,
    // and do not fail with SQLITE_BUSY.
    let begin = if conn.backend_name().eq_ignore_ascii_case("sqlite") {
        "BEGIN IMMEDIATE"
    } else {
        "BEGIN"
    };
    match sqlx::query(begin).execute(&mut *conn).await {
        Ok(_) => Ok(ImmediateTx {
            conn,
            what,
            open: true,
        }),
        Err(e) => {
            // No transaction was started, but the connection's state after
            // an I/O error is not worth trusting: close it.
            conn.close_on_drop();
            note_failure(what, &e);
            Err(e)
        }
    }
}

impl ImmediateTx {
    /// COMMIT. On failure the transaction is gone either way (SQLite rolls
    /// back on I/O errors and a full disk; otherwise closing the connection
    /// does), and storage is reported failing until a later commit works.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        match sqlx::query("COMMIT").execute(&mut *self.conn).await {
            Ok(_) => {
                self.open = false;
                note_success();
                Ok(())
            }
            Err(e) => {
                note_failure(self.what, &e);
                Err(e)
            }
        }
    }

    /// ROLLBACK, keeping the connection if that works.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("ROLLBACK").execute(&mut *self.conn).await?;
        self.open = false;
        Ok(())
    }
}

impl Deref for ImmediateTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for ImmediateTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

impl Drop for ImmediateTx {
    fn drop(&mut self) {
        if self.open {
            // A statement failed (the caller returned early) or the future
            // was cancelled: the connection may be inside a transaction, or
            // SQLite may have ended it already. Either way it must not be
            // reused; closing it rolls back what is left.
            self.conn.close_on_drop();
        }
    }
}

/// Storage is failing: since when, why (the first failure's cause), and
/// how many writes failed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    pub since: DateTime<Utc>,
    pub cause: String,
    pub failures: u64,
}

impl Failing {
    /// One line for `status` and sd-notify: "storage failing since ...".
    pub fn line(&self) -> String {
        format!(
            "storage failing since {} ({} failed writes): {}; checks are retried each cycle and alerts are kept until writes succeed",
            self.since.format("%Y-%m-%d %H:%M:%S UTC"),
            self.failures,
            self.cause
        )
    }
}

static HEALTH: LazyLock<watch::Sender<Option<Failing>>> =
    LazyLock::new(|| watch::Sender::new(None));

/// Watches storage health: `None` while writes succeed.
pub fn health() -> watch::Receiver<Option<Failing>> {
    HEALTH.subscribe()
}

/// Whether the last write failed.
pub fn failing() -> Option<Failing> {
    HEALTH.borrow().clone()
}

/// Records a failed write. Returns true when it is the first since writes
/// last worked; that one is logged here at ERROR with its cause, the rest
/// only at DEBUG (a full disk would otherwise log once per check).
pub fn note_failure(what: &str, cause: &dyn std::fmt::Display) -> bool {
    let mut first = false;
    HEALTH.send_modify(|state| match state {
        Some(f) => f.failures += 1,
        None => {
            first = true;
            *state = Some(Failing {
                since: Utc::now(),
                cause: format!("{what}: {cause}"),
                failures: 1,
            });
        }
    });
    if first {
        tracing::error!(
            "storage failing: {what}: {cause}; the check is retried next cycle, waiting alerts are kept"
        );
    } else {
        tracing::debug!("storage still failing: {what}: {cause}");
    }
    first
}

/// Records a successful commit; logs the recovery once.
pub fn note_success() {
    if HEALTH.borrow().is_none() {
        return;
    }
    let mut was = None;
    HEALTH.send_if_modified(|state| {
        was = state.take();
        was.is_some()
    });
    if let Some(f) = was {
        tracing::info!(
            failed_writes = f.failures,
            since = %f.since,
            "storage writes succeed again"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::any::AnyPoolOptions;

    /// A one-connection pool on a real file, with a deferred foreign key:
    /// a COMMIT that fails deterministically (the violation is checked at
    /// COMMIT) while the transaction stays open in SQLite.
    async fn pool(dir: &tempfile::TempDir) -> AnyPool {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        sqlx::query(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY,
                parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool
    }

    async fn count(pool: &AnyPool) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM child")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_failed_commit_never_hands_a_transaction_to_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir).await;
        // More failures than the pool has connections.
        for _ in 0..3 {
            let mut tx = immediate(&pool, "test").await.unwrap();
            sqlx::query("INSERT INTO child (parent) VALUES (42)")
                .execute(&mut *tx)
                .await
                .unwrap();
            let err = tx.commit().await.unwrap_err().to_string();
            assert!(err.contains("FOREIGN KEY"), "{err}");
            assert!(failing().is_some());
        }
        // The next write starts a fresh transaction and commits; the
        // failed ones left nothing behind.
        let mut tx = immediate(&pool, "test").await.unwrap();
        sqlx::query("INSERT INTO parent (id) VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("INSERT INTO child (parent) VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&pool).await, 1);
    }

    #[tokio::test]
    async fn a_transaction_dropped_after_a_failed_statement_is_rolled_back_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir).await;
        {
            let mut tx = immediate(&pool, "test").await.unwrap();
            sqlx::query("INSERT INTO parent (id) VALUES (7)")
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query("INSERT INTO nowhere VALUES (1)")
                .execute(&mut *tx)
                .await
                .unwrap_err();
            // Dropped here, as a `?` would.
        }
        let mut tx = immediate(&pool, "test").await.unwrap();
        let parents: i64 = sqlx::query_scalar("SELECT count(*) FROM parent")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(parents, 0, "the abandoned insert was rolled back");
        tx.commit().await.unwrap();
    }
}
