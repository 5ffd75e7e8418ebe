//! What the validation lookups found, one outcome per requirement: the
//! plain data [`super::judge`] reads. The lookups themselves (DNS, the file
//! over HTTP) are the `certvigil` crate's `orders::validation`.

use serde::{Deserialize, Serialize};

use super::ValidationRequirement;

/// What was found for one requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ValidationOutcome {
    /// The record or file is there with the right value.
    InPlace,
    /// Nothing there: no such name, no record of the type, HTTP 404.
    Missing { detail: String },
    /// Something there, but not the value the CA expects.
    Wrong { found: Vec<String>, detail: String },
    /// The file could not be fetched (connection refused, timeout, an
    /// error status other than 404).
    Unreachable { detail: String },
    /// The lookup itself failed here (SERVFAIL, timeout): says nothing
    /// about the record, and a CA may see it differently.
    Inconclusive { detail: String },
}

impl ValidationOutcome {
    /// Whether the CA, looking now, would not find what it needs.
    pub fn blocks(&self) -> bool {
        matches!(
            self,
            ValidationOutcome::Missing { .. }
                | ValidationOutcome::Wrong { .. }
                | ValidationOutcome::Unreachable { .. }
        )
    }

    /// Preference when two looks disagree (http vs https): the CA needs one.
    pub fn rank(&self) -> u8 {
        match self {
            ValidationOutcome::InPlace => 4,
            ValidationOutcome::Wrong { .. } => 3,
            ValidationOutcome::Missing { .. } => 2,
            ValidationOutcome::Unreachable { .. } => 1,
            ValidationOutcome::Inconclusive { .. } => 0,
        }
    }
}

/// One requirement and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationCheck {
    pub requirement: ValidationRequirement,
    pub outcome: ValidationOutcome,
}
