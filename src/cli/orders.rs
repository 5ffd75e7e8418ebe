//! `certvigil orders [list|show ORDER|notice ORDER [--at TIME] [--note TEXT]]`:
//! the orders certvigil follows, each one's status timeline and the CA
//! notices recorded for it; and recording such a notice (the CA mailed
//! about review, passed validation or issuance) so certvigil can tell when
//! the console lags the CA.
//!
//! ORDER is `source/id` (`tencent/AbCd1234`, `manual/www-2026`), the id
//! alone, or the order's name, as `orders list` shows them.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::Threads;
use super::status::time;
use crate::orders::judge::{Notice, NoticeKind};
use crate::orders::record::{self, ActiveCondition, SourcePoll, StoredOrder, TimelineEntry};
use crate::orders::status::OrdersStatus;
use crate::orders::{human_duration, manual};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// Configuration file (to find the database and the manual orders)
    #[arg(long, env = "CERTVIGIL_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Output format of `list` and `show` (json: one object per source and per order, one per line)
    #[arg(long, value_enum, default_value_t = super::status::Format::Text)]
    pub format: super::status::Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NoticeKindArg {
    /// The order is being reviewed (a call-back, a request for documents)
    Review,
    /// The CA says domain validation passed
    ValidationPassed,
    /// The CA says the certificate is issued
    Issued,
    /// The CA refused the order
    Failed,
    Other,
}

impl From<NoticeKindArg> for NoticeKind {
    fn from(k: NoticeKindArg) -> Self {
        match k {
            NoticeKindArg::Review => NoticeKind::Review,
            NoticeKindArg::ValidationPassed => NoticeKind::ValidationPassed,
            NoticeKindArg::Issued => NoticeKind::Issued,
            NoticeKindArg::Failed => NoticeKind::Failed,
            NoticeKindArg::Other => NoticeKind::Other,
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum OrdersCommand {
    /// Every order, pending first, with its status and how long it has held
    List(ConfigArg),
    /// One order: its status timeline, what it needs, notices and conditions
    Show {
        /// source/id, id, or name (see `certvigil orders list`)
        order: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Record that the CA sent a notice about an order (an email about review, validation passed, issuance)
    Notice {
        /// source/id, id, or name (see `certvigil orders list`)
        order: String,
        /// When the CA sent it, RFC 3339 (e.g. 2026-11-20T10:00:00+08:00); default now
        #[arg(long, value_parser = parse_time)]
        at: Option<DateTime<Utc>>,
        /// What it said, in a few words
        #[arg(long)]
        note: Option<String>,
        /// What kind of notice it was
        #[arg(long, value_enum, default_value_t = NoticeKindArg::Other)]
        kind: NoticeKindArg,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `certvigil orders` with the subcommand optional (bare `orders` lists).
#[derive(Debug, clap::Args)]
pub struct OrdersArgs {
    #[command(subcommand)]
    pub command: Option<OrdersCommand>,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// An RFC 3339 time.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!("{s:?} is not a time: write RFC 3339 with the offset the CA's email shows, e.g. 2026-11-20T10:00:00+08:00")
        })
}

/// For `OrdersArgs` (bare `orders` lists).
pub fn main_args(args: OrdersArgs) -> u8 {
    main(args.command.unwrap_or(OrdersCommand::List(args.config)))
}

pub fn main(cmd: OrdersCommand) -> u8 {
    let (config_path, format) = match &cmd {
        OrdersCommand::List(c) => (&c.config, c.format),
        OrdersCommand::Show { config, .. } | OrdersCommand::Notice { config, .. } => {
            (&config.config, config.format)
        }
    };
    let json = format == super::status::Format::Json;
    let config = match super::load_config(config_path, &mut std::io::stderr()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(runtime) = super::runtime(Threads::One, |m| eprintln!("{m}")) else {
        return 1;
    };
    let now = Utc::now();
    let result = runtime.block_on(async {
        match cmd {
            OrdersCommand::List(_) => {
                let store = Store::open_existing(config.database_path())
                    .await
                    .map_err(|e| e.to_string())?;
                if json {
                    let status = OrdersStatus::read(store.pool()).await;
                    store.close().await;
                    return Ok(status.map_err(|e| e.to_string())?.render_json());
                }
                let orders = record::list_orders(store.pool()).await;
                let sources = record::source_polls(store.pool()).await;
                store.close().await;
                Ok(render_list(
                    &orders.map_err(|e| e.to_string())?,
                    &sources.map_err(|e| e.to_string())?,
                    now,
                ))
            }
            OrdersCommand::Show { order, .. } => {
                let store = Store::open_existing(config.database_path())
                    .await
                    .map_err(|e| e.to_string())?;
                let text = show(&store, &order, now, json).await;
                store.close().await;
                text
            }
            OrdersCommand::Notice {
                order,
                at,
                note,
                kind,
                ..
            } => {
                // Recording writes: open as the daemon does (creating the
                // database and its schema if this comes first).
                let store = Store::open(config.database_path())
                    .await
                    .map_err(|e| e.to_string())?;
                let text = notice(
                    &store,
                    &config,
                    &order,
                    at.unwrap_or(now),
                    note,
                    kind.into(),
                    now,
                )
                .await;
                store.close().await;
                text
            }
        }
    });
    match result {
        Ok(text) => {
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            super::EXIT_OK
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

async fn show(
    store: &Store,
    given: &str,
    now: DateTime<Utc>,
    json: bool,
) -> Result<String, String> {
    let pool = store.pool();
    let order = record::find_order(pool, given)
        .await
        .map_err(|e| e.to_string())?;
    let timeline = record::timeline(pool, order.id)
        .await
        .map_err(|e| e.to_string())?;
    let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
    let notices = record::notices_of(&mut conn, order.id)
        .await
        .map_err(|e| e.to_string())?;
    let conditions = record::active_conditions(&mut conn, order.id)
        .await
        .map_err(|e| e.to_string())?;
    if json {
        return Ok(show_json(&order, &timeline, &notices, &conditions));
    }
    Ok(render_show(&order, &timeline, &notices, &conditions, now))
}

/// `orders show --format json`: one object, the `orders list` line's
/// fields plus `timeline`, `notices` and the observation's requirements.
fn show_json(
    o: &StoredOrder,
    timeline: &[TimelineEntry],
    notices: &[Notice],
    conditions: &[ActiveCondition],
) -> String {
    let status = OrdersStatus {
        orders: vec![(o.clone(), conditions.to_vec())],
        sources: vec![],
    };
    let mut v: serde_json::Value =
        serde_json::from_str(status.render_json().trim()).unwrap_or_default();
    v["placed_at"] = serde_json::json!(o.placed_at.map(time));
    v["first_seen"] = serde_json::json!(time(o.first_seen));
    v["timeline"] = timeline
        .iter()
        .map(|t| {
            serde_json::json!({
                "status": t.status_code,
                "label": t.label,
                "since": time(t.since),
                "until": t.until.map(time),
            })
        })
        .collect();
    v["notices"] = notices
        .iter()
        .map(|n| serde_json::json!({"at": time(n.at), "kind": n.kind.as_str(), "note": n.note}))
        .collect();
    if let Some(obs) = &o.observation {
        v["method"] = serde_json::json!(obs.method.as_ref().map(|m| m.as_str()));
        v["requirements"] = obs
            .requirements
            .iter()
            .map(|r| serde_json::json!({"for": r.for_name, "what": r.requirement.describe()}))
            .collect();
        v["deadlines"] = obs
            .deadlines
            .iter()
            .map(|d| serde_json::json!({"at": time(d.at), "what": d.what}))
            .collect();
        v["failure"] = serde_json::json!(obs.failure);
    }
    format!("{v}\n")
}

async fn notice(
    store: &Store,
    config: &crate::config::Config,
    given: &str,
    at: DateTime<Utc>,
    note: Option<String>,
    kind: NoticeKind,
    now: DateTime<Utc>,
) -> Result<String, String> {
    if at > now + chrono::Duration::minutes(5) {
        return Err(format!(
            "--at {} is in the future; give the time the CA's email was sent",
            time(at)
        ));
    }
    let pool = store.pool();
    let order = match record::find_order(pool, given).await {
        Ok(o) => o,
        // A manual order the daemon has not polled yet is recorded now,
        // from the config, so its notice is not lost.
        Err(record::RecordError::UnknownOrder { .. })
            if manual::ManualOrders::new(&config.orders)
                .observe_order(given.strip_prefix("manual/").unwrap_or(given), now)
                .is_some() =>
        {
            let name = given.strip_prefix("manual/").unwrap_or(given);
            let obs = manual::ManualOrders::new(&config.orders)
                .observe_order(name, now)
                .expect("checked just above");
            let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
            record::record_observation(&mut conn, &obs, now)
                .await
                .map_err(|e| e.to_string())?;
            record::find_order(pool, &obs.key.to_string())
                .await
                .map_err(|e| e.to_string())?
        }
        Err(e) => return Err(e.to_string()),
    };
    let n = Notice { at, kind, note };
    record::add_notice(pool, order.id, &n, now)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "recorded: a {} notice from the CA at {} for order {} ({}), which shows {} since {}.\n\
         If the order's status has not moved {} after the notice ([order_thresholds] notice_lag), the daemon raises order_stuck and says what to do.\n",
        kind.as_str().replace('_', " "),
        time(at),
        order.key,
        order.display_name,
        order.status_label,
        time(order.status_since),
        human_duration(
            chrono::Duration::from_std(config.order_thresholds.notice_lag).unwrap_or_default()
        ),
    ))
}

/// A line per source whose last poll failed (a refused key lists no
/// order at all, so the failure has no order line to go on).
pub fn render_source_errors(sources: &[SourcePoll]) -> String {
    let mut out = String::new();
    for s in sources {
        if let (Some(e), Some(at)) = (&s.last_error, s.last_error_at) {
            out.push_str(&format!(
                "source {}: polling failed at {}{}: {e}\n",
                s.source,
                time(at),
                s.last_ok
                    .map(|ok| format!(" (last good poll {})", time(ok)))
                    .unwrap_or_else(|| " (never polled successfully)".into()),
            ));
        }
    }
    out
}

/// One line per order, pending first; failing sources before them.
pub fn render_list(orders: &[StoredOrder], sources: &[SourcePoll], now: DateTime<Utc>) -> String {
    let mut out = render_source_errors(sources);
    if orders.is_empty() {
        out.push_str("no orders yet: the daemon records orders from [[providers]] and [[orders]] when it first polls them\n");
        return out;
    }
    for o in orders {
        let held = human_duration(now - o.status_since);
        let error = o
            .last_error
            .as_deref()
            .map(|e| format!("  last poll failed: {e}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{}  {}  {}  [{}]  {} for {held} (since {}){error}\n",
            o.key,
            o.display_name,
            o.ca,
            o.names.join(", "),
            o.status_label,
            time(o.status_since),
        ));
    }
    out
}

/// Everything about one order.
pub fn render_show(
    o: &StoredOrder,
    timeline: &[TimelineEntry],
    notices: &[Notice],
    conditions: &[ActiveCondition],
    now: DateTime<Utc>,
) -> String {
    let mut out = format!(
        "order {}  ({})\n  CA: {}\n  names: {}\n  status: {} for {} (since {})\n  first seen: {}  last polled: {}\n",
        o.key,
        o.display_name,
        o.ca,
        o.names.join(", "),
        o.status_label,
        human_duration(now - o.status_since),
        time(o.status_since),
        time(o.first_seen),
        time(o.last_polled),
    );
    if let Some(p) = o.placed_at {
        out.push_str(&format!("  placed: {}\n", time(p)));
    }
    if let Some(e) = &o.last_error {
        out.push_str(&format!("  last poll failed: {e}\n"));
    }
    if let Some(obs) = &o.observation {
        if let Some(m) = &obs.method {
            out.push_str(&format!("  validation: {}\n", m.as_str()));
        }
        for r in &obs.requirements {
            out.push_str(&format!(
                "    for {}: {}\n",
                r.for_name,
                r.requirement.describe()
            ));
        }
        for d in &obs.deadlines {
            out.push_str(&format!("  deadline {}: {}\n", time(d.at), d.what));
        }
        if let Some(f) = &obs.failure {
            out.push_str(&format!("  CA's message: {f}\n"));
        }
    }
    out.push_str("  timeline:\n");
    for t in timeline {
        let until = t.until.unwrap_or(now);
        out.push_str(&format!(
            "    {}  {}  held {}{}\n",
            time(t.since),
            t.label,
            human_duration(until - t.since),
            if t.until.is_none() { " (current)" } else { "" }
        ));
    }
    if notices.is_empty() {
        out.push_str("  notices: none (record one with `certvigil orders notice`)\n");
    } else {
        out.push_str("  notices:\n");
        for n in notices {
            out.push_str(&format!(
                "    {}  {}{}\n",
                time(n.at),
                n.kind.as_str().replace('_', " "),
                n.note
                    .as_deref()
                    .map(|s| format!(": {s}"))
                    .unwrap_or_default()
            ));
        }
    }
    if !conditions.is_empty() {
        out.push_str("  conditions:\n");
        for c in conditions {
            out.push_str(&condition_line(c));
        }
    }
    out
}

/// One holding condition of an order, indented under it.
fn condition_line(c: &ActiveCondition) -> String {
    format!(
        "    {} ({}) since {}: {}\n",
        c.kind.as_str(),
        c.severity,
        time(c.since),
        c.summary
    )
}

/// The `orders:` section of `certvigil status` as text; nothing when no
/// order or source is known.
pub fn render_status_text(status: &OrdersStatus, now: DateTime<Utc>) -> String {
    if status.orders.is_empty() && status.sources.is_empty() {
        return String::new();
    }
    let mut out = String::from("\norders:\n");
    let orders: Vec<StoredOrder> = status.orders.iter().map(|(o, _)| o.clone()).collect();
    let list = render_list(&orders, &status.sources, now);
    let mut conditions = status.orders.iter().map(|(_, c)| c);
    let failing = render_source_errors(&status.sources).lines().count();
    for (i, line) in list.lines().enumerate() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
        if i >= failing
            && let Some(cs) = conditions.next()
        {
            for c in cs {
                out.push_str(&condition_line(c));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::{OrderKey, Phase};

    #[test]
    fn times_need_an_offset() {
        assert_eq!(
            parse_time("2026-11-20T10:00:00+08:00")
                .unwrap()
                .to_rfc3339(),
            "2026-11-20T02:00:00+00:00"
        );
        let err = parse_time("2026-11-20 10:00").unwrap_err();
        assert!(err.contains("+08:00"), "{err}");
    }

    #[test]
    fn show_lists_timeline_and_notices() {
        let t0 = parse_time("2026-11-20T00:00:00Z").unwrap();
        let order = StoredOrder {
            id: 1,
            key: OrderKey::new("tencent", "AbCd1234"),
            kind: "tencent".into(),
            display_name: "www.example.com".into(),
            ca: "TrustAsia".into(),
            names: vec!["www.example.com".into()],
            phase: Phase::Reviewing,
            status_code: "0/CA-REVIEWING".into(),
            status_label: "review by the CA (Status 0, CA-REVIEWING)".into(),
            status_since: t0 + chrono::Duration::hours(2),
            placed_at: Some(t0),
            first_seen: t0,
            last_polled: t0 + chrono::Duration::hours(10),
            last_error: None,
            observation: None,
        };
        let timeline = vec![
            TimelineEntry {
                status_code: "0/PENDING-DCV".into(),
                label: "waiting for domain validation".into(),
                phase: Phase::AwaitingValidation,
                since: t0,
                until: Some(t0 + chrono::Duration::hours(2)),
            },
            TimelineEntry {
                status_code: "0/CA-REVIEWING".into(),
                label: "review by the CA".into(),
                phase: Phase::Reviewing,
                since: t0 + chrono::Duration::hours(2),
                until: None,
            },
        ];
        let notices = vec![Notice {
            at: t0 + chrono::Duration::hours(3),
            kind: NoticeKind::ValidationPassed,
            note: Some("mail from TrustAsia".into()),
        }];
        let text = render_show(
            &order,
            &timeline,
            &notices,
            &[],
            t0 + chrono::Duration::hours(12),
        );
        assert!(
            text.contains("for 10h (since 2026-11-20T02:00:00Z)"),
            "{text}"
        );
        assert!(
            text.contains("waiting for domain validation  held 2h\n"),
            "{text}"
        );
        assert!(
            text.contains("review by the CA  held 10h (current)"),
            "{text}"
        );
        assert!(
            text.contains("validation passed: mail from TrustAsia"),
            "{text}"
        );
        let list = render_list(&[order], &[], t0 + chrono::Duration::hours(12));
        assert!(
            list.starts_with("tencent/AbCd1234  www.example.com  TrustAsia"),
            "{list}"
        );
    }
}
