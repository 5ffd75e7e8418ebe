//! Secrets (SMTP passwords, webhook signing keys, API tokens) are never
//! written in the configuration file itself: the file names where to find
//! them, a file (`password_file`, e.g. under systemd's
//! `$CREDENTIALS_DIRECTORY`) or an environment variable (`password_env`).
//! They are read when used, not when the file is parsed, so a rotated
//! secret is picked up without a reload and a parsed `Config` holds none.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretLocation {
    /// A file holding the secret; one trailing newline is ignored.
    File(PathBuf),
    /// An environment variable holding the secret, by name.
    Env(String),
}

/// A secret named by the configuration, with the key that named it so a
/// failure to read it says which setting to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSource {
    /// The key path that named it, e.g. `alerts.email[0].password_file`.
    pub key: String,
    pub location: SecretLocation,
}

/// A secret's value. It prints as `[redacted]` with both `{}` and `{:?}`,
/// so it cannot leak into a log line or an error by accident; use
/// [`Secret::expose`] where the value is really needed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret's value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a secret could not be read. Messages name the setting and the file
/// or variable, never the value.
#[derive(Debug, Error)]
pub enum SecretError {
    #[error(
        "cannot read the secret file {} named by {key}: {source}; check that it exists and that the user certvigil runs as may read it",
        .path.display()
    )]
    FileUnreadable {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the environment variable {var} named by {key} is not set; set it in the service's environment (systemd: Environment= or EnvironmentFile=)"
    )]
    EnvMissing { key: String, var: String },
    #[error("the environment variable {var} named by {key} is not valid UTF-8")]
    EnvNotUnicode { key: String, var: String },
    #[error("the secret from {from} (named by {key}) is empty; put the secret in it")]
    Empty { key: String, from: String },
}

impl SecretSource {
    pub fn file(key: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            key: key.into(),
            location: SecretLocation::File(path.into()),
        }
    }

    pub fn env(key: impl Into<String>, var: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            location: SecretLocation::Env(var.into()),
        }
    }

    /// Reads the secret now.
    pub fn read(&self) -> Result<Secret, SecretError> {
        let (value, from) = match &self.location {
            SecretLocation::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| {
                    SecretError::FileUnreadable {
                        key: self.key.clone(),
                        path: path.clone(),
                        source,
                    }
                })?;
                (text, format!("file {}", path.display()))
            }
            SecretLocation::Env(var) => match std::env::var(var) {
                Ok(text) => (text, format!("environment variable {var}")),
                Err(std::env::VarError::NotPresent) => {
                    return Err(SecretError::EnvMissing {
                        key: self.key.clone(),
                        var: var.clone(),
                    });
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(SecretError::EnvNotUnicode {
                        key: self.key.clone(),
                        var: var.clone(),
                    });
                }
            },
        };
        // `echo token > file` leaves a newline that is not part of the token.
        let value = value
            .strip_suffix('\n')
            .map(|v| v.strip_suffix('\r').unwrap_or(v))
            .unwrap_or(&value);
        if value.is_empty() {
            return Err(SecretError::Empty {
                key: self.key.clone(),
                from,
            });
        }
        Ok(Secret(value.to_string()))
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            SecretLocation::File(path) => write!(f, "file {}", path.display()),
            SecretLocation::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "hunter2\n").unwrap();
        let secret = SecretSource::file("alerts.email[0].password_file", &path)
            .read()
            .unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert!(!format!("{:?}", Some(&secret)).contains("hunter2"));
    }

    #[test]
    fn a_missing_file_names_the_key_and_the_path() {
        let err = SecretSource::file(
            "alerts.webhook[0].secret_file",
            "/nonexistent/certvigil.secret",
        )
        .read()
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("alerts.webhook[0].secret_file"), "{msg}");
        assert!(msg.contains("/nonexistent/certvigil.secret"), "{msg}");
    }

    #[test]
    fn an_empty_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            SecretSource::file("k", &path).read(),
            Err(SecretError::Empty { .. })
        ));
    }

    #[test]
    fn an_unset_variable_is_named() {
        // A name no test or environment sets; reading it mutates nothing.
        let err = SecretSource::env("vantage[0].token_env", "CERTVIGIL_TEST_NEVER_SET_7F3A")
            .read()
            .unwrap_err();
        assert!(matches!(err, SecretError::EnvMissing { .. }));
        assert!(err.to_string().contains("CERTVIGIL_TEST_NEVER_SET_7F3A"));
    }
}
