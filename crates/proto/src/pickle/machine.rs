//! The pickle machine: runs data opcodes into an arena of nodes.

mod memo;
mod reader;
mod stack;

use std::borrow::Cow;
use std::fmt::Display;

use self::memo::Memo;
use super::opcodes::*;
use super::text::{self, MAX_INT_BYTES};
use super::{Id, Node, SeqKind};
use crate::{DecodeError, Limits};

/// Runs `input` to its STOP; returns the arena and the index of the result.
pub(super) fn run<'a>(
    input: &'a [u8],
    limits: &Limits,
) -> Result<(Vec<Node<'a>>, Id), DecodeError> {
    let mut m = Machine {
        input,
        pos: 0,
        at: 0,
        op: 0,
        // A typical record pickle spends about ten bytes per value.
        nodes: Vec::with_capacity((input.len() / 8).min(4096)),
        stack: Vec::with_capacity(32),
        marks: Vec::with_capacity(8),
        memo: Memo::new(input.len()),
        max_nodes: limits.max_nodes.min(Id::MAX as usize),
    };
    let root = m.execute()?;
    Ok((m.nodes, root))
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    /// Offset and byte of the opcode being run, for error messages.
    at: usize,
    op: u8,
    nodes: Vec<Node<'a>>,
    stack: Vec<Id>,
    /// Stack lengths at each MARK. As in CPython, the stack below the last
    /// mark (the fence) cannot be popped until the mark is.
    marks: Vec<usize>,
    memo: Memo,
    max_nodes: usize,
}

impl<'a> Machine<'a> {
    fn execute(&mut self) -> Result<Id, DecodeError> {
        loop {
            self.at = self.pos;
            let Some(&op) = self.input.get(self.pos) else {
                return Err(DecodeError::BadPickle(format!(
                    "pickle ends at offset {} without STOP",
                    self.pos
                )));
            };
            self.op = op;
            self.pos += 1;
            if let Some(why) = forbidden(op) {
                return Err(DecodeError::BadPickle(format!(
                    "opcode {} (0x{op:02x}) at offset {} is not allowed: {why}",
                    name(op),
                    self.at
                )));
            }
            match op {
                STOP => return self.stop(),
                MARK => self.marks.push(self.stack.len()),
                POP => self.pop_value_or_mark()?,
                POP_MARK => {
                    let mark = self.pop_mark()?;
                    self.stack.truncate(mark);
                }
                DUP => {
                    let top = self.top()?;
                    self.stack.push(top);
                }
                NONE => self.push(Node::None)?,
                NEWTRUE => self.push(Node::Bool(true))?,
                NEWFALSE => self.push(Node::Bool(false))?,
                INT => {
                    let node = match self.line()? {
                        b"00" => Node::Bool(false),
                        b"01" => Node::Bool(true),
                        line => text::decimal_int(line).map_err(|e| self.fail(e))?,
                    };
                    self.push(node)?;
                }
                LONG => {
                    let line = self.line()?;
                    let digits = line.strip_suffix(b"L").unwrap_or(line);
                    let node = text::decimal_int(digits).map_err(|e| self.fail(e))?;
                    self.push(node)?;
                }
                BININT => {
                    let v = i32::from_le_bytes(self.array()?);
                    self.push(Node::Int(v.into()))?;
                }
                BININT1 => {
                    let v = self.u8()?;
                    self.push(Node::Int(v.into()))?;
                }
                BININT2 => {
                    let v = u16::from_le_bytes(self.array()?);
                    self.push(Node::Int(v.into()))?;
                }
                LONG1 | LONG4 => {
                    let len = if op == LONG1 {
                        self.u8()?.into()
                    } else {
                        self.i32_len()?
                    };
                    if len > MAX_INT_BYTES {
                        return Err(self.fail(format_args!(
                            "an int of {len} bytes is over the limit of {MAX_INT_BYTES}"
                        )));
                    }
                    let bytes = self.take(len)?;
                    self.push(text::le_int(bytes))?;
                }
                FLOAT => {
                    let line = self.line()?;
                    let v = std::str::from_utf8(line)
                        .ok()
                        .and_then(|s| s.parse::<f64>().ok())
                        .ok_or_else(|| self.fail("not a float literal"))?;
                    self.push(Node::Float(v))?;
                }
                BINFLOAT => {
                    let v = f64::from_be_bytes(self.array()?);
                    self.push(Node::Float(v))?;
                }
                STRING => {
                    let line = self.line()?;
                    let inner = match line {
                        [q @ (b'\'' | b'"'), inner @ .., end] if q == end => inner,
                        _ => return Err(self.fail("the argument must be quoted")),
                    };
                    let s = match text::escape_decode(inner).map_err(|e| self.fail(e))? {
                        Cow::Borrowed(b) => text::py2_str(b),
                        Cow::Owned(v) => Cow::Owned(text::py2_string(v)),
                    };
                    self.push(Node::Str(s))?;
                }
                BINSTRING | SHORT_BINSTRING => {
                    let len = if op == BINSTRING {
                        self.i32_len()?
                    } else {
                        self.u8()?.into()
                    };
                    let bytes = self.take(len)?;
                    self.push(Node::Str(text::py2_str(bytes)))?;
                }
                UNICODE => {
                    let line = self.line()?;
                    let s = text::raw_unicode_escape(line).map_err(|e| self.fail(e))?;
                    self.push(Node::Str(s))?;
                }
                BINUNICODE | SHORT_BINUNICODE | BINUNICODE8 => {
                    let len = self.length(op)?;
                    let bytes = self.take(len)?;
                    // CPython encodes with surrogatepass, so a lone
                    // surrogate arrives as bytes that are not UTF-8; each
                    // such sequence reads as U+FFFD.
                    self.push(Node::Str(String::from_utf8_lossy(bytes)))?;
                }
                BINBYTES | SHORT_BINBYTES | BINBYTES8 | BYTEARRAY8 => {
                    let len = self.length(op)?;
                    let bytes = self.take(len)?;
                    self.push(Node::Bytes(bytes))?;
                }
                EMPTY_LIST => self.push(Node::Seq(SeqKind::List, Vec::new()))?,
                EMPTY_TUPLE => self.push(Node::Seq(SeqKind::Tuple, Vec::new()))?,
                EMPTY_SET => self.push(Node::Seq(SeqKind::Set, Vec::new()))?,
                EMPTY_DICT => self.push(Node::Dict(Vec::new()))?,
                LIST | TUPLE | FROZENSET => {
                    let mark = self.pop_mark()?;
                    let items = self.stack.split_off(mark);
                    let kind = match op {
                        LIST => SeqKind::List,
                        TUPLE => SeqKind::Tuple,
                        _ => SeqKind::FrozenSet,
                    };
                    self.push(Node::Seq(kind, items))?;
                }
                TUPLE1 | TUPLE2 | TUPLE3 => {
                    let n = usize::from(op - TUPLE1 + 1);
                    if self.stack.len() < self.fence() + n {
                        return Err(self.fail("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Node::Seq(SeqKind::Tuple, items))?;
                }
                DICT => {
                    let mark = self.pop_mark()?;
                    if !(self.stack.len() - mark).is_multiple_of(2) {
                        return Err(self.fail("odd number of items"));
                    }
                    let items = self.stack.split_off(mark);
                    self.push(Node::Dict(items))?;
                }
                APPEND | SETITEM => {
                    let n = if op == APPEND { 1 } else { 2 };
                    if self.stack.len() < self.fence() + n + 1 {
                        return Err(self.fail("stack underflow"));
                    }
                    let from = self.stack.len() - n;
                    self.extend_from(from - 1, from)?;
                }
                APPENDS | SETITEMS | ADDITEMS => {
                    let mark = self.pop_mark()?;
                    if mark <= self.fence() {
                        return Err(self.fail("stack underflow: nothing below the MARK"));
                    }
                    if op == SETITEMS && !(self.stack.len() - mark).is_multiple_of(2) {
                        return Err(self.fail("odd number of items"));
                    }
                    self.extend_from(mark - 1, mark)?;
                }
                GET | BINGET | LONG_BINGET => {
                    let index = self.memo_index(op)?;
                    let id = self
                        .memo
                        .get(index)
                        .ok_or_else(|| self.fail(format_args!("memo key {index} not found")))?;
                    self.stack.push(id);
                }
                PUT | BINPUT | LONG_BINPUT | MEMOIZE => {
                    let index = self.memo_index(op)?;
                    let top = self.top()?;
                    self.memo.put(index, top);
                }
                PROTO => {
                    let version = self.u8()?;
                    if version > HIGHEST_PROTOCOL {
                        return Err(self.fail(format_args!("unsupported protocol {version}")));
                    }
                }
                // Frames only help buffered readers; we hold the whole body.
                FRAME => {
                    let len = self.length(op)?;
                    if len > self.input.len() - self.pos {
                        return Err(self.truncated(len));
                    }
                }
                _ => {
                    return Err(DecodeError::BadPickle(format!(
                        "unknown opcode 0x{op:02x} at offset {}",
                        self.at
                    )))
                }
            }
        }
    }

    fn stop(&mut self) -> Result<Id, DecodeError> {
        let root = self.pop()?;
        if !self.stack.is_empty() || !self.marks.is_empty() {
            return Err(self.fail(format_args!(
                "{} values and {} marks left on the stack",
                self.stack.len(),
                self.marks.len()
            )));
        }
        let trailing = self.input.len() - self.pos;
        if trailing > 0 {
            return Err(DecodeError::BadPickle(format!(
                "{trailing} bytes of trailing data after STOP at offset {}",
                self.at
            )));
        }
        Ok(root)
    }

    fn fail(&self, what: impl Display) -> DecodeError {
        DecodeError::BadPickle(format!(
            "opcode {} (0x{:02x}) at offset {}: {what}",
            name(self.op),
            self.op,
            self.at
        ))
    }
}
