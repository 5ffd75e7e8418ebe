//! Where a configuration problem is, and how it is reported: every problem
//! names the file, the 1-based line and column, and the dotted key path
//! (`domains[1].ca[0]`), so an operator can go straight to it.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde_spanned::Spanned;
use thiserror::Error;
use toml::de::{DeTable, DeValue};

/// A position in a configuration file. Lines and columns count from 1;
/// columns count characters, not bytes, so they match what an editor shows
/// on a line holding a Unicode domain name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// The file name as given on the command line (for messages only).
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One thing wrong (or, for warnings, doubtful) in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where it is; `None` when the problem has no single place (rare).
    pub location: Option<Location>,
    /// The dotted key path, e.g. `domains[1].ca[0]`; `None` for syntax
    /// errors outside any key.
    pub key: Option<String>,
    /// What is wrong and what to do, without the location or key.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigErrors {
    #[error(
        "{}: cannot read the configuration file: {source}; give the right path with --config or CERTVIGIL_CONFIG",
        .path.display()
    )]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every problem found, in file order; never empty.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigErrors {
    /// The individual problems (empty for [`ConfigErrors::Unreadable`]).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigErrors::Unreadable { .. } => &[],
            ConfigErrors::Invalid(problems) => problems,
        }
    }
}

fn render_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects problems while a file is checked, turning byte spans into
/// line and column.
pub(crate) struct Problems<'a> {
    file: &'a str,
    text: &'a str,
    /// Built on first use: `locate` is called once per domain (duplicate
    /// detection), and scanning the text from the start each time made
    /// loading 100k domains quadratic (minutes, with SIGTERM blocked).
    lines: std::cell::OnceCell<LineIndex>,
    pub(crate) list: Vec<Problem>,
    /// Secret files named so far (where, by which key), for the
    /// permission check at load.
    pub(crate) secret_files: Vec<(Range<usize>, String, std::path::PathBuf)>,
}

impl<'a> Problems<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str) -> Self {
        Self {
            file,
            text,
            lines: std::cell::OnceCell::new(),
            list: Vec::new(),
            secret_files: Vec::new(),
        }
    }

    pub(crate) fn locate(&self, span: &Range<usize>) -> Location {
        let (line, column) = self
            .lines
            .get_or_init(|| LineIndex::new(self.text))
            .line_column(self.text, span.start);
        Location {
            file: self.file.to_string(),
            line,
            column,
        }
    }

    /// Records a problem at `span`, under `key`.
    pub(crate) fn at(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        let location = Some(self.locate(&span));
        self.list.push(Problem {
            location,
            key: Some(key.into()),
            message: message.into(),
        });
    }

    /// Records a problem at a spanned value.
    pub(crate) fn on<T>(
        &mut self,
        value: &Spanned<T>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.at(value.span(), key, message);
    }

    /// Records an error from toml's parser or deserializer. `prefix` is the
    /// key path of `value`, the part of the document that was deserialized;
    /// the rest of the path is found by looking up the error's span in it.
    pub(crate) fn toml_error(
        &mut self,
        err: &toml::de::Error,
        prefix: &str,
        value: Option<&DeValue<'_>>,
    ) {
        let location = err.span().map(|span| self.locate(&span));
        let key = match (err.span(), value) {
            (Some(span), Some(value)) => {
                let mut path = prefix.to_string();
                if let Some(rest) = path_in_value(value, span.start) {
                    path.push_str(&rest);
                }
                path
            }
            _ => prefix.to_string(),
        };
        let key = key.strip_prefix('.').unwrap_or(&key).to_string();
        self.list.push(Problem {
            location,
            key: (!key.is_empty()).then_some(key),
            message: toml_message(err),
        });
    }

    /// All problems in file order (problems without a place last).
    pub(crate) fn into_sorted(mut self) -> Vec<Problem> {
        self.list.sort_by(|a, b| match (&a.location, &b.location) {
            (Some(x), Some(y)) => (x.line, x.column).cmp(&(y.line, y.column)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        self.list
    }
}

/// toml's message, made to read as one line after our own prefix.
fn toml_message(err: &toml::de::Error) -> String {
    let message = err.message().trim().replace('\n', "; ");
    // serde names Rust types; say what to write instead.
    let message = message
        .replace("expected usize", "expected a whole number, 1 or more")
        .replace("expected u32", "expected a whole number, 1 or more")
        .replace("expected u16", "expected a port number, 1 to 65535");
    // serde says "unknown field `x`, expected one of ..." — add the fix.
    if message.starts_with("unknown field") {
        format!("{message} (see config.example.toml for every key)")
    } else {
        message
    }
}

/// Where each line of a text starts: built in one pass, then any offset's
/// line is a binary search and its column a count within that line only.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    /// Byte offset of the start of each line; the first is 0.
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Self { starts }
    }

    /// 1-based line and character column of byte `offset` in `text` (the
    /// text the index was built from); the same answer as [`line_column`].
    pub(crate) fn line_column(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        // The last line start at or before `offset`.
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let column = text[start..offset].chars().count() + 1;
        (line, column)
    }
}

/// 1-based line and character column of byte `offset` in `text`: the
/// plain scan [`LineIndex`] is checked against.
#[cfg(test)]
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The key path, relative to `value`, of the deepest key or value whose
/// span contains `offset`: `.ca[0]`, `[2].name`, ... Spans of tables
/// opened by a `[header]` do not cover their keys, so every child is
/// searched rather than only those whose span contains the offset.
pub(crate) fn path_in_value(value: &DeValue<'_>, offset: usize) -> Option<String> {
    match value {
        DeValue::Table(table) => path_in_table(table, offset),
        DeValue::Array(array) => array.iter().enumerate().find_map(|(i, item)| {
            let inner = path_in_value(item.get_ref(), offset);
            match inner {
                Some(rest) => Some(format!("[{i}]{rest}")),
                None if item.span().contains(&offset) => Some(format!("[{i}]")),
                None => None,
            }
        }),
        _ => None,
    }
}

pub(crate) fn path_in_table(table: &DeTable<'_>, offset: usize) -> Option<String> {
    table.iter().find_map(|(key, value)| {
        let name = key_segment(key.get_ref());
        if key.span().contains(&offset) {
            return Some(format!(".{name}"));
        }
        match path_in_value(value.get_ref(), offset) {
            Some(rest) => Some(format!(".{name}{rest}")),
            None if value.span().contains(&offset) => Some(format!(".{name}")),
            None => None,
        }
    })
}

/// A key as it would be written in a dotted path: bare when it can be.
fn key_segment(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_index_agrees_with_the_scan_everywhere() {
        let text = "a\n\nbé c\n[x]\nlast";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(
                index.line_column(text, offset),
                line_column(text, offset),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn the_line_index_of_a_100k_domain_config_locates_every_domain_quickly() {
        let text: String = (0..100_000)
            .map(|i| format!("[[domains]]\nname = \"d{i}.example.com\"\nca = [\"letsencrypt\"]\n"))
            .collect();
        let offsets: Vec<usize> = text.match_indices("name =").map(|(o, _)| o).collect();
        let started = std::time::Instant::now();
        let index = LineIndex::new(&text);
        let lines: Vec<usize> = offsets
            .iter()
            .map(|&o| index.line_column(&text, o).0)
            .collect();
        // Linear: ~10 ms here. The per-domain scan took minutes; the
        // bound is generous for a loaded machine and a debug build.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(lines[0], 2);
        assert_eq!(lines[99_999], 299_999);
    }

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let text = "a = 1\nname = \"bücher\" x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        let x = text.find(" x").unwrap() + 1;
        // "name = \"bücher\" " is 16 characters but 17 bytes.
        assert_eq!(line_column(text, x), (2, 17));
    }

    #[test]
    fn a_path_is_found_for_an_offset_inside_an_array_of_tables() {
        let text = "[[domains]]\nname = \"a\"\n[[domains]]\nname = \"b\"\nca = [\"x\", \"y\"]\n";
        let root = DeTable::parse(text).unwrap();
        let offset = text.find("\"y\"").unwrap();
        assert_eq!(
            path_in_table(root.get_ref(), offset).as_deref(),
            Some(".domains[1].ca[1]")
        );
    }
}
