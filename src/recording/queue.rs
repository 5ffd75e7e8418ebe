//! The recording task: checks hand their results to one task, which
//! records them in batches ([`super::record_batch`]: one transaction, a
//! few multi-row statements) instead of one transaction of about ten
//! statements per domain. On SQLite every statement is a round trip to
//! sqlx's worker thread, and those wake-ups were most of a cycle's CPU.
//!
//! A batch is what is waiting when the task is free, plus what arrives
//! within [`LINGER`] of its first check, up to [`MAX_BATCH`] domains: a
//! busy cycle fills batches, a quiet one records each check at once.
//!
//! Each check still waits for its own result: [`RecordingQueue::record`]
//! returns once its batch committed (or failed), so a lease on a shared
//! database is released, the deliverers woken and the events logged
//! after the commit, as before; SIGTERM's drain waits for running checks,
//! and so for their batch. A batch that fails is retried domain by domain,
//! each in its own transaction: one domain's failure (a corrupt row) does
//! not cost the others their history or their alerts, and a failing disk
//! fails each as it did before (retried next cycle; storage health shows
//! it). Alerts are decided in the transaction that records their state,
//! so a retry decides them afresh from what is stored: never twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Alerting, DomainCheck, RecordedChecks, record_batch};
use crate::store::{Store, StoreError};

/// The most domains one transaction records.
pub const MAX_BATCH: usize = 128;

/// How long a batch waits for more checks after its first one.
pub const LINGER: Duration = Duration::from_millis(5);

/// Where a check's alert policy and channels come from (the daemon's
/// settings, which a reload replaces: checks under different settings are
/// never in one batch).
pub trait AlertingSource: Send + Sync {
    fn alerting(&self) -> Alerting<'_>;
}

struct Job {
    check: DomainCheck,
    alerting: Arc<dyn AlertingSource>,
    reply: oneshot::Sender<Result<RecordedChecks, StoreError>>,
}

/// The handle checks record through; the task ends when every handle is
/// dropped and the queue is empty.
#[derive(Clone)]
pub struct RecordingQueue {
    tx: mpsc::Sender<Job>,
}

impl RecordingQueue {
    /// Starts the recording task on `store` (restarted after a panic, the
    /// checks of the batch it was writing told to run again).
    pub fn start(store: Store) -> RecordingQueue {
        Self::start_with(store, MAX_BATCH, LINGER)
    }

    /// [`RecordingQueue::start`] with another batch size and linger (a
    /// test makes a batch of exactly `max_batch` with a long linger).
    pub fn start_with(store: Store, max_batch: usize, linger: Duration) -> RecordingQueue {
        let (tx, rx) = mpsc::channel(max_batch.max(1) * 2);
        let rx = Arc::new(Mutex::new(rx));
        crate::supervise::spawn("recording", move || {
            run(store.clone(), rx.clone(), max_batch.max(1), linger)
        });
        RecordingQueue { tx }
    }

    /// Records `check` in the next batch; returns once that batch is
    /// committed (or failed), with what was written for this check.
    pub async fn record(
        &self,
        check: DomainCheck,
        alerting: Arc<dyn AlertingSource>,
    ) -> Result<RecordedChecks, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job {
                check,
                alerting,
                reply,
            })
            .await
            .map_err(|_| StoreError::RecordingStopped)?;
        answer.await.map_err(|_| StoreError::RecordingStopped)?
    }
}

async fn run(
    store: Store,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    max_batch: usize,
    linger: Duration,
) {
    let mut rx = rx.lock().await;
    loop {
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + linger;
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(job)) => batch.push(job),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        // Checks under one reload's settings together, in arrival order.
        while !batch.is_empty() {
            let same = batch
                .iter()
                .take_while(|j| Arc::ptr_eq(&j.alerting, &batch[0].alerting))
                .count();
            let rest = batch.split_off(same);
            write(&store, batch).await;
            batch = rest;
        }
    }
}

/// Records `jobs` (same settings) in one transaction and answers each; on
/// failure, each again alone (see the module comment).
async fn write(store: &Store, jobs: Vec<Job>) {
    let alerting = jobs[0].alerting.clone();
    let (checks, replies): (Vec<DomainCheck>, Vec<_>) =
        jobs.into_iter().map(|j| (j.check, j.reply)).unzip();
    let result = record_batch(store, &checks, &alerting.alerting(), Utc::now()).await;
    match result {
        Ok(recorded) => {
            for (reply, r) in replies.into_iter().zip(recorded) {
                // The check was cancelled (shutdown): it is recorded anyway.
                let _ = reply.send(Ok(r));
            }
        }
        Err(e) if checks.len() == 1 => {
            let _ = replies.into_iter().next().map(|r| r.send(Err(e)));
        }
        Err(e) => {
            tracing::debug!(
                domains = checks.len(),
                error = %e,
                "a batch of checks could not be recorded; recording each alone"
            );
            for (check, reply) in checks.into_iter().zip(replies) {
                let one = record_batch(
                    store,
                    std::slice::from_ref(&check),
                    &alerting.alerting(),
                    Utc::now(),
                )
                .await
                .map(|mut r| r.pop().unwrap_or_default());
                let _ = reply.send(one);
            }
        }
    }
}
