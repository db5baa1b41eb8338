//! Segment files: immutable, zstd-compressed, task-clustered runs of
//! records, each block with the metadata and token filter a query needs to
//! skip it without reading it.
//!
//! Payloads are opaque bytes here; this module knows nothing else of the
//! store. The byte layout is in [`format`](self) (see `format.rs`).
//!
//! ```
//! use distlog_store::segment::{write_segment, SegItem, Segment, SegmentOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("0001.seg");
//! let mut tokens = Vec::new();
//! distlog_store::tokens::tokenize("connection refused", &mut tokens);
//! let item = SegItem { id: 1, task: 7, created: 1.5, levelno: 40, payload: b"{}", tokens: &tokens };
//! write_segment(&path, [item], &SegmentOptions::default()).unwrap();
//!
//! let seg = Segment::open(&path).unwrap();
//! assert_eq!(seg.task_blocks(7), 0..1);
//! let block = seg.read_block(0).unwrap();
//! assert_eq!(block.records().next().unwrap().payload, b"{}");
//! ```

mod block;
mod filter;
mod format;
mod read;
mod recover;
mod write;

#[cfg(test)]
mod tests;

pub use block::{Block, BlockRecord};
pub(crate) use read::read_at;
pub use read::{ScanReport, Segment};
pub use recover::Recovery;
pub use write::write_segment;

use std::path::PathBuf;

/// One record to write.
#[derive(Debug, Clone, Copy)]
pub struct SegItem<'a> {
    /// Store sequence number, unique.
    pub id: u64,
    /// Catalogue task id, 0 = not in any task.
    pub task: u64,
    /// Epoch seconds.
    pub created: f64,
    pub levelno: i64,
    /// The encoded record, opaque here.
    pub payload: &'a [u8],
    /// Token hashes for this record's block filter (see [`crate::tokens`]).
    pub tokens: &'a [u64],
}

#[derive(Debug, Clone)]
pub struct SegmentOptions {
    /// Target uncompressed bytes per block: payloads plus a 36-byte header
    /// per record (so that blocks of empty payloads stay bounded). A record
    /// larger than this gets a block of its own.
    pub block_bytes: usize,
    pub zstd_level: i32,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            block_bytes: 64 << 10,
            zstd_level: 1,
        }
    }
}

/// What a segment holds. For an empty segment all ranges are 0.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentInfo {
    pub count: u64,
    pub min_id: u64,
    pub max_id: u64,
    pub min_created: f64,
    pub max_created: f64,
    /// File size.
    pub bytes: u64,
    pub blocks: u32,
}

/// What a block holds and where it is. `min_created`/`max_created` ignore
/// NaN times unless every time in the block is NaN.
#[derive(Debug, Clone)]
pub struct BlockMeta {
    pub count: u32,
    pub min_id: u64,
    pub max_id: u64,
    pub min_created: f64,
    pub max_created: f64,
    pub min_level: i64,
    pub max_level: i64,
    pub min_task: u64,
    pub max_task: u64,
    /// Where the block's frame starts in the file.
    pub offset: u64,
    pub(crate) meta_len: u32,
    /// Compressed bytes.
    pub data_len: u32,
    /// Decompressed bytes.
    pub raw_len: u32,
    /// CRC-32 of the compressed bytes.
    pub data_crc: u32,
    pub(crate) filter: filter::TokenFilter,
}

impl BlockMeta {
    /// Bytes of memory this block's filter holds.
    pub fn filter_bytes(&self) -> usize {
        self.filter.heap_bytes()
    }

    // Saturating: `offset` may come from a damaged footer, and a sum that
    // overflows must fail the bounds check, not panic.
    fn data_offset(&self) -> u64 {
        self.offset
            .saturating_add(format::FRAME_LEN as u64)
            .saturating_add(u64::from(self.meta_len))
    }

    fn end(&self) -> u64 {
        self.data_offset().saturating_add(u64::from(self.data_len))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: corrupt segment{}: {why}", path.display(), block.map(|b| format!(" (block {b})")).unwrap_or_default())]
    Corrupt {
        path: PathBuf,
        block: Option<u32>,
        why: String,
    },
    #[error("{}: segment format version {version}, this build reads version {}", path.display(), format::VERSION)]
    UnsupportedVersion { path: PathBuf, version: u32 },
    #[error("{}: items must arrive sorted by task: id {id} has task {task} after task {previous}", path.display())]
    OutOfOrder {
        path: PathBuf,
        id: u64,
        task: u64,
        previous: u64,
    },
    #[error("{}: record {id} is {len} bytes, more than a block can hold", path.display())]
    RecordTooLarge { path: PathBuf, id: u64, len: usize },
    #[error("{}: no block {block}, the segment has {blocks}", path.display())]
    NoSuchBlock {
        path: PathBuf,
        block: usize,
        blocks: usize,
    },
}

impl SegmentError {
    fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> SegmentError + '_ {
        move |source| SegmentError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn corrupt(path: &std::path::Path, block: Option<u32>, why: impl Into<String>) -> SegmentError {
        SegmentError::Corrupt {
            path: path.to_path_buf(),
            block,
            why: why.into(),
        }
    }
}
