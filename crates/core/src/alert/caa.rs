//! The CAA check in the policy's terms: what the daemon passes to
//! [`super::policy::decide`] and [`super::policy::decide_drift`] for a CAA
//! verdict.

use super::Severity;
use super::policy::{CaaRrset, CheckStatus, Observation};
use crate::checks::caa::{CaaVerdict, CaaVerdictKind};

/// The observation for one (certificate name, CA) from its CAA verdict.
/// `domain` is the certificate name for display, `ca` the CA's display name.
pub fn observation(verdict: &CaaVerdict, domain: &str, ca: &str) -> Observation {
    let blocking_view = verdict
        .views
        .iter()
        .find(|f| f.severity == Severity::Blocking);
    let (status, summary, change) = match verdict.verdict {
        // Allowed from here, but another authoritative server or another
        // perspective would make the CA refuse (issue 13).
        CaaVerdictKind::Allowed if blocking_view.is_some() => {
            let why = blocking_view
                .map(|f| f.summary.as_str())
                .unwrap_or_default();
            (
                CheckStatus::Blocking,
                format!("CAA at {domain} allows {ca} from here, but {why}"),
                format!("CAA at {domain} now blocks {ca} as seen elsewhere: {why}"),
            )
        }
        CaaVerdictKind::Allowed => (
            CheckStatus::Ok,
            format!("CAA at {domain} allows {ca}"),
            format!("CAA at {domain} allows {ca} again"),
        ),
        CaaVerdictKind::Forbidden => (
            CheckStatus::Blocking,
            format!("CAA at {domain} forbids {ca}"),
            format!("CAA at {domain} now forbids {ca}"),
        ),
        CaaVerdictKind::Error => {
            let failed = match &verdict.lookup_error {
                Some((name, how)) => format!("at {name}: {how}"),
                None => "for it".to_string(),
            };
            (
                CheckStatus::Error,
                format!("CAA lookup for {domain} fails ({failed}); {ca} would refuse"),
                format!("CAA lookup for {domain} keeps failing ({failed}); {ca} would refuse"),
            )
        }
    };
    let text = match verdict.verdict {
        CaaVerdictKind::Error => format!("lookup failed: {}", verdict.reason),
        _ => rrset(verdict).map(|r| r.to_text()).unwrap_or_default(),
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
            .or_else(|| blocking_view.and_then(|f| f.remedy.clone())),
        // The `caa` object of `check --format json`: record values as text.
        detail: serde_json::to_value(crate::report::CaaSection::from_verdict(verdict))
            .unwrap_or_default(),
        detail_text: text,
    }
}

/// The relevant record set a verdict was decided on, for drift; `None` when
/// the lookup failed (a failure is not a change of records).
pub fn rrset(verdict: &CaaVerdict) -> Option<CaaRrset> {
    if verdict.verdict == CaaVerdictKind::Error {
        return None;
    }
    Some(CaaRrset::new(
        verdict.relevant_name.as_ref().map(|n| n.to_string()),
        verdict.records.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::caa::{CaaRecord, LookupFailure};
    use crate::domain::DomainName;

    fn verdict(kind: CaaVerdictKind) -> CaaVerdict {
        let name = DomainName::parse("example.com").unwrap();
        CaaVerdict {
            verdict: kind,
            relevant_name: Some(name.clone()),
            records: vec![CaaRecord::new(0, "issue", "letsencrypt.org")],
            cname_chain: vec![name.clone()],
            reason: "example.com authorizes only letsencrypt.org".into(),
            remedy: Some("add sectigo.com".into()),
            lookup_error: (kind == CaaVerdictKind::Error).then(|| {
                (
                    name,
                    LookupFailure::Rcode {
                        rcode: "SERVFAIL".into(),
                        server: None,
                    },
                )
            }),
            legacy_rfc6844: None,
            views: Vec::new(),
            dnssec: Vec::new(),
        }
    }

    #[test]
    fn a_forbidding_verdict_is_blocking_news_with_its_records() {
        let o = observation(
            &verdict(CaaVerdictKind::Forbidden),
            "example.com",
            "Sectigo",
        );
        assert_eq!(o.status, CheckStatus::Blocking);
        assert_eq!(o.change, "CAA at example.com now forbids Sectigo");
        assert_eq!(
            o.detail_text,
            "example.com. CAA 0 issue \"letsencrypt.org\""
        );
        assert_eq!(o.detail["verdict"], "forbidden");
    }

    #[test]
    fn a_failed_lookup_says_where_and_has_no_rrset() {
        let v = verdict(CaaVerdictKind::Error);
        let o = observation(&v, "example.com", "Sectigo");
        assert_eq!(o.status, CheckStatus::Error);
        assert!(
            o.summary
                .contains("at example.com: the name server answered SERVFAIL"),
            "{}",
            o.summary
        );
        assert!(rrset(&v).is_none());
        assert!(rrset(&verdict(CaaVerdictKind::Allowed)).is_some());
    }
}
