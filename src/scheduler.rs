//! When checks run. One cron job (tokio-cron-scheduler) per distinct
//! schedule; each firing dispatches the domains on that schedule. A dispatched
//! check is a small entry in a time-ordered queue, due after a random jitter
//! (spreading a cycle over time). One dispatcher task takes the due entries
//! in order, and only once it holds a permit of the concurrency semaphore
//! does it spawn the check (gather, judge, record): at most `concurrency`
//! check tasks exist at a time, however many domains a cycle has, so memory
//! does not grow with the number of domains waiting.
//!
//! tokio-cron-scheduler spawns every firing, so a slow name server could let
//! two cycles of one domain overlap; the in-flight set below makes the later
//! one skip instead. The set, the semaphore's owner and the in-flight count
//! survive reloads, so a reload never doubles a check either.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use thiserror::Error;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::alert::deliver::Waker;
use crate::alert::policy::PolicyConfig;
use crate::alert::{Alert, ChannelId};
use crate::ca::CaChoice;
use crate::checks::state::Transition;
use crate::config::{Config, CronSchedule, DomainTarget};
use crate::domain::DomainName;
use crate::engine::{Engine, Subject, TargetOutcome};
use crate::recording::{
    Alerting, AlertingSource, DomainCheck, Judged, RecordedChecks, RecordedEvent, RecordingQueue,
};
use crate::store::{Store, StoreError, Target, TargetKey};

#[derive(Debug, Error)]
pub enum SchedulerError {
    #[error("could not start the job scheduler: {0}")]
    Start(#[source] JobSchedulerError),
    #[error("could not schedule {schedule:?}: {source}; check the schedule in the config")]
    Schedule {
        schedule: String,
        #[source]
        source: JobSchedulerError,
    },
    #[error("could not record the configured targets in the database: {0}")]
    Store(#[from] StoreError),
}

/// One configured domain, checked as a unit by the engine: its CAA tree is
/// gathered once and judged for every certificate name and CA it has.
#[derive(Debug, Clone)]
pub struct DomainJob {
    /// The config entry's name as written (`example.com`, `*.example.com`):
    /// the unit of non-overlap.
    pub key: String,
    /// Where the CAA climb starts.
    pub base: DomainName,
    /// Shared by every job on the same schedule (a parsed schedule is a
    /// few kilobytes; one copy per domain was most of the daemon's memory).
    pub schedule: Arc<CronSchedule>,
    /// What the engine checks: the same subject `certvigil check --config`
    /// builds for this entry, so both print the same findings.
    pub subject: Subject,
    /// The stored targets of the subject's (name, CA) pairs.
    pub targets: Vec<JobTarget>,
}

#[derive(Debug, Clone)]
pub struct JobTarget {
    pub target: Target,
    /// The certificate name as alerts show it (Unicode, `*.` for wildcards).
    pub display_name: String,
    /// The CA's display name (`Sectigo`).
    pub ca_display: String,
}

impl JobTarget {
    fn is_for(&self, name: &crate::domain::CertName, ca: &CaChoice) -> bool {
        let key = &self.target.key;
        &key.domain == name.base() && key.wildcard == name.is_wildcard() && key.ca == ca.name
    }
}

impl DomainJob {
    fn never_checked(&self) -> bool {
        self.targets.iter().any(|t| t.target.never_checked)
    }
}

/// The targets one config entry asks about, one per certificate name and CA.
pub fn target_keys(domain: &DomainTarget) -> Vec<TargetKey> {
    let mut keys = Vec::new();
    for name in domain.cert_names() {
        for ca in domain.ca.iter() {
            keys.push(TargetKey {
                domain: name.base().clone(),
                wildcard: name.is_wildcard(),
                ca: ca.name.clone(),
            });
        }
    }
    keys
}

/// Writes the configured targets to the store (retiring the rest) and
/// builds the jobs, with the stored ids.
pub async fn plan(store: &Store, config: &Config) -> Result<Vec<DomainJob>, StoreError> {
    let wanted: Vec<TargetKey> = config.domains.iter().flat_map(target_keys).collect();
    let stored = store.sync_targets(&wanted, Utc::now()).await?;
    let by_key: HashMap<&TargetKey, &Target> = stored.iter().map(|t| (&t.key, t)).collect();
    let mut jobs = Vec::with_capacity(config.domains.len());
    let mut seen = HashSet::new();
    let default_schedule = Arc::new(config.daemon.schedule.clone());
    let mut schedules: HashMap<&str, Arc<CronSchedule>> = HashMap::new();
    schedules.insert(default_schedule.as_str(), default_schedule.clone());
    for d in &config.domains {
        let key = d.name.to_string();
        if !seen.insert(key.clone()) {
            continue;
        }
        let subject = Subject::from_domain(d);
        let mut targets = Vec::with_capacity(subject.names.len() * subject.cas.len());
        for name in &subject.names {
            for ca in subject.cas.iter() {
                let tk = TargetKey {
                    domain: name.base().clone(),
                    wildcard: name.is_wildcard(),
                    ca: ca.name.clone(),
                };
                let Some(target) = by_key.get(&tk) else {
                    continue;
                };
                targets.push(JobTarget {
                    target: (*target).clone(),
                    display_name: display_name(name),
                    ca_display: if ca.display.is_empty() {
                        ca.name.clone()
                    } else {
                        ca.display.clone()
                    },
                });
            }
        }
        targets.shrink_to_fit();
        let schedule = match &d.schedule {
            None => default_schedule.clone(),
            Some(s) => schedules
                .entry(s.as_str())
                .or_insert_with(|| Arc::new(s.clone()))
                .clone(),
        };
        jobs.push(DomainJob {
            key,
            base: d.name.base().clone(),
            schedule,
            subject,
            targets,
        });
    }
    Ok(jobs)
}

fn display_name(name: &crate::domain::CertName) -> String {
    let base = name.base().to_unicode();
    if name.is_wildcard() {
        format!("*.{base}")
    } else {
        base
    }
}

/// What a check needs that a reload may change.
#[derive(Debug)]
pub struct CheckSettings {
    /// Gathers and judges (resolver, risk model, vantage points).
    pub engine: Engine,
    pub concurrency: usize,
    pub jitter: Duration,
    pub alerts: AlertSettings,
}

impl AlertingSource for CheckSettings {
    fn alerting(&self) -> Alerting<'_> {
        Alerting {
            policy: &self.alerts.policy,
            channels: &self.alerts.channels,
        }
    }
}

/// How checks raise alerts: the policy, the channels to enqueue for, and
/// the deliverers to wake after a commit that enqueued.
#[derive(Debug, Clone, Default)]
pub struct AlertSettings {
    pub policy: PolicyConfig,
    pub channels: Vec<ChannelId>,
    pub waker: Waker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// SIGTERM: start nothing new; checks queued (waiting for their jitter
    /// or a permit) are dropped, running ones may finish.
    Draining,
    /// The drain deadline passed: running checks are dropped (an open
    /// transaction rolls back).
    Cancelled,
}

struct Live {
    settings: Arc<CheckSettings>,
    semaphore: Arc<Semaphore>,
}

struct Shared {
    store: Store,
    /// Where checks hand their results: recorded in batches.
    recording: RecordingQueue,
    /// This instance's id when several daemons share the database
    /// (PostgreSQL): each check is claimed there first (`store::leases`).
    owner: Option<String>,
    live: RwLock<Live>,
    /// Keys of the domains with a check dispatched (queued or running) and
    /// not yet finished.
    in_flight: Mutex<HashSet<String>>,
    /// How many checks are dispatched and not finished (queued + running).
    running: AtomicUsize,
    /// How many check tasks exist (spawned with a permit, not finished),
    /// and the most there ever were at once.
    checking: AtomicUsize,
    peak_checking: AtomicUsize,
    idle: Notify,
    phase: watch::Sender<Phase>,
    /// Dispatched checks not yet started, earliest due first.
    queue: Mutex<Queue>,
    /// Wakes the dispatcher: something was queued, or a reload replaced
    /// the semaphore.
    wake: Notify,
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Pending>,
    /// Tie-break, so checks due at the same instant start in dispatch order.
    seq: u64,
    /// Set at shutdown: nothing more is queued.
    closed: bool,
}

/// A dispatched check waiting to start: a few words, not a task.
struct Pending {
    due: tokio::time::Instant,
    seq: u64,
    guard: InFlightGuard,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest due is wanted.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// Removes the domain from the in-flight set however the check ends
/// (finished, cancelled, or dropped from the queue at shutdown).
struct InFlightGuard {
    shared: Arc<Shared>,
    job: Arc<DomainJob>,
    /// The cycle this check is for: the firing (Unix ms) that dispatched
    /// it, or the latest one before a start or reload. What a claim on a
    /// shared database is made for.
    cycle: i64,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Ok(mut set) = self.shared.in_flight.lock() {
            set.remove(&self.job.key);
        }
        if self.shared.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The last dispatched check is done: a cycle is complete.
            crate::web::metrics::process().cycle_completed(Utc::now());
            // Nothing the cycle kept is needed until the next one: its
            // reused answers go now (not when the next cycle starts), and
            // the memory it freed goes back to the system.
            // try_read: a guard may be dropped where the settings are
            // being replaced (a reload); the next cycle's start clears then.
            if let Ok(live) = self.shared.live.try_read() {
                live.settings.engine.clear_cache();
            }
            crate::memory::trim_soon();
            self.shared.idle.notify_waiters();
        }
    }
}

/// Counts a check task for as long as it exists.
struct CheckingGuard(Arc<Shared>);

impl CheckingGuard {
    fn new(shared: &Arc<Shared>) -> CheckingGuard {
        let now = shared.checking.fetch_add(1, Ordering::SeqCst) + 1;
        shared.peak_checking.fetch_max(now, Ordering::SeqCst);
        CheckingGuard(shared.clone())
    }
}

impl Drop for CheckingGuard {
    fn drop(&mut self) {
        self.0.checking.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The running schedule.
pub struct Scheduler {
    shared: Arc<Shared>,
    cron: JobScheduler,
    /// The keys of the current jobs, to tell which a reload adds.
    keys: HashSet<String>,
}

impl Scheduler {
    /// Starts the cron jobs and checks at once every domain that has never
    /// been checked.
    pub async fn start(
        store: Store,
        settings: CheckSettings,
        jobs: Vec<DomainJob>,
    ) -> Result<Scheduler, SchedulerError> {
        Self::start_as(store, settings, jobs, None).await
    }

    /// [`Scheduler::start`] for one of several daemons on a shared
    /// database: `owner` (this instance's id) claims each domain before
    /// checking it, so every domain is checked by one instance per cycle.
    pub async fn start_as(
        store: Store,
        settings: CheckSettings,
        jobs: Vec<DomainJob>,
        owner: Option<String>,
    ) -> Result<Scheduler, SchedulerError> {
        let (phase, _) = watch::channel(Phase::Running);
        let semaphore = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        let shared = Arc::new(Shared {
            recording: RecordingQueue::start(store.clone()),
            store,
            owner,
            live: RwLock::new(Live {
                settings: Arc::new(settings),
                semaphore,
            }),
            in_flight: Mutex::new(HashSet::new()),
            running: AtomicUsize::new(0),
            checking: AtomicUsize::new(0),
            peak_checking: AtomicUsize::new(0),
            idle: Notify::new(),
            phase,
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
        });
        let dispatcher = shared.clone();
        crate::supervise::spawn("scheduler dispatcher", move || {
            run_dispatcher(dispatcher.clone())
        });
        let cron = JobScheduler::new().await.map_err(SchedulerError::Start)?;
        let mut scheduler = Scheduler {
            shared,
            cron,
            keys: HashSet::new(),
        };
        scheduler.install(jobs, |job| job.never_checked()).await?;
        Ok(scheduler)
    }

    /// Applies a reloaded configuration: new settings, new cron jobs; a
    /// domain that was not configured before (or was never checked) is
    /// checked at once. Checks in flight go on and are not repeated.
    pub async fn reload(
        &mut self,
        settings: CheckSettings,
        jobs: Vec<DomainJob>,
    ) -> Result<(), SchedulerError> {
        {
            let mut live = self.shared.live.write().unwrap_or_else(|e| e.into_inner());
            if live.settings.concurrency != settings.concurrency {
                // Checks holding a permit of the old semaphore finish under
                // it; new ones use the new bound.
                live.semaphore = Arc::new(Semaphore::new(settings.concurrency.max(1)));
            }
            live.settings = Arc::new(settings);
        }
        // A dispatcher waiting for a permit of the old semaphore moves on
        // to the new one.
        self.shared.wake.notify_one();
        // A fresh cron scheduler rather than removing jobs one by one: the
        // old one stops firing, and a firing it already spawned only
        // dispatches, which the in-flight set deduplicates.
        let new_cron = JobScheduler::new().await.map_err(SchedulerError::Start)?;
        let mut old_cron = std::mem::replace(&mut self.cron, new_cron);
        if let Err(e) = old_cron.shutdown().await {
            warn!(error = %e, "the previous cron scheduler did not stop cleanly");
        }
        let old = std::mem::take(&mut self.keys);
        self.install(jobs, |job| !old.contains(&job.key) || job.never_checked())
            .await
    }

    async fn install(
        &mut self,
        jobs: Vec<DomainJob>,
        check_now: impl Fn(&DomainJob) -> bool,
    ) -> Result<(), SchedulerError> {
        let mut groups: BTreeMap<String, Vec<Arc<DomainJob>>> = BTreeMap::new();
        let mut now = Vec::new();
        for job in jobs {
            let job = Arc::new(job);
            self.keys.insert(job.key.clone());
            if check_now(&job) {
                now.push(job.clone());
            }
            groups
                .entry(job.schedule.as_str().to_string())
                .or_default()
                .push(job);
        }
        for (schedule, group) in groups {
            let group = Arc::new(group);
            let shared = self.shared.clone();
            let cron_job = Job::new_async(schedule.as_str(), move |_, _| {
                let shared = shared.clone();
                let group = group.clone();
                Box::pin(async move {
                    debug!(domains = group.len(), "cycle starts");
                    let jitter = {
                        let live = shared.live.read().unwrap_or_else(|e| e.into_inner());
                        // Answers are reused within a cycle only: this
                        // cycle sees every change since the last one.
                        live.settings.engine.clear_cache();
                        live.settings.jitter
                    };
                    // Every job of a group has the same schedule.
                    let cap = group
                        .first()
                        .map_or(Duration::ZERO, |j| jitter_cap(jitter, &j.schedule));
                    for job in group.iter() {
                        dispatch(&shared, job.clone(), random_below(cap));
                    }
                })
            })
            .map_err(|source| SchedulerError::Schedule {
                schedule: schedule.clone(),
                source,
            })?;
            self.cron
                .add(cron_job)
                .await
                .map_err(|source| SchedulerError::Schedule {
                    schedule: schedule.clone(),
                    source,
                })?;
        }
        self.cron.start().await.map_err(SchedulerError::Start)?;
        if !now.is_empty() {
            info!(domains = now.len(), "checking new domains now");
        }
        for job in now {
            dispatch(&self.shared, job, Duration::ZERO);
        }
        Ok(())
    }

    /// This instance's id when several daemons share the database.
    pub fn owner(&self) -> Option<String> {
        self.shared.owner.clone()
    }

    /// How many domain checks are dispatched and not finished (queued or
    /// running).
    pub fn in_flight(&self) -> usize {
        self.shared.running.load(Ordering::SeqCst)
    }

    /// How many check tasks exist now (never more than `concurrency`).
    pub fn checking(&self) -> usize {
        self.shared.checking.load(Ordering::SeqCst)
    }

    /// The most check tasks that ever existed at once.
    pub fn peak_checking(&self) -> usize {
        self.shared.peak_checking.load(Ordering::SeqCst)
    }

    /// How many dispatched checks wait for their jitter or a permit.
    pub fn queued(&self) -> usize {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .heap
            .len()
    }

    /// Stops scheduling, lets running checks finish for up to `grace`, then
    /// cancels what is left and waits for the cancellations to land.
    /// Returns how many checks were cancelled.
    pub async fn shutdown(mut self, grace: Duration) -> usize {
        if let Err(e) = self.cron.shutdown().await {
            warn!(error = %e, "the cron scheduler did not stop cleanly");
        }
        self.shared.phase.send_replace(Phase::Draining);
        // Checks that have not started never will: drop them (outside the
        // lock, as their guards take the in-flight lock).
        let abandoned = {
            let mut queue = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.closed = true;
            std::mem::take(&mut queue.heap)
        };
        drop(abandoned);
        if wait_idle(&self.shared, grace).await {
            return 0;
        }
        let left = self.in_flight();
        warn!(
            checks = left,
            grace_secs = grace.as_secs(),
            "cancelling checks still running after the grace period"
        );
        self.shared.phase.send_replace(Phase::Cancelled);
        wait_idle(&self.shared, CANCEL_WAIT).await;
        left
    }
}

/// How long [`Scheduler::shutdown`] waits for cancelled checks to unwind
/// after the grace (they stop at their next await point).
pub const CANCEL_WAIT: Duration = Duration::from_millis(500);

async fn wait_idle(shared: &Shared, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let notified = shared.idle.notified();
        if shared.running.load(Ordering::SeqCst) == 0 {
            return true;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return shared.running.load(Ordering::SeqCst) == 0;
        }
    }
}

/// Waits until the phase is at least `at_least`.
async fn reached(mut rx: watch::Receiver<Phase>, at_least: Phase) {
    let rank = |p: Phase| match p {
        Phase::Running => 0,
        Phase::Draining => 1,
        Phase::Cancelled => 2,
    };
    // An error means the sender is gone: the scheduler was dropped.
    let _ = rx.wait_for(|p| rank(*p) >= rank(at_least)).await;
}

/// Queues one domain's check, due after `delay`, unless one is already in
/// flight (queued or running).
fn dispatch(shared: &Arc<Shared>, job: Arc<DomainJob>, delay: Duration) {
    let cycle = job.schedule.current_cycle(Utc::now());
    dispatch_for(shared, job, delay, cycle);
}

/// [`dispatch`] for a given cycle (a retry keeps its cycle).
fn dispatch_for(shared: &Arc<Shared>, job: Arc<DomainJob>, delay: Duration, cycle: i64) {
    let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
    if queue.closed || *shared.phase.borrow() != Phase::Running {
        return;
    }
    {
        let mut set = shared.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if !set.insert(job.key.clone()) {
            debug!(domain = %job.key, "previous check still running; this cycle skips it");
            return;
        }
    }
    shared.running.fetch_add(1, Ordering::SeqCst);
    queue.seq += 1;
    let seq = queue.seq;
    queue.heap.push(Pending {
        due: tokio::time::Instant::now() + delay,
        seq,
        guard: InFlightGuard {
            shared: shared.clone(),
            job,
            cycle,
        },
    });
    drop(queue);
    shared.wake.notify_one();
}

/// Takes queued checks as they fall due and, holding a permit of the
/// current semaphore, spawns each: the semaphore is acquired before the
/// check exists, not by a spawned check waiting for it. Ends at shutdown.
async fn run_dispatcher(shared: Arc<Shared>) {
    let phase = shared.phase.subscribe();
    loop {
        let next_due = shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .heap
            .peek()
            .map(|p| p.due);
        let due = async {
            match next_due {
                Some(due) => tokio::time::sleep_until(due).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = reached(phase.clone(), Phase::Draining) => return,
            _ = shared.wake.notified() => continue,
            _ = due => {}
        }
        let semaphore = shared
            .live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .semaphore
            .clone();
        // Checks queued meanwhile are found on the next turn; a reload
        // (new semaphore) restarts the wait.
        let permit = tokio::select! {
            biased;
            _ = reached(phase.clone(), Phase::Draining) => return,
            _ = shared.wake.notified() => continue,
            permit = semaphore.acquire_owned() => permit,
        };
        let Ok(permit) = permit else { continue };
        let pending = {
            let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            let now = tokio::time::Instant::now();
            match queue.heap.peek() {
                Some(p) if p.due <= now => queue.heap.pop(),
                _ => None,
            }
        };
        let Some(pending) = pending else { continue };
        let settings = shared
            .live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .settings
            .clone();
        let span = info_span!("check", domain = %pending.guard.job.key);
        let checking = CheckingGuard::new(&shared);
        tokio::spawn(
            run_check(pending.guard, checking, settings, permit, phase.clone()).instrument(span),
        );
    }
}

/// One check, holding its permit and in-flight guard until it ends.
async fn run_check(
    guard: InFlightGuard,
    _checking: CheckingGuard,
    settings: Arc<CheckSettings>,
    _permit: OwnedSemaphorePermit,
    phase: watch::Receiver<Phase>,
) {
    // Popped just as the drain began: it has not started, so it does not.
    if *phase.borrow() != Phase::Running {
        return;
    }
    let job = &guard.job;
    tokio::select! {
        biased;
        _ = reached(phase.clone(), Phase::Cancelled) => {
            warn!("check cancelled at shutdown; it will run again after the restart");
        }
        result = timed(claimed_check(&guard.shared, &settings, job, guard.cycle)) => match result {
            (Ok(Claimed::NotDue), _) => {
                debug!("another instance checked this domain this cycle");
            }
            (Ok(Claimed::Held(retry)), _) => {
                // Due, but another instance is on it: come back when its
                // check is likely done (it may be the previous cycle's).
                debug!("another instance holds this domain; trying again later");
                let (shared, job, cycle) = (guard.shared.clone(), guard.job.clone(), guard.cycle);
                drop(guard);
                dispatch_for(&shared, job, retry, cycle);
            }
            (Ok(Claimed::Checked(recorded)), took) => {
                crate::web::metrics::process().check_done(true, took);
                log_events(&recorded.events);
                if !recorded.alerts.is_empty() {
                    settings.alerts.waker.wake();
                    log_alerts(&recorded.alerts);
                }
            }
            // The store's health logs the first failure with its cause
            // (a full disk would otherwise log once per check); the check
            // runs again next cycle.
            (Err(e), took) => {
                crate::web::metrics::process().check_done(false, took);
                crate::store::tx::note_failure("recording a check", &e);
            }
        },
    }
}

/// How long a claim on a domain lasts without renewal: one schedule
/// period, within 5 s .. 2 min. A dead instance's domains are checked by
/// another within one period plus this.
pub fn lease_for(schedule: &CronSchedule) -> Duration {
    schedule_period(schedule).map_or(Duration::from_secs(60), |p| {
        p.clamp(Duration::from_secs(5), Duration::from_secs(120))
    })
}

/// How a claimed check went.
enum Claimed {
    Checked(RecordedChecks),
    /// Another instance checked it this cycle.
    NotDue,
    /// Another instance holds it: try again after this long.
    Held(Duration),
}

/// The check of one domain for `cycle` (or the current one), claimed first when the database is
/// shared: one instance gets each (domain, cycle), and renews its lease
/// while the check runs. Once it is recorded the domain is done for that
/// cycle; a check that failed leaves it to another try.
async fn claimed_check(
    shared: &Shared,
    settings: &Arc<CheckSettings>,
    job: &DomainJob,
    cycle: i64,
) -> Result<Claimed, StoreError> {
    let Some(owner) = &shared.owner else {
        return check_domain(&shared.recording, settings, job)
            .await
            .map(Claimed::Checked);
    };
    let store = &shared.store;
    let lease = lease_for(&job.schedule);
    // A check queued in an earlier cycle (a backlog, a retry) that starts
    // now is this cycle's: the in-flight set dropped this cycle's dispatch
    // of the domain because it was queued.
    let cycle = job.schedule.current_cycle(Utc::now()).max(cycle);
    match store
        .claim_domain(&job.key, owner, cycle, Utc::now(), lease)
        .await?
    {
        crate::store::Claim::Got => {}
        crate::store::Claim::NotDue => return Ok(Claimed::NotDue),
        crate::store::Claim::Held => return Ok(Claimed::Held(lease / 4)),
    }
    let renew = async {
        loop {
            tokio::time::sleep(lease / 3).await;
            let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
            match store.renew_lease(&job.key, owner, until).await {
                Ok(true) => {}
                Ok(false) => warn!("lost the lease on this domain while checking it"),
                Err(e) => warn!(error = %e, "cannot renew the lease on this domain"),
            }
        }
    };
    let result = tokio::select! {
        r = check_domain(&shared.recording, settings, job) => r,
        () = renew => unreachable!("the renewal loop never ends"),
    };
    let done = result.is_ok().then(|| (Utc::now(), cycle));
    if let Err(e) = store.release_domain(&job.key, owner, done).await {
        // The lease runs out by itself.
        warn!(error = %e, "cannot release the lease on this domain");
    }
    result.map(Claimed::Checked)
}

/// Runs `f`, measuring how long it took.
async fn timed<T>(f: impl Future<Output = T>) -> (T, Duration) {
    let clock = Instant::now();
    let out = f.await;
    (out, clock.elapsed())
}

/// The longest jitter: `jitter`, capped at half the schedule's period so a
/// cycle's checks are done before the next cycle fires.
fn jitter_cap(jitter: Duration, schedule: &CronSchedule) -> Duration {
    schedule_period(schedule).map_or(jitter, |p| jitter.min(p / 2))
}

/// A random delay below `cap` (zero for a zero cap).
fn random_below(cap: Duration) -> Duration {
    if cap.is_zero() {
        return Duration::ZERO;
    }
    let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..ms))
}

/// The time between the next two firings.
pub fn schedule_period(schedule: &CronSchedule) -> Option<Duration> {
    let now = Utc::now();
    let a = schedule.next_after(&now)?;
    let b = schedule.next_after(&a)?;
    (b - a).to_std().ok()
}

/// Checks the domain through the engine (gather once, judge per target)
/// and records it with the alerts the changes raise and each target's
/// report (for `status --format json`), in the recording task's next
/// batch; returns once that is committed.
pub async fn check_domain(
    recording: &RecordingQueue,
    settings: &Arc<CheckSettings>,
    job: &DomainJob,
) -> Result<RecordedChecks, StoreError> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let outcomes = settings.engine.check(&job.subject, started_at).await;
    let matched: Vec<(&JobTarget, &TargetOutcome)> = outcomes
        .iter()
        .filter_map(|o| {
            let t = job.targets.iter().find(|t| t.is_for(&o.name, &o.ca))?;
            Some((t, o))
        })
        .collect();
    fn judged<V>(t: &JobTarget, verdict: V) -> Judged<V> {
        Judged {
            target_id: t.target.id,
            domain: t.display_name.clone(),
            ca: t.ca_display.clone(),
            verdict,
        }
    }
    let check = DomainCheck {
        base: job.base.clone(),
        started_at,
        duration: clock.elapsed(),
        caa: matched
            .iter()
            .map(|(t, o)| judged(t, crate::drift::canonical(o.caa.clone())))
            .collect(),
        checks: matched
            .iter()
            .flat_map(|(t, o)| {
                let target = crate::recording::TargetRef {
                    target_id: t.target.id,
                    domain: t.display_name.clone(),
                    ca: t.ca_display.clone(),
                };
                o.checks.iter().map(move |v| (target.clone(), v.clone()))
            })
            .collect(),
        reports: matched
            .iter()
            .map(|(t, o)| (t.target.id, o.report.clone()))
            .collect(),
    };
    let recorded = recording.record(check, settings.clone()).await?;
    debug!(elapsed_ms = clock.elapsed().as_millis() as u64, "checked");
    Ok(recorded)
}

fn log_alerts(alerts: &[Alert]) {
    for a in alerts {
        info!(
            event = a.kind.as_str(), check = %a.check, domain = %a.domain,
            severity = a.severity.as_str(), "alert raised: {}", a.summary
        );
    }
}

fn log_events(events: &[RecordedEvent]) {
    for e in events {
        let before = e.before_status.as_deref().unwrap_or("none");
        let (check, target, ca, after, blocks) =
            (e.check.as_str(), &e.domain, &e.ca, e.after_status, e.blocks);
        let cause = e.cause.as_deref().unwrap_or("-");
        match e.transition {
            Transition::Change => warn!(
                check, target = %target, ca = %ca, before, after, blocks,
                "{}: the observed state changed", e.kind
            ),
            Transition::Error => warn!(
                check, target = %target, ca = %ca, before, cause,
                "{}: the check cannot observe ({cause}); a CA would refuse to issue", e.kind
            ),
            Transition::Recovered => info!(
                check, target = %target, ca = %ca, after,
                "{}: the check observes again, state unchanged", e.kind
            ),
            Transition::Baseline => info!(
                check, target = %target, ca = %ca, after, blocks,
                "baseline: first state recorded"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::Path;

    use tokio::net::UdpSocket;

    use super::*;
    use crate::checks::reach::{ProbeSettings, VantagePoint};
    use crate::dns::{DnsHandle, DnsSettings};

    /// A name server on 127.0.0.1 that records which `dN` domains asked
    /// and, unless silent, answers NXDOMAIN after `delay`.
    async fn name_server(
        silent: bool,
        delay: Duration,
    ) -> (SocketAddr, Arc<Mutex<HashSet<String>>>) {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = socket.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(HashSet::new()));
        let seen = asked.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let query = buf[..len].to_vec();
                // Header (12 octets), then the question's labels.
                let mut at = 12;
                let mut first = None;
                while at < len && query[at] != 0 {
                    let l = usize::from(query[at]);
                    let label = String::from_utf8_lossy(&query[at + 1..(at + 1 + l).min(len)]);
                    first.get_or_insert_with(|| label.into_owned());
                    at += 1 + l;
                }
                // The domains' own names (`dN`), not their parents.
                if let Some(first) = first.filter(|l| l.starts_with('d')) {
                    seen.lock().unwrap().insert(first);
                }
                if silent || at + 5 > len {
                    continue;
                }
                let socket = socket.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    // The question only; QR, RD copied, RA, NXDOMAIN.
                    let mut answer = query[..at + 5].to_vec();
                    answer[2] = 0x80 | (answer[2] & 0x01);
                    answer[3] = 0x80 | 3;
                    answer[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
                    let _ = socket.send_to(&answer, from).await;
                });
            }
        });
        (addr, asked)
    }

    fn config(db: &Path, n: usize, concurrency: usize) -> Config {
        let mut text = format!(
            "[daemon]\ndatabase = \"{}\"\nschedule = \"0 0 0 1 1 *\"\njitter = \"0s\"\nconcurrency = {concurrency}\n",
            db.display()
        );
        for i in 0..n {
            text.push_str(&format!(
                "\n[[domains]]\nname = \"d{i}.sched.test\"\nca = [\"letsencrypt\"]\n"
            ));
        }
        crate::config::parse(&text, "config.toml").unwrap()
    }

    fn settings(ns: SocketAddr, concurrency: usize) -> CheckSettings {
        let dns = DnsHandle::new(&DnsSettings {
            nameservers: Some(vec![ns]),
            timeout: Duration::from_secs(60),
            attempts: 1,
        })
        .unwrap();
        CheckSettings {
            engine: Engine::new(
                dns,
                None,
                vec![VantagePoint::local()],
                ProbeSettings::default(),
                crate::config::ReachConfig {
                    http_port: 80,
                    https_port: 443,
                },
            ),
            concurrency,
            jitter: Duration::ZERO,
            alerts: AlertSettings::default(),
        }
    }

    /// Polls `cond` (a failure guard, not a timing assertion).
    async fn until(mut cond: impl FnMut() -> bool) {
        for _ in 0..3000 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_concurrency_checks_exist_and_the_rest_wait_in_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).await.unwrap();
        let config = config(&dir.path().join("c.db"), 40, 4);
        let (ns, asked) = name_server(true, Duration::ZERO).await;
        let jobs = plan(&store, &config).await.unwrap();
        let again = plan(&store, &config).await.unwrap();
        let sched = Scheduler::start(store.clone(), settings(ns, 4), jobs)
            .await
            .unwrap();

        until(|| sched.checking() == 4 && asked.lock().unwrap().len() == 4).await;
        // Every check is dispatched, 4 exist as tasks, the rest are queue
        // entries; the silent server only ever hears from 4 domains.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert_eq!(sched.in_flight(), 40);
        assert_eq!(sched.checking(), 4);
        assert_eq!(sched.peak_checking(), 4);
        assert_eq!(sched.queued(), 36);
        assert_eq!(asked.lock().unwrap().len(), 4);

        // A firing meanwhile skips every domain: running or queued.
        for job in again {
            dispatch(&sched.shared, Arc::new(job), Duration::ZERO);
        }
        assert_eq!(sched.in_flight(), 40);
        assert_eq!(sched.queued(), 36);

        // SIGTERM: the queued 36 are dropped, the 4 running are cancelled.
        assert_eq!(sched.shutdown(Duration::ZERO).await, 4);
        assert_eq!(asked.lock().unwrap().len(), 4);
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cycle_checks_every_domain_never_above_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).await.unwrap();
        let config = config(&dir.path().join("c.db"), 60, 3);
        let (ns, asked) = name_server(false, Duration::from_millis(2)).await;
        let jobs = plan(&store, &config).await.unwrap();
        let sched = Scheduler::start(store.clone(), settings(ns, 3), jobs)
            .await
            .unwrap();
        until(|| sched.in_flight() == 0).await;
        assert_eq!(sched.peak_checking(), 3);
        assert_eq!(sched.checking(), 0);
        assert_eq!(sched.queued(), 0);
        let rows = store.status().await.unwrap();
        assert_eq!(rows.len(), 60);
        assert!(asked.lock().unwrap().len() >= 60);
        assert_eq!(sched.shutdown(Duration::from_secs(1)).await, 0);
        store.close().await;
    }

    #[tokio::test]
    async fn the_queue_starts_the_earliest_due_first_then_in_dispatch_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).await.unwrap();
        let config = config(&dir.path().join("c.db"), 3, 1);
        let jobs = plan(&store, &config).await.unwrap();
        let (ns, _) = name_server(true, Duration::ZERO).await;
        // No jobs installed: the queue is driven by hand below.
        let sched = Scheduler::start(store.clone(), settings(ns, 1), Vec::new())
            .await
            .unwrap();
        let now = tokio::time::Instant::now();
        let mut queue = Queue::default();
        for (i, (job, offset)) in jobs.into_iter().zip([5u64, 1, 1]).enumerate() {
            sched.shared.running.fetch_add(1, Ordering::SeqCst);
            queue.heap.push(Pending {
                due: now + Duration::from_secs(offset),
                seq: i as u64,
                guard: InFlightGuard {
                    shared: sched.shared.clone(),
                    job: Arc::new(job),
                    cycle: 0,
                },
            });
        }
        let order: Vec<String> = std::iter::from_fn(|| queue.heap.pop())
            .map(|p| p.guard.job.key.clone())
            .collect();
        assert_eq!(order, ["d1.sched.test", "d2.sched.test", "d0.sched.test"]);
        assert_eq!(sched.shutdown(Duration::ZERO).await, 0);
        store.close().await;
    }

    #[test]
    fn the_current_cycle_is_the_latest_firing_and_the_same_all_through_it() {
        let every_30s = CronSchedule::parse("*/30 * * * * *").unwrap();
        let at = |s: &str| s.parse::<chrono::DateTime<Utc>>().unwrap();
        let cycle = at("2026-12-01T10:00:30Z").timestamp_millis();
        for now in [
            "2026-12-01T10:00:30Z",
            "2026-12-01T10:00:30.001Z",
            "2026-12-01T10:00:45.5Z",
            "2026-12-01T10:00:59.999Z",
        ] {
            assert_eq!(every_30s.current_cycle(at(now)), cycle, "{now}");
        }
        assert_eq!(
            every_30s.current_cycle(at("2026-12-01T10:01:00.2Z")),
            cycle + 30_000
        );
    }

    #[test]
    fn jitter_is_capped_at_half_the_period() {
        let hourly = CronSchedule::parse("0 0 * * * *").unwrap();
        assert_eq!(
            jitter_cap(Duration::from_secs(7200), &hourly),
            Duration::from_secs(1800)
        );
        assert_eq!(
            jitter_cap(Duration::from_secs(60), &hourly),
            Duration::from_secs(60)
        );
        for _ in 0..100 {
            assert!(random_below(Duration::from_secs(60)) < Duration::from_secs(60));
        }
        assert_eq!(random_below(Duration::ZERO), Duration::ZERO);
        assert_eq!(random_below(Duration::from_micros(500)), Duration::ZERO);
    }
}
