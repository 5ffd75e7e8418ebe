//! Benchmarks of the real daemon (not timed tests; run with
//! `cargo bench --bench cycle`, optionally `-- 10000 1000` for the two
//! domain counts):
//! 1. one full cycle over N domains (default 10,000) against a DNS server on
//!    127.0.0.1: wall time, CPU time and peak RSS of the daemon process;
//! 2. idle RSS of the daemon with M domains configured (default 1,000),
//!    after their first check, without and with the web interface on (which
//!    has served its status board and a target page).
//!
//! The daemon is the release binary, started as a process; every domain is
//! new, so the whole set is checked at once on start-up (the same path as a
//! cycle: dispatch, concurrency bound, gather, judge, one transaction each).

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use certvigil::checks::caa::CaaRecord;
use support::dns::TestDns;

const BIN: &str = env!("CARGO_BIN_EXE_certvigil");

fn write_config(dir: &Path, dns: &TestDns, n: usize) {
    let mut text = format!(
        "[daemon]\ndatabase = \"{}\"\n# Once a year: only the start-up cycle runs.\nschedule = \"0 0 0 1 1 *\"\njitter = \"0s\"\nconcurrency = 64\n\n[dns]\nnameservers = [\"{}\"]\ntimeout = \"5s\"\n",
        dir.join("certvigil.db").display(),
        dns.addr()
    );
    for i in 0..n {
        text.push_str(&format!(
            "\n[[domains]]\nname = \"d{i}.bench.test\"\nca = [\"letsencrypt\"]\n"
        ));
    }
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

fn proc_field(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User + system CPU seconds of `pid` (fields 14 and 15 of /proc/PID/stat).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz: f64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0);
    ticks as f64 / hz
}

/// How many targets have a CAA state, read straight from the database
/// (read-only; 0 before it exists). Not `status --format json`: over
/// 10,000 targets that prints every stored report (megabytes), and doing
/// so four times a second loaded the two cores the daemon was measured on.
fn checked(dir: &Path) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.join("certvigil.db"))
            .read_only(true);
        let Ok(pool) = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
        else {
            return 0;
        };
        let n: Result<(i64,), _> =
            sqlx::query_as("SELECT count(*) FROM check_state WHERE check_kind = 'caa'")
                .fetch_one(&pool)
                .await;
        pool.close().await;
        n.map_or(0, |(n,)| n as usize)
    })
}

fn start(dir: &Path) -> Child {
    Command::new(BIN)
        .args(["run", "--config"])
        .arg(dir.join("config.toml"))
        .env("RUST_LOG", "warn")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn wait_all_checked(dir: &Path, n: usize, child: &mut Child) -> Duration {
    let start = Instant::now();
    loop {
        assert!(child.try_wait().unwrap().is_none(), "the daemon exited");
        if checked(dir) >= n {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(1800),
            "the cycle did not finish"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn serve(n: usize) -> TestDns {
    let dns = TestDns::start_sync();
    dns.set_logging(false);
    for i in 0..n {
        dns.set_caa(
            &format!("d{i}.bench.test"),
            [CaaRecord::new(0, "issue", "letsencrypt.org")],
        );
    }
    dns
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let cycle_n = args.first().copied().unwrap_or(10_000);
    let idle_n = args.get(1).copied().unwrap_or(1_000);

    // 1. One cycle.
    let dns = serve(cycle_n);
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &dns, cycle_n);
    let mut child = start(dir.path());
    let wall = wait_all_checked(dir.path(), cycle_n, &mut child);
    let pid = child.id();
    let cpu = cpu_seconds(pid);
    let peak = proc_field(pid, "VmHWM:");
    stop(child);
    let db = std::fs::metadata(dir.path().join("certvigil.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "cycle over {cycle_n} domains: wall {:.2} s (start-up included, database polled every 250 ms), daemon CPU {cpu:.2} s, peak RSS {:.1} MiB, database {:.1} MiB",
        wall.as_secs_f64(),
        peak as f64 / 1024.0,
        db as f64 / 1048576.0
    );
    drop(dns);

    // 2. Idle RSS, without and with the web interface (which has served
    // its status board and a target page once).
    let dns = serve(idle_n);
    for web in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), &dns, idle_n);
        let port = web.then(|| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        });
        if let Some(port) = port {
            let mut text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
            let at = text.find("\n[dns]").unwrap();
            text.insert_str(at, &format!("\n[web]\nlisten = \"127.0.0.1:{port}\"\n"));
            std::fs::write(dir.path().join("config.toml"), text).unwrap();
        }
        let mut child = start(dir.path());
        wait_all_checked(dir.path(), idle_n, &mut child);
        if let Some(port) = port {
            for path in ["/", "/target/d0.bench.test"] {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                use std::io::{Read, Write};
                write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
                let mut page = String::new();
                let _ = s.read_to_string(&mut page);
                assert!(
                    page.starts_with("HTTP/1.0 200") || page.starts_with("HTTP/1.1 200"),
                    "{path}: {}",
                    &page[..page.len().min(200)]
                );
            }
        }
        // Idle: past the daemon's trims after a cycle or a page and the
        // closing of its idle database connections (src/memory.rs).
        std::thread::sleep(Duration::from_secs(15));
        if let Ok(dest) = std::env::var("CYCLE_BENCH_SMAPS") {
            let _ = std::fs::copy(
                format!("/proc/{}/smaps", child.id()),
                format!("{dest}.{}", if web { "on" } else { "off" }),
            );
        }
        let breakdown = smaps_breakdown(child.id());
        let rss = proc_field(child.id(), "VmRSS:");
        let anon = proc_field(child.id(), "RssAnon:");
        let file = proc_field(child.id(), "RssFile:");
        stop(child);
        println!(
            "idle RSS with {idle_n} domains configured, web interface {}: {:.1} MiB (heap and stacks {:.1}, mapped files {:.1})",
            if web { "on" } else { "off" },
            rss as f64 / 1024.0,
            anon as f64 / 1024.0,
            file as f64 / 1024.0,
        );
        println!("  {breakdown}");
    }
}

/// Where the resident pages are, from /proc/PID/smaps, in MiB: the
/// binary's file pages (code, read-only data, its relocation tables), its
/// pages written at start-up (relocated pointers in `.data.rel.ro`, the
/// GOT, `.data`), the shared libraries, the malloc heap and arenas, and
/// the thread stacks (a mapping right after a 4 KiB guard page, and the
/// main `[stack]`).
fn smaps_breakdown(pid: u32) -> String {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        return String::new();
    };
    let binary = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    #[derive(Default)]
    struct Mapping {
        size: u64,
        perms: String,
        name: String,
        rss: u64,
        anon: u64,
    }
    let mut maps: Vec<Mapping> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16))
        {
            let perms = fields.next().unwrap_or("").to_string();
            let name = fields.nth(3).unwrap_or("").to_string();
            maps.push(Mapping {
                size: (b - a) / 1024,
                perms,
                name,
                ..Mapping::default()
            });
        } else if let Some(m) = maps.last_mut() {
            let kb = || {
                line.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            match first {
                "Rss:" => m.rss = kb(),
                "Anonymous:" => m.anon = kb(),
                _ => {}
            }
        }
    }
    let (mut code, mut relocated, mut libs, mut heap, mut stacks, mut other) = (0, 0, 0, 0, 0, 0);
    for (i, m) in maps.iter().enumerate() {
        let after_guard = i > 0 && maps[i - 1].perms.starts_with("---") && maps[i - 1].size == 4;
        if !binary.as_os_str().is_empty() && std::path::Path::new(&m.name) == binary {
            code += m.rss - m.anon;
            relocated += m.anon;
        } else if m.name.starts_with('/') {
            libs += m.rss;
        } else if m.name == "[stack]" || (m.name.is_empty() && after_guard) {
            stacks += m.rss;
        } else if m.name == "[heap]" || m.name.is_empty() {
            heap += m.rss;
        } else {
            other += m.rss;
        }
    }
    let mib = |kb: u64| kb as f64 / 1024.0;
    format!(
        "binary file pages {:.1}, binary pages relocated at start-up {:.1}, shared libraries {:.1}, malloc heap and arenas {:.1}, thread stacks {:.1}, other {:.1} (MiB)",
        mib(code),
        mib(relocated),
        mib(libs),
        mib(heap),
        mib(stacks),
        mib(other)
    )
}
