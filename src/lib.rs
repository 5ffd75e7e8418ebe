//! certvigil: watches the conditions that make a certificate authority refuse
//! or delay a TLS certificate. See ARCHITECTURE.md for the map of modules
//! and the invariants they keep.

pub mod alert;
pub mod ca;
pub mod checks;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dns;
pub mod domain;
pub mod drift;
pub mod engine;
pub mod findings;
pub mod method;
pub mod orders;
pub mod report;
pub mod scheduler;
pub mod store;
pub mod tls;
