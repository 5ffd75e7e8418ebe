//! `certvigil init`: writes a minimal working configuration — one domain,
//! one CA, one email recipient — that `config check` accepts as it is, so a
//! newcomer starts from something that runs quietly instead of from the full
//! reference (config.example.toml), which documents every key and keeps
//! the parts a new machine cannot use (providers, agents, secret files)
//! commented out.
//!
//! The text is checked with the real parser before it is written: a name or
//! CA the config would refuse is refused here, with the same message.

use std::io::Write;
use std::path::PathBuf;

use crate::config;

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The domain to watch (Unicode is accepted)
    #[arg(long)]
    pub domain: String,
    /// The CA you buy from: a catalogue name (letsencrypt, sectigo, digicert, ...) or a CAA issuer domain
    #[arg(long, default_value = "letsencrypt")]
    pub ca: String,
    /// Where alerts go
    #[arg(long, value_name = "ADDRESS")]
    pub email: String,
    /// The SMTP server that takes the mail, HOST or HOST:PORT (default: a local mail server on port 25)
    #[arg(long, default_value = "localhost:25")]
    pub smtp: String,
    /// Write here instead of standard output; an existing file is never overwritten
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// The starter configuration for these answers.
pub fn starter(args: &InitArgs) -> String {
    let (server, port) = match args.smtp.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.to_string()),
        _ => (args.smtp.clone(), "25".to_string()),
    };
    // `{:?}` quotes and escapes like a TOML basic string for these values.
    format!(
        r#"# certvigil: a starting configuration written by `certvigil init`.
# Every key is documented in config.example.toml; `certvigil config check`
# validates this file. Checks run every 15 minutes; state and history go to
# the default database ($STATE_DIRECTORY/certvigil.db under systemd).

[daemon]
schedule = "0 */15 * * * *"

# Absent: the resolvers of /etc/resolv.conf.
# [dns]
# nameservers = ["127.0.0.1:53"]

[[domains]]
name = {domain:?}
ca = [{ca:?}]
# wildcard = true              # also judge *.{bare}
# validation_method = "file"   # also probe /.well-known/pki-validation/

[[alerts.email]]
name = "ops"
server = {server:?}
port = {port}
# "none" suits a local mail server; use "starttls" or "tls" for a remote one.
tls = "none"
from = "certvigil <certvigil@localhost>"
to = [{email:?}]
# username = "certvigil"
# password_file = "/etc/certvigil/smtp.password"   # chmod 600, never in this file
"#,
        domain = args.domain,
        bare = args.domain.trim_start_matches("*."),
        ca = args.ca,
        email = args.email,
    )
}

pub fn main(args: InitArgs) -> u8 {
    let text = starter(&args);
    if let Err(errors) = config::parse(&text, "the starter configuration") {
        eprintln!("certvigil init: {errors}");
        return super::EXIT_USAGE;
    }
    match &args.output {
        None => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
        Some(path) => {
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            if let Err(e) = written {
                eprintln!(
                    "certvigil init: cannot write {}: {e} (an existing file is never overwritten)",
                    path.display()
                );
                return super::EXIT_USAGE;
            }
            eprintln!(
                "wrote {}; check it with: certvigil config check --config {}",
                path.display(),
                path.display()
            );
        }
    }
    super::EXIT_OK
}
