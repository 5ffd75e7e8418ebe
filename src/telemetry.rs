//! Counters the DNS client and the reach probe increment as they work, for
//! `/metrics` (issue 14): DNS queries by outcome, probes by vantage point
//! and result. They sit on the hot path, so each is one relaxed atomic add
//! into a fixed slot: no lock, no allocation, no label map per increment.
//! The per-vantage slots are made when the configuration is loaded (the
//! only place that takes a lock), and `/metrics` reads them at each scrape.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use certvigil_core::checks::reach::model::{
    Failure, HopOutcome, VantageObservation, VantageOutcome,
};

/// How one query to one name server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsOutcome {
    /// NOERROR (with or without records).
    Answer,
    Nxdomain,
    Servfail,
    Refused,
    /// Any other response code (NOTIMP, FORMERR after the EDNS fallback, ...).
    OtherRcode,
    Timeout,
    /// An answer that could not be parsed.
    Malformed,
    /// A socket error.
    Network,
}

impl DnsOutcome {
    pub const ALL: [DnsOutcome; 8] = [
        DnsOutcome::Answer,
        DnsOutcome::Nxdomain,
        DnsOutcome::Servfail,
        DnsOutcome::Refused,
        DnsOutcome::OtherRcode,
        DnsOutcome::Timeout,
        DnsOutcome::Malformed,
        DnsOutcome::Network,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DnsOutcome::Answer => "answer",
            DnsOutcome::Nxdomain => "nxdomain",
            DnsOutcome::Servfail => "servfail",
            DnsOutcome::Refused => "refused",
            DnsOutcome::OtherRcode => "other_rcode",
            DnsOutcome::Timeout => "timeout",
            DnsOutcome::Malformed => "malformed",
            DnsOutcome::Network => "network_error",
        }
    }

    /// The outcome of a response with this RCODE (RFC 1035 §4.1.1).
    pub fn of_rcode(rcode: u16) -> DnsOutcome {
        match rcode {
            0 => DnsOutcome::Answer,
            2 => DnsOutcome::Servfail,
            3 => DnsOutcome::Nxdomain,
            5 => DnsOutcome::Refused,
            _ => DnsOutcome::OtherRcode,
        }
    }
}

static DNS_QUERIES: [AtomicU64; DnsOutcome::ALL.len()] =
    [const { AtomicU64::new(0) }; DnsOutcome::ALL.len()];

/// One query to one name server ended with `outcome`.
pub fn dns_query(outcome: DnsOutcome) {
    DNS_QUERIES[outcome as usize].fetch_add(1, Ordering::Relaxed);
}

/// Every outcome with its count, in [`DnsOutcome::ALL`] order.
pub fn dns_queries() -> impl Iterator<Item = (&'static str, u64)> {
    DnsOutcome::ALL
        .iter()
        .map(|o| (o.as_str(), DNS_QUERIES[*o as usize].load(Ordering::Relaxed)))
}

/// The results a probe is counted under: the HTTP status class of the last
/// answer of a port's redirect chain, why it got none, or that the vantage
/// point itself could not probe.
const PROBE_RESULTS: [&str; 17] = [
    "http_1xx",
    "http_2xx",
    "http_3xx",
    "http_4xx",
    "http_5xx",
    "no_address",
    "private_address",
    "refused",
    "reset",
    "timeout",
    "tls",
    "closed",
    "protocol",
    "proxy",
    "vantage",
    "other",
    "vantage_error",
];

fn failure_slot(f: Failure) -> usize {
    5 + match f {
        Failure::NoAddress => 0,
        Failure::PrivateAddress => 1,
        Failure::Refused => 2,
        Failure::Reset => 3,
        Failure::Timeout => 4,
        Failure::Tls => 5,
        Failure::Closed => 6,
        Failure::Protocol => 7,
        Failure::Proxy => 8,
        Failure::Vantage => 9,
        Failure::Other => 10,
    }
}

/// One vantage point's probe counts, by result.
#[derive(Debug, Default)]
pub struct ProbeCounters {
    by_result: [AtomicU64; PROBE_RESULTS.len()],
}

impl ProbeCounters {
    /// Counts what one observation of this vantage point shows: one probe
    /// per port, or one vantage error.
    pub fn observed(&self, o: &VantageObservation) {
        match &o.outcome {
            VantageOutcome::Error { .. } => self.add(PROBE_RESULTS.len() - 1),
            VantageOutcome::Probed(p) => {
                for port in &p.ports {
                    let slot = match port.hops.last().map(|h| &h.outcome) {
                        Some(HopOutcome::Response { status, .. }) => {
                            usize::from((status / 100).clamp(1, 5) - 1)
                        }
                        Some(HopOutcome::Failed { failure, .. }) => failure_slot(*failure),
                        None => failure_slot(Failure::Other),
                    };
                    self.add(slot);
                }
            }
        }
    }

    fn add(&self, slot: usize) {
        self.by_result[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Every result counted at least once, with its count.
    pub fn counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        PROBE_RESULTS
            .iter()
            .zip(&self.by_result)
            .map(|(r, n)| (*r, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
    }
}

static VANTAGES: Mutex<BTreeMap<String, Arc<ProbeCounters>>> = Mutex::new(BTreeMap::new());

/// The counters of the vantage point `name`, made on first use: a reloaded
/// configuration gets the same ones back, so counts go on across reloads.
pub fn probe_counters(name: &str) -> Arc<ProbeCounters> {
    let mut map = VANTAGES.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(name.to_string()).or_default().clone()
}

/// Every vantage point's counters (for `/metrics`).
pub fn vantages() -> Vec<(String, Arc<ProbeCounters>)> {
    let map = VANTAGES.lock().unwrap_or_else(|e| e.into_inner());
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_its_own_slot_named_as_serde_names_it() {
        for f in [
            Failure::NoAddress,
            Failure::PrivateAddress,
            Failure::Refused,
            Failure::Reset,
            Failure::Timeout,
            Failure::Tls,
            Failure::Closed,
            Failure::Protocol,
            Failure::Proxy,
            Failure::Vantage,
            Failure::Other,
        ] {
            let name = serde_json::to_value(f).unwrap();
            assert_eq!(PROBE_RESULTS[failure_slot(f)], name.as_str().unwrap());
        }
    }

    #[test]
    fn rcodes_map_to_their_outcome() {
        assert_eq!(DnsOutcome::of_rcode(0), DnsOutcome::Answer);
        assert_eq!(DnsOutcome::of_rcode(2), DnsOutcome::Servfail);
        assert_eq!(DnsOutcome::of_rcode(3), DnsOutcome::Nxdomain);
        assert_eq!(DnsOutcome::of_rcode(5), DnsOutcome::Refused);
        assert_eq!(DnsOutcome::of_rcode(4), DnsOutcome::OtherRcode);
    }
}
