//! When checks run. One cron job (tokio-cron-scheduler) per distinct
//! schedule; each firing dispatches the domains on that schedule. A dispatched
//! check waits a random jitter (spreading a cycle over time), then a permit
//! of the concurrency semaphore (bounding it), then gathers, judges and
//! records.
//!
//! tokio-cron-scheduler spawns every firing, so a slow name server could let
//! two cycles of one domain overlap; the in-flight set below makes the later
//! one skip instead. The set, the semaphore's owner and the in-flight count
//! survive reloads, so a reload never doubles a check either.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use thiserror::Error;
use tokio::sync::{Notify, Semaphore, watch};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::alert::deliver::Waker;
use crate::alert::policy::PolicyConfig;
use crate::alert::{Alert, ChannelId};
use crate::checks::caa::IssuanceRequest;
use crate::checks::caa::gather::gather_caa;
use crate::checks::caa::judge::judge;
use crate::checks::reach::{self, JudgeContext, Method, ProbeSettings, ProbeTarget, VantagePoint};
use crate::config::{Config, CronSchedule, DomainTarget, ReachConfig};
use crate::dns::DnsHandle;
use crate::domain::DomainName;
use crate::drift::{CheckResult, EventKind};
use crate::store::{
    AlertTarget, CaaAlerting, ReachAlerting, ReachCheck, RecordedChecks, RecordedEvent, Store,
    StoreError, Target, TargetCheck, TargetKey,
};

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

/// One configured domain, checked as a unit: its CAA tree is gathered once
/// and judged for every certificate name and CA it has.
#[derive(Debug, Clone)]
pub struct DomainJob {
    /// The config entry's name as written (`example.com`, `*.example.com`):
    /// the unit of non-overlap.
    pub key: String,
    /// Where the CAA climb starts.
    pub base: DomainName,
    pub schedule: CronSchedule,
    pub targets: Vec<JobTarget>,
    /// The names validated over HTTP (file, http-01), probed each check.
    pub reach: Vec<ReachJob>,
}

/// One name whose validation path is probed: once per check, judged per CA.
#[derive(Debug, Clone)]
pub struct ReachJob {
    pub probe: ProbeTarget,
    pub targets: Vec<ReachJobTarget>,
}

#[derive(Debug, Clone)]
pub struct ReachJobTarget {
    pub target_id: i64,
    pub context: JudgeContext,
    pub display_name: String,
    pub ca_display: String,
}

#[derive(Debug, Clone)]
pub struct JobTarget {
    pub target: Target,
    pub request: IssuanceRequest,
    /// The certificate name as alerts show it (Unicode, `*.` for wildcards).
    pub display_name: String,
    /// The CA's display name (`Sectigo`).
    pub ca_display: String,
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
        for ca in &domain.ca {
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
    let stored = store.sync_targets(&wanted).await?;
    let by_key: HashMap<&TargetKey, &Target> = stored.iter().map(|t| (&t.key, t)).collect();
    let mut jobs = Vec::with_capacity(config.domains.len());
    let mut seen = HashSet::new();
    for d in &config.domains {
        let key = d.name.to_string();
        if !seen.insert(key.clone()) {
            continue;
        }
        let mut targets = Vec::new();
        for name in d.cert_names() {
            for ca in &d.ca {
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
                    display_name: display_name(&name),
                    ca_display: if ca.display.is_empty() {
                        ca.name.clone()
                    } else {
                        ca.display.clone()
                    },
                    request: IssuanceRequest {
                        wildcard: name.is_wildcard(),
                        issuer_domains: ca.issuer_domains.clone(),
                        account_uri: d.account_uri.clone(),
                        validation_method: d.validation_method.clone(),
                    },
                });
            }
        }
        let reach = reach_jobs(d, &targets, &config.reach);
        jobs.push(DomainJob {
            key,
            reach,
            base: d.name.base().clone(),
            schedule: d
                .schedule
                .clone()
                .unwrap_or_else(|| config.daemon.schedule.clone()),
            targets,
        });
    }
    Ok(jobs)
}

/// The reach probes of a domain validated over HTTP: one per name that is
/// not a wildcard (HTTP cannot validate wildcards, and the CAA check already
/// tells that to whoever asks for one).
fn reach_jobs(d: &DomainTarget, targets: &[JobTarget], reach: &ReachConfig) -> Vec<ReachJob> {
    let Some(method) = d.validation_method.as_deref().and_then(Method::from_label) else {
        return Vec::new();
    };
    d.cert_names()
        .into_iter()
        .filter(|name| !name.is_wildcard())
        .map(|name| ReachJob {
            probe: reach::target_for(&name, method, Some(d), reach),
            targets: targets
                .iter()
                .filter(|t| !t.target.key.wildcard && &t.target.key.domain == name.base())
                .filter_map(|t| {
                    let ca = d.ca.iter().find(|c| c.name == t.target.key.ca)?;
                    Some(ReachJobTarget {
                        target_id: t.target.id,
                        context: reach::context_for(method, ca),
                        display_name: t.display_name.clone(),
                        ca_display: t.ca_display.clone(),
                    })
                })
                .collect(),
        })
        .collect()
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
    pub dns: DnsHandle,
    pub concurrency: usize,
    pub jitter: Duration,
    pub alerts: AlertSettings,
    /// Where reachability is probed from (this host when none configured).
    pub vantages: Vec<VantagePoint>,
    pub probe: ProbeSettings,
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
    /// SIGTERM: start nothing new; checks waiting for jitter or a permit
    /// give up, running ones may finish.
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
    live: RwLock<Live>,
    /// Keys of the domains with a check dispatched and not yet finished.
    in_flight: Mutex<HashSet<String>>,
    running: AtomicUsize,
    idle: Notify,
    phase: watch::Sender<Phase>,
}

/// Removes the domain from the in-flight set however the check ends.
struct InFlightGuard {
    shared: Arc<Shared>,
    key: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Ok(mut set) = self.shared.in_flight.lock() {
            set.remove(&self.key);
        }
        if self.shared.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.idle.notify_waiters();
        }
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
        let (phase, _) = watch::channel(Phase::Running);
        let semaphore = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        let shared = Arc::new(Shared {
            store,
            live: RwLock::new(Live {
                settings: Arc::new(settings),
                semaphore,
            }),
            in_flight: Mutex::new(HashSet::new()),
            running: AtomicUsize::new(0),
            idle: Notify::new(),
            phase,
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
                    for job in group.iter() {
                        dispatch(&shared, job.clone(), true);
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
            dispatch(&self.shared, job, false);
        }
        Ok(())
    }

    /// How many domain checks are dispatched and not finished.
    pub fn in_flight(&self) -> usize {
        self.shared.running.load(Ordering::SeqCst)
    }

    /// Stops scheduling, lets running checks finish for up to `grace`, then
    /// cancels what is left and waits for the cancellations to land.
    /// Returns how many checks were cancelled.
    pub async fn shutdown(mut self, grace: Duration) -> usize {
        if let Err(e) = self.cron.shutdown().await {
            warn!(error = %e, "the cron scheduler did not stop cleanly");
        }
        self.shared.phase.send_replace(Phase::Draining);
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
        wait_idle(&self.shared, Duration::from_secs(2)).await;
        left
    }
}

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

/// Starts one domain's check unless one is already in flight.
fn dispatch(shared: &Arc<Shared>, job: Arc<DomainJob>, with_jitter: bool) {
    if *shared.phase.borrow() != Phase::Running {
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
    let guard = InFlightGuard {
        shared: shared.clone(),
        key: job.key.clone(),
    };
    let (settings, semaphore) = {
        let live = shared.live.read().unwrap_or_else(|e| e.into_inner());
        (live.settings.clone(), live.semaphore.clone())
    };
    let span = info_span!("check", domain = %job.key);
    tokio::spawn(
        async move {
            let _guard = guard;
            let phase = guard_phase(&_guard);
            let delay = if with_jitter {
                jitter_delay(settings.jitter, &job.schedule)
            } else {
                Duration::ZERO
            };
            let permit = tokio::select! {
                biased;
                _ = reached(phase.clone(), Phase::Draining) => return,
                permit = async {
                    tokio::time::sleep(delay).await;
                    semaphore.acquire_owned().await
                } => permit,
            };
            let Ok(_permit) = permit else { return };
            tokio::select! {
                biased;
                _ = reached(phase, Phase::Cancelled) => {
                    warn!("check cancelled at shutdown; it will run again after the restart");
                }
                result = check_domain(&_guard.shared.store, &settings, &job) => match result {
                    Ok(recorded) => {
                        log_events(&recorded.events);
                        if !recorded.alerts.is_empty() {
                            settings.alerts.waker.wake();
                            log_alerts(&recorded.alerts);
                        }
                    }
                    Err(e) => error!(error = %e, "could not record the check"),
                },
            }
        }
        .instrument(span),
    );
}

fn guard_phase(guard: &InFlightGuard) -> watch::Receiver<Phase> {
    guard.shared.phase.subscribe()
}

/// A random delay below `jitter`, capped at half the schedule's period so a
/// cycle's checks are done before the next cycle fires.
fn jitter_delay(jitter: Duration, schedule: &CronSchedule) -> Duration {
    let cap = schedule_period(schedule).map_or(jitter, |p| jitter.min(p / 2));
    if cap.is_zero() {
        return Duration::ZERO;
    }
    let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..ms))
}

/// The time between the next two firings.
pub fn schedule_period(schedule: &CronSchedule) -> Option<Duration> {
    let now = Utc::now();
    let a = schedule.next_after(&now)?;
    let b = schedule.next_after(&a)?;
    (b - a).to_std().ok()
}

/// Gathers once for the domain, judges per target, records in one
/// transaction with the alerts the changes raise.
pub async fn check_domain(
    store: &Store,
    settings: &CheckSettings,
    job: &DomainJob,
) -> Result<RecordedChecks, StoreError> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let reach_probes = job
        .reach
        .iter()
        .map(|r| reach::check(&r.probe, &settings.vantages, &settings.dns, &settings.probe));
    let (observation, reach_observations) = tokio::join!(
        gather_caa(&settings.dns, &job.base),
        futures::future::join_all(reach_probes)
    );
    let verdicts: Vec<AlertTarget> = job
        .targets
        .iter()
        .map(|t| AlertTarget {
            target_id: t.target.id,
            domain: t.display_name.clone(),
            ca: t.ca_display.clone(),
            verdict: judge(&observation, &t.request),
        })
        .collect();
    let checks: Vec<TargetCheck> = verdicts
        .iter()
        .map(|t| TargetCheck {
            target_id: t.target_id,
            result: CheckResult::from_verdict(t.verdict.clone()),
        })
        .collect();
    let alerting = CaaAlerting {
        policy: &settings.alerts.policy,
        channels: &settings.alerts.channels,
        base: &job.base,
        targets: &verdicts,
    };
    let mut recorded = store
        .record_checks_alerting(started_at, clock.elapsed(), &checks, Some(&alerting))
        .await?;

    let reach_alerting = ReachAlerting {
        policy: &settings.alerts.policy,
        channels: &settings.alerts.channels,
    };
    for (r, obs) in job.reach.iter().zip(&reach_observations) {
        let checks: Vec<ReachCheck> = r
            .targets
            .iter()
            .map(|t| ReachCheck {
                target_id: t.target_id,
                domain: t.display_name.clone(),
                ca: t.ca_display.clone(),
                verdict: reach::judge(obs, &t.context),
            })
            .collect();
        for c in &checks {
            debug!(name = %c.domain, ca = %c.ca, verdict = c.verdict.verdict.as_str(), "reach judged");
        }
        let alerts = store.record_reach(&checks, &reach_alerting).await?;
        recorded.alerts.extend(alerts);
    }
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
        let target = e.target.cert_name();
        let before = e.before_status.map_or("none", |s| s.as_str());
        let after = e.after_status.as_str();
        match e.kind {
            EventKind::CaaDrift => warn!(
                target = %target, ca = %e.target.ca, before, after, blocks = e.blocks,
                "caa_drift: the relevant CAA record set changed"
            ),
            EventKind::LookupError => warn!(
                target = %target, ca = %e.target.ca, before,
                "lookup_error: CAA lookups fail; a CA would refuse to issue"
            ),
            EventKind::LookupRecovered => info!(
                target = %target, ca = %e.target.ca, after,
                "lookup_recovered: CAA lookups succeed again, records unchanged"
            ),
            EventKind::Baseline => info!(
                target = %target, ca = %e.target.ca, after, blocks = e.blocks,
                "baseline: first CAA state recorded"
            ),
        }
    }
}
