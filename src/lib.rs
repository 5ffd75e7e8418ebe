//! certvigil: watches the conditions that make a certificate authority refuse
//! or delay a TLS certificate. See ARCHITECTURE.md for the map of modules
//! and the invariants they keep.

pub mod alert;
pub mod authority;
pub mod checks;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dns;
pub mod dnssec;
pub mod engine;
pub mod http;
pub mod memory;
pub mod orders;
pub mod perspective;
pub mod recording;
pub mod scheduler;
pub mod store;
pub mod supervise;
pub mod telemetry;
pub mod tls;
pub mod views;
pub mod web;

// The pure layer (names, the CA catalogue, findings, drift, the check
// report) is the certvigil-core crate; re-exported at the old paths so
// `crate::domain::DomainName` and `certvigil::ca::Catalogue` keep working.
pub use certvigil_core::{ca, domain, drift, findings, method, report};

#[cfg(test)]
mod layering_tests;
