//! Field parsers every section shares: durations, cron, URLs, secrets,
//! unique names. Each reports a problem at the value's line:column.

use super::problem::Problems;
use super::raw::Text;
use super::schedule::{CronSchedule, parse_duration};
use super::secret::SecretSource;
use reqwest::Url;
use serde_spanned::Spanned;
use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

pub(super) fn duration(text: &Text, key: &str, p: &mut Problems<'_>) -> Option<Duration> {
    match parse_duration(text.get_ref()) {
        Ok(d) if d.is_zero() => {
            p.on(
                text,
                key,
                format!(
                    "{:?} is zero; give a positive duration such as \"90s\"",
                    text.get_ref()
                ),
            );
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            p.on(text, key, e.to_string());
            None
        }
    }
}

pub(super) fn cron(text: &Text, key: &str, p: &mut Problems<'_>) -> Option<CronSchedule> {
    CronSchedule::parse(text.get_ref())
        .map_err(|e| p.on(text, key, e.to_string()))
        .ok()
}

pub(super) fn url(text: &Text, key: &str, schemes: &[&str], p: &mut Problems<'_>) -> Option<Url> {
    // The URL itself is never echoed: webhook and proxy URLs often carry a
    // token or a password.
    match Url::parse(text.get_ref()) {
        Ok(u) if !schemes.contains(&u.scheme()) => {
            p.on(
                text,
                key,
                format!(
                    "the URL's scheme is {:?}; use one of {}",
                    u.scheme(),
                    schemes.join(", ")
                ),
            );
            None
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            p.on(
                text,
                key,
                "the URL has no host; write it as scheme://host[:port]/path",
            );
            None
        }
        Ok(u) => Some(u),
        Err(e) => {
            p.on(
                text,
                key,
                format!("not a valid URL ({e}); write it as scheme://host[:port]/path"),
            );
            None
        }
    }
}

/// `<base>_file` / `<base>_env`: at most one of them.
pub(super) fn secret(
    file: &Option<Spanned<PathBuf>>,
    env: &Option<Text>,
    prefix: &str,
    base: &str,
    p: &mut Problems<'_>,
) -> Option<SecretSource> {
    match (file, env) {
        (Some(_), Some(e)) => {
            p.on(
                e,
                format!("{prefix}.{base}_env"),
                format!("both {base}_file and {base}_env are set; keep one"),
            );
            None
        }
        (Some(f), None) => {
            if f.get_ref().as_os_str().is_empty() {
                p.on(
                    f,
                    format!("{prefix}.{base}_file"),
                    "the path is empty; name the file holding the secret",
                );
                return None;
            }
            p.secret_files.push((
                f.span(),
                format!("{prefix}.{base}_file"),
                f.get_ref().clone(),
            ));
            Some(SecretSource::file(
                format!("{prefix}.{base}_file"),
                f.get_ref().clone(),
            ))
        }
        (None, Some(e)) => {
            let var = e.get_ref();
            let valid = !var.is_empty()
                && !var.starts_with(|c: char| c.is_ascii_digit())
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                p.on(
                    e,
                    format!("{prefix}.{base}_env"),
                    // Not echoed: what is written here by mistake is
                    // often the secret itself.
                    "this is not an environment variable name (letters, digits, '_'); give the variable's name, not the secret",
                );
                return None;
            }
            Some(SecretSource::env(
                format!("{prefix}.{base}_env"),
                var.clone(),
            ))
        }
        (None, None) => None,
    }
}

/// Records `name` as used; reports it when an earlier entry had it.
pub(super) fn unique_name(
    name: &Text,
    key: &str,
    section: &str,
    seen: &mut HashMap<String, usize>,
    i: usize,
    p: &mut Problems<'_>,
) -> Option<String> {
    let n = name.get_ref().trim();
    if n.is_empty() {
        p.on(
            name,
            key,
            "the name is empty; give each entry a short unique name",
        );
        return None;
    }
    if let Some(first) = seen.get(n) {
        p.on(
            name,
            key,
            format!("{n:?} is already the name of {section}[{first}]; names must be unique"),
        );
        return None;
    }
    seen.insert(n.to_string(), i);
    Some(n.to_string())
}

/// Where a key is written (if it is), and its name.
pub(super) type KeyAt<'a> = (Option<Range<usize>>, &'a str);

pub(super) fn span_of<T>(value: &Option<Spanned<T>>) -> Option<Range<usize>> {
    value.as_ref().map(Spanned::span)
}
