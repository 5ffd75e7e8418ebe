//! `[dnssec]`: whether the decisive lookups are validated with DNSSEC
//! (default: yes, as every CA does), and the trust anchor to start from
//! (default: the IANA root KSKs built in). The file is read and parsed by
//! the `dnssec` module when checks start; here it must at least exist.

use std::path::PathBuf;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::problem::Problems;

/// `[dnssec]` as serde reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDnssec {
    pub validate: Option<Spanned<bool>>,
    pub trust_anchor_file: Option<Spanned<PathBuf>>,
}

/// `[dnssec]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnssecConfig {
    pub validate: bool,
    /// Root DS or DNSKEY records in presentation format, replacing the
    /// built-in IANA root KSKs (for test roots and private roots).
    pub trust_anchor_file: Option<PathBuf>,
}

impl Default for DnssecConfig {
    fn default() -> Self {
        Self {
            validate: true,
            trust_anchor_file: None,
        }
    }
}

pub(crate) fn resolve_dnssec(raw: RawDnssec, p: &mut Problems<'_>) -> DnssecConfig {
    let validate = raw.validate.as_ref().is_none_or(|v| *v.get_ref());
    let trust_anchor_file = raw.trust_anchor_file.as_ref().and_then(|f| {
        let path = f.get_ref();
        if path.as_os_str().is_empty() {
            p.on(
                f,
                "dnssec.trust_anchor_file",
                "the path is empty; name a file of root DS or DNSKEY records, or remove the key to use the built-in IANA root anchors",
            );
            return None;
        }
        if let Err(e) = std::fs::metadata(path) {
            p.on(
                f,
                "dnssec.trust_anchor_file",
                format!("cannot read {}: {e}", path.display()),
            );
            return None;
        }
        Some(path.clone())
    });
    DnssecConfig {
        validate,
        trust_anchor_file,
    }
}
