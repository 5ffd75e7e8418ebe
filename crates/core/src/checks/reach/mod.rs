//! Overseas reachability of the file-validation path, the pure half: the
//! observation model ([`model`]), the redirect rules ([`redirect`]) and the
//! judge ([`judge`]) that turns what the vantage points saw into a
//! [`ReachVerdict`]. Probing (this host, proxies, agents, Globalping) is in
//! the `certvigil` crate's `checks::reach`.

pub mod judge;
pub mod locations;
pub mod model;
pub mod redirect;

pub use judge::{JudgeContext, Method, ReachVerdict, ReachVerdictKind, judge};
pub use model::{
    DEFAULT_ACME_PATH, DEFAULT_FILE_PATH, Ports, ProbeTarget, ReachObservation, VantageObservation,
};

use crate::ca::CaChoice;
use crate::domain::CertName;
use crate::findings::{CheckKind, Finding, Severity};

/// What the judge needs to know about the CA.
pub fn context_for(method: Method, ca: &CaChoice) -> JudgeContext {
    JudgeContext {
        method,
        ca: if ca.display.is_empty() {
            ca.name.clone()
        } else {
            ca.display.clone()
        },
        scanner_ips: ca.scanner_ips.clone(),
    }
}

/// A wildcard cannot be validated over HTTP: BR §3.2.2.4.18 validation
/// covers only the FQDN itself, RFC 8555 §8.3 forbids http-01 for
/// wildcards, and Tencent Cloud refuses file validation for them.
pub fn wildcard_finding(name: &CertName, method: Method) -> Finding {
    let label = match method {
        Method::File => "file validation",
        Method::Http01 => "http-01",
    };
    Finding {
        check: CheckKind::Reach,
        severity: Severity::Blocking,
        summary: format!(
            "{name} is a wildcard, and {label} cannot validate wildcards (BR §3.2.2.4.18, RFC 8555 §8.3)"
        ),
        remedy: Some(format!(
            "validate {name} by DNS (a TXT or CNAME record at _dnsauth / _acme-challenge.{})",
            name.base()
        )),
    }
}
