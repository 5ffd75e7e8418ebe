//! `[dns] view` and `[dns] authoritative_port`: which views of DNS the CAA
//! check takes (issue 13). Parsed here so the rest of `[dns]` stays in
//! `resolve.rs` untouched.

use serde_spanned::Spanned;

use super::problem::Problems;
use super::raw::Text;

/// Which resolvers the CAA check believes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsView {
    /// The recursive climb decides; every authoritative server of the
    /// deciding zone is asked too, and a difference is a finding.
    #[default]
    Both,
    /// The recursive resolvers only (before issue 13).
    Recursive,
    /// The authoritative servers only: the verdict is judged from what the
    /// zone's own servers serve (the recursive resolver only finds them).
    Authoritative,
}

impl DnsView {
    pub fn asks_authoritative(self) -> bool {
        self != DnsView::Recursive
    }
}

/// The `[dns]` keys of the views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewsConfig {
    pub view: DnsView,
    /// The port authoritative servers are asked on: 53, the only port a
    /// delegation can name. Another value is for labs and tests only.
    pub authoritative_port: u16,
}

impl Default for ViewsConfig {
    fn default() -> Self {
        Self {
            view: DnsView::Both,
            authoritative_port: 53,
        }
    }
}

pub(crate) fn resolve_views(
    view: Option<&Text>,
    port: Option<&Spanned<u16>>,
    p: &mut Problems<'_>,
) -> ViewsConfig {
    let mut out = ViewsConfig::default();
    if let Some(v) = view {
        match v.get_ref().as_str() {
            "both" => out.view = DnsView::Both,
            "recursive" => out.view = DnsView::Recursive,
            "authoritative" => out.view = DnsView::Authoritative,
            other => p.on(
                v,
                "dns.view",
                format!(
                    "{other:?} is not a view; use \"both\", \"recursive\" or \"authoritative\""
                ),
            ),
        }
    }
    if let Some(port) = port {
        if *port.get_ref() == 0 {
            p.on(
                port,
                "dns.authoritative_port",
                "port 0 cannot be asked; remove the key to use 53",
            );
        } else {
            out.authoritative_port = *port.get_ref();
        }
    }
    out
}
