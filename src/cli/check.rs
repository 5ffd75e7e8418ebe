//! `certvigil check`: a one-shot pre-flight for names and CAs, no database.
//! Exit codes (docs/contracts.md): 0 nothing blocks issuance, 1 something blocks,
//! 2 bad usage, bad config or a bad name (the other names are still checked).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};

use chrono::Utc;

use super::Threads;
use crate::ca::{CaChoice, Catalogue};
use crate::checks::caa;
use crate::checks::reach;
use crate::checks::risk::RiskModel;
use crate::config::{self, Config, DomainTarget};
use crate::dns::{DnsHandle, DnsSettings};
use crate::domain::{CertName, DomainName};
use crate::engine::{Engine, Subject};
use crate::method::ValidationMethod;
use crate::report::CheckReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Names to check; `*.example.com` asks about a wildcard certificate. None with --config: every configured domain
    pub domains: Vec<String>,
    /// CA to judge for: a catalogue name (letsencrypt, sectigo, digicert, ...) or a CAA issuer domain; repeatable. Default: the CAs the config names for the domain
    #[arg(long = "ca", value_name = "CA")]
    pub ca: Vec<String>,
    /// Recursive resolver to ask, IP or IP:PORT; repeatable. Default: [dns] in the config, else /etc/resolv.conf
    #[arg(long = "nameserver", value_name = "IP:PORT")]
    pub nameservers: Vec<String>,
    /// Validation method the order will use: file, dns, http-01, dns-01, tls-alpn-01 or a ca-* label (only the ACME ones bind to RFC 8657 validationmethods)
    #[arg(long, value_name = "METHOD", value_parser = ValidationMethod::parse)]
    pub validation_method: Option<ValidationMethod>,
    /// RFC 8657 ACME account URI the order will be placed with; repeatable, for an account's several URIs (e.g. its .../acme/reg/N and .../acme/acct/N forms): a record bound to any of them authorizes
    #[arg(long, value_name = "URI")]
    pub account_uri: Vec<String>,
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
    /// Which views of DNS decide: both (the recursive climb, and every authoritative server of the deciding zone asked directly), recursive, or authoritative. Default: [dns] view, else both
    #[arg(long, value_enum, value_name = "VIEW")]
    pub view: Option<ViewArg>,
    /// Probe the file-validation path (ports 80/443) from the configured vantage points even when the validation method is not file or http-01
    #[arg(long)]
    pub reach: bool,
    /// Configuration file for [dns], [[ca]], [risk] and per-domain settings; optional. Without names, every configured domain is checked
    #[arg(long, env = "CERTVIGIL_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `--view`: `[dns] view` for one run.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ViewArg {
    Both,
    Recursive,
    Authoritative,
}

impl From<ViewArg> for crate::config::DnsView {
    fn from(v: ViewArg) -> Self {
        match v {
            ViewArg::Both => Self::Both,
            ViewArg::Recursive => Self::Recursive,
            ViewArg::Authoritative => Self::Authoritative,
        }
    }
}

/// One name from the command line or the list file, parsed or not.
enum Input {
    Name(CertName),
    Bad { given: String, error: String },
}

/// What is checked: a subject for the engine, or a name that did not parse.
enum Job {
    Check(Subject),
    Bad { given: String, error: String },
}

pub fn main(args: CheckArgs) -> u8 {
    // One thread (issue 15): `check` is bound by CPU per name, not by
    // waiting, and a profile put ~23% of it in cross-thread wake-ups and
    // work stealing between tasks that each do microseconds of work. On
    // one thread a finished query wakes its lookup without a futex, and
    // the DNS server (or resolver) keeps the other cores.
    let Some(runtime) = super::runtime(Threads::One, |m| eprintln!("certvigil check: {m}")) else {
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
    let planner = Planner::new(&args, &config, cli_cas);
    let sources = match planner.sources(&config, inputs) {
        Ok(sources) => sources,
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
    let validator =
        match crate::dnssec::from_config(&config.dnssec, &dns, settings.timeout, settings.attempts)
        {
            Ok(v) => v,
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
    let engine = Arc::new(
        Engine::new(
            // One run asks each question once (answers reused up to their TTL,
            // as a CA's resolver would): names under one parent share its
            // lookups.
            dns.with_answer_reuse(),
            Some(risk),
            reach::VantagePoint::all_from_config(&config.vantage),
            reach::ProbeSettings::default(),
            config.reach,
        )
        .with_views(
            &crate::config::ViewsConfig {
                view: args.view.map_or(config.dns.views.view, Into::into),
                ..config.dns.views
            },
            settings.timeout,
            config
                .globalping
                .as_ref()
                .map(crate::perspective::globalping::GlobalpingDns::from_config),
        )
        .with_dnssec(validator),
    );
    let printer = Printer::new(args.format, &sources);
    let mut usage_error = false;
    let mut blocking = false;
    // Subjects are futures polled by this one task, not tasks of their own
    // (one thread runs them all, so a spawn would only add a wake-up and
    // an allocation per name); `buffered` keeps input order and bounds how
    // many subjects are in flight.
    let mut results = futures::stream::iter(sources)
        .map(|source| {
            let job = planner.job(source);
            let engine = Arc::clone(&engine);
            async move {
                match job {
                    Job::Check(subject) => {
                        let outcomes = engine.check(&subject, Utc::now()).await;
                        Outcome::Reports(outcomes.into_iter().map(|o| o.report).collect())
                    }
                    Job::Bad { given, error } => Outcome::Bad { given, error },
                }
            }
        })
        .buffered(args.concurrency as usize);
    // One buffered writer for the whole run (issue 15: a lock and a flush
    // per line were a large share of the CPU), flushed whenever no result
    // is ready, so a line still shows as soon as nothing is about to follow.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    loop {
        let next = match results.next().now_or_never() {
            Some(next) => next,
            None => {
                if out.flush().is_err() {
                    return super::EXIT_USAGE;
                }
                results.next().await
            }
        };
        let Some(outcome) = next else { break };
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
        if written.is_err() {
            // stdout closed (e.g. piped into `head`): nothing left to tell.
            return super::EXIT_USAGE;
        }
    }
    if out.flush().is_err() {
        return super::EXIT_USAGE;
    }
    if usage_error {
        super::EXIT_USAGE
    } else if blocking {
        super::EXIT_BLOCKING
    } else {
        super::EXIT_OK
    }
}

/// What one job is made from: a configured domain (no names given), or a
/// name given on the command line or in the list.
enum Source<'a> {
    Configured(&'a DomainTarget),
    Given(Input),
}

/// Turns the inputs into engine subjects, one at a time as the run takes
/// them (issue 15: 100,000 names planned up front held 100,000 subjects at
/// once, each with its own copy of the CAs). Names given are checked alone
/// (with their configured settings unless the command line says
/// otherwise); with no names, every configured domain is (its name, and
/// `*.name` when `wildcard = true`).
struct Planner<'a> {
    args: &'a CheckArgs,
    /// `--ca`, shared by every subject; `None` when not given.
    cli_cas: Option<Arc<[CaChoice]>>,
    /// The configured domains by base name (`*.x` is configured by `x`);
    /// the first entry for a name wins.
    configured: HashMap<&'a DomainName, &'a DomainTarget>,
}

impl<'a> Planner<'a> {
    fn new(args: &'a CheckArgs, config: &'a Config, cli_cas: Vec<CaChoice>) -> Self {
        let mut configured = HashMap::with_capacity(config.domains.len());
        for d in &config.domains {
            configured.entry(d.name.base()).or_insert(d);
        }
        Self {
            args,
            cli_cas: (!cli_cas.is_empty()).then(|| cli_cas.into()),
            configured,
        }
    }

    /// The sources to check, or a usage problem (nothing to check, no CA
    /// for a name) before anything is looked up.
    fn sources(&self, config: &'a Config, inputs: Vec<Input>) -> Result<Vec<Source<'a>>, String> {
        if inputs.is_empty() {
            if self.args.config.is_none() || self.args.file.is_some() {
                return Err("no names given: pass them as arguments or with --file, or give --config to check every configured domain".into());
            }
            if config.domains.is_empty() {
                return Err("no names given and the config has no [[domains]]: pass names as arguments or with --file".into());
            }
            return Ok(config.domains.iter().map(Source::Configured).collect());
        }
        if self.cli_cas.is_none() {
            let mut without_ca = inputs.iter().filter_map(|i| match i {
                Input::Name(name) if !self.configured.contains_key(name.base()) => Some(name),
                _ => None,
            });
            if let Some(first) = without_ca.next() {
                let mut listed: Vec<String> = vec![first.to_string()];
                listed.extend(without_ca.by_ref().take(2).map(|n| n.to_string()));
                let more = without_ca.count();
                let listed = if more > 0 {
                    format!("{} and {more} more", listed.join(", "))
                } else {
                    listed.join(", ")
                };
                return Err(format!(
                    "no CA to judge {listed} for: pass --ca (e.g. --ca letsencrypt), or give --config with the domain in [[domains]] and its ca = [...]"
                ));
            }
        }
        Ok(inputs.into_iter().map(Source::Given).collect())
    }

    fn job(&self, source: Source<'_>) -> Job {
        let subject = match source {
            Source::Configured(d) => Subject::from_domain(d),
            Source::Given(Input::Bad { given, error }) => return Job::Bad { given, error },
            // Settings of a configured domain apply unless the command
            // line says otherwise.
            Source::Given(Input::Name(name)) => match self.configured.get(name.base()) {
                Some(d) => Subject {
                    names: vec![name],
                    ..Subject::from_domain(d)
                },
                None => Subject {
                    names: vec![name],
                    cas: Arc::from([]),
                    method: None,
                    account_uris: Vec::new(),
                    canary_path: None,
                    canary_content: None,
                    force_reach: false,
                },
            },
        };
        Job::Check(self.overrides(subject))
    }

    fn overrides(&self, mut s: Subject) -> Subject {
        if let Some(cas) = &self.cli_cas {
            s.cas = Arc::clone(cas);
        }
        if let Some(m) = &self.args.validation_method {
            s.method = Some(m.clone());
        }
        if !self.args.account_uri.is_empty() {
            s.account_uris = self.args.account_uri.clone();
        }
        s.force_reach = self.args.reach;
        s
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

enum Outcome {
    Reports(Vec<CheckReport>),
    Bad { given: String, error: String },
}

/// Writes reports as text (aligned, coloured only on a terminal) or JSON Lines.
struct Printer {
    format: Format,
    colour: bool,
    name_width: usize,
}

impl Printer {
    fn new(format: Format, sources: &[Source<'_>]) -> Self {
        let shown = |n: &CertName| n.base().as_str().len() + if n.is_wildcard() { 2 } else { 0 };
        let name_width = sources
            .iter()
            .map(|s| match s {
                Source::Configured(d) => d.cert_names().iter().map(shown).max().unwrap_or(0),
                Source::Given(Input::Name(n)) => shown(n),
                Source::Given(Input::Bad { given, .. }) => given.len(),
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
                // A bogus lookup is the verdict's reason already; what the
                // validating resolver said of it is not.
                for note in &r.caa.dnssec {
                    let status = (note.status.word() != "bogus").then(|| note.status.describe());
                    let resolver = note.resolver_agreement();
                    let line = match (status, resolver) {
                        (Some(s), Some(r)) => format!("{s}; {r}"),
                        (Some(s), None) => s,
                        (None, Some(r)) => r,
                        (None, None) => continue,
                    };
                    writeln!(out, "    dnssec: {} {}: {line}", note.name, note.rtype)?;
                }
                if let Some(reach) = &r.reach {
                    writeln!(
                        out,
                        "    reach: {}: {}",
                        reach.verdict.as_str(),
                        reach.reason
                    )?;
                }
                for f in &r.findings {
                    // The verdict's own finding is the reason line above;
                    // the views' findings (issue 13) are shown like the rest.
                    if f.check != crate::findings::CheckKind::Caa
                        || f.severity != crate::findings::Severity::Blocking
                        || f.summary != r.caa.reason
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
                    .chain(r.caa.views.iter().map(|v| v.remedy.as_ref()))
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
