//! Records indexed but not yet in a segment: held in memory, in id order,
//! and found by task through a small index. Readers see them at once; the
//! flusher turns a full one into a segment.

use rustc_hash::{FxHashMap, FxHashSet};
use std::time::Instant;

/// Entries per chunk of the memtable's search index.
pub(crate) const CHUNK: usize = 1024;

/// One record in memory: its catalogue task (0 outside a task) and payload.
pub(crate) struct MemEntry {
    pub task: u64,
    /// Kept as the intake made it: shrinking it to a boxed slice cost a
    /// copy per record on the index thread.
    pub payload: Vec<u8>,
    /// Its search terms, computed once on the index thread: they fill the
    /// chunk sets below and go into the segment's block filter as they are.
    pub tokens: Vec<u64>,
}

#[derive(Default)]
pub(crate) struct MemTable {
    pub entries: Vec<MemEntry>,
    pub bytes: usize,
    by_task: FxHashMap<u64, Vec<u32>>,
    /// The search terms of each chunk of `CHUNK` entries: memory's stand-in
    /// for block filters, so a rare word skips most of a memtable.
    chunks: Vec<FxHashSet<u64>>,
    /// When the first entry arrived, so a trickle still reaches a segment
    /// (and the journal behind it can go) in bounded time.
    pub since: Option<Instant>,
}

impl MemTable {
    pub(crate) fn push(&mut self, task: u64, payload: Vec<u8>, tokens: Vec<u64>) {
        let index = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        if task != 0 {
            self.by_task.entry(task).or_default().push(index);
        }
        if self.entries.len().is_multiple_of(CHUNK) {
            self.chunks.push(FxHashSet::default());
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.extend(tokens.iter().copied());
        }
        self.bytes += payload.len() + tokens.len() * 8 + std::mem::size_of::<MemEntry>();
        self.since.get_or_insert_with(Instant::now);
        self.entries.push(MemEntry {
            task,
            payload,
            tokens,
        });
    }

    /// Whether the chunk holding entry `index` may hold every hash.
    pub(crate) fn chunk_may_contain(&self, index: usize, hashes: &[u64]) -> bool {
        match self.chunks.get(index / CHUNK) {
            Some(set) => hashes.iter().all(|h| set.contains(h)),
            None => true,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The payloads of one task, in id order.
    pub(crate) fn task(&self, task: u64) -> impl Iterator<Item = &[u8]> {
        self.by_task
            .get(&task)
            .into_iter()
            .flatten()
            .filter_map(|i| self.entries.get(*i as usize))
            .map(|e| &e.payload[..])
    }

    /// The lowest and highest ids held (entries are in id order).
    pub(crate) fn id_range(&self) -> Option<(u64, u64)> {
        let first = crate::entry::payload_id(&self.entries.first()?.payload)?;
        let last = crate::entry::payload_id(&self.entries.last()?.payload)?;
        Some((first, last))
    }
}
