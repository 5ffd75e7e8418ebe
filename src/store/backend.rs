//! Where the store lives: an SQLite file (the default) or a PostgreSQL
//! database, told apart by the `database` setting: `postgres://` or
//! `postgresql://` is a PostgreSQL URL, anything else a file path.
//!
//! Both are reached through sqlx's `Any` driver, so every statement is
//! written once in the SQL both engines accept: `$1` placeholders, integer
//! columns for flags (bound and read as `i64`), `CASE` instead of boolean
//! expressions in result columns, `CAST(sum(..) AS BIGINT)`, and
//! table-qualified columns in upserts. The few statements that must differ
//! (the write lock, the schema catalogue, claiming work) match on
//! [`Backend`].
//!
//! A PostgreSQL password is never part of the URL (it would sit in the
//! config and in messages): it comes from `PGPASSWORD` or a password file
//! (`PGPASSFILE`, `~/.pgpass`), as for every PostgreSQL client.

use std::path::{Path, PathBuf};

use sqlx::migrate::Migrator;

use super::StoreError;

/// The database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &super::MIGRATOR,
            Backend::Postgres => &super::PG_MIGRATOR,
        }
    }

    /// The newest schema version this build knows for this engine.
    pub fn latest_known_version(self) -> i64 {
        self.migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A parsed `database` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// A URL without a password.
    Postgres(String),
}

impl Location {
    /// Reads the `database` setting (or a `--from`/`--to` argument:
    /// `sqlite:PATH` is accepted too).
    pub fn parse(setting: &Path) -> Result<Location, StoreError> {
        let Some(text) = setting.to_str() else {
            return Ok(Location::Sqlite(setting.to_owned()));
        };
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let url = reqwest::Url::parse(text).map_err(|e| StoreError::BadUrl {
                url: text.to_string(),
                detail: e.to_string(),
            })?;
            if url.password().is_some() {
                let mut shown = url.clone();
                let _ = shown.set_password(Some("..."));
                return Err(StoreError::PasswordInUrl {
                    url: shown.to_string(),
                });
            }
            return Ok(Location::Postgres(text.to_string()));
        }
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        Ok(Location::Sqlite(setting.to_owned()))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Location::Sqlite(_) => Backend::Sqlite,
            Location::Postgres(_) => Backend::Postgres,
        }
    }

    /// What messages name: the file, or the URL (which has no password).
    pub fn display_path(&self) -> PathBuf {
        match self {
            Location::Sqlite(p) => p.clone(),
            Location::Postgres(u) => PathBuf::from(u),
        }
    }

    /// The sqlx URL; `create` lets SQLite create a missing file.
    pub(super) fn url(&self, create: bool) -> String {
        match self {
            Location::Sqlite(path) => {
                let mode = if create { "rwc" } else { "rw" };
                format!(
                    "sqlite://{}?mode={mode}",
                    encode_path(&path.to_string_lossy())
                )
            }
            Location::Postgres(url) => url.clone(),
        }
    }
}

/// Percent-encodes what a URL path cannot hold as is (sqlx decodes it).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_postgres_and_anything_else_a_file() {
        assert_eq!(
            Location::parse(Path::new("postgres://cv@db.example/certvigil"))
                .unwrap()
                .backend(),
            Backend::Postgres
        );
        assert_eq!(
            Location::parse(Path::new("/var/lib/certvigil/certvigil.db")).unwrap(),
            Location::Sqlite(PathBuf::from("/var/lib/certvigil/certvigil.db"))
        );
        assert_eq!(
            Location::parse(Path::new("sqlite:/tmp/a b.db")).unwrap(),
            Location::Sqlite(PathBuf::from("/tmp/a b.db"))
        );
        assert_eq!(
            Location::Sqlite(PathBuf::from("/tmp/a b#?.db")).url(false),
            "sqlite:///tmp/a%20b%23%3F.db?mode=rw"
        );
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_never_repeated() {
        let err = Location::parse(Path::new("postgres://cv:hunter2@db/certvigil")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("PGPASSWORD"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
