//! `certvigil store`: the database itself. `migrate` creates or upgrades
//! the schema as the daemon does at start (for a PostgreSQL database
//! prepared before the daemons run); `copy` moves a whole history into an
//! empty database, e.g. from the SQLite file to PostgreSQL.

use std::path::PathBuf;

use super::Threads;
use crate::store::Store;

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Create or upgrade the schema of the configured database, as `run` does at start
    Migrate {
        /// Configuration file (to find the database)
        #[arg(long, env = "CERTVIGIL_CONFIG", default_value = crate::config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Copy every row of a history into an empty database (both at this version's schema)
    Copy {
        /// The source: sqlite:PATH (or a file path) or postgres://user@host/db
        #[arg(long)]
        from: PathBuf,
        /// The destination, created and migrated if needed: postgres://user@host/db or sqlite:PATH
        #[arg(long)]
        to: PathBuf,
    },
}

pub fn main(cmd: StoreCommand) -> u8 {
    let Some(runtime) = super::runtime(Threads::One, |m| eprintln!("{m}")) else {
        return 1;
    };
    let result: Result<String, String> = runtime.block_on(async {
        match cmd {
            StoreCommand::Migrate { config } => {
                let config = super::load_config(&config, &mut std::io::stderr())
                    .map_err(|_| String::new())?;
                let store = Store::open(config.database_path())
                    .await
                    .map_err(|e| e.to_string())?;
                let version = store.schema_version().await.map_err(|e| e.to_string())?;
                store.close().await;
                Ok(format!(
                    "{}: schema version {}\n",
                    config.database_path().display(),
                    version.unwrap_or(0)
                ))
            }
            StoreCommand::Copy { from, to } => {
                let source = Store::open_existing(&from)
                    .await
                    .map_err(|e| e.to_string())?;
                let dest = Store::open(&to).await.map_err(|e| e.to_string())?;
                let report = crate::store::copy::copy(&source, &dest)
                    .await
                    .map_err(|e| e.to_string());
                source.close().await;
                dest.close().await;
                let report = report?;
                let mut text = format!("copied {} to {}:\n", from.display(), to.display());
                for (table, rows) in report.tables {
                    text.push_str(&format!("  {table}: {rows} rows\n"));
                }
                Ok(text)
            }
        }
    });
    match result {
        Ok(text) => {
            print!("{text}");
            super::EXIT_OK
        }
        Err(e) => {
            if !e.is_empty() {
                eprintln!("certvigil store: {e}");
            }
            1
        }
    }
}
