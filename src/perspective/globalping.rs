//! Globalping DNS measurements as perspectives abroad (`[globalping]`).
//!
//! Per the API (jsdelivr/globalping, `public/v1/spec.yaml`):
//! `POST /v1/measurements` with `type: dns`, the `target` name, the
//! `locations`, a probe `limit` and `measurementOptions.query.type`
//! answers `202 {"id", "probesCount"}`; `GET /v1/measurements/{id}` (at
//! most twice a second) until `status` is not `in-progress`. Each entry
//! of `results` has `probe` (`country`, `city`, ...) and `result`:
//! `status` (`finished`/`failed`), `statusCode` and `statusCodeName` (the
//! DNS response code), `resolver`, `answers` (`name`, `type`, `ttl`,
//! `class`, `value` as dig prints it), `timings.total`, `rawOutput`.
//!
//! Globalping cannot ask CAA, so only the TXT questions (validation
//! records) are measured; the same probes answer every name (later
//! measurements pass the first one's id as `locations`).

use std::time::Duration;

use hickory_proto::rr::RecordType;
use reqwest::Url;
use serde::Deserialize;

use certvigil_core::checks::caa::LookupFailure;
use certvigil_core::checks::perspective::{PerspectiveObservation, RecordsSeen};

use crate::checks::reach::globalping::GlobalpingClient;
use crate::config::{GlobalpingConfig, SecretSource};
use crate::domain::DomainName;

/// How long one measurement may take.
const BUDGET: Duration = Duration::from_secs(60);

/// `[globalping]`, ready to measure.
#[derive(Debug, Clone)]
pub struct GlobalpingDns {
    pub endpoint: Url,
    pub token: Option<SecretSource>,
    pub locations: Vec<String>,
    pub limit: u32,
}

impl GlobalpingDns {
    pub fn from_config(c: &GlobalpingConfig) -> Self {
        Self {
            endpoint: c.endpoint.clone(),
            token: c.token.clone(),
            locations: if c.locations.is_empty() {
                // The default set of the reach check's Globalping vantage:
                // places outside the mainland.
                crate::checks::reach::globalping::default_locations()
                    .iter()
                    .filter_map(|l| {
                        l.magic
                            .clone()
                            .or_else(|| l.country.clone())
                            .or_else(|| l.continent.clone())
                    })
                    .collect()
            } else {
                c.locations.clone()
            },
            limit: c.limit,
        }
    }

    /// One observation per probe, named `globalping/CC-City`; or one
    /// failed observation when the API could not be used.
    pub async fn observe(
        &self,
        questions: &[(DomainName, RecordType)],
    ) -> Vec<PerspectiveObservation> {
        let names: Vec<&DomainName> = questions
            .iter()
            .filter(|(_, t)| *t == RecordType::TXT)
            .map(|(n, _)| n)
            .collect();
        if names.is_empty() {
            return Vec::new();
        }
        match self.measure(&names).await {
            Ok(out) => out,
            Err(e) => vec![PerspectiveObservation {
                vantage: "globalping".into(),
                caa: Vec::new(),
                validation: Vec::new(),
                error: Some(e),
            }],
        }
    }

    async fn measure(&self, names: &[&DomainName]) -> Result<Vec<PerspectiveObservation>, String> {
        let token = self
            .token
            .as_ref()
            .map(SecretSource::read)
            .transpose()
            .map_err(|e| e.to_string())?;
        let client =
            GlobalpingClient::new(self.endpoint.clone(), token.map(|t| t.expose().to_string()));
        let mut out: Vec<PerspectiveObservation> = Vec::new();
        let mut first_id: Option<String> = None;
        for name in names {
            let locations = match &first_id {
                // The same probes for every name.
                Some(id) => serde_json::Value::String(id.clone()),
                None => serde_json::Value::Array(
                    self.locations
                        .iter()
                        .map(|l| serde_json::json!({ "magic": l }))
                        .collect(),
                ),
            };
            let body = serde_json::json!({
                "type": "dns",
                "target": name.as_str(),
                "locations": locations,
                "limit": self.limit,
                "measurementOptions": { "query": { "type": "TXT" } },
            });
            let id = client.create(&body).await.map_err(|e| e.to_string())?;
            let value = client
                .wait_value(&id, BUDGET)
                .await
                .map_err(|e| e.to_string())?;
            first_id.get_or_insert(id);
            let measurement: Measurement = serde_json::from_value(value)
                .map_err(|e| format!("Globalping sent a DNS result certvigil cannot read: {e}"))?;
            for item in measurement.results {
                let vantage = format!("globalping/{}", item.probe.label());
                let seen = item.result.seen(name);
                match out.iter_mut().find(|o| o.vantage == vantage) {
                    Some(o) => o.validation.push(((*name).clone(), seen)),
                    None => out.push(PerspectiveObservation {
                        vantage,
                        caa: Vec::new(),
                        validation: vec![((*name).clone(), seen)],
                        error: None,
                    }),
                }
            }
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
struct Measurement {
    #[serde(default)]
    results: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    probe: Probe,
    result: DnsResult,
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    country: String,
    #[serde(default)]
    city: String,
}

impl Probe {
    fn label(&self) -> String {
        format!("{}-{}", self.country, self.city)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DnsResult {
    status: String,
    #[serde(default)]
    status_code_name: Option<String>,
    #[serde(default)]
    answers: Vec<DnsAnswer>,
    #[serde(default)]
    raw_output: String,
}

#[derive(Deserialize)]
struct DnsAnswer {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    value: String,
}

impl DnsResult {
    /// What the probe's resolver answered for `name`, aliases followed.
    fn seen(&self, name: &DomainName) -> Result<RecordsSeen, LookupFailure> {
        if self.status != "finished" {
            let first = self.raw_output.lines().next().unwrap_or_default();
            return Err(LookupFailure::Network {
                detail: format!(
                    "the probe's measurement {}: {}",
                    self.status,
                    crate::http::redact::peer_text(first, 200)
                ),
            });
        }
        let rcode = self.status_code_name.as_deref().unwrap_or("NOERROR");
        if rcode != "NOERROR" && rcode != "NXDOMAIN" {
            return Err(LookupFailure::Rcode {
                rcode: rcode.to_string(),
                server: None,
            });
        }
        let owner = |a: &DnsAnswer| a.name.trim_end_matches('.').to_ascii_lowercase();
        let mut chain = vec![name.clone()];
        let mut at = name.as_str().to_string();
        while let Some(alias) = self
            .answers
            .iter()
            .find(|a| a.rtype.eq_ignore_ascii_case("CNAME") && owner(a) == at)
        {
            let target = alias.value.trim_end_matches('.').to_ascii_lowercase();
            match DomainName::from_ascii(&target) {
                Ok(t) if !chain.contains(&t) && chain.len() < 16 => chain.push(t),
                _ => break,
            }
            at = target;
        }
        let texts = self
            .answers
            .iter()
            .filter(|a| a.rtype.eq_ignore_ascii_case("TXT") && owner(a) == at)
            .map(|a| dig_txt(&a.value))
            .collect();
        Ok(RecordsSeen {
            cname_chain: chain,
            texts,
            nxdomain: rcode == "NXDOMAIN",
        })
    }
}

/// A TXT value as dig prints it (`"part one" "part two"`, with `\"` and
/// `\DDD` escapes), its character-strings joined.
fn dig_txt(value: &str) -> String {
    let v = value.trim();
    if !v.starts_with('"') {
        return v.to_string();
    }
    let mut out = Vec::new();
    let mut chars = v.bytes().peekable();
    let mut inside = false;
    while let Some(c) = chars.next() {
        match (inside, c) {
            (false, b'"') => inside = true,
            (true, b'"') => inside = false,
            (true, b'\\') => {
                let digits: Vec<u8> = std::iter::from_fn(|| chars.next_if(u8::is_ascii_digit))
                    .take(3)
                    .collect();
                if digits.len() == 3 {
                    let n = digits
                        .iter()
                        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
                    out.push(n.min(255) as u8);
                } else if let Some(next) = digits.first().copied().or_else(|| chars.next()) {
                    out.push(next);
                }
            }
            (true, c) => out.push(c),
            (false, _) => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dig_txt_values_are_unquoted_and_joined() {
        assert_eq!(dig_txt("\"token-1\""), "token-1");
        assert_eq!(dig_txt("\"part one\" \"part two\""), "part onepart two");
        assert_eq!(dig_txt("\"a\\\"b\\059c\""), "a\"b;c");
        assert_eq!(dig_txt("bare"), "bare");
    }

    #[test]
    fn aliases_are_followed_and_failures_kept() {
        let name = DomainName::parse("_dnsauth.example.com").unwrap();
        let r: DnsResult = serde_json::from_value(serde_json::json!({
            "status": "finished",
            "statusCode": 0,
            "statusCodeName": "NOERROR",
            "answers": [
                {"name": "_dnsauth.example.com.", "type": "CNAME", "ttl": 60, "class": "IN", "value": "v.provider.example."},
                {"name": "v.provider.example.", "type": "TXT", "ttl": 60, "class": "IN", "value": "\"token-1\""}
            ]
        }))
        .unwrap();
        let seen = r.seen(&name).unwrap();
        assert_eq!(seen.texts, ["token-1"]);
        assert_eq!(seen.cname_chain.len(), 2);
        let failed: DnsResult = serde_json::from_value(serde_json::json!({
            "status": "finished", "statusCode": 2, "statusCodeName": "SERVFAIL", "answers": []
        }))
        .unwrap();
        assert_eq!(
            failed.seen(&name).unwrap_err(),
            LookupFailure::Rcode {
                rcode: "SERVFAIL".into(),
                server: None,
            }
        );
        let offline: DnsResult = serde_json::from_value(serde_json::json!({
            "status": "failed", "rawOutput": "connection timed out; no servers could be reached"
        }))
        .unwrap();
        assert!(matches!(
            offline.seen(&name),
            Err(LookupFailure::Network { .. })
        ));
    }
}
