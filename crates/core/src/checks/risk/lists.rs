//! The brand and sensitive-word lists that ship with certvigil
//! (`data/risk/*.toml`, compiled in). Their headers say where they come from.

use serde::Deserialize;

const BRANDS: &str = include_str!("../../../data/risk/brands.toml");
const WORDS: &str = include_str!("../../../data/risk/sensitive-words.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BrandFile {
    pub group: Vec<BrandGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BrandGroup {
    pub category: String,
    pub brands: Vec<Brand>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Brand {
    pub name: String,
    pub tokens: Vec<String>,
    #[serde(default)]
    pub word_tokens: Vec<String>,
    #[serde(default)]
    pub han: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WordFile {
    pub group: Vec<WordGroup>,
    pub service: ServiceWords,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WordGroup {
    pub kind: String,
    pub severity: Severity,
    pub words: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceWords {
    pub words: Vec<String>,
}

/// How a CA treats a sensitive word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Severity {
    /// The order may be held for manual review.
    Watch,
    /// The order is refused or escalated (gambling, lottery).
    Prohibited,
}

/// The built-in brand list. The data is part of the binary and covered by
/// tests, so a parse failure is a build defect, not a run-time condition.
pub(super) fn builtin_brands() -> BrandFile {
    toml::from_str(BRANDS).unwrap_or_else(|e| {
        panic!(
            "data/risk/brands.toml is invalid (a build defect): {}",
            e.message()
        )
    })
}

/// The built-in sensitive and service words; see [`builtin_brands`].
pub(super) fn builtin_words() -> WordFile {
    toml::from_str(WORDS).unwrap_or_else(|e| {
        panic!(
            "data/risk/sensitive-words.toml is invalid (a build defect): {}",
            e.message()
        )
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn is_token(s: &str) -> bool {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    }

    #[test]
    fn brand_list_is_well_formed_and_large_enough() {
        let file = builtin_brands();
        let brands: Vec<&Brand> = file.group.iter().flat_map(|g| &g.brands).collect();
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for b in &brands {
            assert!(
                !b.tokens.is_empty() || !b.word_tokens.is_empty(),
                "{} has no spelling to match",
                b.name
            );
            for t in b.tokens.iter().chain(&b.word_tokens) {
                assert!(
                    is_token(t),
                    "{}: token {t:?} must be lower-case ASCII letters/digits",
                    b.name
                );
                if let Some(other) = seen.insert(t, &b.name) {
                    panic!("token {t:?} is listed for both {other} and {}", b.name);
                }
            }
            for h in &b.han {
                assert!(
                    h.chars().count() >= 2 && !h.is_ascii(),
                    "{}: han {h:?}",
                    b.name
                );
            }
        }
        assert!(brands.len() >= 230, "{} brands", brands.len());
        let chinese = file
            .group
            .iter()
            .flat_map(|g| &g.brands)
            .filter(|b| !b.han.is_empty())
            .count();
        assert!(chinese >= 80, "{chinese} Chinese brands");
        for must in [
            "alipay", "taobao", "wechat", "weixin", "qq", "jd", "icbc", "ccb", "boc", "12306",
            "unionpay", "paypal",
        ] {
            assert!(seen.contains_key(must), "{must} missing");
        }
    }

    #[test]
    fn word_list_is_well_formed_and_service_words_are_not_sensitive() {
        let file = builtin_words();
        let mut sensitive = HashSet::new();
        for g in &file.group {
            for w in &g.words {
                assert!(!w.is_empty() && w.to_lowercase() == *w, "{w:?}");
                assert!(sensitive.insert(w.as_str()), "{w:?} listed twice");
            }
        }
        for w in &file.service.words {
            assert!(is_token(w) && w.len() >= 2, "service word {w:?}");
            assert!(
                !sensitive.contains(w.as_str()),
                "{w:?} is both sensitive and a service word"
            );
        }
        for kind in [
            "banking",
            "payment",
            "wallet",
            "login",
            "verification",
            "account",
            "official",
            "government",
        ] {
            assert!(
                file.group.iter().any(|g| g.kind == kind),
                "kind {kind} missing"
            );
        }
    }
}
