//! The `certvigil` binary: argument parsing and exit codes only. Everything
//! it does lives in the library (`certvigil::cli::*` for each command).

use std::process::ExitCode;

use certvigil::cli;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "certvigil",
    version,
    about = "Watches the DNS, HTTP and order states that make a CA refuse or delay a TLS certificate"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One-shot diagnosis of names, no database needed (exit 0: nothing blocks, 1: something blocks, 2: bad usage)
    Check(cli::check::CheckArgs),
    /// The daemon: schedule checks, store results, send alerts
    Run(cli::run::RunArgs),
    /// Current state of every target, from the database
    Status(cli::status::StatusArgs),
    /// Timeline of state changes with before/after diffs, from the database
    History(cli::history::HistoryArgs),
    /// Write a minimal working configuration (one domain, one email recipient) to start from
    Init(cli::init::InitArgs),
    /// Configuration file tools
    #[command(subcommand)]
    Config(cli::config::ConfigCommand),
    /// Alert channels: send a test alert through each
    #[command(subcommand)]
    Alert(cli::alert::AlertCommand),
    /// Pending certificate orders: list, show, record a CA notice
    Orders(cli::orders::OrdersArgs),
    /// Probe agent for overseas reachability checks (run it on a host abroad)
    #[command(subcommand)]
    Probe(cli::probe::ProbeCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(args) => cli::check::main(args),
        Command::Run(args) => cli::run::main(args),
        Command::Status(args) => cli::status::main(args),
        Command::History(args) => cli::history::main(args),
        Command::Init(args) => cli::init::main(args),
        Command::Config(cmd) => cli::config::main(cmd),
        Command::Probe(cmd) => cli::probe::main(cmd),
        Command::Alert(cmd) => cli::alert::main(cmd),
        Command::Orders(args) => cli::orders::main_args(args),
    };
    ExitCode::from(code)
}
