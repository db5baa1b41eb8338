//! The bytes of a segment file. All integers are little-endian.
//!
//! ```text
//! file    := header block* footer trailer
//! header  := "DLSEGMT\0" version:u32 flags:u32                      (16 bytes)
//! block   := frame meta data
//! frame   := "DLBK" meta_len:u32 data_len:u32 raw_len:u32
//!            data_crc:u32 frame_crc:u32                             (24 bytes)
//!            frame_crc = crc32(frame[4..20] ++ meta); data_crc = crc32(data)
//! meta    := count:u32 min_id:u64 max_id:u64 min_created:f64 max_created:f64
//!            min_level:i64 max_level:i64 min_task:u64 max_task:u64 filter
//! filter  := 0 (no tokens) | 2 (accepts all: the build failed)
//!          | 1 seed:u64 seg_len:u32 seg_mask:u32 seg_count_len:u32 n:u32 fp:u8*n
//! data    := zstd(raw)
//! raw     := count:u32 (id:u64 task:u64 created:f64 levelno:i64 payload_end:u32)*count
//!            payloads              payload_end is cumulative from the payloads' start
//! footer  := "DLFT" blocks:u32 (offset:u64 frame[4..24] meta)*blocks
//! trailer := footer_offset:u64 footer_len:u32 footer_crc:u32 "DLSEGEND"   (24 bytes)
//! ```
//!
//! Each block repeats its metadata in its own frame so that a file without a
//! usable footer can be rebuilt by scanning; the footer leaves out the frame
//! magic so that a scan never mistakes a footer entry for a block.

use super::filter::TokenFilter;
use super::BlockMeta;

pub(crate) const FILE_MAGIC: [u8; 8] = *b"DLSEGMT\0";
pub(crate) const VERSION: u32 = 1;
pub(crate) const FILE_HEADER_LEN: usize = 16;
pub(crate) const BLOCK_MAGIC: [u8; 4] = *b"DLBK";
pub(crate) const FRAME_LEN: usize = 24;
pub(crate) const FOOTER_MAGIC: [u8; 4] = *b"DLFT";
pub(crate) const TRAILER_MAGIC: [u8; 8] = *b"DLSEGEND";
pub(crate) const TRAILER_LEN: usize = 24;
pub(crate) const RECORD_HEADER_LEN: usize = 36;
/// Fixed part of `meta` (through the filter kind byte).
pub(crate) const META_FIXED_LEN: usize = 4 + 8 * 8 + 1;
/// One footer entry without its meta: offset plus `frame[4..24]`.
pub(crate) const FOOTER_ENTRY_FIXED: usize = 8 + FRAME_LEN - 4;
/// The largest decompressed block a reader will allocate for; the writer
/// refuses records that would need more. Bounds what a forged header can
/// make a reader allocate.
pub(crate) const MAX_BLOCK_RAW: usize = 256 << 20;

/// A bounds-checked little-endian reader over untrusted bytes.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.buf.len() {
            return Err(format!("needs {n} more bytes, has {} left", self.buf.len()));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }

    pub(crate) fn i64(&mut self) -> Result<i64, String> {
        self.array().map(i64::from_le_bytes)
    }

    pub(crate) fn f64(&mut self) -> Result<f64, String> {
        self.array().map(f64::from_le_bytes)
    }
}

pub(crate) fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut h = [0; FILE_HEADER_LEN];
    h[..8].copy_from_slice(&FILE_MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// Checks the file header; `Ok(Err(v))` is a well-formed header of another
/// format version.
pub(crate) fn check_file_header(h: &[u8]) -> Result<Result<(), u32>, String> {
    let mut c = Cursor::new(h);
    if c.bytes(8)? != FILE_MAGIC {
        return Err("not a distlog segment (bad file magic)".into());
    }
    let version = c.u32()?;
    Ok(if version == VERSION {
        Ok(())
    } else {
        Err(version)
    })
}

/// The fields of a frame after its magic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub meta_len: u32,
    pub data_len: u32,
    pub raw_len: u32,
    pub data_crc: u32,
    pub frame_crc: u32,
}

impl Frame {
    /// `frame[4..24]`, the part the footer repeats.
    pub(crate) fn tail_bytes(&self) -> [u8; FRAME_LEN - 4] {
        let mut out = [0; FRAME_LEN - 4];
        for (i, v) in [
            self.meta_len,
            self.data_len,
            self.raw_len,
            self.data_crc,
            self.frame_crc,
        ]
        .iter()
        .enumerate()
        {
            out[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub(crate) fn read_tail(c: &mut Cursor<'_>) -> Result<Frame, String> {
        Ok(Frame {
            meta_len: c.u32()?,
            data_len: c.u32()?,
            raw_len: c.u32()?,
            data_crc: c.u32()?,
            frame_crc: c.u32()?,
        })
    }

    pub(crate) fn crc_of(tail: &[u8; FRAME_LEN - 4], meta: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&tail[..16]);
        h.update(meta);
        h.finalize()
    }

    /// Checks `frame_crc` against the meta bytes and decodes the block's
    /// metadata; `offset` is where the frame starts in the file.
    pub(crate) fn decode_meta(&self, offset: u64, meta: &[u8]) -> Result<BlockMeta, String> {
        if Frame::crc_of(&self.tail_bytes(), meta) != self.frame_crc {
            return Err("block frame checksum mismatch".into());
        }
        let mut c = Cursor::new(meta);
        let m = BlockMeta {
            count: c.u32()?,
            min_id: c.u64()?,
            max_id: c.u64()?,
            min_created: c.f64()?,
            max_created: c.f64()?,
            min_level: c.i64()?,
            max_level: c.i64()?,
            min_task: c.u64()?,
            max_task: c.u64()?,
            offset,
            meta_len: self.meta_len,
            data_len: self.data_len,
            raw_len: self.raw_len,
            data_crc: self.data_crc,
            filter: TokenFilter::decode(&mut c)?,
        };
        if c.remaining() != 0 {
            return Err(format!(
                "{} stray bytes after block metadata",
                c.remaining()
            ));
        }
        if m.count == 0 {
            return Err("block claims no records".into());
        }
        if m.min_id > m.max_id || m.min_level > m.max_level || m.min_task > m.max_task {
            return Err("block metadata has a range whose minimum exceeds its maximum".into());
        }
        let least_raw = 4 + u64::from(m.count) * RECORD_HEADER_LEN as u64;
        if u64::from(m.raw_len) < least_raw || m.raw_len as usize > MAX_BLOCK_RAW {
            return Err(format!(
                "block of {} records claims {} decompressed bytes",
                m.count, m.raw_len
            ));
        }
        Ok(m)
    }
}

/// Encodes `meta` (its filter included) as stored in frames and the footer.
pub(crate) fn encode_meta(m: &BlockMeta, out: &mut Vec<u8>) {
    out.extend_from_slice(&m.count.to_le_bytes());
    out.extend_from_slice(&m.min_id.to_le_bytes());
    out.extend_from_slice(&m.max_id.to_le_bytes());
    out.extend_from_slice(&m.min_created.to_le_bytes());
    out.extend_from_slice(&m.max_created.to_le_bytes());
    out.extend_from_slice(&m.min_level.to_le_bytes());
    out.extend_from_slice(&m.max_level.to_le_bytes());
    out.extend_from_slice(&m.min_task.to_le_bytes());
    out.extend_from_slice(&m.max_task.to_le_bytes());
    m.filter.encode(out);
}

pub(crate) fn trailer(footer_offset: u64, footer_len: u32, footer_crc: u32) -> [u8; TRAILER_LEN] {
    let mut t = [0; TRAILER_LEN];
    t[..8].copy_from_slice(&footer_offset.to_le_bytes());
    t[8..12].copy_from_slice(&footer_len.to_le_bytes());
    t[12..16].copy_from_slice(&footer_crc.to_le_bytes());
    t[16..].copy_from_slice(&TRAILER_MAGIC);
    t
}

/// (footer_offset, footer_len, footer_crc)
pub(crate) fn parse_trailer(t: &[u8]) -> Result<(u64, u32, u32), String> {
    let mut c = Cursor::new(t);
    let offset = c.u64()?;
    let len = c.u32()?;
    let crc = c.u32()?;
    if c.bytes(8)? != TRAILER_MAGIC {
        return Err("no trailer (bad trailer magic): the file may be cut short".into());
    }
    Ok((offset, len, crc))
}
