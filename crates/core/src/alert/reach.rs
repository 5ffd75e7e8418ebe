//! The reachability check in the policy's terms: what the daemon passes to
//! [`super::policy::decide`] for a reach verdict (check = `reach`).

use super::Severity;
use super::policy::{CheckStatus, Observation};
use crate::checks::reach::{ReachVerdict, ReachVerdictKind};

/// The observation for one (certificate name, CA) from its reach verdict.
/// `error` (no vantage point could probe) counts like a failed lookup:
/// blocking only after `error_threshold` in a row, and never a recovery.
pub fn observation(verdict: &ReachVerdict, domain: &str, ca: &str) -> Observation {
    let blocking = verdict
        .findings
        .iter()
        .find(|f| f.severity == Severity::Blocking);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::reach::Method;
    use crate::findings::{CheckKind, Finding};

    fn verdict(kind: ReachVerdictKind, blocking: Option<&str>) -> ReachVerdict {
        ReachVerdict {
            verdict: kind,
            name: "shop.example.com".into(),
            path: "/.well-known/pki-validation/canary.txt".into(),
            method: Method::File,
            reason: "because".into(),
            remedy: None,
            vantages: vec![],
            findings: blocking
                .map(|s| Finding {
                    check: CheckKind::Reach,
                    severity: Severity::Blocking,
                    summary: s.into(),
                    remedy: Some("serve the file".into()),
                })
                .into_iter()
                .collect(),
            problems: vec![],
        }
    }

    #[test]
    fn a_blocking_finding_is_the_news_with_its_remedy() {
        let o = observation(
            &verdict(ReachVerdictKind::Unreachable, Some("port 80 answers 404")),
            "shop.example.com",
            "Sectigo",
        );
        assert_eq!(o.status, CheckStatus::Blocking);
        assert_eq!(o.summary, "port 80 answers 404");
        assert_eq!(
            o.change,
            "Sectigo cannot validate shop.example.com over HTTP: port 80 answers 404"
        );
        assert_eq!(o.remedy.as_deref(), Some("serve the file"));
        assert_eq!(o.detail["verdict"], "unreachable");
    }

    #[test]
    fn an_error_is_counted_not_judged_and_reachable_is_ok() {
        let e = observation(
            &verdict(ReachVerdictKind::Error, None),
            "shop.example.com",
            "Sectigo",
        );
        assert_eq!(e.status, CheckStatus::Error);
        let ok = observation(
            &verdict(ReachVerdictKind::Reachable, None),
            "shop.example.com",
            "Sectigo",
        );
        assert_eq!(ok.status, CheckStatus::Ok);
        assert_eq!(
            ok.change,
            "Sectigo can fetch the validation file of shop.example.com again"
        );
    }
}
