//! `certvigil status`.

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Configuration file
    #[arg(long, env = "CERTVIGIL_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    pub config: std::path::PathBuf,
}

pub fn main(_args: StatusArgs) -> u8 {
    eprintln!("certvigil status: not built yet");
    super::EXIT_USAGE
}
