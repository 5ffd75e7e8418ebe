//! The reachability check in the policy's terms: what the daemon passes to
//! [`super::policy::decide`] for a reach verdict (check = `reach`).

use super::Severity;
use super::policy::{CheckStatus, Observation};
use crate::checks::reach::{ReachVerdict, ReachVerdictKind};
use crate::findings::Severity as FindingSeverity;

/// The observation for one (certificate name, CA) from its reach verdict.
/// `error` (no vantage point could probe) counts like a failed lookup:
/// blocking only after `error_threshold` in a row, and never a recovery.
pub fn observation(verdict: &ReachVerdict, domain: &str, ca: &str) -> Observation {
    let blocking = verdict
        .findings
        .iter()
        .find(|f| f.severity == FindingSeverity::Blocking);
    let (status, summary, change) = if verdict.verdict == ReachVerdictKind::Error {
        (
            CheckStatus::Error,
            format!(
                "reachability of {domain} cannot be checked: {}",
                verdict.reason
            ),
            format!(
                "reachability of {domain} keeps failing to be checked: {}",
                verdict.reason
            ),
        )
    } else if let Some(f) = blocking {
        (
            CheckStatus::Blocking,
            f.summary.clone(),
            format!("{ca} cannot validate {domain} over HTTP: {}", f.summary),
        )
    } else {
        (
            CheckStatus::Ok,
            format!("{ca} can fetch the validation file of {domain}"),
            format!("{ca} can fetch the validation file of {domain} again"),
        )
    };
    Observation {
        status,
        severity: Severity::Blocking,
        summary,
        change,
        reason: verdict.reason.clone(),
        remedy: verdict
            .remedy
            .clone()
            .or_else(|| blocking.and_then(|f| f.remedy.clone())),
        detail: serde_json::to_value(verdict).unwrap_or_default(),
        detail_text: format!("{}: {}", verdict.verdict.as_str(), verdict.reason),
    }
}
