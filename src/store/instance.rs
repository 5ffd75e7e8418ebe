//! One database, one daemon: `certvigil run` holds an exclusive `flock(2)`
//! on `<database>.lock` for as long as it runs. A second daemon pointed at
//! the same file (another config, a forgotten test instance) would fail the
//! first one's waiting alerts as "channel no longer configured" and retire
//! its targets; it is refused at start instead. The kernel drops the lock
//! when the process dies, so a crash (or kill -9) leaves nothing to clean.
//!
//! The lock file also carries what `status` cannot read from the database
//! itself: the daemon's pid and whether its writes are failing (a database
//! that cannot be written cannot say so in its own tables). The record is
//! written in place over a fixed-size, preallocated block, so updating it
//! needs no new disk space when the disk is full.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

/// The record's size: one block, written in place.
const RECORD: usize = 1024;

/// How long a start waits for the lock: `status` takes a shared lock for a
/// moment to see whether a daemon runs, and that must not refuse a start.
const ACQUIRE_PATIENCE: Duration = Duration::from_millis(500);

#[derive(Debug, Error)]
pub enum InstanceError {
    #[error(
        "another certvigil daemon{pid} is already running on the database {database} (it holds {lock}); stop it first, or give this one another `database` under [daemon]"
    )]
    Busy {
        database: PathBuf,
        lock: PathBuf,
        pid: String,
    },
    #[error(
        "cannot create the lock file {lock}: {source}; check that the database's directory is writable by the user certvigil runs as"
    )]
    Io {
        lock: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `<database>.lock`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The running daemon's hold on its database.
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// Takes the lock or says who holds it.
    pub fn acquire(database: &Path) -> Result<InstanceLock, InstanceError> {
        let path = lock_path(database);
        let io = |source| InstanceError::Io {
            lock: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if start.elapsed() < ACQUIRE_PATIENCE => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => {
                    let pid = read_record(&path)
                        .and_then(|r| r.pid)
                        .map(|p| format!(" (pid {p})"))
                        .unwrap_or_default();
                    return Err(InstanceError::Busy {
                        database: database.to_owned(),
                        lock: path,
                        pid,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        let lock = InstanceLock {
            file,
            path: path.clone(),
        };
        lock.write_record(None).map_err(io)?;
        Ok(lock)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rewrites the record: this pid, and the storage-failing line if any.
    /// Errors are the caller's to ignore: the record is advisory.
    pub fn write_record(&self, storage_failing: Option<&str>) -> std::io::Result<()> {
        self.write_full_record(storage_failing, None)
    }

    /// [`InstanceLock::write_record`] with the latest panic of a
    /// background task (restarted by the supervisor), if any.
    pub fn write_full_record(
        &self,
        storage_failing: Option<&str>,
        task_panic: Option<&str>,
    ) -> std::io::Result<()> {
        let mut text = format!("pid={}\n", std::process::id());
        for (key, value) in [("storage=", storage_failing), ("task=", task_panic)] {
            if let Some(line) = value {
                // One line each, the whole cut to fit the block.
                let line: String = line.chars().filter(|c| !c.is_control()).take(400).collect();
                text.push_str(key);
                text.push_str(&line);
                text.push('\n');
            }
        }
        let mut bytes = text.into_bytes();
        bytes.truncate(RECORD - 1);
        bytes.resize(RECORD, b' ');
        bytes[RECORD - 1] = b'\n';
        self.file.write_all_at(&bytes, 0)
    }
}

/// What a running daemon says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DaemonRecord {
    pub pid: Option<u32>,
    /// Set while its writes fail.
    pub storage_failing: Option<String>,
    /// The latest panic of a background task (it was restarted).
    pub task_panic: Option<String>,
}

fn read_record(path: &Path) -> Option<DaemonRecord> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    let mut record = DaemonRecord::default();
    for line in text.lines() {
        if let Some(pid) = line.strip_prefix("pid=") {
            record.pid = pid.trim().parse().ok();
        } else if let Some(s) = line.strip_prefix("storage=") {
            record.storage_failing = Some(s.trim().to_string());
        } else if let Some(s) = line.strip_prefix("task=") {
            record.task_panic = Some(s.trim().to_string());
        }
    }
    Some(record)
}

/// The record of the daemon running on `database`, `None` when none runs
/// (nobody holds the lock; a leftover file from a stopped one is ignored).
pub fn running_daemon(database: &Path) -> Option<DaemonRecord> {
    let path = lock_path(database);
    let file = File::open(&path).ok()?;
    match file.try_lock_shared() {
        // Nobody holds it: no daemon. Dropping the file releases it.
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => read_record(&path),
        Err(TryLockError::Error(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_and_the_record_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let first = InstanceLock::acquire(&db).unwrap();
        let err = InstanceLock::acquire(&db).unwrap_err().to_string();
        assert!(
            err.contains("another certvigil daemon")
                && err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert_eq!(running_daemon(&db).unwrap().storage_failing, None);
        first
            .write_record(Some("storage failing since now"))
            .unwrap();
        assert_eq!(
            running_daemon(&db).unwrap().storage_failing.as_deref(),
            Some("storage failing since now")
        );
        first
            .write_full_record(None, Some("background task order poller panicked"))
            .unwrap();
        let record = running_daemon(&db).unwrap();
        assert_eq!(record.storage_failing, None);
        assert_eq!(
            record.task_panic.as_deref(),
            Some("background task order poller panicked")
        );
        drop(first);
        assert_eq!(running_daemon(&db), None, "released with the file");
        InstanceLock::acquire(&db).expect("free again");
    }
}
