//! The pure core of certvigil: everything that turns observations into
//! verdicts, findings and alerts without touching the network, a database,
//! a file or the clock (`now` is always an argument). The `certvigil` crate
//! gathers the observations, stores the results and delivers the alerts
//! around it, and re-exports these modules at their old paths.
//!
//! This crate does not depend on tokio, sqlx, reqwest, lettre or
//! hickory-resolver, so the compiler refuses I/O here. See ARCHITECTURE.md.

pub mod alert;
pub mod ca;
pub mod checks;
pub mod dns;
pub mod domain;
pub mod drift;
pub mod findings;
pub mod method;
pub mod millis;
pub mod orders;
pub mod pin;
pub mod redact;
pub mod report;
