//! The judging halves of the checks: observations in, verdicts with
//! findings out. Gathering (DNS, HTTP probes) lives in the `certvigil`
//! crate's `checks` module, which re-exports these.

pub mod authority;
pub mod caa;
pub mod dnssec;
pub mod perspective;
pub mod reach;
pub mod risk;
pub mod state;
pub mod views;
