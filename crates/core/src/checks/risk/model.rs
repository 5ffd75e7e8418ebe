//! The prepared risk model: the brand and word lists merged with the
//! user's `[risk]` settings and indexed once, so that judging a name is a
//! handful of hash look-ups and short string scans. Pure: no I/O.
//!
//! Matching rules, and why (docs/risk.md has the measured effect):
//! - Every label is read as words: pieces between hyphens, then runs of
//!   letters and of digits (`qq123` = "qq" + "123"), then, when a run splits
//!   entirely into known words, those words (`applesupport`). A brand or
//!   sensitive word found as a word counts.
//! - Distinctive brand spellings of 5+ characters also count inside a longer
//!   word (`mypaypalhelp`); shorter ones (`qq`, `jd`, `boc`, `icbc`) and
//!   those that are ordinary words (`apple`, `chase`) never do, because
//!   `pineapple`, `purchase` and `sanfrancisco` are not impersonations.
//! - Near spellings (one edit) inside a label count only for distinctive
//!   spellings of 5+ characters; at exactly 5 a replaced letter does not
//!   count, since many 5-letter words are one letter from a brand.
//! - A registrable label that is a single word one edit from any spelling
//!   of 5+ characters is what typosquatting registers (`chasse.com`,
//!   `baidq.com`); when the brand is an ordinary word or 5 letters long the
//!   label is as likely a word (`chose`, `civic`), so it weighs medium.
//! - Digits-for-letters and ASCII look-alikes (`paypa1`, `rnicrosoft`) and,
//!   for internationalized labels, the UTS #39 skeleton are matched by
//!   folding both sides the same way and matching again.
//! - The Public Suffix List separates the registrable domain's label from
//!   subdomain labels; the level depends on where a signal sits.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use aho_corasick::AhoCorasick;
use unicode_security::{RestrictionLevel, RestrictionLevelDetection};

use super::lists::{self, Severity};
use super::text::{self, Fold};
use super::verdict::{ReasonCode, RiskAssessment, RiskLevel, RiskReason, Scope};
use super::{RiskConfig, RiskConfigError};
use crate::domain::{CertName, DomainName};

/// Brand spellings shorter than this match only as whole words.
const MIN_INSIDE_LEN: usize = 5;
/// Brand spellings shorter than this never match by one replaced letter.
const MIN_REPLACE_LEN: usize = 6;

#[derive(Debug, Clone)]
struct BrandInfo {
    name: String,
    /// The list's group (payment, bank, ...), named in reasons.
    category: String,
}

#[derive(Debug, Clone)]
struct TokenInfo {
    text: String,
    brand: usize,
    /// An ordinary word (apple, chase): whole-word matches only.
    ordinary: bool,
}

impl TokenInfo {
    fn matches_inside(&self) -> bool {
        !self.ordinary && self.text.chars().count() >= MIN_INSIDE_LEN
    }
}

#[derive(Debug, Clone)]
struct WordInfo {
    text: String,
    kind: String,
    severity: Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vocab {
    Token(usize),
    Word(usize),
    /// A service word (`support`) or one of the user's own brands: a known
    /// word that signals nothing by itself.
    Filler,
}

/// The lists as seen through one [`Fold`].
#[derive(Debug, Default)]
struct FoldIndex {
    vocab: HashMap<String, Vec<Vocab>>,
    /// Distinctive tokens matched inside longer words and by one edit:
    /// (folded text, token).
    inside: Vec<(String, usize)>,
    /// Every token of 5+ characters, ordinary words included, for a
    /// registrable label that is one word one edit from a brand
    /// (`chasse.com`, `baidq.com`).
    whole_label_near: Vec<(String, usize)>,
    /// Built once from the lists above (issue 15: the scan was a third of
    /// `check`'s CPU): which `inside` entries occur in a text, and which
    /// entries of each list may be one edit from a word.
    inside_automaton: Option<InsideAutomaton>,
    inside_near: NearIndex,
    whole_label_near_index: NearIndex,
}

/// Every `inside` spelling found in a text in one pass.
#[derive(Debug)]
struct InsideAutomaton {
    automaton: AhoCorasick,
    /// Per pattern (each distinct spelling once): its positions in `inside`.
    entries: Vec<Vec<usize>>,
}

impl InsideAutomaton {
    fn build(inside: &[(String, usize)]) -> Option<Self> {
        let mut patterns: Vec<&str> = Vec::new();
        let mut entries: Vec<Vec<usize>> = Vec::new();
        let mut by_text: HashMap<&str, usize> = HashMap::new();
        for (at, (t, _)) in inside.iter().enumerate() {
            let pattern = *by_text.entry(t.as_str()).or_insert_with(|| {
                patterns.push(t.as_str());
                entries.push(Vec::new());
                patterns.len() - 1
            });
            entries[pattern].push(at);
        }
        // Cannot fail for a few thousand short patterns; without it the
        // scan falls back to comparing each entry.
        let automaton = AhoCorasick::new(&patterns).ok()?;
        Some(Self { automaton, entries })
    }

    /// The positions in `inside` of every spelling that occurs in `text`,
    /// ascending (the order the entries are listed in).
    fn found_in(&self, text: &str, out: &mut Vec<usize>) {
        out.clear();
        for m in self.automaton.find_overlapping_iter(text) {
            out.extend_from_slice(&self.entries[m.pattern().as_usize()]);
        }
        out.sort_unstable();
        out.dedup();
    }
}

/// The deletion neighbourhood of a list of spellings: each spelling and
/// each way of deleting one of its characters, mapped to the entries. Two
/// strings at most one edit apart (one replaced, inserted, deleted, or two
/// neighbours swapped) always share a key, so the entries sharing a key
/// with a word are all the candidates worth comparing with it.
///
/// Keys are kept as 64-bit hashes in one sorted table, not as strings in a
/// map: the daemon holds the model for as long as it runs, and a `String`
/// and a `Vec` per key made these indexes most of its idle heap (about
/// 1.8 MiB of the default lists; issue 15). A hash collision only adds a
/// candidate, and every candidate is compared in full by the caller.
#[derive(Debug, Default)]
struct NearIndex {
    /// Key hashes, ascending; `entries[i]` is the entry of `hashes[i]`.
    hashes: Vec<u64>,
    entries: Vec<u32>,
    /// Where each bucket of hashes starts (by their top `bucket_bits`
    /// bits), plus one past the end: a lookup reads one bucket of a few
    /// hashes instead of binary-searching the whole table (issue 15: the
    /// search was the scan's largest cost, 9% of `check` at 100,000 names).
    starts: Vec<u32>,
    bucket_bits: u32,
}

impl NearIndex {
    fn build(list: &[(String, usize)]) -> Self {
        let mut pairs: Vec<(u64, u32)> = Vec::new();
        for (at, (t, _)) in list.iter().enumerate() {
            let at = u32::try_from(at).expect("a list of fewer than 2^32 spellings");
            for skip in deletions(t) {
                pairs.push((hash_without(t, skip), at));
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let (hashes, entries): (Vec<u64>, Vec<u32>) = pairs.into_iter().unzip();
        // One or two hashes per bucket (at most a third more than the
        // table's 12 bytes per key), for a lookup that touches one or two
        // cache lines.
        let bucket_bits = (hashes.len() / 2).max(1).ilog2().clamp(1, 20) + 1;
        let mut starts = Vec::with_capacity((1 << bucket_bits) + 1);
        let mut at = 0usize;
        for bucket in 0..(1u64 << bucket_bits) {
            while at < hashes.len() && hashes[at] >> (64 - bucket_bits) < bucket {
                at += 1;
            }
            starts.push(u32::try_from(at).expect("fewer than 2^32 keys"));
        }
        starts.push(u32::try_from(hashes.len()).expect("fewer than 2^32 keys"));
        Self {
            hashes,
            entries,
            starts,
            bucket_bits,
        }
    }

    /// The entries of key hash `h`.
    fn entries_of(&self, h: u64) -> &[u32] {
        if self.hashes.is_empty() {
            return &[];
        }
        let bucket = (h >> (64 - self.bucket_bits)) as usize;
        let (lo, hi) = (
            self.starts[bucket] as usize,
            self.starts[bucket + 1] as usize,
        );
        let in_bucket = &self.hashes[lo..hi];
        let from = in_bucket.partition_point(|&k| k < h);
        let to = from + in_bucket[from..].partition_point(|&k| k == h);
        &self.entries[lo + from..lo + to]
    }

    /// The positions of the entries that may be one edit from `word`,
    /// ascending.
    fn candidates(&self, word: &str, out: &mut Vec<usize>) {
        out.clear();
        if word.is_ascii() {
            // The common case, without decoding characters: the hash of
            // the bytes before each deleted one is carried over, not
            // recomputed (same hashes as `hash_without`).
            let bytes = word.as_bytes();
            out.extend(
                self.entries_of(fnv(FNV_OFFSET, bytes))
                    .iter()
                    .map(|&e| e as usize),
            );
            let mut prefix = FNV_OFFSET;
            for (skip, &b) in bytes.iter().enumerate() {
                let h = fnv(prefix, &bytes[skip + 1..]);
                out.extend(self.entries_of(h).iter().map(|&e| e as usize));
                prefix = fnv(prefix, &[b]);
            }
        } else {
            for skip in deletions(word) {
                let h = hash_without(word, skip);
                out.extend(self.entries_of(h).iter().map(|&e| e as usize));
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

/// `None` (the word itself), then each character index to delete.
fn deletions(word: &str) -> impl Iterator<Item = Option<usize>> {
    std::iter::once(None).chain((0..word.chars().count()).map(Some))
}

/// The FNV-1a hash of `word`'s UTF-8 bytes with character `skip` left out:
/// the key of that spelling, without building it.
fn hash_without(word: &str, skip: Option<usize>) -> u64 {
    let mut h = FNV_OFFSET;
    let mut utf8 = [0u8; 4];
    for (i, c) in word.chars().enumerate() {
        if Some(i) == skip {
            continue;
        }
        h = fnv(h, c.encode_utf8(&mut utf8).as_bytes());
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a of `bytes`, continued from the hash state `h`.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[derive(Debug, Clone)]
enum IgnoreRule {
    /// `example.com`: that name (and the wildcard `*.example.com`, which
    /// has the same labels to judge).
    Exact(DomainName),
    /// `*.example.com`: every name below example.com.
    Below(DomainName),
}

/// The brand and word lists merged with `[risk]`, ready to judge names.
#[derive(Debug)]
pub struct RiskModel {
    brands: Vec<BrandInfo>,
    tokens: Vec<TokenInfo>,
    words: Vec<WordInfo>,
    folds: HashMap<Fold, FoldIndex>,
    /// Han-script brand names and non-ASCII words, matched anywhere in a
    /// Unicode label (Han text has no word boundaries to look for).
    han_brands: Vec<(String, usize)>,
    han_words: Vec<(String, usize)>,
    own: Vec<String>,
    ignore: Vec<IgnoreRule>,
    max_word_len: usize,
    /// Token spellings of 5+ octets, (text, token) in token order, and the
    /// automaton that finds them in a name's joined pieces at once.
    across: Vec<(String, usize)>,
    across_automaton: Option<InsideAutomaton>,
}

/// Lower-case, without the separators people put in brand names
/// ("Bank of China", "J&T", "Ele.me"), for comparing `own_brands` entries.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

impl RiskModel {
    /// Builds the model from the built-in lists and the user's `[risk]`.
    /// Fails on entries that cannot mean anything, naming the key and entry.
    pub fn new(config: &RiskConfig) -> Result<Self, RiskConfigError> {
        let own = normalise_own_brands(&config.own_brands)?;
        let extra = normalise_extra_words(&config.extra_words)?;
        let ignore = parse_ignore(&config.ignore)?;

        let mut model = RiskModel {
            brands: Vec::new(),
            tokens: Vec::new(),
            words: Vec::new(),
            folds: HashMap::new(),
            han_brands: Vec::new(),
            han_words: Vec::new(),
            own: own.clone(),
            ignore,
            max_word_len: 0,
            across: Vec::new(),
            across_automaton: None,
        };

        for group in lists::builtin_brands().group {
            for brand in group.brands {
                let category = group.category.clone();
                let spellings: Vec<String> = brand
                    .tokens
                    .iter()
                    .chain(&brand.word_tokens)
                    .chain(&brand.han)
                    .cloned()
                    .chain([squash(&brand.name)])
                    .collect();
                // The user's own brand is theirs to order: drop it entirely,
                // look-alikes included.
                if spellings.iter().any(|s| own.contains(s)) {
                    continue;
                }
                let id = model.brands.len();
                model.brands.push(BrandInfo {
                    name: brand.name,
                    category,
                });
                for (t, ordinary) in brand
                    .tokens
                    .into_iter()
                    .map(|t| (t, false))
                    .chain(brand.word_tokens.into_iter().map(|t| (t, true)))
                {
                    model.tokens.push(TokenInfo {
                        text: t,
                        brand: id,
                        ordinary,
                    });
                }
                for h in brand.han {
                    model.han_brands.push((h, id));
                }
            }
        }

        let word_file = lists::builtin_words();
        let configured = extra.into_iter().map(|w| WordInfo {
            text: w,
            kind: "configured".into(),
            severity: Severity::Watch,
        });
        for info in word_file
            .group
            .into_iter()
            .flat_map(|g| {
                let (kind, severity) = (g.kind, g.severity);
                g.words.into_iter().map(move |w| WordInfo {
                    text: w,
                    kind: kind.clone(),
                    severity,
                })
            })
            .chain(configured)
        {
            let id = model.words.len();
            if !info.text.is_ascii() {
                model.han_words.push((info.text.clone(), id));
            }
            model.words.push(info);
        }

        let fillers: Vec<String> = word_file
            .service
            .words
            .into_iter()
            .chain(own.iter().filter(|o| o.is_ascii()).cloned())
            .collect();
        for fold in Fold::ALL {
            let mut index = FoldIndex::default();
            for (id, t) in model.tokens.iter().enumerate() {
                let folded = fold.apply(&t.text);
                index
                    .vocab
                    .entry(folded.clone())
                    .or_default()
                    .push(Vocab::Token(id));
                if t.matches_inside() {
                    index.inside.push((folded.clone(), id));
                }
                if t.text.chars().count() >= MIN_INSIDE_LEN {
                    index.whole_label_near.push((folded, id));
                }
            }
            for (id, w) in model.words.iter().enumerate() {
                if w.text.is_ascii() {
                    index
                        .vocab
                        .entry(fold.apply(&w.text))
                        .or_default()
                        .push(Vocab::Word(id));
                }
            }
            for f in &fillers {
                index
                    .vocab
                    .entry(fold.apply(f))
                    .or_default()
                    .push(Vocab::Filler);
            }
            model.max_word_len = model
                .max_word_len
                .max(index.vocab.keys().map(|k| k.len()).max().unwrap_or(0));
            index.inside_automaton = InsideAutomaton::build(&index.inside);
            index.inside_near = NearIndex::build(&index.inside);
            index.whole_label_near_index = NearIndex::build(&index.whole_label_near);
            model.folds.insert(fold, index);
        }
        model.across = model
            .tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| t.text.len() >= MIN_INSIDE_LEN)
            .map(|(id, t)| (t.text.clone(), id))
            .collect();
        model.across_automaton = InsideAutomaton::build(&model.across);
        Ok(model)
    }

    /// Judges one certificate name. A wildcard is judged by its base: `*.`
    /// adds no label a risk control reads.
    pub fn assess(&self, name: &CertName) -> RiskAssessment {
        if self.is_ignored(name) {
            return RiskAssessment {
                level: RiskLevel::Low,
                reasons: Vec::new(),
            };
        }
        // Nothing below calls `assess` again, so this borrow cannot clash.
        SCRATCH.with_borrow_mut(|scratch| self.assess_with(name, scratch))
    }

    fn assess_with(&self, name: &CertName, scratch: &mut Scratch) -> RiskAssessment {
        let labels = NameParts::of(name.base());
        let mut found = Findings::default();
        for (i, label) in labels.judged.iter().enumerate() {
            let scope = if i + 1 == labels.judged.len() {
                Scope::RegistrableDomain
            } else {
                Scope::Subdomain
            };
            self.judge_label(label, scope, scratch, &mut found);
        }
        self.judge_across_boundaries(&labels, scratch, &mut found);

        // A name built on the user's own brand is theirs: its sensitive words
        // (`mybrand-login.com`) and its look-alike spellings (defensive
        // registrations such as `my-brand.com` or an IDN homograph) are the
        // owner's business, not an impersonation. Other brands still count.
        if let Some(registrable) = labels.judged.last()
            && self.is_own_name(registrable)
        {
            found
                .reasons
                .retain(|r| !matches!(r.code, ReasonCode::SensitiveWord | ReasonCode::MixedScript));
        }
        found.finish()
    }

    fn is_ignored(&self, name: &CertName) -> bool {
        self.ignore.iter().any(|rule| match rule {
            IgnoreRule::Exact(d) => name.base() == d,
            IgnoreRule::Below(d) => {
                (name.base() != d && name.base().is_at_or_below(d))
                    || (name.is_wildcard() && name.base() == d)
            }
        })
    }

    fn judge_label(
        &self,
        label: &Label,
        scope: Scope,
        scratch: &mut Scratch,
        found: &mut Findings,
    ) {
        let registrable = scope == Scope::RegistrableDomain;
        let raw = self.scan(Fold::Raw, &label.unicode, registrable, &mut scratch.scan);
        // Brands read plainly; a near spelling does not count, so that the
        // skeleton of `аpple` is still reported as the homograph it is.
        let raw_brands: HashSet<usize> = raw
            .brands
            .iter()
            .filter(|h| h.how != How::Near)
            .map(|h| self.tokens[h.token].brand)
            .collect();
        for hit in &raw.brands {
            let code = match hit.how {
                How::Whole if scope == Scope::RegistrableDomain => ReasonCode::BrandExact,
                How::Near => ReasonCode::BrandLookalike,
                _ => ReasonCode::BrandContains,
            };
            if code == ReasonCode::BrandLookalike && self.is_own(&hit.matched) {
                continue;
            }
            found.brand(self, code, scope, label, hit);
        }
        for &w in &raw.words {
            found.word(self, scope, label, w);
        }
        // A non-ASCII name or word cannot be inside an ASCII label: the
        // search is skipped, which was most of the scan's time.
        let ascii_label = label.unicode.is_ascii();
        let inside = |s: &str| (s.is_ascii() || !ascii_label) && label.unicode.contains(s);
        for (han, brand) in &self.han_brands {
            if inside(han) {
                let code = if label.unicode == han.as_str() && scope == Scope::RegistrableDomain {
                    ReasonCode::BrandExact
                } else {
                    ReasonCode::BrandContains
                };
                found.han_brand(self, code, scope, label, han, *brand);
            }
        }
        for (word, id) in &self.han_words {
            if inside(word) {
                found.word(self, scope, label, *id);
            }
        }

        // Look-alike spellings: fold and match again; only brands the plain
        // reading did not find are reported, as look-alikes.
        let (fold, code) = if label.unicode.is_ascii() {
            (Fold::Leet, ReasonCode::BrandLookalike)
        } else {
            (Fold::Visual, ReasonCode::ConfusableSkeleton)
        };
        let folded = &mut scratch.folded;
        folded.clear();
        fold.apply_into(&label.unicode, folded);
        if *folded != label.unicode {
            let alt = self.scan(fold, folded, registrable, &mut scratch.scan);
            for hit in &alt.brands {
                if raw_brands.contains(&self.tokens[hit.token].brand) {
                    continue;
                }
                // What the user wrote, for the reason and the own-brand test.
                let matched = label
                    .unicode
                    .split('-')
                    .nth(hit.piece)
                    .filter(|_| label.unicode.split('-').count() == folded.split('-').count())
                    .unwrap_or(&label.unicode);
                if self.is_own(matched) {
                    continue;
                }
                let hit = Hit {
                    matched: matched.to_string(),
                    ..hit.clone()
                };
                found.brand(self, code, scope, label, &hit);
            }
            for &w in &alt.words {
                found.word(self, scope, label, w);
            }
        }

        if !label.unicode.is_ascii()
            && (*label.unicode).detect_restriction_level() > RestrictionLevel::HighlyRestrictive
        {
            let odd: Vec<String> = label
                .unicode
                .chars()
                .filter(|c| !c.is_ascii())
                .take(3)
                .map(|c| format!("\"{c}\" U+{:04X}", c as u32))
                .collect();
            found.push(RiskReason {
                code: ReasonCode::MixedScript,
                scope,
                label: label.unicode.to_string(),
                brand: None,
                word: None,
                summary: format!(
                    "{} mixes writing systems ({}) beyond what Unicode TS #39 allows for a \
                     \"highly restrictive\" identifier; browsers show such labels as xn-- and \
                     CAs read them as homograph attempts",
                    label.shown(),
                    odd.join(", ")
                ),
            });
        }
    }

    /// Brands written across hyphens or dots (`pay-pal`, `pay.pal.com`):
    /// the pieces, joined, start and end exactly where the brand does.
    fn judge_across_boundaries(
        &self,
        parts: &NameParts,
        scratch: &mut Scratch,
        found: &mut Findings,
    ) {
        let Scratch {
            joined,
            starts,
            ends,
            scan: ScanScratch { positions, .. },
            ..
        } = scratch;
        joined.clear();
        starts.clear(); // (byte offset, label index)
        ends.clear(); // ascending, as `joined` only grows
        for (li, label) in parts.judged.iter().enumerate() {
            for piece in text::iter_pieces(&label.unicode) {
                starts.push((joined.len(), li));
                joined.push_str(piece.text);
                ends.push(joined.len());
            }
        }
        if starts.len() < 2 {
            return;
        }
        let joined = joined.as_str();
        // The tokens found in the joined text, in token order.
        match &self.across_automaton {
            Some(a) => a.found_in(joined, positions),
            None => {
                positions.clear();
                positions.extend(0..self.across.len());
            }
        }
        for &at in positions.iter() {
            let id = self.across[at].1;
            let t = &self.tokens[id];
            // Ordinary-word spellings count too: "app" + "le" is no ordinary word.
            if t.text.len() < MIN_INSIDE_LEN || !joined.contains(t.text.as_str()) {
                continue;
            }
            for (at, _) in joined.match_indices(t.text.as_str()) {
                let end = at + t.text.len();
                let Some(first) = starts.iter().position(|(s, _)| *s == at) else {
                    continue;
                };
                if ends.binary_search(&end).is_err() {
                    continue;
                }
                let spanned: Vec<usize> = starts
                    .iter()
                    .filter(|(s, _)| *s >= at && *s < end)
                    .map(|(_, li)| *li)
                    .collect();
                if spanned.len() < 2 {
                    continue; // one piece: the per-label reading saw it
                }
                let first_label = starts[first].1;
                let last_label = *spanned.last().expect("two or more pieces");
                let registrable = parts.judged.len() - 1;
                let scope = if last_label == registrable {
                    Scope::RegistrableDomain
                } else {
                    Scope::Subdomain
                };
                let (code, label) = if first_label == last_label {
                    (ReasonCode::BrandContains, parts.judged[first_label].clone())
                } else {
                    let joined_labels: Vec<&str> = parts.judged[first_label..=last_label]
                        .iter()
                        .map(|l| &*l.unicode)
                        .collect();
                    let text = joined_labels.join(".");
                    (
                        ReasonCode::BrandSplit,
                        Label {
                            ascii: Cow::Owned(text.clone()),
                            unicode: Cow::Owned(text),
                        },
                    )
                };
                let hit = Hit {
                    token: id,
                    how: How::Inside,
                    piece: 0,
                    matched: label.unicode.to_string(),
                    weak: false,
                };
                found.brand(self, code, scope, &label, &hit);
            }
        }
    }

    /// Whether a label, read plainly, without hyphens, or folded, contains
    /// one of the user's own brands.
    fn is_own_name(&self, label: &Label) -> bool {
        if self.own.is_empty() {
            return false;
        }
        let joined = label.unicode.replace('-', "");
        let readings = [
            label.unicode.to_string(),
            joined.clone(),
            Fold::Leet.apply(&joined),
            Fold::Visual.apply(&joined),
        ];
        self.own.iter().any(|o| {
            let folded = [
                o.clone(),
                o.clone(),
                Fold::Leet.apply(o),
                Fold::Visual.apply(o),
            ];
            readings
                .iter()
                .zip(&folded)
                .any(|(r, o)| r.contains(o.as_str()))
        })
    }

    fn is_own(&self, matched: &str) -> bool {
        self.own.iter().any(|o| matched.contains(o.as_str()))
    }

    /// Reads a label (already folded) word by word; see the module comment.
    /// `whole_label_near` also compares a one-word label with every brand
    /// of 5+ characters by one edit (the registrable label only: there a
    /// one-word near spelling is what typosquatting registers).
    fn scan(
        &self,
        fold: Fold,
        label: &str,
        whole_label_near: bool,
        scratch: &mut ScanScratch,
    ) -> Scan {
        let index = &self.folds[&fold];
        let mut out = Scan::default();
        let add = |entries: Option<&Vec<Vocab>>,
                   how: How,
                   piece: usize,
                   matched: &str,
                   out: &mut Scan| {
            for e in entries.into_iter().flatten() {
                match *e {
                    Vocab::Token(t) => out.brands.push(Hit {
                        token: t,
                        how,
                        piece,
                        matched: matched.to_string(),
                        weak: false,
                    }),
                    Vocab::Word(w) => out.words.push(w),
                    Vocab::Filler => {}
                }
            }
        };
        add(index.vocab.get(label), How::Whole, 0, label, &mut out);
        let ScanScratch {
            positions,
            segmenter,
        } = scratch;
        let label_len = label.chars().count();
        if whole_label_near
            && !label.contains('-')
            && !index.vocab.contains_key(label)
            && label_len >= 4
        {
            index.whole_label_near_index.candidates(label, positions);
            for &at in positions.iter() {
                let (t, id) = &index.whole_label_near[at];
                if t.chars().count().abs_diff(label_len) <= 1
                    && text::one_edit_apart(label, t, true)
                {
                    let token = &self.tokens[*id];
                    out.brands.push(Hit {
                        token: *id,
                        how: How::Near,
                        piece: 0,
                        matched: label.to_string(),
                        // One letter from an ordinary-word brand (`chose`
                        // for `chase`) or a 5-letter one (`civic` for
                        // `citic`) is as likely a word as a typo: medium.
                        weak: token.ordinary || token.text.chars().count() < MIN_REPLACE_LEN,
                    });
                }
            }
        }
        for (pi, piece) in text::iter_pieces(label).enumerate() {
            let p = piece.text;
            add(index.vocab.get(p), How::Word, pi, p, &mut out);
            let runs = text::iter_letter_digit_runs(p);
            let several_runs = runs.clone().nth(1).is_some();
            // One edit from a distinctive brand (`paypall`, `gooogle`), read
            // per run and, when digits are mixed in, for the whole piece
            // (`mi9crosoft` is "microsoft" with a digit inserted).
            let near_candidates = runs.clone().chain(several_runs.then_some(p));
            for cand in near_candidates {
                let cand_len = cand.chars().count();
                if cand_len < MIN_INSIDE_LEN || index.vocab.contains_key(cand) {
                    continue;
                }
                index.inside_near.candidates(cand, positions);
                for &at in positions.iter() {
                    let (t, id) = &index.inside[at];
                    let t_len = t.chars().count();
                    if t_len.abs_diff(cand_len) <= 1
                        && text::one_edit_apart(
                            cand,
                            t,
                            self.tokens[*id].text.len() >= MIN_REPLACE_LEN,
                        )
                    {
                        out.brands.push(Hit {
                            token: *id,
                            how: How::Near,
                            piece: pi,
                            matched: cand.to_string(),
                            weak: false,
                        });
                    }
                }
            }
            for run in runs {
                if several_runs {
                    add(index.vocab.get(run), How::Word, pi, run, &mut out);
                }
                if index.vocab.contains_key(run) {
                    continue;
                }
                if let Some(words) =
                    segmenter.split(run, |w| index.vocab.contains_key(w), self.max_word_len)
                    && words.len() > 1
                {
                    for &(s, e) in words {
                        add(index.vocab.get(&run[s..e]), How::Word, pi, run, &mut out);
                    }
                }
            }
            match &index.inside_automaton {
                Some(a) => a.found_in(p, positions),
                None => {
                    positions.clear();
                    positions.extend(0..index.inside.len());
                }
            }
            for &at in positions.iter() {
                let (t, id) = &index.inside[at];
                if p.len() > t.len() && p.contains(t.as_str()) {
                    out.brands.push(Hit {
                        token: *id,
                        how: How::Inside,
                        piece: pi,
                        matched: p.to_string(),
                        weak: false,
                    });
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// The whole label is the spelling.
    Whole,
    /// A word of the label is the spelling.
    Word,
    /// The spelling is inside a longer word.
    Inside,
    /// One edit away.
    Near,
}

#[derive(Debug, Clone)]
struct Hit {
    token: usize,
    how: How,
    /// Which hyphen piece of the label (for mapping folds back).
    piece: usize,
    /// The text that matched, as read (folded for folded scans).
    matched: String,
    /// A near spelling of an ordinary-word brand: worth a reason, but only
    /// a medium level.
    weak: bool,
}

#[derive(Debug, Default)]
struct Scan {
    brands: Vec<Hit>,
    words: Vec<usize>,
}

/// A label in both forms: A-label for the reader who types it, Unicode for
/// matching and for the reader who sees it.
///
/// Both borrow the name's own text when they can: an ASCII label of a
/// (lower-case) `DomainName` is its own Unicode form, and copying every
/// label twice was most of `NameParts::of`'s allocations (issue 15).
#[derive(Debug, Clone)]
struct Label<'a> {
    ascii: Cow<'a, str>,
    unicode: Cow<'a, str>,
}

impl<'a> Label<'a> {
    fn new(ascii: &'a str) -> Self {
        let unicode = if ascii.starts_with("xn--") {
            let (u, result) = idna::domain_to_unicode(ascii);
            if result.is_ok() {
                Cow::Owned(u)
            } else {
                Cow::Borrowed(ascii)
            }
        } else {
            Cow::Borrowed(ascii)
        };
        Label {
            ascii: Cow::Borrowed(ascii),
            unicode: text::lowercase(unicode),
        }
    }

    /// `"paypal-login"`, or `"аpple" (xn--pple-43d)` for an IDN.
    fn shown(&self) -> String {
        if self.ascii == self.unicode {
            format!("\"{}\"", self.unicode)
        } else {
            format!("\"{}\" ({})", self.unicode, self.ascii)
        }
    }
}

/// The labels of a name that a risk control reads: subdomain labels from
/// the left, then the registrable domain's own label last. The public
/// suffix (`com`, `com.cn`, `github.io`) is nobody's brand and is skipped.
struct NameParts<'a> {
    judged: Vec<Label<'a>>,
}

impl<'a> NameParts<'a> {
    fn of(name: &'a DomainName) -> Self {
        let judged_count = match psl::domain(name.as_str().as_bytes()) {
            // The registrable domain is one label plus the suffix.
            Some(domain) => {
                let suffix_labels = domain.suffix().as_bytes().split(|b| *b == b'.').count();
                name.labels().count() - suffix_labels
            }
            // The name is itself a public suffix: nothing of its own to read.
            None => 0,
        };
        NameParts {
            judged: name.labels().take(judged_count).map(Label::new).collect(),
        }
    }
}

thread_local! {
    /// Each thread's scratch buffers for [`RiskModel::assess`], kept from
    /// name to name: fresh ones per name were most of its allocations, and
    /// malloc/free about 30% of `check`'s user-space instructions at
    /// 100,000 names (issue 15). They keep the size the largest name needed.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Buffers of [`RiskModel::assess`]; their contents mean nothing between
/// uses, each user clears what it takes.
#[derive(Debug, Default)]
struct Scratch {
    /// A label folded for the look-alike reading.
    folded: String,
    /// `judge_across_boundaries`: the judged pieces joined, where each
    /// starts (byte offset, label index), and where each ends.
    joined: String,
    starts: Vec<(usize, usize)>,
    ends: Vec<usize>,
    scan: ScanScratch,
}

/// Buffers of [`RiskModel::scan`].
#[derive(Debug, Default)]
struct ScanScratch {
    /// The indexes' answers (positions in one of their lists).
    positions: Vec<usize>,
    segmenter: text::Segmenter,
}

/// Reasons collected for one name, one per brand and scope and one per
/// word and scope, the strongest kept.
#[derive(Default)]
struct Findings {
    reasons: Vec<RiskReason>,
    prohibited: bool,
    /// (brand, scope) known only from weak hits.
    weak: HashSet<(String, Scope)>,
}

impl Findings {
    fn push(&mut self, reason: RiskReason) {
        let same = self.reasons.iter_mut().find(|r| {
            r.scope == reason.scope
                && r.brand == reason.brand
                && r.word == reason.word
                && (r.code.is_brand() == reason.code.is_brand())
                && (r.code != ReasonCode::MixedScript || r.label == reason.label)
        });
        match same {
            Some(existing) if brand_strength(reason.code) > brand_strength(existing.code) => {
                *existing = reason
            }
            Some(_) => {}
            None => self.reasons.push(reason),
        }
    }

    fn brand(
        &mut self,
        model: &RiskModel,
        code: ReasonCode,
        scope: Scope,
        label: &Label,
        hit: &Hit,
    ) {
        let token = &model.tokens[hit.token];
        let brand = &model.brands[token.brand].name;
        let key = (brand.clone(), scope);
        if hit.weak {
            if !self
                .reasons
                .iter()
                .any(|r| r.brand.as_ref() == Some(brand) && r.scope == scope)
            {
                self.weak.insert(key);
            }
        } else {
            self.weak.remove(&key);
        }
        let category = &model.brands[token.brand].category;
        let shown = label.shown();
        let spelling = &token.text;
        let summary = match (code, scope) {
            (ReasonCode::BrandExact, _) => format!(
                "{shown} is the {category} brand {brand} itself as a registrable domain: a CA holds \
                 the order until it has confirmed that the applicant is {brand}"
            ),
            (ReasonCode::BrandContains, Scope::RegistrableDomain) => format!(
                "the registrable domain's label {shown} contains the brand {brand} (\"{spelling}\"); \
                 a domain of one's own built on someone else's brand is what phishing uses, so CAs hold it"
            ),
            (ReasonCode::BrandContains, Scope::Subdomain) => format!(
                "the subdomain label {shown} contains the brand {brand} (\"{spelling}\"); under a \
                 registrable domain that is not the brand's this is less alarming, but keyword filters still see it"
            ),
            (ReasonCode::BrandSplit, _) => {
                format!("the labels {shown} spell the brand {brand} (\"{spelling}\") across a dot")
            }
            (ReasonCode::BrandLookalike, _) if hit.how == How::Near && hit.matched == *spelling => {
                format!("{shown} is a near spelling of the brand {brand} (\"{spelling}\")")
            }
            (ReasonCode::BrandLookalike, _) if hit.how == How::Near => format!(
                "{shown} is a near spelling of the brand {brand}: \"{}\" is one letter away from \"{spelling}\"",
                hit.matched
            ),
            (ReasonCode::BrandLookalike, _) => format!(
                "{shown} spells the brand {brand} (\"{spelling}\") with digits or look-alike letters \
                 (\"{}\")",
                hit.matched
            ),
            (ReasonCode::ConfusableSkeleton, _) => format!(
                "{shown} looks like the brand {brand} (\"{spelling}\") once look-alike characters are \
                 read as Latin (Unicode TS #39 skeleton): an IDN homograph of the brand"
            ),
            _ => unreachable!("only brand codes reach Findings::brand"),
        };
        self.push(RiskReason {
            code,
            scope,
            label: label.unicode.to_string(),
            brand: Some(brand.clone()),
            word: None,
            summary,
        });
    }

    fn han_brand(
        &mut self,
        model: &RiskModel,
        code: ReasonCode,
        scope: Scope,
        label: &Label,
        han: &str,
        brand: usize,
    ) {
        let name = &model.brands[brand].name;
        let summary = format!(
            "{} contains \"{han}\", the brand {name}; CAs hold orders for names carrying a brand that \
             is not the applicant's",
            label.shown()
        );
        self.push(RiskReason {
            code,
            scope,
            label: label.unicode.to_string(),
            brand: Some(name.clone()),
            word: None,
            summary,
        });
    }

    fn word(&mut self, model: &RiskModel, scope: Scope, label: &Label, id: usize) {
        let w = &model.words[id];
        let summary = match w.severity {
            Severity::Prohibited => {
                self.prohibited = true;
                format!(
                    "{} contains \"{}\", a {} word: CAs in China refuse or escalate such names",
                    label.shown(),
                    w.text,
                    w.kind
                )
            }
            Severity::Watch => format!(
                "{} contains \"{}\", a {} word that CAs' risk control watches{}",
                label.shown(),
                w.text,
                w.kind,
                match scope {
                    Scope::RegistrableDomain => "",
                    Scope::Subdomain => " (in a subdomain it matters mostly beside a brand)",
                }
            ),
        };
        self.push(RiskReason {
            code: ReasonCode::SensitiveWord,
            scope,
            label: label.unicode.to_string(),
            brand: None,
            word: Some(w.text.clone()),
            summary,
        });
    }

    /// The level rules (docs/risk.md): a brand in the registrable domain,
    /// a prohibited word, or a brand beside a sensitive word is high; a
    /// brand only in a subdomain, a watched word in the registrable domain,
    /// or mixed scripts is medium.
    fn finish(mut self) -> RiskAssessment {
        let has = |code_brand: bool, scope: Option<Scope>, reasons: &[RiskReason]| {
            reasons.iter().any(|r| {
                (if code_brand {
                    r.code.is_brand()
                } else {
                    r.code == ReasonCode::SensitiveWord
                }) && scope.is_none_or(|s| r.scope == s)
            })
        };
        let strong: Vec<RiskReason> = self
            .reasons
            .iter()
            .filter(|r| {
                r.brand
                    .as_ref()
                    .is_none_or(|b| !self.weak.contains(&(b.clone(), r.scope)))
            })
            .cloned()
            .collect();
        let brand_registrable = has(true, Some(Scope::RegistrableDomain), &strong);
        let brand_anywhere = has(true, None, &strong);
        let weak_brand = !self.weak.is_empty();
        let word_anywhere = has(false, None, &self.reasons);
        let word_registrable = has(false, Some(Scope::RegistrableDomain), &self.reasons);
        let prohibited = self.prohibited
            && self
                .reasons
                .iter()
                .any(|r| r.code == ReasonCode::SensitiveWord);
        let mixed = self
            .reasons
            .iter()
            .any(|r| r.code == ReasonCode::MixedScript);
        let level = if brand_registrable || prohibited || (brand_anywhere && word_anywhere) {
            RiskLevel::High
        } else if brand_anywhere || weak_brand || word_registrable || mixed {
            RiskLevel::Medium
        } else {
            RiskLevel::Low
        };
        self.reasons.sort_by_key(|r| {
            (
                r.scope,
                !r.code.is_brand(),
                r.code == ReasonCode::SensitiveWord,
            )
        });
        RiskAssessment {
            level,
            reasons: self.reasons,
        }
    }
}

/// Which of two reasons about the same brand to keep.
fn brand_strength(code: ReasonCode) -> u8 {
    match code {
        ReasonCode::BrandExact => 5,
        ReasonCode::BrandContains => 4,
        ReasonCode::BrandSplit => 3,
        ReasonCode::ConfusableSkeleton => 2,
        ReasonCode::BrandLookalike => 1,
        ReasonCode::MixedScript | ReasonCode::SensitiveWord => 0,
    }
}

fn normalise_own_brands(entries: &[String]) -> Result<Vec<String>, RiskConfigError> {
    entries
        .iter()
        .map(|entry| {
            let trimmed = entry.trim();
            // A domain (`example.com`): its registrable label is the brand.
            let brand = if trimmed.contains('.') {
                let name = DomainName::parse(trimmed).map_err(|e| RiskConfigError::OwnBrand {
                    entry: entry.clone(),
                    why: e.to_string(),
                })?;
                let parts = NameParts::of(&name);
                let label = parts
                    .judged
                    .last()
                    .ok_or_else(|| RiskConfigError::OwnBrand {
                        entry: entry.clone(),
                        why: "it is a public suffix, not a registrable domain".into(),
                    })?;
                squash(&label.unicode)
            } else {
                squash(trimmed)
            };
            if brand.chars().count() < 2 {
                return Err(RiskConfigError::OwnBrand {
                    entry: entry.clone(),
                    why: "a brand needs at least two letters or digits".into(),
                });
            }
            Ok(brand)
        })
        .collect()
}

fn normalise_extra_words(entries: &[String]) -> Result<Vec<String>, RiskConfigError> {
    entries
        .iter()
        .map(|entry| {
            let word = entry.trim().to_lowercase();
            if word.chars().count() < 2 || !word.chars().all(char::is_alphanumeric) {
                return Err(RiskConfigError::ExtraWord {
                    entry: entry.clone(),
                    why: "a word is two or more letters or digits, without spaces, hyphens or dots"
                        .into(),
                });
            }
            Ok(word)
        })
        .collect()
}

fn parse_ignore(entries: &[String]) -> Result<Vec<IgnoreRule>, RiskConfigError> {
    entries
        .iter()
        .map(|entry| {
            let trimmed = entry.trim();
            let (below, rest) = match trimmed.strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, trimmed),
            };
            let name = DomainName::parse(rest).map_err(|e| RiskConfigError::Ignore {
                entry: entry.clone(),
                why: e.to_string(),
            })?;
            Ok(if below {
                IgnoreRule::Below(name)
            } else {
                IgnoreRule::Exact(name)
            })
        })
        .collect()
}

#[cfg(test)]
mod index_tests {
    use super::*;

    /// Every string one edit from `t`: each character deleted, replaced,
    /// a character inserted at each place, each pair of neighbours swapped.
    fn one_edit_variants(t: &str) -> Vec<String> {
        let c: Vec<char> = t.chars().collect();
        let mut out = Vec::new();
        for i in 0..c.len() {
            let mut d = c.clone();
            d.remove(i);
            out.push(d.iter().collect());
            let mut r = c.clone();
            r[i] = if r[i] == 'x' { 'y' } else { 'x' };
            out.push(r.iter().collect());
            if i + 1 < c.len() {
                let mut s = c.clone();
                s.swap(i, i + 1);
                out.push(s.iter().collect());
            }
        }
        for i in 0..=c.len() {
            let mut n = c.clone();
            n.insert(i, 'q');
            out.push(n.iter().collect());
        }
        out
    }

    /// The deletion-neighbourhood index finds every entry one edit away
    /// (what the scan compared one by one before), for every list and fold,
    /// and the automaton every entry inside a longer text.
    #[test]
    fn the_indexes_miss_no_entry_the_full_comparison_finds() {
        let model = RiskModel::new(&RiskConfig::default()).unwrap();
        let mut found = Vec::new();
        for fold in Fold::ALL {
            let index = &model.folds[&fold];
            for (list, near) in [
                (&index.inside, &index.inside_near),
                (&index.whole_label_near, &index.whole_label_near_index),
            ] {
                assert!(!list.is_empty());
                for (at, (t, _)) in list.iter().enumerate() {
                    for v in one_edit_variants(t) {
                        if text::one_edit_apart(&v, t, true) {
                            near.candidates(&v, &mut found);
                            assert!(found.contains(&at), "{fold:?}: {v} misses {t}");
                        }
                    }
                }
            }
            let across = model.across_automaton.as_ref().unwrap();
            for (at, (t, _)) in model.across.iter().enumerate() {
                across.found_in(&format!("a{t}b"), &mut found);
                assert!(found.contains(&at), "{t} not found across labels");
            }
            let automaton = index.inside_automaton.as_ref().unwrap();
            for (at, (t, _)) in index.inside.iter().enumerate() {
                automaton.found_in(&format!("my{t}shop"), &mut found);
                assert!(found.contains(&at), "{fold:?}: {t} not found inside");
            }
        }
    }

    /// The bucketed lookup (and its carried-over ASCII hashing) finds
    /// exactly the entries a search of the whole table for each deletion
    /// key finds, ASCII or not.
    #[test]
    fn the_bucketed_lookup_finds_what_a_search_of_the_whole_table_finds() {
        let model = RiskModel::new(&RiskConfig::default()).unwrap();
        let mut found = Vec::new();
        let mut words: Vec<String> = [
            "",
            "a",
            "pаypal",
            "ｐａｙｐａｌ",
            "n99999",
            "site9999",
            "xn--80ak6aa92e",
        ]
        .iter()
        .map(|w| w.to_string())
        .collect();
        for fold in Fold::ALL {
            let index = &model.folds[&fold];
            for (list, near) in [
                (&index.inside, &index.inside_near),
                (&index.whole_label_near, &index.whole_label_near_index),
            ] {
                assert!(near.starts.len() > 2 && near.hashes.len() > 100);
                for (t, _) in list.iter().step_by(7) {
                    words.extend(one_edit_variants(t));
                }
                for w in &words {
                    near.candidates(w, &mut found);
                    let mut expected: Vec<usize> = deletions(w)
                        .flat_map(|skip| {
                            let h = hash_without(w, skip);
                            near.hashes
                                .iter()
                                .zip(&near.entries)
                                .filter(move |(k, _)| **k == h)
                                .map(|(_, e)| *e as usize)
                        })
                        .collect();
                    expected.sort_unstable();
                    expected.dedup();
                    assert_eq!(found, expected, "{fold:?}: {w}");
                }
            }
        }
    }
}
