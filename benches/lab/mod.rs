//! What several benches share: the zone of issue 15 served by NSD on
//! loopback (`zone15`), and CPU time read from /proc (`procfs`). A
//! directory, not `benches/lab.rs`: Cargo would take a file there for a
//! bench of its own.
#![allow(dead_code)]

pub mod procfs;
pub mod zone15;
