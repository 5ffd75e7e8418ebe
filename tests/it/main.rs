//! The integration tests, one binary: one link instead of one per file.
//! Each module is one concern, tested against real servers on loopback
//! started by `support` (DNS, SMTP, HTTP(S) sites and receivers, a proxy,
//! the probe agent, Tencent Cloud and ACME mocks, network namespaces).
//!
//! Tests that need root (network namespaces, nftables) are
//! `#[ignore = "needs root: network namespaces"]`: `cargo test` as a normal
//! user passes and lists them as ignored; `.ci/run` runs them as root with
//! `--include-ignored`.

mod support;

mod alerts;
mod authority;
mod caa_gather;
mod check_cli;
mod check_registry;
mod config_check;
mod daemon;
mod daemon_alerts;
mod daemon_faults;
mod dnssec;
mod engine_parity;
mod http_bounds;
mod orders_acme_manual;
mod orders_daemon;
mod orders_dns;
mod orders_store;
mod orders_tencent;
mod perspective;
mod postgres_copy;
mod postgres_daemons;
mod reach_agent;
mod reach_geoblock;
mod reach_geoblock_daemon;
mod reach_globalping;
mod reach_probe;
mod reach_proxy;
mod recording_batch;
mod resolver_agreement;
mod risk_corpus;
mod store;
mod web;
