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
        /// Output format (json: one object with `ok`, `problems` and `warnings`)
        #[arg(long, value_enum, default_value_t = super::status::Format::Text)]
        format: super::status::Format,
    },
}

pub fn main(cmd: ConfigCommand) -> u8 {
    match cmd {
        ConfigCommand::Check { config, format } => {
            let stdout = std::io::stdout();
            let stderr = std::io::stderr();
            match format {
                super::status::Format::Text => {
                    check(&config, &mut stdout.lock(), &mut stderr.lock())
                }
                super::status::Format::Json => check_json(&config, &mut stdout.lock()),
            }
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

/// [`check`] as one JSON object on `out`: `file`, `ok`, `domains`,
/// `alert_channels`, and `problems` and `warnings`, each a list of
/// `{location, key, message}`. Same exit codes.
pub fn check_json(path: &Path, out: &mut impl Write) -> u8 {
    let problem_json = |p: &Problem| {
        serde_json::json!({
            "location": p.location.as_ref().map(ToString::to_string),
            "key": p.key,
            "message": p.message,
        })
    };
    let message = |m: String| serde_json::json!({"location": null, "key": null, "message": m});
    let (mut problems, mut warnings, mut domains, mut channels) = (vec![], vec![], 0, 0);
    match config::load(path) {
        Ok(config) => {
            warnings.extend(config.warnings.iter().map(problem_json));
            if config.domains.is_empty() {
                warnings.push(message(
                    "no [[domains]]: nothing will be checked".to_string(),
                ));
            }
            problems.extend(
                config
                    .unreadable_secrets()
                    .iter()
                    .map(|e| message(e.to_string())),
            );
            domains = config.domains.len();
            channels = config.alert_channel_count();
        }
        Err(e @ ConfigErrors::Unreadable { .. }) => problems.push(message(e.to_string())),
        Err(ConfigErrors::Invalid(ps)) => problems.extend(ps.iter().map(problem_json)),
    }
    let ok = problems.is_empty();
    let report = serde_json::json!({
        "file": path.display().to_string(),
        "ok": ok,
        "domains": domains,
        "alert_channels": channels,
        "problems": problems,
        "warnings": warnings,
    });
    let _ = writeln!(out, "{report}");
    if ok {
        super::EXIT_OK
    } else {
        super::EXIT_USAGE
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
