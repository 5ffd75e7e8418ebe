//! Rebuild when a migration changes: `sqlx::migrate!()` embeds migrations/
//! at compile time, and cargo does not otherwise know it depends on them.
//!
//! Linux with glibc: the binary's relative relocations are packed (DT_RELR).
//! A position-independent executable carries one 24-byte record per
//! pointer in its static data (vtables, string tables), several MiB for
//! this binary, which the loader reads once at start-up and which then
//! stay in the daemon's resident set for nothing (issue 15: idle memory).
//! Packed, they take a few KiB. glibc understands them from 2.36 on, so
//! they are only asked for when the glibc the binary is built against is
//! that new (a binary built on a host runs on that host).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=CERTVIGIL_PACK_RELOCS");
    if pack_relative_relocs() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether to pack relative relocations: on a Linux/glibc target built on
/// its own host whose glibc is 2.36 or newer. `CERTVIGIL_PACK_RELOCS=0` or
/// `=1` decides instead (cross builds, older linkers).
fn pack_relative_relocs() -> bool {
    match std::env::var("CERTVIGIL_PACK_RELOCS").as_deref() {
        Ok("0") => return false,
        Ok("1") => return true,
        _ => {}
    }
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || var("HOST") != var("TARGET")
    {
        return false;
    }
    // "glibc 2.36"
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text
        .trim()
        .strip_prefix("glibc ")
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = version.next().unwrap_or(0);
    let minor = version.next().unwrap_or(0);
    (major, minor) >= (2, 36)
}
