//! One query to one name server over real sockets: UDP first, TCP when the
//! UDP answer is truncated (RFC 1035 §4.2.1, RFC 7766 §5).
//!
//! UDP queries go out on the server's socket pool (`pool`): sockets bound to
//! random ephemeral ports, connected to the server so the kernel drops
//! datagrams from other addresses, and rotated (RFC 5452 §9.2); each query
//! has a random ID unique on its socket, and its answer must carry that ID
//! and its question (RFC 5452 §4.1). Datagrams that fail those checks are
//! ignored, not trusted, and the wait goes on until the deadline.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::pool::UdpPool;
use super::wire::{self, CLASS_IN, Response};
use crate::domain::DomainName;

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
    pool: &UdpPool,
    name: &DomainName,
    rtype: RecordType,
    edns: bool,
    timeout: Duration,
) -> Result<Exchanged, ExchangeError> {
    let server = pool.server();
    let expected = wire::Question {
        name: name.as_str().to_string(),
        rtype: u16::from(rtype),
        class: CLASS_IN,
    };
    let response = udp(pool, name, rtype, edns, &expected, timeout).await?;
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
pub(super) fn answers_question(response: &Response, expected: &wire::Question) -> bool {
    match &response.head.question {
        Some(q) => q == expected,
        None => !matches!(response.rcode, 0 | 3),
    }
}

async fn udp(
    pool: &UdpPool,
    name: &DomainName,
    rtype: RecordType,
    edns: bool,
    expected: &wire::Question,
    timeout: Duration,
) -> Result<Response, ExchangeError> {
    let deadline = Instant::now() + timeout;
    let mut lease = pool.lease(expected.clone())?;
    let query = wire::encode_query(lease.id(), name, rtype, edns);
    // The send is bounded too: on a shared socket it may wait for room.
    let exchange = async {
        lease.send(&query).await?;
        lease.answer().await
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
