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
use super::value::{IssueValueRef, write_escaped, write_quoted};
use crate::domain::DomainName;
use std::fmt::{self, Write as _};

/// A record as it would appear in a zone file after the owner name:
/// `0 issue "letsencrypt.org"`.
pub fn presentation(record: &CaaRecord) -> String {
    Presentation(record).to_string()
}

/// [`presentation`] written straight into the sentence that quotes it.
struct Presentation<'r>(&'r CaaRecord);

impl fmt::Display for Presentation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let record = self.0;
        write!(
            f,
            "{} {} ",
            record.flags,
            crate::redact::escape_controls(&record.tag)
        )?;
        write_quoted(&record.value, f)
    }
}

/// A full zone-file line: `example.com. CAA 0 issue "sectigo.com"`.
pub fn zone_line(owner: &DomainName, tag: &str, value: &str) -> String {
    ZoneLine { owner, tag, value }.to_string()
}

/// [`zone_line`] written straight into the remedy that quotes it; the
/// value is anything displayed, quoted as it is written.
struct ZoneLine<'a, V> {
    owner: &'a DomainName,
    tag: &'a str,
    value: V,
}

impl<V: fmt::Display> fmt::Display for ZoneLine<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}. CAA 0 {} ",
            self.owner,
            crate::redact::escape_controls(self.tag)
        )?;
        f.write_char('"')?;
        write!(Quoting(f), "{}", self.value)?;
        f.write_char('"')
    }
}

/// Escapes what goes through it as [`super::value::QuotedValue`] does, without its quotes.
struct Quoting<'f, 'g>(&'f mut fmt::Formatter<'g>);

impl fmt::Write for Quoting<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(s.as_bytes(), &mut *self.0)
    }
}

fn cert_name(obs: &CaaObservation, req: &IssuanceRequest) -> String {
    if req.wildcard {
        format!("*.{}", obs.queried)
    } else {
        obs.queried.to_string()
    }
}

/// "sectigo.com" or "sectigo.com (or comodoca.com)", written where used.
struct CaPhrase<'q>(&'q IssuanceRequest);

impl fmt::Display for CaPhrase<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.issuer_domains.as_slice() {
            [] => f.write_str("this CA"),
            [one] => write!(f, "{one}"),
            [first, rest @ ..] => write!(f, "{first} (or {})", Joined(rest, ", ")),
        }
    }
}

/// Items with `sep` between them, written without collecting them first.
struct Joined<'a, T>(&'a [T], &'static str);

impl<T: fmt::Display> fmt::Display for Joined<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_joined(f, self.0.iter(), self.1).map(|_| ())
    }
}

/// Writes `items` with `sep` between them; whether there was any.
fn write_joined<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: impl Iterator<Item = T>,
    sep: &str,
) -> Result<bool, fmt::Error> {
    let mut any = false;
    for item in items {
        if any {
            f.write_str(sep)?;
        }
        item.fmt(f)?;
        any = true;
    }
    Ok(any)
}

/// The distinct issuer domains the counted records name
/// ([`SetEvaluation::issuers`]), joined by ", "; `.1` when none.
#[derive(Clone, Copy)]
struct Issuers<'e, 'r>(&'e SetEvaluation<'r>, &'static str);

impl Issuers<'_, '_> {
    fn is_empty(&self) -> bool {
        self.0.issuers().next().is_none()
    }
}

impl fmt::Display for Issuers<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !write_joined(f, self.0.issuers(), ", ")? {
            f.write_str(self.1)?;
        }
        Ok(())
    }
}

/// The CA's first issuer domain, for a suggested record.
struct SuggestedIssuer<'q>(&'q IssuanceRequest);

impl fmt::Display for SuggestedIssuer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            self.0
                .issuer_domains
                .first()
                .map_or("ca.example", |d| d.as_str()),
        )
    }
}

/// The last label of `name`: the top of its climb.
fn tld(name: &DomainName) -> &str {
    name.as_str().rsplit('.').next().unwrap_or(name.as_str())
}

/// The subject of a sentence, never lower-cased or capitalised since it may
/// start with a domain name: "The CAA records at example.com" /
/// "www.example.com is an alias of
/// x.github.io, whose CAA records" / "www.example.com has no CAA records;
/// the relevant ones are its ancestor example.com's, which".
fn whose_records<'a>(
    queried: &'a DomainName,
    relevant: &'a DomainName,
    chain: &'a [DomainName],
) -> Whose<'a> {
    Whose {
        queried,
        relevant,
        chain,
    }
}

/// [`whose_records`]: written into the reason that starts with it.
#[derive(Clone, Copy)]
struct Whose<'a> {
    queried: &'a DomainName,
    relevant: &'a DomainName,
    chain: &'a [DomainName],
}

impl fmt::Display for Whose<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Whose {
            queried,
            relevant,
            chain,
        } = *self;
        if relevant != queried {
            write!(f, "{queried} has no CAA records; ")?;
        }
        match chain {
            [_, .., target] => {
                if relevant != queried {
                    f.write_str("its ancestor ")?;
                }
                write!(f, "{relevant} is an alias of {target}")?;
                if chain.len() > 2 {
                    write!(f, " (via {})", Joined(chain, " -> "))?;
                }
                f.write_str(", whose CAA records")
            }
            _ if relevant != queried => write!(f, "the CAA records of its ancestor {relevant}"),
            _ => write!(f, "The CAA records at {relevant}"),
        }
    }
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
        cname_chain: queried_chain(obs).to_vec(),
        reason,
        remedy: Some(remedy),
        lookup_error: Some((name.clone(), failure)),
        legacy_rfc6844: None,
        views: Vec::new(),
        dnssec: Vec::new(),
    }
}

fn queried_chain(obs: &CaaObservation) -> &[DomainName] {
    obs.climb
        .first()
        .filter(|l| l.name == obs.queried)
        .map_or(std::slice::from_ref(&obs.queried), super::judge::chain_of)
}

/// Verdict when no name up to the TLD has CAA records.
pub(crate) fn no_records(obs: &CaaObservation, req: &IssuanceRequest) -> CaaVerdict {
    let chain = queried_chain(obs);
    let alias = match chain {
        [_, .., target] => format!(" (an alias of {target}, which has none either)"),
        _ => String::new(),
    };
    let reason = format!(
        "No CAA records at {}{alias} or any parent up to {}, so CAA allows every CA, including {} (RFC 8659 §3).",
        obs.queried,
        tld(&obs.queried),
        CaPhrase(req)
    );
    CaaVerdict {
        verdict: CaaVerdictKind::Allowed,
        relevant_name: None,
        records: Vec::new(),
        cname_chain: chain.to_vec(),
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
        SetOutcome::NotRestricted => not_restricted(req, whose, eval),
        SetOutcome::Authorized { index } => authorized(req, relevant, chain, whose, eval, index),
        SetOutcome::CriticalUnknown => critical_unknown(relevant, chain, whose, eval),
        SetOutcome::NotAuthorized => not_authorized(obs, req, relevant, chain, whose, eval),
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
    whose: Whose<'_>,
    eval: &SetEvaluation<'_>,
) -> (String, Option<String>) {
    let what = if !req.wildcard && eval.has_issuewild {
        "only issuewild properties, which apply to wildcard certificates only (RFC 8659 §4.3)"
    } else {
        "no issue or issuewild property (only iodef or other tags)"
    };
    let reason = format!(
        "{whose} contain {what}, so they do not restrict {} (RFC 8659 §4).",
        CaPhrase(req)
    );
    with_caveats(reason, None, eval)
}

fn authorized(
    req: &IssuanceRequest,
    relevant: &DomainName,
    chain: &[DomainName],
    whose: Whose<'_>,
    eval: &SetEvaluation<'_>,
    index: usize,
) -> (String, Option<String>) {
    let by = &eval.counted[index];
    let scope = scope_phrase(req, eval);
    let mut reason = format!(
        "{whose} authorize {}{scope}; the record {} covers this CA.",
        Issuers(eval, "nobody"),
        Presentation(by.record)
    );
    let mut remedy = None;
    // Boulder compares the issuer domain byte for byte; RFC 8659 does not
    // say so, but a record written "LetsEncrypt.org" fails there.
    if let Ok(IssueValueRef {
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
            Presentation(record),
            record.flags
        ));
        add_fix(
            &mut remedy,
            format!(
                "If Let's Encrypt may issue too, publish {} instead.",
                Presentation(&CaaRecord {
                    flags: 0,
                    ..(*record).clone()
                })
            ),
        );
    }
    if let Some(record) = eval.critical_optional.first() {
        reason.push_str(&format!(
            " Note: {} is marked critical; RFC 8659 allows that, but a CA that does not implement {} must refuse (Let's Encrypt, for one, recognises only issue, issuewild, iodef, issuemail and issuevmc).",
            Presentation(record),
            crate::redact::escape_controls(&record.tag)
        ));
        let fix = format!(
            "Clear the critical flag unless every CA you use implements {}: publish {} instead.",
            crate::redact::escape_controls(&record.tag),
            Presentation(&CaaRecord {
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
    whose: Whose<'_>,
    eval: &SetEvaluation<'_>,
) -> (String, Option<String>) {
    let record = eval.critical_unknown[0];
    let known = PropertyTag::classify(&record.tag) != PropertyTag::Unknown;
    let reason = if record.is_critical_by_flag_1_only() {
        // Only Let's Encrypt's policy puts such a record here (`evaluate_set`).
        format!(
            "{whose} include {}, a property with a tag Let's Encrypt does not implement, with flags {}. RFC 8659 §4.1 defines only bit value 128 as critical and says the other bits are ignored, so by the RFC this record does not matter; but Let's Encrypt, as its own policy, also treats bit value 1 as critical, so Let's Encrypt refuses. CAs that follow the RFC to the letter may issue.",
            Presentation(record),
            record.flags
        )
    } else if known {
        // A registered tag Let's Encrypt does not implement (`evaluate_set`).
        format!(
            "{whose} include {}, a property Let's Encrypt does not implement, marked critical, so Let's Encrypt refuses (RFC 8659 §4.1: a critical property the CA does not support forbids issuance). CAs that implement {} may issue.",
            Presentation(record),
            crate::redact::escape_controls(&record.tag)
        )
    } else {
        format!(
            "{whose} include {}, a property with a tag CAs do not know, marked critical, so every CA must refuse (RFC 8659 §4.1).",
            Presentation(record)
        )
    };
    let cleared = CaaRecord {
        flags: 0,
        ..record.clone()
    };
    let remedy = match policy_target(chain) {
        None => format!(
            "Remove that record at {relevant}, or clear its flag:\n  {relevant}. CAA {}",
            Presentation(&cleared)
        ),
        Some(target) => format!(
            "The record is at {target}; {relevant} is a CNAME and cannot carry CAA records of its own (RFC 1034 §3.6.2). Either:\n  - if you control {target}, remove it or clear its flag: {target}. CAA {}\n  - or replace the CNAME at {relevant} by A/AAAA records and publish your own CAA records there.",
            Presentation(&cleared)
        ),
    };
    (reason, Some(remedy))
}

fn not_authorized(
    obs: &CaaObservation,
    req: &IssuanceRequest,
    relevant: &DomainName,
    chain: &[DomainName],
    whose: Whose<'_>,
    eval: &SetEvaluation<'_>,
) -> (String, Option<String>) {
    let issuers = Issuers(eval, "");
    let scope = scope_phrase(req, eval);
    let bound = eval
        .counted
        .iter()
        .find_map(|c| c.binding.as_ref().err().map(|m| (c, m)));
    let mut reason = if let Some((c, mismatch)) = bound {
        format!(
            "{whose} name {} only under RFC 8657 conditions this order does not meet: the record {} names it, but {}.",
            CaPhrase(req),
            Presentation(c.record),
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
            CaPhrase(req),
            cert_name(obs, req)
        )
    } else {
        format!(
            "{whose} authorize only {issuers}{scope}, not {}.",
            CaPhrase(req)
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
            Presentation(record),
            e.problem
        ));
    }
    if req.wildcard && eval.counted_tag == CountedTag::IssueWild && eval.has_issue {
        reason.push_str(" For wildcard certificates only the issuewild records count while there are any (RFC 8659 §4.3).");
    }
    let remedy = fix_for_unauthorized(obs, req, relevant, chain, eval, issuers, bound);
    (reason, Some(remedy))
}

/// The record value that would authorize this request: the CA's first
/// issuer domain, bound to the request's account/method where the
/// existing records use bindings.
/// Written where it is quoted (a [`ZoneLine`]).
#[derive(Clone, Copy)]
struct SuggestedValue<'a, 'r> {
    req: &'a IssuanceRequest,
    eval: &'a SetEvaluation<'r>,
}

impl fmt::Display for SuggestedValue<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SuggestedValue { req, eval } = *self;
        write!(f, "{}", SuggestedIssuer(req))?;
        let uses = |tag: &str| {
            eval.counted.iter().any(|c: &CountedRecord<'_>| {
                c.value
                    .as_ref()
                    .is_ok_and(|v| v.param_values(tag).next().is_some())
            })
        };
        if let (true, Some(account)) = (uses("accounturi"), req.account_uris.first()) {
            write!(f, "; accounturi={account}")?;
        }
        if let (true, Some(method)) = (uses("validationmethods"), &req.validation_method) {
            write!(f, "; validationmethods={method}")?;
        }
        Ok(())
    }
}

fn fix_for_unauthorized(
    obs: &CaaObservation,
    req: &IssuanceRequest,
    relevant: &DomainName,
    chain: &[DomainName],
    eval: &SetEvaluation<'_>,
    issuers: Issuers<'_, '_>,
    bound: Option<(&CountedRecord<'_>, &BindingMismatch)>,
) -> String {
    // For a wildcard the fix must be an issuewild record when the set has
    // any, since those then shadow every issue record (RFC 8659 §4.3).
    let tag = eval.counted_tag.as_str();
    let value = SuggestedValue { req, eval };
    // Written into one buffer as large as the usual remedy (~150 bytes)
    // rather than pieced together from formatted parts.
    let mut out = String::with_capacity(256);
    // Writing into a String cannot fail: the results are ignored below.
    match bound {
        Some((_, BindingMismatch::AccountNotGiven { bound_to })) => {
            let _ = writeln!(
                out,
                "If you order with the account {bound_to}, give it (--account-uri, or account_uri in the config) and certvigil will check it. Otherwise:"
            );
        }
        Some((_, BindingMismatch::MethodNotGiven { allowed })) => {
            let _ = writeln!(
                out,
                "If you validate with {}, give the method (--validation-method, or validation_method in the config). Otherwise:",
                Joined(allowed, " or ")
            );
        }
        _ => {}
    }
    match policy_target(chain) {
        None => {
            if issuers.is_empty() && bound.is_none() {
                out.push_str(
                    "The existing record(s) forbid every CA, probably on purpose; adding this lifts that for this CA only. ",
                );
            }
            let _ = write!(
                out,
                "Add this record at {relevant} (CAA authorizations add up, RFC 8659 §4.2):\n  {}",
                ZoneLine {
                    owner: relevant,
                    tag,
                    value
                }
            );
            // A set at the name itself replaces an ancestor's policy for it
            // (RFC 8659 §3) - the only way out when the ancestor is not the
            // user's (a TLD, a parent zone run by someone else). Impossible
            // at an alias owner, which can hold no CAA records.
            if relevant != &obs.queried && queried_chain(obs).len() == 1 {
                let _ = write!(
                    out,
                    "\nIf {relevant} is not yours to change, publish a policy of your own at {} instead; it replaces {relevant}'s for that name (and the names below it), so list every CA they need:\n  {}",
                    obs.queried,
                    ZoneLine {
                        owner: &obs.queried,
                        tag: "issue",
                        value: SuggestedIssuer(req)
                    }
                );
            }
        }
        Some(target) => {
            let _ = write!(
                out,
                "{relevant} is a CNAME to {target}, and a name with a CNAME can hold no other records (RFC 1034 §3.6.2), so its CAA policy is {target}'s. Either:\n  - if you control {target}, add there: {}\n  - or replace the CNAME at {relevant} by A/AAAA records and publish your own policy: {}",
                ZoneLine {
                    owner: target,
                    tag,
                    value
                },
                ZoneLine {
                    owner: relevant,
                    tag,
                    value
                }
            );
            if !issuers.is_empty() {
                let _ = write!(
                    out,
                    "\n  - or choose a CA that {target}'s records authorize: {issuers}"
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::caa::value::QuotedValue;

    /// The lines written in place read as the owned helpers always made
    /// them, escapes included.
    #[test]
    fn written_in_place_escapes_like_a_quoted_value() {
        let owner = DomainName::parse("example.com").unwrap();
        let odd = "a\"b\\c\té";
        assert_eq!(
            zone_line(&owner, "is\nsue", odd),
            format!(
                "example.com. CAA 0 {} {}",
                crate::redact::escape_controls("is\nsue"),
                QuotedValue::new(odd.as_bytes())
            )
        );
        let record = CaaRecord {
            flags: 128,
            tag: "t\u{7}g".into(),
            value: b"x\xff\"y".to_vec(),
        };
        assert_eq!(
            presentation(&record),
            format!(
                "128 {} {}",
                crate::redact::escape_controls(&record.tag),
                QuotedValue::new(&record.value)
            )
        );
    }
}
