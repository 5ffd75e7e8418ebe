//! A web site for reachability tests: a real HTTP/1.1 server and a real
//! HTTPS server (self-signed certificate, as CAs ignore certificate errors
//! for file validation) with scripted answers per path: serve a file,
//! redirect, send a huge body, or accept and never answer.
//!
//! It runs on its own thread with its own single-threaded runtime, so it
//! can live inside a network namespace: [`TestSite::start_in`] moves that
//! thread into the namespace (setns) before binding, and every socket it
//! opens belongs there.
// Each test binary uses part of the bench.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the site answers for a path.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `status` with `body`.
    File { status: u16, body: String },
    /// `status` with `Location: location`.
    Redirect { status: u16, location: String },
    /// 200 with a body of `bytes` octets, sent as fast as it is read.
    Huge { bytes: usize },
    /// Reads the request and never answers.
    Hang,
}

/// One request received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub https: bool,
    pub path: String,
    pub peer: SocketAddr,
}

pub struct TestSite {
    pub http: SocketAddr,
    pub https: SocketAddr,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    hits: Arc<Mutex<Vec<Hit>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestSite {
    /// On 127.0.0.1, ports chosen by the system.
    pub fn start(name: &str) -> Self {
        Self::start_in(
            None,
            name,
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .expect("the test site starts on loopback")
    }

    /// In network namespace `netns` (a name under /var/run/netns) when
    /// given, listening on the two addresses.
    pub fn start_in(
        netns: Option<&str>,
        name: &str,
        http: SocketAddr,
        https: SocketAddr,
    ) -> io::Result<Self> {
        let answers: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let (ready_tx, ready_rx) =
            std::sync::mpsc::channel::<io::Result<(SocketAddr, SocketAddr)>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let tls = tls_acceptor(name);
        let netns = netns.map(str::to_string);
        let (a, h) = (answers.clone(), hits.clone());
        let thread = std::thread::spawn(move || {
            if let Some(ns) = &netns
                && let Err(e) = super::netns::enter(ns)
            {
                let _ = ready_tx.send(Err(e));
                return;
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds");
            rt.block_on(async move {
                let bound = async {
                    let l1 = TcpListener::bind(http).await?;
                    let l2 = TcpListener::bind(https).await?;
                    Ok::<_, io::Error>((l1, l2))
                }
                .await;
                let (l1, l2) = match bound {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok((l1.local_addr().unwrap(), l2.local_addr().unwrap())));
                let serve_http = accept_loop(l1, None, a.clone(), h.clone());
                let serve_https = accept_loop(l2, Some(tls), a, h);
                tokio::select! {
                    _ = serve_http => {}
                    _ = serve_https => {}
                    _ = stop_rx => {}
                }
            });
        });
        let (http, https) = ready_rx
            .recv()
            .map_err(|_| io::Error::other("the site thread ended before binding"))??;
        Ok(Self {
            http,
            https,
            answers,
            hits,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn answer(&self, path: &str, answer: Answer) {
        self.answers
            .lock()
            .unwrap()
            .insert(path.to_string(), answer);
    }

    pub fn serve(&self, path: &str, body: &str) {
        self.answer(
            path,
            Answer::File {
                status: 200,
                body: body.to_string(),
            },
        );
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for TestSite {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn tls_acceptor(name: &str) -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls;
    let certified = rcgen::generate_simple_self_signed(vec![name.to_string()])
        .expect("rcgen makes a self-signed certificate");
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("the generated key matches its certificate");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    hits: Arc<Mutex<Vec<Hit>>>,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let (tls, answers, hits) = (tls.clone(), answers.clone(), hits.clone());
        tokio::spawn(async move {
            match tls {
                None => handle(stream, false, peer, answers, hits).await,
                Some(acceptor) => {
                    if let Ok(s) = acceptor.accept(stream).await {
                        handle(s, true, peer, answers, hits).await;
                    }
                }
            }
        });
    }
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    https: bool,
    peer: SocketAddr,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    hits: Arc<Mutex<Vec<Hit>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 16 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let target = text.split_whitespace().nth(1).unwrap_or("/").to_string();
    let path = target.split('?').next().unwrap_or("/").to_string();
    hits.lock().unwrap().push(Hit {
        https,
        path: path.clone(),
        peer,
    });
    let answer = answers
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or(Answer::File {
            status: 404,
            body: "not found".into(),
        });
    let head = |status: u16, extra: &str, len: usize| {
        format!(
            "HTTP/1.1 {status} Scripted\r\n{extra}Content-Length: {len}\r\nConnection: close\r\n\r\n"
        )
    };
    match answer {
        Answer::File { status, body } => {
            let _ = stream
                .write_all(format!("{}{body}", head(status, "", body.len())).as_bytes())
                .await;
        }
        Answer::Redirect { status, location } => {
            let _ = stream
                .write_all(head(status, &format!("Location: {location}\r\n"), 0).as_bytes())
                .await;
        }
        Answer::Huge { bytes } => {
            if stream
                .write_all(head(200, "", bytes).as_bytes())
                .await
                .is_err()
            {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len());
                if stream.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                left -= n;
            }
        }
        Answer::Hang => {
            // Hold the connection open until the client gives up.
            let _ = stream.read(&mut buf).await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
    let _ = stream.shutdown().await;
}
