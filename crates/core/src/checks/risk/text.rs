//! String helpers for reading a DNS label the way a person (or a CA's
//! keyword filter) reads it: split into words, folded so that look-alike
//! spellings compare equal, and compared with one edit of slack. All pure.

use std::borrow::Cow;

use unicode_security::skeleton;

/// How a label's text was normalised before matching. The same fold is
/// applied to the brand and word lists, so that both sides compare equal
/// exactly when they look alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Fold {
    /// Lower-case, as found in the name.
    Raw,
    /// Digits read as the letters they imitate, and the ASCII look-alike
    /// sequences dnstwist's homoglyph fuzzer uses (`rn` for `m`, `vv` for
    /// `w`, `i` and `1` for `l`): `paypa1`, `rnicrosoft`, `g00gle`.
    Leet,
    /// The Unicode TS #39 skeleton with accents removed: `аpple` with a
    /// Cyrillic "а", or `ġoogle`, reads as the Latin brand.
    Visual,
}

impl Fold {
    pub(super) const ALL: [Fold; 3] = [Fold::Raw, Fold::Leet, Fold::Visual];

    pub(super) fn apply(self, text: &str) -> String {
        let mut out = String::new();
        self.apply_into(text, &mut out);
        out
    }

    /// [`Fold::apply`], appended to `out`: judging a name folds each of its
    /// labels, into one buffer reused from label to label (issue 15).
    pub(super) fn apply_into(self, text: &str, out: &mut String) {
        match self {
            // `str::to_lowercase`, for its final-sigma rule; only building
            // the model folds this way (a label's plain reading is its
            // lower-cased Unicode form, made once in `Label::new`).
            Fold::Raw => out.push_str(&text.to_lowercase()),
            Fold::Leet => leet_fold_into(text, out),
            Fold::Visual => visual_fold_into(text, out),
        }
    }
}

/// `text` lower-cased, borrowed when that changes nothing (a DNS name's
/// labels are lower-case already). Same result as `str::to_lowercase`: its
/// one context rule, final sigma, applies only to "Σ", which lower-cases.
pub(super) fn lowercase(text: Cow<'_, str>) -> Cow<'_, str> {
    let unchanged = if text.is_ascii() {
        !text.bytes().any(|b| b.is_ascii_uppercase())
    } else {
        text.chars().all(|c| {
            let mut lower = c.to_lowercase();
            lower.next() == Some(c) && lower.next().is_none()
        })
    };
    if unchanged {
        text
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

#[cfg(test)]
pub(super) fn leet_fold(text: &str) -> String {
    Fold::Leet.apply(text)
}

/// Digits for letters and ASCII look-alike sequences, appended to `out`. A
/// piece made only of digits is left alone: `12306` and `10086` are brands
/// as numbers, and a number is not a spelling of a word.
///
/// One pass, without a string per piece (issue 15). Reading `rn` and `vv`
/// left to right in that pass gives what replacing every `rn`, then every
/// `vv`, then each digit gave: the two share no character, and neither
/// `m` nor `w` is mapped again.
fn leet_fold_into(text: &str, out: &mut String) {
    for (i, piece) in text.split('-').enumerate() {
        if i > 0 {
            out.push('-');
        }
        if !piece.bytes().any(|b| b.is_ascii_alphabetic()) {
            out.push_str(piece);
            continue;
        }
        let mut chars = piece.chars().map(|c| c.to_ascii_lowercase()).peekable();
        while let Some(c) = chars.next() {
            let folded = match (c, chars.peek().copied()) {
                ('r', Some('n')) | ('v', Some('v')) => {
                    chars.next(); // the `n` of `rn`, the second `v` of `vv`
                    if c == 'r' { 'm' } else { 'w' }
                }
                ('0', _) => 'o',
                ('1' | 'i', _) => 'l',
                ('3', _) => 'e',
                ('4', _) => 'a',
                ('5', _) => 's',
                ('7', _) => 't',
                ('8', _) => 'b',
                (other, _) => other,
            };
            out.push(folded);
        }
    }
}

#[cfg(test)]
pub(super) fn visual_fold(text: &str) -> String {
    Fold::Visual.apply(text)
}

/// [`Fold::Visual`], appended to `out`: the UTS #39 skeleton, then without
/// combining marks, lower-cased. The skeleton maps confusable characters
/// to a prototype (Cyrillic "а" to Latin "a", "0" to "O", "m" to "rn"); the
/// accents are dropped because `ġ` and `g` pass for each other in a
/// browser's address bar although UTS #39 does not list them as confusable.
fn visual_fold_into(text: &str, out: &mut String) {
    out.extend(
        skeleton(text)
            .filter(|c| !is_combining_mark(*c))
            .flat_map(char::to_lowercase),
    );
}

/// Combining marks left by the skeleton's NFD step (the blocks that carry
/// the accents of Latin, Greek and Cyrillic letters).
fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// A hyphen-separated piece of a label, with its byte range in the label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Piece<'a> {
    pub text: &'a str,
    pub start: usize,
}

/// The hyphen-separated pieces of a label: the words a person sees in
/// `paypal-login` or `tencent-cloud-verify`. An iterator, not a `Vec`: a
/// name's labels are read twice per name (issue 15).
pub(super) fn iter_pieces(label: &str) -> impl Iterator<Item = Piece<'_>> {
    let mut start = 0;
    label.split('-').filter_map(move |part| {
        let piece = Piece { text: part, start };
        start += part.len() + 1;
        (!part.is_empty()).then_some(piece)
    })
}

#[cfg(test)]
pub(super) fn pieces(label: &str) -> Vec<Piece<'_>> {
    iter_pieces(label).collect()
}

/// Runs of letters and runs of digits: `qq123` reads as `qq` and `123`, and
/// `12306cn` as `12306` and `cn`. A digit ends a word the way a hyphen does.
/// Cloned to read the runs again, instead of collected (issue 15).
#[derive(Debug, Clone)]
pub(super) struct LetterDigitRuns<'a> {
    rest: &'a str,
}

pub(super) fn iter_letter_digit_runs(piece: &str) -> LetterDigitRuns<'_> {
    LetterDigitRuns { rest: piece }
}

impl<'a> Iterator for LetterDigitRuns<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let digit = self.rest.chars().next()?.is_ascii_digit();
        let end = self
            .rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() != digit)
            .map_or(self.rest.len(), |(i, _)| i);
        let (run, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(run)
    }
}

#[cfg(test)]
pub(super) fn letter_digit_runs(piece: &str) -> Vec<&str> {
    iter_letter_digit_runs(piece).collect()
}

/// Whether `a` becomes `b` by one edit: one insertion or deletion, one
/// swap of neighbouring characters, or (with `substitution`) one replaced
/// character. Equal strings are not one edit apart.
pub(super) fn one_edit_apart(a: &str, b: &str, substitution: bool) -> bool {
    // ASCII (nearly every label and brand) compares as bytes, without
    // collecting characters; the answer is the same, as each is one octet.
    if a.is_ascii() && b.is_ascii() {
        return one_edit_apart_in(a.as_bytes(), b.as_bytes(), substitution);
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    one_edit_apart_in(&a, &b, substitution)
}

fn one_edit_apart_in<T: PartialEq>(a: &[T], b: &[T], substitution: bool) -> bool {
    if a == b {
        return false;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    match long.len() - short.len() {
        0 => {
            let mut diffs = (0..a.len()).filter(|&i| a[i] != b[i]);
            match (diffs.next(), diffs.next(), diffs.next()) {
                (Some(_), None, _) => substitution,
                (Some(i), Some(j), None) => j == i + 1 && a[i] == b[j] && a[j] == b[i],
                _ => false,
            }
        }
        1 => {
            // Skip the first mismatch in the longer string; the rest must agree.
            let first = (0..short.len())
                .find(|&i| short[i] != long[i])
                .unwrap_or(short.len());
            short[first..] == long[first + 1..]
        }
        _ => false,
    }
}

/// Splits texts entirely into known words (see [`Segmenter::split`]),
/// keeping its tables from one text to the next: every run of every label
/// is tried, and fresh tables were two allocations each (issue 15).
#[derive(Debug, Default)]
pub(super) struct Segmenter {
    /// best[i]: the start of the last word of a split of text[..i], if any.
    best: Vec<Option<usize>>,
    reachable: Vec<bool>,
    words: Vec<(usize, usize)>,
}

impl Segmenter {
    /// Splits `text` entirely into known words, preferring longer words
    /// first. Returns the byte ranges of the words, or `None` when some part
    /// of the text is not a known word (`pineapple` = "pine" + "apple" is
    /// not read as a phrase because "pine" is not a word these names are
    /// built from).
    pub(super) fn split(
        &mut self,
        text: &str,
        is_word: impl Fn(&str) -> bool,
        max_word_len: usize,
    ) -> Option<&[(usize, usize)]> {
        let n = text.len();
        let (best, reachable) = (&mut self.best, &mut self.reachable);
        best.clear();
        best.resize(n + 1, None);
        reachable.clear();
        reachable.resize(n + 1, false);
        reachable[0] = true;
        for end in 1..=n {
            if !text.is_char_boundary(end) {
                continue;
            }
            let lowest = end.saturating_sub(max_word_len);
            // Longest word first, so `qqmail` reads as "qq" + "mail".
            for start in lowest..end {
                if reachable[start] && text.is_char_boundary(start) && is_word(&text[start..end]) {
                    reachable[end] = true;
                    best[end] = Some(start);
                    break;
                }
            }
        }
        if !reachable[n] {
            return None;
        }
        self.words.clear();
        let mut end = n;
        while end > 0 {
            let start = best[end]?;
            self.words.push((start, end));
            end = start;
        }
        self.words.reverse();
        Some(&self.words)
    }
}

#[cfg(test)]
pub(super) fn segment(
    text: &str,
    is_word: impl Fn(&str) -> bool,
    max_word_len: usize,
) -> Option<Vec<(usize, usize)>> {
    Segmenter::default()
        .split(text, is_word, max_word_len)
        .map(<[_]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leet_fold_reads_digits_as_letters_but_keeps_numbers() {
        assert_eq!(leet_fold("paypa1"), "paypal");
        assert_eq!(leet_fold("g00gle-l0gin"), leet_fold("google-login"));
        assert_eq!(leet_fold("rnicrosoft"), leet_fold("microsoft"));
        assert_eq!(leet_fold("12306-cn"), "12306-cn");
    }

    #[test]
    fn visual_fold_maps_cyrillic_and_accents_to_latin() {
        // "аpple" with U+0430 CYRILLIC SMALL LETTER A.
        assert_eq!(visual_fold("\u{430}pple"), visual_fold("apple"));
        assert_eq!(visual_fold("\u{121}oogle"), visual_fold("google"));
        assert_ne!(visual_fold("appel"), visual_fold("apple"));
    }

    #[test]
    fn pieces_and_runs_split_at_hyphens_and_digit_boundaries() {
        let p = pieces("paypal--login-2");
        let texts: Vec<_> = p.iter().map(|p| (p.text, p.start)).collect();
        assert_eq!(texts, [("paypal", 0), ("login", 8), ("2", 14)]);
        assert_eq!(letter_digit_runs("qq123mail"), ["qq", "123", "mail"]);
        assert_eq!(letter_digit_runs("12306"), ["12306"]);
    }

    /// The one-pass leet fold against the replacements it replaced, on
    /// every string of up to five characters from the ones that matter.
    #[test]
    fn leet_fold_in_one_pass_is_the_replacements_it_was() {
        fn by_replacing(text: &str) -> String {
            text.split('-')
                .map(|piece| {
                    if !piece.chars().any(|c| c.is_ascii_alphabetic()) {
                        return piece.to_string();
                    }
                    let lower = piece.to_ascii_lowercase();
                    let out = lower.replace("rn", "m").replace("vv", "w");
                    out.chars()
                        .map(|c| match c {
                            '0' => 'o',
                            '1' | 'i' => 'l',
                            '3' => 'e',
                            '4' => 'a',
                            '5' => 's',
                            '7' => 't',
                            '8' => 'b',
                            other => other,
                        })
                        .collect()
                })
                .collect::<Vec<_>>()
                .join("-")
        }
        let alphabet = ['r', 'n', 'v', 'R', 'V', '0', '1', 'i', '9', '-', 'é'];
        let mut texts = vec![String::new()];
        let mut at = 0;
        while at < texts.len() {
            if texts[at].chars().count() < 5 {
                for c in alphabet {
                    texts.push(format!("{}{c}", texts[at]));
                }
            }
            at += 1;
        }
        for t in texts
            .iter()
            .chain(&["g00gle-l0gin".to_string(), "12306-cn".to_string()])
        {
            assert_eq!(leet_fold(t), by_replacing(t), "{t:?}");
        }
    }

    #[test]
    fn lowercase_borrows_only_what_is_lower_case_already() {
        for text in [
            "shop", "ΑΣ", "ΣΑΣ", "ǅ", "İx", "Shop", "münchen", "σς", "aΣ b",
        ] {
            let lower = lowercase(Cow::Borrowed(text));
            assert_eq!(lower, text.to_lowercase(), "{text:?}");
            assert_eq!(
                matches!(lower, Cow::Borrowed(_)),
                text == text.to_lowercase(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn one_edit_covers_dnstwist_kinds_of_typo() {
        assert!(one_edit_apart("paypall", "paypal", true)); // addition
        assert!(one_edit_apart("papal", "paypal", true)); // omission
        assert!(one_edit_apart("paypla", "paypal", true)); // transposition
        assert!(one_edit_apart("paypak", "paypal", true)); // replacement
        assert!(!one_edit_apart("paypak", "paypal", false));
        assert!(!one_edit_apart("paypal", "paypal", true));
        assert!(!one_edit_apart("pyapla", "paypal", true));
        assert!(!one_edit_apart("adobe", "abode", true)); // two replacements
    }

    #[test]
    fn segment_needs_every_part_to_be_a_word() {
        let words = ["apple", "support", "pin", "qq", "mail", "login"];
        let known = |w: &str| words.contains(&w);
        assert_eq!(
            segment("applesupport", known, 20),
            Some(vec![(0, 5), (5, 12)])
        );
        assert_eq!(segment("qqmail", known, 20), Some(vec![(0, 2), (2, 6)]));
        assert_eq!(segment("pineapple", known, 20), None);
    }
}
