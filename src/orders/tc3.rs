//! TC3-HMAC-SHA256, the request signature of Tencent Cloud API 3.0
//! ("Signature v3", Tencent Cloud API documentation, "Calling Method >
//! Signature v3"). Pure functions: the caller supplies the time, so the
//! documented worked example is a unit test.
//!
//! Steps, as documented:
//! 1. CanonicalRequest = method \n uri \n query \n canonical headers \n
//!    signed headers \n hex(sha256(payload));
//! 2. StringToSign = "TC3-HMAC-SHA256" \n timestamp \n
//!    `date/service/tc3_request` \n hex(sha256(CanonicalRequest));
//! 3. the key is derived as HMAC("TC3" + SecretKey, date), then with the
//!    service, then with "tc3_request";
//! 4. Signature = hex(HMAC(key, StringToSign)), sent in `Authorization`.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The only algorithm the API accepts with this scheme.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// The headers certvigil signs: the documented minimum. `content-type` and
/// `host` must be sent exactly as signed.
pub const SIGNED_HEADERS: &str = "content-type;host";

/// Every request body is JSON (POST); this is the content type signed.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// What is signed: one POST request to one service.
#[derive(Debug, Clone, Copy)]
pub struct SignInput<'a> {
    /// The API's host, e.g. `ssl.tencentcloudapi.com` (with `:port` when the
    /// endpoint has one, as sent in the `Host` header).
    pub host: &'a str,
    /// The service name: the host's first label (`ssl`, `cvm`).
    pub service: &'a str,
    /// The exact body bytes sent.
    pub payload: &'a [u8],
    /// The request time, also sent as `X-TC-Timestamp`.
    pub timestamp: i64,
}

/// The parts of a signature, kept for tests and for the request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub canonical_request: String,
    pub string_to_sign: String,
    /// Lower-case hex.
    pub signature: String,
    /// `date/service/tc3_request`.
    pub credential_scope: String,
}

/// Signs `input` with the secret key. The SecretId is not an input to the
/// signature, only to the `Authorization` header ([`authorization`]).
pub fn sign(secret_key: &str, input: &SignInput<'_>) -> Signed {
    // The date of the credential scope is the UTC date of the timestamp
    // ("Date: the UTC date, must match X-TC-Timestamp").
    let date = DateTime::<Utc>::from_timestamp(input.timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    let canonical_headers = format!("content-type:{CONTENT_TYPE}\nhost:{}\n", input.host);
    let canonical_request = format!(
        "POST\n/\n\n{canonical_headers}\n{SIGNED_HEADERS}\n{}",
        hex::encode(Sha256::digest(input.payload))
    );
    let credential_scope = format!("{date}/{}/tc3_request", input.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{credential_scope}\n{}",
        input.timestamp,
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let secret_date = hmac(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let secret_service = hmac(&secret_date, input.service.as_bytes());
    let secret_signing = hmac(&secret_service, b"tc3_request");
    let signature = hex::encode(hmac(&secret_signing, string_to_sign.as_bytes()));
    Signed {
        canonical_request,
        string_to_sign,
        signature,
        credential_scope,
    }
}

/// The `Authorization` header value.
pub fn authorization(secret_id: &str, signed: &Signed) -> String {
    format!(
        "{ALGORITHM} Credential={secret_id}/{}, SignedHeaders={SIGNED_HEADERS}, Signature={}",
        signed.credential_scope, signed.signature
    )
}

/// The parts of an `Authorization` header, as a server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    pub secret_id: String,
    pub date: String,
    pub service: String,
    pub signed_headers: String,
    pub signature: String,
}

/// Parses an `Authorization` header of this scheme; `None` when it is not
/// one. For the test servers that verify what certvigil sends.
pub fn parse_authorization(header: &str) -> Option<ParsedAuthorization> {
    let rest = header.strip_prefix(ALGORITHM)?.trim_start();
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => return None,
        }
    }
    let mut scope = credential?.split('/');
    let secret_id = scope.next()?.to_string();
    let date = scope.next()?.to_string();
    let service = scope.next()?.to_string();
    if scope.next()? != "tc3_request" || scope.next().is_some() {
        return None;
    }
    Some(ParsedAuthorization {
        secret_id,
        date,
        service,
        signed_headers: signed_headers?.to_string(),
        signature: signature?.to_string(),
    })
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length (RFC 2104 §2), so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the Signature v3 page: DescribeInstances of
    /// cvm, version 2017-03-12, region ap-guangzhou, at 1551113065
    /// (2019-02-25 UTC), with the documented placeholder keys.
    const EXAMPLE_BODY: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    const EXAMPLE_SECRET_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
    const EXAMPLE_SECRET_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

    fn example() -> Signed {
        sign(
            EXAMPLE_SECRET_KEY,
            &SignInput {
                host: "cvm.tencentcloudapi.com",
                service: "cvm",
                payload: EXAMPLE_BODY.as_bytes(),
                timestamp: 1551113065,
            },
        )
    }

    #[test]
    fn documented_worked_example_gives_the_documented_signature() {
        let signed = example();
        assert_eq!(
            signed.signature,
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn documented_worked_example_intermediate_strings() {
        let signed = example();
        assert_eq!(
            signed.canonical_request,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n\
             content-type;host\n\
             35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            signed.string_to_sign,
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n\
             5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            authorization(EXAMPLE_SECRET_ID, &signed),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn any_change_to_body_key_or_time_changes_the_signature() {
        let base = example().signature;
        let input = SignInput {
            host: "cvm.tencentcloudapi.com",
            service: "cvm",
            payload: EXAMPLE_BODY.as_bytes(),
            timestamp: 1551113065,
        };
        let other_key = sign("Gu5t9xGARNpq86cd98joQYCN3EXAMPLF", &input).signature;
        let other_body = sign(
            EXAMPLE_SECRET_KEY,
            &SignInput {
                payload: b"{\"Limit\": 2}",
                ..input
            },
        )
        .signature;
        let next_day = sign(
            EXAMPLE_SECRET_KEY,
            &SignInput {
                timestamp: 1551113065 + 86_400,
                ..input
            },
        );
        assert_ne!(base, other_key);
        assert_ne!(base, other_body);
        assert_ne!(base, next_day.signature);
        assert_eq!(next_day.credential_scope, "2019-02-26/cvm/tc3_request");
    }

    #[test]
    fn authorization_header_round_trips() {
        let signed = example();
        let parsed = parse_authorization(&authorization(EXAMPLE_SECRET_ID, &signed)).unwrap();
        assert_eq!(parsed.secret_id, EXAMPLE_SECRET_ID);
        assert_eq!(parsed.date, "2019-02-25");
        assert_eq!(parsed.service, "cvm");
        assert_eq!(parsed.signed_headers, SIGNED_HEADERS);
        assert_eq!(parsed.signature, signed.signature);
        assert!(parse_authorization("Bearer abc").is_none());
        assert!(
            parse_authorization(
                "TC3-HMAC-SHA256 Credential=a/b/c/other, SignedHeaders=x, Signature=y"
            )
            .is_none()
        );
    }
}
