//! `certvigil probe serve`: the agent a `kind = "agent"` vantage point
//! talks to, run on a host abroad (see `checks::reach::agent`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::Threads;
use crate::checks::reach::ProbeSettings;
use crate::checks::reach::agent::{self, AgentSettings};
use crate::config::{self, SecretSource};
use crate::dns::{DnsHandle, DnsSettings};

#[derive(Debug, clap::Subcommand)]
pub enum ProbeCommand {
    /// Serve probes to other certvigil instances over HTTP (bearer token required)
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:8443 (put a TLS proxy in front when crossing the Internet)
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
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
    let settings = AgentSettings {
        token,
        allow_private: args.allow_private,
        per_minute: args.rate_limit,
        max_in_flight: 16,
        probe: ProbeSettings {
            connect_timeout: args.connect_timeout,
            request_timeout: args.request_timeout,
            ..ProbeSettings::default()
        },
        dns,
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
        // Scripts (and tests) wait for this line before sending probes.
        println!("certvigil probe: listening on http://{bound}");
        if args.allow_private {
            eprintln!(
                "certvigil probe serve: --allow-private: names resolving to private addresses will be probed"
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
