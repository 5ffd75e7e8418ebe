//! Deliverers: one task per channel takes that channel's rows from the
//! outbox, sends them, and retries with backoff. Being separate tasks, a
//! dead SMTP server never delays a webhook, and a slow webhook never delays
//! mail.
//!
//! A task wakes when told that rows were enqueued ([`Waker::wake`], called
//! by the daemon after committing), when the head of its queue comes due,
//! and at least every `poll` (in case another process enqueued). After a
//! restart it resumes from the table: nothing lives only in memory.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::AnyPool;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::outbox::{self, AfterFailure, OutboxError, RetryPolicy};
use super::{Channel, ChannelId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverConfig {
    pub retry: RetryPolicy,
    /// How long a claim holds before another deliverer may take the row
    /// (longer than any single attempt's timeouts).
    pub lease: Duration,
    /// Look at the table at least this often even when not woken.
    pub poll: Duration,
}

impl Default for DeliverConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            lease: Duration::from_secs(5 * 60),
            poll: Duration::from_secs(60),
        }
    }
}

impl DeliverConfig {
    /// Defaults, with `alerts.give_up_after` from the configuration.
    pub fn from_config(alerts: &crate::config::AlertsConfig) -> Self {
        let mut cfg = Self::default();
        cfg.retry.give_up_after = alerts.give_up_after;
        cfg
    }
}

/// What one delivery attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        id: i64,
    },
    Retry {
        id: i64,
        at: DateTime<Utc>,
        error: String,
    },
    Failed {
        id: i64,
        error: String,
    },
}

/// Claims the head of `channel`'s queue if due, sends it once, and records
/// the result. `None`: nothing was due. The building block of the task
/// loop, public so tests can drive it with their own clock.
pub async fn deliver_one(
    pool: &AnyPool,
    channel: &Channel,
    cfg: &DeliverConfig,
    now: DateTime<Utc>,
    jitter: f64,
) -> Result<Option<Outcome>, OutboxError> {
    let id = channel.id();
    let Some(row) = outbox::claim_next(pool, id, now, cfg.lease).await? else {
        return Ok(None);
    };
    let alert = &row.alert;
    match channel.send(alert).await {
        Ok(()) => {
            outbox::mark_delivered(pool, row.id, Utc::now().max(now)).await?;
            tracing::info!(channel = %id, alert = %alert.id, event = alert.kind.as_str(),
                domain = %alert.domain, attempts = row.attempts, "alert delivered");
            Ok(Some(Outcome::Delivered { id: row.id }))
        }
        Err(e) => {
            let error = e.to_string();
            match outbox::after_failure(&cfg.retry, row.attempts, row.created_at, now, jitter) {
                AfterFailure::RetryAt(at) => {
                    outbox::mark_retry(pool, row.id, at, &error).await?;
                    tracing::warn!(channel = %id, alert = %alert.id, event = alert.kind.as_str(),
                        domain = %alert.domain, attempts = row.attempts, retry_at = %at,
                        "alert delivery failed, will retry: {error}");
                    Ok(Some(Outcome::Retry {
                        id: row.id,
                        at,
                        error,
                    }))
                }
                AfterFailure::GiveUp => {
                    let why = format!(
                        "gave up after {} attempts over {}: {error}",
                        row.attempts,
                        humantime::format_duration(cfg.retry.give_up_after)
                    );
                    outbox::mark_failed(pool, row.id, now, &why).await?;
                    tracing::error!(channel = %id, alert = %alert.id, event = alert.kind.as_str(),
                        domain = %alert.domain, summary = %alert.summary,
                        "alert NOT delivered, {why}; it is listed by `certvigil status`");
                    Ok(Some(Outcome::Failed {
                        id: row.id,
                        error: why,
                    }))
                }
            }
        }
    }
}

/// Tells the deliverers that rows were enqueued. Cheap to clone; call
/// [`Waker::wake`] after the transaction that enqueued them committed.
#[derive(Debug, Clone, Default)]
pub struct Waker {
    notifies: Vec<Arc<Notify>>,
}

impl Waker {
    pub fn wake(&self) {
        for n in &self.notifies {
            // notify_one stores a permit, so a wake while the task is busy
            // sending is not lost.
            n.notify_one();
        }
    }
}

/// The running deliverer tasks.
pub struct Deliverers {
    waker: Waker,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Deliverers {
    /// Starts one task per channel. First fails the unfinished rows of
    /// channels no longer configured (loudly), and makes rows that were
    /// being sent when the previous process stopped, or that wait for a
    /// retry, due at once.
    pub async fn start(
        pool: AnyPool,
        channels: Vec<Channel>,
        cfg: DeliverConfig,
    ) -> Result<Self, OutboxError> {
        let now = Utc::now();
        let ids: Vec<ChannelId> = channels.iter().map(|c| c.id().clone()).collect();
        follow_changed_channels(&pool, &channels).await?;
        for e in outbox::fail_unconfigured(&pool, &ids, now).await? {
            tracing::error!(channel = %e.channel, domain = %e.domain, event = %e.kind,
                summary = %e.summary, "alert NOT delivered: its channel was removed from the configuration");
        }
        let (stop, stop_rx) = watch::channel(false);
        let mut waker = Waker::default();
        let mut tasks = Vec::new();
        for channel in channels {
            let resumed = outbox::resume_interrupted(&pool, channel.id(), now).await?;
            if resumed > 0 {
                tracing::warn!(channel = %channel.id(), count = resumed,
                    "resuming alerts whose delivery was interrupted by a stop; recipients may see them twice");
            }
            let waiting = outbox::retry_now(&pool, channel.id(), now).await?;
            if waiting > 0 {
                tracing::info!(channel = %channel.id(), count = waiting,
                    "retrying undelivered alerts now rather than after their backoff");
            }
            let notify = Arc::new(Notify::new());
            waker.notifies.push(notify.clone());
            let stop_rx = stop_rx.clone();
            let pool = pool.clone();
            tasks.push(crate::supervise::spawn("alert deliverer", move || {
                run(
                    pool.clone(),
                    channel.clone(),
                    cfg,
                    notify.clone(),
                    stop_rx.clone(),
                )
            }));
        }
        Ok(Self { waker, stop, tasks })
    }

    /// No tasks: what runs while one set is replaced by another.
    pub fn idle() -> Self {
        let (stop, _) = watch::channel(false);
        Self {
            waker: Waker::default(),
            stop,
            tasks: Vec::new(),
        }
    }

    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Lets each task finish the attempt in flight for up to `grace`,
    /// then cancels it: a webhook or SMTP server that hangs must not hold
    /// up a stop (systemd would kill us) or a reload. A cancelled row stays
    /// `sending`; the next start (or the deliverers a reload starts) makes
    /// it due again at once, so it is retried, not lost.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        let mut cancelled = 0;
        for mut t in self.tasks {
            if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
                t.abort();
                let _ = t.await;
                cancelled += 1;
            }
        }
        if cancelled > 0 {
            tracing::warn!(
                channels = cancelled,
                "alert deliveries still in flight at shutdown were cancelled; they are retried after the restart"
            );
        }
    }
}

/// Where the waiting rows of a channel id that is no longer configured
/// should go, if anywhere: the configured channel that an older certvigil
/// stored under that (hash) id, else the only configured channel of the
/// same kind (its name changed, or a nameless webhook moved to another
/// host). With several candidates nothing is guessed.
pub fn successor<'a>(stale: &ChannelId, channels: &'a [Channel]) -> Option<&'a Channel> {
    if let Some(c) = channels.iter().find(|c| &c.legacy_id() == stale) {
        return Some(c);
    }
    let mut same_kind = channels.iter().filter(|c| c.id().kind() == stale.kind());
    match (same_kind.next(), same_kind.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// Re-keys the waiting rows of channel ids no longer configured to their
/// [`successor`], so a fixed URL or a renamed channel does not fail them.
async fn follow_changed_channels(pool: &AnyPool, channels: &[Channel]) -> Result<(), OutboxError> {
    for stale in outbox::unfinished_channels(pool).await? {
        if channels.iter().any(|c| c.id() == &stale) {
            continue;
        }
        let Some(to) = successor(&stale, channels) else {
            continue;
        };
        let moved = outbox::rekey(pool, &stale, to.id()).await?;
        if moved > 0 {
            tracing::warn!(from = %stale, to = %to.id(), count = moved,
                "waiting alerts follow their channel, whose identity changed in the configuration");
        }
    }
    Ok(())
}

/// The least a task sleeps between looks, so a clock quirk cannot spin it.
const MIN_WAIT: Duration = Duration::from_millis(50);

async fn run(
    pool: AnyPool,
    channel: Channel,
    cfg: DeliverConfig,
    notify: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let id = channel.id().clone();
    loop {
        if *stop.borrow() {
            break;
        }
        let now = Utc::now();
        let wait = match deliver_one(&pool, &channel, &cfg, now, rand::random::<f64>()).await {
            Ok(Some(_)) => continue,
            Ok(None) => match outbox::next_due(&pool, &id).await {
                Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or_default().min(cfg.poll),
                Ok(None) => cfg.poll,
                Err(e) => {
                    tracing::error!(channel = %id, "{e}");
                    cfg.poll
                }
            },
            Err(e) => {
                tracing::error!(channel = %id, "{e}");
                cfg.poll
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait.max(MIN_WAIT)) => {}
            _ = notify.notified() => {}
            _ = stop.changed() => {}
        }
    }
}
