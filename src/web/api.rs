//! `/api/`: the CLI's `--format json` shapes (JSON Lines, one object a
//! line), printed by the very functions the CLI uses (`super::json`).

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::WebState;
use super::json::{render_json_full, time, to_json};
use super::model::StatusModel;
use super::pages::{Filter, bad_request, unavailable};
use crate::alert::outbox;
use crate::domain::CertName;
use crate::store::HistoryFilter;

fn lines(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/jsonl; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `certvigil status --format json`, filtered by `?domain=&verdict=`
/// (a filtered answer has the targets' lines only).
pub async fn status(State(state): State<WebState>, Query(f): Query<Filter>) -> Response {
    let mut model = match StatusModel::read(&state.store).await {
        Ok(m) => m,
        Err(e) => return unavailable(e),
    };
    let wanted = |s: &Option<String>, v: &str| {
        s.as_deref()
            .map(str::trim)
            .is_none_or(|s| s.is_empty() || s.eq_ignore_ascii_case(v))
    };
    model.rows.retain(|r| {
        let name = super::json::cert_name(&r.domain, r.wildcard);
        f.domain
            .as_deref()
            .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
            .is_none_or(|d| d.is_empty() || name == d || name.ends_with(&format!(".{d}")))
            && wanted(&f.verdict, r.status.map_or("", |s| s.as_str()))
    });
    let body = if f.domain.is_none() && f.verdict.is_none() {
        model.render_json(&state.settings().risks)
    } else {
        render_json_full(
            &model.rows,
            &model.reach,
            &state.settings().risks,
            &model.reports,
        )
    };
    lines(body)
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    pub domain: Option<String>,
    pub since: Option<String>,
}

/// `certvigil history [DOMAIN] [--since] --format json`.
pub async fn history(State(state): State<WebState>, Query(q): Query<HistoryQuery>) -> Response {
    let name = match q
        .domain
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(CertName::parse)
    {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => return bad_request(format!("domain: {e}")),
    };
    let since = match q
        .since
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(super::json::parse_since)
    {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return bad_request(format!("since: {e}")),
    };
    let filter = HistoryFilter {
        domain: name.as_ref().map(|n| n.base().clone()),
        wildcard: name.as_ref().and_then(|n| n.is_wildcard().then_some(true)),
        since,
    };
    match state.store.history(&filter).await {
        Ok(entries) => lines(
            entries
                .iter()
                .map(|e| format!("{}\n", to_json(e)))
                .collect(),
        ),
        Err(e) => unavailable(e),
    }
}

/// The outbox, newest first: one object per alert.
pub async fn alerts(State(state): State<WebState>) -> Response {
    match outbox::all(state.store.pool(), 500).await {
        Ok(entries) => lines(
            entries
                .iter()
                .map(|e| {
                    format!(
                        "{}\n",
                        json!({
                            "id": e.id,
                            "channel": e.channel.as_str(),
                            "event": e.kind,
                            "domain": e.domain,
                            "severity": e.severity,
                            "summary": e.summary,
                            "status": e.status,
                            "attempts": e.attempts,
                            "created_at": time(e.created_at),
                            "next_attempt_at": time(e.next_attempt_at),
                            "finished_at": e.finished_at.map(time),
                            "last_error": e.last_error,
                        })
                    )
                })
                .collect(),
        ),
        Err(e) => unavailable(e),
    }
}
