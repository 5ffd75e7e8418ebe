//! The HTML pages (maud, server-rendered, no script). Each reads the store
//! at request time; query parameters filter (`?domain=&check=&verdict=`),
//! so a filtered view is a URL a person can paste into a chat.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use serde_json::Value;

use super::WebState;
use super::json::{present, time};
use crate::alert::outbox::{self, OutboxEntry};
use crate::domain::CertName;
use crate::drift::record_diff;
use crate::findings::CheckKind;
use crate::store::{HistoryEntry, HistoryFilter, OutcomeDay, StoreError};

const STYLE: &str = include_str!("style.css");

pub async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// A failed read: the page says what failed, with a 503 (the daemon may
/// just be busy or the disk failing; the next reload may work).
pub(super) fn unavailable(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        page(
            "unavailable",
            html! { p.blocks { "cannot read the database: " (e.to_string()) } },
        ),
    )
        .into_response()
}

pub(super) fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        page("bad request", html! { p.blocks { (message) } }),
    )
        .into_response()
}

fn page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · certvigil" }
                    link rel="stylesheet" href="/style.css";
                }
                body {
                    nav { a href="/" { "status" } a href="/orders" { "orders" } a href="/alerts" { "alerts" } a href="/metrics" { "metrics" } }
                    h1 { (title) }
                    (body)
                }
            }
        }
        .into_string(),
    )
}

/// `?domain=&check=&verdict=`: empty values mean "any".
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    pub domain: Option<String>,
    pub check: Option<String>,
    pub verdict: Option<String>,
}

impl Filter {
    fn wants(field: &Option<String>, value: &str) -> bool {
        match field.as_deref().map(str::trim) {
            None | Some("") => true,
            Some(f) => f.eq_ignore_ascii_case(value),
        }
    }

    fn domain_matches(&self, name: &str) -> bool {
        match self.domain.as_deref().map(str::trim) {
            None | Some("") => true,
            Some(d) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                name == d || name.ends_with(&format!(".{d}"))
            }
        }
    }
}

/// One line of the status board: a target (name, CA) and one check.
pub struct BoardRow {
    pub name: String,
    pub ca: String,
    pub check: &'static str,
    pub verdict: String,
    pub blocks: bool,
    pub since: Option<String>,
    pub last_checked: Option<String>,
    pub reason: String,
}

fn report_reasons(reports: &[crate::store::StoredReport]) -> BTreeMap<(String, String), Value> {
    reports
        .iter()
        .filter_map(|r| {
            let v: Value = serde_json::from_str(r.report.get()).ok()?;
            Some(((r.key.cert_name(), r.key.ca.clone()), v))
        })
        .collect()
}

pub async fn board_rows(state: &WebState) -> Result<Vec<BoardRow>, StoreError> {
    let status = state.store.status().await?;
    let reach = state.store.reach_status().await?;
    let reports = report_reasons(&state.store.reports().await?);
    let mut rows = Vec::new();
    for r in status {
        let name = super::json::cert_name(&r.domain, r.wildcard);
        let reason = r
            .last_error
            .clone()
            .filter(|_| r.consecutive_errors > 0)
            .or_else(|| {
                reports
                    .get(&(name.clone(), r.ca.clone()))
                    .and_then(|v| v["caa"]["reason"].as_str().map(str::to_string))
            });
        rows.push(BoardRow {
            ca: r.ca.clone(),
            check: "caa",
            verdict: r
                .status
                .map_or("not checked yet", |s| s.as_str())
                .to_string(),
            blocks: r.blocks || r.status.is_some_and(|s| s.blocks()),
            since: r.since.map(time),
            last_checked: r.last_checked.map(time),
            reason: reason.unwrap_or_default(),
            name,
        });
    }
    for r in reach {
        rows.push(BoardRow {
            name: super::json::cert_name(&r.domain, r.wildcard),
            ca: r.ca,
            check: "reach",
            verdict: r.verdict,
            blocks: r.blocks,
            since: Some(time(r.since)),
            last_checked: Some(time(r.last_checked)),
            reason: r.reason,
        });
    }
    // Name, CA, then the CAA check before reachability: what a CA looks at first.
    rows.sort_by(|a, b| (&a.name, &a.ca, a.check).cmp(&(&b.name, &b.ca, b.check)));
    Ok(rows)
}

fn filter_form(f: &Filter) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    html! {
        form method="get" action="/" {
            input type="search" name="domain" placeholder="domain" value=(v(&f.domain));
            select name="check" {
                @for (value, label) in [("", "any check"), ("caa", "CAA"), ("reach", "reachability")] {
                    option value=(value) selected[v(&f.check) == value] { (label) }
                }
            }
            input type="search" name="verdict" placeholder="verdict" value=(v(&f.verdict));
            button type="submit" { "filter" }
        }
    }
}

fn target_link(name: &str) -> String {
    format!("/target/{}", name.replace('*', "%2A"))
}

pub async fn board(State(state): State<WebState>, Query(f): Query<Filter>) -> Response {
    let rows = match board_rows(&state).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let rows: Vec<BoardRow> = rows
        .into_iter()
        .filter(|r| {
            f.domain_matches(&r.name)
                && Filter::wants(&f.check, r.check)
                && Filter::wants(&f.verdict, &r.verdict)
        })
        .collect();
    // For each (name, CA): the first check that blocks, in the board's order.
    let mut first_block: Vec<&BoardRow> = Vec::new();
    for r in rows.iter().filter(|r| r.blocks) {
        if !first_block.iter().any(|b| b.name == r.name && b.ca == r.ca) {
            first_block.push(r);
        }
    }
    let failing = crate::store::tx::failing().map(|f| f.line());
    // The daemons sharing a PostgreSQL database (none on SQLite).
    let now = chrono::Utc::now();
    let instances = match state.store.instances(now).await {
        Ok(i) => i,
        Err(e) => return unavailable(e),
    };
    page(
        "certvigil status",
        html! {
            @if let Some(line) = failing { p.banner { "daemon: " (line) } }
            @if first_block.is_empty() {
                p.ok { "Nothing blocks issuance." }
            } @else {
                h2.blocks { "Blocking issuance (" (first_block.len()) ")" }
                ul {
                    @for b in &first_block {
                        li { a href=(target_link(&b.name)) { (b.name) } " · " (b.ca) " · " span.blocks { (b.check) " " (b.verdict) } ": " (b.reason) }
                    }
                }
            }
            @if !instances.is_empty() {
                h2 { "Instances sharing this database" }
                table {
                    thead { tr { th { "id" } th { "host" } th { "pid" } th { "started" } th { "last seen" } th { "leases" } } }
                    tbody {
                        @for i in &instances {
                            tr {
                                td { (i.id) }
                                td { (i.host) }
                                td { (i.pid) }
                                td { (crate::web::json::time(i.started_at)) }
                                @if let Some(at) = i.stopped_at {
                                    td { "stopped " (crate::web::json::time(at)) }
                                } @else {
                                    td { (crate::web::json::time(i.last_seen)) " (" ((now - i.last_seen).num_seconds().max(0)) " s ago)" }
                                }
                                td { (i.leases) }
                            }
                        }
                    }
                }
            }
            (filter_form(&f))
            @if rows.is_empty() {
                p.mut { "no targets match" }
            } @else {
                table {
                    thead { tr { th { "name" } th { "CA" } th { "check" } th { "verdict" } th { "since" } th { "last check" } th { "why" } } }
                    tbody {
                        @for r in &rows {
                            tr {
                                td { a href=(target_link(&r.name)) { (r.name) } }
                                td { (r.ca) }
                                td { (r.check) }
                                td class=(if r.blocks { "blocks" } else { "ok" }) { (r.verdict) @if r.blocks { " (blocks)" } }
                                td { (r.since.as_deref().unwrap_or("–")) }
                                td { (r.last_checked.as_deref().unwrap_or("never")) }
                                td { (r.reason) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

fn diff_markup(e: &HistoryEntry) -> Markup {
    match e.caa_states() {
        (Some(before), Some(after)) => {
            let (removed, added) = record_diff(&before.records, &after.records);
            html! {
                pre {
                    @for r in &removed { span.del { "- " (present(r)) } "\n" }
                    @for r in &added { span.add { "+ " (present(r)) } "\n" }
                    @for r in after.records.iter().filter(|r| before.records.contains(r)) { "  " (present(r)) "\n" }
                }
                p { (after.reason) }
            }
        }
        (_, Some(after)) => html! {
            pre { @for r in &after.records { "  " (present(r)) "\n" } }
            p { (after.reason) }
        },
        (_, None) => {
            let reason = e
                .after
                .as_ref()
                .and_then(|a| a["reason"].as_str())
                .map(str::to_string)
                .or_else(|| e.detail.clone());
            html! { @if let Some(r) = reason { p { (r) } } }
        }
    }
}

/// Bars of checks per day (grey ok, red blocking, amber error), inline.
pub fn chart(days: &[OutcomeDay]) -> Markup {
    if days.is_empty() {
        return html! { p.mut { "no checks recorded yet" } };
    }
    let max = days.iter().map(|d| d.checks).max().unwrap_or(1).max(1) as f64;
    let width = 600.0_f64;
    let height = 80.0_f64;
    let bar = width / days.len() as f64;
    let mut svg = String::new();
    for (i, d) in days.iter().enumerate() {
        let x = i as f64 * bar;
        let h = |n: i64| n as f64 / max * height;
        let ok = d.checks - d.blocking - d.errors;
        let mut y = height;
        for (n, colour) in [
            (ok, "#8a8a8a"),
            (d.blocking, "#c0392b"),
            (d.errors, "#e69500"),
        ] {
            if n > 0 {
                let hh = h(n);
                y -= hh;
                svg.push_str(&format!(
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{hh:.1}\" fill=\"{colour}\"><title>{}: {} checks, {} blocking, {} errors</title></rect>",
                    (bar - 1.0).max(1.0),
                    d.day,
                    d.checks,
                    d.blocking,
                    d.errors
                ));
            }
        }
    }
    let first = days.first().map(|d| d.day.to_string()).unwrap_or_default();
    let last = days.last().map(|d| d.day.to_string()).unwrap_or_default();
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {width} {height}")) width="100%" height="80" role="img" aria-label="checks per day" {
            (PreEscaped(svg))
        }
        p.mut { (first) " … " (last) ": grey ok, red blocking, amber error" }
    }
}

pub async fn target(State(state): State<WebState>, Path(name): Path<String>) -> Response {
    let name = match CertName::parse(&name) {
        Ok(n) => n,
        Err(e) => return bad_request(format!("{name:?} is not a certificate name: {e}")),
    };
    let filter = HistoryFilter {
        domain: Some(name.base().clone()),
        wildcard: Some(name.is_wildcard()),
        since: None,
    };
    let read = async {
        let history = state.store.history(&filter).await?;
        let rows = board_rows(&state).await?;
        let reports = state.store.reports().await?;
        let days = state
            .store
            .outcome_days(name.base(), name.is_wildcard(), 365)
            .await?;
        Ok::<_, StoreError>((history, rows, reports, days))
    };
    let (history, rows, reports, days) = match read.await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let shown = name.to_string();
    let rows: Vec<&BoardRow> = rows.iter().filter(|r| r.name == shown).collect();
    if rows.is_empty() && history.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            page(
                "not found",
                html! { p { (shown) " is not a watched name." } },
            ),
        )
            .into_response();
    }
    let findings: Vec<(String, Value)> = reports
        .iter()
        .filter(|r| r.key.cert_name() == shown)
        .filter_map(|r| Some((r.key.ca.clone(), serde_json::from_str(r.report.get()).ok()?)))
        .collect();
    page(
        &shown,
        html! {
            h2 { "Now" }
            table {
                thead { tr { th { "CA" } th { "check" } th { "verdict" } th { "since" } th { "last check" } } }
                tbody {
                    @for r in &rows {
                        tr {
                            td { (r.ca) } td { (r.check) }
                            td class=(if r.blocks { "blocks" } else { "ok" }) { (r.verdict) @if r.blocks { " (blocks)" } }
                            td { (r.since.as_deref().unwrap_or("–")) }
                            td { (r.last_checked.as_deref().unwrap_or("never")) }
                        }
                    }
                }
            }
            h2 { "Findings" }
            @for (ca, report) in &findings {
                @let list = report["findings"].as_array().cloned().unwrap_or_default();
                @if list.is_empty() { p.ok { (ca) ": nothing found" } }
                @for f in &list {
                    @let severity = f["severity"].as_str().unwrap_or("");
                    div {
                        p { strong class=(if severity == "blocking" { "blocks" } else { "warn" }) { (ca) " · " (f["check"].as_str().unwrap_or("")) " · " (severity) } ": " (f["summary"].as_str().unwrap_or("")) }
                        @if let Some(remedy) = f["remedy"].as_str() { pre { "fix: " (remedy) } }
                    }
                }
            }
            h2 { "Checks per day" }
            (chart(&days))
            h2 { "Timeline (newest first)" }
            @if history.is_empty() { p.mut { "no changes recorded" } }
            table {
                tbody {
                    @for e in history.iter().rev() {
                        tr {
                            td { (time(e.at)) }
                            td { (e.ca) " · " (e.check.as_str()) " · " (e.kind) }
                            td class=(if e.blocks { "blocks" } else { "ok" }) {
                                @if let Some(b) = &e.before_status { (b) " → " }
                                (e.after_status)
                            }
                            td { @if e.check == CheckKind::Caa || e.before.is_some() || e.after.is_some() || e.detail.is_some() { (diff_markup(e)) } }
                        }
                    }
                }
            }
            p { a href=(format!("/api/history?domain={}", shown.replace('*', "%2A"))) { "this timeline as JSON" } }
        },
    )
    .into_response()
}

pub async fn orders(State(state): State<WebState>) -> Response {
    let orders = match crate::orders::record::list_orders(state.store.pool()).await {
        Ok(o) => o,
        Err(e) => return unavailable(e),
    };
    page(
        "orders",
        html! {
            @if orders.is_empty() { p.mut { "no orders followed" } }
            @else {
                table {
                    thead { tr { th { "order" } th { "CA" } th { "names" } th { "state" } th { "since" } th { "last poll" } } }
                    tbody {
                        @for o in &orders {
                            tr {
                                td { a href=(format!("/orders/{}", o.id)) { (o.display_name) } }
                                td { (o.ca) } td { (o.names.join(", ")) }
                                td { (o.phase.as_str()) " (" (o.status_label) ")" }
                                td { (time(o.status_since)) } td { (time(o.last_polled)) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

pub async fn order(State(state): State<WebState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return bad_request(format!("{id:?} is not an order number"));
    };
    let pool = state.store.pool();
    let read = async {
        use crate::orders::record;
        let orders = record::list_orders(pool).await?;
        let Some(order) = orders.into_iter().find(|o| o.id == id) else {
            return Ok(None);
        };
        let timeline = record::timeline(pool, id).await?;
        let mut conn = pool
            .acquire()
            .await
            .map_err(|source| record::RecordError::Query {
                what: "reading an order",
                source,
            })?;
        let notices = record::notices_of(&mut conn, id).await?;
        let conditions = record::active_conditions(&mut conn, id).await?;
        Ok::<_, record::RecordError>(Some((order, timeline, notices, conditions)))
    };
    let (order, timeline, notices, conditions) = match read.await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                page("not found", html! { p { "no order " (id) } }),
            )
                .into_response();
        }
        Err(e) => return unavailable(e),
    };
    page(
        &order.display_name,
        html! {
            p { (order.key.source) "/" (order.key.id) " · " (order.ca) " · " (order.names.join(", ")) }
            p { "state: " strong { (order.phase.as_str()) } " (" (order.status_label) ") since " (time(order.status_since)) }
            @if let Some(e) = &order.last_error { p.warn { "last poll error: " (e) } }
            h2 { "What it needs" }
            @if conditions.is_empty() { p.ok { "nothing is wrong as far as certvigil can tell" } }
            @for c in &conditions { p class=(if c.severity == "blocking" { "blocks" } else { "warn" }) { (c.summary) " (since " (time(c.since)) ")" } }
            h2 { "Status timeline" }
            table { tbody {
                @for t in &timeline {
                    tr { td { (time(t.since)) } td { (t.phase.as_str()) } td { (t.label) } td { @if let Some(u) = t.until { "until " (time(u)) } @else { "holds" } } }
                }
            } }
            h2 { "CA notices" }
            @if notices.is_empty() { p.mut { "none recorded" } }
            @for n in &notices { p { (time(n.at)) " · " (format!("{:?}", n.kind)) @if let Some(note) = &n.note { ": " (note) } } }
        },
    )
    .into_response()
}

fn alert_table(entries: &[&OutboxEntry], what: &str) -> Markup {
    html! {
        @if entries.is_empty() { p.mut { "none " (what) } }
        @else {
            table { tbody {
                @for e in entries {
                    tr {
                        td { (time(e.created_at)) }
                        td { (e.kind) " · " a href=(target_link(&e.domain)) { (e.domain) } }
                        td { (e.summary) }
                        td {
                            (e.attempts) " attempts"
                            @if e.status == "pending" || e.status == "sending" { ", next " (time(e.next_attempt_at)) }
                            @if let Some(f) = e.finished_at { ", " (time(f)) }
                            @if let Some(err) = &e.last_error { br; span.warn { (err) } }
                        }
                    }
                }
            } }
        }
    }
}

/// How many outbox rows the alerts page shows (newest first).
const ALERTS_SHOWN: i64 = 500;

pub async fn alerts(State(state): State<WebState>) -> Response {
    let entries = match outbox::all(state.store.pool(), ALERTS_SHOWN).await {
        Ok(e) => e,
        Err(e) => return unavailable(e),
    };
    let mut by_channel: BTreeMap<String, Vec<&OutboxEntry>> = BTreeMap::new();
    for e in &entries {
        by_channel
            .entry(e.channel.as_str().to_string())
            .or_default()
            .push(e);
    }
    page(
        "alerts",
        html! {
            @if by_channel.is_empty() { p.mut { "no alerts yet" } }
            @for (channel, list) in &by_channel {
                @let waiting: Vec<&OutboxEntry> = list.iter().copied().filter(|e| e.status == "pending" || e.status == "sending").collect();
                @let failed: Vec<&OutboxEntry> = list.iter().copied().filter(|e| e.status == "failed").collect();
                @let delivered: Vec<&OutboxEntry> = list.iter().copied().filter(|e| e.status == "delivered").collect();
                h2 { (channel) }
                h3.blocks { "failed (" (failed.len()) ")" } (alert_table(&failed, "failed"))
                h3.warn { "waiting (" (waiting.len()) ")" } (alert_table(&waiting, "waiting"))
                h3.ok { "delivered (" (delivered.len()) ")" } (alert_table(&delivered, "delivered"))
            }
        },
    )
    .into_response()
}
