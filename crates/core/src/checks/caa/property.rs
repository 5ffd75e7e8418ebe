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
    /// BIMI verified mark certificates (registered with IANA; the VMC
    /// requirements of the Minimum Security Requirements for VMCs).
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

    /// Whether the tag is a known property a critical flag does not make
    /// suspect: the three BR §3.2.2.8 makes every CA process (issue,
    /// issuewild, iodef), and issuemail (RFC 9495) and issuevmc, which CAs
    /// recognise today without acting on them for TLS (Let's Encrypt since
    /// 2024 and 2025). The CA/B contact tags are optional and not
    /// implemented everywhere: a CA that does not know one treats a
    /// critical one as unknown and must refuse.
    pub fn widely_recognized(self) -> bool {
        matches!(
            self,
            PropertyTag::Issue
                | PropertyTag::IssueWild
                | PropertyTag::Iodef
                | PropertyTag::IssueMail
                | PropertyTag::IssueVmc
        )
    }
}

/// Where Let's Encrypt's CAA processing (Boulder, `va/caa.go`) departs from
/// RFC 8659, so that a verdict for it is the one it would reach and the
/// difference is named as its policy, not the RFC's:
/// - flag bit value 1 counts as critical, like 128 (RFC 8659 §4.1 says
///   every bit but 128 is reserved and ignored);
/// - it recognises issue, issuewild, iodef, issuemail and issuevmc only, so a
///   critical contactemail or contactphone is unknown to it.
pub(crate) struct LetsEncrypt;

impl LetsEncrypt {
    /// Its CAA issuer domain.
    pub(crate) const ISSUER: &'static str = "letsencrypt.org";

    /// Whether the request is judged for Let's Encrypt.
    pub(crate) fn judges(issuer_domains: &[crate::domain::DomainName]) -> bool {
        issuer_domains.iter().any(|d| d.as_str() == Self::ISSUER)
    }

    /// Whether Let's Encrypt refuses because of this record alone (where a
    /// CA following RFC 8659 to the letter with its tags known would not).
    pub(crate) fn refuses_for(record: &super::CaaRecord) -> bool {
        let critical = record.is_critical() || record.is_critical_by_flag_1_only();
        critical && !PropertyTag::classify(&record.tag).widely_recognized()
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

    /// Issue 13.6: critical issuemail and issuevmc are known properties.
    #[test]
    fn issuemail_and_issuevmc_are_recognized_the_contact_tags_are_optional() {
        assert!(PropertyTag::classify("iodef").widely_recognized());
        assert!(PropertyTag::classify("issuemail").widely_recognized());
        assert!(PropertyTag::classify("IssueVMC").widely_recognized());
        assert!(!PropertyTag::classify("contactemail").widely_recognized());
        assert!(!PropertyTag::Unknown.widely_recognized());
    }
}
