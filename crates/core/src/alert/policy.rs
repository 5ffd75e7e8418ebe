//! When to alert: a pure function of what was remembered and what was just
//! observed. No I/O, no clock (the caller passes `now`), so every rule below
//! has a unit test.
//!
//! The daemon keeps one [`TrackMemory`] per (target, CA, check), stores it
//! (it is plain serde data, e.g. a JSON column), and on every check calls
//! [`decide`] with it and the new [`Observation`]. It writes the returned
//! memory back and enqueues the returned alerts in the same transaction.
//! For CAA it also keeps one [`CaaRrset`] per target and calls
//! [`decide_drift`], then [`merge_drift`] so that one DNS change produces
//! one message.
//!
//! The rules (issue #4):
//! - Alerts come from changes of state, not from checks: `blocking` when a
//!   blocking state begins, `resolved` when an alerted one ends, `reminder`
//!   every `reminder` while it lasts.
//! - A lookup error is not a state of its own: it keeps the previous state
//!   until it has lasted `error_threshold` consecutive checks, then it is
//!   blocking (a CA refuses on a failed CAA lookup, BR §3.2.2.8). An error is
//!   never "recovered": `resolved` needs a good answer.
//! - The very first check of a new target alerts only if it is blocking.
//! - Flapping: when the state has changed `flap_changes` times within
//!   `flap_window`, that change is alerted with a note saying so, and further
//!   changes are held back until the state has held for `settle_after`; then
//!   one alert says how it settled (if that differs from what was last said).
//!   Reminders go on meanwhile, so a long flap is never silent.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Alert, AlertKind, Damping, Severity, new_alert_id};
use crate::checks::caa::CaaRecord;

/// The knobs of the policy; [`Default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    /// `alerts.reminder`: repeat a blocking alert this often while it
    /// lasts; `None` (`reminder = "off"`) never repeats.
    pub reminder: Option<Duration>,
    /// `alerts.error_threshold`: consecutive failed lookups that make a
    /// blocking state (at least 1).
    pub error_threshold: u32,
    /// Changes within this window count towards flapping.
    pub flap_window: Duration,
    /// This many changes within `flap_window` is flapping (at least 2).
    pub flap_changes: u32,
    /// While flapping, changes are held back until the state holds this long.
    pub settle_after: Duration,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            reminder: Some(Duration::hours(24)),
            error_threshold: 3,
            flap_window: Duration::hours(6),
            flap_changes: 3,
            settle_after: Duration::hours(1),
        }
    }
}

impl PolicyConfig {
    /// The policy `[alerts]` asks for (`reminder`, `error_threshold`; the
    /// config's `AlertsConfig::policy` calls this); flap damping keeps its
    /// defaults.
    pub fn from_alerts(reminder: Option<std::time::Duration>, error_threshold: u32) -> Self {
        Self {
            reminder: reminder.map(|d| Duration::from_std(d).unwrap_or(Duration::MAX)),
            error_threshold: error_threshold.max(1),
            ..Self::default()
        }
    }
}

impl PolicyConfig {
    /// Flap damping as `[alerts]` sets it (`flap_window`, `flap_changes`,
    /// `settle_after`). `flap_changes` below 2 would damp the first change.
    pub fn with_damping(
        mut self,
        flap_window: std::time::Duration,
        flap_changes: u32,
        settle_after: std::time::Duration,
    ) -> Self {
        self.flap_window = Duration::from_std(flap_window).unwrap_or(Duration::MAX);
        self.flap_changes = flap_changes.max(2);
        self.settle_after = Duration::from_std(settle_after).unwrap_or(Duration::MAX);
        self
    }
}

/// What a check found, as far as alerting cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Nothing stands in the way of issuance.
    Ok,
    /// Issuance would be refused or held (CAA forbids the CA, ...).
    Blocking,
    /// The check could not find out (lookup failed). Counted, see module docs.
    Error,
}

/// One check result for one (target, CA, check), in words ready for people.
/// Check modules build it (see [`super::caa::observation`] for CAA).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub status: CheckStatus,
    /// How bad `Blocking` is: `Blocking` for a refusal, `Warning` for e.g.
    /// "manual review likely". Ignored for `Ok`.
    pub severity: Severity,
    /// The state, present tense: "CAA at example.com forbids Sectigo".
    pub summary: String,
    /// The same as news, for when this state begins: "CAA at example.com now
    /// forbids Sectigo", "CAA at example.com allows Sectigo again".
    pub change: String,
    /// Why (the judge's reason).
    pub reason: String,
    pub remedy: Option<String>,
    /// Machine-readable state (e.g. the CAA verdict as JSON).
    pub detail: serde_json::Value,
    /// The same for people (e.g. the records, one per line).
    pub detail_text: String,
}

/// What is being tracked, for the alert's header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Certificate name for display (Unicode, `*.` for wildcards).
    pub domain: String,
    /// CA display name.
    pub ca: String,
    /// Check name (`caa`, ...).
    pub check: String,
}

/// The state after damping errors: what recipients should believe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Ok,
    Blocking,
}

/// What the recipients were last told about this track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Told {
    /// Nothing, or that it is fine.
    #[default]
    Ok,
    Blocking {
        first_seen: DateTime<Utc>,
        last_sent: DateTime<Utc>,
    },
}

/// A previous observation, kept for the "before" half of the next alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub detail: serde_json::Value,
    pub detail_text: String,
}

/// Everything the policy remembers about one (target, CA, check). Starts as
/// `TrackMemory::default()` for a new target; the daemon stores it opaquely.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrackMemory {
    /// `None` until the first conclusive observation.
    pub condition: Option<Condition>,
    pub condition_since: Option<DateTime<Utc>>,
    pub consecutive_errors: u32,
    /// When the current run of errors began.
    pub errors_since: Option<DateTime<Utc>>,
    pub told: Told,
    /// Times of condition changes within `flap_window`, oldest first.
    pub changes: Vec<DateTime<Utc>>,
    /// Set while flapping is being damped.
    pub damping_since: Option<DateTime<Utc>>,
    pub previous: Option<Snapshot>,
}

/// The policy's answer: alerts to enqueue and the memory to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub alerts: Vec<Alert>,
    pub memory: TrackMemory,
}

/// Applies the rules in the module docs to one new observation.
pub fn decide(
    memory: &TrackMemory,
    obs: &Observation,
    subject: &Subject,
    cfg: &PolicyConfig,
    now: DateTime<Utc>,
) -> Decision {
    let mut m = memory.clone();
    let before = m.previous.clone();
    let old = m.condition;

    let new = match obs.status {
        CheckStatus::Ok | CheckStatus::Blocking => {
            m.consecutive_errors = 0;
            m.errors_since = None;
            Some(if obs.status == CheckStatus::Ok {
                Condition::Ok
            } else {
                Condition::Blocking
            })
        }
        CheckStatus::Error => {
            m.consecutive_errors = m.consecutive_errors.saturating_add(1);
            let since = *m.errors_since.get_or_insert(now);
            if m.consecutive_errors >= cfg.error_threshold.max(1) {
                if old != Some(Condition::Blocking) {
                    // The blocking state began with the first error, not
                    // with the one that crossed the threshold.
                    m.condition_since = Some(since);
                }
                Some(Condition::Blocking)
            } else {
                old
            }
        }
    };
    // A sub-threshold error says nothing about the state; keep the last
    // conclusive snapshot as the "before" of the next alert.
    let conclusive = obs.status != CheckStatus::Error || new == Some(Condition::Blocking);
    if conclusive {
        m.previous = Some(Snapshot {
            detail: obs.detail.clone(),
            detail_text: obs.detail_text.clone(),
        });
    }

    // A new target that turns out fine is not a change anyone needs to hear of.
    let changed = new != old && !(old.is_none() && new == Some(Condition::Ok));
    if new != old {
        m.condition = new;
        if obs.status != CheckStatus::Error {
            m.condition_since = Some(now);
        }
    }
    if changed {
        m.changes.push(now);
    }
    let horizon = now - cfg.flap_window;
    m.changes.retain(|t| *t > horizon);

    let ctx = Ctx {
        obs,
        subject,
        now,
        before: before.as_ref(),
    };
    let mut alerts = Vec::new();
    let current = m.condition.unwrap_or(Condition::Ok);
    if changed {
        if m.damping_since.is_some() {
            // Held back: the settle rule below speaks once it is stable.
        } else if m.changes.len() as u32 >= cfg.flap_changes.max(2) {
            m.damping_since = Some(now);
            let note = format!(
                "This state has changed {} times in the last {}; further changes are held back \
                 until it holds for {}.",
                m.changes.len(),
                human(cfg.flap_window),
                human(cfg.settle_after)
            );
            let d = damping(&m, cfg, note);
            alerts.extend(tell(&mut m, current, &ctx, Some(d)));
        } else {
            alerts.extend(tell(&mut m, current, &ctx, None));
        }
    } else if m.damping_since.is_some()
        && m.condition_since
            .is_some_and(|s| now - s >= cfg.settle_after)
    {
        m.damping_since = None;
        let note = format!(
            "It changed {} times in the last {} and has now held for {}; this is where it \
             settled.",
            m.changes.len(),
            human(cfg.flap_window),
            human(cfg.settle_after)
        );
        let d = damping(&m, cfg, note);
        alerts.extend(tell(&mut m, current, &ctx, Some(d)));
    }

    if alerts.is_empty()
        && current == Condition::Blocking
        && let Told::Blocking {
            first_seen,
            last_sent,
        } = m.told
        && cfg.reminder.is_some_and(|every| now - last_sent >= every)
    {
        m.told = Told::Blocking {
            first_seen,
            last_sent: now,
        };
        let damped = m.damping_since.map(|_| {
            let note = format!(
                "It is still changing back and forth ({} changes in the last {}).",
                m.changes.len(),
                human(cfg.flap_window)
            );
            damping(&m, cfg, note)
        });
        let summary = format!(
            "Still blocking since {}: {}",
            first_seen.format("%Y-%m-%d %H:%M UTC"),
            obs.summary
        );
        alerts.push(ctx.alert(AlertKind::Reminder, summary, first_seen, damped));
    }

    Decision { alerts, memory: m }
}

struct Ctx<'a> {
    obs: &'a Observation,
    subject: &'a Subject,
    now: DateTime<Utc>,
    before: Option<&'a Snapshot>,
}

impl Ctx<'_> {
    fn alert(
        &self,
        kind: AlertKind,
        summary: String,
        first_seen: DateTime<Utc>,
        damped: Option<Damping>,
    ) -> Alert {
        let severity = match kind {
            AlertKind::Resolved => Severity::Info,
            _ => self.obs.severity,
        };
        Alert {
            id: new_alert_id(),
            kind,
            domain: self.subject.domain.clone(),
            ca: self.subject.ca.clone(),
            check: self.subject.check.clone(),
            severity,
            summary,
            reason: self.obs.reason.clone(),
            before: self
                .before
                .map_or(serde_json::Value::Null, |b| b.detail.clone()),
            after: self.obs.detail.clone(),
            before_text: self
                .before
                .map_or_else(String::new, |b| b.detail_text.clone()),
            after_text: self.obs.detail_text.clone(),
            remedy: self.obs.remedy.clone(),
            first_seen,
            at: self.now,
            damped,
            event_id: None,
        }
    }
}

/// Tells recipients the current condition if it differs from what they were
/// last told, and records that it was told.
fn tell(
    m: &mut TrackMemory,
    current: Condition,
    ctx: &Ctx<'_>,
    damped: Option<Damping>,
) -> Option<Alert> {
    match (current, m.told) {
        (Condition::Blocking, Told::Ok) => {
            let first_seen = m.condition_since.unwrap_or(ctx.now);
            m.told = Told::Blocking {
                first_seen,
                last_sent: ctx.now,
            };
            let mut summary = ctx.obs.change.clone();
            if ctx.obs.status == CheckStatus::Error {
                summary = format!("{summary} ({} checks in a row)", m.consecutive_errors);
            }
            Some(ctx.alert(AlertKind::Blocking, summary, first_seen, damped))
        }
        (Condition::Ok, Told::Blocking { first_seen, .. }) => {
            m.told = Told::Ok;
            Some(ctx.alert(
                AlertKind::Resolved,
                ctx.obs.change.clone(),
                first_seen,
                damped,
            ))
        }
        _ => None,
    }
}

fn damping(m: &TrackMemory, cfg: &PolicyConfig, note: String) -> Damping {
    Damping {
        changes: m.changes.len() as u32,
        window_secs: cfg.flap_window.num_seconds().max(0) as u64,
        note,
    }
}

/// "6h", "1h 30m": durations as people read them in an alert.
pub fn human(d: Duration) -> String {
    humantime::format_duration(d.to_std().unwrap_or_default()).to_string()
}

/// The relevant CAA record set of one target, compared for drift. Records
/// are kept sorted so that a reordered answer is not a change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaaRrset {
    /// Where the records were found; `None` when no name up to the TLD has
    /// CAA records.
    pub relevant_name: Option<String>,
    pub records: Vec<CaaRecord>,
}

impl CaaRrset {
    pub fn new(relevant_name: Option<String>, mut records: Vec<CaaRecord>) -> Self {
        records.sort_by(|a, b| (a.flags, &a.tag, &a.value).cmp(&(b.flags, &b.tag, &b.value)));
        Self {
            relevant_name,
            records,
        }
    }

    /// For receivers (the webhook's `before`/`after`): the record values
    /// as text, as `certvigil check --format json` shows them.
    pub fn to_json(&self) -> serde_json::Value {
        let records: Vec<crate::report::RecordView> = self.records.iter().map(Into::into).collect();
        serde_json::json!({ "relevant_name": self.relevant_name, "records": records })
    }

    /// One record a line, in zone-file form, or a sentence when there are none.
    pub fn to_text(&self) -> String {
        match &self.relevant_name {
            None => "(no CAA records at this name or any parent: every CA may issue)".into(),
            Some(name) => self
                .records
                .iter()
                .map(|r| {
                    format!(
                        "{name}. CAA {} {} \"{}\"",
                        r.flags,
                        crate::redact::escape_controls(&r.tag),
                        r.value_lossy().escape_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// How one configured CA fares under the new record set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaUnderRrset {
    pub ca: String,
    pub forbidden: bool,
}

/// `caa_drift`: the relevant record set of `domain` changed. `previous` is
/// the last set seen by a successful lookup (`None` for a new target, which
/// is not drift); call only with sets from successful lookups. Severity is
/// blocking when the new set forbids a configured CA, info otherwise.
pub fn decide_drift(
    previous: Option<&CaaRrset>,
    current: &CaaRrset,
    domain: &str,
    cas: &[CaUnderRrset],
    now: DateTime<Utc>,
) -> Option<Alert> {
    let previous = previous?;
    if previous == current {
        return None;
    }
    let forbidden: Vec<&str> = cas
        .iter()
        .filter(|c| c.forbidden)
        .map(|c| c.ca.as_str())
        .collect();
    let allowed: Vec<&str> = cas
        .iter()
        .filter(|c| !c.forbidden)
        .map(|c| c.ca.as_str())
        .collect();
    let (severity, summary, reason) = if forbidden.is_empty() {
        (
            Severity::Info,
            format!(
                "CAA at {domain} changed; it still allows {}",
                list_or(&allowed, "every configured CA")
            ),
            format!(
                "The CAA records that decide for {domain} changed. Every configured CA ({}) is \
                 still authorized, so nothing blocks issuance; this is for the record.",
                allowed.join(", ")
            ),
        )
    } else {
        (
            Severity::Blocking,
            format!("CAA at {domain} now forbids {}", forbidden.join(", ")),
            format!(
                "The CAA records that decide for {domain} changed, and no longer authorize {}. \
                 A CA must check CAA right before issuing (RFC 8659), so it will refuse.",
                forbidden.join(", ")
            ),
        )
    };
    Some(Alert {
        id: new_alert_id(),
        kind: AlertKind::CaaDrift,
        domain: domain.to_string(),
        ca: forbidden.join(", "),
        check: "caa".into(),
        severity,
        summary,
        reason,
        before: previous.to_json(),
        after: current.to_json(),
        before_text: previous.to_text(),
        after_text: current.to_text(),
        remedy: None,
        first_seen: now,
        at: now,
        damped: None,
        event_id: None,
    })
}

fn list_or(items: &[&str], empty: &str) -> String {
    if items.is_empty() {
        empty.to_string()
    } else {
        items.join(", ")
    }
}

/// One DNS change, one message: when a drift coincides with CAA state alerts
/// for the same domain (the change that made it blocking, resolved it, or a
/// reminder), the drift alert carries them and they are dropped. The drift
/// takes the remedy and damping note of what it absorbed, and says in its
/// reason that a blocking state began or ended. Other alerts pass through.
///
/// The exception: a drift that forbids no configured CA and comes with
/// `resolved` alerts is the one absorbed. Those alerts already carry the
/// records before and after, and receivers that track incidents close them
/// on `resolved`, which a `caa_drift` of severity info would not tell them.
pub fn merge_drift(drift: Option<Alert>, state_alerts: Vec<Alert>) -> Vec<Alert> {
    let Some(mut drift) = drift else {
        return state_alerts;
    };
    let resolves = |a: &Alert| {
        a.kind == AlertKind::Resolved && a.check == drift.check && a.domain == drift.domain
    };
    if drift.severity != Severity::Blocking && state_alerts.iter().any(resolves) {
        return state_alerts;
    }
    let mut out = Vec::new();
    for a in state_alerts {
        if a.check != drift.check || a.domain != drift.domain {
            out.push(a);
            continue;
        }
        match a.kind {
            AlertKind::Blocking => {
                drift.reason.push_str(&format!(
                    " A blocking state for {} begins now; reminders follow every so often \
                     until it is fixed.",
                    a.ca
                ));
                drift.severity = drift.severity.max(a.severity);
            }
            AlertKind::Resolved => {
                drift.reason.push_str(&format!(
                    " This ends the blocking state for {} first seen {}.",
                    a.ca,
                    a.first_seen.format("%Y-%m-%d %H:%M UTC")
                ));
            }
            _ => {}
        }
        if drift.remedy.is_none() {
            drift.remedy = a.remedy.clone();
        }
        if drift.damped.is_none() {
            drift.damped = a.damped.clone();
        }
        if a.first_seen < drift.first_seen && a.kind != AlertKind::Resolved {
            drift.first_seen = a.first_seen;
        }
    }
    out.insert(0, drift);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::minutes(min)
    }

    fn obs(status: CheckStatus) -> Observation {
        let (summary, change) = match status {
            CheckStatus::Ok => ("CAA allows X", "CAA allows X again"),
            CheckStatus::Blocking => ("CAA forbids X", "CAA now forbids X"),
            CheckStatus::Error => ("CAA lookup failed", "CAA lookup keeps failing"),
        };
        Observation {
            status,
            severity: Severity::Blocking,
            summary: summary.into(),
            change: change.into(),
            reason: "because".into(),
            remedy: Some("fix it".into()),
            detail: serde_json::json!({ "status": format!("{status:?}") }),
            detail_text: format!("{status:?}"),
        }
    }

    fn subject() -> Subject {
        Subject {
            domain: "example.com".into(),
            ca: "X".into(),
            check: "caa".into(),
        }
    }

    /// Feeds a sequence of (minute, status) and returns the kinds alerted at
    /// each step, plus the final memory.
    fn run(
        cfg: &PolicyConfig,
        steps: &[(i64, CheckStatus)],
    ) -> (Vec<Vec<(AlertKind, bool)>>, TrackMemory) {
        let mut m = TrackMemory::default();
        let mut out = Vec::new();
        for (min, s) in steps {
            let d = decide(&m, &obs(*s), &subject(), cfg, t(*min));
            out.push(
                d.alerts
                    .iter()
                    .map(|a| (a.kind, a.damped.is_some()))
                    .collect(),
            );
            m = d.memory;
        }
        (out, m)
    }

    use AlertKind::*;
    use CheckStatus::{Blocking as B, Error as E, Ok as O};

    #[test]
    fn first_check_alerts_only_when_blocking() {
        let cfg = PolicyConfig::default();
        assert_eq!(run(&cfg, &[(0, O)]).0, vec![vec![]]);
        assert_eq!(run(&cfg, &[(0, B)]).0, vec![vec![(Blocking, false)]]);
        // A first error below the threshold is not blocking yet.
        assert_eq!(run(&cfg, &[(0, E)]).0, vec![vec![]]);
    }

    #[test]
    fn checks_without_change_do_not_alert() {
        let cfg = PolicyConfig::default();
        let (a, _) = run(&cfg, &[(0, O), (15, O), (30, B), (45, B), (60, B)]);
        assert_eq!(
            a,
            vec![vec![], vec![], vec![(Blocking, false)], vec![], vec![]]
        );
    }

    #[test]
    fn blocking_then_ok_resolves_with_first_seen_and_before_after() {
        let cfg = PolicyConfig::default();
        let m0 = TrackMemory::default();
        let d1 = decide(&m0, &obs(O), &subject(), &cfg, t(0));
        let d2 = decide(&d1.memory, &obs(B), &subject(), &cfg, t(15));
        let blocking = &d2.alerts[0];
        assert_eq!(blocking.summary, "CAA now forbids X");
        assert_eq!(blocking.before_text, "Ok");
        assert_eq!(blocking.after_text, "Blocking");
        assert_eq!(blocking.first_seen, t(15));
        assert_eq!(blocking.severity, Severity::Blocking);
        let d3 = decide(&d2.memory, &obs(O), &subject(), &cfg, t(30));
        assert_eq!(d3.alerts.len(), 1);
        let resolved = &d3.alerts[0];
        assert_eq!(resolved.kind, Resolved);
        assert_eq!(resolved.severity, Severity::Info);
        assert_eq!(resolved.first_seen, t(15));
        assert_eq!(resolved.before_text, "Blocking");
    }

    #[test]
    fn errors_block_only_after_the_threshold_and_date_from_the_first() {
        let cfg = PolicyConfig {
            error_threshold: 3,
            ..Default::default()
        };
        let (a, m) = run(&cfg, &[(0, O), (15, E), (30, E), (45, E), (60, E)]);
        assert_eq!(
            a,
            vec![vec![], vec![], vec![], vec![(Blocking, false)], vec![]]
        );
        assert_eq!(
            m.told,
            Told::Blocking {
                first_seen: t(15),
                last_sent: t(45)
            }
        );
    }

    #[test]
    fn an_error_run_shorter_than_the_threshold_is_silent_both_ways() {
        let cfg = PolicyConfig::default();
        let (a, _) = run(&cfg, &[(0, O), (15, E), (30, E), (45, O)]);
        assert!(a.iter().all(Vec::is_empty), "{a:?}");
    }

    #[test]
    fn an_error_is_not_recovery() {
        // Blocking, then errors: still blocking, no resolved; then OK resolves.
        let cfg = PolicyConfig::default();
        let (a, _) = run(&cfg, &[(0, B), (15, E), (30, E), (45, E), (60, O)]);
        assert_eq!(
            a,
            vec![
                vec![(Blocking, false)],
                vec![],
                vec![],
                vec![],
                vec![(Resolved, false)]
            ]
        );
    }

    #[test]
    fn error_summary_counts_the_checks() {
        let cfg = PolicyConfig {
            error_threshold: 2,
            ..Default::default()
        };
        let m = decide(&TrackMemory::default(), &obs(E), &subject(), &cfg, t(0)).memory;
        let d = decide(&m, &obs(E), &subject(), &cfg, t(15));
        assert_eq!(
            d.alerts[0].summary,
            "CAA lookup keeps failing (2 checks in a row)"
        );
    }

    #[test]
    fn reminders_repeat_while_blocking_and_stop_when_resolved() {
        let cfg = PolicyConfig {
            reminder: Some(Duration::hours(1)),
            ..Default::default()
        };
        let (a, _) = run(
            &cfg,
            &[
                (0, B),
                (30, B),
                (60, B),
                (90, B),
                (120, B),
                (130, O),
                (200, O),
            ],
        );
        assert_eq!(
            a,
            vec![
                vec![(Blocking, false)],
                vec![],
                vec![(Reminder, false)],
                vec![],
                vec![(Reminder, false)],
                vec![(Resolved, false)],
                vec![],
            ]
        );
    }

    #[test]
    fn reminders_can_be_off() {
        let cfg = PolicyConfig {
            reminder: None,
            ..Default::default()
        };
        let (a, _) = run(&cfg, &[(0, B), (100_000, B)]);
        assert_eq!(a, vec![vec![(Blocking, false)], vec![]]);
    }

    #[test]
    fn reminder_says_since_when() {
        let cfg = PolicyConfig {
            reminder: Some(Duration::hours(1)),
            ..Default::default()
        };
        let m = decide(&TrackMemory::default(), &obs(B), &subject(), &cfg, t(0)).memory;
        let d = decide(&m, &obs(B), &subject(), &cfg, t(60));
        assert_eq!(
            d.alerts[0].summary,
            "Still blocking since 2026-11-24 00:00 UTC: CAA forbids X"
        );
        assert_eq!(d.alerts[0].first_seen, t(0));
    }

    #[test]
    fn flapping_is_damped_and_said_then_settles_once() {
        let cfg = PolicyConfig {
            flap_window: Duration::hours(6),
            flap_changes: 3,
            settle_after: Duration::hours(1),
            ..Default::default()
        };
        let (a, m) = run(
            &cfg,
            &[
                (0, O),
                (15, B),  // change 1: alert
                (30, O),  // change 2: resolved
                (45, B),  // change 3: flapping: alerted, damped
                (60, O),  // held back
                (75, B),  // held back
                (90, O),  // held back
                (120, O), // not settled yet (30 min)
                (150, O), // settled (60 min): resolved, damped note
                (165, O),
            ],
        );
        assert_eq!(
            a,
            vec![
                vec![],
                vec![(Blocking, false)],
                vec![(Resolved, false)],
                vec![(Blocking, true)],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![(Resolved, true)],
                vec![],
            ]
        );
        assert_eq!(m.damping_since, None);
        assert_eq!(m.told, Told::Ok);
    }

    /// Issue 11: allowed -> forbidden -> allowed -> errors -> recovered left
    /// an incident open for an hour. The `resolved` is held back while the
    /// state flaps, but never longer than the configured `settle_after`.
    #[test]
    fn a_held_back_resolved_comes_when_settle_after_has_passed() {
        let cfg = PolicyConfig::default().with_damping(
            std::time::Duration::from_secs(6 * 3600),
            3,
            std::time::Duration::from_secs(600),
        );
        let mut steps = vec![(0, O), (1, B), (2, O), (3, E), (4, E), (5, E), (6, O)];
        steps.extend((7..=30).map(|m| (m, O)));
        let (a, m) = run(&cfg, &steps);
        assert_eq!(a[1], vec![(Blocking, false)]);
        assert_eq!(a[2], vec![(Resolved, false)]);
        // The third change (errors past the threshold) starts the damping.
        assert_eq!(a[5], vec![(Blocking, true)]);
        // Recovered at minute 6: held back until it has held for 10 minutes.
        for (i, (min, _)) in steps.iter().enumerate().skip(6) {
            let expected = if *min == 16 {
                vec![(Resolved, true)]
            } else {
                vec![]
            };
            assert_eq!(a[i], expected, "minute {min}");
        }
        assert_eq!(m.damping_since, None);
    }

    #[test]
    fn damped_alert_says_it_is_flapping() {
        let cfg = PolicyConfig::default();
        let mut m = TrackMemory::default();
        let mut last = vec![];
        for (i, s) in [B, O, B].into_iter().enumerate() {
            let d = decide(&m, &obs(s), &subject(), &cfg, t(i as i64 * 15));
            m = d.memory;
            last = d.alerts;
        }
        let damped = last[0].damped.as_ref().unwrap();
        assert_eq!(damped.changes, 3);
        assert!(
            damped.note.contains("changed 3 times in the last 6h"),
            "{}",
            damped.note
        );
        assert!(
            damped.note.contains("until it holds for 1h"),
            "{}",
            damped.note
        );
    }

    #[test]
    fn settling_where_recipients_already_are_is_silent() {
        let cfg = PolicyConfig::default();
        // B(alert) O(resolved) B(damped blocking) O B ... settles as B.
        let (a, m) = run(
            &cfg,
            &[(0, B), (10, O), (20, B), (30, O), (40, B), (110, B)],
        );
        assert_eq!(a[5], vec![], "{a:?}");
        assert_eq!(m.damping_since, None);
        assert!(matches!(m.told, Told::Blocking { .. }));
    }

    #[test]
    fn changes_outside_the_window_are_not_flapping() {
        let cfg = PolicyConfig::default(); // 3 changes in 6h
        let (a, _) = run(&cfg, &[(0, B), (400, O), (800, B), (1200, O)]);
        assert!(a.iter().flatten().all(|(_, damped)| !damped), "{a:?}");
        assert_eq!(a.iter().flatten().count(), 4);
    }

    #[test]
    fn reminders_continue_while_flapping() {
        let cfg = PolicyConfig {
            reminder: Some(Duration::hours(1)),
            settle_after: Duration::hours(5),
            ..Default::default()
        };
        let (a, _) = run(&cfg, &[(0, B), (10, O), (20, B), (30, O), (40, B), (85, B)]);
        assert_eq!(a[5], vec![(Reminder, true)], "{a:?}");
    }

    #[test]
    fn memory_round_trips_through_json() {
        let cfg = PolicyConfig::default();
        let (_, m) = run(&cfg, &[(0, B), (10, E)]);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<TrackMemory>(&json).unwrap(), m);
    }

    fn rrset(values: &[&str]) -> CaaRrset {
        CaaRrset::new(
            Some("example.com".into()),
            values
                .iter()
                .map(|v| CaaRecord::new(0, "issue", v))
                .collect(),
        )
    }

    #[test]
    fn drift_needs_a_previous_set_and_a_real_change() {
        let cas = [CaUnderRrset {
            ca: "Sectigo".into(),
            forbidden: false,
        }];
        let a = rrset(&["sectigo.com", "letsencrypt.org"]);
        let reordered = rrset(&["letsencrypt.org", "sectigo.com"]);
        assert!(decide_drift(None, &a, "example.com", &cas, t(0)).is_none());
        assert!(decide_drift(Some(&a), &reordered, "example.com", &cas, t(0)).is_none());
        let info = decide_drift(
            Some(&a),
            &rrset(&["sectigo.com"]),
            "example.com",
            &cas,
            t(0),
        )
        .unwrap();
        assert_eq!(info.severity, Severity::Info);
        assert_eq!(
            info.summary,
            "CAA at example.com changed; it still allows Sectigo"
        );
        assert_eq!(info.after_text, "example.com. CAA 0 issue \"sectigo.com\"");
    }

    #[test]
    fn drift_that_forbids_a_configured_ca_is_blocking() {
        let cas = [
            CaUnderRrset {
                ca: "Sectigo".into(),
                forbidden: true,
            },
            CaUnderRrset {
                ca: "Let's Encrypt".into(),
                forbidden: false,
            },
        ];
        let d = decide_drift(
            Some(&rrset(&["sectigo.com"])),
            &rrset(&["letsencrypt.org"]),
            "example.com",
            &cas,
            t(0),
        )
        .unwrap();
        assert_eq!(d.kind, CaaDrift);
        assert_eq!(d.severity, Severity::Blocking);
        assert_eq!(d.summary, "CAA at example.com now forbids Sectigo");
        assert_eq!(d.ca, "Sectigo");
        assert_eq!(d.before_text, "example.com. CAA 0 issue \"sectigo.com\"");
        let none = decide_drift(
            Some(&rrset(&["sectigo.com"])),
            &CaaRrset::new(None, vec![]),
            "example.com",
            &cas[1..],
            t(0),
        )
        .unwrap();
        assert!(
            none.after_text.contains("no CAA records"),
            "{}",
            none.after_text
        );
    }

    #[test]
    fn a_drift_absorbs_the_state_alerts_it_caused() {
        let cfg = PolicyConfig::default();
        let m = decide(&TrackMemory::default(), &obs(O), &subject(), &cfg, t(0)).memory;
        let state = decide(&m, &obs(B), &subject(), &cfg, t(15)).alerts;
        let other = Alert {
            domain: "other.example".into(),
            ..state[0].clone()
        };
        let drift = decide_drift(
            Some(&rrset(&["x.example"])),
            &rrset(&["y.example"]),
            "example.com",
            &[CaUnderRrset {
                ca: "X".into(),
                forbidden: true,
            }],
            t(15),
        );
        let merged = merge_drift(drift, vec![state[0].clone(), other.clone()]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].kind, CaaDrift);
        assert!(
            merged[0]
                .reason
                .contains("A blocking state for X begins now")
        );
        assert_eq!(merged[0].remedy.as_deref(), Some("fix it"));
        assert_eq!(merged[1], other);
        assert_eq!(merge_drift(None, state.clone()), state);
    }

    #[test]
    fn a_drift_that_ends_a_blocking_state_goes_out_as_resolved() {
        let cfg = PolicyConfig::default();
        let m = decide(&TrackMemory::default(), &obs(B), &subject(), &cfg, t(0)).memory;
        let state = decide(&m, &obs(O), &subject(), &cfg, t(15)).alerts;
        assert_eq!(state[0].kind, Resolved);
        let drift = decide_drift(
            Some(&rrset(&["y.example"])),
            &rrset(&["x.example"]),
            "example.com",
            &[CaUnderRrset {
                ca: "X".into(),
                forbidden: false,
            }],
            t(15),
        );
        let merged = merge_drift(drift, state.clone());
        assert_eq!(merged, state);
        assert_eq!(merged[0].before_text, "Blocking");
        assert_eq!(merged[0].after_text, "Ok");
    }
}
