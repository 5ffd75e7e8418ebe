//! The shared test bench: real servers on 127.0.0.1 that integration tests
//! start in-process and point certvigil at. Each test file says `mod support;`
//! and uses what it needs, so not every item is used by every test binary.
#![allow(dead_code)]

pub mod acme_mock;
pub mod authdns;
pub mod daemon;
pub mod dns;
pub mod http;
pub mod netns;
pub mod postgres;
pub mod proxy;
pub mod signed_zones;
pub mod site;
pub mod smtp;
pub mod socks;
pub mod tencent_mock;
pub mod unbound;
