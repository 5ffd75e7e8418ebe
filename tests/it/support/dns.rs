//! A DNS server on 127.0.0.1 for tests: a real UDP and TCP listener on one
//! port, answering like a recursive resolver would from a zone the test can
//! change while it runs.
//!
//! It runs on its own thread with its own tokio runtime, so it keeps
//! answering whatever the test does on its side: block on a child
//! `certvigil` process, use a current-thread runtime, or no runtime at all.
//! All setters are plain (non-async) methods.
//!
//! What it does, and why each matters to the code under test:
//! - follows CNAME chains: the answer holds the aliases then the target's
//!   records, as a recursive server returns them (RFC 1034 §3.6.2, §5.3.3);
//!   the response code is the last name's (RFC 6604 §2.1);
//! - NXDOMAIN for names that do not exist, NOERROR with no records for
//!   names that exist without the type asked, including empty non-terminals
//!   (RFC 8020: a name with descendants exists);
//! - truncates UDP answers larger than 512 octets, or the client's EDNS
//!   payload size, setting TC and leaving the answer out (RFC 1035 §4.2.1,
//!   RFC 6891 §6.2.3), and serves them whole over TCP;
//! - serves record data as raw octets, so it can send what hickory refuses
//!   (CAA tags longer than 15 octets, white space, non-UTF-8);
//! - misbehaves on demand, per name ([`Behaviour`]).
//!
//! It is self-contained apart from hickory-proto (query parsing), tokio and
//! certvigil's `CaaRecord`, so a bench can include it with
//! `#[path = "../tests/it/support/dns.rs"] mod testdns;` and serve 10,000
//! generated names with [`TestDns::start_on`] and the setters (the zone is
//! a `HashMap`, every query is O(labels)).

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use certvigil::checks::caa::CaaRecord;
use certvigil::dns::DnsSettings;
use hickory_proto::op::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Record type codes (IANA "Resource Record (RR) TYPEs").
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const CAA: u16 = 257;
}

/// SOA, sent only in the authority section of negative answers.
const SOA: u16 = 6;

/// How the server misbehaves for a name. It applies when the name is asked
/// and when a CNAME chain reaches it (then it is the resolver failing on
/// the target, as a real one would).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// RCODE 2, as for a broken or DNSSEC-bogus zone.
    Servfail,
    /// RCODE 5.
    Refused,
    /// RCODE 4.
    NotImp,
    /// RCODE 1 to every query.
    FormErr,
    /// RCODE 1 to queries with an OPT record only, as a server that does
    /// not know EDNS does (RFC 6891 §7); plain queries are answered.
    FormErrOnEdns,
    /// No answer at all, over UDP or TCP: the client times out.
    Silent,
    /// An answer with the right ID and question whose answer section is
    /// cut short: the client must report it unparseable.
    Malformed,
    /// A well-formed answer with another ID: the client must ignore it
    /// (RFC 5452 §4.1), and so time out.
    WrongId,
    /// The right answer, over UDP, after this delay (TCP answers are not
    /// delayed). The server keeps answering other queries meanwhile.
    Delayed(Duration),
    /// Over UDP, first three NXDOMAIN answers with the query's ID whose
    /// question is not the one asked (another name; the same name with
    /// type TXT; the same name and type in class CH), each with a CAA
    /// record `0 issue "evil.example"` for its question, then the right
    /// answer [`SPOOF_LEAD`] later: a client that matches on the ID alone
    /// takes a forged answer (RFC 5452 §4.1).
    SpoofedQuestionFirst,
}

/// How long after the forged answers of [`Behaviour::SpoofedQuestionFirst`]
/// the right one is sent.
pub const SPOOF_LEAD: Duration = Duration::from_millis(20);

/// One query the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedQuery {
    /// Lower-case, without the root dot.
    pub name: String,
    pub rtype: u16,
    pub tcp: bool,
    pub edns: bool,
    pub recursion_desired: bool,
}

#[derive(Debug, Default, Clone)]
struct Node {
    cname: Option<String>,
    rrsets: HashMap<u16, Vec<Vec<u8>>>,
}

#[derive(Debug, Default)]
struct Zone {
    nodes: HashMap<String, Node>,
    /// How many nodes lie strictly below each name: a name with
    /// descendants exists (an empty non-terminal) even without a node.
    descendants: HashMap<String, usize>,
    behaviours: HashMap<String, Behaviour>,
    /// Behaviours for one type of question only (`set_type_behaviour`).
    type_behaviours: HashMap<(String, u16), Behaviour>,
    log: Vec<LoggedQuery>,
    /// Name and source port of each UDP query, logged with `log`.
    udp_sources: Vec<(String, u16)>,
    logging: bool,
}

/// A running server. Dropping it stops the server and closes its sockets.
pub struct TestDns {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestDns {
    /// Starts a server on 127.0.0.1 with a free port, the same for UDP
    /// and TCP.
    pub async fn start() -> Self {
        Self::start_sync()
    }

    /// [`TestDns::start`] for code without a runtime.
    pub fn start_sync() -> Self {
        // The UDP port is free but the TCP one of the same number may not
        // be; try a few ports.
        let mut last_err = None;
        for _ in 0..50 {
            let udp = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                .expect("bind a UDP socket on 127.0.0.1");
            let addr = udp.local_addr().expect("local address of a bound socket");
            match std::net::TcpListener::bind(addr) {
                Ok(tcp) => return Self::serve(udp, tcp),
                Err(e) => last_err = Some(e),
            }
        }
        panic!("no port on 127.0.0.1 was free for both UDP and TCP: {last_err:?}");
    }

    /// Starts a server on a given address (e.g. 127.0.0.1:5300 for a
    /// bench, or a port a child process was configured with).
    pub fn start_on(addr: SocketAddr) -> io::Result<Self> {
        let udp = std::net::UdpSocket::bind(addr)?;
        let tcp = std::net::TcpListener::bind(udp.local_addr()?)?;
        Ok(Self::serve(udp, tcp))
    }

    fn serve(udp: std::net::UdpSocket, tcp: std::net::TcpListener) -> Self {
        let addr = udp.local_addr().expect("local address of a bound socket");
        udp.set_nonblocking(true)
            .expect("set the UDP socket non-blocking");
        tcp.set_nonblocking(true)
            .expect("set the TCP listener non-blocking");
        let zone = Arc::new(Mutex::new(Zone {
            logging: true,
            ..Zone::default()
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let served = Arc::clone(&zone);
        let thread = std::thread::Builder::new()
            .name(format!("testdns-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("build the test DNS server's runtime");
                runtime.block_on(run(udp, tcp, served, stopped));
            })
            .expect("spawn the test DNS server's thread");
        Self {
            addr,
            zone,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The address to send queries to (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Settings for a `DnsHandle` that asks only this server, once, with a
    /// short timeout so tests of silence stay quick.
    pub fn settings(&self) -> DnsSettings {
        DnsSettings {
            nameservers: Some(vec![self.addr]),
            timeout: Duration::from_millis(300),
            attempts: 1,
        }
    }

    /// Replaces the CAA RRset of `name` (an empty list leaves the name
    /// existing with no CAA records). Any alias at `name` is removed.
    pub fn set_caa(&self, name: &str, records: impl IntoIterator<Item = CaaRecord>) {
        let rdata = records.into_iter().map(|r| caa_rdata(&r)).collect();
        self.set_records(name, rtype::CAA, rdata);
    }

    /// Replaces the RRset of type `rtype` at `name` with raw record data,
    /// sent exactly as given. Any alias at `name` is removed.
    pub fn set_records(&self, name: &str, rtype: u16, rdata: Vec<Vec<u8>>) {
        let mut zone = self.zone();
        let node = zone.node_mut(name);
        node.cname = None;
        node.rrsets.insert(rtype, rdata);
    }

    /// Replaces the TXT RRset of `name`, one record per string (split into
    /// 255-octet character-strings, RFC 1035 §3.3.14).
    pub fn set_txt(&self, name: &str, texts: &[&str]) {
        let rdata = texts
            .iter()
            .map(|t| {
                let mut rdata = Vec::with_capacity(t.len() + t.len() / 255 + 1);
                let bytes = t.as_bytes();
                if bytes.is_empty() {
                    rdata.push(0);
                }
                for chunk in bytes.chunks(255) {
                    rdata.push(chunk.len() as u8);
                    rdata.extend_from_slice(chunk);
                }
                rdata
            })
            .collect();
        self.set_records(name, rtype::TXT, rdata);
    }

    /// Replaces the A RRset of `name`.
    pub fn set_a(&self, name: &str, addrs: &[Ipv4Addr]) {
        let rdata = addrs.iter().map(|a| a.octets().to_vec()).collect();
        self.set_records(name, rtype::A, rdata);
    }

    /// Delegates `zone` to the name servers `servers` (its NS set).
    pub fn set_ns(&self, zone: &str, servers: &[&str]) {
        let rdata = servers.iter().map(|s| encode_name(s)).collect();
        self.set_records(zone, rtype::NS, rdata);
    }

    /// Makes `name` an alias of `target`, dropping its other records (a
    /// CNAME cannot coexist with other data, RFC 1034 §3.6.2).
    pub fn set_cname(&self, name: &str, target: &str) {
        let mut zone = self.zone();
        let node = zone.node_mut(name);
        node.rrsets.clear();
        node.cname = Some(normalise(target));
    }

    /// Makes the server misbehave for `name` until [`TestDns::clear_behaviour`]
    /// or [`TestDns::remove`].
    pub fn set_behaviour(&self, name: &str, behaviour: Behaviour) {
        self.zone().behaviours.insert(normalise(name), behaviour);
    }

    /// Makes the server misbehave for `rtype` questions about `name` only
    /// (e.g. SERVFAIL to NS queries, while CAA is answered).
    pub fn set_type_behaviour(&self, name: &str, rtype: u16, behaviour: Behaviour) {
        self.zone()
            .type_behaviours
            .insert((normalise(name), rtype), behaviour);
    }

    pub fn clear_behaviour(&self, name: &str) {
        self.zone().behaviours.remove(&normalise(name));
    }

    /// Removes `name`'s records, alias and behaviour; it then answers
    /// NXDOMAIN unless names below it still exist.
    pub fn remove(&self, name: &str) {
        let name = normalise(name);
        let mut zone = self.zone();
        zone.behaviours.remove(&name);
        if zone.nodes.remove(&name).is_some() {
            for ancestor in ancestors(&name) {
                if let Some(count) = zone.descendants.get_mut(ancestor) {
                    *count -= 1;
                    if *count == 0 {
                        zone.descendants.remove(ancestor);
                    }
                }
            }
        }
    }

    /// Every query received so far, in order.
    pub fn queries(&self) -> Vec<LoggedQuery> {
        self.zone().log.clone()
    }

    pub fn clear_queries(&self) {
        let mut zone = self.zone();
        zone.log.clear();
        zone.udp_sources.clear();
    }

    /// The name asked and the client's source port of every UDP query
    /// received so far (while the log is on), in order.
    pub fn udp_query_ports(&self) -> Vec<(String, u16)> {
        self.zone().udp_sources.clone()
    }

    /// Turns the query log off (for benches serving many names) or on.
    pub fn set_logging(&self, on: bool) {
        self.zone().logging = on;
    }

    fn zone(&self) -> MutexGuard<'_, Zone> {
        // A panic while holding the lock can only come from a bug in this
        // file; the zone is still consistent enough for the test to report.
        self.zone.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The RFC 8659 §4.1 wire form of a CAA record.
pub fn caa_rdata(record: &CaaRecord) -> Vec<u8> {
    let mut rdata = Vec::with_capacity(2 + record.tag.len() + record.value.len());
    rdata.push(record.flags);
    rdata.push(record.tag.len() as u8);
    rdata.extend_from_slice(record.tag.as_bytes());
    rdata.extend_from_slice(&record.value);
    rdata
}

fn normalise(name: &str) -> String {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.to_ascii_lowercase()
}

/// The proper ancestors of `name`, nearest first, without the root.
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('.').map(move |(i, _)| &name[i + 1..])
}

impl Zone {
    fn node_mut(&mut self, name: &str) -> &mut Node {
        let name = normalise(name);
        if !self.nodes.contains_key(&name) {
            for ancestor in ancestors(&name) {
                *self.descendants.entry(ancestor.to_string()).or_default() += 1;
            }
        }
        self.nodes.entry(name).or_default()
    }

    fn exists(&self, name: &str) -> bool {
        self.nodes.contains_key(name) || self.descendants.contains_key(name)
    }
}

/// A question as received.
struct Asked {
    id: u16,
    recursion_desired: bool,
    name: String,
    rtype: u16,
    class: u16,
    /// The EDNS payload size the client advertised, if it sent OPT.
    edns: Option<u16>,
}

fn parse_query(buf: &[u8]) -> Option<Asked> {
    let message = Message::from_vec(buf).ok()?;
    let query = message.queries.first()?;
    Some(Asked {
        id: message.metadata.id,
        recursion_desired: message.metadata.recursion_desired,
        name: normalise(&query.name().to_ascii()),
        rtype: u16::from(query.query_type()),
        class: u16::from(query.query_class()),
        edns: message.edns.as_ref().map(|e| e.max_payload()),
    })
}

/// What to send back for one UDP query from `peer`, and when: empty to
/// stay silent.
fn respond_udp(zone: &Mutex<Zone>, buf: &[u8], peer: SocketAddr) -> Vec<(Duration, Vec<u8>)> {
    let Some(asked) = parse_query(buf) else {
        return Vec::new();
    };
    let behaviour = {
        let mut zone = zone.lock().unwrap_or_else(|e| e.into_inner());
        if zone.logging {
            zone.udp_sources.push((asked.name.clone(), peer.port()));
        }
        if zone.behaviours.is_empty() {
            None
        } else {
            zone.behaviours.get(&asked.name).copied()
        }
    };
    let Some(reply) = respond_to(zone, &asked, false) else {
        return Vec::new();
    };
    match behaviour {
        Some(Behaviour::Delayed(delay)) => vec![(delay, reply)],
        Some(Behaviour::SpoofedQuestionFirst) => {
            let forged = |name: &str, rtype: u16, class: u16| {
                let mut r = Reply::to(&asked);
                r.name = name.to_string();
                r.rtype = rtype;
                r.class = class;
                r.rcode = 3;
                r.answers.push((
                    name.to_string(),
                    rtype,
                    caa_rdata(&CaaRecord::new(0, "issue", "evil.example")),
                ));
                (Duration::ZERO, r.encode())
            };
            vec![
                forged("spoof.invalid", asked.rtype, asked.class),
                forged(&asked.name, rtype::TXT, asked.class),
                forged(&asked.name, asked.rtype, 3),
                (SPOOF_LEAD, reply),
            ]
        }
        _ => vec![(Duration::ZERO, reply)],
    }
}

/// What to send back for one query, or `None` to stay silent.
fn respond(zone: &Mutex<Zone>, buf: &[u8], tcp: bool) -> Option<Vec<u8>> {
    respond_to(zone, &parse_query(buf)?, tcp)
}

fn respond_to(zone: &Mutex<Zone>, asked: &Asked, tcp: bool) -> Option<Vec<u8>> {
    let mut zone = zone.lock().unwrap_or_else(|e| e.into_inner());
    if zone.logging {
        zone.log.push(LoggedQuery {
            name: asked.name.clone(),
            rtype: asked.rtype,
            tcp,
            edns: asked.edns.is_some(),
            recursion_desired: asked.recursion_desired,
        });
    }
    let mut reply = Reply::to(asked);
    let mut current = asked.name.clone();
    loop {
        let behaviour = zone
            .behaviours
            .get(&current)
            .or_else(|| zone.type_behaviours.get(&(current.clone(), asked.rtype)));
        match behaviour {
            None => {}
            Some(Behaviour::Silent) => return None,
            Some(Behaviour::Servfail) => return Some(reply.rcode(2).encode()),
            Some(Behaviour::Refused) => return Some(reply.rcode(5).encode()),
            Some(Behaviour::NotImp) => return Some(reply.rcode(4).encode()),
            Some(Behaviour::FormErr) => return Some(reply.rcode(1).encode()),
            Some(Behaviour::FormErrOnEdns) if asked.edns.is_some() => {
                return Some(reply.rcode(1).encode());
            }
            Some(Behaviour::FormErrOnEdns) => {}
            Some(Behaviour::Delayed(_) | Behaviour::SpoofedQuestionFirst) => {}
            Some(Behaviour::WrongId) => {
                reply.id = reply.id.wrapping_add(1);
            }
            Some(Behaviour::Malformed) => {
                let mut bytes = reply.encode();
                // Claim one answer record, then end inside its owner name.
                bytes[6..8].copy_from_slice(&1u16.to_be_bytes());
                bytes.truncate(12 + question_len(&asked.name));
                bytes.extend_from_slice(&[7, b'e', b'x']);
                return Some(bytes);
            }
        }
        let Some(node) = zone.nodes.get(&current) else {
            if !zone.exists(&current) {
                reply.rcode = 3;
            }
            break;
        };
        match &node.cname {
            Some(target) if asked.rtype != rtype::CNAME => {
                reply
                    .answers
                    .push((current.clone(), rtype::CNAME, encode_name(target)));
                if reply.answers.len() > 16 {
                    // An alias loop: a resolver gives up with SERVFAIL.
                    reply.answers.clear();
                    return Some(reply.rcode(2).encode());
                }
                current = target.clone();
            }
            Some(target) => {
                reply
                    .answers
                    .push((current.clone(), rtype::CNAME, encode_name(target)));
                break;
            }
            None => {
                for rdata in node.rrsets.get(&asked.rtype).into_iter().flatten() {
                    reply
                        .answers
                        .push((current.clone(), asked.rtype, rdata.clone()));
                }
                break;
            }
        }
    }
    // RFC 2308 §3: a negative answer (NXDOMAIN, or no record of the type
    // at the chain's end) carries the zone's SOA, whose TTL and MINIMUM
    // bound how long it may be reused.
    reply.soa = reply.rcode == 3 || !reply.answers.iter().any(|(_, t, _)| *t == asked.rtype);
    let full = reply.encode();
    let limit = usize::from(asked.edns.unwrap_or(512).max(512));
    if !tcp && full.len() > limit {
        reply.answers.clear();
        reply.truncated = true;
        return Some(reply.encode());
    }
    Some(full)
}

fn question_len(name: &str) -> usize {
    encode_name(name).len() + 4
}

struct Reply {
    id: u16,
    recursion_desired: bool,
    rcode: u8,
    truncated: bool,
    name: String,
    rtype: u16,
    class: u16,
    answers: Vec<(String, u16, Vec<u8>)>,
    /// Whether the authority section holds an SOA (negative answers).
    soa: bool,
    edns: bool,
}

impl Reply {
    fn to(asked: &Asked) -> Self {
        Self {
            id: asked.id,
            recursion_desired: asked.recursion_desired,
            rcode: 0,
            truncated: false,
            name: asked.name.clone(),
            rtype: asked.rtype,
            class: asked.class,
            answers: Vec::new(),
            soa: false,
            edns: asked.edns.is_some(),
        }
    }

    fn rcode(&mut self, rcode: u8) -> &mut Self {
        self.rcode = rcode;
        self
    }

    /// RFC 1035 §4.1, uncompressed.
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(512);
        b.extend_from_slice(&self.id.to_be_bytes());
        // QR, opcode 0, TC, RD copied; RA set: this plays a recursive server.
        let mut flags: u16 = 0x8000 | 0x0080 | u16::from(self.rcode & 0x0f);
        if self.truncated {
            flags |= 0x0200;
        }
        if self.recursion_desired {
            flags |= 0x0100;
        }
        b.extend_from_slice(&flags.to_be_bytes());
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&(self.answers.len() as u16).to_be_bytes());
        b.extend_from_slice(&u16::from(self.soa).to_be_bytes());
        b.extend_from_slice(&u16::from(self.edns).to_be_bytes());
        b.extend_from_slice(&encode_name(&self.name));
        b.extend_from_slice(&self.rtype.to_be_bytes());
        b.extend_from_slice(&self.class.to_be_bytes());
        for (owner, rtype, rdata) in &self.answers {
            b.extend_from_slice(&encode_name(owner));
            b.extend_from_slice(&rtype.to_be_bytes());
            b.extend_from_slice(&1u16.to_be_bytes());
            b.extend_from_slice(&300u32.to_be_bytes());
            b.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            b.extend_from_slice(rdata);
        }
        if self.soa {
            // The root's SOA stands in for the zone's: owner, MNAME and
            // RNAME the root; serial, refresh, retry, expire, MINIMUM.
            b.push(0);
            b.extend_from_slice(&SOA.to_be_bytes());
            b.extend_from_slice(&1u16.to_be_bytes());
            b.extend_from_slice(&300u32.to_be_bytes());
            b.extend_from_slice(&22u16.to_be_bytes());
            b.extend_from_slice(&[0, 0]);
            for field in [1u32, 3600, 600, 86400, 300] {
                b.extend_from_slice(&field.to_be_bytes());
            }
        }
        if self.edns {
            // RFC 6891 §6.1.2: root owner, type OPT, class = payload size.
            b.push(0);
            b.extend_from_slice(&41u16.to_be_bytes());
            b.extend_from_slice(&1232u16.to_be_bytes());
            b.extend_from_slice(&0u32.to_be_bytes());
            b.extend_from_slice(&0u16.to_be_bytes());
        }
        b
    }
}

fn encode_name(name: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(name.len() + 2);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        b.push(label.len() as u8);
        b.extend_from_slice(label.as_bytes());
    }
    b.push(0);
    b
}

async fn run(
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
    zone: Arc<Mutex<Zone>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let udp = Arc::new(UdpSocket::from_std(udp).expect("register the UDP socket with tokio"));
    let tcp = TcpListener::from_std(tcp).expect("register the TCP listener with tokio");
    let mut buf = vec![0u8; 65_535];
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            received = udp.recv_from(&mut buf) => {
                let Ok((len, peer)) = received else { continue };
                let replies = respond_udp(&zone, &buf[..len], peer);
                if replies.iter().all(|(delay, _)| delay.is_zero()) {
                    for (_, reply) in replies {
                        let _ = udp.send_to(&reply, peer).await;
                    }
                } else {
                    let udp = Arc::clone(&udp);
                    tokio::spawn(async move {
                        for (delay, reply) in replies {
                            tokio::time::sleep(delay).await;
                            let _ = udp.send_to(&reply, peer).await;
                        }
                    });
                }
            }
            accepted = tcp.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                tokio::spawn(serve_tcp(stream, Arc::clone(&zone)));
            }
        }
    }
}

/// RFC 7766 §6.2.1: several queries may come over one connection, each
/// prefixed with its length.
async fn serve_tcp(mut stream: TcpStream, zone: Arc<Mutex<Zone>>) {
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let mut buf = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        if let Some(reply) = respond(&zone, &buf, true) {
            let mut framed = Vec::with_capacity(reply.len() + 2);
            framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
            framed.extend_from_slice(&reply);
            if stream.write_all(&framed).await.is_err() {
                return;
            }
        }
    }
}

/// A handle on a resolver that is not there (the discard port): for
/// fetchers that are only given addresses, never names to look up.
pub fn nowhere() -> certvigil::dns::DnsHandle {
    certvigil::dns::DnsHandle::new(&DnsSettings {
        nameservers: Some(vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 9))]),
        timeout: Duration::from_millis(300),
        attempts: 1,
    })
    .unwrap()
}
