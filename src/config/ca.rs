//! `[[ca]]`: catalogue overrides, applied before any name is resolved.
//! Its raw form (as serde reads it), its resolution (each problem at its
//! line:column with its key) and its typed result live here; `resolve`
//! only dispatches.

use super::Config;
use super::problem::Problems;
use crate::ca::{CaEntry, Catalogue};
use serde_spanned::Spanned;
use std::collections::HashMap;

pub(super) fn resolve_ca(entries: &[Spanned<CaEntry>], config: &mut Config, p: &mut Problems<'_>) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut ok = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let key = format!("ca[{i}]");
        let e = entry.get_ref();
        let name = e.name.to_ascii_lowercase();
        let before = p.list.len();
        if name.is_empty() || name.contains('.') || name.contains(char::is_whitespace) {
            p.on(
                entry,
                format!("{key}.name"),
                format!("{:?} cannot be a catalogue name: a name with a dot would be read as a CAA issuer domain; use a short word such as \"myca\"", e.name),
            );
        }
        if e.issuer_domains.is_empty() {
            p.on(
                entry,
                format!("{key}.issuer_domains"),
                "no issuer domains: list the CAA issuer domains that authorize this CA",
            );
        }
        if let Some(first) = seen.insert(name.clone(), i) {
            p.on(
                entry,
                format!("{key}.name"),
                format!("CA {name:?} is already defined by ca[{first}]; merge the two entries"),
            );
        }
        if p.list.len() == before {
            ok.push(e.clone());
        }
    }
    config.catalogue = Catalogue::with_overrides(&ok);
    config.ca = ok;
}
