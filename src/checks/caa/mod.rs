//! The CAA check (RFC 8659, RFC 8657).

pub mod gather;
pub mod judge;
pub mod model;
pub mod value;

pub use model::*;
