//! One question to one name server, recursion desired or not, with every
//! section of the reply read: the authoritative view needs the AA bit, the
//! referral in the authority section and the glue in the additional
//! section, which the stub resolver (`crate::dns`) does not keep.
//!
//! Each query has its own socket on a random port, connected to the server,
//! and a random ID; a reply must carry the ID and the question (RFC 5452
//! §4.1). A truncated UDP reply is asked again over TCP (RFC 7766 §5).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use certvigil_core::dns::wire::{self, RawRecord};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use crate::domain::DomainName;

const TYPE_NS: u16 = 2;
const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;

/// Why a server gave nothing to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AskError {
    /// No reply within the time limit.
    Timeout(Duration),
    /// The socket failed.
    Network(String),
    /// A reply that is not DNS, or not the reply to our question.
    Malformed(String),
}

impl std::fmt::Display for AskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AskError::Timeout(t) => {
                write!(f, "no answer within {}", humantime::format_duration(*t))
            }
            AskError::Network(d) => write!(f, "{d}"),
            AskError::Malformed(d) => write!(f, "unparseable answer: {d}"),
        }
    }
}

/// A reply, sections read.
#[derive(Debug, Clone)]
pub struct Reply {
    pub rcode: u16,
    /// The AA bit (RFC 1035 §4.1.1).
    pub authoritative: bool,
    /// The answer section, data uninterpreted (CAA is judged raw).
    pub answers: Vec<RawRecord>,
    /// NS records of the answer section: (owner, target).
    pub answer_ns: Vec<(String, String)>,
    /// NS records of the authority section (a referral): (owner, target).
    pub authority_ns: Vec<(String, String)>,
    /// A/AAAA records of the additional section (glue): (owner, address).
    pub glue: Vec<(String, IpAddr)>,
}

/// Asks `server` for `name`/`rtype`, with RD set when `recursion`.
pub async fn ask(
    server: SocketAddr,
    name: &DomainName,
    rtype: RecordType,
    recursion: bool,
    timeout: Duration,
) -> Result<Reply, AskError> {
    let deadline = Instant::now() + timeout;
    let id: u16 = rand::random();
    let mut query = wire::encode_query(id, name, rtype, true);
    if !recursion {
        // Clear RD (the low bit of the third octet, RFC 1035 §4.1.1): an
        // authoritative server must answer from its own data.
        query[2] &= !0x01;
    }
    let expected = wire::Question {
        name: name.as_str().to_string(),
        rtype: u16::from(rtype),
        class: wire::CLASS_IN,
    };
    let buf = timeout_at(deadline, udp(server, &query, id, &expected))
        .await
        .map_err(|_| AskError::Timeout(timeout))??;
    let mut reply = read(&buf)?;
    if truncated(&buf) {
        let id: u16 = rand::random();
        query[..2].copy_from_slice(&id.to_be_bytes());
        let buf = timeout_at(deadline, tcp(server, &query))
            .await
            .map_err(|_| AskError::Timeout(timeout))??;
        if wire::peek_id(&buf) != Some(id) {
            return Err(AskError::Malformed(format!(
                "the TCP answer from {server} carries another query's ID"
            )));
        }
        reply = read(&buf)?;
    }
    Ok(reply)
}

fn truncated(buf: &[u8]) -> bool {
    buf.len() > 2 && buf[2] & 0x02 != 0
}

async fn udp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    expected: &wire::Question,
) -> Result<Vec<u8>, AskError> {
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let net =
        |e: std::io::Error| AskError::Network(format!("UDP exchange with {server} failed: {e}"));
    let socket = UdpSocket::bind(local).await.map_err(net)?;
    socket.connect(server).await.map_err(net)?;
    socket.send(query).await.map_err(net)?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket.recv(&mut buf).await.map_err(net)?;
        let got = &buf[..n];
        // RFC 5452 §4.1: anything but the reply to our question is ignored.
        if wire::peek_id(got) != Some(id) {
            continue;
        }
        match wire::decode_response(got) {
            Ok(r) if r.head.is_response && question_matches(&r, expected) => {
                return Ok(got.to_vec());
            }
            _ => continue,
        }
    }
}

fn question_matches(r: &wire::Response, expected: &wire::Question) -> bool {
    match &r.head.question {
        Some(q) => q == expected,
        None => !matches!(r.rcode, 0 | 3),
    }
}

async fn tcp(server: SocketAddr, query: &[u8]) -> Result<Vec<u8>, AskError> {
    let io =
        |e: std::io::Error| AskError::Network(format!("TCP exchange with {server} failed: {e}"));
    let mut stream = TcpStream::connect(server).await.map_err(io)?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.map_err(io)?;
    let len = stream.read_u16().await.map_err(io)?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await.map_err(io)?;
    Ok(buf)
}

/// Reads every section: the answer with the core decoder (raw data, so no
/// CAA record is refused), NS and glue here.
fn read(buf: &[u8]) -> Result<Reply, AskError> {
    let response = wire::decode_response(buf).map_err(|e| AskError::Malformed(e.0))?;
    let authoritative = buf.len() > 2 && buf[2] & 0x04 != 0;
    let mut reply = Reply {
        rcode: response.rcode,
        authoritative,
        answers: response.answers,
        answer_ns: Vec::new(),
        authority_ns: Vec::new(),
        glue: Vec::new(),
    };
    walk(buf, &mut reply).map_err(AskError::Malformed)?;
    Ok(reply)
}

fn walk(buf: &[u8], reply: &mut Reply) -> Result<(), String> {
    let short = || "the message ends early".to_string();
    let mut d = BinDecoder::new(buf);
    let mut counts = [0u16; 6];
    for c in &mut counts {
        *c = d.read_u16().map_err(|_| short())?.unverified();
    }
    for _ in 0..counts[2] {
        Name::read(&mut d).map_err(|e| e.to_string())?;
        d.read_slice(4).map_err(|_| short())?;
    }
    for section in 0..3 {
        for _ in 0..counts[3 + section] {
            let owner = name_text(&Name::read(&mut d).map_err(|e| e.to_string())?);
            let rtype = d.read_u16().map_err(|_| short())?.unverified();
            d.read_slice(6).map_err(|_| short())?;
            let len = usize::from(d.read_u16().map_err(|_| short())?.unverified());
            let start = d.index();
            let rdata = d.read_slice(len).map_err(|_| short())?.unverified();
            match (section, rtype) {
                (0 | 1, TYPE_NS) => {
                    let mut at = BinDecoder::new(buf);
                    at.read_slice(start).map_err(|_| short())?;
                    let target = name_text(&Name::read(&mut at).map_err(|e| e.to_string())?);
                    if section == 0 {
                        reply.answer_ns.push((owner, target));
                    } else {
                        reply.authority_ns.push((owner, target));
                    }
                }
                (2, TYPE_A) if len == 4 => {
                    let o: [u8; 4] = rdata.try_into().expect("length checked");
                    reply.glue.push((owner, IpAddr::from(o)));
                }
                (2, TYPE_AAAA) if len == 16 => {
                    let o: [u8; 16] = rdata.try_into().expect("length checked");
                    reply.glue.push((owner, IpAddr::from(o)));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn name_text(name: &Name) -> String {
    let ascii = name.to_lowercase().to_ascii();
    match ascii.strip_suffix('.') {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => ascii,
    }
}
