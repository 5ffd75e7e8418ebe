//! `certvigil run`: the daemon (see `crate::daemon`).

use tracing::error;

use super::Threads;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file
    #[arg(long, env = "CERTVIGIL_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    pub config: std::path::PathBuf,
}

pub fn main(args: RunArgs) -> u8 {
    // Before the runtime starts its threads.
    crate::memory::limit_arenas();
    crate::daemon::init_logging();
    let Some(runtime) = super::runtime(Threads::Many, |m| error!("{m}")) else {
        return 1;
    };
    let result = runtime.block_on(crate::daemon::run(&args.config));
    // Do not wait for tasks the scheduler library may have left behind.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => super::EXIT_OK,
        Err(e) => {
            // Config problems go to stderr in the same form as `config
            // check`, one per line; the log gets a summary.
            // The exit code is the CLI's business: 2 for a configuration
            // the operator must fix, 1 otherwise.
            if let crate::daemon::DaemonError::Config(_) = e {
                eprintln!("{e}");
                error!("not started: the configuration has problems (listed on stderr)");
                super::EXIT_USAGE
            } else {
                error!("{e}");
                1
            }
        }
    }
}
