//! `certvigil config check`: validate a configuration file and say exactly
//! what is wrong, every problem at once, each with line and column. Meant
//! to run before a reload or as the unit's `ExecStartPre=`, so it never
//! prints a secret, only where secrets are to be found.

use std::io::Write;
use std::path::Path;

use crate::config::{self, Config, ConfigErrors, Problem};

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and report every problem with its line and column
    Check {
        /// Configuration file
        #[arg(long, env = "CERTVIGIL_CONFIG", default_value = crate::config::DEFAULT_PATH)]
        config: std::path::PathBuf,
    },
}

pub fn main(cmd: ConfigCommand) -> u8 {
    match cmd {
        ConfigCommand::Check { config } => {
            let stdout = std::io::stdout();
            let stderr = std::io::stderr();
            check(&config, &mut stdout.lock(), &mut stderr.lock())
        }
    }
}

/// Checks the file at `path`: the summary line goes to `out`, problems and
/// warnings to `err`, one per line. Returns the exit code.
pub fn check(path: &Path, out: &mut impl Write, err: &mut impl Write) -> u8 {
    // Output errors (a closed pipe) cannot be reported anywhere better.
    match config::load(path) {
        Ok(config) => {
            for warning in &config.warnings {
                let _ = writeln!(err, "{}", as_warning(warning));
            }
            if config.domains.is_empty() {
                // An empty or cut-short file parses; it must not pass as
                // "ok (0 domains)" without a word.
                let _ = writeln!(
                    err,
                    "{}: warning: no [[domains]]: nothing will be checked; add a [[domains]] entry (`certvigil init` writes a starting config)",
                    path.display()
                );
            }
            // A secret the daemon cannot read is a service that cannot send
            // its alerts (or poll its orders): the unit's pre-start check
            // must stop it.
            let unreadable = config.unreadable_secrets();
            if !unreadable.is_empty() {
                for problem in &unreadable {
                    let _ = writeln!(err, "{}: error: {problem}", path.display());
                }
                let n = unreadable.len();
                let _ = writeln!(
                    err,
                    "{}: {n} problem{} found",
                    path.display(),
                    if n == 1 { "" } else { "s" }
                );
                return super::EXIT_USAGE;
            }
            let _ = writeln!(out, "{}", summary(path, &config));
            super::EXIT_OK
        }
        Err(e @ ConfigErrors::Unreadable { .. }) => {
            let _ = writeln!(err, "{e}");
            super::EXIT_USAGE
        }
        Err(ConfigErrors::Invalid(problems)) => {
            for problem in &problems {
                let _ = writeln!(err, "{problem}");
            }
            let n = problems.len();
            let _ = writeln!(
                err,
                "{}: {n} problem{} found",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            super::EXIT_USAGE
        }
    }
}

/// `file:line:col: warning: key: message`, as compilers print warnings.
fn as_warning(problem: &Problem) -> String {
    let mut out = String::new();
    if let Some(location) = &problem.location {
        out.push_str(&format!("{location}: "));
    }
    out.push_str("warning: ");
    if let Some(key) = &problem.key {
        out.push_str(&format!("{key}: "));
    }
    out.push_str(&problem.message);
    out
}

fn summary(path: &Path, config: &Config) -> String {
    let domains = config.domains.len();
    let channels = config.alert_channel_count();
    format!(
        "{}: ok ({domains} domain{}, {channels} alert channel{})",
        path.display(),
        if domains == 1 { "" } else { "s" },
        if channels == 1 { "" } else { "s" },
    )
}
