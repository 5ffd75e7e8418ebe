//! `certvigil alert test`: send a test alert through every configured
//! channel, at once, and say for each whether it arrived. Bypasses the
//! outbox (a test must not wait behind real alerts or be retried for a
//! day); prints channel ids, never URLs or secrets.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;

use super::Threads;
use crate::alert::{Alert, Channel, ChannelId, SendError};
use crate::config::{self, ConfigErrors};

#[derive(Debug, clap::Subcommand)]
pub enum AlertCommand {
    /// Send a test alert through every configured email and webhook channel and report each result (exit 0: all arrived, 1: some failed, 2: bad config)
    Test {
        /// Configuration file
        #[arg(long, env = "CERTVIGIL_CONFIG", default_value = crate::config::DEFAULT_PATH)]
        config: PathBuf,
        /// Output format (json: one object per channel: `channel`, `ok`, `seconds`, `error`)
        #[arg(long, value_enum, default_value_t = super::status::Format::Text)]
        format: super::status::Format,
    },
}

pub fn main(cmd: AlertCommand) -> u8 {
    match cmd {
        AlertCommand::Test { config, format } => {
            let stdout = std::io::stdout();
            let stderr = std::io::stderr();
            test_as(&config, format, &mut stdout.lock(), &mut stderr.lock())
        }
    }
}

/// Loads the config at `path` and sends one test alert per channel. One
/// line per channel goes to `out`; config problems go to `err`. Returns
/// the exit code. Builds its own runtime: call it from outside one.
pub fn test(path: &Path, out: &mut impl Write, err: &mut impl Write) -> u8 {
    test_as(path, super::status::Format::Text, out, err)
}

/// [`test`] in the given format.
pub fn test_as(
    path: &Path,
    format: super::status::Format,
    out: &mut impl Write,
    err: &mut impl Write,
) -> u8 {
    // Output errors (a closed pipe) cannot be reported anywhere better.
    let config = match config::load(path) {
        Ok(c) => c,
        Err(ConfigErrors::Invalid(problems)) => {
            for p in &problems {
                let _ = writeln!(err, "{p}");
            }
            let _ = writeln!(err, "{}: fix the configuration first", path.display());
            return super::EXIT_USAGE;
        }
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return super::EXIT_USAGE;
        }
    };
    let channels = Channel::all_from_config(&config.alerts);
    if channels.is_empty() {
        let _ = writeln!(
            err,
            "{}: no alert channel is configured; add an [[alerts.email]] or [[alerts.webhook]] section",
            path.display()
        );
        return super::EXIT_USAGE;
    }
    let Some(runtime) = super::runtime(Threads::One, |m| {
        let _ = writeln!(err, "{m}");
    }) else {
        return super::EXIT_USAGE;
    };
    let results = runtime.block_on(send_test(&channels));
    let mut failed = 0;
    if format == super::status::Format::Json {
        for (id, result, secs) in &results {
            failed += usize::from(result.is_err());
            let line = serde_json::json!({
                "channel": id.to_string(),
                "ok": result.is_ok(),
                "seconds": (secs * 10.0).round() / 10.0,
                "error": result.as_ref().err().map(ToString::to_string),
            });
            let _ = writeln!(out, "{line}");
        }
        return if failed == 0 {
            super::EXIT_OK
        } else {
            super::EXIT_BLOCKING
        };
    }
    for (id, result, secs) in &results {
        match result {
            Ok(()) => {
                let _ = writeln!(out, "ok      {id} ({secs:.1}s)");
            }
            Err(e) => {
                failed += 1;
                let _ = writeln!(out, "FAILED  {id} ({secs:.1}s): {e}");
            }
        }
    }
    let _ = writeln!(
        out,
        "{} of {} channels reached",
        results.len() - failed,
        results.len()
    );
    if failed == 0 {
        super::EXIT_OK
    } else {
        super::EXIT_BLOCKING
    }
}

/// Sends one test alert through each channel concurrently (a dead channel
/// waits out its own timeout without delaying the others), in input order.
pub async fn send_test(channels: &[Channel]) -> Vec<(ChannelId, Result<(), SendError>, f64)> {
    let alert = Alert::test(Utc::now());
    futures::future::join_all(channels.iter().map(|c| {
        let alert = &alert;
        async move {
            let started = Instant::now();
            let result = c.send(alert).await;
            (c.id().clone(), result, started.elapsed().as_secs_f64())
        }
    }))
    .await
}
