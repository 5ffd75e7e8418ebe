//! Several real daemons (`certvigil run`, the binary) on one PostgreSQL
//! database (`support::postgres`), checking names served by the loopback
//! DNS server: each domain is checked by one instance per cycle (counted
//! from the run rows), a SIGKILLed instance's domains are taken over, and a
//! CAA change reaches the receiver once.

use crate::support;

use std::collections::HashMap;
use std::time::Duration;

use certvigil::checks::caa::CaaRecord;
use support::daemon::{Daemon, DaemonBench};
use support::dns::TestDns;
use support::http::HttpReceiver;
use support::postgres::fresh_database;

/// Seconds between cycles: short, so the suite stays fast, yet long
/// enough for 1,000 checks of a debug build on a loaded 2-core machine
/// (about 25 to 60 a second were measured here).
const PERIOD_S: i64 = 30;

fn issue(ca: &str) -> CaaRecord {
    CaaRecord::new(0, "issue", ca)
}

fn config(url: &str, nameserver: std::net::SocketAddr, domains: &[String], rest: &str) -> String {
    let mut text = format!(
        r#"[daemon]
database = "{url}"
schedule = "*/{PERIOD_S} * * * * *"
jitter = "3s"
concurrency = 32

[dns]
nameservers = ["{nameserver}"]
timeout = "2s"
{rest}"#
    );
    for d in domains {
        text.push_str(&format!(
            "\n[[domains]]\nname = \"{d}\"\nca = [\"letsencrypt\"]\n"
        ));
    }
    text
}

async fn pool(url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap()
}

/// Every run row: (target, started_at in ms).
async fn runs(pool: &sqlx::PgPool) -> Vec<(i64, i64)> {
    sqlx::query_as("SELECT target_id, started_at FROM runs ORDER BY started_at")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Runs per target in the cycle that starts at `start_ms`.
fn per_target_in_cycle(runs: &[(i64, i64)], start_ms: i64) -> HashMap<i64, usize> {
    let mut out = HashMap::new();
    for (t, at) in runs {
        if (start_ms..start_ms + PERIOD_S * 1000).contains(at) {
            *out.entry(*t).or_default() += 1;
        }
    }
    out
}

async fn wait_until<F, Fut>(bench: &DaemonBench, what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while !f().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}; daemon log (tail):\n{}",
            tail(&bench.log_text())
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The start of the first cycle at or after `ms`.
fn next_cycle(ms: i64) -> i64 {
    let p = PERIOD_S * 1000;
    (ms + p - 1) / p * p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_check_each_domain_once_per_cycle_and_take_over_a_killed_ones() {
    const N: usize = 1000;
    let dns = TestDns::start().await;
    dns.set_logging(false);
    let domains: Vec<String> = (0..N).map(|i| format!("d{i:04}.example.com")).collect();
    for d in &domains {
        dns.set_caa(d, [issue("letsencrypt.org")]);
    }
    let url = fresh_database().await;
    let bench = DaemonBench::new();
    std::fs::write(bench.config(), config(&url, dns.addr(), &domains, "")).unwrap();
    let mut daemons: Vec<Daemon> = (0..3).map(|_| bench.start()).collect();
    let db = pool(&url).await;

    // The first checks (every domain is new) are spread over the three.
    wait_until(
        &bench,
        "every domain checked once",
        Duration::from_secs(180),
        || async {
            let n: i64 = sqlx::query_scalar("SELECT count(DISTINCT target_id) FROM runs")
                .fetch_one(&db)
                .await
                .unwrap_or(0);
            n == N as i64
        },
    )
    .await;
    let targets: Vec<i64> = sqlx::query_scalar("SELECT id FROM targets ORDER BY id")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(targets.len(), N);

    // A full cycle: every domain exactly once, by one of the three
    // (counted from the run rows). The cycle ids the daemons use are the
    // firings to the second (a cycle named by a fraction of a second made
    // every claim a new cycle: domains were checked three times).
    let start = next_cycle(now_ms());
    wait_until(&bench, "a full cycle", Duration::from_secs(120), || async {
        // The cycle is over, and its checks are recorded.
        now_ms() > start + PERIOD_S * 1000 + 1000
    })
    .await;
    let all = runs(&db).await;
    let counts = per_target_in_cycle(&all, start);
    let missing: Vec<&i64> = targets.iter().filter(|t| !counts.contains_key(t)).collect();
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    // What went wrong, if anything: the run times of a few of them.
    let runs_of = |t: i64| -> Vec<i64> {
        all.iter()
            .filter(|(x, _)| *x == t)
            .map(|(_, at)| at - start)
            .collect()
    };
    let sample: Vec<(i64, Vec<i64>)> = missing
        .iter()
        .map(|t| **t)
        .chain(doubled.iter().map(|(t, _)| **t))
        .take(3)
        .map(|t| (t, runs_of(t)))
        .collect();
    assert!(
        missing.is_empty() && doubled.is_empty(),
        "{} domains not checked, {} checked twice in the cycle; runs (ms from its start) of some: {sample:?}",
        missing.len(),
        doubled.len()
    );
    let instances: i64 = sqlx::query_scalar("SELECT count(*) FROM instances")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(instances, 3, "three instances registered");

    // SIGKILL one: the two others take its domains over within one period
    // plus the lease (the lease is one period here).
    let killed = daemons.remove(0);
    killed.signal("-KILL");
    let kill_at = now_ms();
    drop(killed);
    let lease_ms = PERIOD_S * 1000;
    let covered = next_cycle(kill_at + lease_ms);
    wait_until(
        &bench,
        "the cycle after the lease",
        Duration::from_secs(120),
        || async { now_ms() > covered + PERIOD_S * 1000 + 1000 },
    )
    .await;
    let all = runs(&db).await;
    let counts = per_target_in_cycle(&all, covered);
    let missing = targets.iter().filter(|t| !counts.contains_key(t)).count();
    assert_eq!(
        missing, 0,
        "{missing} domains not taken over after the kill"
    );
    assert!(counts.values().all(|n| *n == 1), "a domain checked twice");
    // The figure for the README: when the last domain was checked again
    // after the kill.
    let mut first_after: HashMap<i64, i64> = HashMap::new();
    for (t, at) in &all {
        if *at > kill_at {
            first_after.entry(*t).or_insert(*at);
        }
    }
    let worst = first_after.values().max().copied().unwrap_or(kill_at) - kill_at;
    eprintln!(
        "failover: every domain checked again within {:.1} s of the SIGKILL (period {PERIOD_S} s, lease {PERIOD_S} s)",
        worst as f64 / 1000.0
    );
    assert!(worst <= (PERIOD_S * 1000 + lease_ms) + PERIOD_S * 1000);

    // `status` shows the instances: the killed one no longer refreshed.
    let status = bench.status();
    let instances = status
        .iter()
        .find_map(|l| l.get("instances"))
        .expect("status --format json lists the instances");
    assert_eq!(instances.as_array().unwrap().len(), 3, "{instances}");
    for d in daemons {
        assert_eq!(d.terminate().await, Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caa_change_seen_by_one_of_three_daemons_alerts_once() {
    let dns = TestDns::start().await;
    dns.set_logging(false);
    let domains: Vec<String> = (0..20).map(|i| format!("a{i:02}.example.net")).collect();
    for d in &domains {
        dns.set_caa(d, [issue("letsencrypt.org")]);
    }
    let hook = HttpReceiver::ok("{}").await;
    let url = fresh_database().await;
    let bench = DaemonBench::new();
    let rest = format!(
        "\n[[alerts.webhook]]\nurl = \"{}\"\nformat = \"generic\"\n",
        hook.url("/hook")
    );
    std::fs::write(bench.config(), config(&url, dns.addr(), &domains, &rest)).unwrap();
    let daemons: Vec<Daemon> = (0..3).map(|_| bench.start()).collect();
    let db = pool(&url).await;
    wait_until(
        &bench,
        "every domain checked",
        Duration::from_secs(60),
        || async {
            let n: i64 = sqlx::query_scalar("SELECT count(DISTINCT target_id) FROM runs")
                .fetch_one(&db)
                .await
                .unwrap_or(0);
            n == domains.len() as i64
        },
    )
    .await;
    assert!(hook.received().is_empty(), "a first check alerts nobody");

    dns.set_caa("a07.example.net", [issue("sectigo.com")]);
    hook.wait_for(1).await;
    // Two more cycles (one check per cycle, 30 s apart) see the same
    // records: still one alert.
    let checks = |db: &sqlx::PgPool| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM runs r JOIN targets t ON t.id = r.target_id
                 WHERE t.domain = 'a07.example.net'",
            )
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    let before = checks(&db).await;
    wait_until(
        &bench,
        "two more checks",
        Duration::from_secs(150),
        || async { checks(&db).await >= before + 2 },
    )
    .await;
    let got = hook.received();
    assert_eq!(got.len(), 1, "one alert for one change, from one instance");
    assert_eq!(got[0].json()["event"], "caa_drift");
    let outbox: Vec<(String, i64)> = sqlx::query_as("SELECT status, attempts FROM alert_outbox")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(outbox, [("delivered".to_string(), 1)]);
    for d in daemons {
        assert_eq!(d.terminate().await, Some(0));
    }
}

/// Order polling on a shared database: each order source is polled by one
/// instance per firing of the schedule (it claims the source), not by
/// every instance, so an order alert is raised once. Three daemons poll an
/// ACME order every two seconds; the order server counts the polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_poll_an_order_source_once_per_firing() {
    use support::http::Reply;
    let dns = TestDns::start().await;
    dns.set_logging(false);
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let acme = HttpReceiver::start(vec![], Reply::new(500, "{\"detail\":\"down\"}")).await;
    let url = fresh_database().await;
    let bench = DaemonBench::new();
    let text = format!(
        r#"[daemon]
database = "{url}"
schedule = "*/2 * * * * *"
jitter = "0s"

[dns]
nameservers = ["{ns}"]
timeout = "2s"

[[domains]]
name = "example.com"
ca = ["letsencrypt"]

[[providers]]
name = "le"
kind = "acme"
endpoint = "{directory}"

[[orders]]
name = "pending"
provider = "le"
url = "{order}"
"#,
        ns = dns.addr(),
        directory = acme.url("/directory"),
        order = acme.url("/acme/order/pending-1"),
    );
    std::fs::write(bench.config(), text).unwrap();
    let polls = || {
        acme.received()
            .iter()
            .filter(|r| r.target.contains("pending-1"))
            .count()
    };
    let started = now_ms();
    let daemons: Vec<Daemon> = (0..3).map(|_| bench.start()).collect();
    wait_until(&bench, "six polls", Duration::from_secs(60), || async {
        polls() >= 6
    })
    .await;
    for d in daemons {
        assert_eq!(d.terminate().await, Some(0));
    }
    let ended = now_ms();
    // Firings (even seconds) in the window, plus the start's own poll:
    // one poll each at most. Three uncoordinated instances poll about
    // three times as often.
    let firings = (ended / 2000 - started / 2000 + 1) as usize;
    let seen = polls();
    assert!(
        seen <= firings + 1,
        "{seen} polls in {firings} firings of the schedule:\n{}",
        tail(&bench.log_text())
    );
}
