//! `certvigil run`: load the config, open the store, start the scheduler,
//! and live by the signals: SIGHUP reloads the config (a bad one is refused
//! and the old one kept), SIGTERM/SIGINT drain in-flight checks for a few
//! seconds, cancel what is left, and return. Tells systemd what it is doing
//! (Type=notify: READY, RELOADING, STOPPING, STATUS).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use sd_notify::NotifyState;
use thiserror::Error;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{Event, Level, Subscriber, error, info, warn};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, format};
use tracing_subscriber::registry::LookupSpan;

use crate::alert::Channel;
use crate::alert::deliver::{DeliverConfig, Deliverers, Waker};
use crate::alert::outbox::OutboxError;
use crate::checks::reach::{ProbeSettings, VantagePoint};
use crate::checks::risk::RiskModel;
use crate::config::{self, Config, ConfigErrors};
use crate::dns::{DnsError, DnsHandle, DnsSettings};
use crate::engine::Engine;
use crate::orders::poller::{OrderPoller, OrderPolling};
use crate::scheduler::{self, AlertSettings, CheckSettings, Scheduler, SchedulerError};
use crate::store::instance::{InstanceError, InstanceLock};
use crate::store::{Store, StoreError};

/// How long a stop may take: checks, order polls and alert deliveries in
/// flight at SIGTERM get this long together before they are cancelled.
/// systemd's default stop timeout is 90 s; this stays well inside it, and a
/// cancelled check or delivery simply runs again after the restart.
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// How often raw runs older than the retention period are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(ConfigErrors),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Instance(#[from] InstanceError),
    #[error("cannot set up DNS: {0}")]
    Dns(#[from] DnsError),
    #[error("cannot set up DNSSEC validation: {0}")]
    Dnssec(String),
    #[error("cannot start alert delivery: {0}")]
    Alerts(#[from] OutboxError),
    #[error("{0}")]
    Scheduler(#[from] SchedulerError),
    #[error("{0}")]
    Web(#[from] crate::web::WebError),
    #[error("cannot listen for signals ({signal}): {source}")]
    Signal {
        signal: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Installs the global tracing subscriber: stdout, RUST_LOG respected
/// (default `info`), colour only on a terminal. Under systemd
/// (`JOURNAL_STREAM` set) lines carry no timestamp — journald stamps them —
/// and start with a `<N>` syslog priority so `journalctl -p` filters work.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tokio_cron_scheduler=warn,sqlx=warn"));
    let ansi = std::io::stdout().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(ansi)
        .with_target(false)
        // A log line that cannot be written (a full disk under a redirected
        // stdout, a file-size limit, journald restarting) is lost, never
        // fatal: by default tracing-subscriber reports the failure with
        // `eprintln!`, which panics when stderr fails too, and so took
        // down whichever task was logging (the recording task, mid-batch).
        .log_internal_errors(false);
    // Err: a subscriber is already installed (tests); keep it.
    let _ = if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder
            .event_format(JournalPriority(
                format().without_time().with_target(false).with_ansi(false),
            ))
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Prefixes each line with its sd-daemon(3) priority (`<3>` error ... `<7>`
/// debug), which journald strips and stores as the entry's priority.
struct JournalPriority<F>(F);

impl<S, N, F> FormatEvent<S, N> for JournalPriority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        write!(writer, "<{priority}>")?;
        self.0.format_event(ctx, writer, event)
    }
}

/// Errors from sd_notify are ignored: outside systemd there is no socket,
/// and under systemd a lost notification shows up as a start timeout,
/// which is the better place to see it.
fn notify(states: &[NotifyState]) {
    let _ = sd_notify::notify(states);
}

fn check_settings(config: &Config) -> Result<CheckSettings, DaemonError> {
    let defaults = DnsSettings::default();
    let dns = DnsHandle::new(&DnsSettings {
        nameservers: (!config.dns.nameservers.is_empty()).then(|| config.dns.nameservers.clone()),
        timeout: config.dns.timeout,
        attempts: defaults.attempts,
    })?;
    let validator =
        crate::dnssec::from_config(&config.dnssec, &dns, config.dns.timeout, defaults.attempts)
            .map_err(DaemonError::Dnssec)?;
    // `config check` validates [risk]; a model that cannot be built only
    // loses the risk part of the reports, not the checks.
    let risk = match RiskModel::new(&config.risk) {
        Ok(m) => Some(m),
        Err(e) => {
            warn!("manual-review risk is not assessed: {e}");
            None
        }
    };
    Ok(CheckSettings {
        // Each question once per cycle (the scheduler clears it as a cycle
        // starts).
        engine: Engine::new(
            dns.with_answer_reuse(),
            risk,
            VantagePoint::all_from_config(&config.vantage),
            ProbeSettings::default(),
            config.reach,
        )
        .with_views(
            &config.dns.views,
            config.dns.timeout,
            config
                .globalping
                .as_ref()
                .map(crate::perspective::globalping::GlobalpingDns::from_config),
        )
        .with_dnssec(validator),
        concurrency: config.daemon.concurrency,
        jitter: config.daemon.jitter,
        alerts: AlertSettings {
            policy: config.alerts.policy(),
            channels: Channel::all_from_config(&config.alerts)
                .iter()
                .map(|c| c.id().clone())
                .collect(),
            // Set once the deliverers run.
            waker: Waker::default(),
        },
    })
}

/// Starts polling the order sources the configuration names, if any. A
/// source that cannot be set up is logged and orders are not followed;
/// the checks go on.
fn start_orders(
    store: &Store,
    config: &Config,
    settings: &CheckSettings,
    instance: Option<String>,
) -> Option<OrderPoller> {
    let polling = OrderPolling::from_config(
        config,
        // Orders wait for records to appear: no answer kept.
        settings.engine.dns().without_answer_reuse(),
        settings.alerts.channels.clone(),
        settings.alerts.waker.clone(),
    );
    match polling {
        Ok(Some(mut p)) => {
            info!(sources = p.providers.len(), "following pending orders");
            p.instance = instance;
            Some(OrderPoller::start(store.clone(), p))
        }
        Ok(None) => None,
        Err(e) => {
            error!("{e}; pending orders are not followed until the configuration is fixed");
            None
        }
    }
}

/// Starts one deliverer per configured channel (resuming what a previous
/// run left in the outbox).
async fn start_deliverers(store: &Store, config: &Config) -> Result<Deliverers, OutboxError> {
    let channels = Channel::all_from_config(&config.alerts);
    let count = channels.len();
    let deliverers = Deliverers::start(
        store.pool().clone(),
        channels,
        DeliverConfig::from_config(&config.alerts),
    )
    .await?;
    if count == 0 {
        warn!(
            "no alert channels configured ([[alerts.email]], [[alerts.webhook]]): state changes are recorded but nobody is told"
        );
    }
    Ok(deliverers)
}

fn log_config_warnings(config: &Config) {
    for w in &config.warnings {
        warn!("config: {w}");
    }
}

/// Runs the daemon until SIGTERM or SIGINT. Returns `Ok` after a clean
/// shutdown.
pub async fn run(config_path: &Path) -> Result<(), DaemonError> {
    // Signal handlers first: SIGHUP's default action is to terminate, and
    // systemd may send it as soon as the unit is started.
    let listen = |kind: SignalKind, name: &'static str| {
        signal(kind).map_err(|source| DaemonError::Signal {
            signal: name,
            source,
        })
    };
    let mut hangup = listen(SignalKind::hangup(), "SIGHUP")?;
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = listen(SignalKind::interrupt(), "SIGINT")?;
    // A file-size limit (ulimit -f, systemd LimitFSIZE=) reached by the
    // database or its WAL sends SIGXFSZ, whose default action kills the
    // process. With a handler the write fails with EFBIG instead, which the
    // store reports as "storage failing" and recovers from. Never read.
    let _file_size_limit = listen(SignalKind::from_raw(libc::SIGXFSZ), "SIGXFSZ")?;

    crate::memory::start_trimming();
    let mut config = config::load(config_path).map_err(DaemonError::Config)?;
    log_config_warnings(&config);
    let database = config.database_path().to_path_buf();
    // Several daemons may share a PostgreSQL database (they claim each
    // domain there, `store::leases`); an SQLite file has one daemon.
    let shared_db =
        crate::store::Location::parse(&database)?.backend() == crate::store::Backend::Postgres;
    // Before the store is touched: a second daemon must not fail the
    // first one's waiting alerts or retire its targets.
    let lock = if shared_db {
        None
    } else {
        Some(Arc::new(InstanceLock::acquire(&database)?))
    };
    let store = Store::open(&database).await?;
    // The setting never holds a password (`Location::parse` refuses one).
    info!(database = %database.display(), "database open");
    let instance = if shared_db {
        let id = format!("{:016x}", rand::random::<u64>());
        store
            .register_instance(&id, &host_name(), std::process::id(), chrono::Utc::now())
            .await?;
        info!(instance = %id, "sharing the database with any other instances");
        Some(id)
    } else {
        None
    };
    let heartbeat = instance
        .clone()
        .map(|id| tokio::spawn(say_alive(store.clone(), id)));
    let mut settings = check_settings(&config)?;
    let mut deliverers = start_deliverers(&store, &config).await?;
    settings.alerts.waker = deliverers.waker();
    let jobs = scheduler::plan(&store, &config).await?;
    let mut orders = start_orders(&store, &config, &settings, instance.clone());
    let mut scheduler =
        Scheduler::start_as(store.clone(), settings, jobs, instance.clone()).await?;
    // A reload applies a changed `[web]` (see `WebServer::reload`).
    let mut web = crate::web::WebServer::start(
        &config.web,
        store.clone(),
        crate::web::json::risk_levels(&config),
    )
    .await?;

    let retention = Arc::new(AtomicU64::new(config.daemon.retention.as_secs()));
    let pruner = tokio::spawn(prune_periodically(store.clone(), retention.clone()));
    let watching = Arc::new(AtomicUsize::new(config.domains.len()));
    let health = tokio::spawn(report_storage_health(lock.clone(), watching.clone()));
    // Only when the unit sets WatchdogSec (systemd passes WATCHDOG_USEC).
    let watchdog = sd_notify::watchdog_enabled().map(|every| {
        info!(every = ?every, "systemd watchdog enabled");
        tokio::spawn(ping_watchdog(every))
    });

    info!(
        config = %config_path.display(),
        domains = config.domains.len(),
        schedule = %config.daemon.schedule,
        concurrency = config.daemon.concurrency,
        "certvigil is running"
    );
    notify(&[
        NotifyState::Ready,
        NotifyState::Status(&watching_status(config.domains.len())),
    ]);

    loop {
        tokio::select! {
            _ = hangup.recv() => {
                let live = Live { scheduler: &mut scheduler, deliverers: &mut deliverers, orders: &mut orders, web: &mut web };
                reload(config_path, &database, &mut config, &store, live, &retention).await;
                watching.store(config.domains.len(), Ordering::Relaxed);
            }
            _ = terminate.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = interrupt.recv() => { info!("SIGINT: shutting down"); break; }
        }
    }

    notify(&[
        NotifyState::Stopping,
        NotifyState::Status("finishing checks in flight"),
    ]);
    // One deadline for everything, so the stop takes DRAIN_GRACE at most
    // whatever a peer does (a hanging name server, SMTP server, webhook).
    let deadline = tokio::time::Instant::now() + DRAIN_GRACE;
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
    let cancelled = scheduler
        .shutdown(left().saturating_sub(scheduler::CANCEL_WAIT))
        .await;
    if let Some(orders) = orders {
        orders.shutdown(left()).await;
    }
    // After the checks: an alert enqueued by the last of them is still
    // tried now if there is time left (its deliverer was woken); a delivery
    // still in flight at the deadline is cancelled and retried after the
    // restart.
    deliverers.shutdown(left()).await;
    if let Some(web) = web {
        web.shutdown().await;
    }
    pruner.abort();
    health.abort();
    if let Some(w) = watchdog {
        w.abort();
    }
    if let Some(h) = heartbeat {
        h.abort();
    }
    if let Some(id) = &instance
        && let Err(e) = store.instance_stopped(id, chrono::Utc::now()).await
    {
        // Its leases run out by themselves.
        tracing::warn!("cannot record this instance's stop: {e}");
    }
    store.close().await;
    info!(cancelled, "stopped");
    Ok(())
}

/// What a reload replaces.
struct Live<'a> {
    scheduler: &'a mut Scheduler,
    deliverers: &'a mut Deliverers,
    orders: &'a mut Option<OrderPoller>,
    web: &'a mut Option<crate::web::WebServer>,
}

async fn reload(
    config_path: &Path,
    database: &Path,
    current: &mut Config,
    store: &Store,
    live: Live<'_>,
    retention: &AtomicU64,
) {
    // systemd (Type=notify-reload or ExecReload with notify) wants the
    // monotonic time with RELOADING=1.
    let mut states = vec![
        NotifyState::Reloading,
        NotifyState::Status("reloading the configuration"),
    ];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    notify(&states);
    let outcome = apply_reload(config_path, database, current, store, live, retention).await;
    if let Err(message) = outcome {
        error!("configuration reload refused, still running the previous configuration: {message}");
    }
    // A reload does not end a storage outage: keep saying so.
    let status = crate::store::tx::failing()
        .map(|f| f.line())
        .unwrap_or_else(|| watching_status(current.domains.len()));
    notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

async fn apply_reload(
    config_path: &Path,
    database: &Path,
    current: &mut Config,
    store: &Store,
    live: Live<'_>,
    retention: &AtomicU64,
) -> Result<(), String> {
    let Live {
        scheduler,
        deliverers,
        orders,
        web,
    } = live;
    let new = config::load(config_path).map_err(|e| match e {
        ConfigErrors::Invalid(problems) => problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    })?;
    // An emptied or truncated file (an editor's crash, a half-finished
    // deploy) parses as a valid config with nothing in it. Applied, it would
    // retire every target and fail every waiting alert for good.
    if new.domains.is_empty() && !new.daemon.allow_no_domains {
        return Err(format!(
            "{} has no [[domains]] (was it emptied or cut short?); to really run without domains, set allow_no_domains = true under [daemon]",
            config_path.display()
        ));
    }
    log_config_warnings(&new);
    if new.database_path() != database {
        warn!(
            configured = %new.database_path().display(),
            in_use = %database.display(),
            "a new database path takes effect only after a restart; still using the current one"
        );
    }
    // Everything that can fail on its own comes before the store is
    // touched, so a refused reload leaves the targets as they were.
    let mut settings = check_settings(&new).map_err(|e| e.to_string())?;
    let jobs = scheduler::plan(store, &new)
        .await
        .map_err(|e| e.to_string())?;
    // Before the store is touched too: a new listen address that cannot be
    // bound refuses the reload and leaves the old listener serving.
    crate::web::WebServer::reload(
        web,
        &new.web,
        store.clone(),
        crate::web::json::risk_levels(&new),
    )
    .await
    .map_err(|e| e.to_string())?;
    // The channels may have changed. The old deliverers finish the attempt
    // in flight first (for up to DRAIN_GRACE: a hanging peer must not hold
    // the reload), so no row is sent by both; one cancelled at the deadline
    // is made due again by the new deliverers (at least once).
    std::mem::replace(deliverers, Deliverers::idle())
        .shutdown(DRAIN_GRACE)
        .await;
    *deliverers = match start_deliverers(store, &new).await {
        Ok(d) => d,
        Err(e) => {
            *deliverers = start_deliverers(store, current)
                .await
                .unwrap_or_else(|_| Deliverers::idle());
            return Err(e.to_string());
        }
    };
    settings.alerts.waker = deliverers.waker();
    if let Some(old) = orders.take() {
        old.shutdown(DRAIN_GRACE).await;
    }
    *orders = start_orders(store, &new, &settings, scheduler.owner());
    let before = current.domains.len();
    scheduler
        .reload(settings, jobs)
        .await
        .map_err(|e| e.to_string())?;
    retention.store(new.daemon.retention.as_secs(), Ordering::Relaxed);
    info!(
        domains = new.domains.len(),
        before, "configuration reloaded"
    );
    *current = new;
    Ok(())
}

/// How often an instance on a shared database says it is alive.
const SEEN_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps this instance's `last_seen` fresh (what `status` shows of it).
async fn say_alive(store: Store, id: String) {
    loop {
        tokio::time::sleep(SEEN_EVERY).await;
        if let Err(e) = store.instance_seen(&id, chrono::Utc::now()).await {
            tracing::debug!("cannot refresh this instance's last_seen: {e}");
        }
    }
}

/// This host's name, for the instances table.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The sd-notify STATUS line while nothing is wrong.
fn watching_status(domains: usize) -> String {
    format!("watching {domains} domains")
}

/// Follows the store's health: while writes fail, the sd-notify STATUS line
/// and the lock file's record (which `status` shows) say so; when a write
/// succeeds again, they go back to normal.
async fn report_storage_health(lock: Option<Arc<InstanceLock>>, watching: Arc<AtomicUsize>) {
    let mut health = crate::store::tx::health();
    let mut panics = crate::supervise::panics();
    loop {
        let failing = health.borrow_and_update().clone();
        let line = failing.as_ref().map(|f| f.line());
        let panic = panics.borrow_and_update().clone();
        if let Some(lock) = &lock
            && let Err(e) = lock.write_full_record(line.as_deref(), panic.as_deref())
        {
            tracing::debug!(lock = %lock.path().display(), "cannot update the lock file's record: {e}");
        }
        match &line {
            Some(line) => notify(&[NotifyState::Status(line)]),
            None => notify(&[NotifyState::Status(&watching_status(
                watching.load(Ordering::Relaxed),
            ))]),
        }
        tokio::select! {
            changed = health.changed() => if changed.is_err() { return },
            changed = panics.changed() => if changed.is_err() { return },
        }
    }
}

/// Pings the systemd watchdog (`WATCHDOG=1`) at half the unit's
/// `WatchdogSec`, from the runtime that runs the checks: a wedged runtime
/// stops the pings and systemd restarts the service.
async fn ping_watchdog(every: Duration) {
    let mut tick = tokio::time::interval(every / 2);
    loop {
        tick.tick().await;
        notify(&[NotifyState::Watchdog]);
    }
}

async fn prune_periodically(store: Store, retention_secs: Arc<AtomicU64>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let keep = Duration::from_secs(retention_secs.load(Ordering::Relaxed));
        let Ok(keep) = chrono::Duration::from_std(keep) else {
            continue;
        };
        match store.prune_runs(Utc::now() - keep).await {
            Ok(r) if r.runs_deleted > 0 => info!(
                runs = r.runs_deleted,
                "pruned raw runs past the retention period"
            ),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "could not prune old runs; will retry in an hour"),
        }
    }
}
