//! The CAA check (RFC 8659, RFC 8657): the observation model and the pure
//! judge. The `certvigil` crate's `checks::caa::gather` climbs the tree.

pub mod binding;
pub mod explain;
pub mod judge;
pub mod legacy;
pub mod model;
pub mod property;
pub mod value;

pub use model::*;
