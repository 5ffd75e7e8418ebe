//! The CAA check (RFC 8659, RFC 8657): `gather` climbs the DNS tree here;
//! the model and the pure judge live in the core crate and are re-exported
//! at their old paths.

pub mod gather;

pub use certvigil_core::checks::caa::{binding, explain, judge, legacy, model, property, value};

pub use model::*;
