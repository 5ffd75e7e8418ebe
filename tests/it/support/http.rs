//! A real HTTP/1.1 server on 127.0.0.1 for webhook tests: it records every
//! request and answers with scripted statuses (e.g. 500, then 200), so a
//! test can check bodies, headers and signatures, and retries.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request as received.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub method: String,
    /// Path and query, as on the request line.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    /// The decoded query parameters.
    pub fn query(&self) -> Vec<(String, String)> {
        let url = reqwest::Url::parse(&format!("http://x{}", self.target)).unwrap();
        url.query_pairs().into_owned().collect()
    }
}

/// Reads one HTTP/1.1 request: the request line, the headers up to the blank
/// line, and a body of `Content-Length` octets. `None` when the client
/// closed the connection instead of sending another request. Shared by the
/// loopback servers here and the provider mocks.
pub async fn read_request(
    reader: &mut (impl AsyncBufRead + Unpin),
) -> std::io::Result<Option<ReceivedRequest>> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).await?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut request = ReceivedRequest {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let len: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    request.body = vec![0; len];
    reader.read_exact(&mut request.body).await?;
    Ok(Some(request))
}

/// What the server answers: status, extra headers, body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![],
            body: body.into(),
        }
    }
}

#[derive(Default)]
struct State {
    received: Vec<ReceivedRequest>,
    script: VecDeque<Reply>,
}

#[derive(Clone)]
pub struct HttpReceiver {
    pub port: u16,
    state: Arc<Mutex<State>>,
    fallback: Reply,
}

impl HttpReceiver {
    /// Answers `script` in order, then `fallback` forever.
    pub async fn start(script: Vec<Reply>, fallback: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            received: vec![],
            script: script.into(),
        }));
        let me = Self {
            port,
            state,
            fallback,
        };
        let server = me.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let server = server.clone();
                tokio::spawn(async move {
                    let _ = server.serve(stream).await;
                });
            }
        });
        me
    }

    /// Always 200 with `ok_body`.
    pub async fn ok(ok_body: &str) -> Self {
        Self::start(vec![], Reply::new(200, ok_body)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until at least `n` requests arrived (the limit only stops a
    /// broken test from hanging).
    pub async fn wait_for(&self, n: usize) -> Vec<ReceivedRequest> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} requests, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn serve(&self, stream: tokio::net::TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream);
        let Some(request) = read_request(&mut reader).await? else {
            return Ok(());
        };
        let reply = {
            let mut st = self.state.lock().unwrap();
            st.received.push(request);
            st.script
                .pop_front()
                .unwrap_or_else(|| self.fallback.clone())
        };
        let mut out = format!(
            "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&reply.body);
        let mut stream = reader.into_inner();
        stream.write_all(out.as_bytes()).await?;
        stream.shutdown().await
    }
}

/// A server that answers every request with `status` and a body of
/// `total` octets generated on the fly (never held in memory), chunked so
/// no `Content-Length` warns the client, counting the octets it managed to
/// write before the client went away.
pub struct Flood {
    pub port: u16,
    written: Arc<std::sync::atomic::AtomicU64>,
}

impl Flood {
    pub async fn start(status: u16, total: u64) -> Self {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = written.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    if read_request(&mut reader).await.ok().flatten().is_none() {
                        return;
                    }
                    let mut stream = reader.into_inner();
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                    );
                    if stream.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    const CHUNK: usize = 64 * 1024;
                    let framed = format!("{CHUNK:x}\r\n{}\r\n", "x".repeat(CHUNK));
                    let mut left = total;
                    while left >= CHUNK as u64 {
                        if stream.write_all(framed.as_bytes()).await.is_err() {
                            return;
                        }
                        counter.fetch_add(CHUNK as u64, Ordering::Relaxed);
                        left -= CHUNK as u64;
                    }
                    let _ = stream.write_all(b"0\r\n\r\n").await;
                });
            }
        });
        Self { port, written }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Octets of body written so far.
    pub fn written(&self) -> u64 {
        self.written.load(std::sync::atomic::Ordering::Relaxed)
    }
}
