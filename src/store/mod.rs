//! The database: SQLite through sqlx, schema in `migrations/`, applied when
//! the daemon opens it. The daemon is the only writer; `status` and
//! `history` read the same file while it runs (WAL mode). Or PostgreSQL,
//! chosen by a `postgres://` URL (`backend`; schema in
//! `migrations/postgres/`), which several daemons share (`leases`).
//!
//! Storage model (history grows with changes, not with checks), the same
//! for every check (`check_kind` tells them apart; migration 0030):
//! - `targets`: one row per (name, wildcard, CA); never deleted, retired
//!   when the config drops them.
//! - `check_state`: the current state of each (target, check), rewritten in
//!   place, with what the alert policy remembers about it.
//! - `observations`: each distinct observed state of a (target, check),
//!   stored once (deduplicated by the check's fingerprint), with the
//!   judge's full verdict.
//! - `events`: state changes of every check, one timeline, pointing at the
//!   before/after observations; never pruned.
//! - `runs`: one ~20-byte row per raw check run, pruned after the retention
//!   period into `run_days` (one row per target and day).
//! - `caa_rrsets`: the CAA record set each domain was last seen with (what
//!   `caa_drift` compares).
//! - `alert_outbox` (`crate::alert::outbox`): written in the check's
//!   transaction (`record`), pruned after delivery past the retention.
//!
//! The store persists and decides nothing: `crate::recording` runs the pure
//! alert policy above it.
//!
//! `target_reports` holds each target's latest `check --format json` report
//! (`reports`), rewritten in place when it changed.

mod backend;
mod checks;
pub mod copy;
mod days;
pub mod instance;
mod leases;
mod queries;
mod reach;
mod record;
mod reports;
mod retention;
mod rows;
pub mod tx;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{MigrateError, Migrator};
use thiserror::Error;

pub use backend::{Backend, Location};

pub use days::OutcomeDay;
pub use leases::{Claim, InstanceRow};
pub use queries::{HistoryEntry, HistoryFilter, StatusRow};
pub use reach::ReachStatusRow;
pub use record::{
    AnyObserved, ObservationRef, PlannedEvent, PriorState, RecordedState, Recorder, RunRow,
    StatePlan, plan_state,
};
pub use reports::StoredReport;
pub use retention::PruneReport;

use crate::domain::DomainName;

/// The SQLite schema, compiled in (see build.rs for the rebuild trigger).
/// `migrate!` reads only the files of `migrations/`, not its
/// subdirectories, so the PostgreSQL schema below is not part of it.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The PostgreSQL schema: the SQLite schema as of its migration 0032 in
/// PostgreSQL's dialect, then the tables several daemons share a database
/// with (instances, leases). Numbered like the SQLite migrations they
/// mirror.
pub static PG_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a connection waits for another writer before giving up. The
/// daemon's transactions are short; this covers a `status` reader's
/// checkpoint and a busy disk.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum StoreError {
    #[error(
        "cannot open the database {path}: {source}; check that its directory exists and is writable by the user certvigil runs as"
    )]
    Open { path: PathBuf, source: sqlx::Error },
    #[error(
        "there is no database at {path}: the daemon (`certvigil run`) creates it on its first start; check `database` under [daemon] in the config"
    )]
    Missing { path: PathBuf },
    #[error(
        "cannot upgrade the database {path} to this certvigil's schema: {source}; the file is unchanged (each migration is one transaction)"
    )]
    Migrate { path: PathBuf, source: MigrateError },
    #[error(
        "the database {path} was written by a newer certvigil (schema version {found}, this one knows up to {known}); run the newer certvigil, or point `database` at another file"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "the database {path} has schema version {found} and this certvigil expects {known}: it is upgraded when the daemon (`certvigil run`) next starts"
    )]
    TooOld {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "{path} is not a certvigil database (it has no schema version table); check `database` under [daemon] in the config"
    )]
    NotCertvigil { path: PathBuf },
    #[error(
        "the database URL {url} holds a password; name it with PGPASSWORD (environment) or a password file (PGPASSFILE, ~/.pgpass) instead, so it is never in the config or a log"
    )]
    PasswordInUrl { url: String },
    #[error("the database URL {url} cannot be read: {detail}")]
    BadUrl { url: String, detail: String },
    #[error("cannot copy the history: {0}")]
    Copy(String),
    #[error("database {what} failed: {source}")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Outbox(#[from] crate::alert::outbox::OutboxError),
    #[error(
        "the recording task stopped before this check was recorded; the check runs again next cycle"
    )]
    RecordingStopped,
    #[error(
        "the database holds a value certvigil cannot read ({what}: {detail}); was it edited by hand?"
    )]
    Corrupt { what: &'static str, detail: String },
}

impl StoreError {
    pub(crate) fn query(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { what, source }
    }
}

/// What identifies a target: a name, whether the certificate is a wildcard,
/// and the CA (its catalogue name, or the issuer domain given).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    pub domain: DomainName,
    pub wildcard: bool,
    pub ca: String,
}

impl TargetKey {
    /// `*.example.com` or `example.com`.
    pub fn cert_name(&self) -> String {
        if self.wildcard {
            format!("*.{}", self.domain)
        } else {
            self.domain.to_string()
        }
    }
}

/// A target as stored, with the id checks are recorded under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: i64,
    pub key: TargetKey,
    /// Whether it has never been checked (no state yet).
    pub never_checked: bool,
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// The SQLite file, or the PostgreSQL URL without its password (what
    /// messages name).
    path: PathBuf,
    backend: Backend,
}

/// A pool on `location`; `create` lets SQLite create a missing file.
async fn connect(location: &Location, create: bool, max: u32) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let url = location.url(create);
    let options = AnyPoolOptions::new().max_connections(max);
    match location.backend() {
        Backend::Sqlite => {
            options
                // Each open connection holds its parsed schema, prepared
                // statements and page cache (most of a MiB): the ones a
                // cycle or a page opened close once idle, one stays.
                .min_connections(1)
                .idle_timeout(crate::memory::IDLE_CONNECTION)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL lets `status` and `history` read while the
                        // daemon writes; NORMAL sync is durable across
                        // process crashes and only risks the last
                        // transactions on power loss, which the next check
                        // redoes.
                        for pragma in [
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            // Each connection's page cache (SQLite's default
                            // is 2 MiB) stays full between cycles; the WAL
                            // file and the OS page cache serve the rereads,
                            // so a small one costs little.
                            "PRAGMA cache_size = -256",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                        let busy = format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis());
                        sqlx::query(sqlx::AssertSqlSafe(busy))
                            .execute(&mut *conn)
                            .await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await
        }
        Backend::Postgres => options.connect(&url).await,
    }
}

impl Store {
    /// Opens (creating if needed) the database and upgrades its schema to
    /// this version's: a file written by an older certvigil is migrated in
    /// place, never discarded. For the daemon.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let location = Location::parse(path)?;
        let path = &location.display_path();
        let max = match location.backend() {
            Backend::Sqlite => 4,
            // Checks run concurrently (claims, lease renewals, recording)
            // and PostgreSQL writers do not wait for one another as
            // SQLite's do: a pool as wide as a typical `concurrency`.
            Backend::Postgres => 32,
        };
        let pool = connect(&location, true, max)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
        let migrator = location.backend().migrator();
        if let Err(source) = migrator.run(&pool).await {
            pool.close().await;
            return Err(match source {
                MigrateError::VersionMissing(found) => StoreError::TooNew {
                    path: path.to_owned(),
                    found,
                    known: location.backend().latest_known_version(),
                },
                source => StoreError::Migrate {
                    path: path.to_owned(),
                    source,
                },
            });
        }
        Ok(Store {
            pool,
            path: path.to_owned(),
            backend: location.backend(),
        })
    }

    /// Opens an existing database for `status` and `history`, without
    /// creating or migrating it: a reader must not change the schema under
    /// a running daemon.
    pub async fn open_existing(path: &Path) -> Result<Store, StoreError> {
        let location = Location::parse(path)?;
        let path = &location.display_path();
        if location.backend() == Backend::Sqlite && !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_owned(),
            });
        }
        let pool = connect(&location, false, 1)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
        let store = Store {
            pool,
            path: path.to_owned(),
            backend: location.backend(),
        };
        let found = store.schema_version().await?;
        let known = location.backend().latest_known_version();
        let err = match found {
            None => Some(StoreError::NotCertvigil {
                path: path.to_owned(),
            }),
            Some(found) if found > known => Some(StoreError::TooNew {
                path: path.to_owned(),
                found,
                known,
            }),
            Some(found) if found < known => Some(StoreError::TooOld {
                path: path.to_owned(),
                found,
                known,
            }),
            Some(_) => None,
        };
        match err {
            Some(e) => {
                store.close().await;
                Err(e)
            }
            None => Ok(store),
        }
    }

    /// The highest migration applied, `None` when the file has no sqlx
    /// migration table at all.
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        let has_table: Option<(String,)> = sqlx::query_as(match self.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT tablename::text FROM pg_catalog.pg_tables
                 WHERE schemaname = current_schema() AND tablename = '_sqlx_migrations'"
            }
        })
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("reading the schema version"))?;
        if has_table.is_none() {
            return Ok(None);
        }
        let (version,): (Option<i64>,) =
            sqlx::query_as("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::query("reading the schema version"))?;
        Ok(Some(version.unwrap_or(0)))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection pool, for modules that keep their own tables in the
    /// same database (the alert outbox).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database engine holds the store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Waits for in-flight queries and closes every connection, which lets
    /// SQLite checkpoint the WAL into the main file.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The newest SQLite schema version this build knows.
pub fn latest_known_version() -> i64 {
    Backend::Sqlite.latest_known_version()
}

/// Times are stored as Unix milliseconds (`certvigil_core::millis`).
pub(crate) use certvigil_core::millis::to_millis;

/// A stored time, or the corruption it is.
pub(crate) fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    certvigil_core::millis::from_millis(ms).map_err(|e| StoreError::Corrupt {
        what: "a stored time",
        detail: e.to_string(),
    })
}
