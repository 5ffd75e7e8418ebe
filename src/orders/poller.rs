//! The daemon's order polling: one task that, on the daemon's schedule
//! (`[daemon] schedule`), polls every order source in turn with
//! [`super::run::poll_provider`] (which records, judges and enqueues alerts
//! in one transaction per order), skips a source that throttled us until
//! its `retry_after`, and wakes the alert deliverers when alerts were
//! enqueued. Polls never overlap: the task runs them one after another, and
//! a poll slower than the schedule makes the next firing wait.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::judge::Thresholds;
use super::run::{RunContext, poll_provider};
use super::validation::{FileCheckSettings, FileFetcher};
use super::{AnyProvider, OrderProvider, OrderSetupError};
use crate::alert::ChannelId;
use crate::alert::deliver::Waker;
use crate::checks::reach::VantagePoint;
use crate::checks::risk::RiskModel;
use crate::config::{Config, CronSchedule};
use crate::dns::DnsHandle;
use crate::dnssec::Validator;
use crate::store::Store;
use crate::views::Views;

/// Everything a poll needs, built from one configuration.
pub struct OrderPolling {
    pub providers: Vec<AnyProvider>,
    pub schedule: CronSchedule,
    pub dns: DnsHandle,
    /// `[dnssec]`'s validator, the orders' own: its answers are forgotten
    /// as each poll starts, so a record that appeared is seen.
    pub dnssec: Option<Arc<Validator>>,
    /// `[dns] view` and the perspectives abroad, as the checks use them.
    pub views: Views,
    pub files: FileFetcher,
    pub thresholds: Thresholds,
    pub risk: Option<RiskModel>,
    pub channels: Vec<ChannelId>,
    pub waker: Waker,
    /// This instance's id when several daemons share a PostgreSQL
    /// database: each source is then polled by one instance per firing of
    /// the schedule, the one that claims it (`store::leases`), so an order
    /// alert is raised once, not once per instance. `None`: the only one.
    pub instance: Option<String>,
}

/// How long an instance holds an order source while it polls it. A poll
/// is short (one request per order); an instance that dies mid-poll
/// leaves the source to the others once this runs out.
const SOURCE_LEASE: Duration = Duration::from_secs(600);

/// Why order polling could not be set up from a configuration.
#[derive(Debug, thiserror::Error)]
pub enum PollerError {
    #[error("cannot set up the order sources: {0}")]
    Sources(#[from] OrderSetupError),
    #[error("cannot set up the validation-file checks of orders: {0}")]
    Files(#[source] crate::http::HttpError),
    #[error("cannot set up DNSSEC validation of orders: {0}")]
    Dnssec(String),
}

impl OrderPolling {
    /// The sources `[[providers]]` and `[[orders]]` name, checked with the
    /// daemon's name servers; `None` when there are no sources.
    pub fn from_config(
        config: &Config,
        dns: DnsHandle,
        channels: Vec<ChannelId>,
        waker: Waker,
    ) -> Result<Option<Self>, PollerError> {
        let providers = AnyProvider::all_from_config(config)?;
        if providers.is_empty() {
            return Ok(None);
        }
        let files = FileFetcher::new(
            FileCheckSettings {
                http_port: config.reach.http_port,
                https_port: config.reach.https_port,
                ..FileCheckSettings::default()
            },
            dns.clone(),
        )
        .map_err(PollerError::Files)?;
        // `config check` validates [risk]; a model that cannot be built
        // only loses the risk part of the order checks.
        let risk = match RiskModel::new(&config.risk) {
            Ok(m) => Some(m),
            Err(e) => {
                warn!("orders: manual-review risk is not assessed: {e}");
                None
            }
        };
        // The validation records are looked up as the checks look
        // (issue 13): the same validator settings and the same views.
        let attempts = crate::dns::DnsSettings::default().attempts;
        let dnssec = crate::dnssec::from_config(&config.dnssec, &dns, config.dns.timeout, attempts)
            .map_err(PollerError::Dnssec)?;
        let views = Views::new(
            &dns,
            &VantagePoint::all_from_config(&config.vantage),
            &config.dns.views,
            config.dns.timeout,
            config
                .globalping
                .as_ref()
                .map(crate::perspective::globalping::GlobalpingDns::from_config),
        );
        Ok(Some(Self {
            providers,
            schedule: config.daemon.schedule.clone(),
            dns,
            dnssec,
            views,
            files,
            thresholds: config.order_thresholds.clone(),
            risk,
            channels,
            waker,
            instance: None,
        }))
    }
}

/// The running polling task.
pub struct OrderPoller {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl OrderPoller {
    /// Polls at once (so a new order is seen at start), then on the schedule.
    pub fn start(store: Store, polling: OrderPolling) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        // Supervised: a panic in a poll (a provider's odd answer) is
        // logged and shown by `status`, and polling goes on.
        let polling = std::sync::Arc::new(polling);
        let task = crate::supervise::spawn("order poller", move || {
            run(store.clone(), polling.clone(), stop_rx.clone())
        });
        Self { stop, task }
    }

    /// Lets a poll in flight finish for up to `grace` (each order is its
    /// own transaction, so a cut-short poll loses nothing recorded), then
    /// stops the task.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            warn!(
                "order poll still running at shutdown; cancelled, it runs again after the restart"
            );
            task.abort();
            let _ = task.await;
        }
    }
}

async fn run(store: Store, polling: std::sync::Arc<OrderPolling>, mut stop: watch::Receiver<bool>) {
    let mut retry_at: Vec<Option<Instant>> = vec![None; polling.providers.len()];
    loop {
        poll_all(&store, &polling, &mut retry_at, &stop).await;
        let now = Utc::now();
        let Some(next) = polling.schedule.next_after(&now) else {
            return;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

async fn poll_all(
    store: &Store,
    polling: &OrderPolling,
    retry_at: &mut [Option<Instant>],
    stop: &watch::Receiver<bool>,
) {
    // Records appear between polls: validate them afresh.
    if let Some(v) = &polling.dnssec {
        v.clear();
    }
    polling.views.new_cycle();
    let ctx = RunContext {
        dns: &polling.dns,
        dnssec: polling.dnssec.as_deref(),
        views: &polling.views,
        files: &polling.files,
        thresholds: &polling.thresholds,
        risk: polling.risk.as_ref(),
        channels: &polling.channels,
    };
    for (provider, retry) in polling.providers.iter().zip(retry_at.iter_mut()) {
        if *stop.borrow() {
            return;
        }
        if retry.is_some_and(|at| Instant::now() < at) {
            continue;
        }
        let Some(claim) = claim_source(store, polling, provider.source()).await else {
            continue;
        };
        let report = poll_provider(provider, store.pool(), &ctx, Utc::now()).await;
        if let Some((key, owner, cycle)) = claim
            && let Err(e) = store
                .release_domain(&key, &owner, Some((Utc::now(), cycle)))
                .await
        {
            warn!(
                source = provider.source(),
                "cannot mark the order source polled: {e}"
            );
        }
        *retry = report.retry_after.map(|d| Instant::now() + d);
        if let Some(d) = report.retry_after {
            warn!(
                source = provider.source(),
                retry_after_secs = d.as_secs(),
                "the order source throttled certvigil; it is skipped until then"
            );
        }
        for (order, message) in &report.errors {
            match order {
                Some(key) => error!(order = %key, "order poll failed: {message}"),
                None => error!(source = provider.source(), "order poll failed: {message}"),
            }
        }
        let mut raised = 0;
        for outcome in &report.outcomes {
            for alert in &outcome.alerts {
                raised += 1;
                info!(order = %outcome.key, event = alert.kind.as_str(), severity = alert.severity.as_str(),
                    "order alert raised: {}", alert.summary);
            }
        }
        if raised > 0 && !polling.channels.is_empty() {
            polling.waker.wake();
        }
    }
}

/// Whether this instance polls `source` now: always when it is the only
/// one (`Some(None)`); on a shared database when it claims the source for
/// the current firing (`Some(Some(lease))`, to release after the poll).
/// `None`: another instance polls it this time, or the claim failed (the
/// store is failing: a poll could not be recorded either).
async fn claim_source(
    store: &Store,
    polling: &OrderPolling,
    source: &str,
) -> Option<Option<(String, String, i64)>> {
    let Some(owner) = &polling.instance else {
        return Some(None);
    };
    let now = Utc::now();
    let cycle = polling.schedule.current_cycle(now);
    let key = format!("orders:{source}");
    match store
        .claim_domain(&key, owner, cycle, now, SOURCE_LEASE)
        .await
    {
        Ok(crate::store::Claim::Got) => Some(Some((key, owner.clone(), cycle))),
        Ok(_) => {
            tracing::debug!(source, "another instance polls this order source this time");
            None
        }
        Err(e) => {
            warn!(source, "cannot claim the order source: {e}");
            None
        }
    }
}
