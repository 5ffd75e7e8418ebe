//! `certvigil check`: a one-shot pre-flight for names and CAs, no database.
//! Exit codes (DESIGN.md): 0 nothing blocks issuance, 1 something blocks,
//! 2 bad usage, bad config or a bad name (the other names are still checked).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::Threads;
use crate::ca::{CaChoice, Catalogue};
use crate::checks::caa::{self, IssuanceRequest};
use crate::checks::reach;
use crate::checks::risk::RiskModel;
use crate::config::{self, Config};
use crate::dns::{DnsHandle, DnsSettings};
use crate::domain::CertName;
use crate::report::CheckReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Names to check; `*.example.com` asks about a wildcard certificate
    pub domains: Vec<String>,
    /// CA to judge for: a catalogue name (letsencrypt, sectigo, digicert, ...) or a CAA issuer domain; repeatable. Default: the CAs the config names for the domain
    #[arg(long = "ca", value_name = "CA")]
    pub ca: Vec<String>,
    /// Recursive resolver to ask, IP or IP:PORT; repeatable. Default: [dns] in the config, else /etc/resolv.conf
    #[arg(long = "nameserver", value_name = "IP:PORT")]
    pub nameservers: Vec<String>,
    /// RFC 8657 validation method the order will use (http-01, dns-01, ...)
    #[arg(long, value_name = "METHOD")]
    pub validation_method: Option<String>,
    /// RFC 8657 ACME account URI the order will be placed with
    #[arg(long, value_name = "URI")]
    pub account_uri: Option<String>,
    /// Read names from a file, one a line (`#` starts a comment); `-` is standard input
    #[arg(long, value_name = "LIST")]
    pub file: Option<PathBuf>,
    /// Output: text for people, json for one JSON object per line (JSON Lines)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Names checked at once
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Per-query DNS timeout, e.g. "2s" (default: [dns] timeout, else 5s)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// Probe the file-validation path (ports 80/443) from the configured vantage points even when the validation method is not file or http-01
    #[arg(long)]
    pub reach: bool,
    /// Configuration file for [dns], [[ca]], [risk] and per-domain settings; optional
    #[arg(long, env = "CERTVIGIL_CONFIG")]
    pub config: Option<PathBuf>,
}

/// One name from the command line or the list file, parsed or not.
enum Input {
    Name(CertName),
    Bad { given: String, error: String },
}

pub fn main(args: CheckArgs) -> u8 {
    let Some(runtime) = super::runtime(Threads::Many, |m| eprintln!("certvigil check: {m}")) else {
        return super::EXIT_USAGE;
    };
    runtime.block_on(run(args))
}

async fn run(args: CheckArgs) -> u8 {
    let config = match &args.config {
        Some(path) => match super::load_config(path, &mut std::io::stderr()) {
            Ok(c) => c,
            Err(code) => return code,
        },
        None => Config::default_for_check(),
    };
    let inputs = match collect_inputs(&args) {
        Ok(i) if i.is_empty() => {
            eprintln!("certvigil check: no names given: pass them as arguments or with --file");
            return super::EXIT_USAGE;
        }
        Ok(i) => i,
        Err(e) => {
            eprintln!("certvigil check: {e}");
            return super::EXIT_USAGE;
        }
    };
    let cli_cas = match resolve_cas(&config.catalogue, &args.ca) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("certvigil check: {e}");
            return super::EXIT_USAGE;
        }
    };
    let settings = match dns_settings(&args, &config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("certvigil check: {e}");
            return super::EXIT_USAGE;
        }
    };
    let dns = match DnsHandle::new(&settings) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("certvigil check: {e}");
            return super::EXIT_USAGE;
        }
    };

    let risk = match RiskModel::new(&config.risk) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("certvigil check: {e}");
            return super::EXIT_USAGE;
        }
    };
    let ctx = Arc::new(Context {
        dns,
        risk,
        config,
        cli_cas,
        validation_method: args.validation_method.clone(),
        account_uri: args.account_uri.clone(),
        reach: args.reach,
    });
    let printer = Printer::new(args.format, &inputs);
    let mut usage_error = false;
    let mut blocking = false;
    // Each name runs as its own task so gathering, judging and rendering
    // spread over the runtime's threads; `buffered` keeps input order and
    // bounds how many names are in flight.
    let mut results = futures::stream::iter(inputs)
        .map(|input| {
            let ctx = Arc::clone(&ctx);
            tokio::spawn(async move { ctx.diagnose(input).await })
        })
        .buffered(args.concurrency as usize)
        .map(|joined| match joined {
            Ok(outcome) => outcome,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        });
    let stdout = std::io::stdout();
    while let Some(outcome) = results.next().await {
        let mut out = stdout.lock();
        let written = match &outcome {
            Outcome::Reports(reports) => {
                blocking |= reports.iter().any(|r| !r.issuable);
                reports.iter().try_for_each(|r| printer.report(&mut out, r))
            }
            Outcome::Bad { given, error } => {
                usage_error = true;
                printer.bad_name(&mut out, given, error)
            }
        };
        if written.and_then(|()| out.flush()).is_err() {
            // stdout closed (e.g. piped into `head`): nothing left to tell.
            return super::EXIT_USAGE;
        }
    }
    if usage_error {
        super::EXIT_USAGE
    } else if blocking {
        super::EXIT_BLOCKING
    } else {
        super::EXIT_OK
    }
}

fn collect_inputs(args: &CheckArgs) -> Result<Vec<Input>, String> {
    let mut inputs: Vec<Input> = args.domains.iter().map(|g| to_input(g.clone())).collect();
    if let Some(path) = &args.file {
        // Bytes, not a String: one bad byte refuses its line, not the list.
        let bytes = if path.as_os_str() == "-" {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                .map_err(|e| format!("cannot read names from standard input: {e}"))?;
            buf
        } else {
            std::fs::read(path)
                .map_err(|e| format!("cannot read the name list {}: {e}", path.display()))?
        };
        inputs.extend(name_list_lines(&bytes).into_iter().map(|line| match line {
            Ok(name) => to_input(name),
            Err(bad) => bad,
        }));
    }
    Ok(inputs)
}

fn to_input(given: String) -> Input {
    match CertName::parse(&given) {
        Ok(n) => Input::Name(n),
        Err(e) => Input::Bad {
            given,
            error: e.to_string(),
        },
    }
}

/// One name a line; `#` starts a comment; blank lines are skipped.
pub fn parse_name_list(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
}

/// [`parse_name_list`] over raw bytes: a line that is not UTF-8 (outside
/// its comment) becomes a refused input of its own, shown with the bad
/// bytes replaced, and every other line is checked as usual.
fn name_list_lines(bytes: &[u8]) -> Vec<Result<String, Input>> {
    let mut out = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        // `#` is ASCII, so it cannot be part of a multi-byte character.
        let line = line.split(|&b| b == b'#').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match std::str::from_utf8(line) {
            Ok(text) => {
                let text = text.trim();
                if !text.is_empty() {
                    out.push(Ok(text.to_string()));
                }
            }
            Err(e) => {
                let at = e.valid_up_to();
                out.push(Err(Input::Bad {
                    given: String::from_utf8_lossy(line).trim().to_string(),
                    error: format!(
                        "line {} of the name list is not UTF-8 (byte 0x{:02x} at byte {}); this line is skipped",
                        i + 1,
                        line[at],
                        at + 1
                    ),
                }));
            }
        }
    }
    out
}

fn resolve_cas(catalogue: &Catalogue, given: &[String]) -> Result<Vec<CaChoice>, String> {
    given
        .iter()
        .map(|g| catalogue.resolve(g).map_err(|e| e.to_string()))
        .collect()
}

fn dns_settings(args: &CheckArgs, config: &Config) -> Result<DnsSettings, String> {
    let mut settings = DnsSettings {
        timeout: config.dns.timeout,
        ..DnsSettings::default()
    };
    if let Some(t) = args.timeout {
        settings.timeout = t;
    }
    if !args.nameservers.is_empty() {
        let parsed = args
            .nameservers
            .iter()
            .map(|s| config::parse_nameserver(s).map_err(|e| format!("--nameserver: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        settings.nameservers = Some(parsed);
    } else if !config.dns.nameservers.is_empty() {
        settings.nameservers = Some(config.dns.nameservers.clone());
    }
    Ok(settings)
}

struct Context {
    dns: DnsHandle,
    risk: RiskModel,
    config: Config,
    cli_cas: Vec<CaChoice>,
    validation_method: Option<String>,
    account_uri: Option<String>,
    /// `--reach`: probe reachability whatever the validation method.
    reach: bool,
}

enum Outcome {
    Reports(Vec<CheckReport>),
    Bad { given: String, error: String },
}

impl Context {
    async fn diagnose(&self, input: Input) -> Outcome {
        let name = match input {
            Input::Name(n) => n,
            Input::Bad { given, error } => return Outcome::Bad { given, error },
        };
        // Settings of a configured domain apply unless the command line
        // says otherwise.
        let configured = self
            .config
            .domains
            .iter()
            .find(|d| d.cert_names().contains(&name) || d.name.base() == name.base());
        let cas = if !self.cli_cas.is_empty() {
            self.cli_cas.clone()
        } else if let Some(d) = configured {
            d.ca.clone()
        } else {
            return Outcome::Bad {
                given: name.to_string(),
                error: format!(
                    "no CA to judge {name} for: pass --ca (e.g. --ca letsencrypt) or configure the domain in [[domains]]"
                ),
            };
        };
        let method_label = self
            .validation_method
            .clone()
            .or_else(|| configured.and_then(|d| d.validation_method.clone()));
        let validation_method = method_label.clone().filter(|m| is_rfc8657_method(m));
        let account_uri = self
            .account_uri
            .clone()
            .or_else(|| configured.and_then(|d| d.account_uri.clone()));

        // One gather per name, however many CAs are judged.
        let reach_method = method_label
            .as_deref()
            .and_then(reach::Method::from_label)
            .or(self.reach.then_some(reach::Method::File));
        let (observation, reach_observation) = tokio::join!(
            caa::gather::gather_caa(&self.dns, name.base()),
            self.gather_reach(&name, reach_method, configured)
        );
        let risk = self.risk.assess(&name);
        let reports = cas
            .iter()
            .map(|ca| {
                let request = IssuanceRequest {
                    wildcard: name.is_wildcard(),
                    issuer_domains: ca.issuer_domains.clone(),
                    account_uri: account_uri.clone(),
                    validation_method: validation_method.clone(),
                };
                let verdict = caa::judge::judge(&observation, &request);
                let report =
                    CheckReport::new(&name, ca, &verdict, Vec::new()).with_risk(risk.clone());
                match (reach_method, &reach_observation) {
                    (Some(method), Some(obs)) => {
                        report.with_reach(reach::judge(obs, &reach::context_for(method, ca)))
                    }
                    (Some(method), None) => {
                        report.with_findings(vec![reach::wildcard_finding(&name, method)])
                    }
                    (None, _) => report,
                }
            })
            .collect();
        Outcome::Reports(reports)
    }
}

/// RFC 8657 §4 `validationmethods` names ACME methods (`http-01`, `dns-01`,
/// `tls-alpn-01`) or CA-specific ones starting with `ca-`. The config's
/// non-ACME `file` and `dns` methods have no such label, so they bind to no
/// record parameter: passing them would make every record that names
/// methods look violated.
fn is_rfc8657_method(method: &str) -> bool {
    !matches!(method.to_ascii_lowercase().as_str(), "file" | "dns")
}

impl Context {
    /// Probes the validation path from every configured vantage point
    /// (this host alone when none is configured). `None` when the method
    /// is not HTTP-based, or for a wildcard, which HTTP cannot validate.
    async fn gather_reach(
        &self,
        name: &CertName,
        method: Option<reach::Method>,
        configured: Option<&config::DomainTarget>,
    ) -> Option<reach::ReachObservation> {
        let method = method?;
        if name.is_wildcard() {
            return None;
        }
        let target = reach::target_for(name, method, configured, &self.config.reach);
        let vantages = reach::VantagePoint::all_from_config(&self.config.vantage);
        Some(
            reach::check(
                &target,
                &vantages,
                &self.dns,
                &reach::ProbeSettings::default(),
            )
            .await,
        )
    }
}

/// Writes reports as text (aligned, coloured only on a terminal) or JSON Lines.
struct Printer {
    format: Format,
    colour: bool,
    name_width: usize,
}

impl Printer {
    fn new(format: Format, inputs: &[Input]) -> Self {
        let name_width = inputs
            .iter()
            .map(|i| match i {
                Input::Name(n) => n.to_string().len(),
                Input::Bad { given, .. } => given.len(),
            })
            .max()
            .unwrap_or(0)
            .min(48);
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self {
            format,
            colour,
            name_width,
        }
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn report(&self, out: &mut impl Write, r: &CheckReport) -> std::io::Result<()> {
        match self.format {
            Format::Json => {
                serde_json::to_writer(&mut *out, r)?;
                writeln!(out)
            }
            Format::Text => {
                let (word, code) = match r.caa.verdict {
                    caa::CaaVerdictKind::Allowed if r.issuable => ("ok", "32"),
                    caa::CaaVerdictKind::Allowed => ("blocked", "31"),
                    caa::CaaVerdictKind::Forbidden => ("forbidden", "31"),
                    caa::CaaVerdictKind::Error => ("error", "33"),
                };
                writeln!(
                    out,
                    "{:<width$}  {:<12}  {}",
                    r.domain,
                    r.ca.name,
                    self.paint(word, code),
                    width = self.name_width
                )?;
                writeln!(out, "    {}", r.caa.reason)?;
                if let Some(reach) = &r.reach {
                    writeln!(
                        out,
                        "    reach: {}: {}",
                        reach.verdict.as_str(),
                        reach.reason
                    )?;
                }
                for f in &r.findings {
                    if f.check != crate::findings::CheckKind::Caa
                        || f.severity != crate::findings::Severity::Blocking
                    {
                        writeln!(
                            out,
                            "    {} ({}): {}",
                            f.check.as_str(),
                            f.severity.as_str(),
                            f.summary
                        )?;
                    }
                }
                let remedies = std::iter::once(r.caa.remedy.as_ref())
                    .chain(
                        r.findings
                            .iter()
                            .filter(|f| f.check != crate::findings::CheckKind::Caa)
                            .map(|f| f.remedy.as_ref()),
                    )
                    .flatten();
                for remedy in remedies {
                    let mut lines = remedy.lines();
                    if let Some(first) = lines.next() {
                        writeln!(out, "    {} {first}", self.paint("fix:", "1"))?;
                    }
                    for l in lines {
                        writeln!(out, "         {l}")?;
                    }
                }
                Ok(())
            }
        }
    }

    fn bad_name(&self, out: &mut impl Write, given: &str, error: &str) -> std::io::Result<()> {
        match self.format {
            Format::Json => {
                serde_json::to_writer(
                    &mut *out,
                    &serde_json::json!({"domain": given, "error": error}),
                )?;
                writeln!(out)?;
            }
            Format::Text => {
                writeln!(
                    out,
                    "{:<width$}  {:<12}  {}",
                    given,
                    "-",
                    self.paint("bad name", "33"),
                    width = self.name_width
                )?;
            }
        }
        eprintln!("certvigil check: {error}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_lists_skip_comments_and_blank_lines() {
        let names: Vec<_> =
            parse_name_list("# header\nexample.com\n\n  www.example.org # shop\n#x\n").collect();
        assert_eq!(names, ["example.com", "www.example.org"]);
    }

    #[test]
    fn a_bad_byte_refuses_its_line_only() {
        let lines =
            name_list_lines(b"example.com\nbad\xffname.example\n# caf\xe9\nexample.org # \xff\r\n");
        assert_eq!(lines.len(), 3, "comments are not checked");
        assert!(matches!(&lines[0], Ok(n) if n == "example.com"));
        match &lines[1] {
            Err(Input::Bad { given, error }) => {
                assert_eq!(given, "bad\u{fffd}name.example");
                assert!(
                    error.starts_with("line 2 of the name list is not UTF-8 (byte 0xff at byte 4)"),
                    "{error}"
                );
            }
            _ => panic!("line 2 refused"),
        }
        assert!(matches!(&lines[2], Ok(n) if n == "example.org"));
    }
}
