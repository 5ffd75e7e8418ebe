//! `certvigil status`: one line per certificate name — the current verdict
//! per CA and since when, the last check, the last error. Reads the
//! database the daemon writes (safe while it runs).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::alert::outbox::{self, OutboxEntry};
use crate::store::{StatusRow, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    /// One JSON object per target (name, wildcard, CA), one per line
    Json,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Configuration file (to find the database)
    #[arg(long, env = "CERTVIGIL_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    pub config: std::path::PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn main(args: StatusArgs) -> u8 {
    let read = read_database(&args.config, |store: Store| async move {
        let rows = store.status().await?;
        let undelivered = outbox::undelivered(store.pool(), ALERTS_SHOWN).await?;
        let failed = outbox::failed(store.pool(), ALERTS_SHOWN).await?;
        Ok((rows, undelivered, failed))
    });
    let (rows, undelivered, failed) = match read {
        Ok(read) => read,
        Err(code) => return code,
    };
    let out = std::io::stdout();
    let mut out = out.lock();
    let text = match args.format {
        Format::Text => {
            let mut text = render_text(&rows);
            text.push_str(&render_alerts(&undelivered, &failed));
            text
        }
        Format::Json => render_json(&rows),
    };
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = out.write_all(text.as_bytes());
    super::EXIT_OK
}

/// Loads the config to find the database, opens it without migrating, and
/// runs `query` on it. Errors are printed; `Err` carries the exit code (2
/// for a bad config, 1 when the database cannot be read).
pub(crate) fn read_database<T, F, Fut>(config_path: &Path, query: F) -> Result<T, u8>
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let config = match crate::config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Err(super::EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return Err(1);
        }
    };
    runtime.block_on(async {
        let store = Store::open_existing(config.database_path())
            .await
            .map_err(|e| {
                eprintln!("{e}");
                1
            })?;
        let result = query(store.clone()).await;
        store.close().await;
        result.map_err(|e| {
            eprintln!("{e}");
            1
        })
    })
}

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One line per certificate name, e.g.
/// `example.com  letsencrypt: allowed since 2026-11-20T10:00:00Z  last check 2026-11-20T10:15:02Z  last error: none`.
pub fn render_text(rows: &[StatusRow]) -> String {
    if rows.is_empty() {
        return "no targets: add [[domains]] to the config and reload the daemon\n".into();
    }
    let mut by_name: BTreeMap<(String, bool), Vec<&StatusRow>> = BTreeMap::new();
    for r in rows {
        by_name
            .entry((r.domain.to_string(), r.wildcard))
            .or_default()
            .push(r);
    }
    let width = by_name
        .keys()
        .map(|(d, w)| d.len() + if *w { 2 } else { 0 })
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for ((domain, wildcard), targets) in by_name {
        let name = if wildcard {
            format!("*.{domain}")
        } else {
            domain
        };
        let verdicts = targets
            .iter()
            .map(|t| match (t.status, t.since) {
                (Some(s), Some(since)) => format!("{}: {} since {}", t.ca, s.as_str(), time(since)),
                _ => format!("{}: not checked yet", t.ca),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let last_check = targets
            .iter()
            .filter_map(|t| t.last_checked)
            .max()
            .map_or_else(|| "never".to_string(), time);
        let last_error = targets
            .iter()
            .filter(|t| t.last_error.is_some())
            .max_by_key(|t| t.last_error_at)
            .map_or_else(
                || "none".to_string(),
                |t| {
                    let when = t
                        .last_error_at
                        .map_or_else(String::new, |at| format!("{} ", time(at)));
                    let streak = if t.consecutive_errors > 0 {
                        format!(" ({} in a row)", t.consecutive_errors)
                    } else {
                        String::new()
                    };
                    format!("{when}{}{streak}", t.last_error.as_deref().unwrap_or(""))
                },
            );
        out.push_str(&format!(
            "{name:<width$}  {verdicts}  last check {last_check}  last error: {last_error}\n"
        ));
    }
    out
}

fn attempts(n: u32) -> String {
    if n == 1 {
        "1 attempt".into()
    } else {
        format!("{n} attempts")
    }
}

/// How many undelivered and failed alerts `status` lists at most.
const ALERTS_SHOWN: i64 = 20;

/// Alerts not delivered yet, and alerts given up on, newest first; nothing
/// when every alert was delivered.
pub fn render_alerts(undelivered: &[OutboxEntry], failed: &[OutboxEntry]) -> String {
    let mut out = String::new();
    let line = |e: &OutboxEntry, what: String| {
        let error = e
            .last_error
            .as_deref()
            .map_or_else(String::new, |err| format!(": {err}"));
        format!(
            "  {} {} {} via {} ({}){error}\n    {}\n",
            time(e.created_at),
            e.kind,
            e.domain,
            e.channel.as_str(),
            what,
            e.summary
        )
    };
    if !undelivered.is_empty() {
        out.push_str(&format!(
            "\nalerts not delivered yet ({}):\n",
            undelivered.len()
        ));
        for e in undelivered {
            let what = if e.attempts == 0 {
                "not tried yet".to_string()
            } else {
                format!("{}, next {}", attempts(e.attempts), time(e.next_attempt_at))
            };
            out.push_str(&line(e, what));
        }
    }
    if !failed.is_empty() {
        out.push_str(&format!(
            "\nalerts NOT delivered, given up ({}):\n",
            failed.len()
        ));
        for e in failed {
            let what = attempts(e.attempts);
            out.push_str(&line(e, what));
        }
    }
    out
}

pub fn render_json(rows: &[StatusRow]) -> String {
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
            "blocks": r.status.map(|s| s.blocks()),
            "since": r.since.map(time),
            "last_checked": r.last_checked.map(time),
            "checks": r.checks,
            "consecutive_errors": r.consecutive_errors,
            "last_error": r.last_error,
            "last_error_at": r.last_error_at.map(time),
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DomainName;
    use crate::drift::CaaStatus;
    use chrono::TimeZone;

    fn row(domain: &str, wildcard: bool, ca: &str, status: Option<CaaStatus>) -> StatusRow {
        let t = Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
        StatusRow {
            domain: DomainName::parse(domain).unwrap(),
            wildcard,
            ca: ca.into(),
            status,
            since: status.map(|_| t),
            last_checked: status.map(|_| t + chrono::Duration::minutes(15)),
            checks: 2,
            consecutive_errors: 0,
            last_error: None,
            last_error_at: None,
        }
    }

    #[test]
    fn one_line_per_name_with_each_ca() {
        let mut err = row("example.com", false, "sectigo", Some(CaaStatus::Error));
        err.consecutive_errors = 3;
        err.last_error =
            Some("CAA lookup at example.com failed: the name server answered SERVFAIL".into());
        err.last_error_at = err.last_checked;
        let rows = [
            row(
                "example.com",
                false,
                "letsencrypt",
                Some(CaaStatus::Allowed),
            ),
            err,
            row("example.com", true, "letsencrypt", None),
        ];
        let text = render_text(&rows);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(
            lines[0],
            "example.com    letsencrypt: allowed since 2026-11-20T10:00:00Z, sectigo: error since 2026-11-20T10:00:00Z  \
             last check 2026-11-20T10:15:00Z  last error: 2026-11-20T10:15:00Z CAA lookup at example.com failed: \
             the name server answered SERVFAIL (3 in a row)"
        );
        assert_eq!(
            lines[1],
            "*.example.com  letsencrypt: not checked yet  last check never  last error: none"
        );
    }

    #[test]
    fn json_has_one_object_per_target() {
        let text = render_json(&[row(
            "example.com",
            true,
            "letsencrypt",
            Some(CaaStatus::Forbidden),
        )]);
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["domain"], "*.example.com");
        assert_eq!(v["verdict"], "forbidden");
        assert_eq!(v["blocks"], true);
    }
}
