//! DNSSEC validation of the lookups that decide (RFC 4035 §5), as every
//! public CA does since CA/B ballot SC-085v2: each answer is asked again
//! with the DO bit (and CD, so the data comes even when it is bogus), its
//! RRSIGs are verified with the zone's DNSKEYs, those with the parent's DS,
//! and so on up to the root trust anchor; a "no such record" answer needs
//! an NSEC/NSEC3 proof (`denial`). The crypto is hickory-proto's
//! (`dnssec-ring`). What the outcome means, in words and fixes, is the
//! core's `checks::dnssec`.
//!
//! The keys of each zone are verified once per run (the daemon clears them
//! as a cycle starts, like the answers of `dns/reuse`), and shared by the
//! lookups in flight.

mod anchors;
mod denial;
mod query;
mod table;

pub use anchors::Anchors;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use hickory_proto::dnssec::Verifier;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use certvigil_core::checks::dnssec::{
    BogusCause, DnssecNote, DnssecStatus, DsRef, InsecureReason, ResolverView, RrsigRef,
};
use certvigil_core::domain::DomainName;
use query::{Asker, Reply};
use table::Table;

/// More aliases than any resolver follows.
const MAX_CHAIN: usize = 16;

/// A question asked of the validator: name and type.
type Question = (DomainName, RecordType);

/// What is known of a zone's keys.
#[derive(Debug, Clone)]
enum Keys {
    Secure(Arc<Vec<DNSKEY>>),
    Insecure(InsecureReason),
    Bogus(BogusCause),
    Indeterminate(String),
}

/// Validates answers against the trust anchors. Cheap to share (`Arc`).
pub struct Validator {
    asker: Asker,
    anchors: Anchors,
    /// Keys per zone apex, verified once per run.
    zones: Table<Name, Keys>,
    /// Validated answers, once per question per run (names under one
    /// parent share the parent's lookups, as in `dns/reuse`).
    answers: Table<Question, DnssecNote>,
    /// The resolver set AD on some answer: it validates, so its view can be
    /// compared with ours.
    resolver_validates: AtomicBool,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("servers", &self.asker.servers)
            .finish_non_exhaustive()
    }
}

impl Validator {
    pub fn new(
        servers: Vec<SocketAddr>,
        timeout: Duration,
        attempts: usize,
        anchors: Anchors,
    ) -> Validator {
        Validator {
            asker: Asker {
                servers,
                timeout,
                attempts,
            },
            anchors,
            zones: Table::default(),
            answers: Table::default(),
            resolver_validates: AtomicBool::new(false),
        }
    }

    /// Forgets the verified keys (and whether the resolver validates), so
    /// the next lookups verify again (the daemon calls it as each cycle
    /// starts: a zone that broke must be seen in the next cycle).
    pub fn clear(&self) {
        // Whether the resolver validates is found again with the root's
        // keys: a resolver replaced or reconfigured meanwhile is not judged
        // by what its predecessor did.
        self.resolver_validates.store(false, Ordering::Relaxed);
        // New tables, not `clear()`: the tables grew to a cycle's worth of
        // names, and idle they need not keep that capacity.
        self.zones.clear();
        self.answers.clear();
    }

    /// Signatures are judged at the time the answer arrives, as a CA's
    /// resolver judges them (validity periods are days long; the check's
    /// `now` would make no difference).
    fn now(&self) -> i64 {
        chrono::Utc::now().timestamp()
    }

    /// Validates the answer to `name`/`rtype` (following aliases), and
    /// says what the resolver's own validation made of it when it
    /// validates.
    pub async fn validate(&self, name: &DomainName, rtype: RecordType) -> DnssecNote {
        let cell = self.answers.cell((name.clone(), rtype));
        cell.get_or_init(|| self.validate_once(name, rtype))
            .await
            .clone()
    }

    async fn validate_once(&self, name: &DomainName, rtype: RecordType) -> DnssecNote {
        // Without the root's keys nothing can be validated: say so once,
        // without asking every name again.
        if let Keys::Indeterminate(why) = self.zone_keys(&Name::root()).await {
            return DnssecNote::new(
                name.to_string(),
                rtype.to_string(),
                DnssecStatus::Indeterminate { why },
                None,
            );
        }
        let status = match Name::from_ascii(format!("{}.", name.as_str())) {
            Ok(qname) => self.validate_name(&qname, rtype).await,
            Err(e) => DnssecStatus::Indeterminate {
                why: format!("{name} is not a DNS name: {e}"),
            },
        };
        let resolver = self.resolver_view(name, rtype).await;
        DnssecNote::new(name.to_string(), rtype.to_string(), status, resolver)
    }

    /// The same question without CD: AD set, SERVFAIL, or neither. `None`
    /// unless the resolver validates (it set AD on the root's keys, or
    /// refused them with SERVFAIL while handing them over with CD).
    async fn resolver_view(&self, name: &DomainName, rtype: RecordType) -> Option<ResolverView> {
        if !self.resolver_validates.load(Ordering::Relaxed) {
            return None;
        }
        let qname = Name::from_ascii(format!("{}.", name.as_str())).ok()?;
        let reply = self.asker.ask(&qname, rtype, false).await.ok()?;
        if reply.authentic {
            self.resolver_validates.store(true, Ordering::Relaxed);
        }
        if !self.resolver_validates.load(Ordering::Relaxed) {
            return None;
        }
        Some(if reply.authentic {
            ResolverView::Secure
        } else if reply.is_servfail() {
            ResolverView::Servfail
        } else {
            ResolverView::NotSecure
        })
    }

    async fn ask(&self, name: &Name, rtype: RecordType) -> Result<Reply, String> {
        let reply = self.asker.ask(name, rtype, true).await?;
        if reply.authentic {
            self.resolver_validates.store(true, Ordering::Relaxed);
        }
        Ok(reply)
    }

    async fn validate_name(&self, qname: &Name, qtype: RecordType) -> DnssecStatus {
        let mut statuses = Vec::new();
        let mut current = qname.clone();
        let mut reply: Option<Reply> = None;
        for _ in 0..MAX_CHAIN {
            // The first question, or an alias target the server did not
            // follow (an authoritative server answers for its own zones
            // only): ask for it.
            let unanswered = reply
                .as_ref()
                .is_none_or(|r| !r.answers.iter().any(|a| a.name == current));
            if unanswered {
                let r = match self.ask(&current, qtype).await {
                    Ok(r) => r,
                    Err(e) => return DnssecStatus::Indeterminate { why: e },
                };
                if !matches!(r.rcode, 0 | 3) {
                    return DnssecStatus::Indeterminate {
                        why: format!(
                            "{} answered {} to the {qtype} query for {current} with DNSSEC records asked",
                            r.server,
                            r.rcode_name()
                        ),
                    };
                }
                reply = Some(r);
            }
            let reply = reply.as_ref().expect("asked above");
            let rrset = owned(&reply.answers, &current, qtype);
            if !rrset.is_empty() {
                statuses.push(self.rrset_status(&current, qtype, reply).await);
                return combine(statuses);
            }
            let cname = owned(&reply.answers, &current, RecordType::CNAME);
            if let Some(target) = cname.iter().find_map(|r| match &r.data {
                RData::CNAME(c) => Some(c.0.clone()),
                _ => None,
            }) {
                statuses.push(self.rrset_status(&current, RecordType::CNAME, reply).await);
                current = target;
                continue;
            }
            statuses.push(
                self.denial_status(&current, qtype, reply.is_nxdomain(), &reply.authority)
                    .await,
            );
            return combine(statuses);
        }
        DnssecStatus::Indeterminate {
            why: format!("more than {MAX_CHAIN} aliases from {qname}"),
        }
    }

    /// The status of the `rtype` RRset of `owner` in `records`.
    async fn rrset_status(&self, owner: &Name, rtype: RecordType, reply: &Reply) -> DnssecStatus {
        let records = &reply.answers;
        let sigs = rrsigs(records, owner, rtype);
        let zone = match sigs.first() {
            Some(sig) => sig.input().signer_name.clone(),
            None => match self.enclosing_zone(owner).await {
                Ok(z) => z,
                Err(why) => return DnssecStatus::Indeterminate { why },
            },
        };
        if !zone.zone_of(owner) {
            return bogus(BogusCause::MissingRrsig {
                owner: show(owner),
                rtype: rtype.to_string(),
                zone: show(&zone),
            });
        }
        match self.zone_keys(&zone).await {
            Keys::Secure(keys) => {
                match verify_rrset(owner, rtype, records, &keys, &zone, self.now())
                    .and_then(|()| self.verify_expansion(owner, rtype, &zone, reply, &keys))
                {
                    Ok(()) => DnssecStatus::Secure,
                    Err(cause) => bogus(cause),
                }
            }
            other => keys_status(other),
        }
    }

    /// The status of "no `qtype` at `qname`" (or no `qname` at all).
    async fn denial_status(
        &self,
        qname: &Name,
        qtype: RecordType,
        nxdomain: bool,
        authority: &[Record],
    ) -> DnssecStatus {
        let soa_owner = authority
            .iter()
            .find(|r| r.record_type() == RecordType::SOA)
            .map(|r| r.name.clone());
        let zone = match soa_owner {
            Some(z) if z.zone_of(qname) => z,
            _ => match self.enclosing_zone(qname).await {
                Ok(z) => z,
                Err(why) => return DnssecStatus::Indeterminate { why },
            },
        };
        match self.zone_keys(&zone).await {
            Keys::Secure(keys) => {
                match self.verify_denial(qname, qtype, nxdomain, &zone, authority, &keys) {
                    Ok(()) => DnssecStatus::Secure,
                    Err(cause) => bogus(cause),
                }
            }
            other => keys_status(other),
        }
    }

    /// RFC 4035 §5.3.4: an RRset signed with fewer labels than its owner
    /// has was synthesized from a wildcard; the answer must then prove
    /// that no closer name exists (else the wildcard could be replayed
    /// over a name that does).
    fn verify_expansion(
        &self,
        owner: &Name,
        rtype: RecordType,
        zone: &Name,
        reply: &Reply,
        keys: &[DNSKEY],
    ) -> Result<(), BogusCause> {
        let Some(labels) = rrsigs(&reply.answers, owner, rtype)
            .iter()
            .map(|s| s.input().num_labels)
            .min()
            .filter(|&l| l < owner.num_labels())
        else {
            return Ok(());
        };
        self.verify_proof_signatures(zone, &reply.authority, keys)?;
        denial::prove_expansion(owner, labels, zone, &reply.authority).map_err(|detail| {
            BogusCause::DenialNotProven {
                name: show(owner),
                rtype: rtype.to_string(),
                zone: show(zone),
                detail,
            }
        })
    }

    /// The NSEC/NSEC3 RRsets of an authority section, each verified with
    /// the zone's keys.
    fn verify_proof_signatures(
        &self,
        zone: &Name,
        authority: &[Record],
        keys: &[DNSKEY],
    ) -> Result<(), BogusCause> {
        let mut checked: Vec<(Name, RecordType)> = Vec::new();
        for r in authority {
            let t = r.record_type();
            if matches!(t, RecordType::NSEC | RecordType::NSEC3)
                && !checked.contains(&(r.name.clone(), t))
            {
                checked.push((r.name.clone(), t));
                verify_rrset(&r.name, t, authority, keys, zone, self.now())?;
            }
        }
        Ok(())
    }

    /// Every NSEC/NSEC3 RRset of the authority section verified with the
    /// zone's keys, then the proof itself.
    fn verify_denial(
        &self,
        qname: &Name,
        qtype: RecordType,
        nxdomain: bool,
        zone: &Name,
        authority: &[Record],
        keys: &[DNSKEY],
    ) -> Result<(), BogusCause> {
        self.verify_proof_signatures(zone, authority, keys)?;
        denial::prove(qname, qtype, nxdomain, zone, authority).map_err(|detail| {
            BogusCause::DenialNotProven {
                name: show(qname),
                rtype: qtype.to_string(),
                zone: show(zone),
                detail,
            }
        })
    }

    /// The apex of the zone `name` is in: the owner of the SOA record in
    /// the answer to an SOA query (answer section at an apex, authority
    /// section below one).
    async fn enclosing_zone(&self, name: &Name) -> Result<Name, String> {
        let reply = self.ask(name, RecordType::SOA).await?;
        reply
            .answers
            .iter()
            .chain(&reply.authority)
            .find(|r| r.record_type() == RecordType::SOA && r.name.zone_of(name))
            .map(|r| r.name.clone())
            .ok_or_else(|| {
                format!(
                    "{} named no zone for {name} (no SOA record, answer {})",
                    reply.server,
                    reply.rcode_name()
                )
            })
    }

    /// The verified keys of the zone at `apex`, once per run.
    fn zone_keys<'a>(&'a self, apex: &'a Name) -> BoxFuture<'a, Keys> {
        async move {
            let cell = self.zones.cell(apex.to_lowercase());
            cell.get_or_init(|| self.fetch_zone_keys(apex))
                .await
                .clone()
        }
        .boxed()
    }

    async fn fetch_zone_keys(&self, apex: &Name) -> Keys {
        if apex.is_root() {
            return self.root_keys().await;
        }
        let reply = match self.ask(apex, RecordType::DS).await {
            Ok(r) if matches!(r.rcode, 0 | 3) => r,
            Ok(r) => {
                return Keys::Indeterminate(format!(
                    "{} answered {} to the DS query for {apex}",
                    r.server,
                    r.rcode_name()
                ));
            }
            Err(e) => return Keys::Indeterminate(e),
        };
        let ds: Vec<DS> = owned(&reply.answers, apex, RecordType::DS)
            .into_iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds.clone()),
                _ => None,
            })
            .collect();
        if ds.is_empty() {
            return self.unsigned_delegation(apex, &reply).await;
        }
        // Signed by the parent: its keys vouch for the DS set.
        let parent = match rrsigs(&reply.answers, apex, RecordType::DS).first() {
            Some(sig) => sig.input().signer_name.clone(),
            None => match self.enclosing_zone(&apex.base_name()).await {
                Ok(z) => z,
                Err(e) => return Keys::Indeterminate(e),
            },
        };
        if !parent.zone_of(apex) || parent == *apex {
            return Keys::Bogus(BogusCause::MissingRrsig {
                owner: show(apex),
                rtype: "DS".into(),
                zone: show(&apex.base_name()),
            });
        }
        let parent_keys = match self.zone_keys(&parent).await {
            Keys::Secure(k) => k,
            other => return other,
        };
        if let Err(cause) = verify_rrset(
            apex,
            RecordType::DS,
            &reply.answers,
            &parent_keys,
            &parent,
            self.now(),
        ) {
            return Keys::Bogus(cause);
        }
        let usable: Vec<&DS> = ds
            .iter()
            .filter(|d| d.algorithm().is_supported() && d.digest_type().is_supported())
            .collect();
        if usable.is_empty() {
            return Keys::Insecure(InsecureReason::UnsupportedAlgorithm {
                zone: show(apex),
                algorithms: ds.iter().map(|d| u8::from(d.algorithm())).collect(),
            });
        }
        let ds_refs = || ds.iter().map(ds_ref).collect::<Vec<_>>();
        let reply = match self.ask(apex, RecordType::DNSKEY).await {
            Ok(r) => r,
            Err(e) => return Keys::Indeterminate(e),
        };
        let keys = dnskeys(&reply.answers, apex);
        if keys.is_empty() {
            return Keys::Bogus(BogusCause::NoDnskey {
                zone: show(apex),
                ds: ds_refs(),
            });
        }
        let entry: Vec<DNSKEY> = keys
            .iter()
            .filter(|k| k.zone_key() && !k.revoke())
            .filter(|k| usable.iter().any(|d| d.covers(apex, k).unwrap_or(false)))
            .cloned()
            .collect();
        if entry.is_empty() {
            return Keys::Bogus(BogusCause::DsMatchesNoDnskey {
                zone: show(apex),
                parent: show(&parent),
                ds: ds_refs(),
                dnskey_tags: keys
                    .iter()
                    .filter_map(|k| k.calculate_key_tag().ok())
                    .collect(),
            });
        }
        match verify_rrset(
            apex,
            RecordType::DNSKEY,
            &reply.answers,
            &entry,
            apex,
            self.now(),
        ) {
            Ok(()) => Keys::Secure(Arc::new(keys)),
            Err(cause) => Keys::Bogus(cause),
        }
    }

    /// No DS at `apex`: insecure if the (secure) parent proves it.
    async fn unsigned_delegation(&self, apex: &Name, reply: &Reply) -> Keys {
        let parent = reply
            .authority
            .iter()
            .find(|r| r.record_type() == RecordType::SOA)
            .map(|r| r.name.clone())
            .filter(|p| p.zone_of(apex) && p != apex);
        let parent = match parent {
            Some(p) => p,
            None => match self.enclosing_zone(&apex.base_name()).await {
                Ok(p) => p,
                Err(e) => return Keys::Indeterminate(e),
            },
        };
        match self.zone_keys(&parent).await {
            Keys::Secure(pk) => {
                match self.verify_denial(
                    apex,
                    RecordType::DS,
                    reply.is_nxdomain(),
                    &parent,
                    &reply.authority,
                    &pk,
                ) {
                    Ok(()) => Keys::Insecure(InsecureReason::UnsignedDelegation {
                        zone: show(apex),
                        parent: show(&parent),
                    }),
                    Err(cause) => Keys::Bogus(cause),
                }
            }
            other => other,
        }
    }

    async fn root_keys(&self) -> Keys {
        let root = Name::root();
        let reply = match self.ask(&root, RecordType::DNSKEY).await {
            Ok(r) => r,
            Err(e) => return Keys::Indeterminate(format!("no root DNSKEY: {e}")),
        };
        let keys = dnskeys(&reply.answers, &root);
        // Does the resolver validate? Then its view of each answer is worth
        // comparing. It does when it sets AD on the root's keys asked
        // without CD, and also when it answers SERVFAIL to that for keys it
        // has just handed over with CD (so not an outage on the way to the
        // root): it finds the root itself bogus (another or outdated trust
        // anchor), so every answer it gives differs from ours, which must
        // be said, not taken for a resolver that does not validate.
        if let Ok(r) = self.asker.ask(&root, RecordType::DNSKEY, false).await
            && (r.authentic || (r.is_servfail() && !keys.is_empty()))
        {
            self.resolver_validates.store(true, Ordering::Relaxed);
        }
        if keys.is_empty() {
            return Keys::Indeterminate(format!(
                "{} gave no DNSKEY for the root (answer {}); certvigil validates from the root trust anchor, so the configured resolver must answer for the root",
                reply.server,
                reply.rcode_name()
            ));
        }
        let trusted: Vec<DNSKEY> = keys
            .iter()
            .filter(|k| self.anchors.trusts(k))
            .cloned()
            .collect();
        if trusted.is_empty() {
            return Keys::Bogus(BogusCause::TrustAnchorMismatch {
                anchors: self.anchors.key_tags(),
                dnskey_tags: keys
                    .iter()
                    .filter_map(|k| k.calculate_key_tag().ok())
                    .collect(),
            });
        }
        match verify_rrset(
            &root,
            RecordType::DNSKEY,
            &reply.answers,
            &trusted,
            &root,
            self.now(),
        ) {
            Ok(()) => Keys::Secure(Arc::new(keys)),
            Err(cause) => Keys::Bogus(cause),
        }
    }
}

fn bogus(cause: BogusCause) -> DnssecStatus {
    DnssecStatus::Bogus { cause }
}

fn keys_status(keys: Keys) -> DnssecStatus {
    match keys {
        Keys::Secure(_) => DnssecStatus::Secure,
        Keys::Insecure(reason) => DnssecStatus::Insecure { reason },
        Keys::Bogus(cause) => DnssecStatus::Bogus { cause },
        Keys::Indeterminate(why) => DnssecStatus::Indeterminate { why },
    }
}

/// The answer as a whole: bogus if any part is, then not validated, then
/// insecure; secure only if every part is.
fn combine(statuses: Vec<DnssecStatus>) -> DnssecStatus {
    let rank = |s: &DnssecStatus| match s {
        DnssecStatus::Bogus { .. } => 3,
        DnssecStatus::Indeterminate { .. } => 2,
        DnssecStatus::Insecure { .. } => 1,
        DnssecStatus::Secure => 0,
    };
    statuses
        .into_iter()
        .max_by_key(|s| rank(s))
        .unwrap_or(DnssecStatus::Secure)
}

fn show(name: &Name) -> String {
    let s = name.to_lowercase().to_ascii();
    match s.strip_suffix('.') {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => s,
    }
}

fn owned<'r>(records: &'r [Record], owner: &Name, rtype: RecordType) -> Vec<&'r Record> {
    records
        .iter()
        .filter(|r| r.record_type() == rtype && &r.name == owner)
        .collect()
}

fn rrsigs<'r>(records: &'r [Record], owner: &Name, rtype: RecordType) -> Vec<&'r RRSIG> {
    records
        .iter()
        .filter(|r| &r.name == owner)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) if sig.input().type_covered == rtype => {
                Some(sig)
            }
            _ => None,
        })
        .collect()
}

fn dnskeys(records: &[Record], owner: &Name) -> Vec<DNSKEY> {
    records
        .iter()
        .filter(|r| &r.name == owner)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

fn ds_ref(ds: &DS) -> DsRef {
    DsRef {
        key_tag: ds.key_tag(),
        algorithm: u8::from(ds.algorithm()),
        digest_type: u8::from(ds.digest_type()),
        digest: hex::encode_upper(ds.digest()),
    }
}

fn rrsig_ref(owner: &Name, rtype: RecordType, sig: &RRSIG) -> RrsigRef {
    let input = sig.input();
    RrsigRef {
        owner: show(owner),
        rtype: rtype.to_string(),
        signer: show(&input.signer_name),
        key_tag: input.key_tag,
        algorithm: u8::from(input.algorithm),
        inception: i64::from(input.sig_inception.get()),
        expiration: i64::from(input.sig_expiration.get()),
    }
}

/// Verifies the `rtype` RRset of `owner` in `records` with one of `keys`
/// (RFC 4035 §5.3). Any one valid RRSIG suffices; otherwise the most
/// telling failure is the cause: an expired or not yet valid signature
/// before a wrong one, a wrong one before an unknown key.
fn verify_rrset(
    owner: &Name,
    rtype: RecordType,
    records: &[Record],
    keys: &[DNSKEY],
    zone: &Name,
    now: i64,
) -> Result<(), BogusCause> {
    let sigs = rrsigs(records, owner, rtype);
    if sigs.is_empty() {
        return Err(BogusCause::MissingRrsig {
            owner: show(owner),
            rtype: rtype.to_string(),
            zone: show(zone),
        });
    }
    let rrset: Vec<Record> = records
        .iter()
        .filter(|r| r.record_type() == rtype && &r.name == owner)
        .cloned()
        .collect();
    let mut failures: Vec<(u8, BogusCause)> = Vec::new();
    for sig in sigs {
        let input = sig.input();
        let r = || rrsig_ref(owner, rtype, sig);
        if input.signer_name != *zone {
            failures.push((0, BogusCause::NoKeyForRrsig { rrsig: r() }));
            continue;
        }
        if !input.algorithm.is_supported() {
            failures.push((
                1,
                BogusCause::UnsupportedAlgorithm {
                    zone: show(zone),
                    algorithm: u8::from(input.algorithm),
                },
            ));
            continue;
        }
        let candidates: Vec<&DNSKEY> = keys
            .iter()
            .filter(|k| {
                k.algorithm() == input.algorithm
                    && k.calculate_key_tag().ok() == Some(input.key_tag)
                    && k.zone_key()
            })
            .collect();
        if candidates.is_empty() {
            failures.push((0, BogusCause::NoKeyForRrsig { rrsig: r() }));
            continue;
        }
        let expiration = i64::from(input.sig_expiration.get());
        let inception = i64::from(input.sig_inception.get());
        if now > expiration {
            failures.push((4, BogusCause::RrsigExpired { rrsig: r() }));
            continue;
        }
        if now < inception {
            failures.push((3, BogusCause::RrsigNotYetValid { rrsig: r() }));
            continue;
        }
        if candidates.iter().any(|k| {
            k.verify_rrsig(owner, DNSClass::IN, sig, rrset.iter())
                .is_ok()
        }) {
            return Ok(());
        }
        failures.push((2, BogusCause::SignatureInvalid { rrsig: r() }));
    }
    Err(failures
        .into_iter()
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, c)| c)
        .expect("at least one RRSIG was tried"))
}

/// The validator `[dnssec]` asks for, asking the same servers as `dns`;
/// `None` when validation is off. An error names the trust anchor file.
pub fn from_config(
    config: &crate::config::DnssecConfig,
    dns: &crate::dns::DnsHandle,
    timeout: Duration,
    attempts: usize,
) -> Result<Option<Arc<Validator>>, String> {
    if !config.validate {
        return Ok(None);
    }
    let anchors = match &config.trust_anchor_file {
        Some(path) => {
            Anchors::from_file(path).map_err(|e| format!("[dnssec] trust_anchor_file: {e}"))?
        }
        None => Anchors::builtin(),
    };
    Ok(Some(Arc::new(Validator::new(
        dns.nameservers().to_vec(),
        timeout,
        attempts,
        anchors,
    ))))
}
