//! `[web]`: the read-only web interface and `/metrics` (off unless
//! `listen` is set). Parsed here so `config check` reports its problems
//! with the rest; served by the web module.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::problem::Problems;
use super::raw::Text;
use super::secret::SecretSource;

/// `[web]` as serde reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeb {
    pub listen: Option<Text>,
    pub token_file: Option<Spanned<PathBuf>>,
    pub require_token: Option<Spanned<bool>>,
}

/// `[web]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfig {
    /// Where to listen; `None`: the web interface is off.
    pub listen: Option<SocketAddr>,
    /// The bearer token (or basic-auth password), read at start.
    pub token: Option<SecretSource>,
    /// Ask for the token on a loopback listener too.
    pub require_token: bool,
}

/// Whether a listener on `listen` must ask for a token: anything but a
/// loopback address can be reached by others, and `require_token` asks
/// for one everywhere (a shared host, where loopback is not private).
pub fn needs_token(listen: SocketAddr, require_token: bool) -> bool {
    require_token || !listen.ip().is_loopback()
}

/// `[web]` with nothing written: off.
pub(crate) fn defaults() -> WebConfig {
    WebConfig {
        listen: None,
        token: None,
        require_token: false,
    }
}

pub(crate) fn resolve_web(raw: RawWeb, p: &mut Problems<'_>) -> WebConfig {
    let listen = raw
        .listen
        .as_ref()
        .and_then(|l| match l.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                p.on(
                    l,
                    "web.listen",
                    format!(
                        "{:?} is not an address and port; write e.g. \"127.0.0.1:8470\" or \"[::1]:8470\"",
                        l.get_ref()
                    ),
                );
                None
            }
        });
    let token = raw.token_file.as_ref().and_then(|f| {
        if f.get_ref().as_os_str().is_empty() {
            p.on(
                f,
                "web.token_file",
                "the path is empty; name the file holding the token",
            );
            return None;
        }
        p.secret_files
            .push((f.span(), "web.token_file".into(), f.get_ref().clone()));
        Some(SecretSource::file("web.token_file", f.get_ref().clone()))
    });
    let require_token = raw.require_token.as_ref().is_some_and(|r| *r.get_ref());
    if let (Some(addr), None, Some(l)) = (listen, &token, raw.listen.as_ref())
        && needs_token(addr, require_token)
    {
        let why = if addr.ip().is_loopback() {
            "require_token = true".to_string()
        } else {
            format!("{addr} is not a loopback address, so others can reach it")
        };
        p.on(
            l,
            "web.listen",
            format!("{why}: set token_file to a file holding the token the web interface asks for"),
        );
    }
    WebConfig {
        listen,
        token,
        require_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_listeners_go_without_a_token_unless_one_is_required() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(!needs_token(at("127.0.0.1:8470"), false));
        assert!(!needs_token(at("127.0.0.2:8470"), false));
        assert!(!needs_token(at("[::1]:8470"), false));
        assert!(needs_token(at("0.0.0.0:8470"), false));
        assert!(needs_token(at("[::]:8470"), false));
        assert!(needs_token(at("192.0.2.10:8470"), false));
        assert!(needs_token(at("127.0.0.1:8470"), true));
    }

    #[test]
    fn a_listener_others_can_reach_is_refused_without_a_token_file() {
        let parse = |web: &str| {
            crate::config::parse_with_state_directory(
                &format!(
                    "[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\n\n[web]\n{web}"
                ),
                "c.toml",
                None,
            )
        };
        let err = parse("listen = \"0.0.0.0:8470\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not a loopback address") && err.contains("token_file"),
            "{err}"
        );
        let err = parse("listen = \"127.0.0.1:8470\"\nrequire_token = true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("require_token"), "{err}");
        let err = parse("listen = \"localhost\"\n").unwrap_err().to_string();
        assert!(err.contains("not an address and port"), "{err}");
        let ok = parse("listen = \"127.0.0.1:8470\"\n").unwrap();
        assert_eq!(ok.web.listen, Some("127.0.0.1:8470".parse().unwrap()));
        let ok = parse("listen = \"0.0.0.0:8470\"\ntoken_file = \"/etc/certvigil/web.token\"\n")
            .unwrap();
        assert!(ok.web.token.is_some());
        assert_eq!(parse("").unwrap().web.listen, None);
    }
}
