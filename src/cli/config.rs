//! `certvigil config check`.

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and report every problem with its line and column
    Check {
        /// Configuration file
        #[arg(long, env = "CERTVIGIL_CONFIG", default_value = crate::config::DEFAULT_PATH)]
        config: std::path::PathBuf,
    },
}

pub fn main(_cmd: ConfigCommand) -> u8 {
    eprintln!("certvigil config check: not built yet");
    super::EXIT_USAGE
}
