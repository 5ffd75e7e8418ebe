//! Findings: what any check reports to a person, in one shape, so the CLI,
//! the store and the alerts treat CAA, reachability, risk and orders alike.

use serde::{Deserialize, Serialize};

/// How much a finding matters for issuance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    /// Issuance may be delayed (manual review) but is not refused.
    Warning,
    /// A CA will refuse to issue as things stand.
    Blocking,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Blocking => "blocking",
        }
    }
}

/// Which check produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Caa,
    Reach,
    Risk,
    Order,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Caa => "caa",
            CheckKind::Reach => "reach",
            CheckKind::Risk => "risk",
            CheckKind::Order => "order",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            CheckKind::Caa,
            CheckKind::Reach,
            CheckKind::Risk,
            CheckKind::Order,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub check: CheckKind,
    pub severity: Severity,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}
