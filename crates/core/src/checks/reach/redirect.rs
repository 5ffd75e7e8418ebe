//! Which redirects a CA follows during file validation. Pure functions: the
//! prober asks [`permitted`] before following a hop (so it never goes where
//! a CA would not), and the judge asks again to explain a broken chain.
//!
//! - BR §3.2.2.4.18: redirects must be 301, 302, 307 or 308, to http or
//!   https, on port 80 or 443.
//! - Tencent Cloud's file validation: at most two redirects, within the same
//!   registered domain.
//! - ACME http-01 (RFC 8555 §8.3, Let's Encrypt): the same statuses, schemes
//!   and ports; up to ten redirects, to any name.

use serde::{Deserialize, Serialize};
use url::Url;

use super::model::{Ports, Scheme};

/// The statuses BR §3.2.2.4.18 lets a CA follow.
pub const PERMITTED_STATUSES: [u16; 4] = [301, 302, 307, 308];

/// How far a prober follows a chain before giving up: Let's Encrypt's
/// limit, the most generous a CA is known to apply.
pub const MAX_FOLLOWED: usize = 10;

/// Why a CA would not follow a redirect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum RedirectViolation {
    /// A 3xx status other than 301/302/307/308 (e.g. 303, 300).
    Status { status: u16 },
    /// No `Location`, or one that is not a URL.
    BadLocation { location: String },
    /// To a scheme other than http/https.
    Scheme { scheme: String },
    /// To a port other than the validation port of its scheme.
    Port { port: u16 },
}

impl RedirectViolation {
    pub fn explain(&self, ports: Ports) -> String {
        match self {
            RedirectViolation::Status { status } => format!(
                "it answers with a {status} redirect; CAs follow only 301, 302, 307 and 308 (BR §3.2.2.4.18)"
            ),
            RedirectViolation::BadLocation { location } => {
                format!("it redirects to {location:?}, which is not a URL")
            }
            RedirectViolation::Scheme { scheme } => format!(
                "it redirects to a {scheme}: URL; CAs follow redirects only to http and https (BR §3.2.2.4.18)"
            ),
            RedirectViolation::Port { port } => format!(
                "it redirects to port {port}; CAs follow redirects only to ports {} and {} (BR §3.2.2.4.18)",
                ports.http, ports.https
            ),
        }
    }
}

/// Whether a status is a redirect at all (a 3xx with a meaning for
/// clients; 304 is not one).
pub fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status) && status != 304
}

/// Decides whether a CA follows a `status` answer from `from` with this
/// `location`; returns the next URL when it does.
pub fn permitted(
    status: u16,
    from: &Url,
    location: Option<&str>,
    ports: Ports,
) -> Result<Url, RedirectViolation> {
    if !PERMITTED_STATUSES.contains(&status) {
        return Err(RedirectViolation::Status { status });
    }
    let location = location.unwrap_or("");
    let next = from
        .join(location)
        .map_err(|_| RedirectViolation::BadLocation {
            location: location.to_string(),
        })?;
    if location.is_empty() {
        return Err(RedirectViolation::BadLocation {
            location: String::new(),
        });
    }
    let scheme = match next.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            return Err(RedirectViolation::Scheme {
                scheme: other.to_string(),
            });
        }
    };
    let port = next
        .port_or_known_default()
        .expect("http and https have default ports");
    if !ports.allows(scheme, port) {
        return Err(RedirectViolation::Port { port });
    }
    Ok(next)
}

/// The registered domain (public suffix + one label) of a host, for
/// Tencent's "same registered domain" rule; `None` for IP addresses and
/// names that are themselves a public suffix.
pub fn registered_domain(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    psl::domain_str(&host).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: Ports = Ports::STANDARD;

    fn from() -> Url {
        Url::parse("http://shop.example.com/.well-known/pki-validation/f.txt").unwrap()
    }

    #[test]
    fn br_3_2_2_4_18_allows_301_302_307_308_only() {
        for s in PERMITTED_STATUSES {
            assert!(permitted(s, &from(), Some("https://shop.example.com/x"), PORTS).is_ok());
        }
        for s in [300, 303, 305] {
            assert_eq!(
                permitted(s, &from(), Some("https://shop.example.com/x"), PORTS),
                Err(RedirectViolation::Status { status: s })
            );
        }
    }

    #[test]
    fn br_3_2_2_4_18_allows_ports_80_and_443_only() {
        assert_eq!(
            permitted(301, &from(), Some("http://shop.example.com:8080/x"), PORTS),
            Err(RedirectViolation::Port { port: 8080 })
        );
        // https on 80 is not https's port either.
        assert_eq!(
            permitted(301, &from(), Some("https://shop.example.com:80/x"), PORTS),
            Err(RedirectViolation::Port { port: 80 })
        );
        assert!(permitted(301, &from(), Some("https://shop.example.com:443/x"), PORTS).is_ok());
    }

    #[test]
    fn br_3_2_2_4_18_allows_http_and_https_only() {
        assert_eq!(
            permitted(302, &from(), Some("ftp://shop.example.com/x"), PORTS),
            Err(RedirectViolation::Scheme {
                scheme: "ftp".into()
            })
        );
    }

    #[test]
    fn relative_locations_resolve_against_the_request() {
        let next = permitted(308, &from(), Some("/other"), PORTS).unwrap();
        assert_eq!(next.as_str(), "http://shop.example.com/other");
    }

    #[test]
    fn a_redirect_without_location_is_not_followed() {
        assert!(matches!(
            permitted(301, &from(), None, PORTS),
            Err(RedirectViolation::BadLocation { .. })
        ));
    }

    #[test]
    fn registered_domains_follow_the_public_suffix_list() {
        assert_eq!(
            registered_domain("a.b.example.com.cn").as_deref(),
            Some("example.com.cn")
        );
        assert_eq!(registered_domain("127.0.0.1"), None);
    }
}
