//! Alerts: deciding when to tell someone (`policy`, pure), remembering what
//! must still be told (`outbox`, in SQLite, written in the same transaction
//! as the event that caused it), and telling it (`deliver`, one task per
//! channel, through `email` or `webhook`, with the words from `render`).
//!
//! The flow is one-way: the daemon feeds observations to [`policy`], which
//! returns [`Alert`]s; the daemon [`outbox::enqueue`]s them next to its event
//! rows and commits; [`deliver`] picks them up, retries with backoff, and
//! gives up loudly after `alerts.give_up_after`. Nothing here decides whether
//! a domain is fine: that is the checks' job.

pub mod channel;
pub mod deliver;
pub mod email;
pub mod outbox;
pub mod render;
pub mod webhook;

/// What an alert is, when to raise one, and what a CAA or reach verdict
/// says to the policy are pure: they live in the core crate, re-exported
/// here at their old paths.
pub use certvigil_core::alert::{
    Alert, AlertKind, Damping, Severity, caa, new_alert_id, policy, reach,
};
pub use channel::{Channel, ChannelId, SendError};
