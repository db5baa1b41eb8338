//! Scope summaries: beside each segment, a small file saying, for each
//! task in the segment, which scopes its records belong to, which blocks
//! hold each scope (a task's records are sorted by scope within its
//! blocks, so a scope's are contiguous), how many records and errors each
//! scope has, which processes wrote them, and the few records a skeleton
//! is built from: the scope events and each scope's first record.
//!
//! A skeleton then reads these instead of the task's record blocks, and a
//! scope's page reads only the blocks that hold the scope. Summaries are
//! derived data: a segment without one (written by an older build, or
//! whose summary was lost or damaged) is read the old way, and the flush
//! thread writes the missing summary when it has nothing else to do.
//!
//! ```text
//! file    := header dir section*
//! header  := "DLSCOPE\0" version:u32 tasks:u32 dir_crc:u32
//!            segment_bytes:u64 segment_records:u64                    (36 bytes)
//! dir     := (task:u64 table_off:u64 table_len:u32 table_crc:u32
//!             area_off:u64 area_len:u32 area_crc:u32)*tasks         (40 bytes each)
//! table   := processes:u32 (host_len:u32 host pid:i64)*
//!            scopes:u32 (scope_len:u32 scope first_block:u32 last_block:u32
//!                        records:u32 errors:u32)*
//! area    := zstd((len:u32 payload)*)    the skeleton's records, as stored
//! ```

mod build;
mod file;

#[cfg(test)]
mod tests;

pub(crate) use build::{of_segment, Builder, Rec};
#[cfg(test)]
pub(crate) use file::summary_path;
pub(crate) use file::{payloads, remove_for, write, ScopeIndex, DIR};

use crate::entry::EntryRef;

/// One scope's records in one segment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScopeEntry {
    /// The scope path as its keys spell it (`""`, `/1/3`).
    pub scope: String,
    /// The first and last block holding its records.
    pub first_block: u32,
    pub last_block: u32,
    pub records: u32,
    /// Records at ERROR level or above.
    pub errors: u32,
}

/// What one segment's summary says of one task, less the skeleton's records.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TaskTable {
    /// Distinct (host, pid) pairs among the task's records here.
    pub processes: Vec<(String, i64)>,
    /// In the segment's order (by scope as written).
    pub scopes: Vec<ScopeEntry>,
}

/// What ties a summary to its segment: the segment file's size and record
/// count, kept in the summary's header and checked when it is opened.
pub(crate) fn identity(s: &crate::segment::Segment) -> (u64, u64) {
    (s.info().bytes, s.info().count)
}

/// Writes the summary `bytes` of the segment at `segment` and opens it.
pub(crate) fn install(
    segment: &std::path::Path,
    of: (u64, u64),
    bytes: &[u8],
) -> Result<ScopeIndex, crate::StoreError> {
    write(segment, bytes)?;
    ScopeIndex::open(segment, of)?.ok_or_else(|| {
        crate::StoreError::Corrupt(format!("scope summary of {} vanished", segment.display()))
    })
}

/// Whether a record goes into the summary's area: scope events do, and the
/// scope's first record (the caller knows which that is).
pub(crate) fn kept(e: &EntryRef<'_>) -> bool {
    e.event.is_some()
}
