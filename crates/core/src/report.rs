//! The one-shot diagnosis of a name for a CA, as `certvigil check` prints it.
//! The JSON shape is the contract in docs/contracts.md ("The `check --format json`
//! contract"): change it only additively.

use serde::Serialize;

use crate::ca::CaChoice;
use crate::checks::caa::{CaaRecord, CaaVerdict, CaaVerdictKind, LegacyDecision, LookupFailure};
use crate::checks::reach::ReachVerdict;
use crate::checks::risk::{REMEDY as RISK_REMEDY, RiskAssessment};
use crate::domain::{CertName, DomainName};
use crate::findings::{CheckKind, Finding, Severity};

/// One JSON Lines object: one name, one CA.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub domain: String,
    pub ca: CaChoice,
    /// Nothing found blocks issuance by this CA.
    pub issuable: bool,
    pub caa: CaaSection,
    /// Manual-review risk of the name (issue #7); absent when not assessed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<RiskAssessment>,
    /// Reachability of the file-validation path from every vantage point
    /// (issue #5); absent when the name is not validated over HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reach: Option<ReachVerdict>,
    pub findings: Vec<Finding>,
}

/// The `caa` object of the contract.
#[derive(Debug, Clone, Serialize)]
pub struct CaaSection {
    pub verdict: CaaVerdictKind,
    pub relevant_name: Option<DomainName>,
    pub records: Vec<RecordView>,
    pub cname_chain: Vec<DomainName>,
    pub reason: String,
    pub remedy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup_error: Option<LookupErrorView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_rfc6844: Option<LegacyDecision>,
    /// The authoritative servers' and the vantage points' views where they
    /// differ (issue 13); absent when they agree or are off.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<crate::checks::views::ViewFinding>,
    /// The DNSSEC status of each decisive lookup (absent when not
    /// validated).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dnssec: Vec<crate::checks::dnssec::DnssecNote>,
}

/// A CAA record for people and scripts: the value as text. Octets that are
/// not UTF-8 are shown as U+FFFD; such a value never matches the grammar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordView {
    pub flags: u8,
    pub tag: String,
    pub value: String,
}

impl From<&CaaRecord> for RecordView {
    fn from(r: &CaaRecord) -> Self {
        Self {
            flags: r.flags,
            tag: r.tag.clone(),
            value: r.value_lossy(),
        }
    }
}

impl RecordView {
    /// The record as a zone-file line would show its data: `0 issue "x"`.
    pub fn presentation(&self) -> String {
        format!(
            "{} {} {:?}",
            self.flags,
            crate::redact::escape_controls(&self.tag),
            self.value
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LookupErrorView {
    pub name: DomainName,
    pub failure: LookupFailure,
    pub message: String,
}

impl CaaSection {
    pub fn from_verdict(v: &CaaVerdict) -> Self {
        Self {
            verdict: v.verdict,
            relevant_name: v.relevant_name.clone(),
            records: v.records.iter().map(RecordView::from).collect(),
            cname_chain: v.cname_chain.clone(),
            reason: v.reason.clone(),
            remedy: v.remedy.clone(),
            lookup_error: v
                .lookup_error
                .as_ref()
                .map(|(name, failure)| LookupErrorView {
                    name: name.clone(),
                    failure: failure.clone(),
                    message: failure.to_string(),
                }),
            legacy_rfc6844: v.legacy_rfc6844.clone(),
            views: v.views.clone(),
            dnssec: v.dnssec.clone(),
        }
    }
}

/// The finding a CAA verdict contributes, if any: `forbidden` and `error`
/// block issuance; a divergent legacy reading is worth knowing about.
pub fn caa_findings(v: &CaaVerdict) -> Vec<Finding> {
    let mut out = Vec::new();
    match v.verdict {
        CaaVerdictKind::Allowed => {}
        CaaVerdictKind::Forbidden | CaaVerdictKind::Error => out.push(Finding {
            check: CheckKind::Caa,
            severity: Severity::Blocking,
            summary: v.reason.clone(),
            remedy: v.remedy.clone(),
        }),
    }
    for view in &v.views {
        out.push(Finding {
            check: CheckKind::Caa,
            severity: view.severity,
            summary: view.summary.clone(),
            remedy: view.remedy.clone(),
        });
    }
    // Where the configured resolver validates too, a different view is
    // worth a look: one of the two may see another zone or anchor.
    for note in &v.dnssec {
        if let Some(view) = note.resolver
            && let Some(why) = crate::checks::dnssec::disagreement(&note.status, view, true)
        {
            out.push(Finding {
                check: CheckKind::Caa,
                severity: Severity::Warning,
                summary: format!("DNSSEC of the {} lookup for {}: {why}", note.rtype, note.name),
                remedy: Some(format!(
                    "Compare with a third validator (e.g. delv {} {}) and fix the side that is wrong.",
                    note.name, note.rtype
                )),
            });
        }
    }
    if let Some(legacy) = &v.legacy_rfc6844 {
        out.push(Finding {
            check: CheckKind::Caa,
            severity: Severity::Info,
            summary: legacy.explanation.clone(),
            remedy: None,
        });
    }
    out
}

impl CheckReport {
    pub fn new(name: &CertName, ca: &CaChoice, verdict: &CaaVerdict, extra: Vec<Finding>) -> Self {
        let mut findings = caa_findings(verdict);
        findings.extend(extra);
        let issuable = !findings.iter().any(|f| f.severity == Severity::Blocking);
        Self {
            domain: name.to_string(),
            ca: ca.clone(),
            issuable,
            caa: CaaSection::from_verdict(verdict),
            risk: None,
            reach: None,
            findings,
        }
    }

    /// Adds the manual-review risk: shown in `risk`, and a `warning`
    /// finding when it is medium or high. Never blocking: a manual review
    /// can pass, so `issuable` does not change.
    pub fn with_risk(mut self, assessment: RiskAssessment) -> Self {
        if assessment.is_flagged() {
            self.findings.push(Finding {
                check: CheckKind::Risk,
                severity: Severity::Warning,
                summary: assessment.headline(),
                remedy: Some(RISK_REMEDY.to_string()),
            });
        }
        self.risk = Some(assessment);
        self
    }

    /// Adds findings that come without a section (e.g. "a wildcard cannot
    /// be validated over HTTP").
    pub fn with_findings(mut self, extra: Vec<Finding>) -> Self {
        self.findings.extend(extra);
        self.issuable = !self
            .findings
            .iter()
            .any(|f| f.severity == Severity::Blocking);
        self
    }

    /// Adds the reachability verdict and its findings; `geo_blocked` and
    /// `unreachable` (and broken redirects or content) make the name not
    /// issuable by file validation.
    pub fn with_reach(mut self, verdict: ReachVerdict) -> Self {
        self.findings.extend(verdict.findings.iter().cloned());
        self.issuable = !self
            .findings
            .iter()
            .any(|f| f.severity == Severity::Blocking);
        self.reach = Some(verdict);
        self
    }
}
