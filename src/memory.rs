//! Giving memory back between cycles (issue 15: idle RSS). A cycle or a
//! status page allocates megabytes that are all freed when it ends, but
//! glibc's malloc keeps freed memory in its arenas (one per thread that
//! allocated, up to eight per core) instead of returning it: the daemon
//! would sit at its peak between cycles. So the daemon limits the arenas
//! and, when a cycle completes or the web interface has answered, trims
//! them (`malloc_trim` returns every free page, not only the heap's top).
//! Elsewhere than glibc these are no-ops.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;

/// At most this many malloc arenas: the daemon's threads (two tokio
/// workers, one per SQLite connection, blocking DNS-free helpers) contend
/// little, and every extra arena keeps its own free memory.
const ARENAS: i32 = 2;

/// Call before any thread is started (arenas are made as threads first
/// allocate).
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; M_ARENA_MAX takes
    // any positive count.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Returns the free memory of every arena to the system now.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim walks the allocator's own free lists under its
    // locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How long after the last [`trim_soon`] a trim waits: a burst of
/// requests is trimmed after, not between.
pub const QUIET: Duration = Duration::from_millis(500);

/// How long a database connection beyond the first stays open unused
/// (`Store::open`). A second trim follows a little after, for what the
/// connections closed by then held.
pub const IDLE_CONNECTION: Duration = Duration::from_secs(5);

/// When the second trim comes: the pool's reaper runs every
/// [`IDLE_CONNECTION`], so a connection idle since the cycle ended is
/// closed at most twice that after.
const SECOND_TRIM: Duration = Duration::from_secs(11);

static WAKE: OnceLock<Arc<Notify>> = OnceLock::new();

/// Starts the task that trims after [`trim_soon`] (on the blocking pool: a
/// trim of a large heap takes a few milliseconds). Once per process, on the
/// daemon's runtime; it ends with the runtime.
pub fn start_trimming() {
    let wake = Arc::new(Notify::new());
    if WAKE.set(wake.clone()).is_err() {
        return;
    }
    tokio::spawn(async move {
        loop {
            wake.notified().await;
            // Each new call restarts the wait.
            while tokio::time::timeout(QUIET, wake.notified()).await.is_ok() {}
            let _ = tokio::task::spawn_blocking(trim).await;
            match tokio::time::timeout(SECOND_TRIM, wake.notified()).await {
                Err(_) => {
                    let _ = tokio::task::spawn_blocking(trim).await;
                }
                // Busy again: start over as if woken now.
                Ok(()) => wake.notify_one(),
            }
        }
    });
}

/// Something freed a lot (a cycle ended, a page was sent): trim once
/// things are quiet. Nothing before [`start_trimming`].
pub fn trim_soon() {
    if let Some(wake) = WAKE.get() {
        wake.notify_one();
    }
}
