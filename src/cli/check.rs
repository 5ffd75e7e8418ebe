//! `certvigil check`.

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Names to check; `*.example.com` asks about a wildcard certificate
    pub domains: Vec<String>,
}

pub fn main(_args: CheckArgs) -> u8 {
    super::EXIT_USAGE
}
