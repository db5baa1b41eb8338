//! The memo: PUT stores a stack entry under an index, GET pushes it again.

use std::collections::HashMap;

use crate::pickle::Id;

const VACANT: Id = Id::MAX;

/// Picklers number memo entries 0, 1, 2, ..., so a vector serves; an index
/// beyond the input's length (legal, but never written by a pickler) goes
/// to a map so that it cannot make us allocate more than the input.
pub(super) struct Memo {
    dense: Vec<Id>,
    sparse: HashMap<u64, Id>,
    dense_limit: usize,
    /// Entries held, which is the index MEMOIZE uses next.
    pub(super) len: usize,
}

impl Memo {
    pub(super) fn new(input_len: usize) -> Memo {
        Memo {
            // Picklers memoize nearly every value: about one per ten bytes.
            dense: Vec::with_capacity((input_len / 8).min(4096)),
            sparse: HashMap::new(),
            dense_limit: input_len,
            len: 0,
        }
    }

    pub(super) fn put(&mut self, index: u64, id: Id) {
        let old = match usize::try_from(index) {
            Ok(i) if i < self.dense_limit => {
                if i >= self.dense.len() {
                    self.dense.resize(i + 1, VACANT);
                }
                std::mem::replace(&mut self.dense[i], id)
            }
            _ => self.sparse.insert(index, id).unwrap_or(VACANT),
        };
        if old == VACANT {
            self.len += 1;
        }
    }

    pub(super) fn get(&self, index: u64) -> Option<Id> {
        let dense = usize::try_from(index)
            .ok()
            .and_then(|i| self.dense.get(i))
            .filter(|&&id| id != VACANT);
        dense.or_else(|| self.sparse.get(&index)).copied()
    }
}
