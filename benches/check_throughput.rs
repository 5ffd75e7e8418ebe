//! Issues #2 and #15: how fast `certvigil check` gets through 10,000 names
//! against a real authoritative server, next to `dnsperf` sending the same
//! distinct questions to the same server (the limit).
//!
//! Run with `cargo bench --bench check_throughput`. It
//! 1. writes the zone `test.` in the shape of issue 15 and serves it with
//!    NSD (Debian package `nsd`; a child process on a free loopback port,
//!    one server process, response rate limiting off, 4 MiB receive
//!    buffer, stopped when the bench ends): names `n{i}.site{i/10}.test`,
//!    so one shared parent per ten names, each parent with a CAA RRset
//!    authorizing the CA; one name in 7 with its own CAA RRset (of those,
//!    one in 10 naming another CA only: forbidden); the other names hold an
//!    A record, so their CAA answer is NODATA and the climb goes on;
//! 2. runs the release binary as a child, `certvigil check --file F --ca
//!    letsencrypt --format json --nameserver ADDR --concurrency N`, for a few
//!    N, one untimed run then three timed runs each; every run's output is
//!    checked: all names back, in order, none with verdict `error`, the
//!    verdicts expected; drops at NSD's socket are reported (a drop costs
//!    a timeout and a retry);
//! 3. runs `dnsperf` against the same server with exactly the distinct
//!    questions a run asks (the climb of every name to the TLD, each
//!    question once: 11,001 for 10,000 names);
//! 4. prints a table (median and min-max of the runs) and writes
//!    `target/bench-check-throughput.json`.
//!
//! Knobs (environment): CERTVIGIL_BENCH_NAMES (10000),
//! CERTVIGIL_BENCH_CONCURRENCY ("64,256,1024"), CERTVIGIL_BENCH_RUNS (3),
//! CERTVIGIL_BENCH_DNSPERF_PASSES (10, passes over the query file per run),
//! CERTVIGIL_BENCH_EXE (another certvigil binary to measure instead),
//! CERTVIGIL_BENCH_VIEW ("recursive", or "both": `[dns] view`, the zone's
//! server being the same NSD, asked on its port) and
//! CERTVIGIL_BENCH_DNSSEC ("on" or "off": `[dnssec] validate`; the bench's
//! zones are unsigned and NSD serves no root, so "on" costs the root key
//! lookup once per run and a DO/CD question per deciding name).
//! The process exits 1 when a run lost names or saw errors, so a broken
//! benchmark never passes for a slow one.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod lab;

use lab::procfs::{first_lines, tree_cpu as process_tree_cpu};
use lab::zone15::{CA, Nsd, OTHER_ISSUER, own_caa};
use lab::{env_usize, target_dir};

fn main() {
    if let Some(result_file) = std::env::var_os(LAUNCH_ENV) {
        launcher(Path::new(&result_file));
    }
    let names = env_usize("CERTVIGIL_BENCH_NAMES", 10_000);
    let runs = env_usize("CERTVIGIL_BENCH_RUNS", 3).max(1);
    let passes = env_usize("CERTVIGIL_BENCH_DNSPERF_PASSES", 10).max(1);
    let concurrencies: Vec<usize> = std::env::var("CERTVIGIL_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "64,256,1024".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("CERTVIGIL_BENCH_CONCURRENCY: numbers, comma-separated")
        })
        .collect();

    let machine = Machine::read();
    println!(
        "check_throughput: {names} names, concurrency {concurrencies:?}, {runs} timed run(s) each; \
         machine: {} CPU(s), {}; load average before: {}",
        machine.nproc, machine.cpu_model, machine.loadavg
    );

    let plan = Plan::generate(names);
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let nsd = Nsd::start(&lab::zone15::zone_file(&plan.names), dir.path());
    let addr = nsd.addr;
    let server = ServerSocket::find(addr);
    let server_pid = nsd.pid();

    let serve_only = std::env::var_os("CERTVIGIL_BENCH_SERVE").is_some();
    let files_dir = if serve_only {
        let d = target_dir().join("bench-check-throughput");
        fs::create_dir_all(&d).expect("create target/bench-check-throughput");
        d
    } else {
        dir.path().to_path_buf()
    };
    let list = files_dir.join("names.txt");
    fs::write(&list, plan.names.join("\n") + "\n").expect("write the name list");
    let datafile = files_dir.join("dnsperf-queries.txt");
    let mut data = String::new();
    for q in plan.queries.iter().flatten() {
        data.push_str(q);
        data.push_str(" CAA\n");
    }
    fs::write(&datafile, data).expect("write the dnsperf data file");
    let total_queries = plan.total_queries();
    println!(
        "zone served by NSD ({}) on {addr}: {} names, {total_queries} CAA queries predicted \
         ({:.2} per name); expected verdicts: {} allowed, {} forbidden",
        nsd.version,
        plan.names.len(),
        total_queries as f64 / plan.names.len() as f64,
        plan.expected_allowed,
        plan.expected_forbidden
    );

    // Another build may be measured under the same conditions (the same
    // zone, server and load), e.g. the previous commit's, for a before and
    // after of one session.
    let exe_override = std::env::var_os("CERTVIGIL_BENCH_EXE").map(PathBuf::from);
    let exe = exe_override
        .as_deref()
        .unwrap_or(Path::new(env!("CARGO_BIN_EXE_certvigil")));
    println!("measuring {}", exe.display());
    if serve_only {
        let secs = env_usize("CERTVIGIL_BENCH_SERVE", 600);
        println!(
            "serving for {secs} s; try\n  {} check --file {} --ca {CA} --format json \
             --nameserver {addr} --concurrency 256 >/dev/null\n  dnsperf -s {} -p {} -d {} -c 1 -q 256 -e",
            exe.display(),
            list.display(),
            addr.ip(),
            addr.port(),
            datafile.display()
        );
        std::thread::sleep(Duration::from_secs(secs as u64));
        return;
    }
    let mut problems: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut results: Vec<ConcurrencyResult> = Vec::new();
    for &n in &concurrencies {
        // Untimed: a warm-up, checked like the others.
        let (warm, output) = run_certvigil(exe, &list, addr, n, dir.path(), &server, server_pid);
        problems.extend(
            plan.check_output(&warm, &output)
                .into_iter()
                .map(|p| format!("concurrency {n}, warm-up run: {p}")),
        );

        let mut timed = Vec::new();
        for r in 1..=runs {
            let (run, output) = run_certvigil(exe, &list, addr, n, dir.path(), &server, server_pid);
            let issues = plan.check_output(&run, &output);
            drop(output);
            if run.server_drops > 0 {
                warnings.push(format!(
                    "concurrency {n}, run {r}: the DNS server dropped {} datagram(s) (its receive \
                     buffer was full); certvigil waited for its timeout and asked again, so this \
                     run's wall time includes that wait",
                    run.server_drops
                ));
            }
            println!(
                "  certvigil --concurrency {n:<5} run {r}: {:.3} s wall, {:.0} queries/s, \
                 {:.3} s CPU, {:.1} MiB peak RSS, DNS server {:.0}% busy, {} dropped{}",
                run.wall.as_secs_f64(),
                total_queries as f64 / run.wall.as_secs_f64(),
                run.cpu.as_secs_f64(),
                run.max_rss_kib as f64 / 1024.0,
                100.0 * run.server_cpu.as_secs_f64() / run.wall.as_secs_f64(),
                run.server_drops,
                if issues.is_empty() {
                    String::new()
                } else {
                    format!("  PROBLEMS: {}", issues.join("; "))
                }
            );
            problems.extend(
                issues
                    .into_iter()
                    .map(|p| format!("concurrency {n}, run {r}: {p}")),
            );
            timed.push(run);
        }
        results.push(ConcurrencyResult {
            concurrency: n,
            runs: timed,
        });
    }

    let dnsperf = run_dnsperf_series(
        &datafile,
        addr,
        passes,
        runs,
        &server,
        server_pid,
        &mut warnings,
    );
    let loadavg_after = Machine::read().loadavg;

    print_table(&plan, &results, dnsperf.as_ref());
    println!(
        "load average before: {}, after: {loadavg_after}",
        machine.loadavg
    );

    let report = json_report(
        &plan,
        &machine,
        &loadavg_after,
        &results,
        dnsperf.as_ref(),
        &problems,
        &warnings,
    );
    let out = target_dir().join("bench-check-throughput.json");
    match fs::create_dir_all(target_dir())
        .and_then(|()| fs::write(&out, serde_json::to_string_pretty(&report).expect("JSON")))
    {
        Ok(()) => println!("results written to {}", out.display()),
        Err(e) => {
            problems.push(format!("cannot write {}: {e}", out.display()));
        }
    }
    drop(nsd);
    for w in &warnings {
        println!("warning: {w}");
    }
    if !problems.is_empty() {
        eprintln!(
            "check_throughput: {} problem(s); the figures above are not valid:",
            problems.len()
        );
        for p in &problems {
            eprintln!("  - {p}");
        }
        std::process::exit(1);
    }
}

/// The generated zone, the names to check, and the queries a check of each
/// name sends.
struct Plan {
    names: Vec<String>,
    /// Per name, the CAA queries `certvigil check` sends for it (the name
    /// and every ancestor up to the TLD, then the ancestors of alias
    /// targets not already asked), as `gather_caa` does, less those an
    /// earlier name asked: a run asks each distinct question once.
    queries: Vec<Vec<String>>,
    expected_allowed: usize,
    expected_forbidden: usize,
}

impl Plan {
    fn generate(count: usize) -> Self {
        let mut names = Vec::with_capacity(count);
        let mut expected_forbidden = 0;
        // No aliases in this shape; the prediction still follows any.
        let cnames = HashMap::new();
        for i in 0..count {
            if own_caa(i) == Some(OTHER_ISSUER) {
                expected_forbidden += 1;
            }
            names.push(lab::zone15::name(i));
        }
        // One run asks each question once (issue 15): a name's queries are
        // the ones no earlier name asked.
        let mut asked: HashSet<String> = HashSet::new();
        let queries = names
            .iter()
            .map(|n| {
                predicted_queries(n, &cnames)
                    .into_iter()
                    .filter(|q| asked.insert(q.clone()))
                    .collect()
            })
            .collect();
        Self {
            expected_allowed: count - expected_forbidden,
            expected_forbidden,
            names,
            queries,
        }
    }

    fn total_queries(&self) -> usize {
        self.queries.iter().map(Vec::len).sum()
    }

    /// Problems with one run's output: lines missing or out of order,
    /// verdicts `error` or other than expected, a bad exit status.
    fn check_output(&self, run: &Run, output: &Captured) -> Vec<String> {
        let mut problems = Vec::new();
        // 1: some name is forbidden (blocking); 0 if the plan has none.
        let want_exit = if self.expected_forbidden > 0 { 1 } else { 0 };
        if run.exit_code != Some(want_exit) {
            problems.push(format!(
                "exit status {:?}, expected {want_exit}; stderr: {}",
                run.exit_code,
                first_lines(&output.stderr, 5)
            ));
        }
        let mut lines = 0;
        let (mut allowed, mut forbidden, mut errors) = (0, 0, 0);
        let mut first_error: Option<String> = None;
        let mut out_of_order = 0;
        for (i, line) in output.stdout.lines().enumerate() {
            lines += 1;
            let v: Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(format!("line {} is not JSON ({e})", i + 1));
                    continue;
                }
            };
            if self.names.get(i).map(String::as_str) != v["domain"].as_str() {
                out_of_order += 1;
            }
            match v["caa"]["verdict"].as_str() {
                Some("allowed") => allowed += 1,
                Some("forbidden") => forbidden += 1,
                _ => {
                    errors += 1;
                    first_error.get_or_insert_with(|| line.to_string());
                }
            }
        }
        if lines != self.names.len() {
            problems.push(format!("{lines} lines for {} names", self.names.len()));
        }
        if out_of_order > 0 {
            problems.push(format!("{out_of_order} line(s) not in input order"));
        }
        if errors > 0 {
            problems.push(format!(
                "{errors} name(s) with verdict error, e.g. {}",
                first_error.unwrap_or_default()
            ));
        }
        if allowed != self.expected_allowed || forbidden != self.expected_forbidden {
            problems.push(format!(
                "{allowed} allowed and {forbidden} forbidden, expected {} and {}",
                self.expected_allowed, self.expected_forbidden
            ));
        }
        problems
    }
}

/// The queries `gather_caa` sends for `name`: the name and each ancestor
/// up to the TLD, then each proper ancestor of every alias target met,
/// once, minus those already asked in the first climb.
fn predicted_queries(name: &str, cnames: &HashMap<String, String>) -> Vec<String> {
    let climb = self_and_ancestors(name);
    let asked: HashSet<&String> = climb.iter().collect();
    let mut extra: Vec<String> = Vec::new();
    for n in &climb {
        // The server follows the alias chain of every name asked.
        let mut seen = HashSet::new();
        let mut cur = n.clone();
        while let Some(target) = cnames.get(&cur) {
            if !seen.insert(target.clone()) {
                break;
            }
            if let Some((_, parent)) = target.split_once('.') {
                for a in self_and_ancestors(parent) {
                    if !asked.contains(&a) && !extra.contains(&a) {
                        extra.push(a);
                    }
                }
            }
            cur = target.clone();
        }
    }
    let mut all = climb.clone();
    all.extend(extra);
    all
}

fn self_and_ancestors(name: &str) -> Vec<String> {
    let mut out = vec![name.to_string()];
    let mut cur = name;
    while let Some((_, parent)) = cur.split_once('.') {
        out.push(parent.to_string());
        cur = parent;
    }
    out
}

/// One run of a child process, measured.
struct Run {
    wall: Duration,
    /// User plus system time of the child.
    cpu: Duration,
    max_rss_kib: u64,
    exit_code: Option<i32>,
    /// CPU time the DNS server's thread used during the run.
    server_cpu: Duration,
    /// Datagrams the DNS server's socket dropped during the run.
    server_drops: u64,
}

/// What a run printed; checked, then dropped, so the bench's own memory
/// does not grow run by run.
struct Captured {
    stdout: String,
    stderr: String,
}

struct ConcurrencyResult {
    concurrency: usize,
    runs: Vec<Run>,
}

fn run_certvigil(
    exe: &Path,
    list: &Path,
    addr: SocketAddr,
    concurrency: usize,
    dir: &Path,
    server: &Option<ServerSocket>,
    server_pid: u32,
) -> (Run, Captured) {
    // What `check` is told besides the server: the view and DNSSEC knobs.
    let view = std::env::var("CERTVIGIL_BENCH_VIEW").unwrap_or_else(|_| "recursive".into());
    let dnssec = std::env::var("CERTVIGIL_BENCH_DNSSEC").map_or(true, |v| v != "off");
    let config = dir.join("bench-config.toml");
    fs::write(
        &config,
        format!(
            "[dns]\nview = \"{view}\"\nauthoritative_port = {}\n\n[dnssec]\nvalidate = {dnssec}\n",
            addr.port()
        ),
    )
    .expect("the bench's config file");
    let mut cmd = Command::new(exe);
    cmd.arg("check")
        .arg("--config")
        .arg(&config)
        .arg("--file")
        .arg(list)
        .args([
            "--ca",
            CA,
            "--format",
            "json",
            "--nameserver",
            &addr.to_string(),
        ])
        .args(["--concurrency", &concurrency.to_string()])
        .env_remove("CERTVIGIL_CONFIG")
        .env_remove("RUST_LOG");
    run_measured(cmd, dir, "certvigil", server, server_pid)
}

/// Set (to a result file) when this bench binary runs as the launcher.
const LAUNCH_ENV: &str = "CERTVIGIL_BENCH_LAUNCH";

/// Runs `cmd` with stdout and stderr to files in `dir`, and measures its
/// wall time, CPU time and peak RSS.
///
/// The command is started through a fresh copy of this bench binary (the
/// launcher), not from here: Linux seeds a child's `ru_maxrss` with the
/// high-water RSS of the address space it was started from (the spawning
/// process's, with vfork/posix_spawn), so spawned from this process, whose
/// zone and buffers are tens of MiB, every child would seem at least that
/// big. The launcher is a few MiB.
fn run_measured(
    cmd: Command,
    dir: &Path,
    tag: &str,
    server: &Option<ServerSocket>,
    server_pid: u32,
) -> (Run, Captured) {
    let out_path = dir.join(format!("{tag}.stdout"));
    let err_path = dir.join(format!("{tag}.stderr"));
    let result_path = dir.join(format!("{tag}.rusage"));
    let _ = fs::remove_file(&result_path);
    let mut launch = Command::new(std::env::current_exe().expect("the bench's own path"));
    launch
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env(LAUNCH_ENV, &result_path)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("create the stdout file"))
        .stderr(File::create(&err_path).expect("create the stderr file"));
    for (k, v) in cmd.get_envs() {
        if v.is_none() {
            launch.env_remove(k);
        }
    }
    let server_before = process_tree_cpu(server_pid);
    let drops_before = server.as_ref().and_then(ServerSocket::drops);
    let status = launch
        .status()
        .unwrap_or_else(|e| panic!("cannot start the launcher for {tag}: {e}"));
    let server_cpu = match (server_before, process_tree_cpu(server_pid)) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => Duration::ZERO,
    };
    let server_drops = match (drops_before, server.as_ref().and_then(ServerSocket::drops)) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    };
    let result = fs::read_to_string(&result_path).unwrap_or_default();
    let fields: Vec<i64> = result
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [wall_ns, cpu_us, max_rss_kib, exit_code] = fields[..] else {
        panic!(
            "the launcher for {tag} failed ({status}): {}",
            first_lines(&fs::read_to_string(&err_path).unwrap_or_default(), 5)
        );
    };
    let run = Run {
        wall: Duration::from_nanos(wall_ns as u64),
        cpu: Duration::from_micros(cpu_us as u64),
        max_rss_kib: max_rss_kib as u64,
        exit_code: (exit_code >= 0).then_some(exit_code as i32),
        server_cpu,
        server_drops,
    };
    let captured = Captured {
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    };
    (run, captured)
}

/// The launcher: runs its arguments as a command (stdio inherited), reaps
/// it with wait4 and writes "wall_ns cpu_us max_rss_kib exit_code" (exit
/// code -1 when killed by a signal) to `result_file`.
fn launcher(result_file: &Path) -> ! {
    let mut args = std::env::args_os().skip(1);
    let program = args.next().expect("the launcher needs a command");
    let start = Instant::now();
    let child = Command::new(program)
        .args(args)
        .env_remove(LAUNCH_ENV)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the measured command: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our child, not yet reaped (std's Child is never
        // waited on); status and usage are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "wait4: {e}");
    }
    let wall = start.elapsed();
    drop(child);
    let us = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    let exit_code = if libc::WIFEXITED(status) {
        i64::from(libc::WEXITSTATUS(status))
    } else {
        -1
    };
    // Linux reports ru_maxrss in KiB.
    let line = format!(
        "{} {} {} {exit_code}\n",
        wall.as_nanos(),
        us(usage.ru_utime) + us(usage.ru_stime),
        usage.ru_maxrss
    );
    fs::write(result_file, line).expect("write the launcher's result file");
    std::process::exit(0);
}

/// The DNS server's UDP socket, found through /proc/net/udp (by port).
struct ServerSocket {
    port: u16,
    inode: u64,
}

impl ServerSocket {
    fn find(addr: SocketAddr) -> Option<Self> {
        let port = addr.port();
        let inode = udp_table()?
            .into_iter()
            .find(|e| e.local_port == port)?
            .inode;
        Some(Self { port, inode })
    }

    /// Datagrams dropped so far because the receive buffer was full.
    fn drops(&self) -> Option<u64> {
        udp_table()?
            .into_iter()
            .find(|e| e.local_port == self.port && e.inode == self.inode)
            .map(|e| e.drops)
    }
}

struct UdpEntry {
    local_port: u16,
    inode: u64,
    drops: u64,
}

/// /proc/net/udp: "sl local rem st tx:rx tr:when retrnsmt uid timeout
/// inode ref pointer drops", addresses as HEXIP:HEXPORT.
fn udp_table() -> Option<Vec<UdpEntry>> {
    let text = fs::read_to_string("/proc/net/udp").ok()?;
    Some(
        text.lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some(UdpEntry {
                    local_port: u16::from_str_radix(f.get(1)?.rsplit_once(':')?.1, 16).ok()?,
                    inode: f.get(9)?.parse().ok()?,
                    drops: f.last()?.parse().ok()?,
                })
            })
            .collect(),
    )
}

/// One dnsperf run's figures.
struct DnsperfRun {
    qps: f64,
    sent: u64,
    completed: u64,
    lost: u64,
    run: Run,
}

struct DnsperfResult {
    command: String,
    runs: Vec<DnsperfRun>,
}

fn run_dnsperf_series(
    datafile: &Path,
    addr: SocketAddr,
    passes: usize,
    runs: usize,
    server: &Option<ServerSocket>,
    server_pid: u32,
    warnings: &mut Vec<String>,
) -> Option<DnsperfResult> {
    let args: Vec<String> = [
        "-s",
        &addr.ip().to_string(),
        "-p",
        &addr.port().to_string(),
        "-d",
        &datafile.display().to_string(),
        "-n",
        &passes.to_string(),
        "-c",
        "1",
        "-q",
        "256",
        "-e",
        "-t",
        "5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let command = format!("dnsperf {}", args.join(" "));
    let available = Command::new("dnsperf")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !available {
        println!(
            "dnsperf is not installed, so there is no reference rate: install it with \
             `sudo apt-get install -y dnsperf` (Debian/Ubuntu) and run again. \
             certvigil's own figures follow."
        );
        return None;
    }
    let dir = datafile.parent().expect("the data file is in a directory");
    let mut out = Vec::new();
    for r in 1..=runs {
        let mut cmd = Command::new("dnsperf");
        cmd.args(&args);
        let (run, output) = run_measured(cmd, dir, "dnsperf", server, server_pid);
        let field = |label: &str| -> Option<f64> {
            output
                .stdout
                .lines()
                .find_map(|l| l.trim().strip_prefix(label))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        };
        let (Some(qps), Some(sent), Some(completed), Some(lost)) = (
            field("Queries per second:"),
            field("Queries sent:"),
            field("Queries completed:"),
            field("Queries lost:"),
        ) else {
            warnings.push(format!(
                "dnsperf run {r}: cannot read its statistics (exit {:?}); stdout: {}; stderr: {}",
                run.exit_code,
                first_lines(&output.stdout, 8),
                first_lines(&output.stderr, 5)
            ));
            continue;
        };
        println!(
            "  dnsperf run {r}: {qps:.0} queries/s, {completed}/{sent} completed, {lost} lost, \
             {:.3} s wall, {:.3} s CPU, DNS server {:.0}% busy",
            run.wall.as_secs_f64(),
            run.cpu.as_secs_f64(),
            100.0 * run.server_cpu.as_secs_f64() / run.wall.as_secs_f64()
        );
        if lost > 0.0 {
            warnings.push(format!(
                "dnsperf run {r}: {lost} queries lost ({} dropped by the DNS server's socket)",
                run.server_drops
            ));
        }
        out.push(DnsperfRun {
            qps,
            sent: sent as u64,
            completed: completed as u64,
            lost: lost as u64,
            run,
        });
    }
    Some(DnsperfResult { command, runs: out })
}

/// Median, min and max.
#[derive(Debug, Clone, Copy)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Self {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Self {
            median,
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    fn show(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ({:.d$}-{:.d$})",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }

    fn json(&self) -> Value {
        json!({"median": self.median, "min": self.min, "max": self.max})
    }
}

struct Figures {
    wall: Spread,
    names_per_s: Spread,
    queries_per_s: Spread,
    cpu: Spread,
    rss_mib: Spread,
    server_busy: Spread,
}

fn figures(plan: &Plan, runs: &[Run]) -> Figures {
    let names = plan.names.len() as f64;
    let queries = plan.total_queries() as f64;
    let wall = |r: &Run| r.wall.as_secs_f64();
    Figures {
        wall: Spread::of(runs.iter().map(wall)),
        names_per_s: Spread::of(runs.iter().map(|r| names / wall(r))),
        queries_per_s: Spread::of(runs.iter().map(|r| queries / wall(r))),
        cpu: Spread::of(runs.iter().map(|r| r.cpu.as_secs_f64())),
        rss_mib: Spread::of(runs.iter().map(|r| r.max_rss_kib as f64 / 1024.0)),
        server_busy: Spread::of(runs.iter().map(|r| r.server_cpu.as_secs_f64() / wall(r))),
    }
}

fn dnsperf_qps(d: &DnsperfResult) -> Spread {
    Spread::of(d.runs.iter().map(|r| r.qps))
}

fn print_table(plan: &Plan, results: &[ConcurrencyResult], dnsperf: Option<&DnsperfResult>) {
    let reference = dnsperf.map(dnsperf_qps).filter(|s| s.median.is_finite());
    println!();
    println!(
        "certvigil check, {} names, {} distinct questions (each asked once); median (min-max) of {} run(s)",
        plan.names.len(),
        plan.total_queries(),
        results.first().map_or(0, |r| r.runs.len())
    );
    println!(
        "| concurrency | wall s | names/s | questions/s | CPU s | CPU s per 1,000 names | peak RSS MiB | DNS server busy | vs dnsperf |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results {
        let f = figures(plan, &r.runs);
        let ratio = reference.map_or("-".to_string(), |d| {
            format!("{:.2}", f.queries_per_s.median / d.median)
        });
        println!(
            "| {} | {} | {} | {} | {} | {:.3} | {} | {:.0}% | {ratio} |",
            r.concurrency,
            f.wall.show(3),
            f.names_per_s.show(0),
            f.queries_per_s.show(0),
            f.cpu.show(3),
            1000.0 * f.cpu.median / plan.names.len() as f64,
            f.rss_mib.show(1),
            100.0 * f.server_busy.median
        );
    }
    match (dnsperf, reference) {
        (Some(d), Some(q)) => {
            let busy = Spread::of(
                d.runs
                    .iter()
                    .map(|r| r.run.server_cpu.as_secs_f64() / r.run.wall.as_secs_f64()),
            );
            let cpu = Spread::of(d.runs.iter().map(|r| r.run.cpu.as_secs_f64()));
            println!(
                "| dnsperf | {} | - | {} | {} | - | {} | {:.0}% | 1.00 |",
                Spread::of(d.runs.iter().map(|r| r.run.wall.as_secs_f64())).show(3),
                q.show(0),
                cpu.show(3),
                Spread::of(d.runs.iter().map(|r| r.run.max_rss_kib as f64 / 1024.0)).show(1),
                100.0 * busy.median
            );
            println!("dnsperf: {}", d.command);
        }
        _ => println!("| dnsperf | - | - | not run | - | - | - | - | - |"),
    }
    let best = results
        .iter()
        .map(|r| figures(plan, &r.runs))
        .max_by(|a, b| a.queries_per_s.median.total_cmp(&b.queries_per_s.median));
    if let Some(best) = best {
        let max_rss = results
            .iter()
            .flat_map(|r| r.runs.iter())
            .map(|r| r.max_rss_kib as f64 / 1024.0)
            .fold(0.0, f64::max);
        match reference {
            Some(d) => println!(
                "aim: >= 0.50 of dnsperf's rate: {:.2} ({}); peak RSS < 64 MiB: {max_rss:.1} MiB ({})",
                best.queries_per_s.median / d.median,
                if best.queries_per_s.median >= d.median / 2.0 {
                    "met"
                } else {
                    "NOT met"
                },
                if max_rss < 64.0 { "met" } else { "NOT met" }
            ),
            None => println!(
                "aim: peak RSS < 64 MiB: {max_rss:.1} MiB ({}); the rate aim needs dnsperf",
                if max_rss < 64.0 { "met" } else { "NOT met" }
            ),
        }
    }
}

fn json_report(
    plan: &Plan,
    machine: &Machine,
    loadavg_after: &str,
    results: &[ConcurrencyResult],
    dnsperf: Option<&DnsperfResult>,
    problems: &[String],
    warnings: &[String],
) -> Value {
    let reference = dnsperf.map(dnsperf_qps).filter(|s| s.median.is_finite());
    let certvigil: Vec<Value> = results
        .iter()
        .map(|r| {
            let f = figures(plan, &r.runs);
            json!({
                "concurrency": r.concurrency,
                "wall_s": f.wall.json(),
                "names_per_s": f.names_per_s.json(),
                "queries_per_s": f.queries_per_s.json(),
                "cpu_s": f.cpu.json(),
                "peak_rss_mib": f.rss_mib.json(),
                "dns_server_busy": f.server_busy.json(),
                "ratio_to_dnsperf": reference.map(|d| f.queries_per_s.median / d.median),
                "runs": r.runs.iter().map(|run| json!({
                    "wall_s": run.wall.as_secs_f64(),
                    "cpu_s": run.cpu.as_secs_f64(),
                    "peak_rss_kib": run.max_rss_kib,
                    "exit_code": run.exit_code,
                    "dns_server_cpu_s": run.server_cpu.as_secs_f64(),
                    "dns_server_drops": run.server_drops,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let dnsperf_json = dnsperf.map(|d| {
        json!({
            "command": d.command,
            "queries_per_s": dnsperf_qps(d).json(),
            "runs": d.runs.iter().map(|r| json!({
                "queries_per_s": r.qps,
                "sent": r.sent,
                "completed": r.completed,
                "lost": r.lost,
                "wall_s": r.run.wall.as_secs_f64(),
                "cpu_s": r.run.cpu.as_secs_f64(),
                "peak_rss_kib": r.run.max_rss_kib,
                "dns_server_cpu_s": r.run.server_cpu.as_secs_f64(),
                "dns_server_drops": r.run.server_drops,
            })).collect::<Vec<_>>(),
        })
    });
    json!({
        "bench": "check_throughput",
        "command": "cargo bench --bench check_throughput",
        "names": plan.names.len(),
        "queries": plan.total_queries(),
        "expected": {"allowed": plan.expected_allowed, "forbidden": plan.expected_forbidden},
        "machine": {
            "nproc": machine.nproc,
            "cpu_model": machine.cpu_model,
            "loadavg_before": machine.loadavg,
            "loadavg_after": loadavg_after,
        },
        "certvigil": certvigil,
        "dnsperf": dnsperf_json,
        "problems": problems,
        "warnings": warnings,
        "valid": problems.is_empty(),
    })
}

struct Machine {
    nproc: usize,
    cpu_model: String,
    loadavg: String,
}

impl Machine {
    fn read() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(|| "unknown".into(), |(_, m)| m.trim().to_string());
        let loadavg = fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into());
        Self {
            nproc: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model,
            loadavg,
        }
    }
}
