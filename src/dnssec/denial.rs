//! Proofs of non-existence (RFC 4035 §5.4 for NSEC, RFC 5155 §8 for
//! NSEC3): given the authority section's NSEC/NSEC3 records (their
//! signatures already verified by the caller), does it prove that `qname`
//! has no `qtype` records (NODATA), or no records at all (NXDOMAIN)?
//! An `Err` says what is missing, for the bogus cause.

use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC, NSEC3};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// NSEC3 iterations above this are treated as insecure by RFC 9276 §3.2
/// validators; we only bound the work.
const MAX_NSEC3_ITERATIONS: u16 = 500;

pub(crate) fn prove(
    qname: &Name,
    qtype: RecordType,
    nxdomain: bool,
    zone: &Name,
    authority: &[Record],
) -> Result<(), String> {
    let nsec3: Vec<(&Name, &NSEC3)> = authority
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC3(n)) => Some((&r.name, n)),
            _ => None,
        })
        .collect();
    if !nsec3.is_empty() {
        return Nsec3Proof::new(zone, &nsec3)?.prove(qname, qtype, nxdomain);
    }
    let nsec: Vec<(&Name, &NSEC)> = authority
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(n)) => Some((&r.name, n)),
            _ => None,
        })
        .collect();
    if nsec.is_empty() {
        return Err("the answer carries no NSEC or NSEC3 record".into());
    }
    prove_nsec(qname, qtype, nxdomain, zone, &nsec)
}

/// RFC 4035 §5.3.4, RFC 5155 §8.8: for an answer synthesized from the
/// wildcard at the closest encloser (the owner cut to `labels` labels), an
/// NSEC/NSEC3 record must cover the next closer name.
pub(crate) fn prove_expansion(
    owner: &Name,
    labels: u8,
    zone: &Name,
    authority: &[Record],
) -> Result<(), String> {
    let next_closer = owner.trim_to(usize::from(labels) + 1);
    let nsec3: Vec<(&Name, &NSEC3)> = authority
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC3(n)) => Some((&r.name, n)),
            _ => None,
        })
        .collect();
    let covered = if !nsec3.is_empty() {
        Nsec3Proof::new(zone, &nsec3)?
            .covering(&next_closer)?
            .is_some()
    } else {
        authority.iter().any(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(n)) => {
                covers(&r.name, n.next_domain_name(), owner, zone)
            }
            _ => false,
        })
    };
    if covered {
        Ok(())
    } else {
        Err(format!(
            "the answer was made from a wildcard, but no NSEC/NSEC3 record proves that {next_closer} does not exist"
        ))
    }
}

/// The type bitmap denies `qtype` (and CNAME, which would have been
/// followed instead).
fn denies(types: impl Fn(RecordType) -> bool, qtype: RecordType) -> bool {
    !types(qtype) && !types(RecordType::CNAME)
}

fn prove_nsec(
    qname: &Name,
    qtype: RecordType,
    nxdomain: bool,
    zone: &Name,
    nsec: &[(&Name, &NSEC)],
) -> Result<(), String> {
    if !nxdomain && let Some((_, n)) = nsec.iter().find(|(o, _)| *o == qname) {
        return if denies(|t| n.type_set().contains(t), qtype) {
            Ok(())
        } else {
            Err(format!("the NSEC record at {qname} lists {qtype}"))
        };
    }
    // NXDOMAIN, or NODATA through a wildcard: an NSEC covers the name, and
    // the wildcard at the closest encloser is covered (NXDOMAIN) or
    // matched without the type (NODATA).
    let covering = nsec
        .iter()
        .find(|(o, n)| covers(o, n.next_domain_name(), qname, zone))
        .ok_or_else(|| format!("no NSEC record covers {qname}"))?;
    // RFC 4035 §3.1.3.2: an empty non-terminal is covered by the NSEC whose
    // next name lies below it.
    let next = covering.1.next_domain_name();
    if !nxdomain && qname.zone_of(next) && next != qname {
        return Ok(());
    }
    let ce = common_ancestor(qname, covering.0)
        .max_labels(common_ancestor(qname, covering.1.next_domain_name()));
    let wildcard = wildcard_at(&ce);
    if nxdomain {
        if nsec
            .iter()
            .any(|(o, n)| covers(o, n.next_domain_name(), &wildcard, zone))
        {
            Ok(())
        } else {
            Err(format!("no NSEC record covers the wildcard {wildcard}"))
        }
    } else {
        match nsec.iter().find(|(o, _)| **o == wildcard) {
            Some((_, n)) if denies(|t| n.type_set().contains(t), qtype) => Ok(()),
            _ => Err(format!(
                "no NSEC record matches {qname} or the wildcard {wildcard} without {qtype}"
            )),
        }
    }
}

/// `*.ce` (hickory's `into_wildcard` replaces the first label instead).
fn wildcard_at(ce: &Name) -> Name {
    ce.prepend_label("*").unwrap_or_else(|_| ce.clone())
}

trait MaxLabels {
    fn max_labels(self, other: Name) -> Name;
}

impl MaxLabels for Name {
    fn max_labels(self, other: Name) -> Name {
        if other.num_labels() > self.num_labels() {
            other
        } else {
            self
        }
    }
}

/// The longest common ancestor (suffix) of two names.
fn common_ancestor(a: &Name, b: &Name) -> Name {
    let mut n = a.clone();
    while !n.zone_of(b) && !n.is_root() {
        n = n.base_name();
    }
    n
}

/// RFC 4034 §6.1 order: `owner < name < next`, where the last NSEC of the
/// zone points back to the apex.
fn covers(owner: &Name, next: &Name, name: &Name, zone: &Name) -> bool {
    if next == zone || next <= owner {
        owner < name && zone.zone_of(name)
    } else {
        owner < name && name < next
    }
}

struct Nsec3Proof {
    hash: hickory_proto::dnssec::Nsec3HashAlgorithm,
    salt: Vec<u8>,
    iterations: u16,
    /// (owner hash, next hash, record)
    records: Vec<(Vec<u8>, Vec<u8>, NSEC3)>,
}

impl Nsec3Proof {
    fn new(zone: &Name, nsec3: &[(&Name, &NSEC3)]) -> Result<Self, String> {
        let (_, first) = nsec3[0];
        if first.iterations() > MAX_NSEC3_ITERATIONS {
            return Err(format!(
                "the NSEC3 records use {} iterations, more than {MAX_NSEC3_ITERATIONS}",
                first.iterations()
            ));
        }
        let mut records = Vec::new();
        for (owner, n) in nsec3 {
            if owner.base_name() != *zone {
                return Err(format!(
                    "the NSEC3 record {owner} is not in the zone {zone}"
                ));
            }
            let label = owner.iter().next().unwrap_or_default();
            let hash = base32hex_decode(label)
                .ok_or_else(|| format!("the NSEC3 owner {owner} is not a base32hex hash"))?;
            records.push((hash, n.next_hashed_owner_name().to_vec(), (*n).clone()));
        }
        Ok(Self {
            hash: first.hash_algorithm(),
            salt: first.salt().to_vec(),
            iterations: first.iterations(),
            records,
        })
    }

    fn h(&self, name: &Name) -> Result<Vec<u8>, String> {
        self.hash
            .hash(&self.salt, name, self.iterations)
            .map(|d| d.as_ref().to_vec())
            .map_err(|e| e.to_string())
    }

    fn matching(&self, name: &Name) -> Result<Option<&NSEC3>, String> {
        let h = self.h(name)?;
        Ok(self.records.iter().find(|r| r.0 == h).map(|r| &r.2))
    }

    fn covering(&self, name: &Name) -> Result<Option<&NSEC3>, String> {
        let h = self.h(name)?;
        Ok(self
            .records
            .iter()
            .find(|(owner, next, _)| {
                if next > owner {
                    owner < &h && &h < next
                } else {
                    // The last in hash order wraps around to the first.
                    &h > owner || &h < next
                }
            })
            .map(|r| &r.2))
    }

    /// RFC 5155 §8.3: the closest encloser (matched) and the next closer
    /// name (covered).
    fn closest_encloser(&self, qname: &Name) -> Result<(Name, &NSEC3), String> {
        let mut next_closer = qname.clone();
        let mut candidate = qname.base_name();
        loop {
            if self.matching(&candidate)?.is_some() {
                let cover = self.covering(&next_closer)?.ok_or_else(|| {
                    format!("no NSEC3 record covers the next closer name {next_closer}")
                })?;
                return Ok((candidate, cover));
            }
            if candidate.is_root() {
                return Err(format!("no NSEC3 record matches an ancestor of {qname}"));
            }
            next_closer = candidate.clone();
            candidate = candidate.base_name();
        }
    }

    fn prove(&self, qname: &Name, qtype: RecordType, nxdomain: bool) -> Result<(), String> {
        if !nxdomain {
            // RFC 5155 §8.5/§8.6: an NSEC3 matching the name without the type.
            if let Some(n) = self.matching(qname)? {
                return if denies(|t| n.type_set().contains(t), qtype) {
                    Ok(())
                } else {
                    Err(format!("the NSEC3 record matching {qname} lists {qtype}"))
                };
            }
            let (ce, cover) = self.closest_encloser(qname)?;
            // RFC 5155 §8.6: DS at an opt-out delegation.
            if qtype == RecordType::DS && cover.opt_out() {
                return Ok(());
            }
            // RFC 5155 §8.7: NODATA through a wildcard.
            let wildcard = wildcard_at(&ce);
            return match self.matching(&wildcard)? {
                Some(n) if denies(|t| n.type_set().contains(t), qtype) => Ok(()),
                _ => Err(format!(
                    "no NSEC3 record matches {qname} (or the wildcard {wildcard}) without {qtype}"
                )),
            };
        }
        // RFC 5155 §8.4: closest encloser, next closer covered, wildcard
        // at the closest encloser covered.
        let (ce, _) = self.closest_encloser(qname)?;
        let wildcard = wildcard_at(&ce);
        if self.covering(&wildcard)?.is_some() {
            Ok(())
        } else {
            Err(format!("no NSEC3 record covers the wildcard {wildcard}"))
        }
    }
}

/// RFC 4648 §7 (base32hex), case-insensitive, no padding.
fn base32hex_decode(label: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(label.len() * 5 / 8);
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &c in label {
        let v = match c.to_ascii_uppercase() {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'A'..=b'V' => c - b'A' + 10,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn base32hex_round_trip_of_a_sha1() {
        // RFC 5155 Appendix A: H(example) = 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom
        let h = base32hex_decode(b"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom").unwrap();
        assert_eq!(h.len(), 20);
        let computed = hickory_proto::dnssec::Nsec3HashAlgorithm::SHA1
            .hash(&hex::decode("aabbccdd").unwrap(), &n("example."), 12)
            .unwrap();
        assert_eq!(computed.as_ref(), &h[..]);
        assert!(base32hex_decode(b"xyz!").is_none());
    }

    fn nsec(owner: &str, next: &str, types: &[RecordType]) -> Record {
        Record::from_rdata(
            n(owner),
            300,
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(n(next), types.iter().copied()))),
        )
    }

    #[test]
    fn nsec_nodata_needs_the_owner_without_the_type() {
        let zone = n("example.test.");
        let q = n("a.example.test.");
        let ok = [nsec("a.example.test.", "b.example.test.", &[RecordType::A])];
        assert_eq!(prove(&q, RecordType::CAA, false, &zone, &ok), Ok(()));
        let lists = [nsec(
            "a.example.test.",
            "b.example.test.",
            &[RecordType::CAA],
        )];
        let e = prove(&q, RecordType::CAA, false, &zone, &lists).unwrap_err();
        assert!(e.contains("lists CAA"), "{e}");
        let cname = [nsec(
            "a.example.test.",
            "b.example.test.",
            &[RecordType::CNAME],
        )];
        assert!(prove(&q, RecordType::CAA, false, &zone, &cname).is_err());
        let e = prove(&q, RecordType::CAA, false, &zone, &[]).unwrap_err();
        assert!(e.contains("no NSEC or NSEC3"), "{e}");
    }

    #[test]
    fn nsec_nxdomain_needs_the_name_and_the_wildcard_covered() {
        let zone = n("example.test.");
        let q = n("m.example.test.");
        // example.test -> a (covers *.example.test), a -> z (covers m).
        let both = [
            nsec("example.test.", "a.example.test.", &[RecordType::SOA]),
            nsec("a.example.test.", "z.example.test.", &[RecordType::A]),
        ];
        assert_eq!(prove(&q, RecordType::CAA, true, &zone, &both), Ok(()));
        let e = prove(&q, RecordType::CAA, true, &zone, &both[1..]).unwrap_err();
        assert!(e.contains("wildcard *.example.test"), "{e}");
        let e = prove(&q, RecordType::CAA, true, &zone, &both[..1]).unwrap_err();
        assert!(e.contains("no NSEC record covers m.example.test"), "{e}");
    }

    #[test]
    fn the_wildcard_of_a_closest_encloser_is_below_it() {
        assert_eq!(wildcard_at(&n("example.test.")), n("*.example.test."));
    }

    #[test]
    fn nsec_cover_wraps_at_the_apex() {
        let zone = n("example.test.");
        assert!(covers(
            &n("a.example.test."),
            &n("c.example.test."),
            &n("b.example.test."),
            &zone
        ));
        assert!(!covers(
            &n("a.example.test."),
            &n("c.example.test."),
            &n("d.example.test."),
            &zone
        ));
        assert!(covers(
            &n("x.example.test."),
            &zone,
            &n("z.example.test."),
            &zone
        ));
        assert_eq!(
            common_ancestor(&n("a.b.example.test."), &n("c.example.test.")),
            zone
        );
    }
}
