//! The risk verdict on real names, through the public API.

use super::*;
use crate::domain::CertName;

fn model() -> RiskModel {
    RiskModel::new(&RiskConfig::default()).expect("the default config is valid")
}

fn assess_with(model: &RiskModel, name: &str) -> RiskAssessment {
    model.assess(&CertName::parse(name).expect("test names are valid"))
}

fn assess(name: &str) -> RiskAssessment {
    assess_with(&model(), name)
}

fn codes(a: &RiskAssessment) -> Vec<(ReasonCode, Scope, Option<&str>, Option<&str>)> {
    a.reasons
        .iter()
        .map(|r| (r.code, r.scope, r.brand.as_deref(), r.word.as_deref()))
        .collect()
}

fn has(a: &RiskAssessment, code: ReasonCode, brand_or_word: &str) -> bool {
    a.reasons.iter().any(|r| {
        r.code == code
            && (r.brand.as_deref() == Some(brand_or_word)
                || r.word.as_deref() == Some(brand_or_word))
    })
}

#[test]
fn cyrillic_apple_is_a_confusable_and_mixed_script() {
    // xn--pple-43d is "аpple" with U+0430 CYRILLIC SMALL LETTER A.
    let a = assess("xn--pple-43d.com");
    assert_eq!(a.level, RiskLevel::High, "{a:#?}");
    assert!(has(&a, ReasonCode::ConfusableSkeleton, "Apple"), "{a:#?}");
    let mixed = a
        .reasons
        .iter()
        .find(|r| r.code == ReasonCode::MixedScript)
        .expect("mixed script reason");
    assert!(mixed.summary.contains("U+0430"), "{}", mixed.summary);
    assert!(mixed.summary.contains("xn--pple-43d"), "{}", mixed.summary);
}

#[test]
fn paypal_login_is_brand_plus_credential_word() {
    let a = assess("paypal-login.example");
    assert_eq!(a.level, RiskLevel::High);
    assert!(has(&a, ReasonCode::BrandContains, "PayPal"), "{a:#?}");
    assert!(has(&a, ReasonCode::SensitiveWord, "login"), "{a:#?}");
    assert!(
        a.reasons
            .iter()
            .all(|r| r.scope == Scope::RegistrableDomain)
    );
}

#[test]
fn tencent_cloud_verify_is_brand_plus_verification_word() {
    let a = assess("tencent-cloud-verify.cn");
    assert_eq!(a.level, RiskLevel::High);
    assert!(has(&a, ReasonCode::BrandContains, "Tencent"), "{a:#?}");
    assert!(has(&a, ReasonCode::SensitiveWord, "verify"), "{a:#?}");
    // Without hyphens the label still reads word by word.
    let joined = assess("tencentcloudverify.cn");
    assert_eq!(codes(&joined), codes(&a));
}

#[test]
fn the_registrable_domain_decides_how_much_a_brand_weighs() {
    let own_domain = assess("paypal.com");
    assert_eq!(own_domain.level, RiskLevel::High);
    assert_eq!(
        codes(&own_domain),
        [(
            ReasonCode::BrandExact,
            Scope::RegistrableDomain,
            Some("PayPal"),
            None
        )]
    );
    assert!(own_domain.reasons[0].summary.contains("PayPal"));

    let embedded = assess("example-paypal.com");
    assert_eq!(embedded.level, RiskLevel::High);
    assert_eq!(
        codes(&embedded),
        [(
            ReasonCode::BrandContains,
            Scope::RegistrableDomain,
            Some("PayPal"),
            None
        )]
    );

    let subdomain = assess("paypal.example.com");
    assert_eq!(subdomain.level, RiskLevel::Medium);
    assert_eq!(
        codes(&subdomain),
        [(
            ReasonCode::BrandContains,
            Scope::Subdomain,
            Some("PayPal"),
            None
        )]
    );

    // A brand in a subdomain beside a sensitive word is high again.
    assert_eq!(assess("paypal-login.example.com").level, RiskLevel::High);
}

#[test]
fn public_suffixes_are_nobodys_brand() {
    // github.io is a public suffix: "paypal" is the registrable label.
    let a = assess("paypal.github.io");
    assert_eq!(codes(&a)[0].1, Scope::RegistrableDomain);
    // In com.cn both labels are the suffix; "jd" is the registrable label.
    let a = assess("www.jd.com.cn");
    assert!(has(&a, ReasonCode::BrandExact, "JD.com"), "{a:#?}");
    assert_eq!(assess("github.io").level, RiskLevel::Low);
}

#[test]
fn short_and_ordinary_word_brands_match_only_as_words() {
    for ordinary in [
        "pineapple.com",
        "grapple-gym.com",
        "purchase-orders.com",
        "seashell-crafts.net",
        "sanfrancisco-tours.com",
        "intelligence-report.org",
        "jdesign.cn",
        "boconcept-store.com",
        "qqq-lab.io",
        "element-studio.com",
    ] {
        let a = assess(ordinary);
        assert_eq!(a.level, RiskLevel::Low, "{ordinary}: {a:#?}");
        assert!(a.reasons.is_empty(), "{ordinary}: {a:#?}");
    }
    assert!(has(
        &assess("apple-support.com"),
        ReasonCode::BrandContains,
        "Apple"
    ));
    assert!(has(
        &assess("applesupport.com"),
        ReasonCode::BrandContains,
        "Apple"
    ));
    assert!(has(&assess("qq-mail.cn"), ReasonCode::BrandContains, "QQ"));
    assert!(has(
        &assess("jdpay.cn"),
        ReasonCode::BrandContains,
        "JD.com"
    ));
    assert!(has(
        &assess("icbc123.com"),
        ReasonCode::BrandContains,
        "ICBC"
    ));
    assert!(has(
        &assess("12306-ticket.cn"),
        ReasonCode::BrandContains,
        "12306 (China Railway)"
    ));
}

#[test]
fn near_spellings_are_lookalikes() {
    for (name, brand) in [
        ("paypa1.com", "PayPal"),
        ("paypall.com", "PayPal"),
        ("gooogle.com", "Google"),
        ("rnicrosoft.com", "Microsoft"),
        ("app1e.com", "Apple"),
        ("alipey.cn", "Alipay"),
        ("taobao0.com", "Taobao"),
    ] {
        let a = assess(name);
        assert_eq!(a.level, RiskLevel::High, "{name}: {a:#?}");
        assert!(
            a.reasons.iter().any(|r| r.brand.as_deref() == Some(brand)
                && matches!(
                    r.code,
                    ReasonCode::BrandLookalike | ReasonCode::BrandContains
                )),
            "{name}: {a:#?}"
        );
    }
    // Replacing one letter of a 5-letter brand gives ordinary words.
    assert_eq!(assess("disco-night.com").level, RiskLevel::Low);
}

#[test]
fn one_word_registrable_labels_near_a_brand_weigh_by_the_brand() {
    // Six or more distinctive letters: a typosquat, high.
    let a = assess("paypai.com");
    assert_eq!(a.level, RiskLevel::High);
    assert!(has(&a, ReasonCode::BrandLookalike, "PayPal"), "{a:#?}");
    // An ordinary-word brand or a 5-letter one: as likely a word, medium.
    for (name, brand) in [
        ("chasse.com", "JPMorgan Chase"),
        ("chose.com", "JPMorgan Chase"),
        ("baidq.com", "Baidu"),
    ] {
        let a = assess(name);
        assert_eq!(a.level, RiskLevel::Medium, "{name}: {a:#?}");
        assert!(has(&a, ReasonCode::BrandLookalike, brand), "{name}: {a:#?}");
    }
    // Only the registrable label, and only when it is one word.
    assert_eq!(assess("chose.example.com").level, RiskLevel::Low);
    assert_eq!(assess("chose-wisely.com").level, RiskLevel::Low);
}

#[test]
fn brands_split_by_hyphens_or_dots_are_found() {
    assert!(has(
        &assess("pay-pal.com"),
        ReasonCode::BrandContains,
        "PayPal"
    ));
    let split = assess("pay.pal.com");
    assert!(has(&split, ReasonCode::BrandSplit, "PayPal"), "{split:#?}");
    assert_eq!(split.level, RiskLevel::High);
    // Crossing a hyphen mid-word is not a brand: "lab-china" is no abchina.
    assert!(assess("lab-china.com").reasons.is_empty());
}

#[test]
fn han_brands_and_words_match_in_unicode_labels() {
    let a = assess("支付宝-登录.com");
    assert_eq!(a.level, RiskLevel::High);
    assert!(has(&a, ReasonCode::BrandContains, "Alipay"), "{a:#?}");
    assert!(has(&a, ReasonCode::SensitiveWord, "登录"), "{a:#?}");
    // Han beside Latin is an allowed mix (UTS #39 "highly restrictive").
    assert!(
        !assess("北京bakery.cn")
            .reasons
            .iter()
            .any(|r| r.code == ReasonCode::MixedScript)
    );
}

#[test]
fn sensitive_words_alone_weigh_by_where_they_are() {
    let reg = assess("secure-banking.com");
    assert_eq!(reg.level, RiskLevel::Medium);
    assert!(has(&reg, ReasonCode::SensitiveWord, "banking"));
    let sub = assess("login.example.com");
    assert_eq!(sub.level, RiskLevel::Low);
    assert!(has(&sub, ReasonCode::SensitiveWord, "login"));
    assert!(!sub.is_flagged());
    // Words are words: accounting is not account, payroll is not pay.
    assert!(assess("smith-accounting.com").reasons.is_empty());
    assert!(assess("payroll-services.com").reasons.is_empty());
    // Gambling is refused, not reviewed.
    assert_eq!(assess("lucky-casino.com").level, RiskLevel::High);
}

#[test]
fn own_brands_silence_the_owners_names() {
    let cfg = RiskConfig {
        own_brands: vec!["PayPal".into(), "acme.com".into()],
        ..RiskConfig::default()
    };
    let m = RiskModel::new(&cfg).unwrap();
    for own in [
        "paypal.com",
        "paypal-login.com",
        "paypa1.com",
        "acme-login.com",
        "acme.com",
    ] {
        let a = assess_with(&m, own);
        assert_eq!(a.level, RiskLevel::Low, "{own}: {a:#?}");
        assert!(a.reasons.is_empty(), "{own}: {a:#?}");
    }
    // Owning one brand does not make another brand yours.
    let other = assess_with(&m, "acme-alipay.com");
    assert!(
        has(&other, ReasonCode::BrandContains, "Alipay"),
        "{other:#?}"
    );
    assert_eq!(other.level, RiskLevel::High);
}

#[test]
fn ignore_silences_names_and_subtrees() {
    let cfg = RiskConfig {
        ignore: vec!["paypal-login.example".into(), "*.lab.example.org".into()],
        ..RiskConfig::default()
    };
    let m = RiskModel::new(&cfg).unwrap();
    assert!(assess_with(&m, "paypal-login.example").reasons.is_empty());
    assert!(assess_with(&m, "*.paypal-login.example").reasons.is_empty());
    assert!(assess_with(&m, "paypal.lab.example.org").reasons.is_empty());
    assert!(assess_with(&m, "*.lab.example.org").reasons.is_empty());
    // Only what was listed: a sibling is still judged.
    assert_eq!(
        assess_with(&m, "paypal-login.example.net").level,
        RiskLevel::High
    );
}

#[test]
fn extra_words_are_flagged_like_built_in_words() {
    assert!(assess("widget-portal.com").reasons.is_empty());
    let cfg = RiskConfig {
        extra_words: vec!["Widget".into(), "红包".into()],
        ..RiskConfig::default()
    };
    let m = RiskModel::new(&cfg).unwrap();
    let a = assess_with(&m, "widget-portal.com");
    assert_eq!(a.level, RiskLevel::Medium);
    assert!(has(&a, ReasonCode::SensitiveWord, "widget"), "{a:#?}");
    assert!(has(
        &assess_with(&m, "领红包.com"),
        ReasonCode::SensitiveWord,
        "红包"
    ));
}

#[test]
fn bad_config_entries_are_refused_with_the_key_named() {
    let bad = [
        RiskConfig {
            own_brands: vec!["x".into()],
            ..RiskConfig::default()
        },
        RiskConfig {
            extra_words: vec!["two words".into()],
            ..RiskConfig::default()
        },
        RiskConfig {
            ignore: vec!["exa mple.com".into()],
            ..RiskConfig::default()
        },
    ];
    let keys = ["own_brands", "extra_words", "ignore"];
    for (cfg, key) in bad.iter().zip(keys) {
        let err = cfg.validate().unwrap_err();
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn ordinary_names_have_no_reasons() {
    for name in [
        "example.com",
        "www.zhangsan-blog.cn",
        "li-hua-studio.com",
        "*.green-garden.org",
        "mail.smith-family.net",
    ] {
        let a = assess(name);
        assert_eq!(a.level, RiskLevel::Low, "{name}: {a:#?}");
        assert!(a.reasons.is_empty(), "{name}: {a:#?}");
    }
}

#[test]
fn json_shape_is_the_contract() {
    let a = assess("paypal-login.example");
    let v = serde_json::to_value(&a).unwrap();
    assert_eq!(v["level"], "high");
    assert_eq!(v["reasons"][0]["code"], "brand_contains");
    assert_eq!(v["reasons"][0]["scope"], "registrable_domain");
    assert_eq!(v["reasons"][0]["brand"], "PayPal");
    assert!(v["reasons"][0].get("word").is_none());
    assert!(
        v["reasons"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("paypal-login")
    );
    assert!(a.headline().starts_with("manual-review risk is high: "));
    assert!(REMEDY.contains("manual review") && REMEDY.contains("OV or EV"));
}

#[test]
fn levels_are_ordered() {
    assert!(RiskLevel::Low < RiskLevel::Medium && RiskLevel::Medium < RiskLevel::High);
    assert_eq!(
        serde_json::to_string(&RiskLevel::Medium).unwrap(),
        "\"medium\""
    );
}
