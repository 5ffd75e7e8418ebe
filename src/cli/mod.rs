//! One module per command: its arguments (clap derive) and its output.
//! Each `main` returns the process exit code.

pub mod alert;
pub mod check;
pub mod config;
pub mod history;
pub mod orders;
pub mod probe;
pub mod run;
pub mod status;

/// Exit code: nothing blocks issuance / the command succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: something blocks issuance.
pub const EXIT_BLOCKING: u8 = 1;
/// Exit code: bad usage or bad configuration.
pub const EXIT_USAGE: u8 = 2;
