//! The `certvigil` binary: argument parsing and exit codes only. Everything
//! it does lives in the library (`certvigil::cli::*` for each command).

use std::process::ExitCode;

use certvigil::cli;
use clap::{CommandFactory, Parser, Subcommand};

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
    /// The database: create or upgrade its schema, copy a history into another
    #[command(subcommand)]
    Store(cli::store::StoreCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) generated from this command line
    Man,
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
        Command::Store(cmd) => cli::store::main(cmd),
        // Both are generated from the clap definition above, so they never
        // drift from the commands and options that exist. Rendered into
        // memory first: a closed pipe (`| head`) is not an error.
        Command::Completions { shell } => {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "certvigil", &mut text);
            print_all(&text)
        }
        Command::Man => {
            let mut text = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut text) {
                Ok(()) => print_all(&text),
                Err(e) => {
                    eprintln!("certvigil man: {e}");
                    cli::EXIT_USAGE
                }
            }
        }
    };
    ExitCode::from(code)
}

fn print_all(text: &[u8]) -> u8 {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text);
    cli::EXIT_OK
}
