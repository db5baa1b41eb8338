//! Reading opcode arguments from the input.

use super::Machine;
use crate::pickle::opcodes::*;
use crate::DecodeError;

impl<'a> Machine<'a> {
    /// The next `len` bytes, borrowed from the input.
    pub(super) fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let input = self.input;
        let bytes = input
            .get(self.pos..)
            .and_then(|rest| rest.get(..len))
            .ok_or_else(|| self.truncated(len))?;
        self.pos += len;
        Ok(bytes)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(super) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// The text up to the next newline, which is consumed but not returned.
    pub(super) fn line(&mut self) -> Result<&'a [u8], DecodeError> {
        let input = self.input;
        let rest = input.get(self.pos..).unwrap_or_default();
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.fail("truncated: no newline ends the argument"))?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    /// A signed 4-byte length (BINSTRING, LONG4), which must not be negative.
    pub(super) fn i32_len(&mut self) -> Result<usize, DecodeError> {
        let len = i32::from_le_bytes(self.array()?);
        usize::try_from(len).map_err(|_| self.fail(format_args!("negative length {len}")))
    }

    /// The unsigned length argument of a string, bytes or FRAME opcode.
    pub(super) fn length(&mut self, op: u8) -> Result<usize, DecodeError> {
        let len = match op {
            SHORT_BINUNICODE | SHORT_BINBYTES => u64::from(self.u8()?),
            BINUNICODE | BINBYTES => u64::from(u32::from_le_bytes(self.array()?)),
            _ => u64::from_le_bytes(self.array()?),
        };
        // Beyond usize is beyond the input too; take() reports it truncated.
        Ok(usize::try_from(len).unwrap_or(usize::MAX))
    }

    /// The memo index a GET or PUT opcode names; MEMOIZE names the next one.
    pub(super) fn memo_index(&mut self, op: u8) -> Result<u64, DecodeError> {
        Ok(match op {
            BINGET | BINPUT => self.u8()?.into(),
            LONG_BINGET | LONG_BINPUT => u32::from_le_bytes(self.array()?).into(),
            MEMOIZE => self.memo.len as u64,
            _ => {
                let line = self.line()?;
                std::str::from_utf8(line)
                    .ok()
                    .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| self.fail("the memo key is not a decimal integer"))?
            }
        })
    }

    pub(super) fn truncated(&self, needed: usize) -> DecodeError {
        let left = self.input.len().saturating_sub(self.pos);
        self.fail(format_args!("truncated: needs {needed} bytes, {left} left"))
    }
}
