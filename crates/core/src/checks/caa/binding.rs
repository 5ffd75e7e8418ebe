//! RFC 8657 parameters that bind an `issue`/`issuewild` property to one ACME
//! account (`accounturi`, §3) or to some validation methods
//! (`validationmethods`, §4). A bound property authorizes its CA only for
//! requests that satisfy the binding.
//!
//! Tags are matched exactly (`accounturi`, not `AccountURI`), as Boulder
//! does: RFC 8659 §4.2 leaves parameter semantics to the issuer, and a CA
//! that does not recognize a tag ignores it. Method names are compared
//! exactly too: RFC 8657 §4 speaks of "the name of the challenge method
//! being used", and ACME challenge type names are lower-case tokens.

use super::model::IssuanceRequest;
use super::value::IssueValue;

/// Why a property that names the CA still does not authorize this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingMismatch {
    /// Bound to an account, and the request names none.
    AccountNotGiven { bound_to: String },
    /// Bound to another account than the request's.
    OtherAccount { bound_to: String, given: String },
    /// Several `accounturi` parameters: RFC 8657 §3 allows one per property,
    /// and CAs (Boulder) treat more as unsatisfiable.
    SeveralAccounts { bound_to: Vec<String> },
    /// Limited to some methods, and the request names none.
    MethodNotGiven { allowed: Vec<String> },
    /// Limited to ACME methods, and the order is validated outside ACME.
    NotAcme {
        allowed: Vec<String>,
        used: crate::method::OutsideAcme,
    },
    /// Limited to methods that do not include the request's.
    OtherMethod { allowed: Vec<String>, given: String },
    /// Several `validationmethods` parameters (Boulder: unsatisfiable).
    SeveralMethodLists,
    /// A `validationmethods` value outside the RFC 8657 §4 grammar
    /// (`label *("," label)`, `label = 1*(ALPHA / DIGIT / "-")`).
    MalformedMethods { value: String },
}

impl BindingMismatch {
    /// A clause for a sentence: "... but the record is bound to ...".
    pub fn describe(&self) -> String {
        match self {
            BindingMismatch::AccountNotGiven { bound_to } => format!(
                "it is bound to the ACME account {bound_to} (RFC 8657 accounturi) and no account was given to check against"
            ),
            BindingMismatch::OtherAccount { bound_to, given } => format!(
                "it is bound to the ACME account {bound_to} (RFC 8657 accounturi), not to {given}"
            ),
            BindingMismatch::SeveralAccounts { bound_to } => format!(
                "it names {} accounturi parameters ({}), which CAs treat as unsatisfiable (RFC 8657 §3 allows one)",
                bound_to.len(),
                bound_to.join(", ")
            ),
            BindingMismatch::MethodNotGiven { allowed } => format!(
                "it allows only the validation methods {} (RFC 8657 validationmethods) and no method was given to check against",
                allowed.join(", ")
            ),
            BindingMismatch::NotAcme { allowed, used } => format!(
                "it allows only the ACME validation methods {} (RFC 8657 validationmethods), and {} is not an ACME method",
                allowed.join(", "),
                used.describe()
            ),
            BindingMismatch::OtherMethod { allowed, given } => format!(
                "it allows only the validation methods {} (RFC 8657 validationmethods), not {given}",
                allowed.join(", ")
            ),
            BindingMismatch::SeveralMethodLists => {
                "it has several validationmethods parameters, which CAs treat as unsatisfiable"
                    .into()
            }
            BindingMismatch::MalformedMethods { value } => format!(
                "its validationmethods value {value:?} is not a comma-separated list of method names (RFC 8657 §4), so CAs ignore the record"
            ),
        }
    }
}

/// Checks the RFC 8657 bindings of a property that names the CA.
pub fn check_binding(value: &IssueValue, req: &IssuanceRequest) -> Result<(), BindingMismatch> {
    binding_of(
        value.param_values("accounturi"),
        value.param_values("validationmethods"),
        req,
    )
}

/// [`check_binding`] of a value's `accounturi` and `validationmethods`
/// parameter values, however the value is held.
pub(crate) fn binding_of<'v>(
    accounts: impl Iterator<Item = &'v str>,
    lists: impl Iterator<Item = &'v str>,
    req: &IssuanceRequest,
) -> Result<(), BindingMismatch> {
    let accounts: Vec<&str> = accounts.collect();
    match accounts.as_slice() {
        [] => {}
        [bound] => {
            if req.account_uris.is_empty() {
                return Err(BindingMismatch::AccountNotGiven {
                    bound_to: bound.to_string(),
                });
            }
            // RFC 8657 §3: the URI is compared as a string, no normalisation;
            // any URI of the account matches.
            if !req.account_uris.iter().any(|given| given == bound) {
                return Err(BindingMismatch::OtherAccount {
                    bound_to: bound.to_string(),
                    given: req.account_uris.join(" or "),
                });
            }
        }
        several => {
            return Err(BindingMismatch::SeveralAccounts {
                bound_to: several.iter().map(|s| s.to_string()).collect(),
            });
        }
    }

    let lists: Vec<&str> = lists.collect();
    match lists.as_slice() {
        [] => Ok(()),
        [list] => {
            let allowed: Vec<String> = list.split(',').map(str::to_string).collect();
            let well_formed = allowed.iter().all(|m| {
                !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
            if !well_formed {
                return Err(BindingMismatch::MalformedMethods {
                    value: list.to_string(),
                });
            }
            match &req.validation_method {
                None => Err(match req.outside_acme {
                    Some(used) => BindingMismatch::NotAcme { allowed, used },
                    None => BindingMismatch::MethodNotGiven { allowed },
                }),
                Some(given) if !allowed.iter().any(|m| m == given.as_str()) => {
                    Err(BindingMismatch::OtherMethod {
                        allowed,
                        given: given.to_string(),
                    })
                }
                Some(_) => Ok(()),
            }
        }
        _ => Err(BindingMismatch::SeveralMethodLists),
    }
}

#[cfg(test)]
mod tests {
    use super::super::value::parse_issue_value;
    use super::*;

    fn req(account: Option<&str>, method: Option<&str>) -> IssuanceRequest {
        IssuanceRequest {
            wildcard: false,
            issuer_domains: vec![],
            account_uris: account.into_iter().map(str::to_string).collect(),
            validation_method: method.map(crate::method::AcmeMethod::from_challenge_type),
            outside_acme: None,
        }
    }

    fn check(
        value: &str,
        account: Option<&str>,
        method: Option<&str>,
    ) -> Result<(), BindingMismatch> {
        let v = parse_issue_value(value.as_bytes()).unwrap();
        check_binding(&v, &req(account, method))
    }

    const ACCT: &str = "https://acme-v02.api.letsencrypt.org/acme/acct/123";

    #[test]
    fn unbound_property_matches_any_request() {
        assert_eq!(check("letsencrypt.org", None, None), Ok(()));
        assert_eq!(
            check("letsencrypt.org; policy=ev", Some(ACCT), Some("http-01")),
            Ok(())
        );
    }

    #[test]
    fn rfc8657_3_accounturi_is_compared_exactly() {
        let v = format!("letsencrypt.org; accounturi={ACCT}");
        assert_eq!(check(&v, Some(ACCT), None), Ok(()));
        assert_eq!(
            check(&v, None, None),
            Err(BindingMismatch::AccountNotGiven {
                bound_to: ACCT.into()
            })
        );
        let other = format!("{ACCT}/");
        assert_eq!(
            check(&v, Some(&other), None),
            Err(BindingMismatch::OtherAccount {
                bound_to: ACCT.into(),
                given: other.clone()
            })
        );
    }

    #[test]
    fn rfc8657_3_two_accounturis_are_unsatisfiable() {
        let v = format!("letsencrypt.org; accounturi={ACCT}; accounturi={ACCT}2");
        assert!(matches!(
            check(&v, Some(ACCT), None),
            Err(BindingMismatch::SeveralAccounts { bound_to }) if bound_to.len() == 2
        ));
    }

    #[test]
    fn rfc8657_4_validationmethods_lists_methods() {
        let v = "letsencrypt.org; validationmethods=dns-01,http-01";
        assert_eq!(check(v, None, Some("dns-01")), Ok(()));
        assert_eq!(check(v, None, Some("http-01")), Ok(()));
        assert_eq!(
            check(v, None, Some("tls-alpn-01")),
            Err(BindingMismatch::OtherMethod {
                allowed: vec!["dns-01".into(), "http-01".into()],
                given: "tls-alpn-01".into()
            })
        );
        assert!(matches!(
            check(v, None, None),
            Err(BindingMismatch::MethodNotGiven { .. })
        ));
        // Exact names: ACME challenge types are lower-case tokens.
        assert!(check(v, None, Some("DNS-01")).is_err());
    }

    #[test]
    fn rfc8657_4_a_method_outside_acme_is_not_allowed_and_said_so() {
        use crate::method::OutsideAcme;
        let v = parse_issue_value(b"sectigo.com; validationmethods=http-01").unwrap();
        let mut r = req(None, None);
        r.outside_acme = Some(OutsideAcme::File);
        let e = check_binding(&v, &r).unwrap_err();
        assert_eq!(
            e,
            BindingMismatch::NotAcme {
                allowed: vec!["http-01".into()],
                used: OutsideAcme::File
            }
        );
        assert!(e.describe().contains("file validation"), "{}", e.describe());
        // An unbound record allows a method outside ACME as any other.
        let unbound = parse_issue_value(b"sectigo.com").unwrap();
        assert_eq!(check_binding(&unbound, &r), Ok(()));
    }

    #[test]
    fn rfc8657_4_malformed_method_list_authorizes_nothing() {
        for v in [
            "letsencrypt.org; validationmethods=dns-01,,http-01",
            "letsencrypt.org; validationmethods=",
            "letsencrypt.org; validationmethods=dns_01",
        ] {
            assert!(
                matches!(
                    check(v, None, Some("dns-01")),
                    Err(BindingMismatch::MalformedMethods { .. })
                ),
                "{v}"
            );
        }
    }

    #[test]
    fn case_variant_parameter_tags_do_not_bind() {
        // Boulder ignores `AccountURI`; so do we (and the judge says so).
        assert_eq!(check("letsencrypt.org; AccountURI=x", None, None), Ok(()));
    }

    #[test]
    fn descriptions_name_the_binding() {
        let d = BindingMismatch::OtherAccount {
            bound_to: "a".into(),
            given: "b".into(),
        }
        .describe();
        assert!(
            d.contains("bound to the ACME account a") && d.contains("not to b"),
            "{d}"
        );
    }
}
