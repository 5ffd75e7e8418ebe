//! A small SOCKS5 proxy on 127.0.0.1 (RFC 1928, no authentication, CONNECT
//! only), as Dante or `ssh -D` would serve. It resolves names from its own
//! table, as a proxy abroad would; it records what each client asked to
//! reach, so a test can tell a name (`socks5h://`) from an address handed
//! over by the client (`socks5://`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with a CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocksMode {
    /// Connects to the destination (names from its table).
    Forward,
    /// Replies "general SOCKS server failure" (status 1) to every request:
    /// a broken proxy.
    GeneralFailure,
}

pub struct TestSocks {
    pub addr: SocketAddr,
    names: Arc<Mutex<HashMap<String, IpAddr>>>,
    /// Destinations asked for: `name:port` or `ip:port`.
    pub asked: Arc<Mutex<Vec<String>>>,
}

impl TestSocks {
    pub async fn start(mode: SocksMode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let names: Arc<Mutex<HashMap<String, IpAddr>>> = Arc::default();
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let (n, a) = (names.clone(), asked.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(stream, mode, n.clone(), a.clone()));
            }
        });
        Self { addr, names, asked }
    }

    pub fn resolve(&self, name: &str, ip: IpAddr) {
        self.names.lock().unwrap().insert(name.to_string(), ip);
    }

    /// `socks5://` (the client resolves) or `socks5h://` (the proxy does).
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

async fn reply(client: &mut TcpStream, status: u8) -> std::io::Result<()> {
    client.write_all(&[5, status, 0, 1, 0, 0, 0, 0, 0, 0]).await
}

async fn serve(
    mut client: TcpStream,
    mode: SocksMode,
    names: Arc<Mutex<HashMap<String, IpAddr>>>,
    asked: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await?;
    let mut methods = vec![0u8; head[1] as usize];
    client.read_exact(&mut methods).await?;
    client.write_all(&[5, 0]).await?;
    let mut req = [0u8; 4];
    client.read_exact(&mut req).await?;
    let host = match req[3] {
        1 => {
            let mut o = [0u8; 4];
            client.read_exact(&mut o).await?;
            Ipv4Addr::from(o).to_string()
        }
        4 => {
            let mut o = [0u8; 16];
            client.read_exact(&mut o).await?;
            Ipv6Addr::from(o).to_string()
        }
        _ => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await?;
            let mut name = vec![0u8; len[0] as usize];
            client.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).to_string()
        }
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await?;
    let port = u16::from_be_bytes(port);
    asked.lock().unwrap().push(format!("{host}:{port}"));
    if mode == SocksMode::GeneralFailure {
        return reply(&mut client, 1).await;
    }
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => names.lock().unwrap().get(&host).copied(),
    };
    let Some(ip) = ip else {
        return reply(&mut client, 4).await; // host unreachable
    };
    let Ok(mut upstream) = TcpStream::connect((ip, port)).await else {
        return reply(&mut client, 5).await; // connection refused
    };
    reply(&mut client, 0).await?;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    Ok(())
}
