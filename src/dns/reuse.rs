//! Asking each question once (issue 15): concurrent lookups of the same
//! (name, type) share the one query in flight, and an answer is reused for
//! later lookups up to its TTL on a handle made for one run or cycle
//! ([`super::DnsHandle::with_answer_reuse`]).
//!
//! A CA's recursive resolver caches answers up to their TTL too, so reusing
//! one within that time changes no verdict. What a monitor must not do is
//! keep an answer past the next check: so the reuse is bounded by
//! [`MAX_REUSE`] whatever the TTL, the daemon clears it at the start and at
//! the end of each cycle ([`super::DnsHandle::clear_cache`]: idle, it holds
//! nothing), and `check` starts each run
//! with an empty one. Failures are shared with the lookups waiting on the
//! same query but never reused afterwards.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use hickory_proto::rr::RecordType;
use tokio::time::Instant;

use super::{Answer, QueryError};
use crate::domain::DomainName;

/// The longest an answer is reused, whatever its TTL: a long-running
/// process without cycles (the probe agent) still sees a change within this.
pub const MAX_REUSE: Duration = Duration::from_secs(300);

/// How many answers are kept at most. When full, the expired ones go and,
/// if that frees nothing, a new answer is not kept (its question is still
/// shared while in flight), so memory stays bounded however many names a
/// run checks. The answers kept first are the ones worth keeping: shared
/// parents are asked with the first names under them.
pub const MAX_ENTRIES: usize = 16_384;

pub(super) type Outcome = Result<Answer, QueryError>;
/// The outcome and, for an answer, how many seconds it may be reused.
type Flight = Shared<BoxFuture<'static, (Outcome, u32)>>;

enum Entry {
    InFlight(Flight),
    Done { answer: Answer, until: Instant },
}

#[derive(Default)]
pub(super) struct Reuse {
    /// Whether answers are kept after their query ends; without, only a
    /// query in flight is shared.
    keep: bool,
    entries: Mutex<Entries>,
}

/// The entries, by type and then by name: a name is looked up by
/// reference, so a reused answer costs no copy of its name (a `(name,
/// type)` key would be built, and its name copied, for every lookup).
#[derive(Default)]
struct Entries {
    by_type: Vec<(RecordType, HashMap<DomainName, Entry>)>,
    /// When the table is full, no kept answer expires before this, so a
    /// sweep would free nothing: no earlier than the first expiry, and at
    /// most one sweep per [`SWEEP_GAP`]. Without it, a full table was
    /// swept once per new answer, a pass over all 16,384 entries each
    /// time: 45% of `check`'s CPU at 100,000 names.
    next_sweep: Option<Instant>,
    /// Sweeps made (for tests).
    sweeps: usize,
}

/// The least time between two sweeps of a full table. An answer that could
/// have been kept in between is still shared while in flight; only its
/// reuse after that is lost.
const SWEEP_GAP: Duration = Duration::from_secs(1);

impl Entries {
    fn get(&self, name: &DomainName, rtype: RecordType) -> Option<&Entry> {
        self.by_type
            .iter()
            .find(|(t, _)| *t == rtype)
            .and_then(|(_, m)| m.get(name))
    }

    fn of_type(&mut self, rtype: RecordType) -> &mut HashMap<DomainName, Entry> {
        let i = match self.by_type.iter().position(|(t, _)| *t == rtype) {
            Some(i) => i,
            None => {
                self.by_type.push((rtype, HashMap::new()));
                self.by_type.len() - 1
            }
        };
        &mut self.by_type[i].1
    }

    fn len(&self) -> usize {
        self.by_type.iter().map(|(_, m)| m.len()).sum()
    }

    fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) {
        for (_, m) in &mut self.by_type {
            m.retain(|_, e| keep(e));
        }
    }

    fn values(&self) -> impl Iterator<Item = &Entry> {
        self.by_type.iter().flat_map(|(_, m)| m.values())
    }

    /// Keeps an answer until `until`, if there is room: when the table is
    /// full, the expired answers go first (if any can have expired), and
    /// if that frees nothing the answer is not kept.
    fn keep(
        &mut self,
        rtype: RecordType,
        name: DomainName,
        answer: &Answer,
        until: Instant,
        now: Instant,
    ) {
        if self.len() >= MAX_ENTRIES && self.next_sweep.is_none_or(|t| t <= now) {
            self.sweeps += 1;
            let mut first_expiry: Option<Instant> = None;
            self.retain(|e| match e {
                Entry::InFlight(_) => true,
                Entry::Done { until, .. } => {
                    let kept = *until > now;
                    if kept {
                        first_expiry = Some(first_expiry.map_or(*until, |t| t.min(*until)));
                    }
                    kept
                }
            });
            // Nothing kept is an answer: the next one may sweep at once.
            self.next_sweep = first_expiry.map(|t| t.max(now + SWEEP_GAP));
        }
        if self.len() >= MAX_ENTRIES {
            return;
        }
        self.next_sweep = Some(self.next_sweep.map_or(until, |t| t.min(until)));
        self.of_type(rtype).insert(
            name,
            Entry::Done {
                answer: answer.clone(),
                until,
            },
        );
    }

    fn shrink_to_fit(&mut self) {
        for (_, m) in &mut self.by_type {
            m.shrink_to_fit();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The map stays consistent across a panic (each change is one insert
    // or remove), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Reuse {
    pub(super) fn new(keep: bool) -> Self {
        Self {
            keep,
            entries: Mutex::default(),
        }
    }

    /// The answer to (name, rtype): a reused one, the one in flight, or a
    /// new query made by `ask`. `ask` owns what it needs, so the query goes
    /// on for the other waiters if this caller is dropped.
    pub(super) async fn get(
        &self,
        name: &DomainName,
        rtype: RecordType,
        ask: impl FnOnce() -> BoxFuture<'static, (Outcome, u32)>,
    ) -> Outcome {
        let flight = {
            let mut entries = lock(&self.entries);
            match entries.get(name, rtype) {
                Some(Entry::Done { answer, until }) if *until > Instant::now() => {
                    return Ok(answer.clone());
                }
                Some(Entry::InFlight(f)) => f.clone(),
                _ => {
                    let f = ask().shared();
                    entries
                        .of_type(rtype)
                        .insert(name.clone(), Entry::InFlight(f.clone()));
                    f
                }
            }
        };
        let (outcome, ttl) = flight.clone().await;
        let mut entries = lock(&self.entries);
        // The first waiter back settles the entry; the others find it
        // settled (or replaced by a newer flight, which they leave alone).
        let ours =
            matches!(entries.get(name, rtype), Some(Entry::InFlight(f)) if f.ptr_eq(&flight));
        if !ours {
            return outcome;
        }
        let Some((key, _)) = entries.of_type(rtype).remove_entry(name) else {
            return outcome;
        };
        if let Ok(answer) = &outcome
            && ttl > 0
            && self.keep
        {
            let now = Instant::now();
            let reuse = Duration::from_secs(u64::from(ttl)).min(MAX_REUSE);
            entries.keep(rtype, key, answer, now + reuse, now);
        }
        outcome
    }

    /// Forgets every answer kept; queries in flight go on and are shared.
    pub(super) fn clear(&self) {
        let mut entries = lock(&self.entries);
        entries.retain(|e| matches!(e, Entry::InFlight(_)));
        entries.next_sweep = None;
        // The table grew to a cycle's worth of answers; idle, it need not
        // stay that big.
        entries.shrink_to_fit();
    }

    /// How many answers are kept (for tests).
    pub(super) fn kept(&self) -> usize {
        lock(&self.entries)
            .values()
            .filter(|e| matches!(e, Entry::Done { .. }))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(name: &DomainName) -> Answer {
        Answer {
            cname_chain: vec![name.clone()],
            rdata: vec![b"\x00\x05issueletsencrypt.org".to_vec()],
            nxdomain: false,
            server: ([127, 0, 0, 1], 53).into(),
            over_tcp: false,
        }
    }

    fn name(i: usize) -> DomainName {
        DomainName::parse(&format!("n{i}.test")).unwrap()
    }

    #[test]
    fn a_full_table_of_live_answers_is_swept_once_not_once_per_new_answer() {
        let mut e = Entries::default();
        let t0 = Instant::now();
        let long = t0 + Duration::from_secs(300);
        for i in 0..MAX_ENTRIES {
            e.keep(RecordType::CAA, name(i), &answer(&name(i)), long, t0);
        }
        assert_eq!((e.len(), e.sweeps), (MAX_ENTRIES, 0));
        // Nothing can have expired before `long`: no sweep, and the next
        // thousand answers are simply not kept.
        for i in MAX_ENTRIES..MAX_ENTRIES + 1000 {
            let now = t0 + Duration::from_millis(i as u64 % 900);
            e.keep(RecordType::CAA, name(i), &answer(&name(i)), long, now);
        }
        assert_eq!(e.len(), MAX_ENTRIES);
        assert_eq!(e.sweeps, 0);
        assert!(e.get(&name(MAX_ENTRIES + 1), RecordType::CAA).is_none());
        // Once they expire, a new answer sweeps them out and is kept.
        let later = long + Duration::from_secs(1);
        let n = name(MAX_ENTRIES + 5000);
        e.keep(
            RecordType::CAA,
            n.clone(),
            &answer(&n),
            later + Duration::from_secs(60),
            later,
        );
        assert_eq!((e.len(), e.sweeps), (1, 1));
        assert!(matches!(
            e.get(&n, RecordType::CAA),
            Some(Entry::Done { .. })
        ));
    }

    #[test]
    fn a_full_table_is_swept_again_when_its_first_answer_expires_not_before() {
        let mut e = Entries::default();
        let t0 = Instant::now();
        // Half the answers expire after 10 s, half after 300 s.
        for i in 0..MAX_ENTRIES {
            let ttl = if i % 2 == 0 { 10 } else { 300 };
            e.keep(
                RecordType::CAA,
                name(i),
                &answer(&name(i)),
                t0 + Duration::from_secs(ttl),
                t0,
            );
        }
        let extra = |e: &mut Entries, i: usize, at: u64| {
            let now = t0 + Duration::from_secs(at);
            e.keep(
                RecordType::TXT,
                name(i),
                &answer(&name(i)),
                now + Duration::from_secs(60),
                now,
            );
        };
        extra(&mut e, 1, 2);
        extra(&mut e, 2, 5);
        assert_eq!((e.len(), e.sweeps), (MAX_ENTRIES, 0));
        extra(&mut e, 3, 11);
        assert_eq!(e.sweeps, 1);
        assert_eq!(e.len(), MAX_ENTRIES / 2 + 1);
        assert!(matches!(
            e.get(&name(3), RecordType::TXT),
            Some(Entry::Done { .. })
        ));
        assert!(e.get(&name(0), RecordType::CAA).is_none());
        assert!(e.get(&name(1), RecordType::CAA).is_some());
    }
}
