//! `certvigil history [DOMAIN] [--since DATE] [--format text|json]`: one
//! timeline of the state changes of every check, oldest first, with
//! before/after diffs of the relevant CAA record set. Reads the database
//! (safe while the daemon runs).

use std::io::Write;

use chrono::{DateTime, Utc};

use super::status::{read_database, time};
use crate::checks::caa::CaaVerdict;
use crate::domain::CertName;
use crate::drift::record_diff;
use crate::findings::CheckKind;
use crate::store::{HistoryEntry, HistoryFilter};
// Shared with the web interface's API (one model, two renderings).
pub use crate::web::json::{name_of, parse_since, parse_since_at, present, to_json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    /// One JSON object per event, one per line
    Json,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Only this name (`example.com` includes `*.example.com`; `*.example.com` is the wildcard only)
    #[arg(value_parser = parse_domain)]
    pub domain: Option<CertName>,
    /// Only changes at or after this time: YYYY-MM-DD (UTC midnight), RFC 3339, or a time ago (1h, 7d)
    #[arg(long, value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Configuration file (to find the database)
    #[arg(long, env = "CERTVIGIL_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    pub config: std::path::PathBuf,
}

fn parse_domain(s: &str) -> Result<CertName, String> {
    CertName::parse(s).map_err(|e| e.to_string())
}

pub fn main(args: HistoryArgs) -> u8 {
    let filter = HistoryFilter {
        domain: args.domain.as_ref().map(|n| n.base().clone()),
        wildcard: args
            .domain
            .as_ref()
            .and_then(|n| n.is_wildcard().then_some(true)),
        since: args.since,
    };
    let entries = match read_database(
        &args.config,
        |store| async move { store.history(&filter).await },
    ) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let text = match args.format {
        Format::Text => render_text(&entries),
        Format::Json => entries
            .iter()
            .map(|e| format!("{}\n", to_json(e)))
            .collect(),
    };
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    super::EXIT_OK
}

fn chain(v: &CaaVerdict) -> String {
    v.cname_chain
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(" -> ")
}

fn holder(v: &CaaVerdict) -> String {
    v.relevant_name.as_ref().map_or_else(
        || "(no CAA records up to the TLD)".into(),
        |n| n.to_string(),
    )
}

/// One timeline across checks: a line per change, then what changed.
pub fn render_text(entries: &[HistoryEntry]) -> String {
    if entries.is_empty() {
        return "no state changes recorded\n".into();
    }
    let mut out = String::new();
    for e in entries {
        let transition = match &e.before_status {
            Some(b) => format!("{b} -> {}", e.after_status),
            None => e.after_status.clone(),
        };
        let blocks = match (e.blocks, e.check) {
            (true, _) => format!("blocks {}", e.ca),
            (false, CheckKind::Order) => format!("order {}", e.order.as_deref().unwrap_or("?")),
            (false, CheckKind::Caa) => format!("{} may issue", e.ca),
            (false, _) => format!("{} can validate", e.ca),
        };
        out.push_str(&format!(
            "{}  {}  {}  {}  {}  {}  ({})\n",
            time(e.at),
            name_of(e),
            e.ca,
            e.check.as_str(),
            e.kind,
            transition,
            blocks
        ));
        match e.check {
            CheckKind::Caa => caa_detail(&mut out, e),
            _ => {
                let reason = e
                    .after
                    .as_ref()
                    .and_then(|a| a["reason"].as_str())
                    .map(str::to_string)
                    .or_else(|| e.detail.clone());
                if let Some(r) = reason {
                    out.push_str(&format!("    {r}\n"));
                }
            }
        }
    }
    out
}

/// What the authoritative servers and the perspectives abroad saw, where
/// it differs (issue 13).
fn views_detail(out: &mut String, v: &crate::checks::caa::CaaVerdict) {
    for f in &v.views {
        out.push_str(&format!(
            "    {} ({}): {}\n",
            "view",
            f.severity.as_str(),
            f.summary
        ));
    }
}

/// What changed in a CAA event: the record diff of a drift, the records of
/// a baseline or recovery, the failure of an error.
fn caa_detail(out: &mut String, e: &HistoryEntry) {
    match e.caa_states() {
        (Some(before), Some(after)) if e.kind == "caa_drift" => {
            if before.relevant_name != after.relevant_name {
                out.push_str(&format!(
                    "    relevant name: {} -> {}\n",
                    holder(&before),
                    holder(&after)
                ));
            }
            if before.cname_chain != after.cname_chain {
                out.push_str(&format!(
                    "    alias chain: {} -> {}\n",
                    chain(&before),
                    chain(&after)
                ));
            }
            let (removed, added) = record_diff(&before.records, &after.records);
            for r in removed {
                out.push_str(&format!("    - {}\n", present(r)));
            }
            for r in added {
                out.push_str(&format!("    + {}\n", present(r)));
            }
            for r in after.records.iter().filter(|r| before.records.contains(r)) {
                out.push_str(&format!("      {}\n", present(r)));
            }
            if before.verdict != after.verdict && before.records == after.records {
                out.push_str(
                    "    (same records; the verdict changed with the configured CA or account)\n",
                );
            }
            out.push_str(&format!("    {}\n", after.reason));
            views_detail(out, &after);
        }
        (_, Some(after)) => {
            out.push_str(&format!(
                "    at {} (alias chain {})\n",
                holder(&after),
                chain(&after)
            ));
            for r in &after.records {
                out.push_str(&format!("      {}\n", present(r)));
            }
            out.push_str(&format!("    {}\n", after.reason));
            views_detail(out, &after);
        }
        (_, None) => {
            if let Some(d) = &e.detail {
                out.push_str(&format!("    {d}\n"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::caa::{CaaRecord, CaaVerdictKind};
    use crate::domain::DomainName;
    use chrono::TimeZone;

    fn verdict(kind: CaaVerdictKind, issuers: &[&str]) -> CaaVerdict {
        let n = DomainName::parse("example.com").unwrap();
        CaaVerdict {
            verdict: kind,
            relevant_name: Some(n.clone()),
            records: issuers
                .iter()
                .map(|i| CaaRecord::new(0, "issue", i))
                .collect(),
            cname_chain: vec![n],
            reason: "because".into(),
            remedy: None,
            lookup_error: None,
            legacy_rfc6844: None,
            views: Vec::new(),
            dnssec: Vec::new(),
        }
    }

    fn drift() -> HistoryEntry {
        HistoryEntry {
            id: 7,
            at: Utc.with_ymd_and_hms(2026, 11, 20, 10, 15, 2).unwrap(),
            check: CheckKind::Caa,
            domain: DomainName::parse("example.com").unwrap(),
            wildcard: false,
            ca: "letsencrypt".into(),
            kind: "caa_drift".into(),
            before_status: Some("allowed".into()),
            after_status: "forbidden".into(),
            blocks: true,
            before: Some(
                serde_json::to_value(verdict(
                    CaaVerdictKind::Allowed,
                    &["letsencrypt.org", "pki.goog"],
                ))
                .unwrap(),
            ),
            after: Some(
                serde_json::to_value(verdict(
                    CaaVerdictKind::Forbidden,
                    &["sectigo.com", "pki.goog"],
                ))
                .unwrap(),
            ),
            detail: None,
            order: None,
        }
    }

    #[test]
    fn drift_shows_the_record_diff() {
        let text = render_text(&[drift()]);
        assert_eq!(
            text,
            "2026-11-20T10:15:02Z  example.com  letsencrypt  caa  caa_drift  allowed -> forbidden  (blocks letsencrypt)\n\
             \x20   - 0 issue \"letsencrypt.org\"\n\
             \x20   + 0 issue \"sectigo.com\"\n\
             \x20     0 issue \"pki.goog\"\n\
             \x20   because\n"
        );
    }

    #[test]
    fn json_carries_before_after_and_diff() {
        let v = to_json(&drift());
        assert_eq!(v["event"], "caa_drift");
        assert_eq!(v["diff"]["removed"][0]["value"], "letsencrypt.org");
        assert_eq!(v["diff"]["added"][0]["value"], "sectigo.com");
        assert_eq!(v["before"]["records"].as_array().unwrap().len(), 2);
        assert_eq!(v["after"]["verdict"], "forbidden");
    }

    #[test]
    fn since_takes_a_day_or_a_time() {
        assert_eq!(
            time(parse_since("2026-11-20").unwrap()),
            "2026-11-20T00:00:00Z"
        );
        assert_eq!(
            time(parse_since("2026-11-20T10:00:00+08:00").unwrap()),
            "2026-11-20T02:00:00Z"
        );
        let now = parse_since("2026-11-20T10:00:00Z").unwrap();
        assert_eq!(
            time(parse_since_at("1h", now).unwrap()),
            "2026-11-20T09:00:00Z"
        );
        assert_eq!(
            time(parse_since_at("7d", now).unwrap()),
            "2026-11-13T10:00:00Z"
        );
        let err = parse_since("last tuesday").unwrap_err();
        assert!(err.contains("YYYY-MM-DD"), "{err}");
    }

    #[test]
    fn values_with_quotes_are_escaped() {
        assert_eq!(
            present(&CaaRecord::new(128, "tbs", "a\"b")),
            "128 tbs \"a\\\"b\""
        );
    }
}
