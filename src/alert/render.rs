//! The words of an alert: a subject line and a plain-text body that a person
//! woken at 3 a.m. can act on without opening anything else. Pure functions;
//! every channel uses them so mail and chat say the same thing.

use chrono::{DateTime, Utc};

use super::{Alert, AlertKind};

/// `[certvigil] CAA at example.com now forbids Sectigo`, plus a flapping mark.
pub fn subject(alert: &Alert) -> String {
    let flap = if alert.damped.is_some() {
        " (flapping)"
    } else {
        ""
    };
    // A subject is one line whatever the summary holds.
    format!(
        "[certvigil] {}{flap}",
        certvigil_core::redact::escape_controls(&alert.summary)
    )
}

/// What the kind of alert means, for the first paragraph.
fn what_happened(alert: &Alert) -> String {
    let for_ca = if alert.ca.is_empty() {
        String::new()
    } else {
        format!(" for {}", alert.ca)
    };
    match alert.kind {
        AlertKind::Blocking => format!(
            "A state began that would make a CA refuse or hold a certificate for {}{for_ca}.",
            alert.domain
        ),
        AlertKind::Resolved => {
            format!("The blocking state for {}{for_ca} has ended.", alert.domain)
        }
        AlertKind::Reminder => format!(
            "Reminder: issuance for {}{for_ca} is still blocked.",
            alert.domain
        ),
        AlertKind::CaaDrift => format!(
            "The CAA record set that decides for {} changed.",
            alert.domain
        ),
        AlertKind::OrderBlocked => format!(
            "A pending certificate order for {}{for_ca} cannot issue as things stand.",
            alert.domain
        ),
        AlertKind::OrderStuck => format!(
            "A pending certificate order for {}{for_ca} has not moved for longer than usual.",
            alert.domain
        ),
        AlertKind::OrderDeadline => format!(
            "A pending certificate order for {}{for_ca} is near a deadline.",
            alert.domain
        ),
        AlertKind::OrderFailed => format!(
            "The CA refused a certificate order for {}{for_ca}.",
            alert.domain
        ),
        AlertKind::OrderIssued => format!(
            "The certificate order for {}{for_ca} was issued.",
            alert.domain
        ),
        AlertKind::Test => "This is a test alert sent by `certvigil alert test`.".to_string(),
    }
}

fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let ago = now - t;
    let stamp = t.format("%Y-%m-%d %H:%M:%S UTC");
    if ago.num_minutes() >= 1 {
        let rounded = chrono::Duration::minutes(ago.num_minutes());
        format!("{stamp} ({} ago)", super::policy::human(rounded))
    } else {
        stamp.to_string()
    }
}

/// Indented lines; control characters within a line (ESC, CR) escaped.
/// Line breaks are the renderer's: the checks escape outside data before
/// it reaches a reason or a record list.
fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {}", certvigil_core::redact::escape_controls(l)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The full plain-text body (email; chat formats use it too).
pub fn body(alert: &Alert) -> String {
    let mut out = String::new();
    out.push_str(&certvigil_core::redact::escape_controls(&alert.summary));
    out.push_str("\n\n");
    out.push_str(&what_happened(alert));
    out.push_str("\n\n");
    let mut field = |k: &str, v: &str| {
        if !v.is_empty() {
            let v = certvigil_core::redact::escape_controls(v);
            out.push_str(&format!("{k:<12}{v}\n"));
        }
    };
    field("Domain:", &alert.domain);
    field("CA:", &alert.ca);
    field("Check:", &alert.check);
    field("Severity:", alert.severity.as_str());
    field("Event:", alert.kind.as_str());
    field("First seen:", &when(alert.first_seen, alert.at));
    field(
        "Alerted:",
        &alert.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    );

    if let Some(d) = &alert.damped {
        out.push_str(&format!("\nFlapping: {}\n", d.note));
    }
    let (why_title, is_problem) = match alert.kind {
        AlertKind::Resolved | AlertKind::OrderIssued | AlertKind::Test => ("Why", false),
        _ if alert.severity == super::Severity::Info => ("Why", false),
        _ => ("Why it blocks", true),
    };
    if !alert.reason.is_empty() {
        out.push_str(&format!("\n{why_title}:\n{}\n", indent(&alert.reason)));
    }
    if !alert.before_text.is_empty() || !alert.after_text.is_empty() {
        let before = if alert.before_text.is_empty() {
            "(not seen before)"
        } else {
            &alert.before_text
        };
        out.push_str(&format!(
            "\nBefore:\n{}\nAfter:\n{}\n",
            indent(before),
            indent(&alert.after_text)
        ));
    }
    match &alert.remedy {
        Some(remedy) if is_problem => {
            out.push_str(&format!("\nHow to fix it:\n{}\n", indent(remedy)));
        }
        _ => {}
    }
    if alert.kind != AlertKind::Test {
        out.push_str(&format!(
            "\nSee more:\n  certvigil history {}\n  certvigil check {}\n",
            alert.domain, alert.domain
        ));
    }
    out.push_str(&format!("\n-- \ncertvigil alert {}\n", alert.id));
    out
}

/// A short form for chat messages: subject, the first lines that matter, and
/// the history command. Chat services cap message sizes, and a wall of text
/// in a group chat gets ignored.
pub fn short(alert: &Alert) -> String {
    let mut out = format!("{}\n{}", subject(alert), what_happened(alert));
    if let Some(d) = &alert.damped {
        out.push_str(&format!("\nFlapping: {}", d.note));
    }
    if !alert.reason.is_empty() {
        out.push_str(&format!("\nWhy: {}", alert.reason));
    }
    if !alert.after_text.is_empty() {
        out.push_str(&format!(
            "\nBefore:\n{}\nAfter:\n{}",
            indent(if alert.before_text.is_empty() {
                "(not seen before)"
            } else {
                &alert.before_text
            }),
            indent(&alert.after_text)
        ));
    }
    if let Some(remedy) = &alert.remedy
        && !matches!(alert.kind, AlertKind::Resolved | AlertKind::OrderIssued)
    {
        out.push_str(&format!("\nFix: {remedy}"));
    }
    out.push_str(&format!(
        "\nFirst seen: {}",
        alert.first_seen.format("%Y-%m-%d %H:%M UTC")
    ));
    if alert.check == "order" {
        out.push_str("\nMore: certvigil orders list");
    } else if alert.kind != AlertKind::Test {
        out.push_str(&format!("\nMore: certvigil history {}", alert.domain));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Damping, Severity};

    fn drift() -> Alert {
        let at = DateTime::parse_from_rfc3339("2026-11-24T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Alert {
            id: "abc".into(),
            kind: AlertKind::CaaDrift,
            domain: "example.com".into(),
            ca: "Sectigo".into(),
            check: "caa".into(),
            severity: Severity::Blocking,
            summary: "CAA at example.com now forbids Sectigo".into(),
            reason: "The records no longer authorize Sectigo.".into(),
            before: serde_json::Value::Null,
            after: serde_json::Value::Null,
            before_text: "example.com. CAA 0 issue \"sectigo.com\"".into(),
            after_text: "example.com. CAA 0 issue \"letsencrypt.org\"".into(),
            remedy: Some("Add: example.com. CAA 0 issue \"sectigo.com\"".into()),
            first_seen: at - chrono::Duration::minutes(90),
            at,
            damped: None,
            event_id: None,
        }
    }

    #[test]
    fn control_characters_never_reach_subject_or_body_raw() {
        let evil = Alert {
            summary: "CAA at example.com: tag x\u{1b}[31m\n FORGED: all ok".into(),
            reason: "a\u{1b}b\r\nc".into(),
            ca: "X\nFORGED: all ok".into(),
            ..drift()
        };
        let s = subject(&evil);
        assert!(!s.contains(['\u{1b}', '\n', '\r']), "{s:?}");
        let b = body(&evil);
        assert!(!b.contains(['\u{1b}', '\r']), "{b:?}");
        assert!(
            !b.lines().any(|l| l.trim_start().starts_with("FORGED")),
            "{b}"
        );
    }

    #[test]
    fn subject_says_what_where_and_which_ca() {
        assert_eq!(
            subject(&drift()),
            "[certvigil] CAA at example.com now forbids Sectigo"
        );
        let damped = Alert {
            damped: Some(Damping {
                changes: 3,
                window_secs: 3600,
                note: "n".into(),
            }),
            ..drift()
        };
        assert!(subject(&damped).ends_with("(flapping)"));
    }

    #[test]
    fn body_has_everything_to_act_on() {
        let b = body(&drift());
        for needle in [
            "The CAA record set that decides for example.com changed.",
            "Why it blocks:\n  The records no longer authorize Sectigo.",
            "Before:\n  example.com. CAA 0 issue \"sectigo.com\"",
            "After:\n  example.com. CAA 0 issue \"letsencrypt.org\"",
            "How to fix it:\n  Add: example.com. CAA 0 issue \"sectigo.com\"",
            "First seen: 2026-11-24 01:30:00 UTC (1h 30m ago)",
            "certvigil history example.com",
        ] {
            assert!(b.contains(needle), "missing {needle:?} in\n{b}");
        }
    }

    #[test]
    fn resolved_bodies_offer_no_fix() {
        let a = Alert {
            kind: AlertKind::Resolved,
            severity: Severity::Info,
            ..drift()
        };
        let b = body(&a);
        assert!(!b.contains("How to fix it"), "{b}");
        assert!(b.contains("has ended"), "{b}");
        assert!(!short(&a).contains("Fix:"));
    }
}
