//! A decompressed block and its records.

use super::format::{Cursor, RECORD_HEADER_LEN};
use super::BlockMeta;

/// A decompressed block.
#[derive(Debug, Clone)]
pub struct Block {
    raw: Vec<u8>,
    count: usize,
    payloads_start: usize,
}

/// One record of a [`Block`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockRecord<'a> {
    pub id: u64,
    pub task: u64,
    pub created: f64,
    pub levelno: i64,
    pub payload: &'a [u8],
}

impl Block {
    /// Checks the record headers once so that reading them later cannot fail.
    pub(super) fn parse(raw: Vec<u8>, m: &BlockMeta) -> Result<Block, String> {
        if raw.len() != m.raw_len as usize {
            return Err(format!(
                "block decompressed to {} bytes, not {}",
                raw.len(),
                m.raw_len
            ));
        }
        let mut c = Cursor::new(&raw);
        let count = c.u32()?;
        if count != m.count {
            return Err(format!(
                "block holds {count} records, its metadata says {}",
                m.count
            ));
        }
        let payloads_start = 4 + count as usize * RECORD_HEADER_LEN;
        let payloads_len = raw
            .len()
            .checked_sub(payloads_start)
            .ok_or("block too short for its record headers")?;
        let mut prev = 0u32;
        for i in 0..count as usize {
            let at = 4 + i * RECORD_HEADER_LEN + RECORD_HEADER_LEN - 4;
            let end = u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
            if end < prev || end as usize > payloads_len {
                return Err(format!(
                    "record {i} has a payload end {end} out of order or bounds"
                ));
            }
            prev = end;
        }
        if prev as usize != payloads_len {
            return Err(format!(
                "{} stray bytes after the last payload",
                payloads_len - prev as usize
            ));
        }
        Ok(Block {
            raw,
            count: count as usize,
            payloads_start,
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `i`th record, in storage order.
    pub fn record(&self, i: usize) -> Option<BlockRecord<'_>> {
        if i >= self.count {
            return None;
        }
        let h = &self.raw[4 + i * RECORD_HEADER_LEN..4 + (i + 1) * RECORD_HEADER_LEN];
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[at..at + 8]);
            b
        };
        let end_at = |j: usize| {
            let at = 4 + j * RECORD_HEADER_LEN + 32;
            u32::from_le_bytes([
                self.raw[at],
                self.raw[at + 1],
                self.raw[at + 2],
                self.raw[at + 3],
            ]) as usize
        };
        let start = if i == 0 { 0 } else { end_at(i - 1) };
        let end = end_at(i);
        Some(BlockRecord {
            id: u64::from_le_bytes(word(0)),
            task: u64::from_le_bytes(word(8)),
            created: f64::from_le_bytes(word(16)),
            levelno: i64::from_le_bytes(word(24)),
            payload: &self.raw[self.payloads_start + start..self.payloads_start + end],
        })
    }

    pub fn records(&self) -> impl Iterator<Item = BlockRecord<'_>> {
        (0..self.count).filter_map(|i| self.record(i))
    }
}
