//! `certvigil status`: one line per certificate name — the current verdict
//! per CA and since when, the last check, the last error. Reads the
//! database the daemon writes (safe while it runs).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::Utc;

use super::Threads;
use crate::alert::outbox::OutboxEntry;
use crate::checks::risk::RiskAssessment;
use crate::store::{ReachStatusRow, StatusRow, Store, StoreError};
use crate::web::model::{StatusModel, render_instances_text};
// The JSON shapes are shared with the web interface's API (one model, two renderings).
pub use crate::web::json::{
    cert_name, render_json, render_json_full, render_json_with, risk_levels,
};

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
        StatusModel::read(&store).await
    });
    let model = match read {
        Ok(read) => read,
        // No database (or a config that names none): cannot tell.
        Err(_) => return super::EXIT_USAGE,
    };
    let empty = crate::orders::status::OrdersStatus::default();
    let (orders, orders_error) = match &model.orders {
        Ok(o) => (o, None),
        Err(e) => (&empty, Some(e)),
    };
    // read_database loaded this file a moment ago.
    let config = crate::config::load(&args.config).ok();
    let risks = config.as_ref().map(risk_levels).unwrap_or_default();
    // A database that cannot be written cannot say so in its own tables:
    // the running daemon keeps that in its lock file.
    let daemon = config
        .as_ref()
        .and_then(|c| crate::store::instance::running_daemon(c.database_path()));
    let task_panic = daemon.as_ref().and_then(|d| d.task_panic.clone());
    let storage_failing = daemon.and_then(|d| d.storage_failing);
    let out = std::io::stdout();
    let mut out = out.lock();
    let text = match args.format {
        Format::Text => {
            let mut text = storage_failing
                .as_ref()
                .map(|line| format!("daemon: {line}\n\n"))
                .unwrap_or_default();
            if let Some(line) = &task_panic {
                text.push_str(&format!("daemon: {line}\n\n"));
            }
            text.push_str(&render_text(&model.rows));
            text.push_str(&render_reach_text(&model.reach));
            text.push_str(&render_risk_text(&risks));
            text.push_str(&super::orders::render_status_text(orders, Utc::now()));
            text.push_str(&render_alerts(&model.undelivered, &model.failed));
            text.push_str(&render_instances_text(&model.instances, Utc::now()));
            text
        }
        Format::Json => {
            for line in storage_failing.iter().chain(task_panic.iter()) {
                eprintln!("warning: daemon: {line}");
            }
            model.render_json(&risks)
        }
    };
    if let Some(e) = &orders_error {
        eprintln!("warning: cannot read the orders: {e}");
    }
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = out.write_all(text.as_bytes());
    exit_code(
        &model.rows,
        &model.reach,
        orders,
        storage_failing.is_some() || orders_error.is_some(),
    )
}

/// Like `check`: 0 nothing blocks, 1 something blocks, 2 cannot tell
/// (storage failing, no target, a target never checked), so `status` can
/// serve as a monitoring (Nagios-style) check.
pub fn exit_code(
    rows: &[StatusRow],
    reach: &[ReachStatusRow],
    orders: &crate::orders::status::OrdersStatus,
    unreliable: bool,
) -> u8 {
    if unreliable {
        return super::EXIT_USAGE;
    }
    let blocks = rows
        .iter()
        .any(|r| r.blocks || r.status.is_some_and(|s| s.blocks()))
        || reach.iter().any(|r| r.blocks)
        || orders.blocks();
    if blocks {
        return super::EXIT_BLOCKING;
    }
    if rows.is_empty() || rows.iter().any(|r| r.status.is_none()) {
        return super::EXIT_USAGE;
    }
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
    let config = super::load_config(config_path, &mut std::io::stderr())?;
    let runtime = super::runtime(Threads::One, |m| eprintln!("{m}")).ok_or(1u8)?;
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

pub(crate) use certvigil_core::millis::rfc3339 as time;

/// One line per certificate name, e.g.
/// `example.com  letsencrypt: CAA allowed since 2026-11-20T10:00:00Z  last check 2026-11-20T10:15:02Z  last error: none`.
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
                // "CAA" says which check this is: reachability has its own
                // section below, and "allowed" alone would read as "all clear".
                // Allowed here, refused as another server or perspective
                // sees it (issue 13).
                (Some(s), Some(since)) if t.blocks && !s.blocks() => format!(
                    "{}: CAA {} here but blocked elsewhere since {}",
                    t.ca,
                    s.as_str(),
                    time(since)
                ),
                (Some(s), Some(since)) => {
                    format!("{}: CAA {} since {}", t.ca, s.as_str(), time(since))
                }
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

/// One line per (name, CA) whose validation path is probed.
pub fn render_reach_text(rows: &[ReachStatusRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nreachability of the validation path:\n");
    for r in rows {
        out.push_str(&format!(
            "  {}  {}: {} since {}  last check {}\n    {}\n",
            cert_name(&r.domain, r.wildcard),
            r.ca,
            r.verdict,
            time(r.since),
            time(r.last_checked),
            r.reason
        ));
    }
    out
}

/// Flagged names only: most names carry no risk, and saying so for each
/// would bury the ones that do.
pub fn render_risk_text(risks: &BTreeMap<String, RiskAssessment>) -> String {
    if risks.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nmanual-review risk (a warning; it does not block):\n");
    for (name, a) in risks {
        out.push_str(&format!("  {name}  {}\n", a.headline()));
    }
    out
}

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
            blocks: status.is_some_and(|s| s.blocks()),
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
            "example.com    letsencrypt: CAA allowed since 2026-11-20T10:00:00Z, sectigo: CAA error since 2026-11-20T10:00:00Z  \
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

    fn entry(status: &str, attempts: u32) -> OutboxEntry {
        let t = Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
        OutboxEntry {
            id: 1,
            channel: crate::alert::ChannelId::from_stored("email:smtp.example.com:587#1a2b3c4d"),
            kind: "caa_drift".into(),
            domain: "example.com".into(),
            severity: "blocking".into(),
            summary: "CAA at example.com now forbids Sectigo".into(),
            status: status.into(),
            attempts,
            created_at: t,
            next_attempt_at: t + chrono::Duration::seconds(30),
            finished_at: None,
            last_error: (attempts > 0).then(|| "connection refused".into()),
        }
    }

    #[test]
    fn undelivered_and_failed_alerts_are_listed_and_nothing_when_all_went_out() {
        assert_eq!(render_alerts(&[], &[]), "");
        let text = render_alerts(&[entry("pending", 1)], &[entry("failed", 7)]);
        assert!(
            text.contains(
                "alerts not delivered yet (1):\n  2026-11-20T10:00:00Z caa_drift example.com via \
                 email:smtp.example.com:587#1a2b3c4d (1 attempt, next 2026-11-20T10:00:30Z): \
                 connection refused\n    CAA at example.com now forbids Sectigo\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("alerts NOT delivered, given up (1):"),
            "{text}"
        );
        assert!(text.contains("(7 attempts): connection refused"), "{text}");
    }

    #[test]
    fn json_lines_carry_the_reach_state_of_their_target() {
        let t = Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
        let reach = ReachStatusRow {
            domain: DomainName::parse("example.com").unwrap(),
            wildcard: false,
            ca: "letsencrypt".into(),
            verdict: "unreachable".into(),
            blocks: true,
            reason: "port 80 refuses connections".into(),
            since: t,
            last_checked: t,
            checks: 3,
        };
        let rows = [
            row(
                "example.com",
                false,
                "letsencrypt",
                Some(CaaStatus::Allowed),
            ),
            row("example.com", true, "letsencrypt", Some(CaaStatus::Allowed)),
        ];
        let text = render_json_with(&rows, std::slice::from_ref(&reach), &BTreeMap::new());
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["reach"]["verdict"], "unreachable");
        assert_eq!(lines[0]["reach"]["blocks"], true);
        assert!(lines[1].get("reach").is_none(), "the wildcard has none");
        assert!(
            render_reach_text(&[reach])
                .contains("  example.com  letsencrypt: unreachable since 2026-11-20T10:00:00Z")
        );
    }

    #[test]
    fn flagged_names_show_their_manual_review_risk_as_a_warning() {
        let config = crate::config::parse_with_state_directory(
            "[[domains]]\nname = \"paypal-login.example.com\"\nca = [\"sectigo\"]\n\n\
             [[domains]]\nname = \"example.com\"\nca = [\"sectigo\"]\n",
            "c.toml",
            None,
        )
        .unwrap();
        let risks = risk_levels(&config);
        assert_eq!(
            risks.keys().collect::<Vec<_>>(),
            ["paypal-login.example.com"],
            "unflagged names are left out"
        );
        let text = render_risk_text(&risks);
        assert!(text.contains("it does not block"), "{text}");
        let line = render_json_with(
            &[row(
                "paypal-login.example.com",
                false,
                "sectigo",
                Some(CaaStatus::Allowed),
            )],
            &[],
            &risks,
        );
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["risk"]["level"], "high", "{v}");
    }
}
