//! Words for CAA verdicts: which name's records decided, through which
//! alias, whom they authorize, and the exact fix as zone-file lines.
//! Pure functions over the judge's findings; no rule is decided here.

use super::binding::BindingMismatch;
use super::judge::{CountedRecord, CountedTag, SetEvaluation, SetOutcome, kind_of};
use super::model::{
    CaaLookup, CaaObservation, CaaRecord, CaaVerdict, CaaVerdictKind, IssuanceRequest,
    LookupFailure,
};
use super::property::PropertyTag;
use super::value::{IssueValue, QuotedValue};
use crate::domain::DomainName;

/// A record as it would appear in a zone file after the owner name:
/// `0 issue "letsencrypt.org"`.
pub fn presentation(record: &CaaRecord) -> String {
    format!(
        "{} {} {}",
        record.flags,
        crate::redact::escape_controls(&record.tag),
        QuotedValue::new(&record.value)
    )
}

/// A full zone-file line: `example.com. CAA 0 issue "sectigo.com"`.
pub fn zone_line(owner: &DomainName, tag: &str, value: &str) -> String {
    format!(
        "{owner}. CAA 0 {} {}",
        crate::redact::escape_controls(tag),
        QuotedValue::new(value.as_bytes())
    )
}

fn cert_name(obs: &CaaObservation, req: &IssuanceRequest) -> String {
    if req.wildcard {
        format!("*.{}", obs.queried)
    } else {
        obs.queried.to_string()
    }
}

/// "sectigo.com" or "sectigo.com (or comodoca.com)".
fn ca_phrase(req: &IssuanceRequest) -> String {
    match req.issuer_domains.as_slice() {
        [] => "this CA".into(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!(
            "{first} (or {})",
            rest.iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn suggested_issuer(req: &IssuanceRequest) -> String {
    req.issuer_domains
        .first()
        .map_or_else(|| "ca.example".to_string(), |d| d.to_string())
}

fn chain_text(chain: &[DomainName]) -> String {
    chain
        .iter()
        .map(|d| d.as_str())
        .collect::<Vec<_>>()
        .join(" -> ")
}

fn list_or_nobody(issuers: &[&str]) -> String {
    if issuers.is_empty() {
        "nobody".into()
    } else {
        issuers.join(", ")
    }
}

fn tld(name: &DomainName) -> DomainName {
    name.self_and_ancestors()
        .pop()
        .unwrap_or_else(|| name.clone())
}

/// The subject of a sentence, never lower-cased or capitalised since it may
/// start with a domain name: "The CAA records at example.com" /
/// "www.example.com is an alias of
/// x.github.io, whose CAA records" / "www.example.com has no CAA records;
/// the relevant ones are its ancestor example.com's, which".
fn whose_records(queried: &DomainName, relevant: &DomainName, chain: &[DomainName]) -> String {
    let mut out = String::new();
    if relevant != queried {
        out.push_str(&format!("{queried} has no CAA records; "));
    }
    match chain {
        [_, .., target] => out.push_str(&format!(
            "{}{relevant} is an alias of {target}{}, whose CAA records",
            if relevant != queried {
                "its ancestor "
            } else {
                ""
            },
            if chain.len() > 2 {
                format!(" (via {})", chain_text(chain))
            } else {
                String::new()
            }
        )),
        _ if relevant != queried => {
            out.push_str(&format!("the CAA records of its ancestor {relevant}"))
        }
        _ => out.push_str(&format!("The CAA records at {relevant}")),
    }
    out
}

/// Verdict for a lookup that failed on this side: the configured resolver
/// did not answer or refused. Nothing is known about the zone, so the text
/// points at the resolver, not at the zone's name servers.
fn resolver_failed(
    obs: &CaaObservation,
    lookup: &CaaLookup,
    failure: &LookupFailure,
) -> CaaVerdict {
    let name = &lookup.name;
    let reason = format!(
        "The CAA lookup at {name} failed: {failure}. That is the resolver certvigil asks (the [dns] servers, else /etc/resolv.conf), not the zone of {name}: the zone was not reached, so whether a CA may issue is unknown."
    );
    let hint = match failure {
        LookupFailure::Rcode { .. } => {
            "It refused the query: allow recursion for this host in its access list, or configure another resolver in [dns]."
        }
        _ => {
            "Check that it is running and reachable from this host (address, port, firewall), or configure another resolver in [dns]."
        }
    };
    let remedy = format!(
        "Your resolver is unreachable or refuses certvigil; this is not a fault of the name servers for {name}. {hint}"
    );
    error_verdict(obs, name, failure.clone(), reason, remedy)
}

/// Verdict for a lookup the configured (validating) resolver refused with
/// SERVFAIL while certvigil validates the answer: the resolver's trust is
/// wrong, not the zone. A CA validating from the IANA root would get the
/// answer, but the CAA set cannot be judged through this resolver.
fn resolver_rejects(
    obs: &CaaObservation,
    lookup: &CaaLookup,
    failure: &LookupFailure,
    server: Option<std::net::SocketAddr>,
) -> CaaVerdict {
    let name = &lookup.name;
    let server = server.map_or_else(|| "the configured resolver".to_string(), |s| s.to_string());
    let reason = format!(
        "The CAA lookup at {name} failed: {failure}. The fault is the resolver's own DNSSEC validation (another or outdated root trust anchor, a stale negative trust anchor or cache), not the zone of {name}: a CA validating from the IANA root gets the answer, but certvigil cannot judge CAA through this resolver."
    );
    let remedy = format!(
        "Update the root trust anchor of {server} (e.g. unbound-anchor, or its auto-trust-anchor-file; RFC 5011 rollovers), flush its cache, or configure another resolver in [dns]."
    );
    error_verdict(obs, name, failure.clone(), reason, remedy)
}

/// Verdict for a failed lookup at or below the relevant name.
pub(crate) fn lookup_failed(
    obs: &CaaObservation,
    lookup: &CaaLookup,
    failure: &LookupFailure,
) -> CaaVerdict {
    let name = &lookup.name;
    if let LookupFailure::Dnssec { cause, resolver } = failure {
        return dnssec_bogus(obs, lookup, cause, *resolver);
    }
    if let LookupFailure::ResolverRejects { server, .. } = failure {
        return resolver_rejects(obs, lookup, failure, *server);
    }
    if failure.is_local() {
        return resolver_failed(obs, lookup, failure);
    }
    let reason = format!(
        "The CAA lookup at {name} failed: {failure}. A CA may issue past a failed CAA lookup only in narrow cases (CA/B BR §3.2.2.8: retried, outside the CA, zone not DNSSEC-signed) and many never do, so expect a refusal."
    );
    let hint = match failure {
        LookupFailure::Rcode { rcode, .. } if rcode.eq_ignore_ascii_case("SERVFAIL") => {
            "SERVFAIL usually means a broken DNSSEC chain or an authoritative server that does not answer; check the delegation and signatures (e.g. with dnsviz)."
        }
        LookupFailure::Rcode { .. } => {
            "Some old name servers and middleboxes reject queries for the CAA type (257); they must answer NOERROR with no records instead."
        }
        // Local failures are `resolver_failed`'s; DNSSEC is `dnssec_bogus`'s.
        LookupFailure::Timeout
        | LookupFailure::Malformed { .. }
        | LookupFailure::Network { .. }
        | LookupFailure::Dnssec { .. }
        | LookupFailure::ResolverRejects { .. } => {
            "Check the authoritative servers' answers for this name (dig CAA)."
        }
    };
    let above = if name != &obs.queried {
        format!(
            " Every name from {} up to the closest one with CAA records must answer, because a record at {name} would apply.",
            obs.queried
        )
    } else {
        String::new()
    };
    let remedy = format!(
        "Fix the name servers for {name} so that a CAA query gets NOERROR (with or without records) or NXDOMAIN. {hint}{above}"
    );
    error_verdict(obs, name, failure.clone(), reason, remedy)
}

/// Verdict for a decisive lookup whose DNSSEC chain is broken: a CA's
/// validating resolver answers SERVFAIL, and the CA refuses (CA/B ballot
/// SC-085v2: a validation error is never permission to issue).
fn dnssec_bogus(
    obs: &CaaObservation,
    lookup: &CaaLookup,
    cause: &crate::checks::dnssec::BogusCause,
    resolver: Option<crate::checks::dnssec::ResolverView>,
) -> CaaVerdict {
    let name = &lookup.name;
    // A validating resolver's SERVFAIL is this same failure: said, so it
    // does not read as an outage of the resolver.
    let resolver_says = if resolver == Some(crate::checks::dnssec::ResolverView::Servfail) {
        " The configured resolver validates too and answered SERVFAIL for it: the same validation failure."
    } else {
        ""
    };
    let reason = format!(
        "The CAA answer for {name} is DNSSEC-bogus: {}.{resolver_says} Every CA validates DNSSEC for CAA lookups and refuses to issue while the chain is broken.",
        cause.describe()
    );
    let failure = LookupFailure::Dnssec {
        cause: cause.clone(),
        resolver,
    };
    error_verdict(obs, name, failure, reason, cause.fix())
}

/// The `error` verdict of a lookup at `name` that failed with `failure`:
/// no records judged, the reason and the fix as the caller words them.
fn error_verdict(
    obs: &CaaObservation,
    name: &DomainName,
    failure: LookupFailure,
    reason: String,
    remedy: String,
) -> CaaVerdict {
    CaaVerdict {
        verdict: CaaVerdictKind::Error,
        relevant_name: None,
        records: Vec::new(),
        cname_chain: queried_chain(obs),
        reason,
        remedy: Some(remedy),
        lookup_error: Some((name.clone(), failure)),
        legacy_rfc6844: None,
        views: Vec::new(),
        dnssec: Vec::new(),
    }
}

fn queried_chain(obs: &CaaObservation) -> Vec<DomainName> {
    obs.climb
        .first()
        .filter(|l| l.name == obs.queried)
        .map(super::judge::chain_of)
        .unwrap_or_else(|| vec![obs.queried.clone()])
}

/// Verdict when no name up to the TLD has CAA records.
pub(crate) fn no_records(obs: &CaaObservation, req: &IssuanceRequest) -> CaaVerdict {
    let chain = queried_chain(obs);
    let alias = match chain.as_slice() {
        [_, .., target] => format!(" (an alias of {target}, which has none either)"),
        _ => String::new(),
    };
    let reason = format!(
        "No CAA records at {}{alias} or any parent up to {}, so CAA allows every CA, including {} (RFC 8659 §3).",
        obs.queried,
        tld(&obs.queried),
        ca_phrase(req)
    );
    CaaVerdict {
        verdict: CaaVerdictKind::Allowed,
        relevant_name: None,
        records: Vec::new(),
        cname_chain: chain,
        reason,
        remedy: None,
        lookup_error: None,
        legacy_rfc6844: None,
        views: Vec::new(),
        dnssec: Vec::new(),
    }
}

/// Verdict when a Relevant RRset was found.
pub(crate) fn decided(
    obs: &CaaObservation,
    req: &IssuanceRequest,
    relevant: &DomainName,
    chain: &[DomainName],
    records: &[CaaRecord],
    eval: &SetEvaluation<'_>,
) -> CaaVerdict {
    let whose = whose_records(&obs.queried, relevant, chain);
    let (reason, remedy) = match eval.outcome {
        SetOutcome::NotRestricted => not_restricted(req, &whose, eval),
        SetOutcome::Authorized { index } => authorized(req, relevant, chain, &whose, eval, index),
        SetOutcome::CriticalUnknown => critical_unknown(relevant, chain, &whose, eval),
        SetOutcome::NotAuthorized => not_authorized(obs, req, relevant, chain, &whose, eval),
    };
    CaaVerdict {
        verdict: kind_of(eval),
        relevant_name: Some(relevant.clone()),
        records: records.to_vec(),
        cname_chain: chain.to_vec(),
        reason,
        remedy,
        lookup_error: None,
        legacy_rfc6844: None,
        views: Vec::new(),
        dnssec: Vec::new(),
    }
}

/// Where a fix has to go: the relevant name itself, or, for a policy
/// inherited through a CNAME, the alias target.
fn policy_target(chain: &[DomainName]) -> Option<&DomainName> {
    match chain {
        [_, .., target] => Some(target),
        _ => None,
    }
}

fn not_restricted(
    req: &IssuanceRequest,
    whose: &str,
    eval: &SetEvaluation<'_>,
) -> (String, Option<String>) {
    let what = if !req.wildcard && eval.has_issuewild {
        "only issuewild properties, which apply to wildcard certificates only (RFC 8659 §4.3)"
    } else {
        "no issue or issuewild property (only iodef or other tags)"
    };
    let reason = format!(
        "{whose} contain {what}, so they do not restrict {} (RFC 8659 §4).",
        ca_phrase(req)
    );
    with_caveats(reason, None, eval)
}

fn authorized(
    req: &IssuanceRequest,
    relevant: &DomainName,
    chain: &[DomainName],
    whose: &str,
    eval: &SetEvaluation<'_>,
    index: usize,
) -> (String, Option<String>) {
    let by = &eval.counted[index];
    let scope = scope_phrase(req, eval);
    let mut reason = format!(
        "{whose} authorize {}{scope}; the record {} covers this CA.",
        list_or_nobody(&eval.issuers()),
        presentation(by.record)
    );
    let mut remedy = None;
    // Boulder compares the issuer domain byte for byte; RFC 8659 does not
    // say so, but a record written "LetsEncrypt.org" fails there.
    if let Ok(IssueValue {
        issuer: Some(issuer),
        issuer_as_written: Some(written),
        ..
    }) = &by.value
        && issuer != written
    {
        let owner = policy_target(chain).unwrap_or(relevant);
        reason.push_str(&format!(
            " The record writes the issuer domain as {written:?}; CAs that compare it byte for byte (Let's Encrypt) would refuse."
        ));
        remedy = Some(format!(
            "Write the issuer domain in lower case at {owner}:\n  {}",
            zone_line(
                owner,
                by.record.tag.to_ascii_lowercase().as_str(),
                &lowercase_issuer(by.record)
            )
        ));
    }
    with_caveats(reason, remedy, eval)
}

fn lowercase_issuer(record: &CaaRecord) -> String {
    let text = record.value_lossy();
    match text.split_once(';') {
        Some((issuer, rest)) => format!("{};{rest}", issuer.trim().to_ascii_lowercase()),
        None => text.trim().to_ascii_lowercase(),
    }
}

/// Adds the caveat for critical properties some CAs do not implement.
fn with_caveats(
    mut reason: String,
    mut remedy: Option<String>,
    eval: &SetEvaluation<'_>,
) -> (String, Option<String>) {
    let add_fix = |remedy: &mut Option<String>, fix: String| {
        *remedy = Some(match remedy.take() {
            Some(r) => format!("{r}\n{fix}"),
            None => fix,
        });
    };
    if let Some(record) = eval.flag_1_only.first() {
        reason.push_str(&format!(
            " Note: {} has flags {}; RFC 8659 §4.1 ignores every flag bit but 128, so by the RFC it is not critical and does not stop this CA. Let's Encrypt, as its own policy, treats bit value 1 as critical too and would refuse.",
            presentation(record),
            record.flags
        ));
        add_fix(
            &mut remedy,
            format!(
                "If Let's Encrypt may issue too, publish {} instead.",
                presentation(&CaaRecord {
                    flags: 0,
                    ..(*record).clone()
                })
            ),
        );
    }
    if let Some(record) = eval.critical_optional.first() {
        reason.push_str(&format!(
            " Note: {} is marked critical; RFC 8659 allows that, but a CA that does not implement {} must refuse (Let's Encrypt, for one, recognises only issue, issuewild, iodef, issuemail and issuevmc).",
            presentation(record),
            crate::redact::escape_controls(&record.tag)
        ));
        let fix = format!(
            "Clear the critical flag unless every CA you use implements {}: publish {} instead.",
            crate::redact::escape_controls(&record.tag),
            presentation(&CaaRecord {
                flags: 0,
                ..(*record).clone()
            })
        );
        add_fix(&mut remedy, fix);
    }
    (reason, remedy)
}

fn scope_phrase(req: &IssuanceRequest, eval: &SetEvaluation<'_>) -> &'static str {
    match (req.wildcard, eval.counted_tag) {
        (true, CountedTag::IssueWild) => " for wildcard certificates (issuewild)",
        _ => "",
    }
}

fn critical_unknown(
    relevant: &DomainName,
    chain: &[DomainName],
    whose: &str,
    eval: &SetEvaluation<'_>,
) -> (String, Option<String>) {
    let record = eval.critical_unknown[0];
    let known = PropertyTag::classify(&record.tag) != PropertyTag::Unknown;
    let reason = if record.is_critical_by_flag_1_only() {
        // Only Let's Encrypt's policy puts such a record here (`evaluate_set`).
        format!(
            "{whose} include {}, a property with a tag Let's Encrypt does not implement, with flags {}. RFC 8659 §4.1 defines only bit value 128 as critical and says the other bits are ignored, so by the RFC this record does not matter; but Let's Encrypt, as its own policy, also treats bit value 1 as critical, so Let's Encrypt refuses. CAs that follow the RFC to the letter may issue.",
            presentation(record),
            record.flags
        )
    } else if known {
        // A registered tag Let's Encrypt does not implement (`evaluate_set`).
        format!(
            "{whose} include {}, a property Let's Encrypt does not implement, marked critical, so Let's Encrypt refuses (RFC 8659 §4.1: a critical property the CA does not support forbids issuance). CAs that implement {} may issue.",
            presentation(record),
            crate::redact::escape_controls(&record.tag)
        )
    } else {
        format!(
            "{whose} include {}, a property with a tag CAs do not know, marked critical, so every CA must refuse (RFC 8659 §4.1).",
            presentation(record)
        )
    };
    let cleared = CaaRecord {
        flags: 0,
        ..record.clone()
    };
    let remedy = match policy_target(chain) {
        None => format!(
            "Remove that record at {relevant}, or clear its flag:\n  {relevant}. CAA {}",
            presentation(&cleared)
        ),
        Some(target) => format!(
            "The record is at {target}; {relevant} is a CNAME and cannot carry CAA records of its own (RFC 1034 §3.6.2). Either:\n  - if you control {target}, remove it or clear its flag: {target}. CAA {}\n  - or replace the CNAME at {relevant} by A/AAAA records and publish your own CAA records there.",
            presentation(&cleared)
        ),
    };
    (reason, Some(remedy))
}

fn not_authorized(
    obs: &CaaObservation,
    req: &IssuanceRequest,
    relevant: &DomainName,
    chain: &[DomainName],
    whose: &str,
    eval: &SetEvaluation<'_>,
) -> (String, Option<String>) {
    let issuers = eval.issuers();
    let scope = scope_phrase(req, eval);
    let bound = eval
        .counted
        .iter()
        .find_map(|c| c.binding.as_ref().err().map(|m| (c, m)));
    let mut reason = if let Some((c, mismatch)) = bound {
        format!(
            "{whose} name {} only under RFC 8657 conditions this order does not meet: the record {} names it, but {}.",
            ca_phrase(req),
            presentation(c.record),
            mismatch.describe()
        )
    } else if issuers.is_empty() {
        format!(
            "{whose} authorize no CA at all{scope} ({}), so {} may not issue for {}.",
            eval.counted
                .iter()
                .map(|c| presentation(c.record))
                .collect::<Vec<_>>()
                .join(", "),
            ca_phrase(req),
            cert_name(obs, req)
        )
    } else {
        format!(
            "{whose} authorize only {}{scope}, not {}.",
            issuers.join(", "),
            ca_phrase(req)
        )
    };
    if bound.is_some() {
        // Said above.
    } else if let Some((record, e)) = eval
        .counted
        .iter()
        .find_map(|c| c.value.as_ref().err().map(|e| (c.record, e)))
    {
        reason.push_str(&format!(
            " Record {} does not match the RFC 8659 §4.2 grammar ({}), so it authorizes nobody.",
            presentation(record),
            e.problem
        ));
    }
    if req.wildcard && eval.counted_tag == CountedTag::IssueWild && eval.has_issue {
        reason.push_str(" For wildcard certificates only the issuewild records count while there are any (RFC 8659 §4.3).");
    }
    let remedy = fix_for_unauthorized(obs, req, relevant, chain, eval, &issuers, bound);
    (reason, Some(remedy))
}

/// The record value that would authorize this request: the CA's first
/// issuer domain, bound to the request's account/method where the
/// existing records use bindings.
fn suggested_value(req: &IssuanceRequest, eval: &SetEvaluation<'_>) -> String {
    let mut value = suggested_issuer(req);
    let uses = |tag: &str| {
        eval.counted.iter().any(|c: &CountedRecord<'_>| {
            c.value
                .as_ref()
                .is_ok_and(|v| v.param_values(tag).next().is_some())
        })
    };
    if let (true, Some(account)) = (uses("accounturi"), req.account_uris.first()) {
        value.push_str(&format!("; accounturi={account}"));
    }
    if let (true, Some(method)) = (uses("validationmethods"), &req.validation_method) {
        value.push_str(&format!("; validationmethods={method}"));
    }
    value
}

fn fix_for_unauthorized(
    obs: &CaaObservation,
    req: &IssuanceRequest,
    relevant: &DomainName,
    chain: &[DomainName],
    eval: &SetEvaluation<'_>,
    issuers: &[&str],
    bound: Option<(&CountedRecord<'_>, &BindingMismatch)>,
) -> String {
    // For a wildcard the fix must be an issuewild record when the set has
    // any, since those then shadow every issue record (RFC 8659 §4.3).
    let tag = eval.counted_tag.as_str();
    let value = suggested_value(req, eval);
    let mut out = String::new();
    match bound {
        Some((_, BindingMismatch::AccountNotGiven { bound_to })) => out.push_str(&format!(
            "If you order with the account {bound_to}, give it (--account-uri, or account_uri in the config) and certvigil will check it. Otherwise:\n"
        )),
        Some((_, BindingMismatch::MethodNotGiven { allowed })) => out.push_str(&format!(
            "If you validate with {}, give the method (--validation-method, or validation_method in the config). Otherwise:\n",
            allowed.join(" or ")
        )),
        _ => {}
    }
    match policy_target(chain) {
        None => {
            if issuers.is_empty() && bound.is_none() {
                out.push_str(
                    "The existing record(s) forbid every CA, probably on purpose; adding this lifts that for this CA only. ",
                );
            }
            out.push_str(&format!(
                "Add this record at {relevant} (CAA authorizations add up, RFC 8659 §4.2):\n  {}",
                zone_line(relevant, tag, &value)
            ));
            // A set at the name itself replaces an ancestor's policy for it
            // (RFC 8659 §3) - the only way out when the ancestor is not the
            // user's (a TLD, a parent zone run by someone else). Impossible
            // at an alias owner, which can hold no CAA records.
            if relevant != &obs.queried && queried_chain(obs).len() == 1 {
                out.push_str(&format!(
                    "\nIf {relevant} is not yours to change, publish a policy of your own at {} instead; it replaces {relevant}'s for that name (and the names below it), so list every CA they need:\n  {}",
                    obs.queried,
                    zone_line(&obs.queried, "issue", &suggested_issuer(req))
                ));
            }
        }
        Some(target) => {
            out.push_str(&format!(
                "{relevant} is a CNAME to {target}, and a name with a CNAME can hold no other records (RFC 1034 §3.6.2), so its CAA policy is {target}'s. Either:\n  - if you control {target}, add there: {}\n  - or replace the CNAME at {relevant} by A/AAAA records and publish your own policy: {}",
                zone_line(target, tag, &value),
                zone_line(relevant, tag, &value)
            ));
            if !issuers.is_empty() {
                out.push_str(&format!(
                    "\n  - or choose a CA that {target}'s records authorize: {}",
                    issuers.join(", ")
                ));
            }
        }
    }
    out
}
