//! The DNS wire format, as far as certvigil needs it: encoding a query, and
//! decoding a response without interpreting record data.
//!
//! Why not `hickory_proto::op::Message::from_vec`? It decodes every record's
//! data eagerly, and for CAA it refuses legal records (a tag longer than 15
//! octets fails the whole message; see docs/design.md "Reference notes"). A monitor must report such
//! a record, not lose the answer, so responses are walked here record by
//! record (RFC 1035 §4.1), with hickory-proto decoding the names (and their
//! compression pointers, RFC 1035 §4.1.4), and record data kept as octets.
//! Everything here is pure: bytes in, values out.

use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::domain::DomainName;

/// RFC 1035 §3.2.4: the Internet class.
pub const CLASS_IN: u16 = 1;
/// RFC 6891 §6.1.1: the OPT pseudo-record type.
const TYPE_OPT: u16 = 41;
/// RFC 1035 §3.2.2.
const TYPE_CNAME: u16 = 5;
const TYPE_SOA: u16 = 6;
/// The EDNS payload size recommended by DNS Flag Day 2020: large enough for
/// most CAA RRsets, small enough to avoid IP fragmentation.
pub const EDNS_PAYLOAD: u16 = 1232;
/// More aliases than any resolver follows (BIND stops at 16, RFC 1034
/// §3.6.2 asks only that loops be detected).
const MAX_CHAIN: usize = 16;

/// Encodes a recursive query (RD set, RFC 1035 §4.1.1) for `name`/`rtype`,
/// class IN, with the given ID and, when `edns` is true, an OPT record
/// advertising [`EDNS_PAYLOAD`] octets (RFC 6891 §6.2.3).
///
/// Written out directly (one allocation) rather than through hickory's
/// `Message`, which built a `Name`, a `Query` and an encoder per query; a
/// test checks the octets are the ones hickory writes.
pub fn encode_query(id: u16, name: &DomainName, rtype: RecordType, edns: bool) -> Vec<u8> {
    let qname = name.as_str();
    let mut b = Vec::with_capacity(12 + qname.len() + 2 + 4 + if edns { 11 } else { 0 });
    b.extend_from_slice(&id.to_be_bytes());
    // QR=0, OPCODE=QUERY, RD=1; everything else clear.
    b.extend_from_slice(&0x0100u16.to_be_bytes());
    // QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 1 with OPT.
    b.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    // A DomainName is validated: 1-63 octet ASCII labels, at most 253
    // octets, no root dot (RFC 1035 §3.1).
    for label in qname.split('.') {
        debug_assert!((1..=63).contains(&label.len()), "{qname}");
        b.push(label.len() as u8);
        b.extend_from_slice(label.as_bytes());
    }
    b.push(0);
    b.extend_from_slice(&u16::from(rtype).to_be_bytes());
    b.extend_from_slice(&CLASS_IN.to_be_bytes());
    if edns {
        // RFC 6891 §6.1.2: root owner, type OPT, CLASS = payload size, TTL
        // = extended RCODE 0, version 0, no DO; no options.
        b.push(0);
        b.extend_from_slice(&TYPE_OPT.to_be_bytes());
        b.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    b
}

/// The fixed part of a response, enough to decide whether a datagram is the
/// answer to our query before trusting anything else in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub id: u16,
    pub is_response: bool,
    pub truncated: bool,
    /// The 4-bit RCODE of the header; see [`Response::rcode`] for the full one.
    pub rcode_low: u16,
    /// The question, when the response carries exactly one.
    pub question: Option<Question>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Lower-case, without the root dot.
    pub name: String,
    pub rtype: u16,
    pub class: u16,
}

/// One resource record of the answer section, data uninterpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Lower-case, without the root dot.
    pub owner: String,
    pub rtype: u16,
    pub class: u16,
    pub rdata: Vec<u8>,
    /// Seconds the record may be reused (RFC 1035 §3.2.1).
    pub ttl: u32,
    /// For CNAME records, the target name, decoded here because it may use
    /// compression pointers into the rest of the message.
    pub cname_target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub head: Head,
    /// The full 12-bit RCODE: the header's 4 bits plus the OPT record's
    /// upper 8 (RFC 6891 §6.1.3).
    pub rcode: u16,
    pub answers: Vec<RawRecord>,
    /// For a negative answer: how long it may be reused, the lower of the
    /// authority SOA's TTL and its MINIMUM field (RFC 2308 §5); `None`
    /// without an SOA in the authority section (then it is not reused).
    pub negative_ttl: Option<u32>,
}

impl Response {
    /// How long the answer may be reused: the lowest TTL of the answer
    /// records, or for an answer without records the negative TTL; `0`
    /// when it must not be reused.
    pub fn reuse_ttl(&self) -> u32 {
        match self.answers.iter().map(|r| r.ttl).min() {
            Some(ttl) if self.answers.iter().any(|r| r.rtype != TYPE_CNAME) => ttl,
            // Aliases only (NODATA or NXDOMAIN at the target): the aliases'
            // TTLs and the negative TTL both bound it.
            Some(ttl) => self.negative_ttl.map_or(0, |n| n.min(ttl)),
            None => self.negative_ttl.unwrap_or(0),
        }
    }
}

/// What is wrong with a response, in words for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn short(what: &str) -> WireError {
    WireError(format!("the message ends inside {what}"))
}

/// The ID of a message, if it is long enough to have one.
pub fn peek_id(buf: &[u8]) -> Option<u16> {
    (buf.len() >= 2).then(|| u16::from_be_bytes([buf[0], buf[1]]))
}

/// Decodes a whole response: header, question, answer section; the
/// authority section is skipped and the additional section read only for
/// the OPT record's extended RCODE.
pub fn decode_response(buf: &[u8]) -> Result<Response, WireError> {
    let mut d = BinDecoder::new(buf);
    let id = read_u16(&mut d, "the header")?;
    let flags = read_u16(&mut d, "the header")?;
    let qdcount = read_u16(&mut d, "the header")?;
    let ancount = read_u16(&mut d, "the header")?;
    let nscount = read_u16(&mut d, "the header")?;
    let arcount = read_u16(&mut d, "the header")?;

    let mut questions = Vec::with_capacity(usize::from(qdcount.min(1)));
    for _ in 0..qdcount {
        let name = read_name(&mut d, "the question")?;
        let rtype = read_u16(&mut d, "the question")?;
        let class = read_u16(&mut d, "the question")?;
        questions.push(Question { name, rtype, class });
    }
    let head = Head {
        id,
        is_response: flags & 0x8000 != 0,
        truncated: flags & 0x0200 != 0,
        rcode_low: flags & 0x000f,
        question: if questions.len() == 1 {
            questions.pop()
        } else {
            None
        },
    };

    let mut answers = Vec::with_capacity(usize::from(ancount));
    for _ in 0..ancount {
        answers.push(read_record(&mut d, buf, "the answer section")?);
    }
    let mut negative_ttl = None;
    for _ in 0..nscount {
        let record = read_record(&mut d, buf, "the authority section")?;
        // RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM);
        // MINIMUM is the last of the SOA data's fields.
        if record.rtype == TYPE_SOA && record.rdata.len() >= 4 {
            let m = &record.rdata[record.rdata.len() - 4..];
            let minimum = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
            negative_ttl = Some(record.ttl.min(minimum));
        }
    }
    let mut rcode = head.rcode_low;
    for _ in 0..arcount {
        let record = read_record(&mut d, buf, "the additional section")?;
        if record.rtype == TYPE_OPT {
            // RFC 6891 §6.1.3: the upper 8 bits of the extended RCODE are
            // the first octet of the OPT record's TTL field.
            rcode |= u16::from(record.rdata_ttl_high()) << 4;
        }
    }
    Ok(Response {
        head,
        rcode,
        answers,
        negative_ttl,
    })
}

impl RawRecord {
    /// For OPT records only: the TTL's first octet (the extended RCODE),
    /// which [`read_record`] stashes in front of the option data.
    fn rdata_ttl_high(&self) -> u8 {
        self.rdata.first().copied().unwrap_or(0)
    }
}

fn read_u16(d: &mut BinDecoder<'_>, what: &str) -> Result<u16, WireError> {
    d.read_u16()
        .map(|v| v.unverified())
        .map_err(|_| short(what))
}

fn read_name(d: &mut BinDecoder<'_>, what: &str) -> Result<String, WireError> {
    let name = Name::read(d).map_err(|e| WireError(format!("a name in {what} is invalid: {e}")))?;
    Ok(name_to_string(&name))
}

fn name_to_string(name: &Name) -> String {
    let ascii = name.to_lowercase().to_ascii();
    match ascii.strip_suffix('.') {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => ascii,
    }
}

fn read_record(d: &mut BinDecoder<'_>, message: &[u8], what: &str) -> Result<RawRecord, WireError> {
    let owner = read_name(d, what)?;
    let rtype = read_u16(d, what)?;
    let class = read_u16(d, what)?;
    let ttl = d.read_u32().map_err(|_| short(what))?.unverified();
    let rdlength = read_u16(d, what)?;
    let start = d.index();
    let rdata = d
        .read_slice(usize::from(rdlength))
        .map_err(|_| {
            WireError(format!(
                "a record in {what} claims {rdlength} octets of data, more than the message holds"
            ))
        })?
        .unverified()
        .to_vec();
    let cname_target = if rtype == TYPE_CNAME {
        // The target may point anywhere earlier in the message, so decode it
        // against the whole message, then check it fills the rdata exactly.
        let mut at = BinDecoder::new(message);
        at.read_slice(start).map_err(|_| short(what))?;
        let target = read_name(&mut at, what)?;
        if at.index() != start + usize::from(rdlength) {
            return Err(WireError(format!(
                "the CNAME record of {owner} has {rdlength} octets of data, which is not one name"
            )));
        }
        Some(target)
    } else {
        None
    };
    let rdata = if rtype == TYPE_OPT {
        // Keep the TTL's first octet, the extended RCODE, for the caller.
        let mut v = Vec::with_capacity(rdata.len() + 1);
        v.push((ttl >> 24) as u8);
        v.extend_from_slice(&rdata);
        v
    } else {
        rdata
    };
    Ok(RawRecord {
        owner,
        rtype,
        class,
        rdata,
        ttl,
        cname_target,
    })
}

/// The alias chain and the records of the wanted type at its end, as found
/// in an answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Starts with the queried name; one more entry per CNAME followed.
    pub chain: Vec<String>,
    /// The data of every `rtype` record owned by the last name of the chain.
    pub rdata: Vec<Vec<u8>>,
}

/// Follows the CNAME records of an answer section from `qname`, as a stub
/// resolver does (RFC 1034 §5.3.3: the recursive server returns the aliases
/// then the data of the canonical name). Records owned by names outside the
/// chain are ignored: they answer no question of ours.
pub fn follow_chain(qname: &str, rtype: u16, answers: &[RawRecord]) -> Result<Resolved, WireError> {
    let mut chain = vec![qname.to_string()];
    loop {
        let current = chain.last().expect("the chain starts non-empty");
        if rtype == TYPE_CNAME {
            break;
        }
        let next = answers
            .iter()
            .find(|r| r.rtype == TYPE_CNAME && r.class == CLASS_IN && r.owner == *current)
            .and_then(|r| r.cname_target.clone());
        let Some(next) = next else { break };
        if chain.contains(&next) {
            return Err(WireError(format!(
                "the aliases loop: {} -> {next}",
                chain.join(" -> ")
            )));
        }
        if chain.len() > MAX_CHAIN {
            return Err(WireError(format!(
                "the alias chain from {qname} is longer than {MAX_CHAIN} names"
            )));
        }
        chain.push(next);
    }
    let last = chain.last().expect("the chain starts non-empty");
    let rdata = answers
        .iter()
        .filter(|r| r.rtype == rtype && r.class == CLASS_IN && r.owner == *last)
        .map(|r| r.rdata.clone())
        .collect();
    Ok(Resolved { chain, rdata })
}

/// The mnemonic of a response code (IANA "DNS RCODEs" registry).
pub fn rcode_mnemonic(rcode: u16) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        11 => "DSOTYPENI".into(),
        16 => "BADVERS".into(),
        23 => "BADCOOKIE".into(),
        other => format!("RCODE{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};

    /// A response built by hand, so the decoder is tested against bytes
    /// hickory did not write.
    fn response(
        id: u16,
        flags: u16,
        answers: &[(&str, u16, Vec<u8>)],
        opt_ttl: Option<u32>,
    ) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(id.to_be_bytes());
        b.extend(flags.to_be_bytes());
        b.extend(1u16.to_be_bytes());
        b.extend((answers.len() as u16).to_be_bytes());
        b.extend(0u16.to_be_bytes());
        b.extend(u16::from(opt_ttl.is_some()).to_be_bytes());
        b.extend(encode_name("www.example.com"));
        b.extend(257u16.to_be_bytes());
        b.extend(1u16.to_be_bytes());
        for (owner, rtype, rdata) in answers {
            b.extend(encode_name(owner));
            b.extend(rtype.to_be_bytes());
            b.extend(1u16.to_be_bytes());
            b.extend(300u32.to_be_bytes());
            b.extend((rdata.len() as u16).to_be_bytes());
            b.extend(rdata);
        }
        if let Some(ttl) = opt_ttl {
            b.push(0);
            b.extend(41u16.to_be_bytes());
            b.extend(1232u16.to_be_bytes());
            b.extend(ttl.to_be_bytes());
            b.extend(0u16.to_be_bytes());
        }
        b
    }

    fn encode_name(name: &str) -> Vec<u8> {
        let mut b = Vec::new();
        for label in name.split('.') {
            b.push(label.len() as u8);
            b.extend(label.as_bytes());
        }
        b.push(0);
        b
    }

    #[test]
    fn caa_with_a_long_tag_is_kept_as_octets() {
        // RFC 8659 §4.1 allows tags of up to 255 octets; hickory refuses > 15.
        let mut rdata = vec![0, 20];
        rdata.extend(b"abcdefghijklmnopqrst");
        rdata.extend(b"value");
        let buf = response(7, 0x8180, &[("www.example.com", 257, rdata.clone())], None);
        let r = decode_response(&buf).unwrap();
        assert_eq!(r.head.id, 7);
        assert!(r.head.is_response);
        assert_eq!(r.answers[0].rdata, rdata);
        let resolved = follow_chain("www.example.com", 257, &r.answers).unwrap();
        assert_eq!(resolved.chain, ["www.example.com"]);
        assert_eq!(resolved.rdata, [rdata]);
    }

    #[test]
    fn compressed_cname_targets_are_followed() {
        // CNAME www.example.com -> example.net, where "example.com" of the
        // rdata is a pointer to offset 16 (inside the question).
        let mut target = vec![3];
        target.extend(b"cdn");
        target.extend([0xc0, 16]);
        let buf = response(
            1,
            0x8180,
            &[
                ("www.example.com", 5, target),
                (
                    "cdn.example.com",
                    257,
                    vec![0, 5, b'i', b's', b's', b'u', b'e', b'c', b'a'],
                ),
            ],
            None,
        );
        let r = decode_response(&buf).unwrap();
        let resolved = follow_chain("www.example.com", 257, &r.answers).unwrap();
        assert_eq!(resolved.chain, ["www.example.com", "cdn.example.com"]);
        assert_eq!(resolved.rdata.len(), 1);
    }

    #[test]
    fn records_of_names_outside_the_chain_are_ignored() {
        let buf = response(
            1,
            0x8180,
            &[(
                "evil.example",
                257,
                vec![0, 5, b'i', b's', b's', b'u', b'e'],
            )],
            None,
        );
        let r = decode_response(&buf).unwrap();
        assert!(
            follow_chain("www.example.com", 257, &r.answers)
                .unwrap()
                .rdata
                .is_empty()
        );
    }

    #[test]
    fn alias_loops_are_an_error() {
        let to_b = encode_name("b.example");
        let buf = response(
            1,
            0x8180,
            &[
                ("www.example.com", 5, to_b),
                ("b.example", 5, encode_name("www.example.com")),
            ],
            None,
        );
        let r = decode_response(&buf).unwrap();
        let err = follow_chain("www.example.com", 257, &r.answers).unwrap_err();
        assert!(err.0.contains("loop"), "{err}");
    }

    #[test]
    fn rdata_longer_than_the_message_is_malformed() {
        let mut buf = response(
            1,
            0x8180,
            &[("www.example.com", 257, vec![0, 5, b'i'])],
            None,
        );
        // Claim 200 octets of rdata.
        let at = buf.len() - 5;
        buf[at..at + 2].copy_from_slice(&200u16.to_be_bytes());
        let err = decode_response(&buf).unwrap_err();
        assert!(err.0.contains("claims 200 octets"), "{err}");
    }

    #[test]
    fn extended_rcode_combines_header_and_opt() {
        // RFC 6891 §6.1.3: BADVERS (16) is header 0 + OPT high octet 1.
        let buf = response(1, 0x8180, &[], Some(0x0100_0000));
        assert_eq!(decode_response(&buf).unwrap().rcode, 16);
        let buf = response(1, 0x8182, &[], Some(0));
        assert_eq!(
            rcode_mnemonic(decode_response(&buf).unwrap().rcode),
            "SERVFAIL"
        );
    }

    #[test]
    fn queries_ask_for_recursion_with_edns() {
        let name = DomainName::parse("example.com").unwrap();
        let q = encode_query(0xbeef, &name, RecordType::CAA, true);
        let m = Message::from_vec(&q).unwrap();
        assert_eq!(m.metadata.id, 0xbeef);
        assert!(m.metadata.recursion_desired);
        assert_eq!(m.queries[0].query_type(), RecordType::CAA);
        assert_eq!(m.edns.as_ref().unwrap().max_payload(), EDNS_PAYLOAD);
        let plain = Message::from_vec(&encode_query(1, &name, RecordType::CAA, false)).unwrap();
        assert!(plain.edns.is_none());
    }

    /// The query as hickory's `Message` writes it, the encoder used before.
    fn hickory_query(id: u16, name: &DomainName, rtype: RecordType, edns: bool) -> Vec<u8> {
        let mut message = Message::new(id, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(name.to_hickory(), rtype));
        if edns {
            let mut opt = Edns::new();
            opt.set_max_payload(EDNS_PAYLOAD);
            message.set_edns(opt);
        }
        message.to_vec().unwrap()
    }

    #[test]
    fn queries_are_the_octets_hickory_writes() {
        let long = format!("{}.{}.example", "a".repeat(63), "b".repeat(63));
        for n in [
            "com",
            "www.example.com",
            "xn--bcher-kva.example",
            long.as_str(),
        ] {
            let name = DomainName::parse(n).unwrap();
            for rtype in [RecordType::CAA, RecordType::TXT, RecordType::A] {
                for edns in [true, false] {
                    assert_eq!(
                        encode_query(0x1234, &name, rtype, edns),
                        hickory_query(0x1234, &name, rtype, edns),
                        "{n} {rtype} edns={edns}"
                    );
                }
            }
        }
    }
}
