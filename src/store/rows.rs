//! Multi-row statements: one `INSERT ... VALUES (...), (...)` for many rows
//! of a batch instead of one statement each. On SQLite every statement is a
//! round trip between the caller's task and sqlx's worker thread (two thread
//! wake-ups), which was most of the daemon's CPU in a cycle; a batch of
//! domains costs a few statements instead of about ten per domain.
//!
//! The statement text depends only on the number of rows, so sqlx's
//! per-connection statement cache still reuses it across batches of the
//! same size.

/// The most bound parameters one statement gets. SQLite allows 32,766,
/// PostgreSQL 65,535; well below both, and a few hundred rows per statement
/// already makes the per-statement cost negligible.
const MAX_PARAMS: usize = 8_000;

/// How many rows of `cols` columns go in one statement.
pub(crate) fn rows_per_statement(cols: usize) -> usize {
    (MAX_PARAMS / cols.max(1)).max(1)
}

/// `($1, $2), ($3, $4)` for `rows` rows of `cols` columns, numbered from
/// `$1`.
pub(crate) fn values(rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        }
        out.push(')');
    }
    out
}

/// `$1, $2, $3` for `n` parameters (an `IN (...)` list).
pub(crate) fn params(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_number_every_parameter_once_row_by_row() {
        assert_eq!(values(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values(1, 1), "($1)");
        assert_eq!(params(3), "$1, $2, $3");
        assert!(rows_per_statement(12) * 12 <= MAX_PARAMS);
        assert_eq!(rows_per_statement(100_000), 1);
    }
}
