//! The checks. Each gathers observations over the network, then judges them
//! with a pure function (in the core crate) into a verdict with findings.

pub mod caa;
pub mod reach;

/// Manual-review risk has nothing to gather, and the state every check
/// shares is pure: both live whole in the core crate.
pub use certvigil_core::checks::{dnssec, risk, state};
