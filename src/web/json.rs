//! The JSON shapes of `status --format json` and `history --format json`,
//! shared by the CLI and the web interface's `/api/` (one model, two
//! renderings): the same functions print both.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::checks::caa::{CaaRecord, CaaVerdict};
use crate::checks::risk::{RiskAssessment, RiskModel};
use crate::drift::record_diff;
use crate::findings::CheckKind;
use crate::store::{HistoryEntry, ReachStatusRow, StatusRow, StoredReport};

pub use certvigil_core::millis::rfc3339 as time;

/// The manual-review risk of every configured certificate name that is
/// flagged (a warning, never blocking), from the current configuration:
/// the assessment is a pure function of the name and `[risk]`.
pub fn risk_levels(config: &crate::config::Config) -> BTreeMap<String, RiskAssessment> {
    let Ok(model) = RiskModel::new(&config.risk) else {
        return BTreeMap::new();
    };
    config
        .domains
        .iter()
        .flat_map(|d| d.cert_names())
        .map(|name| (name.to_string(), model.assess(&name)))
        .filter(|(_, a)| a.is_flagged())
        .collect()
}

pub fn cert_name(domain: &crate::domain::DomainName, wildcard: bool) -> String {
    if wildcard {
        format!("*.{domain}")
    } else {
        domain.to_string()
    }
}

pub fn render_json(rows: &[StatusRow]) -> String {
    render_json_with(rows, &[], &BTreeMap::new())
}

/// [`render_json`], each target's line with its `reach` state (when its
/// name is validated over HTTP) and its name's `risk` (when flagged).
pub fn render_json_with(
    rows: &[StatusRow],
    reach: &[ReachStatusRow],
    risks: &BTreeMap<String, RiskAssessment>,
) -> String {
    render_json_full(rows, reach, risks, &[])
}

/// One status line: its fields, and the target's latest `report` kept as
/// the bytes the daemon stored (the `check --format json` object).
#[derive(Serialize)]
struct JsonLine<'a> {
    #[serde(flatten)]
    fields: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<&'a RawValue>,
}

/// [`render_json_with`], each target's line with the daemon's latest
/// `report` of it, exactly as `certvigil check --format json` prints one.
pub fn render_json_full(
    rows: &[StatusRow],
    reach: &[ReachStatusRow],
    risks: &BTreeMap<String, RiskAssessment>,
    reports: &[StoredReport],
) -> String {
    let mut out = String::new();
    for r in rows {
        let name = if r.wildcard {
            format!("*.{}", r.domain)
        } else {
            r.domain.to_string()
        };
        let line = json!({
            "domain": name,
            "ca": r.ca,
            "verdict": r.status.map(|s| s.as_str()),
            "blocks": r.status.map(|s| s.blocks() || r.blocks),
            "since": r.since.map(time),
            "last_checked": r.last_checked.map(time),
            "checks": r.checks,
            "consecutive_errors": r.consecutive_errors,
            "last_error": r.last_error,
            "last_error_at": r.last_error_at.map(time),
        });
        let mut line = line;
        if let Some(state) = reach
            .iter()
            .find(|s| s.domain == r.domain && s.wildcard == r.wildcard && s.ca == r.ca)
        {
            line["reach"] = json!({
                "verdict": state.verdict,
                "blocks": state.blocks,
                "reason": state.reason,
                "since": time(state.since),
                "last_checked": time(state.last_checked),
            });
        }
        if let Some(risk) = risks.get(&cert_name(&r.domain, r.wildcard)) {
            line["risk"] = json!({ "level": risk.level, "headline": risk.headline() });
        }
        let report = reports
            .iter()
            .find(|s| s.key.domain == r.domain && s.key.wildcard == r.wildcard && s.key.ca == r.ca)
            .map(|s| &*s.report);
        let line = JsonLine {
            fields: line,
            report,
        };
        // Serializing a JSON value and a valid raw value cannot fail.
        out.push_str(&serde_json::to_string(&line).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// A record in zone-file presentation form: `0 issue "letsencrypt.org"`.
pub fn present(r: &CaaRecord) -> String {
    let value = r.value_lossy().replace('\\', "\\\\").replace('"', "\\\"");
    let esc = certvigil_core::redact::escape_controls;
    format!("{} {} \"{}\"", r.flags, esc(&r.tag), esc(&value))
}

pub fn name_of(e: &HistoryEntry) -> String {
    e.target().cert_name()
}

fn records_json(records: &[CaaRecord]) -> Value {
    records
        .iter()
        .map(|r| json!({"flags": r.flags, "tag": r.tag, "value": r.value_lossy()}))
        .collect()
}

fn state_json(v: &CaaVerdict) -> Value {
    let mut out = json!({
        "verdict": v.verdict.as_str(),
        "relevant_name": v.relevant_name,
        "records": records_json(&v.records),
        "cname_chain": v.cname_chain,
        "reason": v.reason,
        "remedy": v.remedy,
    });
    // What other servers and perspectives saw (issue 13), when they differ.
    if !v.views.is_empty() {
        out["views"] = json!(v.views);
    }
    out
}

/// One event as JSON. For CAA, `before`/`after` are the CAA states (null
/// for none, and `after` is null for a lookup error) and `diff` the record
/// changes; for other checks they are the check's verdicts as stored.
pub fn to_json(e: &HistoryEntry) -> Value {
    let (before, after, diff) = match e.caa_states() {
        (Some(b), Some(a)) => {
            let (removed, added) = record_diff(&b.records, &a.records);
            let removed: Vec<CaaRecord> = removed.into_iter().cloned().collect();
            let added: Vec<CaaRecord> = added.into_iter().cloned().collect();
            let diff = json!({"removed": records_json(&removed), "added": records_json(&added)});
            (Some(state_json(&b)), Some(state_json(&a)), diff)
        }
        (b, a) if e.check == CheckKind::Caa => (
            b.as_ref().map(state_json),
            a.as_ref().map(state_json),
            Value::Null,
        ),
        _ => (e.before.clone(), e.after.clone(), Value::Null),
    };
    let mut out = json!({
        "id": e.id,
        "at": time(e.at),
        "check": e.check.as_str(),
        "event": e.kind,
        "domain": name_of(e),
        "ca": e.ca,
        "before_status": e.before_status,
        "after_status": e.after_status,
        "blocks": e.blocks,
        "before": before,
        "after": after,
        "diff": diff,
        "detail": e.detail,
    });
    // Only order events name their order: the other events' JSON is as it was.
    if let Some(order) = &e.order {
        out["order"] = json!(order);
    }
    out
}

/// `2026-11-20` (midnight UTC), `2026-11-20T10:00:00+08:00`, or a time
/// before now (`1h`, `90m`, `7d`, `2h 30m`).
pub fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    parse_since_at(s, Utc::now())
}

/// [`parse_since`] with `now` given.
pub fn parse_since_at(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(ago) = humantime::parse_duration(s.trim()) {
        return chrono::Duration::from_std(ago)
            .ok()
            .and_then(|ago| now.checked_sub_signed(ago))
            .ok_or_else(|| format!("{s:?} reaches too far back"));
    }
    if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{s:?} is not a date: write YYYY-MM-DD (UTC), an RFC 3339 time such as 2026-11-20T10:00:00+08:00, or a time ago such as 1h or 7d"))
}
