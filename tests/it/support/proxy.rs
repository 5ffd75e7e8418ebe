//! A small forward HTTP proxy on 127.0.0.1 for the proxy vantage point: it
//! tunnels `CONNECT host:port` (https) and forwards absolute-form requests
//! (`GET http://host:port/path`, plain http), as Squid or tinyproxy do.
//! It resolves names from its own table, as a proxy abroad resolves them
//! with its own DNS; a name it does not know gets 502 (CONNECT) or
//! 502 Bad Gateway (plain http), like a real proxy that cannot connect.
// Each test binary uses part of the bench.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct TestProxy {
    pub addr: SocketAddr,
    names: Arc<Mutex<HashMap<String, IpAddr>>>,
    /// Request lines seen (`CONNECT shop.test:443 HTTP/1.1`, ...).
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl TestProxy {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let names: Arc<Mutex<HashMap<String, IpAddr>>> = Arc::default();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (n, s) = (names.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(stream, n.clone(), s.clone()));
            }
        });
        Self { addr, names, seen }
    }

    pub fn resolve(&self, name: &str, ip: IpAddr) {
        self.names.lock().unwrap().insert(name.to_string(), ip);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn serve(
    mut client: TcpStream,
    names: Arc<Mutex<HashMap<String, IpAddr>>>,
    seen: Arc<Mutex<Vec<String>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let line = text.lines().next().unwrap_or_default().to_string();
    seen.lock().unwrap().push(line.clone());
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (authority, rest) = if method == "CONNECT" {
        (target.to_string(), String::new())
    } else {
        let without = target.strip_prefix("http://").unwrap_or(target);
        let (auth, path) = without.split_at(without.find('/').unwrap_or(without.len()));
        (
            auth.to_string(),
            if path.is_empty() {
                "/".to_string()
            } else {
                path.to_string()
            },
        )
    };
    let (host, port) = authority
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.parse::<u16>().unwrap_or(80)))
        .unwrap_or((authority.clone(), 80));
    let ip = names.lock().unwrap().get(&host).copied();
    let upstream = match ip {
        Some(ip) => TcpStream::connect((ip, port)).await.ok(),
        None => None,
    };
    let Some(mut upstream) = upstream else {
        let _ = client
            .write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        return;
    };
    if method == "CONNECT" {
        if client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    } else {
        // Origin-form towards the site, the rest of the head unchanged.
        let rewritten = text.replacen(target, &rest, 1);
        if upstream.write_all(rewritten.as_bytes()).await.is_err() {
            return;
        }
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
