//! The checks. Each gathers observations over the network, then judges them
//! with a pure function into a verdict with findings.

pub mod caa;
pub mod reach;
pub mod risk;
pub mod state;
