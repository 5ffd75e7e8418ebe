//! Tencent Cloud SSL certificates (API 3.0, service `ssl`, version
//! 2019-12-05) as an order source. Requests are POSTs of JSON signed with
//! TC3-HMAC-SHA256 ([`super::tc3`]); every answer is `{"Response": {...,
//! "RequestId": "..."}}`, an error `{"Response": {"Error": {"Code": ...,
//! "Message": ...}, "RequestId": ...}}` with HTTP 200.
//!
//! Actions used (all read-only):
//! - `DescribeCertificates` with `IsPendingIssue = 1`: the pending orders;
//! - `DescribeCertificateDetail`: `Status`, `StatusMsg`, `VerifyType`,
//!   `DvAuthDetail.DvAuths`, `InsertTime`, `DVAuthDeadline`, ...;
//! - `CheckCertificateDomainVerification`: per name `LocalCheck` (Tencent's
//!   own look at the record), `CaCheck` (the CA's), `Issued`;
//! - `DescribeCertificateOperateLogs`: `domainValidationPassed` and `issued`
//!   entries, which can appear before the console status moves.
//!
//! Times in responses are `YYYY-MM-DD hh:mm:ss` in GMT+8 (the API's own
//! notes: "时区为GMT+8:00").

use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use reqwest::Url;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use thiserror::Error;

use super::tc3;
use super::{
    Deadline, OrderKey, OrderObservation, OrderProvider, OrderStatus, Phase, ProgressSignals,
    ProviderError, Requirement, SourceKind, ValidationMethod, ValidationRequirement,
};
use crate::ca::{CaChoice, Catalogue};
use crate::config::{Provider, SecretError, SecretSource};
use crate::domain::{CertName, DomainName};
use crate::http::{self, HttpError, redact};

/// The public endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://ssl.tencentcloudapi.com";
/// The API version all actions here belong to.
pub const VERSION: &str = "2019-12-05";
/// How long to back off when throttled and the API gives no hint: the
/// documented limits are per second (10-20 requests/s per action).
const DEFAULT_BACKOFF: Duration = Duration::from_secs(60);
/// One API call, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read: a page of 100 certificates with their
/// validation details is some hundreds of KiB.
pub const API_REPLY_CAP: usize = 4 * 1024 * 1024;
/// Page size for listings (the documented maximum of DescribeCertificates
/// is 1000; logs are fetched 100 at a time).
const PAGE: u64 = 100;
/// At most this many pages of any listing, so a huge account cannot keep
/// one poll busy forever.
const MAX_PAGES: u64 = 50;

/// Why the Tencent Cloud API did not answer usefully.
#[derive(Debug, Error)]
pub enum TencentError {
    #[error("provider {provider}: {source}")]
    Secret {
        provider: String,
        #[source]
        source: SecretError,
    },
    #[error(
        "provider {provider}: kind tencent needs secret_id_file/secret_id_env and secret_key_file/secret_key_env; add them to its [[providers]] entry"
    )]
    MissingCredentials { provider: String },
    #[error(
        "provider {provider}: endpoint {endpoint} has no host; write it as https://ssl.tencentcloudapi.com"
    )]
    BadEndpoint { provider: String, endpoint: String },
    #[error(
        "provider {provider}: Tencent Cloud throttled {action} ({code}); certvigil backs off and asks again later. Other tools using the same API key share the limit."
    )]
    RateLimited {
        provider: String,
        action: &'static str,
        code: String,
    },
    #[error(
        "provider {provider}: Tencent Cloud refused the credentials for {action} ({code}: {message}; RequestId {request_id}); check the SecretId/SecretKey files, that the key is enabled, and that this host's clock is right (signatures expire after 5 minutes)"
    )]
    Auth {
        provider: String,
        action: &'static str,
        code: String,
        message: String,
        request_id: String,
    },
    #[error("provider {provider}: {action} failed with {code}: {message} (RequestId {request_id})")]
    Api {
        provider: String,
        action: &'static str,
        code: String,
        message: String,
        request_id: String,
    },
    #[error(
        "provider {provider}: could not reach {endpoint} for {action}: {detail}; check the network and the endpoint"
    )]
    Http {
        provider: String,
        action: &'static str,
        endpoint: String,
        detail: String,
    },
    #[error("provider {provider}: the answer to {action} is not what the API documents: {detail}")]
    BadResponse {
        provider: String,
        action: &'static str,
        detail: String,
    },
}

impl TencentError {
    pub fn retry_after(&self) -> Option<Duration> {
        matches!(self, TencentError::RateLimited { .. }).then_some(DEFAULT_BACKOFF)
    }
}

/// A client for one `[[providers]]` entry of kind tencent.
#[derive(Debug, Clone)]
pub struct TencentClient {
    source: String,
    endpoint: Url,
    /// As sent in `Host` and signed: host, plus `:port` when not the default.
    host: String,
    secret_id: SecretSource,
    secret_key: SecretSource,
    http: reqwest::Client,
    catalogue: Catalogue,
}

impl TencentClient {
    pub fn new(provider: &Provider, catalogue: &Catalogue) -> Result<Self, TencentError> {
        let (Some(secret_id), Some(secret_key)) = (&provider.secret_id, &provider.secret_key)
        else {
            return Err(TencentError::MissingCredentials {
                provider: provider.name.clone(),
            });
        };
        let endpoint = provider
            .endpoint
            .clone()
            .unwrap_or_else(|| Url::parse(DEFAULT_ENDPOINT).expect("the default endpoint parses"));
        let host = match (endpoint.host_str(), endpoint.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => {
                return Err(TencentError::BadEndpoint {
                    provider: provider.name.clone(),
                    endpoint: redact::url(&endpoint),
                });
            }
        };
        crate::tls::ensure_crypto_provider();
        let http = http::client(&http::ClientOptions::api(
            Duration::from_secs(10),
            REQUEST_TIMEOUT,
        ))
        .map_err(|e| TencentError::Http {
            provider: provider.name.clone(),
            action: "client set-up",
            endpoint: redact::url(&endpoint),
            detail: e.to_string(),
        })?;
        Ok(Self {
            source: provider.name.clone(),
            endpoint,
            host,
            secret_id: secret_id.clone(),
            secret_key: secret_key.clone(),
            http,
            catalogue: catalogue.clone(),
        })
    }

    /// One signed call. Secrets are read now (a rotated key is picked up)
    /// and never logged.
    async fn call<T: DeserializeOwned>(
        &self,
        action: &'static str,
        body: &Value,
    ) -> Result<T, TencentError> {
        let secret = |s: &SecretSource| {
            s.read().map_err(|source| TencentError::Secret {
                provider: self.source.clone(),
                source,
            })
        };
        let secret_id = secret(&self.secret_id)?;
        let secret_key = secret(&self.secret_key)?;
        let payload = serde_json::to_vec(body).expect("a JSON value serializes");
        let timestamp = Utc::now().timestamp();
        let signed = tc3::sign(
            secret_key.expose(),
            &tc3::SignInput {
                host: &self.host,
                service: "ssl",
                payload: &payload,
                timestamp,
            },
        );
        tracing::debug!(provider = %self.source, action, "calling Tencent Cloud SSL API");
        let bad = |detail: String| TencentError::BadResponse {
            provider: self.source.clone(),
            action,
            detail,
        };
        let request = http::Request::post(self.endpoint.clone(), payload)
            .header("Content-Type", tc3::CONTENT_TYPE)
            .header("Host", &self.host)
            .header("X-TC-Action", action)
            .header("X-TC-Version", VERSION)
            .header("X-TC-Timestamp", &timestamp.to_string())
            .header(
                "Authorization",
                &tc3::authorization(secret_id.expose(), &signed),
            );
        let limits = http::Limits {
            body_cap: API_REPLY_CAP,
            total: REQUEST_TIMEOUT,
        };
        let response = http::fetch(&self.http, request, &limits, http::Redirects::None)
            .await
            .map_err(|e| match e {
                e @ HttpError::BodyTooLarge { .. } => bad(e.to_string()),
                e => TencentError::Http {
                    provider: self.source.clone(),
                    action,
                    endpoint: redact::url(&self.endpoint),
                    detail: e.to_string(),
                },
            })?;
        let status = response.status;
        let text = String::from_utf8_lossy(&response.body);
        let envelope: Envelope = serde_json::from_str(&text).map_err(|e| {
            bad(format!(
                "HTTP {status}, body is not the API's JSON envelope ({e})"
            ))
        })?;
        let mut inner = envelope.response;
        if let Some(error) = inner.get("Error") {
            let error: ApiError = serde_json::from_value(error.clone())
                .map_err(|e| bad(format!("malformed Error object: {e}")))?;
            let request_id = inner
                .get("RequestId")
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_string();
            return Err(classify(&self.source, action, error, request_id));
        }
        if let Value::Object(map) = &mut inner {
            map.remove("RequestId");
        }
        serde_json::from_value(inner).map_err(|e| bad(e.to_string()))
    }

    /// `DescribeCertificates` with `IsPendingIssue = 1`, every page.
    pub async fn list_pending(&self) -> Result<Vec<String>, TencentError> {
        let mut ids = Vec::new();
        for page in 0..MAX_PAGES {
            let list: CertificateList = self
                .call(
                    "DescribeCertificates",
                    &json!({"Offset": page * PAGE, "Limit": PAGE, "IsPendingIssue": 1}),
                )
                .await?;
            let got = list.certificates.len() as u64;
            ids.extend(
                list.certificates
                    .into_iter()
                    .filter_map(|c| c.certificate_id),
            );
            if got < PAGE || ids.len() as u64 >= list.total_count.unwrap_or(0) {
                break;
            }
        }
        Ok(ids)
    }

    /// Everything about one certificate order.
    pub async fn observe_certificate(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<OrderObservation, TencentError> {
        let detail: CertificateDetail = self
            .call("DescribeCertificateDetail", &json!({"CertificateId": id}))
            .await?;
        let status = status_of(detail.status, detail.status_msg.as_deref());
        let mut signals = ProgressSignals::default();
        if status.phase.is_pending() {
            // Only a pending order has a validation to check; the action
            // refuses others. A refusal that is not throttling or
            // credentials leaves the signal unknown rather than failing
            // the whole observation.
            match self
                .call::<VerificationList>(
                    "CheckCertificateDomainVerification",
                    &json!({"CertificateId": id}),
                )
                .await
            {
                Ok(v) => apply_verification(&mut signals, &v.verification_results),
                Err(e @ (TencentError::RateLimited { .. } | TencentError::Auth { .. })) => {
                    return Err(e);
                }
                Err(e) => tracing::info!(provider = %self.source, certificate = id, error = %e,
                    "domain verification state unavailable"),
            }
        }
        let inserted = detail.insert_time.as_deref().and_then(parse_gmt8);
        let logs = self.operate_logs(id, inserted, now).await?;
        apply_logs(&mut signals, &logs);
        if let Some(t) = detail
            .validation_passed_time
            .as_deref()
            .and_then(parse_gmt8)
        {
            signals.validation_passed_at =
                Some(signals.validation_passed_at.map_or(t, |l| l.min(t)));
        }
        Ok(observation_from(
            &self.source,
            id,
            detail,
            status,
            signals,
            &self.catalogue,
            now,
        ))
    }

    /// `DescribeCertificateOperateLogs` since the order was placed,
    /// filtered to this certificate (the action lists the whole account).
    async fn operate_logs(
        &self,
        id: &str,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OperateLog>, TencentError> {
        let gmt8 = FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset");
        let fmt = |t: DateTime<Utc>| {
            t.with_timezone(&gmt8)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        };
        let start = since.unwrap_or(now - chrono::Duration::days(90));
        let mut out = Vec::new();
        for page in 0..MAX_PAGES {
            let logs: OperateLogList = self
                .call(
                    "DescribeCertificateOperateLogs",
                    &json!({"Offset": page * PAGE, "Limit": PAGE,
                            "StartTime": fmt(start), "EndTime": fmt(now)}),
                )
                .await?;
            let got = logs.operate_logs.len() as u64;
            out.extend(
                logs.operate_logs
                    .into_iter()
                    .filter(|l| l.cert_id.as_deref() == Some(id)),
            );
            if got < PAGE {
                break;
            }
        }
        Ok(out)
    }
}

impl OrderProvider for TencentClient {
    fn source(&self) -> &str {
        &self.source
    }

    async fn pending(&self) -> Result<Vec<String>, ProviderError> {
        Ok(self.list_pending().await?)
    }

    async fn observe(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<OrderObservation, ProviderError> {
        Ok(self.observe_certificate(id, now).await?)
    }
}

fn classify(provider: &str, action: &'static str, e: ApiError, request_id: String) -> TencentError {
    let provider = provider.to_string();
    // The API's message goes to logs and rows: cut and scrubbed like any
    // peer's text.
    let e = ApiError {
        message: redact::peer_text(&e.message, 500),
        ..e
    };
    // Common error codes (API 3.0 "Common Error Codes"): RequestLimitExceeded
    // for the per-action frequency limit; the SSL service documents
    // LimitExceeded.RateLimitExceeded for its own.
    if e.code == "RequestLimitExceeded"
        || e.code.starts_with("RequestLimitExceeded.")
        || e.code == "LimitExceeded.RateLimitExceeded"
    {
        return TencentError::RateLimited {
            provider,
            action,
            code: e.code,
        };
    }
    if e.code.starts_with("AuthFailure") {
        return TencentError::Auth {
            provider,
            action,
            code: e.code,
            message: e.message,
            request_id,
        };
    }
    TencentError::Api {
        provider,
        action,
        code: e.code,
        message: e.message,
        request_id,
    }
}

/// `Status` (and, while 0, `StatusMsg`) as documented for
/// DescribeCertificateDetail.
pub fn status_of(status: Option<u64>, status_msg: Option<&str>) -> OrderStatus {
    let msg = status_msg.map(str::trim).filter(|m| !m.is_empty());
    let (phase, what) = match status {
        Some(0) => match msg {
            Some("PRE-REVIEWING") => (Phase::Reviewing, "pre-review by Tencent Cloud"),
            Some("LEGAL-REVIEWING") => (Phase::Reviewing, "legal (content) review"),
            Some("CA-REVIEWING") => (Phase::Reviewing, "review by the CA"),
            Some("PENDING-DCV") => (Phase::AwaitingValidation, "waiting for domain validation"),
            Some("WAIT-ISSUE") => (Phase::Validated, "validated, waiting for the CA to issue"),
            _ => (Phase::Reviewing, "reviewing"),
        },
        Some(1) => (Phase::Issued, "issued"),
        Some(2) => (Phase::Failed, "review failed"),
        Some(3) => (Phase::Expired, "expired"),
        Some(4) => (
            Phase::AwaitingValidation,
            "DNS record added automatically (DNS_AUTO), waiting for validation",
        ),
        Some(5) => (
            Phase::Submitting,
            "enterprise certificate, waiting for submission",
        ),
        Some(6) => (Phase::Cancelled, "cancellation in progress"),
        Some(7) => (Phase::Cancelled, "cancelled"),
        Some(8) => (
            Phase::Submitting,
            "information submitted, waiting for the confirmation letter",
        ),
        Some(9) => (Phase::Revoked, "revocation in progress"),
        Some(10) => (Phase::Revoked, "revoked"),
        Some(11) => (Phase::Other, "reissue in progress"),
        Some(12) => (
            Phase::Revoked,
            "waiting for the revocation confirmation letter",
        ),
        Some(13) => (
            Phase::Submitting,
            "free certificate, waiting for information",
        ),
        Some(14) => (Phase::Cancelled, "refunded"),
        Some(15) => (Phase::Other, "being migrated"),
        Some(_) | None => (Phase::Other, "unknown status"),
    };
    let code = match (status, msg) {
        (Some(s), Some(m)) if s == 0 => format!("{s}/{m}"),
        (Some(s), _) => s.to_string(),
        (None, _) => "unknown".into(),
    };
    let label = match (status, msg) {
        (Some(s), Some(m)) if s == 0 => format!("{what} (Status {s}, {m})"),
        (Some(s), _) => format!("{what} (Status {s})"),
        (None, _) => what.to_string(),
    };
    OrderStatus { phase, code, label }
}

/// A `YYYY-MM-DD hh:mm:ss` time in GMT+8.
pub fn parse_gmt8(s: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    let gmt8 = FixedOffset::east_opt(8 * 3600)?;
    gmt8.from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// The CA brand behind a Tencent product name, as a catalogue entry.
pub fn ca_of_product(product: &str, catalogue: &Catalogue) -> Option<CaChoice> {
    let p = product.to_ascii_lowercase();
    let brand = [
        ("trustasia", "trustasia"),
        ("sectigo", "sectigo"),
        ("comodo", "sectigo"),
        ("geotrust", "digicert"),
        ("securesite", "digicert"),
        ("digicert", "digicert"),
        ("rapidssl", "digicert"),
        ("thawte", "digicert"),
        ("globalsign", "globalsign"),
        ("wotrus", "wotrus"),
        ("cfca", "cfca"),
        ("gdca", "gdca"),
        ("certum", "certum"),
    ]
    .iter()
    .find(|(needle, _)| p.contains(needle))?
    .1;
    catalogue.resolve(brand).ok()
}

fn apply_verification(signals: &mut ProgressSignals, results: &[VerificationResult]) {
    // CaCheck: -1 not passed, 2 passed. All names must have passed.
    signals.ca_check_passed = !results.is_empty() && results.iter().all(|r| r.ca_check == Some(2));
    signals.issued_reported |= results.iter().any(|r| r.issued == Some(true));
    signals.provider_check_throttled = results.iter().any(|r| r.frequently == Some(true));
    for r in results {
        match r.local_check {
            Some(1) | None => {}
            Some(code) => signals.provider_check_failures.push((
                r.domain.clone().unwrap_or_default(),
                r.local_check_fail_reason
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| local_check_meaning(code).to_string()),
            )),
        }
    }
}

/// `LocalCheck` codes as documented for DomainValidationResult.
fn local_check_meaning(code: i64) -> &'static str {
    match code {
        -1 => "rate limited or TXT record not found",
        -2 => "TXT record does not match",
        -3 | -8 => "NS record not found",
        -4 | -9 => "file not found",
        -5 | -10 => "file does not match",
        -6 => "CNAME record not found",
        -7 => "CNAME record does not match",
        _ => "not verified",
    }
}

fn apply_logs(signals: &mut ProgressSignals, logs: &[OperateLog]) {
    for log in logs {
        let is =
            |what: &str| log.kind.as_deref() == Some(what) || log.action.as_deref() == Some(what);
        let at = log.created_on.as_deref().and_then(parse_gmt8);
        if is("domainValidationPassed") {
            let at = at.unwrap_or_default();
            signals.validation_passed_at =
                Some(signals.validation_passed_at.map_or(at, |t| t.min(at)));
        }
        if is("issued") {
            signals.issued_reported = true;
            signals.issued_at = at.or(signals.issued_at);
        }
    }
}

fn observation_from(
    source: &str,
    id: &str,
    d: CertificateDetail,
    status: OrderStatus,
    signals: ProgressSignals,
    catalogue: &Catalogue,
    now: DateTime<Utc>,
) -> OrderObservation {
    let product = d
        .product_zh_name
        .clone()
        .or(d.package_type_name.clone())
        .or(d.from.clone())
        .unwrap_or_default();
    let ca = ca_of_product(&product, catalogue)
        .or_else(|| d.from.as_deref().and_then(|f| ca_of_product(f, catalogue)));
    let mut names: Vec<CertName> = Vec::new();
    for n in d.domain.iter().chain(d.subject_alt_name.iter().flatten()) {
        if let Ok(n) = CertName::parse(n)
            && !names.contains(&n)
        {
            names.push(n);
        }
    }
    let method = d.verify_type.as_deref().map(|v| match v {
        "DNS" | "DNS_PROXY" => ValidationMethod::Dns,
        "DNS_AUTO" => ValidationMethod::DnsAuto,
        "FILE" | "FILE_PROXY" => ValidationMethod::File,
        "EMAIL" => ValidationMethod::Email,
        other => ValidationMethod::Other(other.to_string()),
    });
    let requirements = d
        .dv_auth_detail
        .as_ref()
        .map(|a| requirements_of(a, d.verify_type.as_deref()))
        .unwrap_or_default();
    let mut deadlines = Vec::new();
    if let Some(at) = d.dv_auth_deadline.as_deref().and_then(parse_gmt8) {
        deadlines.push(Deadline {
            at,
            what: "the time allowed for domain validation (DVAuthDeadline) ends, and the order must be placed again".into(),
            until_validated: true,
        });
    }
    let failure = (status.phase == Phase::Failed).then(|| {
        [&d.status_msg, &d.awaiting_validation_msg, &d.status_name]
            .into_iter()
            .flatten()
            .find(|s| !s.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| "the CA gave no reason".into())
    });
    let display_name = d
        .alias
        .clone()
        .filter(|a| !a.is_empty())
        .or(d.domain.clone())
        .unwrap_or_else(|| id.to_string());
    OrderObservation {
        key: OrderKey::new(source, id),
        kind: SourceKind::Tencent,
        display_name,
        ca,
        ca_label: product,
        names,
        status,
        method,
        requirements,
        deadlines,
        signals,
        failure,
        placed_at: d.insert_time.as_deref().and_then(parse_gmt8),
        is_dv: d.is_dv,
        observed_at: now,
    }
}

/// The validation records of `DvAuthDetail`. `DvAuths` has one entry per
/// name; the top-level fields repeat the first (and mask `DvAuthDomain` in
/// some answers, e.g. `ni****ang.online`), so they are used only when
/// `DvAuths` is empty. `DvAuthKey` is the full record name in documented
/// answers (`_875b....example.com`) but may be the bare label
/// (`_dnsauth`), which is then joined to `DvAuthSubDomain`/`DvAuthDomain`.
pub fn requirements_of(a: &DvAuthDetail, verify_type: Option<&str>) -> Vec<ValidationRequirement> {
    let mut out = Vec::new();
    let entries: Vec<DvAuth> = match &a.dv_auths {
        Some(list) if !list.is_empty() => list.clone(),
        _ => vec![DvAuth {
            key: a.key.clone(),
            value: a.value.clone(),
            domain: a.domain.clone(),
            path: a.path.clone(),
            sub_domain: a.key_sub_domain.clone(),
            verify_type: verify_type.map(|v| {
                if v.starts_with("FILE") {
                    "FILE".to_string()
                } else {
                    "TXT".to_string()
                }
            }),
        }],
    };
    for e in entries {
        let (Some(domain), Some(value)) = (e.domain.as_deref(), e.value.as_deref()) else {
            continue;
        };
        let Ok(domain_name) = DomainName::parse(domain) else {
            continue;
        };
        let requirement = match e.verify_type.as_deref().unwrap_or("TXT") {
            "FILE" => {
                let path = e.path.as_deref().unwrap_or("/.well-known/pki-validation/");
                let file = e.key.as_deref().unwrap_or("fileauth.txt");
                let full = if path.ends_with('/') {
                    format!("{path}{file}")
                } else {
                    path.to_string()
                };
                let Ok(url) = Url::parse(&format!("http://{domain_name}{full}")) else {
                    continue;
                };
                Requirement::File {
                    url,
                    content: value.to_string(),
                }
            }
            kind => {
                let Some(name) = record_name(&e, &domain_name) else {
                    continue;
                };
                if kind == "CNAME" {
                    let Ok(target) = DomainName::parse(value) else {
                        continue;
                    };
                    Requirement::DnsCname { name, target }
                } else {
                    Requirement::DnsTxt {
                        name,
                        value: value.to_string(),
                    }
                }
            }
        };
        out.push(ValidationRequirement {
            for_name: domain_name.to_string(),
            requirement,
        });
    }
    out
}

fn record_name(e: &DvAuth, domain: &DomainName) -> Option<DomainName> {
    let key = e.key.as_deref().map(str::trim).filter(|k| !k.is_empty());
    if let Some(full) = key.and_then(|k| DomainName::parse(k).ok())
        && full.is_at_or_below(domain)
        && full != *domain
    {
        return Some(full);
    }
    let label = e
        .sub_domain
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or(key)?;
    DomainName::parse(&format!("{label}.{domain}")).ok()
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Response")]
    response: Value,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CertificateList {
    total_count: Option<u64>,
    #[serde(default, deserialize_with = "null_as_empty")]
    certificates: Vec<CertificateItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CertificateItem {
    certificate_id: Option<String>,
}

/// The fields of DescribeCertificateDetail certvigil reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CertificateDetail {
    pub from: Option<String>,
    pub product_zh_name: Option<String>,
    pub package_type_name: Option<String>,
    pub domain: Option<String>,
    pub alias: Option<String>,
    pub status: Option<u64>,
    pub status_msg: Option<String>,
    pub status_name: Option<String>,
    pub verify_type: Option<String>,
    pub insert_time: Option<String>,
    pub dv_auth_detail: Option<DvAuthDetail>,
    pub subject_alt_name: Option<Vec<String>>,
    pub is_dv: Option<bool>,
    #[serde(rename = "DVAuthDeadline")]
    pub dv_auth_deadline: Option<String>,
    pub validation_passed_time: Option<String>,
    pub awaiting_validation_msg: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DvAuthDetail {
    #[serde(rename = "DvAuthKey")]
    pub key: Option<String>,
    #[serde(rename = "DvAuthValue")]
    pub value: Option<String>,
    #[serde(rename = "DvAuthDomain")]
    pub domain: Option<String>,
    #[serde(rename = "DvAuthPath")]
    pub path: Option<String>,
    #[serde(rename = "DvAuthKeySubDomain")]
    pub key_sub_domain: Option<String>,
    #[serde(rename = "DvAuths")]
    pub dv_auths: Option<Vec<DvAuth>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DvAuth {
    #[serde(rename = "DvAuthKey")]
    pub key: Option<String>,
    #[serde(rename = "DvAuthValue")]
    pub value: Option<String>,
    #[serde(rename = "DvAuthDomain")]
    pub domain: Option<String>,
    #[serde(rename = "DvAuthPath")]
    pub path: Option<String>,
    #[serde(rename = "DvAuthSubDomain")]
    pub sub_domain: Option<String>,
    /// TXT, CNAME or FILE.
    #[serde(rename = "DvAuthVerifyType")]
    pub verify_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VerificationList {
    #[serde(default, deserialize_with = "null_as_empty")]
    verification_results: Vec<VerificationResult>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VerificationResult {
    domain: Option<String>,
    local_check: Option<i64>,
    ca_check: Option<i64>,
    local_check_fail_reason: Option<String>,
    frequently: Option<bool>,
    issued: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OperateLogList {
    #[serde(default, deserialize_with = "null_as_empty")]
    operate_logs: Vec<OperateLog>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OperateLog {
    action: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    created_on: Option<String>,
    cert_id: Option<String>,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_status_code_has_a_phase() {
        let cases = [
            (0, Some("PRE-REVIEWING"), Phase::Reviewing),
            (0, Some("LEGAL-REVIEWING"), Phase::Reviewing),
            (0, Some("CA-REVIEWING"), Phase::Reviewing),
            (0, Some("PENDING-DCV"), Phase::AwaitingValidation),
            (0, Some("WAIT-ISSUE"), Phase::Validated),
            (0, None, Phase::Reviewing),
            (1, None, Phase::Issued),
            (2, None, Phase::Failed),
            (3, None, Phase::Expired),
            (4, None, Phase::AwaitingValidation),
            (5, None, Phase::Submitting),
            (6, None, Phase::Cancelled),
            (7, None, Phase::Cancelled),
            (8, None, Phase::Submitting),
            (9, None, Phase::Revoked),
            (10, None, Phase::Revoked),
            (11, None, Phase::Other),
            (12, None, Phase::Revoked),
            (13, None, Phase::Submitting),
            (14, None, Phase::Cancelled),
            (15, None, Phase::Other),
        ];
        for (code, msg, phase) in cases {
            assert_eq!(status_of(Some(code), msg).phase, phase, "{code} {msg:?}");
        }
        let s = status_of(Some(0), Some("CA-REVIEWING"));
        assert_eq!(s.code, "0/CA-REVIEWING");
        assert!(s.label.contains("review by the CA"), "{}", s.label);
        // A StatusMsg beside a final status does not change the timeline key.
        assert_eq!(status_of(Some(1), Some("CA-REVIEWING")).code, "1");
    }

    #[test]
    fn times_are_read_as_gmt8() {
        let t = parse_gmt8("2026-11-20 10:00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-20T02:00:00+00:00");
        assert!(parse_gmt8("2026-11-20T10:00:00Z").is_none());
    }

    #[test]
    fn sectigo_cname_record_from_the_documented_answer() {
        // The shape of the documented DescribeCertificateDetail example.
        let a: DvAuthDetail = serde_json::from_value(serde_json::json!({
            "DvAuths": [{
                "DvAuthKey": "_875bed25cf9e03596931d91cb0a52bd9.ninghhuang.online",
                "DvAuthValue": "a3108492878a2d989949fa50522dd2b0.cc7346307ff022fcfa68e025f6dbf6ad.cmcdpcwca5iljv.trust-provider.com",
                "DvAuthDomain": "ninghhuang.online",
                "DvAuthPath": "",
                "DvAuthSubDomain": "_875bed25cf9e03596931d91cb0a52bd9",
                "DvAuthVerifyType": "CNAME"
            }],
            "DvAuthKey": "_875bed25cf9e03596931d91cb0a52bd9.ninghhuang.online",
            "DvAuthDomain": "ni****ang.online"
        }))
        .unwrap();
        let reqs = requirements_of(&a, Some("DNS"));
        assert_eq!(reqs.len(), 1);
        match &reqs[0].requirement {
            Requirement::DnsCname { name, target } => {
                assert_eq!(
                    name.as_str(),
                    "_875bed25cf9e03596931d91cb0a52bd9.ninghhuang.online"
                );
                assert!(target.as_str().ends_with(".trust-provider.com"));
            }
            other => panic!("expected a CNAME, got {other:?}"),
        }
    }

    #[test]
    fn bare_dnsauth_label_and_file_paths_are_completed() {
        let a: DvAuthDetail = serde_json::from_value(serde_json::json!({
            "DvAuths": [
                {"DvAuthKey": "_dnsauth", "DvAuthValue": "2026abc", "DvAuthDomain": "www.example.com",
                 "DvAuthVerifyType": "TXT"},
                {"DvAuthKey": "fileauth.txt", "DvAuthValue": "2026def", "DvAuthDomain": "shop.example.com",
                 "DvAuthPath": "/.well-known/pki-validation/", "DvAuthVerifyType": "FILE"}
            ]
        }))
        .unwrap();
        let reqs = requirements_of(&a, None);
        assert_eq!(
            reqs[0].requirement,
            Requirement::DnsTxt {
                name: DomainName::parse("_dnsauth.www.example.com").unwrap(),
                value: "2026abc".into()
            }
        );
        match &reqs[1].requirement {
            Requirement::File { url, content } => {
                assert_eq!(
                    url.as_str(),
                    "http://shop.example.com/.well-known/pki-validation/fileauth.txt"
                );
                assert_eq!(content, "2026def");
            }
            other => panic!("expected a file, got {other:?}"),
        }
    }

    #[test]
    fn throttling_and_credentials_are_told_apart() {
        let e = |code: &str| ApiError {
            code: code.into(),
            message: "m".into(),
        };
        for code in ["LimitExceeded.RateLimitExceeded", "RequestLimitExceeded"] {
            let err = classify("tc", "DescribeCertificates", e(code), "r".into());
            assert!(matches!(err, TencentError::RateLimited { .. }), "{code}");
            assert!(err.retry_after().is_some());
        }
        let auth = classify(
            "tc",
            "DescribeCertificates",
            e("AuthFailure.SignatureFailure"),
            "r".into(),
        );
        assert!(matches!(auth, TencentError::Auth { .. }));
        assert!(auth.to_string().contains("clock"), "{auth}");
        assert!(auth.retry_after().is_none());
    }

    #[test]
    fn product_names_map_to_catalogue_brands() {
        let c = Catalogue::builtin();
        assert_eq!(
            ca_of_product("TrustAsia C1 DV Free", &c).unwrap().name,
            "trustasia"
        );
        assert_eq!(
            ca_of_product("SecureSite 企业型(OV)", &c).unwrap().name,
            "digicert"
        );
        assert_eq!(ca_of_product("Sectigo DV", &c).unwrap().name, "sectigo");
        assert!(ca_of_product("Unknown brand", &c).is_none());
    }
}
