use super::*;
use crate::checks::views::fixtures::{answer, home, n, req};

fn seen(vantage: &str, records: &[&str]) -> PerspectiveObservation {
    PerspectiveObservation {
        vantage: vantage.into(),
        caa: vec![(n("example.test"), Ok(answer(records)))],
        validation: Vec::new(),
        error: None,
    }
}

fn txt(texts: &[&str]) -> RecordsSeen {
    RecordsSeen {
        cname_chain: vec![n("_dnsauth.example.test")],
        texts: texts.iter().map(|t| t.to_string()).collect(),
        nxdomain: false,
    }
}

#[test]
fn no_perspectives_no_findings_and_the_same_view_none_either() {
    let h = home(&["letsencrypt.org"]);
    assert!(judge(&h, &[], &[], &req()).is_empty());
    let f = judge(&h, &[], &[seen("hk", &["letsencrypt.org"])], &req());
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn a_forbidding_view_abroad_gives_the_share_that_allows() {
    let h = home(&["letsencrypt.org"]);
    let f = judge(
        &h,
        &[],
        &[
            seen("hk", &["sectigo.com"]),
            seen("de", &["letsencrypt.org"]),
        ],
        &req(),
    );
    let kinds: Vec<ViewKind> = f.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            ViewKind::PerspectiveCaaDiffers,
            ViewKind::PerspectiveVerdictDiffers
        ],
        "{f:#?}"
    );
    assert!(
        f[0].summary
            .contains("from hk, CAA at example.test is [0 issue \"sectigo.com\"], while home sees [0 issue \"letsencrypt.org\"]"),
        "{}",
        f[0].summary
    );
    let v = &f[1];
    assert_eq!(v.severity, Severity::Blocking);
    assert_eq!(
        v.allow_share,
        Some(Share {
            allowing: 2,
            total: 3
        })
    );
    assert!(v.summary.contains("2 of 3 allow"), "{}", v.summary);
    assert!(
        v.summary.contains("forbids issuance from hk"),
        "{}",
        v.summary
    );
}

#[test]
fn another_set_with_the_same_verdict_only_warns() {
    let h = home(&["letsencrypt.org"]);
    let f = judge(
        &h,
        &[],
        &[seen("hk", &["letsencrypt.org", "sectigo.com"])],
        &req(),
    );
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, Severity::Warning);
}

#[test]
fn a_failed_lookup_abroad_is_a_verdict_difference_too() {
    let h = home(&["letsencrypt.org"]);
    let mut p = seen("hk", &[]);
    p.caa = vec![(
        n("example.test"),
        Err(LookupFailure::Rcode {
            rcode: "SERVFAIL".into(),
            server: None,
        }),
    )];
    let f = judge(&h, &[], &[p], &req());
    assert!(
        f[0].summary.contains("the lookup failed"),
        "{}",
        f[0].summary
    );
    assert_eq!(f[1].kind, ViewKind::PerspectiveVerdictDiffers);
    assert!(f[1].summary.contains("1 of 2 allow"), "{}", f[1].summary);
}

#[test]
fn a_vantage_that_cannot_be_asked_warns_and_does_not_count() {
    let h = home(&["letsencrypt.org"]);
    let p = PerspectiveObservation {
        vantage: "hk".into(),
        caa: Vec::new(),
        validation: Vec::new(),
        error: Some("cannot reach the agent".into()),
    };
    let f = judge(&h, &[], &[p], &req());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, ViewKind::PerspectiveFailed);
    assert_eq!(f[0].severity, Severity::Warning);
}

#[test]
fn a_validation_record_missing_abroad_blocks_an_extra_one_warns() {
    let h = home(&["letsencrypt.org"]);
    let home_validation = vec![ValidationName {
        name: n("_dnsauth.example.test"),
        home: Ok(txt(&["token-1"])),
    }];
    let mut missing = seen("hk", &["letsencrypt.org"]);
    missing.validation = vec![(n("_dnsauth.example.test"), Ok(txt(&[])))];
    let f = judge(&h, &home_validation, &[missing], &req());
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].kind, ViewKind::PerspectiveRecordsDiffer);
    assert_eq!(f[0].severity, Severity::Blocking);
    assert!(
        f[0].summary
            .contains("from hk, the validation record _dnsauth.example.test is absent, while home sees [\"token-1\"]"),
        "{}",
        f[0].summary
    );
    let mut extra = seen("hk", &["letsencrypt.org"]);
    extra.validation = vec![(n("_dnsauth.example.test"), Ok(txt(&["token-1", "old"])))];
    let f = judge(&h, &home_validation, &[extra], &req());
    assert_eq!(f[0].severity, Severity::Warning);
    let mut failed = seen("hk", &["letsencrypt.org"]);
    failed.validation = vec![(n("_dnsauth.example.test"), Err(LookupFailure::Timeout))];
    let f = judge(&h, &home_validation, &[failed], &req());
    assert_eq!(f[0].severity, Severity::Blocking);
}

#[test]
fn an_alias_abroad_differs_from_none_at_home() {
    let h = home(&["letsencrypt.org"]);
    let home_validation = vec![ValidationName {
        name: n("_dnsauth.example.test"),
        home: Ok(txt(&["token-1"])),
    }];
    let mut p = seen("hk", &["letsencrypt.org"]);
    let mut aliased = txt(&["token-1"]);
    aliased.cname_chain.push(n("validation.provider.example"));
    p.validation = vec![(n("_dnsauth.example.test"), Ok(aliased))];
    let f = judge(&h, &home_validation, &[p], &req());
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].summary.contains("via alias"), "{}", f[0].summary);
}

#[test]
fn a_perspective_without_caa_lookups_does_not_count_in_the_share() {
    let h = home(&["letsencrypt.org"]);
    let mut txt_only = seen("globalping/DE-Frankfurt", &[]);
    txt_only.caa.clear();
    let f = judge(&h, &[], &[seen("hk", &["sectigo.com"]), txt_only], &req());
    let v = f
        .iter()
        .find(|f| f.kind == ViewKind::PerspectiveVerdictDiffers)
        .unwrap();
    assert_eq!(
        v.allow_share,
        Some(Share {
            allowing: 1,
            total: 2
        })
    );
}
