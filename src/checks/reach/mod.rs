//! Overseas reachability of the file-validation path (docs/design.md cause 2,
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
pub mod agent_resolve;
pub mod agent_tls;
pub mod globalping;
pub mod probe;
pub mod vantage;

// The pure half lives in the core crate; re-exported at the old paths.
pub use certvigil_core::checks::reach::{
    JudgeContext, Method, ReachVerdict, ReachVerdictKind, context_for, judge, model, redirect,
    wildcard_finding,
};
pub use model::{
    DEFAULT_ACME_PATH, DEFAULT_FILE_PATH, Ports, ProbeTarget, ReachObservation, VantageObservation,
};
pub use probe::ProbeSettings;
pub use vantage::{VantagePoint, check};

use crate::config::ReachConfig;
use crate::domain::CertName;

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
