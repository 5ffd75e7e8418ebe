//! Issue 16: several daemons on one PostgreSQL database, at scale. Run with
//! `cargo bench --bench instances` (needs `nsd`, `nsd-control` and
//! PostgreSQL's `initdb`/`postgres`, as `scripts/test` installs). It
//! 1. serves N names (default 100,000) in issue 15's zone shape with NSD on
//!    127.0.0.1 (`lab::zone15`), counting its queries;
//! 2. starts a throwaway PostgreSQL cluster (`support::postgres`, the
//!    tests' own: initdb in a temporary directory, fsync off) and a fresh
//!    database;
//! 3. starts K daemons (default 3), the release binary, with the same
//!    configuration but for their `[web]` port: every name, `view =
//!    "recursive"` (the name's own server is NSD, asked through the
//!    `nameservers`), a yearly schedule, no jitter. Every name is new, so
//!    they check them all on start-up, sharing them through the leases:
//!    that is the first cycle (first checks: targets, observations and
//!    events are written too);
//! 4. then measures one ordinary cycle: the configuration is rewritten to
//!    fire once, a little later, and reloaded (SIGHUP); from the firing
//!    until every name has a run row started after it. Between a snapshot
//!    taken after the reload and one taken when every lease is let go, it
//!    reports: wall time (firing to the end of the last check), names
//!    checked per instance (their `/metrics` counters), CPU seconds of each
//!    instance, of PostgreSQL (postmaster and backends) and of NSD, peak RSS
//!    of each instance, queries/s towards NSD, and the rows and bytes each
//!    table gained (row counts, `pg_total_relation_size`, WAL bytes);
//! 5. checks that every name was checked exactly once in the cycle
//!    (counted from the run rows) and none with outcome `error`; the
//!    process exits 1 if not, so a broken run never passes for a slow one.
//!
//! Knobs (environment): CERTVIGIL_BENCH_NAMES (100000),
//! CERTVIGIL_BENCH_INSTANCES (3), CERTVIGIL_BENCH_CONCURRENCY (64, per
//! instance), CERTVIGIL_BENCH_RELOAD_MARGIN (seconds from the reload to
//! the firing: one per 500 names, at least 30). Results also go to `target/bench-instances.json`.

#[path = "../tests/it/support/mod.rs"]
mod support;

mod lab;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::json;
use sqlx::PgPool;

use lab::procfs;
use lab::zone15::{self, CA, Nsd};
use lab::{env_usize, target_dir};

const BIN: &str = env!("CARGO_BIN_EXE_certvigil");
/// Once a year: only the start-up cycle runs until the bench reschedules.
const YEARLY: &str = "0 0 0 1 1 *";

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// One daemon: its process, its config file, its web port, its log.
struct Instance {
    child: Child,
    config: PathBuf,
    port: u16,
    log: PathBuf,
}

impl Instance {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// Domain checks this process recorded (`certvigil_checks_total`).
    fn checks_recorded(&self) -> u64 {
        let page = http_get(self.port, "/metrics");
        page.lines()
            .find_map(|l| {
                l.strip_prefix("certvigil_checks_total{outcome=\"recorded\"}")
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0) as u64
    }
}

impl Drop for Instance {
    /// Stopped however the bench ends (a failed wait panics): SIGTERM, and
    /// SIGKILL if it has not stopped within a minute.
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(port: u16, path: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut page = String::new();
    let _ = s.read_to_string(&mut page);
    page
}

fn config_text(
    url: &str,
    schedule: &str,
    port: u16,
    nsd: &Nsd,
    names: &[String],
    concurrency: usize,
) -> String {
    let mut text = format!(
        "[daemon]\ndatabase = \"{url}\"\nschedule = \"{schedule}\"\njitter = \"0s\"\n\
         concurrency = {concurrency}\n\n[web]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [dns]\nnameservers = [\"{}\"]\nview = \"recursive\"\ntimeout = \"5s\"\n",
        nsd.addr
    );
    text.reserve(names.len() * 48);
    for n in names {
        text.push_str(&format!("\n[[domains]]\nname = \"{n}\"\nca = [\"{CA}\"]\n"));
    }
    text
}

/// A cron expression (seconds first, UTC) that fires once a year, at `at`.
fn once_at(at: DateTime<Utc>) -> String {
    format!(
        "{} {} {} {} {} *",
        at.second(),
        at.minute(),
        at.hour(),
        at.day(),
        at.month()
    )
}

/// What the database holds: per table, rows and bytes (indexes and TOAST
/// included); the database's size; the WAL position.
#[derive(Debug, Clone, Default)]
struct DbSnapshot {
    tables: BTreeMap<String, (i64, i64)>,
    database_bytes: i64,
    wal_lsn: String,
}

async fn db_snapshot(pool: &PgPool) -> DbSnapshot {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    )
    .fetch_all(pool)
    .await
    .expect("list the tables");
    let mut tables = BTreeMap::new();
    for t in names {
        // Names from the catalogue, quoted: nothing from outside.
        let sql = format!(
            "SELECT count(*)::bigint, pg_total_relation_size('public.\"{t}\"')::bigint FROM public.\"{t}\""
        );
        let row: (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await
            .expect("count a table");
        tables.insert(t, row);
    }
    let database_bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(pool)
        .await
        .expect("the database size");
    let wal_lsn: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
        .fetch_one(pool)
        .await
        .expect("the WAL position");
    DbSnapshot {
        tables,
        database_bytes,
        wal_lsn,
    }
}

async fn wal_bytes_between(pool: &PgPool, from: &str, to: &str) -> i64 {
    sqlx::query_scalar("SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint")
        .bind(to)
        .bind(from)
        .fetch_one(pool)
        .await
        .expect("the WAL difference")
}

/// CPU seconds, peak RSS and recorded checks of each instance, and the CPU
/// of PostgreSQL and NSD, at one moment.
#[derive(Debug, Clone)]
struct ProcSnapshot {
    at: Instant,
    instance_cpu: Vec<f64>,
    instance_checks: Vec<u64>,
    postgres_cpu: f64,
    nsd_cpu: f64,
    nsd_queries: Option<u64>,
}

fn proc_snapshot(instances: &[Instance], pg_pid: Option<u32>, nsd: &Nsd) -> ProcSnapshot {
    let secs = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64());
    ProcSnapshot {
        at: Instant::now(),
        instance_cpu: instances
            .iter()
            .map(|i| secs(procfs::cpu(i.pid())))
            .collect(),
        instance_checks: instances.iter().map(Instance::checks_recorded).collect(),
        postgres_cpu: secs(pg_pid.and_then(procfs::tree_cpu)),
        nsd_cpu: secs(procfs::tree_cpu(nsd.pid())),
        nsd_queries: nsd.queries(),
    }
}

/// Polls `f` every second until it holds; panics (with the instances'
/// logs) if a daemon exits or `limit` passes.
async fn wait_until<F, Fut>(what: &str, instances: &mut [Instance], limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if f().await {
            return;
        }
        for (k, i) in instances.iter_mut().enumerate() {
            if let Ok(Some(status)) = i.child.try_wait() {
                panic!(
                    "instance {k} exited ({status}) while waiting for {what}; its log:\n{}",
                    tail(&i.log_text(), 40)
                );
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out ({} s) waiting for {what}; instance 0's log:\n{}",
            limit.as_secs(),
            tail(&instances[0].log_text(), 40)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

async fn scalar(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap_or(-1)
}

fn main() {
    let n = env_usize("CERTVIGIL_BENCH_NAMES", 100_000);
    let k = env_usize("CERTVIGIL_BENCH_INSTANCES", 3).max(1);
    let concurrency = env_usize("CERTVIGIL_BENCH_CONCURRENCY", 64).max(1);
    // Reloading 100,000 domains took over 60 s on the loaded 2-core
    // machine: a second per 500 names, at least 30 s.
    let margin = env_usize("CERTVIGIL_BENCH_RELOAD_MARGIN", (n / 500).max(30)) as i64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let load_before = loadavg();
    let nproc = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "instances: {n} names, {k} instances (concurrency {concurrency} each); machine: {nproc} CPU(s), load average before: {load_before}"
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let names = zone15::names(n);
    let nsd_dir = dir.path().join("nsd");
    fs::create_dir_all(&nsd_dir).expect("the NSD directory");
    let nsd = Nsd::start(&zone15::zone_file(&names), &nsd_dir);
    assert!(
        nsd.queries().is_some(),
        "nsd-control cannot read NSD's counters (the Debian package nsd ships it)"
    );
    let url = runtime.block_on(support::postgres::fresh_database());
    let pg_pid = support::postgres::server_pid();
    let pool = runtime
        .block_on(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect(&url),
        )
        .expect("connect to the bench database");
    println!(
        "NSD ({}) on {}, PostgreSQL {url} (throwaway cluster, fsync off), postmaster pid {pg_pid:?}",
        nsd.version, nsd.addr
    );

    // The daemons: one config file each (their web ports differ).
    let mut instances: Vec<Instance> = (0..k)
        .map(|i| {
            let port = zone15::free_port();
            let config = dir.path().join(format!("config-{i}.toml"));
            fs::write(
                &config,
                config_text(&url, YEARLY, port, &nsd, &names, concurrency),
            )
            .expect("write a config");
            let log = dir.path().join(format!("daemon-{i}.log"));
            let child = Command::new(BIN)
                .args(["run", "--config"])
                .arg(&config)
                .env("RUST_LOG", "warn,certvigil::daemon=info")
                .env_remove("NOTIFY_SOCKET")
                .stdin(Stdio::null())
                // The daemon logs to stdout.
                .stdout(File::create(&log).expect("create a daemon log"))
                .stderr(Stdio::null())
                .spawn()
                .expect("start a daemon");
            Instance {
                child,
                config,
                port,
                log,
            }
        })
        .collect();

    let mut problems: Vec<String> = Vec::new();
    let report = runtime.block_on(async {
        // 1. The start-up cycle: every name new, shared by the instances
        // that are running (an instance that starts while another records
        // its first checks waits for it: it joins late).
        let started = Instant::now();
        let nsd_q0 = nsd.queries();
        wait_until(
            "the start-up cycle (every name checked once)",
            &mut instances,
            Duration::from_secs(4 * 3600),
            || async {
                scalar(&pool, "SELECT count(DISTINCT target_id) FROM runs").await == n as i64
            },
        )
        .await;
        let first_wall = started.elapsed().as_secs_f64();
        // Every instance running (its signal handling and scheduler up)
        // before the reload that arms the measured cycle.
        let run_deadline = Instant::now() + Duration::from_secs(1800);
        while !instances
            .iter()
            .all(|i| i.log_text().contains("certvigil is running"))
        {
            assert!(Instant::now() < run_deadline, "an instance never started");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        wait_until("the start-up leases let go", &mut instances, Duration::from_secs(600), || async {
            scalar(&pool, "SELECT count(*) FROM target_leases WHERE owner IS NOT NULL").await == 0
        })
        .await;
        let first_runs = scalar(&pool, "SELECT count(*) FROM runs").await;
        let first_q = match (nsd_q0, nsd.queries()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let first_cpu: Vec<f64> = instances
            .iter()
            .map(|i| procfs::cpu(i.pid()).map_or(f64::NAN, |d| d.as_secs_f64()))
            .collect();
        let first_checks: Vec<u64> = instances.iter().map(Instance::checks_recorded).collect();
        println!(
            "start-up cycle (first checks, start-up of the daemons included): {first_wall:.1} s wall, \
             {first_runs} runs for {n} names, checks per instance {first_checks:?}, \
             CPU s per instance {first_cpu:.1?}, NSD queries {first_q:?}"
        );
        if first_runs != n as i64 {
            problems.push(format!(
                "start-up cycle: {first_runs} run rows for {n} names (each name once expected)"
            ));
        }

        // 2. One ordinary cycle, fired at a chosen second after a reload.
        // A firing that comes before an instance has reloaded is missed
        // by it: then again, later.
        let mut margin = margin;
        let fire_at = loop {
            let fire_at = {
                let t = Utc::now() + chrono::Duration::seconds(margin);
                t.with_nanosecond(0).expect("a whole second")
            };
            let reloads_before: Vec<usize> = instances
                .iter()
                .map(|i| i.log_text().matches("configuration reloaded").count())
                .collect();
            for i in &instances {
                fs::write(
                    &i.config,
                    config_text(&url, &once_at(fire_at), i.port, &nsd, &names, concurrency),
                )
                .expect("rewrite a config");
                i.signal(libc::SIGHUP);
            }
            // Each instance logs its reload; a refused one is a broken bench.
            let reload_deadline = Instant::now() + Duration::from_secs(600);
            loop {
                let logs: Vec<String> = instances.iter().map(Instance::log_text).collect();
                if let Some(refused) =
                    logs.iter().find(|l| l.contains("configuration reload refused"))
                {
                    panic!("a reload was refused:\n{}", tail(refused, 20));
                }
                let reloaded = logs
                    .iter()
                    .zip(&reloads_before)
                    .all(|(l, b)| l.matches("configuration reloaded").count() > *b);
                if reloaded {
                    break;
                }
                assert!(
                    Instant::now() < reload_deadline,
                    "the instances did not log their reload; instance 0's log:\n{}",
                    tail(&logs[0], 40)
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            if Utc::now() + chrono::Duration::seconds(1) < fire_at {
                break fire_at;
            }
            println!("the reloads ended after the firing at {fire_at}: again, {} s ahead", margin * 2);
            margin *= 2;
            // Past that firing, so an instance that did fire is not
            // counted in the next one.
            tokio::time::sleep(Duration::from_secs(5)).await;
        };
        let fire_ms = fire_at.timestamp_millis();
        let db_before = db_snapshot(&pool).await;
        let before = proc_snapshot(&instances, pg_pid, &nsd);
        println!(
            "cycle fires at {fire_at} (schedule \"{}\"); waiting",
            once_at(fire_at)
        );
        wait_until(
            "every name checked in the cycle",
            &mut instances,
            Duration::from_secs(4 * 3600),
            || async {
                sqlx::query_scalar::<_, i64>(
                    "SELECT count(DISTINCT target_id) FROM runs WHERE started_at >= $1",
                )
                .bind(fire_ms)
                .fetch_one(&pool)
                .await
                .unwrap_or(-1)
                    == n as i64
            },
        )
        .await;
        wait_until("the cycle's leases let go", &mut instances, Duration::from_secs(600), || async {
            scalar(&pool, "SELECT count(*) FROM target_leases WHERE owner IS NOT NULL").await == 0
        })
        .await;
        let after = proc_snapshot(&instances, pg_pid, &nsd);
        let db_after = db_snapshot(&pool).await;
        let wal = wal_bytes_between(&pool, &db_before.wal_lsn, &db_after.wal_lsn).await;
        let (runs, distinct, end_ms, errors, blocking): (i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT target_id), coalesce(max(started_at + duration_ms), 0),
                    count(*) FILTER (WHERE outcome = 2), count(*) FILTER (WHERE outcome = 1)
             FROM runs WHERE started_at >= $1",
        )
        .bind(fire_ms)
        .fetch_one(&pool)
        .await
        .expect("count the cycle's runs");
        let doubled: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT target_id FROM runs WHERE started_at >= $1
             GROUP BY target_id HAVING count(*) > 1) d",
        )
        .bind(fire_ms)
        .fetch_one(&pool)
        .await
        .expect("count doubled runs");
        let first_start: i64 =
            sqlx::query_scalar("SELECT min(started_at) FROM runs WHERE started_at >= $1")
                .bind(fire_ms)
                .fetch_one(&pool)
                .await
                .expect("the first run");
        if runs != n as i64 || distinct != n as i64 || doubled != 0 {
            problems.push(format!(
                "cycle: {runs} runs, {distinct} names, {doubled} checked more than once, for {n} names"
            ));
        }
        if errors > 0 {
            problems.push(format!("cycle: {errors} checks with outcome error"));
        }
        let expected_blocking = zone15::forbidden_count(n) as i64;
        let wall = (end_ms - fire_ms) as f64 / 1000.0;
        let span = after.at.duration_since(before.at).as_secs_f64();
        let checks: Vec<u64> = after
            .instance_checks
            .iter()
            .zip(&before.instance_checks)
            .map(|(a, b)| a - b)
            .collect();
        let cpu: Vec<f64> = after
            .instance_cpu
            .iter()
            .zip(&before.instance_cpu)
            .map(|(a, b)| a - b)
            .collect();
        let rss_mib: Vec<f64> = instances
            .iter()
            .map(|i| procfs::status_kib(i.pid(), "VmHWM:") as f64 / 1024.0)
            .collect();
        let pg_cpu = after.postgres_cpu - before.postgres_cpu;
        let nsd_cpu = after.nsd_cpu - before.nsd_cpu;
        let queries = match (before.nsd_queries, after.nsd_queries) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        let daemons_cpu: f64 = cpu.iter().sum();
        println!();
        println!(
            "one cycle over {n} names, {k} instances on one PostgreSQL (loopback DNS: NSD; load average {load_before} before, {} after)",
            loadavg()
        );
        println!(
            "  wall: {wall:.1} s from the firing to the end of the last check (first check began {:.2} s after the firing); {:.0} names/s",
            (first_start - fire_ms) as f64 / 1000.0,
            n as f64 / wall
        );
        println!(
            "  every name checked exactly once: {} ({runs} runs, {distinct} names, {doubled} doubled); outcomes: {blocking} blocking (the zone has {expected_blocking} forbidden), {errors} error",
            if runs == n as i64 && distinct == n as i64 && doubled == 0 { "yes" } else { "NO" }
        );
        for (i, inst) in instances.iter().enumerate() {
            println!(
                "  instance {i} (pid {}): {} names checked, {:.1} CPU s ({:.3} ms per name), peak RSS {:.1} MiB",
                inst.pid(),
                checks[i],
                cpu[i],
                1000.0 * cpu[i] / checks[i].max(1) as f64,
                rss_mib[i]
            );
        }
        println!(
            "  CPU s: daemons {daemons_cpu:.1} ({:.3} ms per name), PostgreSQL {pg_cpu:.1} ({:.3} ms per name), NSD {nsd_cpu:.1}; over {span:.1} s from the snapshot after the reload to the last lease let go",
            1000.0 * daemons_cpu / n as f64,
            1000.0 * pg_cpu / n as f64,
        );
        println!(
            "  DNS: {queries} queries to NSD ({:.2} per name), {:.0} queries/s over the cycle",
            queries as f64 / n as f64,
            queries as f64 / wall
        );
        let mut table_rows = Vec::new();
        println!("  database, added by the cycle (rows, bytes with indexes and TOAST):");
        let mut total_rows = 0;
        let mut total_bytes = 0;
        for (t, (rows_after, bytes_after)) in &db_after.tables {
            let (rows_before, bytes_before) = db_before.tables.get(t).copied().unwrap_or((0, 0));
            let (dr, db) = (rows_after - rows_before, bytes_after - bytes_before);
            total_rows += dr;
            total_bytes += db;
            if dr != 0 || db != 0 {
                println!("    {t}: {dr:+} rows, {db:+} bytes (now {rows_after} rows, {bytes_after} bytes)");
            }
            table_rows.push(json!({"table": t, "rows_added": dr, "bytes_added": db, "rows": rows_after, "bytes": bytes_after}));
        }
        let db_growth = db_after.database_bytes - db_before.database_bytes;
        println!(
            "    all tables: {total_rows:+} rows, {total_bytes:+} bytes ({:.0} bytes per name); database {db_growth:+} bytes (now {:.1} MiB); WAL written {wal} bytes ({:.0} per name)",
            total_bytes as f64 / n as f64,
            db_after.database_bytes as f64 / 1048576.0,
            wal as f64 / n as f64
        );
        json!({
            "bench": "instances",
            "command": "cargo bench --bench instances",
            "names": n,
            "instances": k,
            "concurrency": concurrency,
            "machine": {"nproc": nproc, "loadavg_before": load_before, "loadavg_after": loadavg()},
            "startup_cycle": {
                "wall_s": first_wall, "runs": first_runs, "checks_per_instance": first_checks,
                "cpu_s_per_instance": first_cpu, "nsd_queries": first_q,
            },
            "cycle": {
                "wall_s": wall,
                "first_check_after_firing_s": (first_start - fire_ms) as f64 / 1000.0,
                "runs": runs, "names_checked": distinct, "doubled": doubled,
                "blocking": blocking, "errors": errors, "expected_forbidden": expected_blocking,
                "checks_per_instance": checks,
                "cpu_s_per_instance": cpu,
                "peak_rss_mib_per_instance": rss_mib,
                "postgres_cpu_s": pg_cpu,
                "nsd_cpu_s": nsd_cpu,
                "nsd_queries": queries,
                "queries_per_s": queries as f64 / wall,
                "tables": table_rows,
                "rows_added": total_rows,
                "bytes_added": total_bytes,
                "database_bytes_added": db_growth,
                "database_bytes": db_after.database_bytes,
                "wal_bytes": wal,
            },
        })
    });

    for i in &instances {
        i.signal(libc::SIGTERM);
    }
    drop(instances);
    drop(nsd);
    let report = json!({"result": report, "problems": problems, "valid": problems.is_empty()});
    let out = target_dir().join("bench-instances.json");
    match fs::create_dir_all(target_dir())
        .and_then(|()| fs::write(&out, serde_json::to_string_pretty(&report).expect("JSON")))
    {
        Ok(()) => println!("results written to {}", out.display()),
        Err(e) => println!("cannot write {}: {e}", out.display()),
    }
    if !problems.is_empty() {
        eprintln!(
            "instances: {} problem(s); the figures above are not valid:",
            problems.len()
        );
        for p in &problems {
            eprintln!("  - {p}");
        }
        std::process::exit(1);
    }
}
