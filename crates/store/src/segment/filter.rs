//! The per-block token filter: a binary fuse filter with 8-bit fingerprints
//! (`xorf::BinaryFuse8`): about 9 bits per distinct token for a false
//! positive rate of about 1/256, against about 9.6 bits for a 1% Bloom
//! filter. It is built once per block and never updated, which is all a
//! fuse filter cannot do.

use super::format::Cursor;
use xorf::{BinaryFuse8, Filter};

#[derive(Debug, Clone)]
pub(crate) enum TokenFilter {
    /// The block's records have no tokens: nothing can match.
    Empty,
    /// The filter could not be built (xorf gives up after many seeds; in
    /// practice only on duplicate keys, which we remove): everything may match.
    All,
    Fuse(BinaryFuse8),
}

const KIND_EMPTY: u8 = 0;
const KIND_FUSE: u8 = 1;
const KIND_ALL: u8 = 2;

impl TokenFilter {
    /// Builds from the block's token hashes; sorts and deduplicates them in
    /// place because fuse filters need distinct keys.
    pub(crate) fn build(tokens: &mut Vec<u64>) -> TokenFilter {
        tokens.sort_unstable();
        tokens.dedup();
        if tokens.is_empty() {
            return TokenFilter::Empty;
        }
        match BinaryFuse8::try_from(tokens.as_slice()) {
            Ok(f) => TokenFilter::Fuse(f),
            Err(_) => TokenFilter::All,
        }
    }

    pub(crate) fn contains(&self, token: u64) -> bool {
        match self {
            TokenFilter::Empty => false,
            TokenFilter::All => true,
            TokenFilter::Fuse(f) => f.contains(&token),
        }
    }

    /// Bytes the filter holds in memory beyond its enum.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            TokenFilter::Fuse(f) => f.fingerprints.len(),
            _ => 0,
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            TokenFilter::Empty => out.push(KIND_EMPTY),
            TokenFilter::All => out.push(KIND_ALL),
            TokenFilter::Fuse(f) => {
                out.push(KIND_FUSE);
                let d = &f.descriptor;
                out.extend_from_slice(&d.seed.to_le_bytes());
                out.extend_from_slice(&d.segment_length.to_le_bytes());
                out.extend_from_slice(&d.segment_length_mask.to_le_bytes());
                out.extend_from_slice(&d.segment_count_length.to_le_bytes());
                out.extend_from_slice(&(f.fingerprints.len() as u32).to_le_bytes());
                out.extend_from_slice(&f.fingerprints);
            }
        }
    }

    pub(crate) fn decode(c: &mut Cursor<'_>) -> Result<TokenFilter, String> {
        match c.u8()? {
            KIND_EMPTY => Ok(TokenFilter::Empty),
            KIND_ALL => Ok(TokenFilter::All),
            KIND_FUSE => {
                let seed = c.u64()?;
                let segment_length = c.u32()?;
                let segment_length_mask = c.u32()?;
                let segment_count_length = c.u32()?;
                let n = c.u32()? as usize;
                let fingerprints = c.bytes(n)?;
                // xorf indexes the fingerprints without checks; a lookup
                // reaches at most two segments past `segment_count_length`,
                // so a descriptor that fits these rules cannot panic.
                let ok = segment_length.is_power_of_two()
                    && segment_length_mask == segment_length - 1
                    && segment_count_length % segment_length == 0
                    && u64::from(segment_count_length) + 2 * u64::from(segment_length) <= n as u64;
                if !ok {
                    return Err("token filter descriptor does not fit its fingerprints".into());
                }
                Ok(TokenFilter::Fuse(BinaryFuse8 {
                    descriptor: xorf::Descriptor {
                        seed,
                        segment_length,
                        segment_length_mask,
                        segment_count_length,
                    },
                    fingerprints: fingerprints.into(),
                }))
            }
            k => Err(format!("unknown token filter kind {k}")),
        }
    }
}
