//! A local Tencent Cloud SSL API (version 2019-12-05) on 127.0.0.1 for
//! tests. It speaks the documented protocol: one POST to `/` with a JSON
//! body, the action in `X-TC-Action`, signed with TC3-HMAC-SHA256; answers
//! `{"Response": {..., "RequestId": ...}}`, errors as `{"Response":
//! {"Error": {"Code", "Message"}, "RequestId"}}` with HTTP 200.
//!
//! Every request's signature is verified (credential scope, signed headers,
//! timestamp freshness, the HMAC itself); a wrong one is refused with
//! `AuthFailure.SignatureFailure` and counted. Implemented actions:
//! DescribeCertificates (with IsPendingIssue), DescribeCertificateDetail,
//! CheckCertificateDomainVerification, DescribeCertificateOperateLogs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use certvigil::orders::tc3;
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::http::read_request;

#[derive(Default)]
struct State {
    secret_id: String,
    secret_key: String,
    /// CertificateId -> DescribeCertificateDetail response fields.
    certificates: BTreeMap<String, Value>,
    /// CertificateId -> VerificationResults.
    verification: BTreeMap<String, Value>,
    /// Account-wide operate logs.
    logs: Vec<Value>,
    /// Answer this many next requests with LimitExceeded.RateLimitExceeded.
    throttle_next: usize,
    /// Actions called and accepted, in order.
    calls: Vec<String>,
    /// Requests refused for their signature.
    rejected: Vec<String>,
}

#[derive(Clone)]
pub struct TencentMock {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl TencentMock {
    pub async fn start(secret_id: &str, secret_key: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = Self {
            port,
            state: Arc::new(Mutex::new(State {
                secret_id: secret_id.into(),
                secret_key: secret_key.into(),
                ..State::default()
            })),
        };
        let server = me.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let _ = server.serve(stream).await;
                });
            }
        });
        me
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Sets (or replaces) a certificate's DescribeCertificateDetail fields.
    pub fn set_certificate(&self, id: &str, detail: Value) {
        self.state
            .lock()
            .unwrap()
            .certificates
            .insert(id.into(), detail);
    }

    /// Changes some fields of a certificate.
    pub fn update_certificate(&self, id: &str, fields: Value) {
        let mut s = self.state.lock().unwrap();
        let cert = s.certificates.get_mut(id).expect("known certificate");
        if let (Value::Object(c), Value::Object(f)) = (cert, fields) {
            c.extend(f);
        }
    }

    pub fn set_verification(&self, id: &str, results: Value) {
        self.state
            .lock()
            .unwrap()
            .verification
            .insert(id.into(), results);
    }

    pub fn add_log(&self, log: Value) {
        self.state.lock().unwrap().logs.push(log);
    }

    pub fn throttle_next(&self, n: usize) {
        self.state.lock().unwrap().throttle_next = n;
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn rejected(&self) -> Vec<String> {
        self.state.lock().unwrap().rejected.clone()
    }

    async fn serve(&self, stream: tokio::net::TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream);
        loop {
            let Some(request) = read_request(&mut reader).await? else {
                return Ok(());
            };
            let header = |name: &str| request.header(name).unwrap_or_default().to_string();
            let response = if request.method == "POST" {
                self.handle(&header, &request.body)
            } else {
                error("UnsupportedOperation", "only POST is supported")
            };
            let text = response.to_string();
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            );
            reader.get_mut().write_all(reply.as_bytes()).await?;
        }
    }

    fn handle(&self, header: &dyn Fn(&str) -> String, body: &[u8]) -> Value {
        let action = header("x-tc-action");
        let mut s = self.state.lock().unwrap();
        if let Err((code, message)) = verify(&s, header, body) {
            s.rejected.push(format!("{action}: {code}"));
            return error(&code, &message);
        }
        if s.throttle_next > 0 {
            s.throttle_next -= 1;
            return error(
                "LimitExceeded.RateLimitExceeded",
                "the request rate exceeds the limit",
            );
        }
        let Ok(params) = serde_json::from_slice::<Value>(body) else {
            return error("InvalidParameter", "the body is not JSON");
        };
        s.calls.push(action.clone());
        let id = params["CertificateId"].as_str().unwrap_or("").to_string();
        match action.as_str() {
            "DescribeCertificates" => {
                let pending_only = params["IsPendingIssue"] == json!(1);
                let offset = params["Offset"].as_u64().unwrap_or(0) as usize;
                let limit = params["Limit"].as_u64().unwrap_or(10) as usize;
                let all: Vec<Value> = s
                    .certificates
                    .iter()
                    .filter(|(_, c)| {
                        !pending_only
                            || matches!(c["Status"].as_u64(), Some(0 | 4 | 5 | 8 | 11 | 13))
                    })
                    .map(|(id, c)| {
                        json!({"CertificateId": id, "Domain": c["Domain"], "Status": c["Status"],
                               "StatusMsg": c["StatusMsg"], "VerifyType": c["VerifyType"]})
                    })
                    .collect();
                let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
                ok(json!({"TotalCount": all.len(), "Certificates": page}))
            }
            "DescribeCertificateDetail" => match s.certificates.get(&id) {
                Some(c) => {
                    let mut c = c.clone();
                    c["CertificateId"] = json!(id);
                    ok(c)
                }
                None => error(
                    "FailedOperation.CertificateNotFound",
                    "the certificate does not exist",
                ),
            },
            "CheckCertificateDomainVerification" => match s.verification.get(&id) {
                Some(v) => ok(json!({"VerificationResults": v})),
                None => ok(json!({"VerificationResults": []})),
            },
            "DescribeCertificateOperateLogs" => {
                for k in ["StartTime", "EndTime"] {
                    let v = params[k].as_str().unwrap_or("");
                    if chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").is_err() {
                        return error(
                            "InvalidParameterValue",
                            &format!("{k} must be YYYY-MM-DD hh:mm:ss"),
                        );
                    }
                }
                let offset = params["Offset"].as_u64().unwrap_or(0) as usize;
                let limit = params["Limit"].as_u64().unwrap_or(20) as usize;
                let page: Vec<Value> = s.logs.iter().skip(offset).take(limit).cloned().collect();
                ok(json!({"AllTotal": s.logs.len(), "TotalCount": page.len(), "OperateLogs": page}))
            }
            other => error(
                "InvalidAction",
                &format!("the action {other} is not implemented here"),
            ),
        }
    }
}

fn verify(s: &State, header: &dyn Fn(&str) -> String, body: &[u8]) -> Result<(), (String, String)> {
    let fail = |code: &str, m: &str| Err((code.to_string(), m.to_string()));
    if header("content-type") != tc3::CONTENT_TYPE {
        return fail(
            "InvalidParameter",
            "Content-Type must be application/json; charset=utf-8",
        );
    }
    if header("x-tc-version") != "2019-12-05" {
        return fail("InvalidParameter", "X-TC-Version must be 2019-12-05");
    }
    let Some(auth) = tc3::parse_authorization(&header("authorization")) else {
        return fail(
            "AuthFailure.InvalidAuthorization",
            "Authorization is malformed",
        );
    };
    if auth.secret_id != s.secret_id {
        return fail(
            "AuthFailure.SecretIdNotFound",
            "the SecretId does not exist",
        );
    }
    let Ok(timestamp) = header("x-tc-timestamp").parse::<i64>() else {
        return fail(
            "AuthFailure.InvalidAuthorization",
            "X-TC-Timestamp is missing",
        );
    };
    // The API refuses signatures more than 5 minutes off.
    if (chrono::Utc::now().timestamp() - timestamp).abs() > 300 {
        return fail("AuthFailure.SignatureExpire", "the signature expired");
    }
    if auth.service != "ssl" || auth.signed_headers != tc3::SIGNED_HEADERS {
        return fail(
            "AuthFailure.InvalidAuthorization",
            "wrong credential scope or signed headers",
        );
    }
    let expected = tc3::sign(
        &s.secret_key,
        &tc3::SignInput {
            host: &header("host"),
            service: "ssl",
            payload: body,
            timestamp,
        },
    );
    if expected.credential_scope != format!("{}/ssl/tc3_request", auth.date)
        || expected.signature != auth.signature
    {
        return fail(
            "AuthFailure.SignatureFailure",
            "the signature does not match",
        );
    }
    Ok(())
}

fn ok(mut response: Value) -> Value {
    response["RequestId"] = json!("00000000-0000-0000-0000-000000000001");
    json!({ "Response": response })
}

fn error(code: &str, message: &str) -> Value {
    json!({"Response": {"Error": {"Code": code, "Message": message},
                        "RequestId": "00000000-0000-0000-0000-000000000002"}})
}

/// A DV order for `domain` in status 0 / `status_msg`, validated by a
/// `_dnsauth` TXT record.
pub fn dv_order(domain: &str, status_msg: &str) -> Value {
    json!({
        "OwnerUin": "100000000001", "ProjectId": "0", "From": "trustasia",
        "CertificateType": "SVR", "PackageType": "83",
        "ProductZhName": "TrustAsia C1 DV Free", "PackageTypeName": "TrustAsia C1 DV Free",
        "Domain": domain, "Alias": "", "Status": 0, "StatusMsg": status_msg,
        "StatusName": "审核中", "VerifyType": "DNS",
        "InsertTime": "2026-11-20 08:00:00",
        "DVAuthDeadline": "2026-11-27 08:00:00",
        "SubjectAltName": [domain], "IsDv": true, "IsWildcard": false,
        "DvAuthDetail": {
            "DvAuthKey": format!("_dnsauth.{domain}"), "DvAuthValue": "20261120000000abcdef",
            "DvAuthDomain": domain, "DvAuthPath": "", "DvAuthKeySubDomain": "_dnsauth",
            "DvAuths": [{
                "DvAuthKey": "_dnsauth", "DvAuthValue": "20261120000000abcdef",
                "DvAuthDomain": domain, "DvAuthPath": "", "DvAuthSubDomain": "_dnsauth",
                "DvAuthVerifyType": "TXT"
            }]
        }
    })
}
