//! What the risk check tells the user: a level and the reasons for it, in a
//! shape that `check --format json` (`risk.level`, `risk.reasons`) and the
//! daemon's status print as they are.

use std::fmt;

use serde::Serialize;

/// What the user can do about a name that may be held for manual review.
/// The options are the FAQ's: a review can pass, so this is never blocking.
pub const REMEDY: &str = "A CA's risk control may hold an order for this name for manual review, \
and a review can end in a refusal. Your options: wait for the manual review (usually one to a \
few working days; answer the CA's questions and be ready to show that you own or may use the \
name); change the name to one without the brand or word; or choose an OV or EV certificate, \
whose organization review establishes who you are and usually gets such a name issued. If the \
brand is yours, list it in [risk] own_brands (or the name in [risk] ignore) to silence this warning.";

/// How likely a CA's risk control is to hold an order for manual review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    /// Nothing a risk control is known to look at (reasons may still list a
    /// sensitive word in a subdomain, such as `login.example.com`).
    Low,
    /// A brand in a subdomain, a sensitive word in the registrable domain,
    /// or a label that mixes scripts: review is possible.
    Medium,
    /// A brand or its look-alike in the registrable domain, a brand beside
    /// a sensitive word, or a prohibited word: review is likely.
    High,
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        })
    }
}

/// Which signal a reason reports. Stable strings for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The registrable domain's label is a brand (`paypal.com`): the brand's
    /// own name, which only the brand may order.
    BrandExact,
    /// A label carries a brand as a word or inside a longer word
    /// (`paypal-login`, `mypaypalhelp`, `pay-pal`).
    BrandContains,
    /// A brand split over two labels (`pay.pal.com`).
    BrandSplit,
    /// A near spelling: one edit, digits for letters, ASCII look-alikes
    /// (`paypa1`, `gooogle`, `rnicrosoft`).
    BrandLookalike,
    /// An internationalized label whose UTS #39 skeleton is a brand's
    /// (`аpple` with a Cyrillic "а").
    ConfusableSkeleton,
    /// An internationalized label that mixes scripts beyond what UTS #39's
    /// "highly restrictive" level allows.
    MixedScript,
    /// A word of the kinds CAs watch (banking, payment, login, ...).
    SensitiveWord,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::BrandExact => "brand_exact",
            ReasonCode::BrandContains => "brand_contains",
            ReasonCode::BrandSplit => "brand_split",
            ReasonCode::BrandLookalike => "brand_lookalike",
            ReasonCode::ConfusableSkeleton => "confusable_skeleton",
            ReasonCode::MixedScript => "mixed_script",
            ReasonCode::SensitiveWord => "sensitive_word",
        }
    }

    pub(super) fn is_brand(self) -> bool {
        matches!(
            self,
            ReasonCode::BrandExact
                | ReasonCode::BrandContains
                | ReasonCode::BrandSplit
                | ReasonCode::BrandLookalike
                | ReasonCode::ConfusableSkeleton
        )
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the name a signal was found. The Public Suffix List decides:
/// in `paypal.example.com` the registrable domain is `example.com`, so
/// `paypal` is in a subdomain of the owner's own domain, which a CA reads
/// very differently from `example-paypal.com` or `paypal.com`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    RegistrableDomain,
    Subdomain,
}

/// One reason, in words, with the parts a script may want to group by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskReason {
    pub code: ReasonCode,
    pub scope: Scope,
    /// The label (Unicode form) the signal was found in; for `brand_split`
    /// the labels joined with dots.
    pub label: String,
    /// The brand, as written in the brand list, for the brand codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// The sensitive word, for `sensitive_word`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub word: Option<String>,
    pub summary: String,
}

/// The verdict on one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskAssessment {
    pub level: RiskLevel,
    pub reasons: Vec<RiskReason>,
}

impl RiskAssessment {
    /// Whether the name deserves a `warning` finding (medium or high). A low
    /// level with reasons (a sensitive word in a subdomain) is shown in
    /// `risk.reasons` but is not worth a warning.
    pub fn is_flagged(&self) -> bool {
        self.level >= RiskLevel::Medium
    }

    /// One line for a finding's summary: the level and the first reasons.
    pub fn headline(&self) -> String {
        let mut out = format!("manual-review risk is {}", self.level);
        if let Some(first) = self.reasons.first() {
            out.push_str(": ");
            out.push_str(&first.summary);
            if self.reasons.len() > 1 {
                let more = self.reasons.len() - 1;
                let noun = if more == 1 { "reason" } else { "reasons" };
                out.push_str(&format!(" (and {more} more {noun})"));
            }
        }
        out
    }
}
