//! `certvigil probe serve`: the agent a `kind = "agent"` vantage point
//! talks to, run on a host abroad (see `checks::reach::agent`).
//!
//! It speaks HTTPS: with `--tls-cert`/`--tls-key` (a certificate from any
//! CA, or one the operator made), or `--tls-self-signed DIR` (generated on
//! first start, kept in DIR; the daemon pins its fingerprint, which the
//! agent prints at every start). Plain HTTP needs `--insecure-http` and a
//! loopback listen address: it is for a TLS proxy on the same host and for
//! tests, never for a token that crosses a network.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Threads;
use crate::checks::reach::ProbeSettings;
use crate::checks::reach::agent::{self, AgentSettings, ListenerLimits};
use crate::checks::reach::agent_tls;
use crate::config::{self, SecretSource};
use crate::dns::{DnsHandle, DnsSettings};

#[derive(Debug, clap::Subcommand)]
pub enum ProbeCommand {
    /// Serve probes to other certvigil instances over HTTPS (bearer token required)
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:8443
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// TLS certificate chain, PEM, leaf first (with --tls-key)
    #[arg(long, value_name = "F", requires = "tls_key", conflicts_with_all = ["tls_self_signed", "insecure_http"])]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key, PEM (with --tls-cert)
    #[arg(long, value_name = "F", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Use a self-signed certificate kept in DIR (generated on first start); pin the printed fingerprint in [[vantage]] tls_fingerprint
    #[arg(long, value_name = "DIR", conflicts_with = "insecure_http")]
    pub tls_self_signed: Option<PathBuf>,
    /// Serve plain HTTP, on a loopback address only (behind a local TLS proxy, or for tests)
    #[arg(long)]
    pub insecure_http: bool,
    /// Connections open at once; more are closed on arrival
    #[arg(long, value_name = "N", default_value_t = ListenerLimits::default().max_connections)]
    pub max_connections: usize,
    /// Time a client has to send a request head (and to finish TLS); also how long an idle connection stays open
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "10s")]
    pub header_timeout: Duration,
    /// Refused tokens: a few lines per window, then one line with the count
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "60s", hide = true)]
    pub refusal_log_window: Duration,
    /// File holding the bearer token clients must send
    #[arg(long, value_name = "F")]
    pub token_file: PathBuf,
    /// Also probe names that resolve to private or loopback addresses (tests, private networks)
    #[arg(long)]
    pub allow_private: bool,
    /// Recursive resolver, IP or IP:PORT; repeatable. Default: /etc/resolv.conf
    #[arg(long = "nameserver", value_name = "IP:PORT")]
    pub nameservers: Vec<String>,
    /// Probes accepted per minute
    #[arg(long, default_value_t = 60)]
    pub rate_limit: u32,
    /// Connect timeout per request, e.g. "10s"
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "10s")]
    pub connect_timeout: Duration,
    /// Timeout of a whole request, body included, e.g. "20s"
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "20s")]
    pub request_timeout: Duration,
}

pub fn main(cmd: ProbeCommand) -> u8 {
    match cmd {
        ProbeCommand::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> u8 {
    let token = match SecretSource::file("--token-file", &args.token_file).read() {
        Ok(t) if !t.expose().trim().is_empty() => t.expose().trim().to_string(),
        Ok(_) => {
            eprintln!(
                "certvigil probe serve: the token file {} is empty; put a long random token in it",
                args.token_file.display()
            );
            return super::EXIT_USAGE;
        }
        Err(e) => {
            eprintln!("certvigil probe serve: {e}");
            return super::EXIT_USAGE;
        }
    };
    let mut dns_settings = DnsSettings::default();
    if !args.nameservers.is_empty() {
        match args
            .nameservers
            .iter()
            .map(|s| config::parse_nameserver(s))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(list) => dns_settings.nameservers = Some(list),
            Err(e) => {
                eprintln!("certvigil probe serve: --nameserver: {e}");
                return super::EXIT_USAGE;
            }
        }
    }
    let dns = match DnsHandle::new(&dns_settings) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("certvigil probe serve: {e}");
            return super::EXIT_USAGE;
        }
    };
    let tls = match (&args.tls_cert, &args.tls_key, &args.tls_self_signed) {
        (Some(cert), Some(key), _) => Some(agent_tls::from_files(cert, key)),
        (_, _, Some(dir)) => Some(agent_tls::self_signed(dir)),
        _ if args.insecure_http => {
            if !args.listen.ip().is_loopback() {
                eprintln!(
                    "certvigil probe serve: --insecure-http is for a loopback address only ({} is not): the bearer token would cross the network in clear; use --tls-self-signed DIR or --tls-cert/--tls-key",
                    args.listen.ip()
                );
                return super::EXIT_USAGE;
            }
            None
        }
        _ => {
            eprintln!(
                "certvigil probe serve: say how to speak TLS: --tls-self-signed DIR (then pin the printed fingerprint in [[vantage]] tls_fingerprint), or --tls-cert F --tls-key F; --insecure-http serves plain HTTP on loopback only"
            );
            return super::EXIT_USAGE;
        }
    };
    let tls = match tls.transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("certvigil probe serve: {e}");
            return super::EXIT_USAGE;
        }
    };
    let fingerprint = tls.as_ref().map(|t| t.fingerprint);
    let probe = ProbeSettings {
        connect_timeout: args.connect_timeout,
        request_timeout: args.request_timeout,
        ..ProbeSettings::default()
    };
    let limits = ListenerLimits {
        max_connections: args.max_connections,
        header_timeout: args.header_timeout,
        // Both ports are probed in parallel, each within its timeouts.
        request_timeout: (args.connect_timeout + args.request_timeout) * 2 + args.header_timeout,
        ..ListenerLimits::default()
    };
    let settings = AgentSettings {
        token,
        allow_private: args.allow_private,
        per_minute: args.rate_limit,
        max_in_flight: 16,
        probe,
        dns,
        limits,
        tls: tls.map(|t| Arc::clone(&t.config)),
        refusal_log_window: args.refusal_log_window,
    };
    let Some(runtime) = super::runtime(Threads::Many, |m| eprintln!("certvigil probe serve: {m}"))
    else {
        return super::EXIT_USAGE;
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("certvigil probe serve: cannot listen on {}: {e}", args.listen);
                return super::EXIT_USAGE;
            }
        };
        let bound = listener.local_addr().map_or(args.listen, |a| a);
        // Scripts (and tests) wait for this line before sending probes, so
        // it comes first, before any log line.
        let scheme = if fingerprint.is_some() { "https" } else { "http" };
        println!("certvigil probe: listening on {scheme}://{bound}");
        if let Some(fp) = fingerprint {
            println!("certvigil probe: certificate fingerprint {fp}");
        }
        crate::daemon::init_logging();
        if let Some(fp) = fingerprint {
            tracing::info!(
                fingerprint = %fp,
                "probe agent: serving HTTPS; pin this certificate in the daemon's [[vantage]] with tls_fingerprint = \"{fp}\""
            );
        } else {
            tracing::warn!("probe agent: serving plain HTTP (--insecure-http), on loopback only");
        }
        if args.allow_private {
            tracing::warn!(
                "probe agent: --allow-private: names resolving to private addresses will be probed"
            );
        }
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing a SIGTERM handler works on Unix");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        match agent::serve(listener, settings, shutdown).await {
            Ok(()) => super::EXIT_OK,
            Err(e) => {
                eprintln!("certvigil probe serve: {e}");
                super::EXIT_USAGE
            }
        }
    })
}
