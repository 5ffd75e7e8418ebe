//! One query to one name server over real sockets: UDP first, TCP when the
//! UDP answer is truncated (RFC 1035 §4.2.1, RFC 7766 §5).
//!
//! Each UDP query gets a socket of its own, bound by the OS to a port drawn
//! at random from the whole ephemeral range and connected to the server, so
//! the kernel drops datagrams from any other address (RFC 5452 §9.2, §10),
//! and a random ID (§4.1, §9.1). A socket is never reused: a port an
//! attacker learns (say, from a query to a zone of theirs) is worth nothing
//! for the next query. Issue 13 measured the earlier shared pool at 160
//! distinct ports over 16,688 queries (7.3 bits); one port per query gives
//! the range's log2(28,232) = 14.8 bits on a default Linux.
//! The answer must carry the query's ID and question (§4.1); datagrams that
//! fail those checks are ignored, not trusted, and the wait goes on until
//! the deadline.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use super::wire::{self, CLASS_IN, Response};
use crate::domain::DomainName;

/// How many receive buffers a stock keeps at most (about the queries in
/// flight at a default `concurrency`; more is just memory).
const KEPT_BUFFERS: usize = 64;

/// The largest datagram, so an oversized answer is read whole and judged
/// rather than cut by us. Reserved, not zeroed.
const RECEIVE_BUFFER: usize = 65_535;

/// Receive buffers of finished queries, for the next ones: a 64 KiB
/// buffer per query was a malloc and a free each. One stock per set of
/// sockets (`DnsHandle`), emptied when a cycle ends ([`Buffers::release`]):
/// the thread-local stocks before could not be emptied from another
/// thread, and idle they pinned up to 4 MiB per worker thread.
#[derive(Default)]
pub(crate) struct Buffers(std::sync::Mutex<Vec<Vec<u8>>>);

impl Buffers {
    fn stock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // A panic cannot leave a Vec of buffers inconsistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the kept buffers (idle, nothing is received). Buffers of
    /// queries still in flight come back to the stock when those end.
    pub(crate) fn release(&self) {
        *self.stock() = Vec::new();
    }

    /// How many buffers are kept now.
    pub(crate) fn kept(&self) -> usize {
        self.stock().len()
    }

    fn take(&self) -> Buffer<'_> {
        let kept = self.stock().pop();
        Buffer {
            buf: kept.unwrap_or_else(|| Vec::with_capacity(RECEIVE_BUFFER)),
            stock: self,
        }
    }
}

/// A receive buffer from a stock, back to it when dropped.
struct Buffer<'a> {
    buf: Vec<u8>,
    stock: &'a Buffers,
}

impl Drop for Buffer<'_> {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut stock = self.stock.stock();
        if stock.len() < KEPT_BUFFERS {
            stock.push(buf);
        }
    }
}

/// Why an exchange with one server produced no response to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExchangeError {
    Timeout,
    Malformed(String),
    Network(String),
}

/// The response of one server, and whether it came over TCP.
pub(crate) struct Exchanged {
    pub response: Response,
    pub over_tcp: bool,
}

/// Sends one query to `server` and waits at most `timeout` for the UDP
/// answer, then (if it is truncated) at most `timeout` again for the TCP one.
pub(crate) async fn exchange(
    server: SocketAddr,
    name: &DomainName,
    rtype: RecordType,
    edns: bool,
    timeout: Duration,
    buffers: &Buffers,
) -> Result<Exchanged, ExchangeError> {
    let expected = wire::Question {
        name: name.as_str().to_string(),
        rtype: u16::from(rtype),
        class: CLASS_IN,
    };
    let response = udp(server, name, rtype, edns, &expected, timeout, buffers).await?;
    if !response.head.truncated {
        return Ok(Exchanged {
            response,
            over_tcp: false,
        });
    }
    // RFC 7766 §5: a truncated answer is retried over TCP, with a new ID so
    // a late UDP datagram can never be mistaken for it.
    let id: u16 = rand::random();
    let query = wire::encode_query(id, name, rtype, edns);
    let response = tcp(server, &query, id, &expected, timeout).await?;
    Ok(Exchanged {
        response,
        over_tcp: true,
    })
}

/// Whether a decoded response answers our question. A server may omit the
/// question from an error response (RFC 1035 §4.1.2 does not require it,
/// and some do for FORMERR/NOTIMP), so that is accepted for error codes only.
fn answers_question(response: &Response, expected: &wire::Question) -> bool {
    match &response.head.question {
        Some(q) => q == expected,
        None => !matches!(response.rcode, 0 | 3),
    }
}

async fn udp(
    server: SocketAddr,
    name: &DomainName,
    rtype: RecordType,
    edns: bool,
    expected: &wire::Question,
    timeout: Duration,
    buffers: &Buffers,
) -> Result<Response, ExchangeError> {
    let deadline = Instant::now() + timeout;
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let opened = async {
        // Port 0: the kernel draws a free port at random from the whole
        // ephemeral range (net.ipv4.ip_local_port_range).
        let socket = UdpSocket::bind(local).await?;
        socket.connect(server).await?;
        Ok::<_, std::io::Error>(socket)
    };
    let socket = opened.await.map_err(|e| {
        ExchangeError::Network(format!("cannot open a UDP socket to {server}: {e}"))
    })?;
    let id: u16 = rand::random();
    let query = wire::encode_query(id, name, rtype, edns);
    let exchange = async {
        socket.send(&query).await.map_err(|e| {
            ExchangeError::Network(format!("cannot send to {server} over UDP: {e}"))
        })?;
        let mut buf = buffers.take();
        loop {
            buf.buf.clear();
            // A receive error on a connected UDP socket is the server's (an
            // ICMP port or host unreachable, RFC 1122 §4.1.3.3).
            let len = socket
                .recv_buf(&mut buf.buf)
                .await
                .map_err(|e| ExchangeError::Network(format!("no UDP answer from {server}: {e}")))?;
            let datagram = &buf.buf[..len];
            if wire::peek_id(datagram) != Some(id) {
                continue;
            }
            match wire::decode_response(datagram) {
                Ok(response) if !response.head.is_response => continue,
                Ok(response) if !answers_question(&response, expected) => continue,
                Ok(response) => return Ok(response),
                // The ID matched, so this is most likely the server's
                // answer, broken; waiting on would turn it into a
                // misleading timeout.
                Err(e) => return Err(ExchangeError::Malformed(e.0)),
            }
        }
    };
    timeout_at(deadline, exchange)
        .await
        .map_err(|_| ExchangeError::Timeout)?
}

async fn tcp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    expected: &wire::Question,
    timeout: Duration,
) -> Result<Response, ExchangeError> {
    let deadline = Instant::now() + timeout;
    let exchange = async {
        let mut stream = TcpStream::connect(server).await.map_err(|e| {
            ExchangeError::Network(format!("cannot connect to {server} over TCP: {e}"))
        })?;
        // RFC 1035 §4.2.2: each message is prefixed with its length.
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
        framed.extend_from_slice(query);
        let io = |e: std::io::Error| {
            ExchangeError::Network(format!("TCP exchange with {server} failed: {e}"))
        };
        stream.write_all(&framed).await.map_err(io)?;
        let len = stream.read_u16().await.map_err(io)?;
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await.map_err(io)?;
        Ok::<_, ExchangeError>(buf)
    };
    let buf = timeout_at(deadline, exchange)
        .await
        .map_err(|_| ExchangeError::Timeout)??;
    // Over TCP the connection is ours alone, so a wrong ID or question is
    // not a stray datagram to skip but a broken server.
    if wire::peek_id(&buf) != Some(id) {
        return Err(ExchangeError::Malformed(format!(
            "the TCP answer from {server} carries another query's ID"
        )));
    }
    let response = wire::decode_response(&buf).map_err(|e| ExchangeError::Malformed(e.0))?;
    if !response.head.is_response || !answers_question(&response, expected) {
        return Err(ExchangeError::Malformed(format!(
            "the TCP answer from {server} does not answer the question asked"
        )));
    }
    Ok(response)
}
