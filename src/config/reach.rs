//! `[reach]`: the ports file validation is probed on.
//! Its raw form (as serde reads it), its resolution (each problem at its
//! line:column with its key) and its typed result live here; `resolve`
//! only dispatches.

use super::problem::Problems;
use serde::Deserialize;
use serde_spanned::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReach {
    pub http_port: Option<Spanned<u16>>,
    pub https_port: Option<Spanned<u16>>,
}

/// `[reach]`: the ports file validation is tried on. Only tests change them
/// (BR §3.2.2.4.18 allows 80 and 443 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReachConfig {
    pub http_port: u16,
    pub https_port: u16,
}

/// `[reach]` with nothing written: the ports CAs use.
pub(super) fn defaults() -> ReachConfig {
    ReachConfig {
        http_port: 80,
        https_port: 443,
    }
}

pub(super) fn resolve_reach(
    raw: RawReach,
    out: &mut ReachConfig,
    p: &mut Problems<'_>,
    w: &mut Problems<'_>,
) {
    for (port, key, standard, slot) in [
        (&raw.http_port, "reach.http_port", 80, &mut out.http_port),
        (
            &raw.https_port,
            "reach.https_port",
            443,
            &mut out.https_port,
        ),
    ] {
        let Some(port) = port else { continue };
        match *port.get_ref() {
            0 => p.on(
                port,
                key,
                format!("port 0 is not a port; remove the key for {standard}"),
            ),
            n => {
                if n != standard {
                    w.on(
                        port,
                        key,
                        format!("CAs validate files only on ports 80 and 443 (BR §3.2.2.4.18); port {n} is for tests"),
                    );
                }
                *slot = n;
            }
        }
    }
}
