//! DNS on the wire, without the wire: encoding queries and decoding
//! responses (hickory-proto encodes, raw rdata is kept). Sending them is
//! the `certvigil` crate's `dns` module.

pub mod wire;
