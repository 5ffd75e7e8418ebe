//! CPU time and memory of processes, from /proc (clock-tick resolution).

use std::fs;
use std::time::Duration;

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    hz.max(1) as f64
}

/// Fields of /proc/PID/stat after the parenthesised comm (field 3 first).
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(
        rest.split_whitespace()
            .map(|v| v.parse::<u64>().unwrap_or(0))
            .collect(),
    )
}

/// User plus system time of `pid` itself.
pub fn cpu(pid: u32) -> Option<Duration> {
    let f = stat_fields(pid)?;
    // utime and stime are fields 14 and 15.
    Some(Duration::from_secs_f64(
        (f.get(11)? + f.get(12)?) as f64 / ticks_per_second(),
    ))
}

/// User plus system time of process `pid` and its descendants, the ones
/// alive now and (`cutime`, `cstime` of each) the ones already reaped: NSD
/// forks its server processes, PostgreSQL a backend per connection.
/// `None` if `pid` cannot be read.
pub fn tree_cpu(pid: u32) -> Option<Duration> {
    // (pid, ppid, own ticks, reaped children's ticks) of every process.
    let mut all: Vec<(u32, u32, u64, u64)> = Vec::new();
    for entry in fs::read_dir("/proc").ok()? {
        let Ok(entry) = entry else { continue };
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(f) = stat_fields(p) else { continue };
        // ppid is field 4; utime, stime, cutime, cstime are 14 to 17.
        if let (Some(ppid), Some(u), Some(s), Some(cu), Some(cs)) =
            (f.get(1), f.get(11), f.get(12), f.get(13), f.get(14))
        {
            all.push((p, *ppid as u32, u + s, cu + cs));
        }
    }
    if !all.iter().any(|e| e.0 == pid) {
        return None;
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(all.iter().filter(|e| e.1 == parent).map(|e| e.0));
        i += 1;
    }
    let ticks: u64 = all
        .iter()
        .filter(|e| tree.contains(&e.0))
        .map(|e| e.2 + e.3)
        .sum();
    Some(Duration::from_secs_f64(ticks as f64 / ticks_per_second()))
}

/// A `/proc/PID/status` field in KiB (`VmHWM:`, `VmRSS:`), 0 if absent.
pub fn status_kib(pid: u32, key: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The first `n` lines of `text`, joined with " | ".
pub fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().take(n).collect();
    if lines.is_empty() {
        "(empty)".into()
    } else {
        lines.join(" | ")
    }
}
