//! The state every check shares: what a check's verdict says to the store
//! (a status word, whether it blocks, a fingerprint of what was observed, or
//! that nothing could be observed), and the one rule that turns "what was
//! stored" and "what was just judged" into an event. Pure: no I/O, no clock.
//!
//! A check plugs in by implementing [`Observed`] for its verdict; the store
//! keeps every check in the same tables (`check_state`, `observations`,
//! `events`, migration 0030) and the timeline is one across checks.

use serde::Serialize;

use crate::findings::CheckKind;

/// What the store needs from a check's verdict.
pub trait Observed: Serialize {
    /// Which check this is (the `check_kind` column).
    const CHECK: CheckKind;
    /// How this check names its events.
    const EVENTS: EventNames;

    /// The verdict word shown in `status` (`allowed`, `reachable`, `error`...).
    fn status_word(&self) -> &'static str;
    /// Whether a CA would refuse to issue as things stand.
    fn blocks(&self) -> bool;
    /// A fingerprint of what was observed: equal fingerprints are the same
    /// state. `None` when the check could not observe (a lookup or probe
    /// error): the last observed state is kept, so that a return to it is a
    /// recovery, not a change.
    fn fingerprint(&self) -> Option<Vec<u8>>;
    /// For a check that could not observe: one line saying what failed.
    fn error_message(&self) -> Option<String>;
}

/// The names a check gives its events in `history`, the log and alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventNames {
    pub change: &'static str,
    pub error: &'static str,
    pub recovered: &'static str,
}

/// The first state ever observed of a (target, check): every check calls
/// it the same.
pub const BASELINE: &str = "baseline";

/// Which kind of change a check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// The first observed state: the start of the timeline.
    Baseline,
    /// The observed state differs from the last one observed (also when
    /// errors came in between: the "before" is what was seen last).
    Change,
    /// The check could not observe, after it could (or on its first run).
    Error,
    /// It observes again and sees the same state as before the error.
    Recovered,
}

impl Transition {
    /// The name stored in `events.kind` for a check with these names.
    pub fn name(self, names: &EventNames) -> &'static str {
        match self {
            Transition::Baseline => BASELINE,
            Transition::Change => names.change,
            Transition::Error => names.error,
            Transition::Recovered => names.recovered,
        }
    }
}

/// What the store holds about a (target, check) before this check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prior {
    /// The last check could not observe.
    pub in_error: bool,
    /// The fingerprint of the last observed state, if any check ever observed.
    pub last_observed: Option<Vec<u8>>,
}

/// Decides whether a check is a change worth an event. `None`: the check
/// only refreshes counters (the common case: a few bytes).
///
/// - the first observed state is the baseline;
/// - a fingerprint other than the last *observed* one is a change;
/// - the same fingerprint after an error is a recovery;
/// - entering the error state is an event, staying in it is not.
pub fn classify(prior: Option<&Prior>, now: Option<&[u8]>) -> Option<Transition> {
    match (prior, now) {
        (None, None) => Some(Transition::Error),
        (Some(p), None) => (!p.in_error).then_some(Transition::Error),
        (None, Some(_)) => Some(Transition::Baseline),
        (Some(p), Some(fp)) => match &p.last_observed {
            None => Some(Transition::Baseline),
            Some(before) if before.as_slice() != fp => Some(Transition::Change),
            Some(_) if p.in_error => Some(Transition::Recovered),
            Some(_) => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prior(in_error: bool, last: Option<&[u8]>) -> Prior {
        Prior {
            in_error,
            last_observed: last.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn the_first_observation_is_the_baseline() {
        assert_eq!(classify(None, Some(b"a")), Some(Transition::Baseline));
    }

    #[test]
    fn a_first_check_that_cannot_observe_is_an_error() {
        assert_eq!(classify(None, None), Some(Transition::Error));
    }

    #[test]
    fn the_same_state_again_is_no_event() {
        assert_eq!(classify(Some(&prior(false, Some(b"a"))), Some(b"a")), None);
    }

    #[test]
    fn another_state_is_a_change() {
        assert_eq!(
            classify(Some(&prior(false, Some(b"a"))), Some(b"b")),
            Some(Transition::Change)
        );
    }

    #[test]
    fn entering_the_error_state_is_an_event_staying_in_it_is_not() {
        assert_eq!(
            classify(Some(&prior(false, Some(b"a"))), None),
            Some(Transition::Error)
        );
        assert_eq!(classify(Some(&prior(true, Some(b"a"))), None), None);
    }

    #[test]
    fn the_same_state_after_an_error_is_a_recovery_not_a_change() {
        assert_eq!(
            classify(Some(&prior(true, Some(b"a"))), Some(b"a")),
            Some(Transition::Recovered)
        );
    }

    #[test]
    fn another_state_after_an_error_is_a_change_against_the_last_observed() {
        assert_eq!(
            classify(Some(&prior(true, Some(b"a"))), Some(b"b")),
            Some(Transition::Change)
        );
    }

    #[test]
    fn errors_only_so_far_then_an_observation_is_the_baseline() {
        assert_eq!(
            classify(Some(&prior(true, None)), Some(b"a")),
            Some(Transition::Baseline)
        );
    }
}
