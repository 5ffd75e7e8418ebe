//! Gathering CAA over DNS: the network half of the CAA check. It asks, and
//! records what it was told; deciding what that means is `judge`'s job.
//!
//! RFC 8659 §3: the relevant RRset is found by querying CAA at the name and
//! then at each parent up to (not including) the root, stopping at the first
//! non-empty RRset. All those names are asked here, concurrently, because
//! the judge needs to know about a failed lookup anywhere at or below the
//! relevant name (CA/B BR §3.2.2.8), and a monitor's latency is the slowest
//! query, not their sum.

use std::collections::HashMap;

use futures::future::join_all;
use hickory_proto::rr::RecordType;

use super::model::{CaaAnswer, CaaLookup, CaaObservation, CaaRecord, LookupFailure};
use crate::checks::dnssec::{DnssecNote, DnssecStatus, ResolverView};
use crate::dns::{DnsHandle, QueryError};
use crate::dnssec::Validator;
use crate::domain::DomainName;

/// Queries CAA at `name` and every ancestor up to the TLD, then at the
/// ancestors of every alias target met on the way (for the pre-erratum
/// RFC 6844 comparison). Never fails: every failure is an observation.
pub async fn gather_caa(dns: &DnsHandle, name: &DomainName) -> CaaObservation {
    gather_caa_validated(dns, None, name).await
}

/// [`gather_caa`], with every lookup of the climb also validated with
/// DNSSEC when a validator is given: a bogus answer becomes a failed lookup
/// (`LookupFailure::Dnssec`), as it is to a CA; the others carry their
/// status. The alias-target climb (RFC 6844 comparison only) is not.
pub async fn gather_caa_validated(
    dns: &DnsHandle,
    validator: Option<&Validator>,
    name: &DomainName,
) -> CaaObservation {
    let mut climb = lookup_all(dns, name.self_and_ancestors()).await;
    if let Some(validator) = validator {
        join_all(climb.iter_mut().map(|l| validate(validator, l))).await;
    }
    let alias_target_climb = climb_alias_targets(dns, &climb).await;
    CaaObservation {
        queried: name.clone(),
        climb,
        alias_target_climb,
    }
}

async fn validate(validator: &Validator, lookup: &mut CaaLookup) {
    // A SERVFAIL is validated too: from a validating resolver it is how a
    // bogus answer arrives, and the cause must be named, not left as an
    // unexplained SERVFAIL. Other failures have no answer to validate.
    let servfail = matches!(
        &lookup.result,
        Err(LookupFailure::Rcode { rcode, .. }) if rcode.eq_ignore_ascii_case("SERVFAIL")
    );
    if lookup.result.is_err() && !servfail {
        return;
    }
    let note = validator.validate(&lookup.name, RecordType::CAA).await;
    match (note.status, &mut lookup.result) {
        (DnssecStatus::Bogus { cause }, _) => {
            lookup.result = Err(LookupFailure::Dnssec {
                cause,
                resolver: note.resolver,
            });
        }
        (status, Ok(answer)) => {
            answer.dnssec = Some(DnssecNote::new(
                note.name,
                note.rtype,
                status,
                note.resolver,
            ));
        }
        // A validating resolver refused what certvigil validates: its
        // validation is the odd one out (another trust anchor), said so.
        (
            status @ (DnssecStatus::Secure | DnssecStatus::Insecure { .. }),
            Err(LookupFailure::Rcode { server, .. }),
        ) if note.resolver == Some(ResolverView::Servfail) => {
            lookup.result = Err(LookupFailure::ResolverRejects {
                server: *server,
                validated: Box::new(status),
            });
        }
        // Otherwise the SERVFAIL has another cause (a lame or unreachable
        // server, or certvigil could not validate) and stays the failure.
        (_, Err(_)) => {}
    }
}

async fn lookup_all(dns: &DnsHandle, names: Vec<DomainName>) -> Vec<CaaLookup> {
    join_all(names.into_iter().map(|name| async move {
        let result = lookup_caa(dns, &name).await;
        CaaLookup { name, result }
    }))
    .await
}

/// RFC 6844 §4 before erratum 5065 climbed from an alias *target* to the
/// target's parents. For every alias chain in the climb, ask CAA at each
/// proper ancestor (up to the TLD) of each target, once per name; names
/// already asked in the climb are not asked again but copied, so the judge
/// finds every name of that older search here.
async fn climb_alias_targets(dns: &DnsHandle, climb: &[CaaLookup]) -> Vec<CaaLookup> {
    let asked: HashMap<&DomainName, &CaaLookup> = climb.iter().map(|l| (&l.name, l)).collect();
    let mut wanted: Vec<DomainName> = Vec::new();
    for lookup in climb {
        let Ok(answer) = &lookup.result else { continue };
        for target in answer.cname_chain.iter().skip(1) {
            for ancestor in target
                .parent()
                .iter()
                .flat_map(DomainName::self_and_ancestors)
            {
                if !wanted.contains(&ancestor) {
                    wanted.push(ancestor);
                }
            }
        }
    }
    join_all(wanted.into_iter().map(|name| {
        let already = asked.get(&name).map(|l| (*l).clone());
        async move {
            match already {
                Some(lookup) => lookup,
                None => CaaLookup {
                    result: lookup_caa(dns, &name).await,
                    name,
                },
            }
        }
    }))
    .await
}

/// One CAA query, its records decoded into raw [`CaaRecord`]s.
async fn lookup_caa(dns: &DnsHandle, name: &DomainName) -> Result<CaaAnswer, LookupFailure> {
    let answer = dns
        .lookup(name, RecordType::CAA)
        .await
        .map_err(to_failure)?;
    let owner = answer.cname_chain.last().unwrap_or(name);
    let records = answer
        .rdata
        .iter()
        .map(|rdata| {
            parse_caa_rdata(rdata).map_err(|why| LookupFailure::Malformed {
                detail: format!("a CAA record of {owner} from {}: {why}", answer.server),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CaaAnswer {
        cname_chain: answer.cname_chain,
        records,
        nxdomain: answer.nxdomain,
        dnssec: None,
    })
}

/// A failed query as the CAA model records it (the climb's and the other
/// views' lookups alike).
pub(crate) fn to_failure(e: QueryError) -> LookupFailure {
    match e {
        QueryError::Rcode { rcode, server, .. } => LookupFailure::Rcode {
            rcode,
            server: Some(server),
        },
        QueryError::Timeout { .. } => LookupFailure::Timeout,
        e @ QueryError::Malformed { .. } => LookupFailure::Malformed {
            detail: e.to_string(),
        },
        // The lookup already names the name and type; the socket error names
        // the server, so repeating "the CAA query for X failed" adds nothing.
        QueryError::Network { detail, .. } => LookupFailure::Network { detail },
    }
}

/// RFC 8659 §4.1: flags (1 octet), tag length (1 octet), tag, and the value
/// as every remaining octet. Only the framing is checked here; the tag's
/// alphabet and the value's grammar are the judge's to weigh, so a record
/// hickory would refuse is still seen.
pub fn parse_caa_rdata(rdata: &[u8]) -> Result<CaaRecord, String> {
    let [flags, tag_len, rest @ ..] = rdata else {
        return Err(format!(
            "its data is {} octet(s) long, shorter than flags and tag length",
            rdata.len()
        ));
    };
    // An empty tag breaks RFC 8659 §4.1 ("at least 1") but not the framing;
    // it is kept, as a CA's DNS library would keep it, for the judge.
    let tag_len = usize::from(*tag_len);
    if rest.len() < tag_len {
        return Err(format!(
            "its tag length is {tag_len} but only {} octet(s) follow",
            rest.len()
        ));
    }
    let (tag, value) = rest.split_at(tag_len);
    Ok(CaaRecord {
        flags: *flags,
        // Tags are ASCII letters and digits (RFC 8659 §4.1); any other
        // octet makes the tag unknown either way, so a lossy conversion
        // changes no verdict.
        tag: String::from_utf8_lossy(tag).into_owned(),
        value: value.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8659_4_1_value_is_every_octet_after_the_tag() {
        let r = parse_caa_rdata(b"\x80\x05issueca.example; policy=ev").unwrap();
        assert_eq!(r.flags, 128);
        assert_eq!(r.tag, "issue");
        assert_eq!(r.value, b"ca.example; policy=ev");
    }

    #[test]
    fn rfc8659_4_1_long_tags_and_empty_values_are_kept() {
        let r = parse_caa_rdata(b"\x00\x14abcdefghijklmnopqrst").unwrap();
        assert_eq!(r.tag, "abcdefghijklmnopqrst");
        assert!(r.value.is_empty());
    }

    #[test]
    fn rfc8659_4_1_only_broken_framing_is_an_error() {
        assert!(parse_caa_rdata(b"\x00").unwrap_err().contains("1 octet"));
        assert_eq!(parse_caa_rdata(b"\x00\x00x").unwrap().value, b"x");
        assert!(parse_caa_rdata(b"\x00\x09issue").unwrap_err().contains("9"));
    }
}
