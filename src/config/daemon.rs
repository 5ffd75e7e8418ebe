//! `[daemon]`: the database, the schedule, concurrency, jitter, retention.
//! Its raw form (as serde reads it), its resolution (each problem at its
//! line:column with its key) and its typed result live here; `resolve`
//! only dispatches.

use super::fields::{cron, duration};
use super::problem::Problems;
use super::raw::Text;
use super::schedule::{CronSchedule, parse_duration};
use super::{DATABASE_FILE_NAME, DEFAULT_SCHEDULE};
use serde::Deserialize;
use serde_spanned::Spanned;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDaemon {
    pub database: Option<Spanned<PathBuf>>,
    pub schedule: Option<Text>,
    pub concurrency: Option<Spanned<usize>>,
    pub jitter: Option<Text>,
    pub retention: Option<Text>,
    pub allow_no_domains: Option<Spanned<bool>>,
}

/// `[daemon]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// The SQLite database. Default: `$STATE_DIRECTORY/certvigil.db` when
    /// started by systemd with `StateDirectory=`, else `./certvigil.db`
    /// (see [`default_database_path`]).
    pub database: PathBuf,
    /// When every target is re-checked (unless a domain has its own).
    pub schedule: CronSchedule,
    /// Checks in flight at once. Default 64.
    pub concurrency: usize,
    /// Each target's check starts after a random delay of up to this, so
    /// thousands of targets sharing a schedule do not hit the name servers
    /// in the same second. Default 30s.
    pub jitter: Duration,
    /// How long raw check runs are kept; state changes are kept forever.
    /// Default 14 days.
    pub retention: Duration,
    /// `allow_no_domains = true`: a SIGHUP reload may bring a config
    /// without `[[domains]]`. Off by default: an emptied or truncated file
    /// would otherwise retire every target and fail every waiting alert.
    pub allow_no_domains: bool,
}

/// The database path when `[daemon] database` is absent: the first entry
/// of systemd's `STATE_DIRECTORY` (it may list several, colon-separated),
/// else `./certvigil.db`.
pub fn default_database_path(state_directory: Option<&OsStr>) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let first = state_directory
        .and_then(|dirs| dirs.as_bytes().split(|b| *b == b':').next())
        .filter(|dir| !dir.is_empty());
    match first {
        Some(dir) => Path::new(OsStr::from_bytes(dir)).join(DATABASE_FILE_NAME),
        None => Path::new(".").join(DATABASE_FILE_NAME),
    }
}

const DEFAULT_CONCURRENCY: usize = 64;
const DEFAULT_JITTER: Duration = Duration::from_secs(30);
// 14 days keeps a year of 15-minute checks of 1,000 domains near 35 MiB
// (benches/storage.rs); change events are kept whatever this says.
const DEFAULT_RETENTION: Duration = Duration::from_secs(14 * 86_400);

/// `[daemon]` with nothing written.
pub(super) fn defaults(state_directory: Option<&OsStr>) -> DaemonConfig {
    DaemonConfig {
        database: default_database_path(state_directory),
        schedule: CronSchedule::parse(DEFAULT_SCHEDULE).expect("the default schedule is valid"),
        concurrency: DEFAULT_CONCURRENCY,
        jitter: DEFAULT_JITTER,
        retention: DEFAULT_RETENTION,
        allow_no_domains: false,
    }
}

pub(super) fn resolve_daemon(raw: RawDaemon, out: &mut DaemonConfig, p: &mut Problems<'_>) {
    if let Some(db) = raw.database {
        if db.get_ref().as_os_str().is_empty() {
            p.on(
                &db,
                "daemon.database",
                "the path is empty; remove the key for the default or name a file",
            );
        } else {
            out.database = db.into_inner();
        }
    }
    if let Some(s) = raw
        .schedule
        .as_ref()
        .and_then(|t| cron(t, "daemon.schedule", p))
    {
        out.schedule = s;
    }
    if let Some(c) = raw.concurrency {
        if *c.get_ref() == 0 {
            p.on(
                &c,
                "daemon.concurrency",
                "0 checks at once would check nothing; give at least 1",
            );
        } else {
            out.concurrency = *c.get_ref();
        }
    }
    if let Some(j) = raw.jitter.as_ref() {
        // Zero jitter is legitimate: it turns spreading off.
        match parse_duration(j.get_ref()) {
            Ok(d) => out.jitter = d,
            Err(e) => p.on(j, "daemon.jitter", e.to_string()),
        }
    }
    if let Some(d) = raw
        .retention
        .as_ref()
        .and_then(|t| duration(t, "daemon.retention", p))
    {
        out.retention = d;
    }
    if let Some(a) = raw.allow_no_domains {
        out.allow_no_domains = *a.get_ref();
    }
}
