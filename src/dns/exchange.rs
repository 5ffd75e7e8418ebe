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
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::wire::{self, CLASS_IN, Response};
use crate::domain::DomainName;

thread_local! {
    /// The thread's receive buffer. A datagram is read and decoded with no
    /// await in between, so one buffer per thread serves every query on it:
    /// no buffer per query, and no zeroing after the first use.
    static RECEIVE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The largest datagram, so an oversized answer is read whole and judged
/// rather than cut by us.
const RECEIVE_BUFFER: usize = 65_535;

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
) -> Result<Exchanged, ExchangeError> {
    let expected = wire::Question {
        name: name.as_str().to_string(),
        rtype: u16::from(rtype),
        class: CLASS_IN,
    };
    let response = udp(server, name, rtype, edns, &expected, timeout).await?;
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
) -> Result<Response, ExchangeError> {
    let deadline = Instant::now() + timeout;
    let id: u16 = rand::random();
    let query = wire::encode_query(id, name, rtype, edns);
    let socket = open_udp(server).map_err(|e| {
        ExchangeError::Network(format!("cannot open a UDP socket to {server}: {e}"))
    })?;
    let sent_error = |e: std::io::Error| {
        ExchangeError::Network(format!("cannot send to {server} over UDP: {e}"))
    };
    // Sent before the socket joins the reactor: a new socket's send buffer
    // is empty, so this does not block, and the socket is registered for
    // reading only (registered writable too, it would first wait for an
    // epoll round that says it is writable, as tokio's `send` does).
    let pending = match socket.send(&query) {
        Ok(_) => false,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
        Err(e) => return Err(sent_error(e)),
    };
    let interest = if pending {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    };
    // SAFETY: the AsyncFd owns the socket, so the descriptor stays open
    // for as long as it is registered (tokio's I/O-safety requirement).
    let socket = unsafe { AsyncFd::register_with_interest(socket, interest) }.map_err(|e| {
        ExchangeError::Network(format!("cannot watch a UDP socket to {server}: {e}"))
    })?;
    let exchange = async {
        if pending {
            loop {
                let mut ready = socket.writable().await.map_err(sent_error)?;
                match ready.try_io(|s| s.get_ref().send(&query)) {
                    Ok(sent) => {
                        sent.map_err(sent_error)?;
                        break;
                    }
                    Err(_would_block) => continue,
                }
            }
        }
        loop {
            let mut ready = socket
                .readable()
                .await
                .map_err(|e| ExchangeError::Network(format!("no UDP answer from {server}: {e}")))?;
            let received = ready.try_io(|s| {
                RECEIVE.with(|buf| {
                    let mut buf = buf.borrow_mut();
                    if buf.len() < RECEIVE_BUFFER {
                        buf.resize(RECEIVE_BUFFER, 0);
                    }
                    // A receive error on a connected UDP socket is the
                    // server's (an ICMP port or host unreachable, RFC 1122
                    // §4.1.3.3).
                    let len = s.get_ref().recv(&mut buf)?;
                    Ok(judge_datagram(&buf[..len], id, expected))
                })
            });
            match received {
                Ok(Ok(Some(answer))) => return answer,
                // Not our answer: wait on until the deadline.
                Ok(Ok(None)) => continue,
                Ok(Err(e)) => {
                    return Err(ExchangeError::Network(format!(
                        "no UDP answer from {server}: {e}"
                    )));
                }
                Err(_would_block) => continue,
            }
        }
    };
    timeout_at(deadline, exchange)
        .await
        .map_err(|_| ExchangeError::Timeout)?
}

/// What one datagram on the query's socket means: `None` when it is not the
/// answer to our query (another ID, not a response, another question), to
/// be ignored (RFC 5452 §4.1).
fn judge_datagram(
    datagram: &[u8],
    id: u16,
    expected: &wire::Question,
) -> Option<Result<Response, ExchangeError>> {
    if wire::peek_id(datagram) != Some(id) {
        return None;
    }
    match wire::decode_response(datagram) {
        Ok(response) if !response.head.is_response => None,
        Ok(response) if !answers_question(&response, expected) => None,
        Ok(response) => Some(Ok(response)),
        // The ID matched, so this is most likely the server's answer,
        // broken; waiting on would turn it into a misleading timeout.
        Err(e) => Some(Err(ExchangeError::Malformed(e.0))),
    }
}

/// A non-blocking UDP socket connected to `server`. `connect` binds it to a
/// port the kernel draws at random from the whole ephemeral range
/// (net.ipv4.ip_local_port_range), as `bind` to port 0 would: two system
/// calls, where `bind`, `connect` and a separate switch to non-blocking
/// made four.
#[cfg(target_os = "linux")]
fn open_udp(server: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use std::os::fd::FromRawFd;
    let family = if server.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor owned by nothing else.
    let socket = unsafe { std::net::UdpSocket::from_raw_fd(fd) };
    socket.connect(server)?;
    Ok(socket)
}

#[cfg(not(target_os = "linux"))]
fn open_udp(server: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = std::net::UdpSocket::bind(local)?;
    socket.set_nonblocking(true)?;
    socket.connect(server)?;
    Ok(socket)
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
