//! One module per command: its arguments (clap derive) and its output.
//! Each `main` returns the process exit code.

pub mod alert;
pub mod check;
pub mod config;
pub mod history;
pub mod init;
pub mod orders;
pub mod probe;
pub mod run;
pub mod status;
pub mod store;

/// Exit code: nothing blocks issuance / the command succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: something blocks issuance.
pub const EXIT_BLOCKING: u8 = 1;
/// Exit code: bad usage or bad configuration.
pub const EXIT_USAGE: u8 = 2;

use std::io::Write;
use std::path::Path;

use tokio::runtime::Runtime;

use crate::config::Config;

/// Loads the configuration a command needs. If it cannot be read or has
/// problems, writes them to `err` (one per line, with line and column) and
/// returns the exit code for it, [`EXIT_USAGE`].
pub(crate) fn load_config(path: &Path, err: &mut impl Write) -> Result<Config, u8> {
    crate::config::load(path).map_err(|e| {
        // Output errors (a closed pipe) cannot be reported anywhere better.
        let _ = writeln!(err, "{e}");
        EXIT_USAGE
    })
}

/// How many threads a command's runtime has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threads {
    /// The calling thread only: commands that wait on one thing at a time.
    One,
    /// A worker per core: commands that check or serve many names at once.
    Many,
}

/// Builds the tokio runtime a command runs on. If it cannot (no threads or
/// file descriptors left), says why through `report` (`cannot start the
/// async runtime: …`) and returns `None`; the exit code is the caller's.
pub(crate) fn runtime(threads: Threads, report: impl FnOnce(&str)) -> Option<Runtime> {
    let mut builder = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread(),
        Threads::Many => tokio::runtime::Builder::new_multi_thread(),
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| report(&format!("cannot start the async runtime: {e}")))
        .ok()
}
