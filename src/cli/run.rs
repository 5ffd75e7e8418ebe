//! `certvigil run`.

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file
    #[arg(long, env = "CERTVIGIL_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    pub config: std::path::PathBuf,
}

pub fn main(_args: RunArgs) -> u8 {
    eprintln!("certvigil run: not built yet");
    super::EXIT_USAGE
}
