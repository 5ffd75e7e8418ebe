//! The value of an `issue` or `issuewild` property (RFC 8659 §4.2):
//!
//! ```text
//! issue-value = *WSP [issuer-domain-name *WSP]
//!    [";" *WSP [parameters *WSP]]
//! issuer-domain-name = label *("." label)
//! label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
//! parameters = (parameter *WSP ";" *WSP parameters) / parameter
//! parameter = tag *WSP "=" *WSP value
//! tag = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
//! value = *(%x21-3A / %x3C-7E)
//! ```
//!
//! The parser works on the raw octets: nothing guarantees a CAA value is
//! UTF-8, and a value we cannot read must still be judged. A value outside the
//! grammar is not an error of certvigil's: RFC 8659 §4.2 says such a property
//! "MUST be treated the same as one specifying an empty issuer-domain-name",
//! i.e. it authorizes nobody, while the other records of the set still count.

use std::borrow::Cow;
use std::fmt;

use thiserror::Error;

/// A parsed `issue`/`issuewild` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueValue {
    /// The issuer domain in lower case; `None` for an empty issuer-domain-name
    /// (`;`, or nothing at all), which authorizes no CA.
    pub issuer: Option<String>,
    /// The issuer domain exactly as written. Kept because some CAs (Let's
    /// Encrypt's Boulder) compare it byte for byte, so `LetsEncrypt.org`
    /// works for some CAs and not for others.
    pub issuer_as_written: Option<String>,
    /// The parameters in order, tags with their case preserved. Tags are not
    /// folded: RFC 8659 leaves their semantics to the issuer, and Boulder
    /// matches `accounturi` and `validationmethods` case-sensitively.
    pub params: Vec<(String, String)>,
}

impl IssueValue {
    /// Every value of the parameters whose tag is exactly `tag`.
    pub fn param_values<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .iter()
            .filter(move |(t, _)| t == tag)
            .map(|(_, v)| v.as_str())
    }
}

/// An `issue`/`issuewild` value read in place, for the judge: every counted
/// record of every name is parsed, and copying its text out each time was
/// most of the judge's allocations. [`IssueValue`] is its owned form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IssueValueRef<'a> {
    /// The issuer domain in lower case (borrowed when written so).
    pub issuer: Option<Cow<'a, str>>,
    pub issuer_as_written: Option<&'a str>,
    pub params: Vec<(&'a str, &'a str)>,
}

impl<'a> IssueValueRef<'a> {
    /// Every value of the parameters whose tag is exactly `tag`.
    pub fn param_values<'s>(&'s self, tag: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.params
            .iter()
            .filter(move |(t, _)| *t == tag)
            .map(|(_, v)| *v)
    }

    pub fn to_owned(&self) -> IssueValue {
        IssueValue {
            issuer: self.issuer.as_ref().map(|s| s.to_string()),
            issuer_as_written: self.issuer_as_written.map(str::to_string),
            params: self
                .params
                .iter()
                .map(|(t, v)| (t.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// Where and how a value leaves the RFC 8659 §4.2 grammar.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "CAA value {value} does not match the RFC 8659 §4.2 grammar at octet {offset}: {problem}; it authorizes no CA"
)]
pub struct IssueValueError {
    /// The value for display, quoted and escaped like a zone file.
    pub value: QuotedValue,
    /// The offset of the first octet that does not fit.
    pub offset: usize,
    pub problem: GrammarProblem,
}

/// What is wrong at [`IssueValueError::offset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrammarProblem {
    /// An octet that may not appear here (outside ASCII, `_`, `*`, ...).
    UnexpectedOctet(u8),
    /// A label of the issuer domain is empty (`..`, a leading or trailing dot).
    EmptyLabel,
    /// A label or tag ends in `-`.
    TrailingHyphen,
    /// Something other than a tag where a parameter must start.
    ParameterTagExpected,
    /// A parameter tag not followed by `=`.
    EqualsExpected,
    /// A `;` after a parameter with no parameter after it.
    DanglingSemicolon,
}

impl fmt::Display for GrammarProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrammarProblem::UnexpectedOctet(b) => {
                write!(f, "octet {} is not allowed here", describe_octet(*b))
            }
            GrammarProblem::EmptyLabel => f.write_str("the issuer domain has an empty label"),
            GrammarProblem::TrailingHyphen => f.write_str("a label or tag may not end in '-'"),
            GrammarProblem::ParameterTagExpected => {
                f.write_str("a parameter must start with a letter or digit")
            }
            GrammarProblem::EqualsExpected => {
                f.write_str("a parameter tag must be followed by '='")
            }
            GrammarProblem::DanglingSemicolon => {
                f.write_str("a ';' after a parameter must be followed by another parameter")
            }
        }
    }
}

fn describe_octet(b: u8) -> String {
    match b {
        b' ' => "' ' (space)".into(),
        0x21..=0x7e => format!("'{}'", b as char),
        _ => format!("0x{b:02x}"),
    }
}

/// A CAA value rendered as a zone-file character-string: quoted, with `"`
/// and `\` escaped and other non-printable octets as `\DDD` (RFC 1035 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotedValue(pub String);

impl QuotedValue {
    pub fn new(octets: &[u8]) -> Self {
        let mut out = String::with_capacity(octets.len() + 2);
        write_quoted(octets, &mut out).expect("a String takes every write");
        Self(out)
    }
}

/// Writes what [`QuotedValue::new`] makes, for a caller writing a sentence.
pub(crate) fn write_quoted(octets: &[u8], out: &mut impl fmt::Write) -> fmt::Result {
    out.write_char('"')?;
    write_escaped(octets, out)?;
    out.write_char('"')
}

/// The inside of [`write_quoted`]: octets escaped, no quotes.
pub(crate) fn write_escaped(octets: &[u8], out: &mut impl fmt::Write) -> fmt::Result {
    for &b in octets {
        match b {
            b'"' | b'\\' => {
                out.write_char('\\')?;
                out.write_char(b as char)?;
            }
            0x20..=0x7e => out.write_char(b as char)?,
            _ => write!(out, "\\{b:03}")?,
        }
    }
    Ok(())
}

impl fmt::Display for QuotedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Parses an `issue`/`issuewild` value. An `Err` means the property
/// authorizes no CA (RFC 8659 §4.2), not that the whole record set is bad.
pub fn parse_issue_value(octets: &[u8]) -> Result<IssueValue, IssueValueError> {
    parse_issue_value_ref(octets).map(|v| v.to_owned())
}

/// [`parse_issue_value`] without copying: the issuer and parameters are
/// slices of `octets`.
pub(crate) fn parse_issue_value_ref(octets: &[u8]) -> Result<IssueValueRef<'_>, IssueValueError> {
    Parser { octets, pos: 0 }
        .issue_value()
        .map_err(|(offset, problem)| IssueValueError {
            value: QuotedValue::new(octets),
            offset,
            problem,
        })
}

type Step<T> = Result<T, (usize, GrammarProblem)>;

struct Parser<'a> {
    octets: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.octets.get(self.pos).copied()
    }

    fn skip_wsp(&mut self) {
        while self.peek().is_some_and(is_wsp) {
            self.pos += 1;
        }
    }

    fn unexpected(&self) -> (usize, GrammarProblem) {
        let b = self.peek().expect("called at an octet");
        (self.pos, GrammarProblem::UnexpectedOctet(b))
    }

    fn issue_value(mut self) -> Step<IssueValueRef<'a>> {
        self.skip_wsp();
        let mut issuer = None;
        if self.peek().is_some_and(|b| b.is_ascii_alphanumeric()) {
            let start = self.pos;
            self.issuer_domain_name()?;
            issuer = Some(ascii(&self.octets[start..self.pos]));
            self.skip_wsp();
        }
        let mut params = Vec::new();
        match self.peek() {
            None => {}
            Some(b';') => {
                self.pos += 1;
                self.skip_wsp();
                if self.peek().is_some() {
                    self.parameters(&mut params)?;
                }
            }
            Some(_) => return Err(self.unexpected()),
        }
        Ok(IssueValueRef {
            // Issuer domains are almost always written in lower case:
            // copied only when not.
            issuer: issuer.map(|s: &str| {
                if s.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(s.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(s)
                }
            }),
            issuer_as_written: issuer,
            params,
        })
    }

    /// `label *("." label)`; stops at the first octet that cannot continue it.
    fn issuer_domain_name(&mut self) -> Step<()> {
        loop {
            self.ldh_word()?;
            if self.peek() != Some(b'.') {
                break;
            }
            self.pos += 1;
            if !self.peek().is_some_and(|b| b.is_ascii_alphanumeric()) {
                return Err(match self.peek() {
                    None | Some(b'.') | Some(b';') => (self.pos, GrammarProblem::EmptyLabel),
                    Some(b) if is_wsp(b) => (self.pos, GrammarProblem::EmptyLabel),
                    Some(_) => self.unexpected(),
                });
            }
        }
        match self.peek() {
            None | Some(b';') => Ok(()),
            Some(b) if is_wsp(b) => Ok(()),
            Some(_) => Err(self.unexpected()),
        }
    }

    /// `(ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))`, the shape shared by
    /// labels and parameter tags. The caller has checked the first octet.
    fn ldh_word(&mut self) -> Step<()> {
        self.pos += 1;
        loop {
            match self.peek() {
                Some(b) if b.is_ascii_alphanumeric() => self.pos += 1,
                Some(b'-') => {
                    while self.peek() == Some(b'-') {
                        self.pos += 1;
                    }
                    if !self.peek().is_some_and(|b| b.is_ascii_alphanumeric()) {
                        return Err((self.pos - 1, GrammarProblem::TrailingHyphen));
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn parameters(&mut self, params: &mut Vec<(&'a str, &'a str)>) -> Step<()> {
        loop {
            if !self.peek().is_some_and(|b| b.is_ascii_alphanumeric()) {
                return Err((self.pos, GrammarProblem::ParameterTagExpected));
            }
            let tag_start = self.pos;
            self.ldh_word()?;
            let tag = ascii(&self.octets[tag_start..self.pos]);
            self.skip_wsp();
            if self.peek() != Some(b'=') {
                return Err((self.pos, GrammarProblem::EqualsExpected));
            }
            self.pos += 1;
            self.skip_wsp();
            let value_start = self.pos;
            while self
                .peek()
                .is_some_and(|b| matches!(b, 0x21..=0x3a | 0x3c..=0x7e))
            {
                self.pos += 1;
            }
            params.push((tag, ascii(&self.octets[value_start..self.pos])));
            self.skip_wsp();
            match self.peek() {
                None => return Ok(()),
                Some(b';') => {
                    let semicolon = self.pos;
                    self.pos += 1;
                    self.skip_wsp();
                    if self.peek().is_none() {
                        // The grammar has no trailing ";" after a parameter
                        // (unlike after the issuer); Boulder refuses it too.
                        return Err((semicolon, GrammarProblem::DanglingSemicolon));
                    }
                }
                Some(_) => return Err(self.unexpected()),
            }
        }
    }
}

fn ascii(octets: &[u8]) -> &str {
    std::str::from_utf8(octets).expect("the grammar admits only ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &str) -> IssueValue {
        parse_issue_value(v.as_bytes()).unwrap_or_else(|e| panic!("{v:?}: {e}"))
    }

    fn issuer(v: &str) -> Option<String> {
        ok(v).issuer
    }

    fn err(v: &[u8]) -> IssueValueError {
        match parse_issue_value(v) {
            Ok(parsed) => panic!("{v:?} should not parse, got {parsed:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn rfc8659_4_2_plain_issuer_domain() {
        assert_eq!(
            issuer("ca1.example.net").as_deref(),
            Some("ca1.example.net")
        );
        assert!(ok("ca1.example.net").params.is_empty());
    }

    #[test]
    fn rfc8659_4_2_empty_value_and_bare_semicolon_mean_no_issuer() {
        for v in ["", ";", " ; ", "\t;\t", "   "] {
            let parsed = ok(v);
            assert_eq!(parsed.issuer, None, "{v:?}");
            assert!(parsed.params.is_empty(), "{v:?}");
        }
    }

    #[test]
    fn rfc8659_4_2_white_space_around_issuer_and_parameters() {
        for v in [
            "  letsencrypt.org  ",
            "\tletsencrypt.org",
            "letsencrypt.org ;",
            "letsencrypt.org;",
            "letsencrypt.org ; ",
        ] {
            assert_eq!(issuer(v).as_deref(), Some("letsencrypt.org"), "{v:?}");
        }
        let parsed = ok(" ca.example ;  account = 230123 ; policy=ev  ");
        assert_eq!(parsed.issuer.as_deref(), Some("ca.example"));
        assert_eq!(
            parsed.params,
            [
                ("account".to_string(), "230123".to_string()),
                ("policy".to_string(), "ev".to_string())
            ]
        );
    }

    #[test]
    fn rfc8659_4_2_parameters_without_issuer() {
        let parsed = ok("; accounturi=https://ca.example/acct/1");
        assert_eq!(parsed.issuer, None);
        assert_eq!(
            parsed.param_values("accounturi").collect::<Vec<_>>(),
            ["https://ca.example/acct/1"]
        );
    }

    #[test]
    fn rfc8659_4_2_parameter_value_may_hold_equals_and_be_empty() {
        let parsed = ok("ca.example; a=b=c; empty=");
        assert_eq!(
            parsed.params,
            [
                ("a".to_string(), "b=c".to_string()),
                ("empty".to_string(), String::new())
            ]
        );
    }

    #[test]
    fn issuer_is_lowercased_but_kept_as_written() {
        let parsed = ok("LetsEncrypt.ORG");
        assert_eq!(parsed.issuer.as_deref(), Some("letsencrypt.org"));
        assert_eq!(parsed.issuer_as_written.as_deref(), Some("LetsEncrypt.ORG"));
    }

    #[test]
    fn parameter_tags_keep_their_case() {
        let parsed = ok("ca.example; AccountURI=x");
        assert_eq!(parsed.params[0].0, "AccountURI");
        assert_eq!(parsed.param_values("accounturi").count(), 0);
    }

    #[test]
    fn rfc8659_4_2_percent_signs_do_not_parse() {
        let e = err(b"%%%%%");
        assert_eq!(e.offset, 0);
        assert_eq!(e.problem, GrammarProblem::UnexpectedOctet(b'%'));
        assert!(e.to_string().contains("authorizes no CA"), "{e}");
    }

    #[test]
    fn rfc8659_4_2_label_rules() {
        // Interior hyphens, even doubled, are fine (xn-- labels).
        assert_eq!(
            issuer("xn--bcher-kva.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(err(b"ca-.example").problem, GrammarProblem::TrailingHyphen);
        assert_eq!(
            err(b"-ca.example").problem,
            GrammarProblem::UnexpectedOctet(b'-')
        );
        assert_eq!(err(b"ca.example.").problem, GrammarProblem::EmptyLabel);
        assert_eq!(err(b"ca..example").problem, GrammarProblem::EmptyLabel);
        assert_eq!(
            err(b".ca.example").problem,
            GrammarProblem::UnexpectedOctet(b'.')
        );
        assert_eq!(
            err(b"ca_1.example").problem,
            GrammarProblem::UnexpectedOctet(b'_')
        );
        assert_eq!(
            err(b"*.ca.example").problem,
            GrammarProblem::UnexpectedOctet(b'*')
        );
        // White space inside the issuer is not allowed: two words are no name.
        let e = err(b"ca.example other.example");
        assert_eq!(
            (e.offset, e.problem),
            (11, GrammarProblem::UnexpectedOctet(b'o'))
        );
    }

    #[test]
    fn rfc8659_4_2_parameter_rules() {
        assert_eq!(
            err(b"ca.example; policy").problem,
            GrammarProblem::EqualsExpected
        );
        assert_eq!(
            err(b"ca.example; policy=ev;").problem,
            GrammarProblem::DanglingSemicolon
        );
        assert_eq!(
            err(b"ca.example; policy=ev; ;a=b").problem,
            GrammarProblem::ParameterTagExpected
        );
        assert_eq!(
            err(b"ca.example; policy=ev cool").problem,
            GrammarProblem::UnexpectedOctet(b'c')
        );
        assert_eq!(
            err(b"ca.example; -tag=1").problem,
            GrammarProblem::ParameterTagExpected
        );
        assert_eq!(
            err(b"ca.example; tag-=1").problem,
            GrammarProblem::TrailingHyphen
        );
        assert_eq!(
            err(b"ca.example; t_g=1").problem,
            GrammarProblem::EqualsExpected
        );
        // A second ";" right after the issuer: no parameter follows the first.
        assert_eq!(
            err(b"ca.example;;").problem,
            GrammarProblem::ParameterTagExpected
        );
    }

    #[test]
    fn non_utf8_octets_do_not_parse_and_are_shown_escaped() {
        let e = err(b"ca.example\xff");
        assert_eq!(e.problem, GrammarProblem::UnexpectedOctet(0xff));
        assert_eq!(e.value.0, "\"ca.example\\255\"");
        assert!(e.to_string().contains("0xff"), "{e}");
        let e = err(b"ca.example; p=\xc3\xa9");
        assert_eq!(e.problem, GrammarProblem::UnexpectedOctet(0xc3));
    }

    #[test]
    fn quoted_value_escapes_like_a_zone_file() {
        assert_eq!(QuotedValue::new(b"a\"b\\c").0, r#""a\"b\\c""#);
        assert_eq!(QuotedValue::new(b"tab\there").0, r#""tab\009here""#);
        assert_eq!(QuotedValue::new(b";").0, "\";\"");
    }
}
