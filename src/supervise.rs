//! Background tasks that survive their own panics. The daemon's long-lived
//! tasks (the order poller, each channel's deliverer, the scheduler's
//! dispatcher) run under [`spawn`]: a panic is logged at error level,
//! remembered for `status` (through the lock file's record), and the task
//! is started again after a short backoff, instead of the work silently
//! stopping until the next restart.

use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The first restart waits this long; each further one twice as long, up
/// to [`MAX_BACKOFF`], so a task that panics at once does not spin.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The wait before restarting a task that panicked after running for
/// `ran`: `current` (doubled after each restart), unless the task ran well
/// for longer than the longest backoff, which starts from `first` again:
/// an old burst of panics must not delay the recovery from a new,
/// unrelated one by a minute.
fn backoff_after(current: Duration, first: Duration, ran: Duration) -> Duration {
    if ran > MAX_BACKOFF { first } else { current }
}

/// The latest panic of a supervised task, one line for `status`.
fn last_panic() -> &'static watch::Sender<Option<String>> {
    static LAST: OnceLock<watch::Sender<Option<String>>> = OnceLock::new();
    LAST.get_or_init(|| watch::channel(None).0)
}

/// Follows the latest panic line (`None` until a task panicked).
pub fn panics() -> watch::Receiver<Option<String>> {
    last_panic().subscribe()
}

/// How many times each task was restarted, for tests and logs.
static RESTARTS: Mutex<Vec<(&'static str, u32)>> = Mutex::new(Vec::new());

pub fn restarts(name: &str) -> u32 {
    RESTARTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, c)| *c)
}

/// Runs `make()` as a task, and again after each panic. Ends when a run
/// returns. Aborting the returned handle aborts the running attempt too.
pub fn spawn<F, Fut>(name: &'static str, make: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    spawn_with_backoff(name, FIRST_BACKOFF, make)
}

/// [`spawn`] with the first backoff given (tests use a short one).
pub fn spawn_with_backoff<F, Fut>(
    name: &'static str,
    first: Duration,
    mut make: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut backoff = first;
        loop {
            let started = tokio::time::Instant::now();
            let attempt = tokio::spawn(make());
            // Aborting this supervisor drops the guard, which aborts the
            // attempt: shutdown's abort reaches the real work.
            let guard = AbortOnDrop(attempt.abort_handle());
            let result = attempt.await;
            drop(guard);
            match result {
                Ok(()) => return,
                Err(e) if e.is_panic() => {
                    let payload = e.into_panic();
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic without a message".into());
                    let line = format!(
                        "background task {name} panicked at {}: {message}; restarted",
                        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
                    );
                    tracing::error!(task = name, panic = %message, restart_in = ?backoff,
                        "a background task panicked; restarting it");
                    last_panic().send_replace(Some(line));
                    {
                        let mut restarts = RESTARTS.lock().unwrap_or_else(|e| e.into_inner());
                        match restarts.iter_mut().find(|(n, _)| *n == name) {
                            Some((_, c)) => *c += 1,
                            None => restarts.push((name, 1)),
                        }
                    }
                    backoff = backoff_after(backoff, first, started.elapsed());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                // Cancelled from outside (a runtime shutting down).
                Err(_) => return,
            }
        }
    })
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_panicking_task_is_logged_remembered_and_restarted() {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let mut panics = panics();
        let task = spawn_with_backoff("test-task", Duration::from_millis(10), move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("boom");
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("ends after the third run")
            .unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert_eq!(restarts("test-task"), 2);
        let line = panics.borrow_and_update().clone().unwrap();
        assert!(
            line.contains("test-task panicked") && line.contains("boom"),
            "{line}"
        );
    }

    #[test]
    fn the_backoff_doubles_in_a_burst_and_starts_again_after_a_long_healthy_run() {
        let first = Duration::from_secs(1);
        let quick = Duration::from_millis(5);
        // A burst of panics: 1 s, 2 s, 4 s, ... up to the cap.
        assert_eq!(backoff_after(first, first, quick), first);
        assert_eq!(
            backoff_after(Duration::from_secs(4), first, quick),
            Duration::from_secs(4)
        );
        // Healthy for longer than the longest backoff, then a new panic:
        // the first backoff again, not the minute the old burst reached.
        assert_eq!(
            backoff_after(MAX_BACKOFF, first, Duration::from_secs(120)),
            first
        );
        assert_eq!(
            backoff_after(MAX_BACKOFF, first, Duration::from_secs(30)),
            MAX_BACKOFF
        );
    }

    #[tokio::test]
    async fn aborting_the_supervisor_stops_the_task() {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let task = spawn("forever", move || {
            let counter = counter.clone();
            async move {
                loop {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        task.abort();
        let _ = task.await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let after = runs.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(runs.load(Ordering::SeqCst), after, "still running");
    }
}
