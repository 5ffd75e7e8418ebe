//! DNSSEC queries: the DO bit set (RFC 4035 §4.9.1: "give me the RRSIGs"),
//! the CD bit set when certvigil validates itself (RFC 4035 §3.2.2: a
//! validating resolver then hands over bogus data instead of SERVFAIL, so
//! the cause can be named), and the whole message kept: the authority
//! section carries the NSEC/NSEC3 proofs and their signatures.
//!
//! Why not the pool of `dns/`? Its decoder keeps the answer section only,
//! by design (a monitor's ordinary lookups need nothing else). These
//! queries go out on a fresh UDP socket each, bound to a port the OS picks
//! at random (RFC 5452 §9.2), with a random ID, and an answer must carry
//! that ID and the question (RFC 5452 §4.1); a truncated answer is asked
//! again over TCP (RFC 7766 §5). A SERVFAIL is an answer, not a reason to
//! ask the next server: only timeouts and network errors move on.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, Restrict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

/// The payload size we advertise: DNS Flag Day 2020's, as `dns/` uses.
const EDNS_PAYLOAD: u16 = 1232;

/// Where and how long to ask.
#[derive(Debug, Clone)]
pub(crate) struct Asker {
    pub servers: Vec<SocketAddr>,
    pub timeout: Duration,
    pub attempts: usize,
}

/// A decoded response: what validation needs of it.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub rcode: u16,
    /// RFC 4035 §3.2.3: the resolver validated the data as secure.
    pub authentic: bool,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub server: SocketAddr,
}

impl Reply {
    pub fn is_servfail(&self) -> bool {
        self.rcode == u16::from(ResponseCode::ServFail)
    }
    pub fn is_nxdomain(&self) -> bool {
        self.rcode == u16::from(ResponseCode::NXDomain)
    }
    pub fn rcode_name(&self) -> String {
        ResponseCode::from((self.rcode >> 4) as u8, (self.rcode & 0xf) as u8)
            .to_str()
            .to_string()
    }
}

impl Asker {
    /// Asks `name`/`rtype` with DO (and CD when `cd`), server by server;
    /// a timeout or socket error moves on, an answer of any code returns.
    pub async fn ask(&self, name: &Name, rtype: RecordType, cd: bool) -> Result<Reply, String> {
        let mut last = String::new();
        for _ in 0..self.attempts.max(1) {
            for &server in &self.servers {
                match self.ask_one(server, name, rtype, cd).await {
                    Ok(reply) => return Ok(reply),
                    Err(e) => last = e,
                }
            }
        }
        Err(last)
    }

    async fn ask_one(
        &self,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        cd: bool,
    ) -> Result<Reply, String> {
        let id: u16 = rand::random();
        let query = encode(id, name, rtype, cd)?;
        let deadline = Instant::now() + self.timeout;
        let udp = async {
            let local: SocketAddr = if server.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            let socket = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
            socket.connect(server).await.map_err(|e| e.to_string())?;
            socket.send(&query).await.map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 65_535];
            loop {
                let n = socket.recv(&mut buf).await.map_err(|e| e.to_string())?;
                // Another query's datagram, or a forgery: not ours, wait on.
                if let Ok(reply) = decode(&buf[..n], id, name, rtype, server) {
                    return Ok::<_, String>(reply);
                }
            }
        };
        let (reply, truncated) = timeout_at(deadline, udp)
            .await
            .map_err(|_| format!("{server} did not answer the {rtype} query for {name} in time"))?
            .map_err(|e| format!("the {rtype} query for {name} to {server} failed: {e}"))?;
        if !truncated {
            return Ok(reply);
        }
        let id: u16 = rand::random();
        let query = encode(id, name, rtype, cd)?;
        let deadline = Instant::now() + self.timeout;
        let tcp = async {
            let mut stream = TcpStream::connect(server).await?;
            let mut framed = (query.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&query);
            stream.write_all(&framed).await?;
            let len = stream.read_u16().await?;
            let mut buf = vec![0u8; usize::from(len)];
            stream.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        let buf = timeout_at(deadline, tcp)
            .await
            .map_err(|_| {
                format!("{server} did not answer the {rtype} query for {name} over TCP in time")
            })?
            .map_err(|e| format!("the TCP {rtype} query for {name} to {server} failed: {e}"))?;
        decode(&buf, id, name, rtype, server)
            .map(|(reply, _)| reply)
            .map_err(|e| format!("the TCP answer from {server} for {name} {rtype}: {e}"))
    }
}

/// A query: RD (the configured servers are resolvers), CD when asked, one
/// question, and an OPT record with DO (RFC 3225 §3).
fn encode(id: u16, name: &Name, rtype: RecordType, cd: bool) -> Result<Vec<u8>, String> {
    let mut b = Vec::with_capacity(64);
    b.extend_from_slice(&id.to_be_bytes());
    let flags: u16 = 0x0100 | if cd { 0x0010 } else { 0 };
    b.extend_from_slice(&flags.to_be_bytes());
    b.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
    let qname = name.to_lowercase().to_bytes().map_err(|e| e.to_string())?;
    b.extend_from_slice(&qname);
    b.extend_from_slice(&u16::from(rtype).to_be_bytes());
    b.extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
    // OPT: root owner, type 41, class = payload, TTL = ext-rcode 0,
    // version 0, flags DO (0x8000), no options.
    b.push(0);
    b.extend_from_slice(&41u16.to_be_bytes());
    b.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0x80, 0, 0, 0]);
    Ok(b)
}

/// Types whose data holds no domain name: kept as the octets sent, which
/// are their canonical form (RFC 4034 §6.2), so a record hickory would
/// refuse to decode (a CAA record with a long tag) still verifies.
fn kept_raw(rtype: RecordType) -> bool {
    matches!(
        rtype,
        RecordType::CAA | RecordType::TXT | RecordType::A | RecordType::AAAA
    ) || matches!(rtype, RecordType::Unknown(_))
}

/// Decodes a response to our query; also whether it is truncated.
fn decode(
    buf: &[u8],
    id: u16,
    qname: &Name,
    qtype: RecordType,
    server: SocketAddr,
) -> Result<(Reply, bool), String> {
    let mut d = BinDecoder::new(buf);
    let u16_ = |d: &mut BinDecoder<'_>| -> Result<u16, String> {
        d.read_u16()
            .map(|v| v.unverified())
            .map_err(|_| "the message is cut short".to_string())
    };
    if u16_(&mut d)? != id {
        return Err("another query's ID".into());
    }
    let flags = u16_(&mut d)?;
    if flags & 0x8000 == 0 {
        return Err("not a response".into());
    }
    let counts = [u16_(&mut d)?, u16_(&mut d)?, u16_(&mut d)?, u16_(&mut d)?];
    if counts[0] != 1 {
        return Err("no single question".into());
    }
    let q = Name::read(&mut d).map_err(|e| e.to_string())?;
    let t = u16_(&mut d)?;
    let _class = u16_(&mut d)?;
    if &q != qname || RecordType::from(t) != qtype {
        return Err("answers another question".into());
    }
    let mut sections: [Vec<Record>; 2] = [Vec::new(), Vec::new()];
    let mut ext_rcode: u16 = 0;
    for (i, &count) in counts[1..].iter().enumerate() {
        for _ in 0..count {
            let owner = Name::read(&mut d).map_err(|e| e.to_string())?;
            let rtype = RecordType::from(u16_(&mut d)?);
            let class = u16_(&mut d)?;
            let ttl = d
                .read_u32()
                .map_err(|_| "the message is cut short".to_string())?
                .unverified();
            let len = u16_(&mut d)?;
            let start = d.index();
            let raw = d
                .read_slice(usize::from(len))
                .map_err(|_| "a record overruns the message".to_string())?
                .unverified()
                .to_vec();
            if rtype == RecordType::OPT {
                ext_rcode = u16::from((ttl >> 24) as u8) << 4;
                continue;
            }
            if i == 2 || class != u16::from(DNSClass::IN) {
                continue;
            }
            let rdata = if kept_raw(rtype) {
                None
            } else {
                // Decoded against the whole message: names in the data may
                // point anywhere before them.
                let mut at = BinDecoder::new(buf);
                at.read_slice(start).map_err(|e| e.to_string())?;
                RData::read(&mut at, rtype, Restrict::new(len))
                    .ok()
                    .filter(|_| at.index() == start + usize::from(len))
            };
            let rdata = rdata.unwrap_or_else(|| RData::Unknown {
                code: rtype,
                rdata: hickory_proto::rr::rdata::NULL::with(raw),
            });
            let mut record = Record::from_rdata(owner, ttl, rdata);
            record.dns_class = DNSClass::IN;
            sections[i].push(record);
        }
    }
    let [answers, authority] = sections;
    Ok((
        Reply {
            rcode: (flags & 0x000f) | ext_rcode,
            authentic: flags & 0x0020 != 0,
            answers,
            authority,
            server,
        },
        flags & 0x0200 != 0,
    ))
}
