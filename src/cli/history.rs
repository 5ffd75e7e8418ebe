//! `certvigil history`.

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Configuration file
    #[arg(long, env = "CERTVIGIL_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    pub config: std::path::PathBuf,
}

pub fn main(_args: HistoryArgs) -> u8 {
    eprintln!("certvigil history: not built yet");
    super::EXIT_USAGE
}
