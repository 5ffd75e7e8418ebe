//! Configuration.

/// Where the daemon looks when neither `--config` nor `CERTVIGIL_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/certvigil/config.toml";
