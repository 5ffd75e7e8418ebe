//! The validator's per-run tables (validated answers, zones' keys): one
//! cell per question, shared by every lookup that asks it while it is
//! worked out, and bounded, so a run over 100,000 names does not hold
//! 100,000 notes to its end (issue 15: the validated-answer table was the
//! largest thing `check` held at 100,000 names, and the daemon's cycle held
//! it too).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// How many cells a table holds before its finished ones are forgotten.
/// Far above the questions in flight at once (the DNS layer's in-flight
/// bound), so a sweep frees nearly all of it and costs O(1) per question
/// over a run; a forgotten question is simply worked out again if asked.
pub(super) const MAX_CELLS: usize = 16_384;

pub(super) struct Table<K, V> {
    cells: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K: Eq + Hash, V> Default for Table<K, V> {
    fn default() -> Self {
        Self {
            cells: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V> Table<K, V> {
    /// The cell of `key`: the one already there (finished or being worked
    /// out), or a new one.
    pub(super) fn cell(&self, key: K) -> Arc<OnceCell<V>> {
        let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        if cells.len() >= MAX_CELLS && !cells.contains_key(&key) {
            // Only finished cells go: a lookup waiting on one in progress
            // keeps sharing it.
            cells.retain(|_, c| !c.initialized());
        }
        Arc::clone(cells.entry(key).or_default())
    }

    /// Forgets every cell, capacity included (idle, the table need not
    /// keep a cycle's worth of room).
    pub(super) fn clear(&self) {
        *self.cells.lock().unwrap_or_else(|e| e.into_inner()) = HashMap::new();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.cells.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_forgets_its_finished_cells_and_keeps_those_in_progress() {
        let t: Table<usize, u8> = Table::default();
        // Ten questions still being worked out, the rest finished.
        let in_progress: Vec<_> = (0..10).map(|k| t.cell(k)).collect();
        for k in 10..MAX_CELLS {
            t.cell(k).set(1).unwrap();
        }
        assert_eq!(t.len(), MAX_CELLS);
        // Asking a finished question again shares its cell: nothing goes.
        assert_eq!(t.cell(20).get(), Some(&1));
        assert_eq!(t.len(), MAX_CELLS);
        // A new question: the finished cells go, the ones in progress stay
        // shared.
        let new = t.cell(MAX_CELLS);
        assert_eq!(t.len(), 11);
        assert!(Arc::ptr_eq(&t.cell(3), &in_progress[3]));
        assert!(new.get().is_none());
        // So the table never holds more than MAX_CELLS, however many
        // questions a run asks.
        for k in 0..5 * MAX_CELLS {
            t.cell(MAX_CELLS + 1 + k).set(1).unwrap();
            assert!(t.len() <= MAX_CELLS);
        }
    }
}
