//! Reading a segment: the footer (block metadata and filters) is loaded at
//! open and kept; block data is read on demand with positioned reads, so
//! one `Segment` serves any number of threads.

use super::block::{Block, BlockRecord};
use super::format::{
    self, Cursor, Frame, FILE_HEADER_LEN, FOOTER_ENTRY_FIXED, FOOTER_MAGIC, META_FIXED_LEN,
    TRAILER_LEN,
};
use super::{BlockMeta, SegmentError, SegmentInfo};
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// An open, read-only segment file.
#[derive(Debug)]
pub struct Segment {
    path: PathBuf,
    file: File,
    info: SegmentInfo,
    blocks: Vec<BlockMeta>,
}

/// What [`Segment::for_each_record`] saw.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub records: u64,
    /// One error per block that could not be read; its records were skipped.
    pub errors: Vec<SegmentError>,
}

impl Segment {
    /// Opens `path`, checking the header, the trailer and the footer's
    /// checksum. A file without a sound footer is `Corrupt`; see
    /// [`Segment::recover`].
    pub fn open(path: &Path) -> Result<Segment, SegmentError> {
        let (file, len) = open_file(path)?;
        let corrupt = |why: String| SegmentError::corrupt(path, None, why);
        check_header(path, &file, len)?;
        if len < (FILE_HEADER_LEN + TRAILER_LEN) as u64 {
            return Err(corrupt(format!("{len} bytes is too short for a trailer")));
        }
        let trailer = read_at(path, &file, len - TRAILER_LEN as u64, TRAILER_LEN)?;
        let (footer_offset, footer_len, footer_crc) =
            format::parse_trailer(&trailer).map_err(corrupt)?;
        let footer_end = footer_offset.checked_add(u64::from(footer_len));
        if footer_offset < FILE_HEADER_LEN as u64 || footer_end != Some(len - TRAILER_LEN as u64) {
            return Err(corrupt(format!(
                "trailer places the footer at {footer_offset}+{footer_len} in a {len}-byte file"
            )));
        }
        let footer = read_at(path, &file, footer_offset, footer_len as usize)?;
        if crc32fast::hash(&footer) != footer_crc {
            return Err(corrupt("footer checksum mismatch".into()));
        }
        let blocks = parse_footer(&footer, footer_offset).map_err(corrupt)?;
        Ok(Segment::new(path, file, len, blocks))
    }

    pub(super) fn new(path: &Path, file: File, len: u64, blocks: Vec<BlockMeta>) -> Segment {
        Segment {
            path: path.to_path_buf(),
            file,
            info: summarize(&blocks, len),
            blocks,
        }
    }

    pub fn info(&self) -> &SegmentInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn blocks(&self) -> &[BlockMeta] {
        &self.blocks
    }

    /// Whether `block` may hold every one of `tokens` (no false negatives;
    /// about 1/256 false positives per token). True for no tokens; false for
    /// a block that does not exist.
    pub fn block_may_contain(&self, block: usize, tokens: &[u64]) -> bool {
        match self.blocks.get(block) {
            Some(b) => tokens.iter().all(|&t| b.filter.contains(t)),
            None => false,
        }
    }

    /// The blocks whose task range holds `task`. Items are sorted by task
    /// (the writer insists and the reader checks), so these are contiguous.
    pub fn task_blocks(&self, task: u64) -> Range<usize> {
        let start = self.blocks.partition_point(|b| b.max_task < task);
        let end = self.blocks.partition_point(|b| b.min_task <= task);
        start..end.max(start)
    }

    /// Reads `block`, checks its checksum and decompresses it.
    pub fn read_block(&self, block: usize) -> Result<Block, SegmentError> {
        let m = self
            .blocks
            .get(block)
            .ok_or_else(|| SegmentError::NoSuchBlock {
                path: self.path.clone(),
                block,
                blocks: self.blocks.len(),
            })?;
        let corrupt = |why: String| SegmentError::corrupt(&self.path, Some(block as u32), why);
        let data = read_at(&self.path, &self.file, m.data_offset(), m.data_len as usize)?;
        if crc32fast::hash(&data) != m.data_crc {
            return Err(corrupt("block checksum mismatch".into()));
        }
        let raw = DECOMPRESSOR
            .with(|d| match d.borrow_mut().as_mut() {
                Some(d) => d.decompress(&data, m.raw_len as usize),
                None => zstd::bulk::decompress(&data, m.raw_len as usize),
            })
            .map_err(|e| corrupt(format!("block does not decompress: {e}")))?;
        Block::parse(raw, m).map_err(corrupt)
    }

    /// Calls `f` on every record, block by block, skipping blocks that
    /// cannot be read and reporting them in the result.
    pub fn for_each_record(&self, mut f: impl FnMut(BlockRecord<'_>)) -> ScanReport {
        let mut report = ScanReport::default();
        for i in 0..self.blocks.len() {
            match self.read_block(i) {
                Ok(block) => {
                    report.records += block.len() as u64;
                    block.records().for_each(&mut f);
                }
                Err(e) => report.errors.push(e),
            }
        }
        report
    }
}

pub(crate) fn summarize(blocks: &[BlockMeta], bytes: u64) -> SegmentInfo {
    let mut info = SegmentInfo {
        count: 0,
        min_id: 0,
        max_id: 0,
        min_created: 0.0,
        max_created: 0.0,
        bytes,
        blocks: blocks.len() as u32,
    };
    for (i, b) in blocks.iter().enumerate() {
        if i == 0 {
            (info.min_id, info.max_id) = (b.min_id, b.max_id);
            (info.min_created, info.max_created) = (b.min_created, b.max_created);
        }
        info.count += u64::from(b.count);
        info.min_id = info.min_id.min(b.min_id);
        info.max_id = info.max_id.max(b.max_id);
        info.min_created = info.min_created.min(b.min_created);
        info.max_created = info.max_created.max(b.max_created);
    }
    info
}

pub(super) fn open_file(path: &Path) -> Result<(File, u64), SegmentError> {
    let file = File::open(path).map_err(SegmentError::io(path))?;
    let len = file.metadata().map_err(SegmentError::io(path))?.len();
    Ok((file, len))
}

pub(super) fn check_header(path: &Path, file: &File, len: u64) -> Result<(), SegmentError> {
    if len < FILE_HEADER_LEN as u64 {
        return Err(SegmentError::corrupt(
            path,
            None,
            format!("{len} bytes is too short for a segment"),
        ));
    }
    let h = read_at(path, file, 0, FILE_HEADER_LEN)?;
    match format::check_file_header(&h) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(version)) => Err(SegmentError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        }),
        Err(why) => Err(SegmentError::corrupt(path, None, why)),
    }
}

fn parse_footer(footer: &[u8], footer_offset: u64) -> Result<Vec<BlockMeta>, String> {
    let mut c = Cursor::new(footer);
    if c.bytes(4)? != FOOTER_MAGIC {
        return Err("bad footer magic".into());
    }
    let n = c.u32()? as usize;
    // Bound the allocation by what the footer can hold.
    if n > c.remaining() / (FOOTER_ENTRY_FIXED + META_FIXED_LEN) {
        return Err(format!(
            "footer claims {n} blocks in {} bytes",
            footer.len()
        ));
    }
    let mut blocks: Vec<BlockMeta> = Vec::with_capacity(n);
    let mut prev_end = FILE_HEADER_LEN as u64;
    for i in 0..n {
        let offset = c.u64()?;
        let frame = Frame::read_tail(&mut c)?;
        let meta = c.bytes(frame.meta_len as usize)?;
        let m = frame
            .decode_meta(offset, meta)
            .map_err(|e| format!("block {i}: {e}"))?;
        if offset < prev_end || m.end() > footer_offset {
            return Err(format!(
                "block {i} at {offset} overlaps its neighbours or the footer"
            ));
        }
        if blocks.last().is_some_and(|p| p.max_task > m.min_task) {
            return Err(format!("block {i} is out of task order"));
        }
        prev_end = m.end();
        blocks.push(m);
    }
    if c.remaining() != 0 {
        return Err(format!(
            "{} stray bytes after the footer's blocks",
            c.remaining()
        ));
    }
    Ok(blocks)
}

/// Reads exactly `n` bytes at `offset`; callers check `offset + n` against
/// the file size first, so `n` is never more than the file holds.
pub(crate) fn read_at(
    path: &Path,
    file: &File,
    offset: u64,
    n: usize,
) -> Result<Vec<u8>, SegmentError> {
    let mut buf = vec![0; n];
    read_exact_at(file, &mut buf, offset).map_err(SegmentError::io(path))?;
    Ok(buf)
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

thread_local! {
    /// One decompression context per thread, reused: making one per block
    /// was a tenth of a big tree's time (perf, bench/query).
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Decompressor::new().ok());
}
