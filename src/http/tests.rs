//! The helper against a real HTTP/1.1 server on 127.0.0.1 whose answers are
//! scripted per path.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

#[derive(Clone)]
enum Script {
    Body(u16, &'static str),
    Redirect(u16, String),
    /// 200 and endless `x`s, chunked (no Content-Length), until the client
    /// goes away.
    Endless,
    /// 200 announcing a Content-Length of this many octets.
    Announced(u64),
    Hang,
}

struct Server {
    port: u16,
    written: Arc<AtomicU64>,
}

async fn server(script: HashMap<&'static str, Script>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let written = Arc::new(AtomicU64::new(0));
    let script = Arc::new(script);
    let w = written.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (script, written) = (script.clone(), w.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let answer = script
                    .get(path.as_str())
                    .cloned()
                    .unwrap_or(Script::Body(404, "no"));
                let out = match answer {
                    Script::Body(status, body) => format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    Script::Redirect(status, location) => format!(
                        "HTTP/1.1 {status} X\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                    Script::Announced(n) => format!(
                        "HTTP/1.1 200 X\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n"
                    ),
                    Script::Endless => {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 X\r\nTransfer-Encoding: chunked\r\n\r\n")
                            .await;
                        let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "x".repeat(16 * 1024));
                        while stream.write_all(chunk.as_bytes()).await.is_ok() {
                            written.fetch_add(16 * 1024, Ordering::Relaxed);
                        }
                        return;
                    }
                    Script::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                };
                let _ = stream.write_all(out.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Server { port, written }
}

impl Server {
    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}{path}", self.port)).unwrap()
    }
    fn ports(&self) -> Ports {
        Ports {
            http: self.port,
            https: 443,
        }
    }
}

fn plain() -> reqwest::Client {
    client(&ClientOptions::new(
        Duration::from_secs(2),
        Duration::from_secs(10),
    ))
    .unwrap()
}

const LIMITS: Limits = Limits {
    body_cap: 1024,
    total: Duration::from_secs(5),
};

#[tokio::test]
async fn a_small_body_is_read_whole() {
    let s = server(HashMap::from([("/f", Script::Body(200, "token-1"))])).await;
    let got = fetch(
        &plain(),
        Request::get(s.url("/f")),
        &LIMITS,
        Redirects::None,
    )
    .await
    .unwrap();
    assert_eq!((got.status, got.body.as_slice()), (200, &b"token-1"[..]));
    assert_eq!(got.final_url, s.url("/f"));
    assert!(got.chain.is_empty());
}

#[tokio::test]
async fn an_endless_body_stops_at_the_cap_with_a_typed_error() {
    let s = server(HashMap::from([("/big", Script::Endless)])).await;
    let started = std::time::Instant::now();
    let err = fetch(
        &plain(),
        Request::get(s.url("/big")),
        &LIMITS,
        Redirects::None,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            HttpError::BodyTooLarge {
                cap: 1024,
                status: 200,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("body larger than 1024 bytes"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // The server is stopped by the closed connection, not by a read to the
    // end: what it wrote is bounded by socket buffers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let written = s.written.load(Ordering::Relaxed);
    assert!(written < 64 * 1024 * 1024, "{written}");
}

#[tokio::test]
async fn an_announced_length_over_the_cap_is_refused_before_reading() {
    let s = server(HashMap::from([("/big", Script::Announced(1_500_000_000))])).await;
    let err = fetch(
        &plain(),
        Request::get(s.url("/big")),
        &LIMITS,
        Redirects::None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, HttpError::BodyTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn validation_redirects_are_followed_and_recorded() {
    let s = server(HashMap::new()).await;
    let s2 = server(HashMap::from([
        ("/a", Script::Redirect(301, "/b".into())),
        ("/b", Script::Redirect(308, "/c".into())),
        ("/c", Script::Body(200, "ok")),
    ]))
    .await;
    drop(s);
    let got = fetch(
        &plain(),
        Request::get(s2.url("/a")),
        &LIMITS,
        Redirects::Validation {
            ports: s2.ports(),
            max_hops: 10,
        },
    )
    .await
    .unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(got.final_url, s2.url("/c"));
    let chain: Vec<(String, u16)> = got
        .chain
        .iter()
        .map(|h| (h.url.path().to_string(), h.status))
        .collect();
    assert_eq!(chain, [("/a".to_string(), 301), ("/b".to_string(), 308)]);
}

#[tokio::test]
async fn a_redirect_loop_is_an_error() {
    let s = server(HashMap::from([
        ("/a", Script::Redirect(302, "/b".into())),
        ("/b", Script::Redirect(302, "/a".into())),
    ]))
    .await;
    let err = fetch(
        &plain(),
        Request::get(s.url("/a")),
        &LIMITS,
        Redirects::Validation {
            ports: s.ports(),
            max_hops: 10,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, HttpError::RedirectLoop { .. }), "{err:?}");
}

#[tokio::test]
async fn redirects_the_rules_forbid_are_not_followed() {
    let s = server(HashMap::from([
        ("/303", Script::Redirect(303, "/ok".into())),
        (
            "/port",
            Script::Redirect(301, "http://127.0.0.1:9/ok".into()),
        ),
        ("/ftp", Script::Redirect(301, "ftp://127.0.0.1/ok".into())),
        ("/ok", Script::Body(200, "ok")),
    ]))
    .await;
    for (path, expected) in [
        ("/303", RedirectViolation::Status { status: 303 }),
        ("/port", RedirectViolation::Port { port: 9 }),
        (
            "/ftp",
            RedirectViolation::Scheme {
                scheme: "ftp".into(),
            },
        ),
    ] {
        let err = fetch(
            &plain(),
            Request::get(s.url(path)),
            &LIMITS,
            Redirects::Validation {
                ports: s.ports(),
                max_hops: 10,
            },
        )
        .await
        .unwrap_err();
        match err {
            HttpError::RedirectRefused { violation, .. } => assert_eq!(violation, expected),
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_hop_limit_holds() {
    let s = server(HashMap::from([
        ("/1", Script::Redirect(301, "/2".into())),
        ("/2", Script::Redirect(301, "/3".into())),
        ("/3", Script::Redirect(301, "/4".into())),
        ("/4", Script::Body(200, "ok")),
    ]))
    .await;
    let redirects = Redirects::Validation {
        ports: s.ports(),
        max_hops: 2,
    };
    let err = fetch(&plain(), Request::get(s.url("/1")), &LIMITS, redirects)
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::TooManyRedirects { max: 2, .. }),
        "{err:?}"
    );
    let got = fetch(&plain(), Request::get(s.url("/2")), &LIMITS, redirects)
        .await
        .unwrap();
    assert_eq!(got.chain.len(), 2);
}

#[tokio::test]
async fn without_a_policy_a_redirect_is_the_answer() {
    let s = server(HashMap::from([("/r", Script::Redirect(307, "/x".into()))])).await;
    let got = fetch(
        &plain(),
        Request::get(s.url("/r")),
        &LIMITS,
        Redirects::None,
    )
    .await
    .unwrap();
    assert_eq!(got.status, 307);
    assert_eq!(got.location().as_deref(), Some("/x"));
}

#[tokio::test]
async fn a_silent_server_ends_at_the_total_deadline() {
    let s = server(HashMap::from([("/h", Script::Hang)])).await;
    let limits = Limits {
        body_cap: 1024,
        total: Duration::from_millis(300),
    };
    let started = std::time::Instant::now();
    let err = fetch(
        &plain(),
        Request::get(s.url("/h")),
        &limits,
        Redirects::None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn errors_never_show_a_password_of_the_url() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = Url::parse(&format!("http://u:PASS@127.0.0.1:{port}/v1/probe")).unwrap();
    let err = fetch(&plain(), Request::get(url), &LIMITS, Redirects::None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), FailureKind::Refused, "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("PASS"), "{text}");
    assert!(text.contains("u:[redacted]@127.0.0.1"), "{text}");
}
