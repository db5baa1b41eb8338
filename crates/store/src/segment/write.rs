//! Writing a segment: blocks are packed and compressed as items stream in,
//! so memory stays at about one block whatever the segment's size.

use super::filter::TokenFilter;
use super::format::{self, Frame, FRAME_LEN, MAX_BLOCK_RAW, RECORD_HEADER_LEN};
use super::{BlockMeta, SegItem, SegmentError, SegmentInfo, SegmentOptions};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `items` (in storage order: sorted by task, which
/// [`Segment::task_blocks`](super::Segment::task_blocks) relies on and this
/// checks) as a segment at `path`, replacing any file there.
///
/// The file is written under a temporary name in the same directory,
/// fsynced, renamed into place and the directory fsynced: after a crash
/// there is either no file or the whole file. Zero items make a valid
/// segment with no blocks.
pub fn write_segment<'a>(
    path: &Path,
    items: impl IntoIterator<Item = SegItem<'a>>,
    opts: &SegmentOptions,
) -> Result<SegmentInfo, SegmentError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = TempFile::create(&dir, path)?;
    let file = tmp.file.try_clone().map_err(SegmentError::io(&tmp.path))?;
    let mut w = Writer {
        path,
        out: BufWriter::with_capacity(1 << 20, file),
        pos: 0,
        block: BlockBuilder::default(),
        blocks: Vec::new(),
        raw: Vec::new(),
        compressor: zstd::bulk::Compressor::new(opts.zstd_level).map_err(SegmentError::io(path))?,
    };
    w.put(&format::file_header())?;
    let mut previous_task = 0;
    for item in items {
        if item.task < previous_task {
            return Err(SegmentError::OutOfOrder {
                path: path.to_path_buf(),
                id: item.id,
                task: item.task,
                previous: previous_task,
            });
        }
        previous_task = item.task;
        let size = RECORD_HEADER_LEN + item.payload.len();
        if size + 4 > MAX_BLOCK_RAW {
            return Err(SegmentError::RecordTooLarge {
                path: path.to_path_buf(),
                id: item.id,
                len: item.payload.len(),
            });
        }
        let full = w.block.raw_size() + size;
        if w.block.count > 0 && (full > opts.block_bytes || full > MAX_BLOCK_RAW) {
            w.flush_block()?;
        }
        w.block.push(&item);
    }
    if w.block.count > 0 {
        w.flush_block()?;
    }
    let info = w.finish()?;
    tmp.persist(path)?;
    Ok(info)
}

struct Writer<'p> {
    path: &'p Path,
    out: BufWriter<File>,
    pos: u64,
    block: BlockBuilder,
    blocks: Vec<BlockMeta>,
    /// Reused buffer for the raw block.
    raw: Vec<u8>,
    compressor: zstd::bulk::Compressor<'static>,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), SegmentError> {
        self.out
            .write_all(bytes)
            .map_err(SegmentError::io(self.path))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn flush_block(&mut self) -> Result<(), SegmentError> {
        let b = &mut self.block;
        self.raw.clear();
        self.raw.extend_from_slice(&b.count.to_le_bytes());
        self.raw.extend_from_slice(&b.headers);
        self.raw.extend_from_slice(&b.payloads);
        let data = self
            .compressor
            .compress(&self.raw)
            .map_err(SegmentError::io(self.path))?;
        let too_big = |what| SegmentError::corrupt(self.path, None, format!("{what} over 4 GiB"));
        let mut meta = BlockMeta {
            count: b.count,
            min_id: b.min_id,
            max_id: b.max_id,
            min_created: b.min_created,
            max_created: b.max_created,
            min_level: b.min_level,
            max_level: b.max_level,
            min_task: b.min_task,
            max_task: b.max_task,
            offset: self.pos,
            meta_len: 0,
            data_len: u32::try_from(data.len()).map_err(|_| too_big("compressed block"))?,
            raw_len: u32::try_from(self.raw.len()).map_err(|_| too_big("block"))?,
            data_crc: crc32fast::hash(&data),
            filter: TokenFilter::build(&mut b.tokens),
        };
        let mut meta_bytes = Vec::new();
        format::encode_meta(&meta, &mut meta_bytes);
        meta.meta_len = u32::try_from(meta_bytes.len()).map_err(|_| too_big("block filter"))?;
        let mut frame = Frame {
            meta_len: meta.meta_len,
            data_len: meta.data_len,
            raw_len: meta.raw_len,
            data_crc: meta.data_crc,
            frame_crc: 0,
        };
        frame.frame_crc = Frame::crc_of(&frame.tail_bytes(), &meta_bytes);
        let mut head = [0u8; FRAME_LEN];
        head[..4].copy_from_slice(&format::BLOCK_MAGIC);
        head[4..].copy_from_slice(&frame.tail_bytes());
        self.put(&head)?;
        self.put(&meta_bytes)?;
        self.put(&data)?;
        self.blocks.push(meta);
        self.block.clear();
        Ok(())
    }

    fn finish(mut self) -> Result<SegmentInfo, SegmentError> {
        let mut footer = Vec::with_capacity(8 + self.blocks.len() * 128);
        footer.extend_from_slice(&format::FOOTER_MAGIC);
        footer.extend_from_slice(&(self.blocks.len() as u32).to_le_bytes());
        let mut meta_bytes = Vec::new();
        for m in &self.blocks {
            meta_bytes.clear();
            format::encode_meta(m, &mut meta_bytes);
            let frame = Frame {
                meta_len: m.meta_len,
                data_len: m.data_len,
                raw_len: m.raw_len,
                data_crc: m.data_crc,
                frame_crc: 0,
            };
            let tail = frame.tail_bytes();
            let frame = Frame {
                frame_crc: Frame::crc_of(&tail, &meta_bytes),
                ..frame
            };
            footer.extend_from_slice(&m.offset.to_le_bytes());
            footer.extend_from_slice(&frame.tail_bytes());
            footer.extend_from_slice(&meta_bytes);
        }
        let footer_len = u32::try_from(footer.len())
            .map_err(|_| SegmentError::corrupt(self.path, None, "footer over 4 GiB"))?;
        let footer_offset = self.pos;
        self.put(&footer)?;
        self.put(&format::trailer(
            footer_offset,
            footer_len,
            crc32fast::hash(&footer),
        ))?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| SegmentError::io(self.path)(e.into_error()))?;
        file.sync_all().map_err(SegmentError::io(self.path))?;
        Ok(super::read::summarize(&self.blocks, self.pos))
    }
}

/// The records of the block being filled.
#[derive(Default)]
struct BlockBuilder {
    count: u32,
    headers: Vec<u8>,
    payloads: Vec<u8>,
    tokens: Vec<u64>,
    min_id: u64,
    max_id: u64,
    min_created: f64,
    max_created: f64,
    min_level: i64,
    max_level: i64,
    min_task: u64,
    max_task: u64,
}

impl BlockBuilder {
    fn raw_size(&self) -> usize {
        4 + self.headers.len() + self.payloads.len()
    }

    fn push(&mut self, item: &SegItem<'_>) {
        if self.count == 0 {
            self.min_id = item.id;
            self.max_id = item.id;
            self.min_created = item.created;
            self.max_created = item.created;
            self.min_level = item.levelno;
            self.max_level = item.levelno;
            self.min_task = item.task;
            self.max_task = item.task;
        } else {
            self.min_id = self.min_id.min(item.id);
            self.max_id = self.max_id.max(item.id);
            // f64::min/max skip a NaN operand.
            self.min_created = self.min_created.min(item.created);
            self.max_created = self.max_created.max(item.created);
            self.min_level = self.min_level.min(item.levelno);
            self.max_level = self.max_level.max(item.levelno);
            self.min_task = self.min_task.min(item.task);
            self.max_task = self.max_task.max(item.task);
        }
        self.count += 1;
        self.payloads.extend_from_slice(item.payload);
        let h = &mut self.headers;
        h.extend_from_slice(&item.id.to_le_bytes());
        h.extend_from_slice(&item.task.to_le_bytes());
        h.extend_from_slice(&item.created.to_le_bytes());
        h.extend_from_slice(&item.levelno.to_le_bytes());
        // Fits: the caller keeps a block under MAX_BLOCK_RAW.
        h.extend_from_slice(&(self.payloads.len() as u32).to_le_bytes());
        self.tokens.extend_from_slice(item.tokens);
    }

    fn clear(&mut self) {
        self.count = 0;
        self.headers.clear();
        self.payloads.clear();
        self.tokens.clear();
    }
}

/// A temporary file beside the target, removed unless persisted.
struct TempFile {
    path: PathBuf,
    dir: PathBuf,
    file: File,
    persisted: bool,
}

impl TempFile {
    fn create(dir: &Path, target: &Path) -> Result<TempFile, SegmentError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "segment".into());
        let path = dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(SegmentError::io(&path))?;
        Ok(TempFile {
            path,
            dir: dir.to_path_buf(),
            file,
            persisted: false,
        })
    }

    fn persist(mut self, target: &Path) -> Result<(), SegmentError> {
        std::fs::rename(&self.path, target).map_err(SegmentError::io(target))?;
        self.persisted = true;
        sync_dir(&self.dir).map_err(SegmentError::io(&self.dir))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    // Windows has no directory handles to fsync; the rename is durable
    // once the file's own data is.
    Ok(())
}
