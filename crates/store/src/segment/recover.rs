//! Rebuilding a segment's block list from the blocks' own frames when its
//! footer is missing or damaged.

use super::format::{Cursor, Frame, BLOCK_MAGIC, FILE_HEADER_LEN, FRAME_LEN};
use super::read::{check_header, open_file, read_at};
use super::{BlockMeta, Segment, SegmentError};
use std::fs::File;
use std::ops::Range;
use std::path::Path;

/// What [`Segment::recover`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    /// The footer was sound: nothing needed rebuilding.
    pub footer_intact: bool,
    /// Byte ranges that belong to no intact block: damage, a torn tail, or
    /// a footer that could not be used.
    pub skipped: Vec<Range<u64>>,
}

impl Segment {
    /// Opens `path` like [`Segment::open`], or, when its footer is missing
    /// or damaged, rebuilds the block list by scanning the blocks' own
    /// frames, keeping every block whose frame and data checksums hold.
    /// Read-only: rewrite the records to get a sound file again.
    pub fn recover(path: &Path) -> Result<(Segment, Recovery), SegmentError> {
        match Segment::open(path) {
            Ok(seg) => {
                return Ok((
                    seg,
                    Recovery {
                        footer_intact: true,
                        skipped: Vec::new(),
                    },
                ))
            }
            Err(SegmentError::Corrupt { .. }) => {}
            Err(e) => return Err(e),
        }
        let (file, len) = open_file(path)?;
        check_header(path, &file, len)?;
        let mut blocks: Vec<BlockMeta> = Vec::new();
        let mut skipped: Vec<Range<u64>> = Vec::new();
        let mut pos = FILE_HEADER_LEN as u64;
        while pos < len {
            match scan_block(path, &file, pos, len)? {
                Some(m) if blocks.last().is_none_or(|p| p.max_task <= m.min_task) => {
                    pos = m.end();
                    blocks.push(m);
                }
                _ => {
                    let next = find_magic(path, &file, pos + 1, len)?.unwrap_or(len);
                    match skipped.last_mut() {
                        Some(r) if r.end == pos => r.end = next,
                        _ => skipped.push(pos..next),
                    }
                    pos = next;
                }
            }
        }
        let recovery = Recovery {
            footer_intact: false,
            skipped,
        };
        Ok((Segment::new(path, file, len, blocks), recovery))
    }
}

/// The block whose frame starts at `pos`, if its frame and data are intact.
fn scan_block(
    path: &Path,
    file: &File,
    pos: u64,
    len: u64,
) -> Result<Option<BlockMeta>, SegmentError> {
    if len - pos < FRAME_LEN as u64 {
        return Ok(None);
    }
    let head = read_at(path, file, pos, FRAME_LEN)?;
    if head[..4] != BLOCK_MAGIC {
        return Ok(None);
    }
    let Ok(frame) = Frame::read_tail(&mut Cursor::new(&head[4..])) else {
        return Ok(None);
    };
    let meta_at = pos + FRAME_LEN as u64;
    let data_at = meta_at + u64::from(frame.meta_len);
    if data_at + u64::from(frame.data_len) > len {
        return Ok(None);
    }
    let meta = read_at(path, file, meta_at, frame.meta_len as usize)?;
    let Ok(m) = frame.decode_meta(pos, &meta) else {
        return Ok(None);
    };
    let data = read_at(path, file, data_at, frame.data_len as usize)?;
    Ok((crc32fast::hash(&data) == m.data_crc).then_some(m))
}

/// The next offset at or after `from` where a block magic starts.
fn find_magic(path: &Path, file: &File, from: u64, len: u64) -> Result<Option<u64>, SegmentError> {
    const CHUNK: u64 = 64 << 10;
    let mut at = from;
    while at + BLOCK_MAGIC.len() as u64 <= len {
        let n = CHUNK.min(len - at);
        let buf = read_at(path, file, at, n as usize)?;
        if let Some(i) = buf
            .windows(BLOCK_MAGIC.len())
            .position(|w| w == BLOCK_MAGIC)
        {
            return Ok(Some(at + i as u64));
        }
        if at + n >= len {
            break;
        }
        // Overlap so that a magic across the chunk boundary is seen.
        at += n - (BLOCK_MAGIC.len() as u64 - 1);
    }
    Ok(None)
}
