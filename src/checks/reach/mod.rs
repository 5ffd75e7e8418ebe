//! Overseas reachability of the file-validation path (DESIGN.md cause 2,
//! issue #5): can a CA abroad fetch `http(s)://NAME/.well-known/...` on
//! ports 80 and 443?
//!
//! Gather, then judge:
//! - [`check`] asks every vantage point ([`vantage`]: this host, a proxy, a
//!   certvigil agent abroad ([`agent`]), Globalping ([`globalping`])) and
//!   returns a [`ReachObservation`]: per vantage point and port, the
//!   connect result, status, redirect chain, time and body match.
//! - [`judge`] (pure) turns that into a [`ReachVerdict`]: `reachable`,
//!   `geo_blocked`, `unreachable` or `error`, with findings and a remedy
//!   that names the ports to open and the CA's scanner addresses.
//!
//! The daemon stores [`ReachVerdict::fingerprint`] to see transitions.

pub mod agent;
pub mod globalping;
pub mod judge;
pub mod model;
pub mod probe;
pub mod redirect;
pub mod vantage;

pub use judge::{JudgeContext, Method, ReachVerdict, ReachVerdictKind, judge};
pub use model::{
    DEFAULT_ACME_PATH, DEFAULT_FILE_PATH, Ports, ProbeTarget, ReachObservation, VantageObservation,
};
pub use probe::ProbeSettings;
pub use vantage::{VantagePoint, check};

use crate::ca::CaChoice;
use crate::config::ReachConfig;
use crate::domain::CertName;
use crate::findings::{CheckKind, Finding, Severity};

/// The target a CA would fetch for `name` validated by `method`: the
/// configured canary if there is one, else a path that does not exist
/// (any answer, a 404 too, proves reachability).
pub fn target_for(
    name: &CertName,
    method: Method,
    canary_path: Option<&str>,
    canary_content: Option<&str>,
    reach: &ReachConfig,
) -> ProbeTarget {
    let (path, expected) = match canary_path {
        Some(path) => (path.to_string(), canary_content.map(str::to_string)),
        None => (
            match method {
                Method::File => DEFAULT_FILE_PATH.to_string(),
                Method::Http01 => DEFAULT_ACME_PATH.to_string(),
            },
            None,
        ),
    };
    ProbeTarget {
        name: name.base().clone(),
        path,
        expected,
        ports: Ports {
            http: reach.http_port,
            https: reach.https_port,
        },
    }
}

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
