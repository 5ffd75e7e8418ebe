//! CAA property tags (RFC 8659 §4.1, §7.2): which ones restrict issuance,
//! and which ones a CA may fail to recognize.

/// A property tag, matched case-insensitively ("Matching of tags is case
/// insensitive", RFC 8659 §4.1; Boulder lowercases them too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyTag {
    /// RFC 8659 §4.2.
    Issue,
    /// RFC 8659 §4.3.
    IssueWild,
    /// RFC 8659 §4.4.
    Iodef,
    /// RFC 9495 (S/MIME).
    IssueMail,
    /// BIMI verified mark certificates.
    IssueVmc,
    /// CA/B Forum BR Appendix A.1 (DNS contact for domain validation).
    ContactEmail,
    /// CA/B Forum BR Appendix A.1.
    ContactPhone,
    /// Anything else: a critical one forbids issuance (RFC 8659 §4.1).
    Unknown,
}

impl PropertyTag {
    pub fn classify(tag: &str) -> Self {
        const KNOWN: [(&str, PropertyTag); 7] = [
            ("issue", PropertyTag::Issue),
            ("issuewild", PropertyTag::IssueWild),
            ("iodef", PropertyTag::Iodef),
            ("issuemail", PropertyTag::IssueMail),
            ("issuevmc", PropertyTag::IssueVmc),
            ("contactemail", PropertyTag::ContactEmail),
            ("contactphone", PropertyTag::ContactPhone),
        ];
        KNOWN
            .iter()
            .find(|(name, _)| tag.eq_ignore_ascii_case(name))
            .map_or(PropertyTag::Unknown, |(_, t)| *t)
    }

    /// Whether every CA that follows the Baseline Requirements must recognize
    /// the tag. BR §3.2.2.8 makes CAs process issue, issuewild and iodef;
    /// the other registered tags are optional, and a CA that does not
    /// implement one treats a critical one as unknown (Boulder does).
    pub fn recognized_by_every_ca(self) -> bool {
        matches!(
            self,
            PropertyTag::Issue | PropertyTag::IssueWild | PropertyTag::Iodef
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8659_4_1_tags_match_case_insensitively() {
        assert_eq!(PropertyTag::classify("ISSUE"), PropertyTag::Issue);
        assert_eq!(PropertyTag::classify("IssueWild"), PropertyTag::IssueWild);
        assert_eq!(
            PropertyTag::classify("contactEmail"),
            PropertyTag::ContactEmail
        );
        assert_eq!(PropertyTag::classify("issue-wild"), PropertyTag::Unknown);
        assert_eq!(PropertyTag::classify("tbs"), PropertyTag::Unknown);
    }

    #[test]
    fn only_the_br_mandated_tags_are_recognized_everywhere() {
        assert!(PropertyTag::classify("iodef").recognized_by_every_ca());
        assert!(!PropertyTag::classify("issuemail").recognized_by_every_ca());
        assert!(!PropertyTag::Unknown.recognized_by_every_ca());
    }
}
