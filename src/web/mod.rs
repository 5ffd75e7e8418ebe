//! The read-only web interface the daemon serves when `[web] listen` is
//! set: a status board, target pages with their timeline and record diffs,
//! orders and alerts (server-rendered HTML, no script, everything embedded),
//! the same data as JSON under `/api/` (the CLI's `--format json` shapes,
//! from `json`), and `/metrics` for Prometheus. Nothing here changes state.
//!
//! It runs on the daemon's runtime and reads the daemon's store.

pub mod api;
pub mod auth;
pub mod json;
pub mod metrics;
pub mod model;
pub mod pages;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use thiserror::Error;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::checks::risk::RiskAssessment;
use crate::config::{SecretError, WebConfig, needs_token};
use crate::store::Store;

#[derive(Debug, Error)]
pub enum WebError {
    #[error("cannot listen for the web interface on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the web interface on {0} needs a token (it is not a loopback address, or require_token is set): set token_file under [web]"
    )]
    NoToken(SocketAddr),
    #[error("cannot read the web interface's token: {0}")]
    Token(#[from] SecretError),
    #[error("the web interface's token file is empty")]
    EmptyToken,
}

/// What a reload may change while the listener stays: the token and the
/// risk of the configured names.
#[derive(Default)]
pub struct WebSettings {
    /// `Some`: every request must carry it.
    pub token: Option<Arc<String>>,
    /// Manual-review risk of the configured names (from the config).
    pub risks: Arc<BTreeMap<String, RiskAssessment>>,
}

/// What every handler reads.
#[derive(Clone)]
pub struct WebState {
    pub store: Store,
    /// Replaced whole by a reload (`WebServer::reload`); a request reads
    /// it once, under a read lock held for a clone of two `Arc`s.
    settings: Arc<RwLock<Arc<WebSettings>>>,
}

impl WebState {
    pub fn new(store: Store, settings: WebSettings) -> Self {
        Self {
            store,
            settings: Arc::new(RwLock::new(Arc::new(settings))),
        }
    }

    pub fn settings(&self) -> Arc<WebSettings> {
        // Replacing an Arc cannot leave it half-written: a poisoned lock
        // still holds a whole value.
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn replace(&self, settings: WebSettings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
    }
}

/// Security headers on every answer: no script at all, no framing, no
/// type sniffing, no referrer leaking a target name to elsewhere.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // A status board of many targets is a few MiB of HTML, freed once sent.
    crate::memory::trim_soon();
    response
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "404: no such page; the pages are /, /target/NAME, /orders, /alerts, /metrics and /api/\n",
    )
        .into_response()
}

/// OpenMetrics to a scraper that asks for it, else the classic text format.
async fn metrics(
    axum::extract::State(state): axum::extract::State<WebState>,
    headers: axum::http::HeaderMap,
) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    match metrics::render(&state.store).await {
        Ok(text) if openmetrics => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            metrics::to_prometheus_text(&text),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("503: {e}\n")).into_response(),
    }
}

/// Every route. GET only: a POST or anything else gets 405.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(pages::board))
        .route("/target/{name}", get(pages::target))
        .route("/orders", get(pages::orders))
        .route("/orders/{id}", get(pages::order))
        .route("/alerts", get(pages::alerts))
        .route("/style.css", get(pages::style))
        .route("/metrics", get(metrics))
        .route("/api/status", get(api::status))
        .route("/api/history", get(api::history))
        .route("/api/alerts", get(api::alerts))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), auth::require))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// A running web listener.
pub struct WebServer {
    /// Where it listens (the port the system chose for port 0).
    pub addr: SocketAddr,
    /// `[web] listen` as configured: a reload with the same one keeps the
    /// listener.
    configured: SocketAddr,
    state: WebState,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// `[web] listen` and the token, checked and read: everything about a
/// `[web]` that can fail before a socket is touched.
fn prepare(
    config: &WebConfig,
    risks: BTreeMap<String, RiskAssessment>,
) -> Result<Option<(SocketAddr, WebSettings)>, WebError> {
    let Some(addr) = config.listen else {
        return Ok(None);
    };
    let token = match &config.token {
        Some(source) => {
            let secret = source.read()?;
            let token = secret.expose().trim().to_string();
            if token.is_empty() {
                return Err(WebError::EmptyToken);
            }
            Some(Arc::new(token))
        }
        None if needs_token(addr, config.require_token) => {
            return Err(WebError::NoToken(addr));
        }
        None => None,
    };
    let settings = WebSettings {
        token,
        risks: Arc::new(risks),
    };
    Ok(Some((addr, settings)))
}

impl WebServer {
    /// Binds `[web] listen` and serves until [`WebServer::shutdown`].
    /// `Ok(None)` when the web interface is off.
    pub async fn start(
        config: &WebConfig,
        store: Store,
        risks: BTreeMap<String, RiskAssessment>,
    ) -> Result<Option<WebServer>, WebError> {
        match prepare(config, risks)? {
            Some((addr, settings)) => Self::serve(addr, WebState::new(store, settings))
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    async fn serve(configured: SocketAddr, state: WebState) -> Result<WebServer, WebError> {
        let listener = tokio::net::TcpListener::bind(configured)
            .await
            .map_err(|source| WebError::Bind {
                addr: configured,
                source,
            })?;
        let addr = listener.local_addr().unwrap_or(configured);
        let app = router(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("the web interface stopped: {e}");
            }
        });
        tracing::info!(%addr, "web interface listening");
        Ok(WebServer {
            addr,
            configured,
            state,
            stop,
            task,
        })
    }

    /// Applies a reloaded `[web]` to `running` without a restart: the same
    /// `listen` keeps its listener and takes the new token and risks at
    /// once; another address is bound first and then the old listener
    /// closed (so a refused bind leaves the old one serving); no `listen`
    /// stops it. On `Err`, `running` is as it was, with one exception:
    /// a new address whose port only the old listener held (another IP,
    /// same port) is bound after the old one is closed, and if that bind
    /// fails too the interface stays off until the next reload.
    pub async fn reload(
        running: &mut Option<WebServer>,
        config: &WebConfig,
        store: Store,
        risks: BTreeMap<String, RiskAssessment>,
    ) -> Result<(), WebError> {
        let wanted = prepare(config, risks)?;
        match (running.take(), wanted) {
            (None, None) => {}
            (Some(old), None) => {
                tracing::info!(addr = %old.addr, "web interface stopped by a reload");
                old.shutdown().await;
            }
            (Some(old), Some((addr, settings))) if old.configured == addr => {
                old.state.replace(settings);
                *running = Some(old);
            }
            (old, Some((addr, settings))) => {
                let state = WebState::new(store, settings);
                match Self::serve(addr, state.clone()).await {
                    Ok(new) => {
                        if let Some(old) = old {
                            old.shutdown().await;
                        }
                        *running = Some(new);
                    }
                    // The old listener itself may hold the port.
                    Err(WebError::Bind { source, .. })
                        if source.kind() == std::io::ErrorKind::AddrInUse
                            && old.as_ref().is_some_and(|o| o.addr.port() == addr.port()) =>
                    {
                        if let Some(old) = old {
                            old.shutdown().await;
                        }
                        *running = Some(Self::serve(addr, state).await?);
                    }
                    Err(e) => {
                        *running = old;
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Stops accepting, lets requests in flight finish for up to a second.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.task).await;
    }
}
