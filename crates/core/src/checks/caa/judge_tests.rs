//! Table-driven tests of the CAA judge, one row per rule, named after the
//! rule or RFC section it covers. Each row asserts the verdict and the name
//! whose records decided, plus words the reason must contain.

use super::*;
use crate::checks::caa::model::{CaaAnswer, CaaLookup, CaaObservation, CaaRecord};

fn dn(s: &str) -> DomainName {
    DomainName::parse(s).unwrap()
}

fn rec(flags: u8, tag: &str, value: &str) -> CaaRecord {
    CaaRecord::new(flags, tag, value)
}

fn issue(value: &str) -> CaaRecord {
    rec(0, "issue", value)
}

fn wild(value: &str) -> CaaRecord {
    rec(0, "issuewild", value)
}

/// What one name answers.
#[derive(Clone)]
enum At {
    Records(Vec<CaaRecord>),
    /// An alias: the chain after the owner, and the records of its end.
    Alias(Vec<&'static str>, Vec<CaaRecord>),
    Fail(LookupFailure),
}

fn lookup(name: &str, at: Option<&At>) -> CaaLookup {
    let name = dn(name);
    let result = match at {
        None => Ok(CaaAnswer {
            cname_chain: vec![name.clone()],
            records: vec![],
            nxdomain: false,
            dnssec: None,
        }),
        Some(At::Records(records)) => Ok(CaaAnswer {
            cname_chain: vec![name.clone()],
            records: records.clone(),
            nxdomain: false,
            dnssec: None,
        }),
        Some(At::Alias(targets, records)) => Ok(CaaAnswer {
            cname_chain: std::iter::once(name.clone())
                .chain(targets.iter().map(|t| dn(t)))
                .collect(),
            records: records.clone(),
            nxdomain: false,
            dnssec: None,
        }),
        Some(At::Fail(f)) => Err(f.clone()),
    };
    CaaLookup { name, result }
}

/// The climb from `queried` to its TLD, with `at` saying what differs from
/// "no records", and `targets` the lookups at alias targets' ancestors.
fn observe(queried: &str, at: &[(&str, At)], targets: &[(&str, At)]) -> CaaObservation {
    let find = |n: &DomainName, list: &[(&str, At)]| {
        list.iter()
            .find(|(name, _)| dn(name) == *n)
            .map(|(_, a)| a.clone())
    };
    let q = dn(queried);
    let climb = q
        .self_and_ancestors()
        .iter()
        .map(|n| lookup(n.as_str(), find(n, at).as_ref()))
        .collect();
    let alias_target_climb = targets.iter().map(|(n, a)| lookup(n, Some(a))).collect();
    CaaObservation {
        queried: q,
        climb,
        alias_target_climb,
    }
}

fn request(cas: &[&str]) -> IssuanceRequest {
    IssuanceRequest {
        wildcard: false,
        issuer_domains: cas.iter().map(|c| dn(c)).collect(),
        account_uris: Vec::new(),
        validation_method: None,
        outside_acme: None,
    }
}

const SECTIGO: &[&str] = &["sectigo.com", "comodoca.com"];
const LE: &[&str] = &["letsencrypt.org"];
const ACCT: &str = "https://acme-v02.api.letsencrypt.org/acme/acct/123";
fn servfail() -> LookupFailure {
    LookupFailure::Rcode {
        rcode: "SERVFAIL".into(),
        server: None,
    }
}

struct Row {
    rule: &'static str,
    queried: &'static str,
    wildcard: bool,
    at: Vec<(&'static str, At)>,
    ca: &'static [&'static str],
    account: Option<&'static str>,
    method: Option<&'static str>,
    verdict: CaaVerdictKind,
    relevant: Option<&'static str>,
    reason_has: &'static [&'static str],
}

fn row(rule: &'static str, queried: &'static str, at: Vec<(&'static str, At)>) -> Row {
    Row {
        rule,
        queried,
        wildcard: false,
        at,
        ca: SECTIGO,
        account: None,
        method: None,
        verdict: CaaVerdictKind::Allowed,
        relevant: None,
        reason_has: &[],
    }
}

impl Row {
    fn wildcard(mut self) -> Self {
        self.wildcard = true;
        self
    }
    fn ca(mut self, ca: &'static [&'static str]) -> Self {
        self.ca = ca;
        self
    }
    fn account(mut self, a: &'static str) -> Self {
        self.account = Some(a);
        self
    }
    fn method(mut self, m: &'static str) -> Self {
        self.method = Some(m);
        self
    }
    fn allowed(mut self, relevant: Option<&'static str>) -> Self {
        self.verdict = CaaVerdictKind::Allowed;
        self.relevant = relevant;
        self
    }
    fn forbidden(mut self, relevant: &'static str) -> Self {
        self.verdict = CaaVerdictKind::Forbidden;
        self.relevant = Some(relevant);
        self
    }
    fn error(mut self) -> Self {
        self.verdict = CaaVerdictKind::Error;
        self.relevant = None;
        self
    }
    fn says(mut self, words: &'static [&'static str]) -> Self {
        self.reason_has = words;
        self
    }

    fn run(&self) -> CaaVerdict {
        let obs = observe(self.queried, &self.at, &[]);
        let mut req = request(self.ca);
        req.wildcard = self.wildcard;
        req.account_uris = self.account.into_iter().map(str::to_string).collect();
        req.validation_method = self
            .method
            .map(crate::method::AcmeMethod::from_challenge_type);
        judge(&obs, &req)
    }
}

fn recs(r: Vec<CaaRecord>) -> At {
    At::Records(r)
}

fn rows() -> Vec<Row> {
    use At::*;
    vec![
        // --- RFC 8659 §3: the Relevant RRset ---
        row(
            "rfc8659_3_no_records_anywhere_allows",
            "www.example.com",
            vec![],
        )
        .allowed(None)
        .says(&["No CAA records at www.example.com", "up to com"]),
        row(
            "rfc8659_3_records_at_the_name_itself_decide",
            "www.example.com",
            vec![
                ("www.example.com", recs(vec![issue("sectigo.com")])),
                ("example.com", recs(vec![issue("letsencrypt.org")])),
            ],
        )
        .allowed(Some("www.example.com")),
        row(
            "rfc8659_3_closest_parent_decides",
            "a.b.example.com",
            vec![
                ("b.example.com", recs(vec![issue("letsencrypt.org")])),
                ("example.com", recs(vec![issue("sectigo.com")])),
            ],
        )
        .forbidden("b.example.com")
        .says(&["ancestor b.example.com", "only letsencrypt.org"]),
        row(
            "rfc8659_3_parent_policy_applies_to_children",
            "deep.www.example.com",
            vec![("example.com", recs(vec![issue("sectigo.com")]))],
        )
        .allowed(Some("example.com")),
        row(
            "rfc8659_3_tld_records_count",
            "example.cn",
            vec![("cn", recs(vec![issue("cnnic.cn")]))],
        )
        .forbidden("cn"),
        row(
            "rfc8659_3_nxdomain_keeps_climbing",
            "gone.example.com",
            vec![("example.com", recs(vec![issue("letsencrypt.org")]))],
        )
        .forbidden("example.com"),
        // --- lookup failures (CA/B BR §3.2.2.8) ---
        row(
            "br_3_2_2_8_servfail_at_the_name_is_an_error",
            "www.example.com",
            vec![("www.example.com", Fail(servfail()))],
        )
        .error()
        .says(&["www.example.com failed", "SERVFAIL", "BR §3.2.2.8"]),
        row(
            "br_3_2_2_8_timeout_below_relevant_is_an_error",
            "a.b.example.com",
            vec![
                ("b.example.com", Fail(LookupFailure::Timeout)),
                ("example.com", recs(vec![issue("sectigo.com")])),
            ],
        )
        .error()
        .says(&["b.example.com failed", "did not answer in time"]),
        row(
            "br_3_2_2_8_failure_with_no_relevant_set_is_an_error",
            "www.example.com",
            vec![("com", Fail(LookupFailure::Timeout))],
        )
        .error(),
        row(
            "br_3_2_2_8_failure_above_relevant_does_not_matter",
            "www.example.com",
            vec![
                ("example.com", recs(vec![issue("sectigo.com")])),
                ("com", Fail(servfail())),
            ],
        )
        .allowed(Some("example.com")),
        row(
            "br_3_2_2_8_refused_is_an_error",
            "example.com",
            vec![(
                "example.com",
                Fail(LookupFailure::Rcode {
                    rcode: "REFUSED".into(),
                    server: None,
                }),
            )],
        )
        .error()
        .says(&["REFUSED"]),
        // --- RFC 8659 §3: aliases ---
        row(
            "rfc8659_3_alias_records_count_as_the_owners",
            "www.example.com",
            vec![
                (
                    "www.example.com",
                    Alias(vec!["example.github.io"], vec![issue("letsencrypt.org")]),
                ),
                ("example.com", recs(vec![issue("sectigo.com")])),
            ],
        )
        .forbidden("www.example.com")
        .says(&[
            "www.example.com is an alias of example.github.io",
            "only letsencrypt.org",
        ]),
        row(
            "rfc8659_3_alias_target_authorizing_allows",
            "www.example.com",
            vec![(
                "www.example.com",
                Alias(vec!["cdn.example.net"], vec![issue("sectigo.com")]),
            )],
        )
        .allowed(Some("www.example.com")),
        row(
            "rfc8659_3_empty_alias_continues_in_the_original_tree",
            "www.example.com",
            vec![
                ("www.example.com", Alias(vec!["example.github.io"], vec![])),
                ("example.com", recs(vec![issue("sectigo.com")])),
            ],
        )
        .allowed(Some("example.com")),
        row(
            "rfc8659_3_chain_of_aliases",
            "www.example.com",
            vec![(
                "www.example.com",
                Alias(
                    vec!["a.cdn.net", "b.cdn.net"],
                    vec![issue("letsencrypt.org")],
                ),
            )],
        )
        .forbidden("www.example.com")
        .says(&["via www.example.com -> a.cdn.net -> b.cdn.net"]),
        row(
            "rfc8659_3_parent_alias_decides_for_children",
            "www.shop.example.com",
            vec![(
                "shop.example.com",
                Alias(vec!["shops.saas.net"], vec![issue("letsencrypt.org")]),
            )],
        )
        .forbidden("shop.example.com")
        .says(&["its ancestor shop.example.com is an alias of shops.saas.net"]),
        // --- RFC 8659 §4.2: issue ---
        row(
            "rfc8659_4_2_issuer_listed_allows",
            "example.com",
            vec![("example.com", recs(vec![issue("sectigo.com")]))],
        )
        .allowed(Some("example.com"))
        .says(&[
            "authorize sectigo.com;",
            "0 issue \"sectigo.com\" covers this CA",
        ]),
        row(
            "rfc8659_4_2_second_issuer_domain_of_the_ca_allows",
            "example.com",
            vec![("example.com", recs(vec![issue("comodoca.com")]))],
        )
        .allowed(Some("example.com")),
        row(
            "rfc8659_4_2_other_issuer_forbids",
            "example.com",
            vec![("example.com", recs(vec![issue("letsencrypt.org")]))],
        )
        .forbidden("example.com")
        .says(&["only letsencrypt.org", "not sectigo.com (or comodoca.com)"]),
        row(
            "rfc8659_4_2_authorizations_add_up",
            "example.com",
            vec![(
                "example.com",
                recs(vec![issue("letsencrypt.org"), issue("sectigo.com")]),
            )],
        )
        .allowed(Some("example.com")),
        row(
            "rfc8659_4_2_semicolon_authorizes_nobody",
            "example.com",
            vec![("example.com", recs(vec![issue(";")]))],
        )
        .forbidden("example.com")
        .says(&["authorize no CA at all", "0 issue \";\""]),
        row(
            "rfc8659_4_2_empty_value_authorizes_nobody",
            "example.com",
            vec![("example.com", recs(vec![issue("")]))],
        )
        .forbidden("example.com"),
        row(
            "rfc8659_4_2_empty_issuer_beside_a_named_one_adds_nothing",
            "example.com",
            vec![("example.com", recs(vec![issue(";"), issue("sectigo.com")]))],
        )
        .allowed(Some("example.com")),
        row(
            "rfc8659_4_2_malformed_value_authorizes_nobody",
            "example.com",
            vec![("example.com", recs(vec![issue("%%%%%")]))],
        )
        .forbidden("example.com")
        .says(&["does not match the RFC 8659 §4.2 grammar"]),
        row(
            "rfc8659_4_2_malformed_value_does_not_spoil_others",
            "example.com",
            vec![(
                "example.com",
                recs(vec![issue("%%%%%"), issue("sectigo.com")]),
            )],
        )
        .allowed(Some("example.com")),
        row(
            "rfc8659_4_2_white_space_around_issuer",
            "example.com",
            vec![("example.com", recs(vec![issue("  sectigo.com ; ")]))],
        )
        .allowed(Some("example.com")),
        row(
            "rfc8659_4_2_unknown_parameters_do_not_restrict",
            "example.com",
            vec![("example.com", recs(vec![issue("sectigo.com; policy=ev")]))],
        )
        .allowed(Some("example.com")),
        row(
            "rfc8659_4_2_non_utf8_value_authorizes_nobody",
            "example.com",
            vec![(
                "example.com",
                recs(vec![CaaRecord {
                    flags: 0,
                    tag: "issue".into(),
                    value: b"sectigo.com\xff".to_vec(),
                }]),
            )],
        )
        .forbidden("example.com")
        .says(&["\\255"]),
        row(
            "issuer_domains_compare_case_insensitively",
            "example.com",
            vec![("example.com", recs(vec![issue("Sectigo.COM")]))],
        )
        .allowed(Some("example.com"))
        .says(&["byte for byte"]),
        row(
            "issuer_domains_do_not_match_subdomains",
            "example.com",
            vec![("example.com", recs(vec![issue("ca.sectigo.com")]))],
        )
        .forbidden("example.com"),
        row(
            "issuer_domains_do_not_match_parents",
            "example.com",
            vec![("example.com", recs(vec![issue("com")]))],
        )
        .forbidden("example.com"),
        row(
            "issuer_domain_with_trailing_dot_is_malformed",
            "example.com",
            vec![("example.com", recs(vec![issue("sectigo.com.")]))],
        )
        .forbidden("example.com")
        .says(&["empty label"]),
        // --- RFC 8659 §4.3: issuewild ---
        row(
            "rfc8659_4_3_issuewild_ignored_for_non_wildcard",
            "example.com",
            vec![("example.com", recs(vec![wild("letsencrypt.org")]))],
        )
        .allowed(Some("example.com"))
        .says(&["only issuewild properties"]),
        row(
            "rfc8659_4_3_issuewild_ignored_beside_issue_for_non_wildcard",
            "example.com",
            vec![("example.com", recs(vec![issue("sectigo.com"), wild(";")]))],
        )
        .allowed(Some("example.com")),
        row(
            "rfc8659_4_3_wildcard_uses_issue_without_issuewild",
            "example.com",
            vec![("example.com", recs(vec![issue("sectigo.com")]))],
        )
        .wildcard()
        .allowed(Some("example.com")),
        row(
            "rfc8659_4_3_wildcard_issue_forbids_without_issuewild",
            "example.com",
            vec![("example.com", recs(vec![issue("letsencrypt.org")]))],
        )
        .wildcard()
        .forbidden("example.com"),
        row(
            "rfc8659_4_3_issuewild_shadows_issue_for_wildcard",
            "example.com",
            vec![(
                "example.com",
                recs(vec![issue("sectigo.com"), wild("letsencrypt.org")]),
            )],
        )
        .wildcard()
        .forbidden("example.com")
        .says(&[
            "for wildcard certificates (issuewild)",
            "only the issuewild records count",
        ]),
        row(
            "rfc8659_4_3_issuewild_authorizes_wildcard",
            "example.com",
            vec![("example.com", recs(vec![issue(";"), wild("sectigo.com")]))],
        )
        .wildcard()
        .allowed(Some("example.com")),
        row(
            "rfc8659_4_3_issuewild_semicolon_forbids_wildcards",
            "example.com",
            vec![("example.com", recs(vec![issue("sectigo.com"), wild(";")]))],
        )
        .wildcard()
        .forbidden("example.com")
        .says(&["may not issue for *.example.com"]),
        // --- RFC 8659 §4.1: tags and flags ---
        row(
            "rfc8659_4_1_tags_are_case_insensitive",
            "example.com",
            vec![(
                "example.com",
                recs(vec![rec(0, "ISSUE", "letsencrypt.org")]),
            )],
        )
        .forbidden("example.com"),
        row(
            "rfc8659_4_1_issuewild_tag_case_insensitive",
            "example.com",
            vec![(
                "example.com",
                recs(vec![issue("sectigo.com"), rec(0, "IssueWild", ";")]),
            )],
        )
        .wildcard()
        .forbidden("example.com"),
        row(
            "rfc8659_4_1_iodef_only_does_not_restrict",
            "example.com",
            vec![(
                "example.com",
                recs(vec![rec(0, "iodef", "mailto:sec@example.com")]),
            )],
        )
        .allowed(Some("example.com"))
        .says(&["no issue or issuewild property"]),
        row(
            "rfc8659_4_1_unknown_non_critical_tag_is_ignored",
            "example.com",
            vec![(
                "example.com",
                recs(vec![rec(0, "tbs", "x"), issue("sectigo.com")]),
            )],
        )
        .allowed(Some("example.com")),
        row(
            "rfc8659_4_1_unknown_critical_tag_forbids",
            "example.com",
            vec![(
                "example.com",
                recs(vec![rec(128, "tbs", "x"), issue("sectigo.com")]),
            )],
        )
        .forbidden("example.com")
        .says(&["128 tbs \"x\"", "marked critical", "RFC 8659 §4.1"]),
        // Issue 13.6: bit value 1 is critical by Let's Encrypt's policy,
        // not by RFC 8659 (which ignores every bit but 128).
        row(
            "rfc8659_4_1_flag_1_is_ignored_by_the_rfc_with_a_note_on_lets_encrypt",
            "example.com",
            vec![(
                "example.com",
                recs(vec![rec(1, "tbs", "x"), issue("sectigo.com")]),
            )],
        )
        .allowed(Some("example.com"))
        .says(&[
            "flags 1",
            "RFC 8659 §4.1 ignores every flag bit but 128",
            "Let's Encrypt, as its own policy",
        ]),
        row(
            "lets_encrypt_policy_flag_1_counts_as_critical",
            "example.com",
            vec![(
                "example.com",
                recs(vec![rec(1, "tbs", "x"), issue("letsencrypt.org")]),
            )],
        )
        .ca(LE)
        .forbidden("example.com")
        .says(&[
            "flags 1",
            "by the RFC this record does not matter",
            "Let's Encrypt, as its own policy",
        ]),
        row(
            "lets_encrypt_refuses_a_critical_tag_it_does_not_implement",
            "example.com",
            vec![(
                "example.com",
                recs(vec![
                    rec(128, "contactemail", "dns@example.com"),
                    issue("letsencrypt.org"),
                ]),
            )],
        )
        .ca(LE)
        .forbidden("example.com")
        .says(&[
            "Let's Encrypt does not implement",
            "CAs that implement contactemail",
        ]),
        row(
            "rfc9495_critical_issuemail_and_issuevmc_are_known_properties",
            "example.com",
            vec![(
                "example.com",
                recs(vec![
                    rec(128, "issuemail", "letsencrypt.org"),
                    rec(128, "issuevmc", "digicert.com"),
                    issue("letsencrypt.org"),
                ]),
            )],
        )
        .ca(LE)
        .allowed(Some("example.com")),
        row(
            "rfc8659_4_1_known_critical_tags_are_fine",
            "example.com",
            vec![(
                "example.com",
                recs(vec![
                    rec(128, "issue", "sectigo.com"),
                    rec(128, "iodef", "mailto:sec@example.com"),
                ]),
            )],
        )
        .allowed(Some("example.com")),
        row(
            "critical_optional_tag_allowed_with_caveat",
            "example.com",
            vec![(
                "example.com",
                recs(vec![
                    rec(128, "contactemail", "dns@example.com"),
                    issue("sectigo.com"),
                ]),
            )],
        )
        .allowed(Some("example.com"))
        .says(&["128 contactemail", "must refuse"]),
        row(
            "rfc8659_4_1_unknown_critical_tag_overrides_empty_issue_set",
            "example.com",
            vec![("example.com", recs(vec![rec(128, "future", "x")]))],
        )
        .forbidden("example.com"),
        row(
            "rfc8659_4_1_long_tags_are_judged_not_dropped",
            "example.com",
            vec![(
                "example.com",
                recs(vec![
                    rec(128, "averyveryverylongtag", "x"),
                    issue("sectigo.com"),
                ]),
            )],
        )
        .forbidden("example.com"),
        // --- RFC 8657 ---
        row(
            "rfc8657_3_accounturi_matching_allows",
            "example.com",
            vec![(
                "example.com",
                recs(vec![issue(&format!("letsencrypt.org; accounturi={ACCT}"))]),
            )],
        )
        .ca(LE)
        .account(ACCT)
        .allowed(Some("example.com")),
        row(
            "rfc8657_3_accounturi_other_account_forbids",
            "example.com",
            vec![(
                "example.com",
                recs(vec![issue(&format!("letsencrypt.org; accounturi={ACCT}"))]),
            )],
        )
        .ca(LE)
        .account("https://acme-v02.api.letsencrypt.org/acme/acct/999")
        .forbidden("example.com")
        .says(&[
            "bound to the ACME account",
            "not to https://acme-v02.api.letsencrypt.org/acme/acct/999",
        ]),
        row(
            "rfc8657_3_accounturi_without_known_account_forbids",
            "example.com",
            vec![(
                "example.com",
                recs(vec![issue(&format!("letsencrypt.org; accounturi={ACCT}"))]),
            )],
        )
        .ca(LE)
        .forbidden("example.com")
        .says(&["no account was given"]),
        row(
            "rfc8657_3_unbound_record_beside_bound_one_allows",
            "example.com",
            vec![(
                "example.com",
                recs(vec![
                    issue(&format!("letsencrypt.org; accounturi={ACCT}")),
                    issue("letsencrypt.org"),
                ]),
            )],
        )
        .ca(LE)
        .allowed(Some("example.com")),
        row(
            "rfc8657_3_binding_on_other_ca_does_not_matter",
            "example.com",
            vec![(
                "example.com",
                recs(vec![
                    issue(&format!("letsencrypt.org; accounturi={ACCT}")),
                    issue("sectigo.com"),
                ]),
            )],
        )
        .allowed(Some("example.com")),
        row(
            "rfc8657_4_validationmethods_matching_allows",
            "example.com",
            vec![(
                "example.com",
                recs(vec![issue(
                    "letsencrypt.org; validationmethods=dns-01,http-01",
                )]),
            )],
        )
        .ca(LE)
        .method("http-01")
        .allowed(Some("example.com")),
        row(
            "rfc8657_4_validationmethods_other_method_forbids",
            "example.com",
            vec![(
                "example.com",
                recs(vec![issue("letsencrypt.org; validationmethods=dns-01")]),
            )],
        )
        .ca(LE)
        .method("http-01")
        .forbidden("example.com")
        .says(&["only the validation methods dns-01", "not http-01"]),
        row(
            "rfc8657_4_validationmethods_unknown_method_forbids",
            "example.com",
            vec![(
                "example.com",
                recs(vec![issue("letsencrypt.org; validationmethods=dns-01")]),
            )],
        )
        .ca(LE)
        .forbidden("example.com")
        .says(&["no method was given"]),
        row(
            "rfc8657_3_and_4_both_bindings_must_hold",
            "example.com",
            vec![(
                "example.com",
                recs(vec![issue(&format!(
                    "letsencrypt.org; accounturi={ACCT}; validationmethods=dns-01"
                ))]),
            )],
        )
        .ca(LE)
        .account(ACCT)
        .method("http-01")
        .forbidden("example.com"),
    ]
}

#[test]
fn judge_table() {
    let rows = rows();
    assert!(rows.len() >= 40, "only {} rows", rows.len());
    let mut failures = Vec::new();
    for r in &rows {
        let v = r.run();
        let relevant = v.relevant_name.as_ref().map(|n| n.as_str());
        if v.verdict != r.verdict || relevant != r.relevant {
            failures.push(format!(
                "{}: got {:?} at {:?}, want {:?} at {:?}\n  reason: {}",
                r.rule, v.verdict, relevant, r.verdict, r.relevant, v.reason
            ));
            continue;
        }
        for word in r.reason_has {
            if !v.reason.contains(word) {
                failures.push(format!("{}: reason lacks {word:?}: {}", r.rule, v.reason));
            }
        }
        // Invariants of the JSON contract.
        match v.verdict {
            CaaVerdictKind::Allowed => {}
            _ => assert!(v.remedy.is_some(), "{}: no remedy", r.rule),
        }
        assert_eq!(
            v.lookup_error.is_some(),
            v.verdict == CaaVerdictKind::Error,
            "{}",
            r.rule
        );
        assert_eq!(
            v.records.is_empty(),
            v.relevant_name.is_none(),
            "{}",
            r.rule
        );
        assert!(!v.cname_chain.is_empty(), "{}", r.rule);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rule_names_are_unique() {
    let rows = rows();
    let mut names: Vec<_> = rows.iter().map(|r| r.rule).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rows.len());
}

// --- explanations (issue #2 item 5) ---

#[test]
fn remedy_for_own_policy_is_a_zone_line_at_the_relevant_name() {
    let obs = observe(
        "www.example.com",
        &[("example.com", recs(vec![issue("letsencrypt.org")]))],
        &[],
    );
    let v = judge(&obs, &request(SECTIGO));
    let remedy = v.remedy.unwrap();
    assert!(
        remedy.contains("example.com. CAA 0 issue \"sectigo.com\""),
        "{remedy}"
    );
    assert!(
        remedy.contains("Add this record at example.com"),
        "{remedy}"
    );
    assert!(!remedy.contains("CNAME"), "{remedy}");
    // The ancestor may not be the user's: a set at the name itself replaces it.
    assert!(
        remedy.contains("If example.com is not yours to change"),
        "{remedy}"
    );
    assert!(
        remedy.contains("www.example.com. CAA 0 issue \"sectigo.com\""),
        "{remedy}"
    );
}

#[test]
fn remedy_never_suggests_caa_beside_a_cname() {
    let obs = observe(
        "www.example.com",
        &[
            ("www.example.com", At::Alias(vec!["x.cdn.net"], vec![])),
            ("example.com", recs(vec![issue("letsencrypt.org")])),
        ],
        &[],
    );
    let remedy = judge(&obs, &request(SECTIGO)).remedy.unwrap();
    assert!(
        remedy.contains("example.com. CAA 0 issue \"sectigo.com\""),
        "{remedy}"
    );
    assert!(!remedy.contains("www.example.com. CAA"), "{remedy}");
}

#[test]
fn bound_record_reason_does_not_contradict_itself() {
    let obs = observe(
        "example.com",
        &[(
            "example.com",
            recs(vec![issue(&format!("letsencrypt.org; accounturi={ACCT}"))]),
        )],
        &[],
    );
    let v = judge(&obs, &request(LE));
    assert!(!v.reason.contains("not letsencrypt.org"), "{}", v.reason);
    assert!(v.reason.contains("RFC 8657 conditions"), "{}", v.reason);
}

#[test]
fn remedy_for_semicolon_policy_says_it_was_deliberate() {
    let obs = observe(
        "example.com",
        &[("example.com", recs(vec![issue(";")]))],
        &[],
    );
    let v = judge(&obs, &request(SECTIGO));
    assert!(v.reason.contains("authorize no CA"), "{}", v.reason);
    assert!(
        v.remedy
            .unwrap()
            .contains("forbid every CA, probably on purpose")
    );
}

#[test]
fn remedy_for_wildcard_suggests_issuewild_when_the_set_has_issuewild() {
    let obs = observe(
        "example.com",
        &[(
            "example.com",
            recs(vec![issue("sectigo.com"), wild("letsencrypt.org")]),
        )],
        &[],
    );
    let mut req = request(SECTIGO);
    req.wildcard = true;
    let remedy = judge(&obs, &req).remedy.unwrap();
    assert!(
        remedy.contains("example.com. CAA 0 issuewild \"sectigo.com\""),
        "{remedy}"
    );
}

#[test]
fn remedy_for_wildcard_without_issuewild_suggests_issue() {
    let obs = observe(
        "example.com",
        &[("example.com", recs(vec![issue("letsencrypt.org")]))],
        &[],
    );
    let mut req = request(SECTIGO);
    req.wildcard = true;
    let remedy = judge(&obs, &req).remedy.unwrap();
    assert!(
        remedy.contains("example.com. CAA 0 issue \"sectigo.com\""),
        "{remedy}"
    );
}

#[test]
fn remedy_for_inherited_policy_offers_the_three_ways_out() {
    let obs = observe(
        "www.example.com",
        &[(
            "www.example.com",
            At::Alias(
                vec!["example.github.io"],
                vec![issue("letsencrypt.org"), issue("digicert.com")],
            ),
        )],
        &[],
    );
    let v = judge(&obs, &request(SECTIGO));
    assert_eq!(v.verdict, CaaVerdictKind::Forbidden);
    assert_eq!(
        v.cname_chain,
        [dn("www.example.com"), dn("example.github.io")]
    );
    let remedy = v.remedy.unwrap();
    for part in [
        "RFC 1034 §3.6.2",
        "example.github.io. CAA 0 issue \"sectigo.com\"",
        "replace the CNAME at www.example.com by A/AAAA records",
        "www.example.com. CAA 0 issue \"sectigo.com\"",
        "choose a CA that example.github.io's records authorize: letsencrypt.org, digicert.com",
    ] {
        assert!(remedy.contains(part), "remedy lacks {part:?}:\n{remedy}");
    }
}

#[test]
fn remedy_for_account_binding_keeps_the_binding_for_the_request() {
    let obs = observe(
        "example.com",
        &[(
            "example.com",
            recs(vec![issue(&format!("letsencrypt.org; accounturi={ACCT}"))]),
        )],
        &[],
    );
    let mut req = request(LE);
    req.account_uris = vec!["https://acme-v02.api.letsencrypt.org/acme/acct/999".into()];
    let remedy = judge(&obs, &req).remedy.unwrap();
    assert!(
        remedy.contains(
            "example.com. CAA 0 issue \"letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/999\""
        ),
        "{remedy}"
    );
}

#[test]
fn remedy_for_unknown_account_asks_for_it() {
    let obs = observe(
        "example.com",
        &[(
            "example.com",
            recs(vec![issue(&format!("letsencrypt.org; accounturi={ACCT}"))]),
        )],
        &[],
    );
    let remedy = judge(&obs, &request(LE)).remedy.unwrap();
    assert!(remedy.contains("--account-uri"), "{remedy}");
    assert!(remedy.contains(ACCT), "{remedy}");
}

#[test]
fn remedy_for_critical_unknown_tag_removes_it_or_clears_the_flag() {
    let obs = observe(
        "example.com",
        &[("example.com", recs(vec![rec(128, "tbs", "x")]))],
        &[],
    );
    let remedy = judge(&obs, &request(SECTIGO)).remedy.unwrap();
    assert!(
        remedy.contains("Remove that record at example.com"),
        "{remedy}"
    );
    assert!(remedy.contains("example.com. CAA 0 tbs \"x\""), "{remedy}");
}

#[test]
fn error_verdict_names_the_failing_name_and_says_to_fix_the_servers() {
    let obs = observe(
        "www.example.com",
        &[("example.com", At::Fail(servfail()))],
        &[],
    );
    let v = judge(&obs, &request(SECTIGO));
    assert_eq!(v.verdict, CaaVerdictKind::Error);
    assert_eq!(v.lookup_error, Some((dn("example.com"), servfail())));
    assert_eq!(v.relevant_name, None);
    let remedy = v.remedy.unwrap();
    assert!(
        remedy.contains("Fix the name servers for example.com"),
        "{remedy}"
    );
    assert!(remedy.contains("DNSSEC"), "{remedy}");
    assert!(remedy.contains("from www.example.com up to"), "{remedy}");
}

#[test]
fn lowercase_fix_is_offered_for_mixed_case_issuer() {
    let obs = observe(
        "example.com",
        &[("example.com", recs(vec![issue("LetsEncrypt.org")]))],
        &[],
    );
    let v = judge(&obs, &request(LE));
    assert_eq!(v.verdict, CaaVerdictKind::Allowed);
    let remedy = v.remedy.unwrap();
    assert!(
        remedy.contains("example.com. CAA 0 issue \"letsencrypt.org\""),
        "{remedy}"
    );
}

#[test]
fn verdict_carries_the_relevant_records_as_found() {
    let records = vec![
        issue("letsencrypt.org"),
        rec(0, "iodef", "mailto:a@example.com"),
    ];
    let obs = observe(
        "www.example.com",
        &[("example.com", recs(records.clone()))],
        &[],
    );
    let v = judge(&obs, &request(SECTIGO));
    assert_eq!(v.records, records);
    assert_eq!(v.cname_chain, [dn("example.com")]);
}

#[test]
fn no_records_keeps_the_queried_alias_chain() {
    let obs = observe(
        "www.example.com",
        &[("www.example.com", At::Alias(vec!["x.cdn.net"], vec![]))],
        &[],
    );
    let v = judge(&obs, &request(SECTIGO));
    assert_eq!(v.relevant_name, None);
    assert_eq!(v.cname_chain, [dn("www.example.com"), dn("x.cdn.net")]);
    assert!(v.reason.contains("alias of x.cdn.net"), "{}", v.reason);
}

// --- legacy RFC 6844 (pre-erratum 5065) ---

/// www.example.com CNAME example.github.io; github.io publishes CAA; the
/// user's own zone has none.
fn github_pages(user_zone: Vec<(&'static str, At)>) -> CaaObservation {
    let mut at = vec![(
        "www.example.com",
        At::Alias(vec!["example.github.io"], vec![]),
    )];
    at.extend(user_zone);
    observe(
        "www.example.com",
        &at,
        &[
            (
                "github.io",
                recs(vec![
                    issue("letsencrypt.org"),
                    issue("digicert.com"),
                    issue("sectigo.com"),
                    issue("globalsign.com"),
                ]),
            ),
            ("io", recs(vec![])),
        ],
    )
}

#[test]
fn legacy_rfc6844_climbs_the_alias_targets_parents() {
    let v = judge(&github_pages(vec![]), &request(&["trustasia.com"]));
    assert_eq!(v.verdict, CaaVerdictKind::Allowed);
    assert_eq!(v.relevant_name, None);
    let legacy = v.legacy_rfc6844.expect("the two searches differ");
    assert_eq!(legacy.verdict, CaaVerdictKind::Forbidden);
    assert_eq!(legacy.relevant_name, Some(dn("github.io")));
    for part in [
        "RFC 6844",
        "erratum 5065",
        "www.example.com -> example.github.io",
        "records at github.io",
        "refuse trustasia.com",
        "RFC 8659",
    ] {
        assert!(
            legacy.explanation.contains(part),
            "lacks {part:?}: {}",
            legacy.explanation
        );
    }
}

#[test]
fn legacy_differs_in_name_only_is_still_reported() {
    let v = judge(&github_pages(vec![]), &request(LE));
    assert_eq!(v.verdict, CaaVerdictKind::Allowed);
    let legacy = v.legacy_rfc6844.expect("names differ");
    assert_eq!(legacy.verdict, CaaVerdictKind::Allowed);
    assert_eq!(legacy.relevant_name, Some(dn("github.io")));
}

#[test]
fn legacy_prefers_the_target_tree_over_the_owners_parent() {
    // RFC 8659 decides at example.com (sectigo only); RFC 6844 decides at
    // github.io, which authorizes letsencrypt.org.
    let v = judge(
        &github_pages(vec![("example.com", recs(vec![issue("sectigo.com")]))]),
        &request(LE),
    );
    assert_eq!(v.verdict, CaaVerdictKind::Forbidden);
    assert_eq!(v.relevant_name, Some(dn("example.com")));
    let legacy = v.legacy_rfc6844.expect("differs");
    assert_eq!(legacy.verdict, CaaVerdictKind::Allowed);
    assert_eq!(legacy.relevant_name, Some(dn("github.io")));
}

#[test]
fn legacy_is_silent_without_aliases() {
    let obs = observe(
        "www.example.com",
        &[("example.com", recs(vec![issue("letsencrypt.org")]))],
        &[],
    );
    assert_eq!(judge(&obs, &request(SECTIGO)).legacy_rfc6844, None);
}

#[test]
fn legacy_is_silent_when_the_target_tree_is_empty() {
    let obs = observe(
        "www.example.com",
        &[("www.example.com", At::Alias(vec!["x.cdn.net"], vec![]))],
        &[("cdn.net", recs(vec![])), ("net", recs(vec![]))],
    );
    assert_eq!(judge(&obs, &request(SECTIGO)).legacy_rfc6844, None);
}

#[test]
fn legacy_is_silent_when_target_lookups_are_missing() {
    let obs = observe(
        "www.example.com",
        &[("www.example.com", At::Alias(vec!["x.cdn.net"], vec![]))],
        &[],
    );
    assert_eq!(judge(&obs, &request(SECTIGO)).legacy_rfc6844, None);
}

#[test]
fn legacy_reports_a_failure_in_the_target_tree() {
    let obs = observe(
        "www.example.com",
        &[("www.example.com", At::Alias(vec!["x.cdn.net"], vec![]))],
        &[("cdn.net", At::Fail(servfail())), ("net", recs(vec![]))],
    );
    let v = judge(&obs, &request(SECTIGO));
    assert_eq!(v.verdict, CaaVerdictKind::Allowed);
    let legacy = v.legacy_rfc6844.expect("differs");
    assert_eq!(legacy.verdict, CaaVerdictKind::Error);
    assert!(
        legacy.explanation.contains("fail at cdn.net"),
        "{}",
        legacy.explanation
    );
}

#[test]
fn a_resolver_that_does_not_answer_is_not_blamed_on_the_zone() {
    // Issue 11: a dead local resolver read "Fix the name servers for
    // example.com ... check the authoritative servers' answers".
    for failure in [
        LookupFailure::Timeout,
        LookupFailure::Network {
            detail: "connection refused".into(),
        },
        LookupFailure::Rcode {
            rcode: "REFUSED".into(),
            server: None,
        },
    ] {
        let obs = observe(
            "example.com",
            &[("example.com", At::Fail(failure.clone()))],
            &[],
        );
        let v = judge(&obs, &request(SECTIGO));
        assert_eq!(v.verdict, CaaVerdictKind::Error);
        let remedy = v.remedy.unwrap();
        assert!(remedy.contains("Your resolver is unreachable"), "{remedy}");
        assert!(!remedy.contains("Fix the name servers"), "{remedy}");
        assert!(!remedy.contains("authoritative"), "{remedy}");
        assert!(
            v.reason.contains("the resolver certvigil asks"),
            "{}",
            v.reason
        );
    }
    // SERVFAIL: the resolver reached the zone and found it broken.
    let obs = observe("example.com", &[("example.com", At::Fail(servfail()))], &[]);
    let remedy = judge(&obs, &request(SECTIGO)).remedy.unwrap();
    assert!(
        remedy.contains("Fix the name servers for example.com"),
        "{remedy}"
    );
}

/// Issue 13.6: the caveat for critical optional tags no longer lists
/// issuemail and issuevmc, which are known properties.
#[test]
fn critical_issuemail_and_issuevmc_carry_no_caveat() {
    for tag in ["issuemail", "issuevmc"] {
        let obs = observe(
            "example.com",
            &[(
                "example.com",
                At::Records(vec![rec(128, tag, "sectigo.com"), issue("sectigo.com")]),
            )],
            &[],
        );
        let v = judge(&obs, &request(SECTIGO));
        assert_eq!(v.verdict, CaaVerdictKind::Allowed, "{tag}");
        assert!(!v.reason.contains("Note:"), "{tag}: {}", v.reason);
        assert!(v.remedy.is_none(), "{tag}: {:?}", v.remedy);
    }
}

mod dnssec {
    use super::*;
    use crate::checks::dnssec::{BogusCause, DnssecNote, DnssecStatus, InsecureReason, RrsigRef};

    fn expired() -> BogusCause {
        BogusCause::RrsigExpired {
            rrsig: RrsigRef {
                owner: "example.com".into(),
                rtype: "CAA".into(),
                signer: "example.com".into(),
                key_tag: 7,
                algorithm: 13,
                inception: 0,
                expiration: 86_400,
            },
        }
    }

    fn validated(mut obs: CaaObservation, status: impl Fn(&str) -> DnssecStatus) -> CaaObservation {
        for l in &mut obs.climb {
            let name = l.name.to_string();
            if let Ok(a) = &mut l.result {
                a.dnssec = Some(DnssecNote::new(name.clone(), "CAA", status(&name), None));
            }
        }
        obs
    }

    #[test]
    fn a_servfail_for_an_answer_certvigil_validates_blames_the_resolver() {
        let failure = LookupFailure::ResolverRejects {
            server: Some("127.0.0.1:53".parse().unwrap()),
            validated: Box::new(DnssecStatus::Secure),
        };
        assert!(failure.is_local(), "the resolver's fault, not the zone's");
        let obs = observe("example.com", &[("example.com", At::Fail(failure))], &[]);
        let v = judge(&obs, &request(LE));
        assert_eq!(v.verdict, CaaVerdictKind::Error);
        assert!(
            v.reason.contains(
                "127.0.0.1:53 validates DNSSEC and answered SERVFAIL, but certvigil validates the same answer as secure"
            ),
            "{}",
            v.reason
        );
        assert!(
            v.remedy
                .as_deref()
                .unwrap()
                .starts_with("Update the root trust anchor of 127.0.0.1:53"),
            "{:?}",
            v.remedy
        );
        // The note carries the disagreement, which the report makes a finding.
        assert_eq!(v.dnssec.len(), 1);
        assert_eq!(v.dnssec[0].status, DnssecStatus::Secure);
        assert_eq!(
            v.dnssec[0].resolver,
            Some(crate::checks::dnssec::ResolverView::Servfail)
        );
        assert_eq!(v.dnssec[0].resolver_agrees, Some(false));
    }

    #[test]
    fn a_validating_resolvers_servfail_on_a_bogus_lookup_is_said_to_agree() {
        let obs = observe(
            "example.com",
            &[(
                "example.com",
                At::Fail(LookupFailure::Dnssec {
                    cause: expired(),
                    resolver: Some(crate::checks::dnssec::ResolverView::Servfail),
                }),
            )],
            &[],
        );
        let v = judge(&obs, &request(LE));
        assert_eq!(v.verdict, CaaVerdictKind::Error);
        assert!(
            v.reason
                .contains("answered SERVFAIL for it: the same validation failure"),
            "{}",
            v.reason
        );
        assert_eq!(v.dnssec.len(), 1);
        assert_eq!(v.dnssec[0].resolver_agrees, Some(true));
        // Without a validating resolver, nothing is said of one.
        let obs = observe(
            "example.com",
            &[(
                "example.com",
                At::Fail(LookupFailure::Dnssec {
                    cause: expired(),
                    resolver: None,
                }),
            )],
            &[],
        );
        let v = judge(&obs, &request(LE));
        assert!(!v.reason.contains("SERVFAIL"), "{}", v.reason);
        assert_eq!(v.dnssec[0].resolver_agrees, None);
    }

    #[test]
    fn a_bogus_decisive_lookup_is_a_blocking_error_with_the_dnssec_fix() {
        let obs = observe(
            "www.example.com",
            &[(
                "example.com",
                At::Fail(LookupFailure::Dnssec {
                    cause: expired(),
                    resolver: None,
                }),
            )],
            &[],
        );
        let obs = validated(obs, |_| DnssecStatus::Secure);
        let v = judge(&obs, &request(LE));
        assert_eq!(v.verdict, CaaVerdictKind::Error);
        assert!(v.reason.contains("DNSSEC-bogus"), "{}", v.reason);
        assert!(
            v.reason.contains("expired at 1970-01-02T00:00:00Z"),
            "{}",
            v.reason
        );
        assert!(
            v.remedy
                .unwrap()
                .starts_with("Re-sign the zone example.com")
        );
        let words: Vec<&str> = v.dnssec.iter().map(|n| n.status.word()).collect();
        assert_eq!(
            words,
            ["secure", "bogus"],
            "the climb up to the bogus lookup"
        );
        assert!(
            !LookupFailure::Dnssec {
                cause: expired(),
                resolver: None,
            }
            .is_local()
        );
    }

    #[test]
    fn notes_stop_at_the_relevant_name_and_keep_insecure() {
        let obs = observe(
            "www.example.com",
            &[("example.com", At::Records(vec![issue("letsencrypt.org")]))],
            &[],
        );
        let obs = validated(obs, |_| DnssecStatus::Insecure {
            reason: InsecureReason::UnsignedDelegation {
                zone: "example.com".into(),
                parent: "com".into(),
            },
        });
        let v = judge(&obs, &request(LE));
        assert_eq!(v.verdict, CaaVerdictKind::Allowed);
        let names: Vec<&str> = v.dnssec.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["www.example.com", "example.com"]);
        assert!(v.dnssec.iter().all(|n| n.status.word() == "insecure"));
    }

    #[test]
    fn unvalidated_lookups_give_no_notes() {
        let obs = observe("example.com", &[], &[]);
        assert!(judge(&obs, &request(LE)).dnssec.is_empty());
        // A lookup that failed before validation ends the notes.
        let obs = observe(
            "www.example.com",
            &[("example.com", At::Fail(servfail()))],
            &[],
        );
        let obs = validated(obs, |_| DnssecStatus::Secure);
        let v = judge(&obs, &request(LE));
        assert_eq!(v.dnssec.len(), 1);
    }
}
