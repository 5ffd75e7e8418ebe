//! The CAA check (RFC 8659, RFC 8657).

pub mod binding;
pub mod explain;
pub mod gather;
pub mod judge;
pub mod legacy;
pub mod model;
pub mod property;
pub mod value;

pub use model::*;
