//! Cron schedules and durations as the configuration file writes them.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use thiserror::Error;

/// A cron expression with seconds (`"0 */15 * * * *"`), already checked to
/// parse the way tokio-cron-scheduler 0.15 parses it (`Job::new_async`:
/// croner with seconds required and day-of-month AND day-of-week), and to
/// fire at least once. Times are UTC, as `Job::new_async` runs them. Hand
/// [`CronSchedule::as_str`] to the scheduler.
#[derive(Clone)]
pub struct CronSchedule {
    text: String,
    cron: Cron,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CronScheduleError {
    #[error(
        "{given:?} is not a cron schedule: {why}; write six fields, seconds first, e.g. \"0 */15 * * * *\" (every 15 minutes)"
    )]
    Invalid { given: String, why: String },
    #[error("{given:?} never fires (no date matches it); check the day and month fields")]
    NeverFires { given: String },
}

impl CronSchedule {
    pub fn parse(text: &str) -> Result<Self, CronScheduleError> {
        let cron = parser()
            .parse(text)
            .map_err(|e| CronScheduleError::Invalid {
                given: text.to_string(),
                why: e.to_string(),
            })?;
        // "0 0 0 31 2 *" parses but would leave targets unchecked forever.
        if cron.find_next_occurrence(&Utc::now(), false).is_err() {
            return Err(CronScheduleError::NeverFires {
                given: text.to_string(),
            });
        }
        Ok(Self {
            text: text.trim().to_string(),
            cron,
        })
    }

    /// The expression as written, for tokio-cron-scheduler.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed expression.
    pub fn cron(&self) -> &Cron {
        &self.cron
    }

    /// The latest firing at or before `now` (Unix ms): the same on every
    /// instance sharing a database, whatever its jitter or start time, so
    /// it names a cycle (domain checks and order polls are claimed per
    /// cycle, `store::leases`).
    pub fn current_cycle(&self, now: DateTime<Utc>) -> i64 {
        use chrono::Timelike;
        // croner keeps the fraction of a second it is given: a firing is a
        // whole second.
        let second = now.with_nanosecond(0).unwrap_or(now);
        self.cron()
            .find_previous_occurrence(&second, true)
            .ok()
            .filter(|t| *t <= now)
            .unwrap_or(now)
            .timestamp_millis()
    }

    /// The first firing strictly after `after`, or `None` if it never fires
    /// again (excluded at parse time for any realistic `after`).
    pub fn next_after(&self, after: &DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(after, false).ok()
    }
}

/// The parser configured as tokio-cron-scheduler 0.15's `Job::new_tz` and
/// `Job::new_async_tz` configure it (src/job/mod.rs), so a schedule accepted
/// here is accepted by the scheduler.
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronSchedule").field(&self.text).finish()
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for CronSchedule {}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "{given:?} is not a duration: {why}; write a number and a unit, e.g. \"90s\", \"15m\", \"24h\", \"7d\""
)]
pub struct DurationError {
    pub given: String,
    pub why: String,
}

/// Parses `"90s"`, `"15m"`, `"24h"`, `"1h 30m"`, `"7d"`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    humantime::parse_duration(text.trim()).map_err(|e| DurationError {
        given: text.to_string(),
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_field_schedules_parse() {
        let s = CronSchedule::parse("0 */15 * * * *").unwrap();
        assert_eq!(s.as_str(), "0 */15 * * * *");
        let t = DateTime::parse_from_rfc3339("2026-11-20T10:07:30Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            s.next_after(&t).unwrap().to_rfc3339(),
            "2026-11-20T10:15:00+00:00"
        );
    }

    #[test]
    fn five_field_schedules_are_refused_because_seconds_are_required() {
        let err = CronSchedule::parse("*/15 * * * *").unwrap_err();
        assert!(matches!(err, CronScheduleError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("seconds first"), "{err}");
    }

    #[test]
    fn a_schedule_that_never_fires_is_refused() {
        assert!(matches!(
            CronSchedule::parse("0 0 0 31 2 *"),
            Err(CronScheduleError::NeverFires { .. })
        ));
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        let err = parse_duration("24 hours please").unwrap_err();
        assert!(err.to_string().contains("\"24 hours please\""), "{err}");
        assert!(parse_duration("15").is_err());
    }
}
