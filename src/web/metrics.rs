//! `/metrics` in the Prometheus text format. What the store knows (targets
//! by verdict, the outbox, orders) is read at each scrape, so a restart
//! loses nothing; what only the running process knows (checks run, their
//! duration, the last completed cycle) is counted in [`process`], which
//! the scheduler updates, and DNS queries and probes in
//! [`crate::telemetry`], which the DNS client and the reach probe update.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::alert::outbox;
use crate::store::{Store, StoreError};

type Labels = Vec<(&'static str, String)>;

/// What the running daemon counts; one per process.
pub struct ProcessMetrics {
    checks: Family<Labels, Counter>,
    duration: Histogram,
    last_cycle: Gauge<f64, AtomicU64>,
}

/// Check durations run from a loopback answer (ms) to a name server that
/// times out several times (tens of seconds).
const DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static PROCESS: LazyLock<ProcessMetrics> = LazyLock::new(|| ProcessMetrics {
    checks: Family::default(),
    duration: Histogram::new(DURATION_BUCKETS),
    last_cycle: Gauge::default(),
});

/// The process's counters.
pub fn process() -> &'static ProcessMetrics {
    &PROCESS
}

impl ProcessMetrics {
    /// One domain check ended: `recorded` or `failed` (not stored).
    pub fn check_done(&self, recorded: bool, took: Duration) {
        let outcome = if recorded { "recorded" } else { "failed" };
        self.checks
            .get_or_create(&vec![("outcome", outcome.to_string())])
            .inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// Every dispatched check has finished.
    pub fn cycle_completed(&self, at: DateTime<Utc>) {
        self.last_cycle.set(at.timestamp_millis() as f64 / 1000.0);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Outbox(#[from] outbox::OutboxError),
    #[error("reading the orders: {0}")]
    Orders(#[from] crate::orders::record::RecordError),
    #[error("encoding the metrics: {0}")]
    Encode(#[from] std::fmt::Error),
}

fn gauge_family() -> Family<Labels, Gauge> {
    Family::default()
}

/// The whole exposition, read now.
pub async fn render(store: &Store) -> Result<String, MetricsError> {
    let mut registry = Registry::with_prefix("certvigil");

    let targets = gauge_family();
    for row in store.status().await? {
        let verdict = row.status.map_or("unchecked", |s| s.as_str());
        targets
            .get_or_create(&vec![
                ("check", "caa".to_string()),
                ("verdict", verdict.to_string()),
            ])
            .inc();
    }
    for row in store.reach_status().await? {
        targets
            .get_or_create(&vec![
                ("check", "reach".to_string()),
                ("verdict", row.verdict),
            ])
            .inc();
    }
    registry.register(
        "targets",
        "Configured targets (name, CA) by check and current verdict",
        targets,
    );

    let p = process();
    registry.register(
        "checks",
        "Domain checks run by this process, by outcome (recorded, or failed to be stored)",
        p.checks.clone(),
    );
    registry.register_with_unit(
        "check_duration",
        "Time a domain check took (gather, judge, record)",
        Unit::Seconds,
        p.duration.clone(),
    );
    registry.register_with_unit(
        "last_cycle_completed_timestamp",
        "When every dispatched check had last finished (Unix time; 0 before the first)",
        Unit::Seconds,
        p.last_cycle.clone(),
    );

    let dns = Family::<Labels, Counter>::default();
    for (outcome, n) in crate::telemetry::dns_queries() {
        dns.get_or_create(&vec![("outcome", outcome.to_string())])
            .inc_by(n);
    }
    registry.register(
        "dns_queries",
        "DNS queries this process sent to a name server, by outcome (answer, nxdomain, servfail, refused, other_rcode, timeout, malformed, network_error)",
        dns,
    );
    let probes = Family::<Labels, Counter>::default();
    for (vantage, counters) in crate::telemetry::vantages() {
        for (result, n) in counters.counts() {
            probes
                .get_or_create(&vec![
                    ("vantage", vantage.clone()),
                    ("result", result.to_string()),
                ])
                .inc_by(n);
        }
    }
    registry.register(
        "probes",
        "Validation-path probes this process ran, by vantage point and result (the HTTP status class of a port's last answer, why it got none, or vantage_error)",
        probes,
    );

    let depth = gauge_family();
    let failed = gauge_family();
    for (channel, status, n) in outbox::counts_by_channel(store.pool()).await? {
        match status.as_str() {
            "pending" | "sending" => {
                depth.get_or_create(&vec![("channel", channel)]).inc_by(n);
            }
            "failed" => {
                failed.get_or_create(&vec![("channel", channel)]).inc_by(n);
            }
            _ => {}
        }
    }
    registry.register(
        "outbox_depth",
        "Alerts waiting for delivery (not tried yet, or being retried), per channel",
        depth,
    );
    registry.register(
        "alert_deliveries_failed",
        "Alerts given up on (kept in the outbox), per channel",
        failed,
    );

    let orders = gauge_family();
    for order in crate::orders::record::list_orders(store.pool()).await? {
        orders
            .get_or_create(&vec![("state", order.phase.as_str().to_string())])
            .inc();
    }
    registry.register("orders", "Followed certificate orders by state", orders);

    // Several daemons on one PostgreSQL database (empty on SQLite): when
    // each running instance was last seen and how many domains it holds,
    // so a dead one (last seen growing, its leases running out) can alert.
    let seen = gauge_family();
    let leases = gauge_family();
    for i in store.instances(Utc::now()).await? {
        if i.stopped_at.is_some() {
            continue;
        }
        // `id`, not `instance`: Prometheus sets `instance` to the scraped target.
        let labels = vec![("id", i.id.clone()), ("host", i.host.clone())];
        seen.get_or_create(&labels).set(i.last_seen.timestamp());
        leases.get_or_create(&labels).set(i.leases);
    }
    registry.register_with_unit(
        "instance_last_seen_timestamp",
        "When each running instance sharing the database was last seen (Unix time; none on SQLite)",
        Unit::Seconds,
        seen,
    );
    registry.register(
        "instance_leases",
        "Domains each running instance sharing the database holds a lease on now",
        leases,
    );

    let info = gauge_family();
    info.get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").to_string())])
        .set(1);
    registry.register(
        "build_info",
        "The running certvigil's version (always 1)",
        info,
    );

    let mut out = String::new();
    encode(&mut out, &registry)?;
    Ok(out)
}

/// The OpenMetrics exposition `render` makes, rewritten to the classic
/// Prometheus text format (0.0.4) that scrapers ask for by default and
/// `promtool check metrics` reads: a counter family is named with its
/// `_total` suffix there, and `# UNIT` and `# EOF` do not exist.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_get_their_total_name_and_openmetrics_only_lines_go() {
        let om = "# HELP certvigil_checks Checks.\n# TYPE certvigil_checks counter\n\
                  certvigil_checks_total{outcome=\"recorded\"} 4\n\
                  # HELP certvigil_d Time.\n# TYPE certvigil_d histogram\n# UNIT certvigil_d seconds\n\
                  certvigil_d_count 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP certvigil_checks_total Checks.\n# TYPE certvigil_checks_total counter\n\
             certvigil_checks_total{outcome=\"recorded\"} 4\n\
             # HELP certvigil_d Time.\n# TYPE certvigil_d histogram\ncertvigil_d_count 1\n"
        );
    }
}
