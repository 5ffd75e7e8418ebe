//! Access control: a listener that needs a token (see
//! `crate::config::needs_token`) answers 401 to any request without the
//! right one. The token comes as `Authorization: Bearer TOKEN`, or as the
//! password of basic auth (any user name), so a browser's login prompt
//! works too. Compared in constant time.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use subtle::ConstantTimeEq;

use super::WebState;

/// The credential a request carries, if any: the bearer token, or the
/// basic-auth password.
pub fn presented(headers: &HeaderMap) -> Option<Vec<u8>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.as_bytes().to_vec());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let colon = decoded.iter().position(|b| *b == b':')?;
        return Some(decoded[colon + 1..].to_vec());
    }
    None
}

/// Whether `given` is the token, in time independent of where they differ.
pub fn matches(given: &[u8], token: &[u8]) -> bool {
    // ct_eq is false for different lengths (and says so at once: the
    // length of a token is not its secret).
    !token.is_empty() && bool::from(given.ct_eq(token))
}

pub async fn require(State(state): State<WebState>, request: Request, next: Next) -> Response {
    let settings = state.settings();
    let Some(token) = settings.token.as_deref() else {
        return next.run(request).await;
    };
    let ok = presented(request.headers()).is_some_and(|given| matches(&given, token.as_bytes()));
    if ok {
        return next.run(request).await;
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "401: this certvigil web interface needs its token: send `Authorization: Bearer TOKEN`, or log in with the token as the password\n",
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"certvigil\", charset=\"UTF-8\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_and_basic_passwords_are_read_and_compared_whole() {
        assert_eq!(presented(&with("Bearer s3cret")).unwrap(), b"s3cret");
        // "anyone:s3cret"
        assert_eq!(
            presented(&with("Basic YW55b25lOnMzY3JldA==")).unwrap(),
            b"s3cret"
        );
        assert_eq!(presented(&with("Basic !!!")), None);
        assert_eq!(presented(&HeaderMap::new()), None);
        assert!(matches(b"s3cret", b"s3cret"));
        assert!(!matches(b"s3cre", b"s3cret"));
        assert!(!matches(b"s3cret!", b"s3cret"));
        assert!(!matches(b"", b""));
    }
}
