//! Times as the database keeps them: Unix milliseconds (UTC). One
//! conversion for every table, which reports a value no time can have
//! instead of quietly reading it as 1970.

use chrono::{DateTime, TimeZone, Utc};
use thiserror::Error;

/// A stored number that is not a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{0} is not a time in Unix milliseconds")]
pub struct NotATime(pub i64);

pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A time as every output shows it: RFC 3339, whole seconds, `Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn from_millis(ms: i64) -> Result<DateTime<Utc>, NotATime> {
    Utc.timestamp_millis_opt(ms).single().ok_or(NotATime(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_round_trips() {
        let t = Utc.with_ymd_and_hms(2026, 11, 20, 10, 15, 2).unwrap();
        assert_eq!(from_millis(to_millis(t)), Ok(t));
    }

    #[test]
    fn a_value_out_of_range_is_reported_not_read_as_1970() {
        assert_eq!(from_millis(i64::MAX), Err(NotATime(i64::MAX)));
    }
}
