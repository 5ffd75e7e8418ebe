//! What several benches share: the zone of issue 15 served by NSD on
//! loopback (`zone15`), CPU time read from /proc (`procfs`), the
//! environment knobs and where results are written. A
//! directory, not `benches/lab.rs`: Cargo would take a file there for a
//! bench of its own.
#![allow(dead_code)]

pub mod procfs;
pub mod zone15;

use std::path::{Path, PathBuf};

/// A numeric knob from the environment (`CERTVIGIL_BENCH_*`), or `default`.
pub fn env_usize(key: &str, default: usize) -> usize {
    match std::env::var(key) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{key}={v}: not a number")),
        Err(_) => default,
    }
}

/// Where cargo puts build output, and so the benches their results.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}
