//! Safe pickle decoding: a data-only interpreter for protocols 0–5.
//!
//! Python's `pickle.loads` is a small stack machine whose opcodes can import
//! and call anything. This one implements only the opcodes that build
//! `None`, bools, ints, floats, strings, bytes, tuples, lists, sets and dicts;
//! every opcode that would import, call or build an instance is refused
//! before its argument is even read, so nothing is ever run.
//!
//! Decoding has two stages, neither recursive:
//!
//! 1. `machine` runs the opcodes into an arena of `Node`s. The stack and
//!    the memo hold indices into the arena, so a list memoized while still
//!    empty and filled afterwards (which is how Python pickles every list
//!    and dict) is the same list wherever it is referenced later. Each opcode
//!    adds at most one node, and the arena is capped at `max_nodes`, so
//!    memory is bounded by the input and the limits.
//! 2. `materialize` walks the arena with an explicit stack: first to find
//!    cycles and to measure, through shared references, the depth and the
//!    size of the tree the nodes would expand to; then, only if all of it is
//!    within the limits, to write it as JSON text.
//!
//! Decisions beyond `docs/protocol.md`:
//! - Data after STOP, or values or marks left on the stack at STOP, make the
//!   body invalid; CPython ignores them, but no pickler writes them.
//! - A Python 2 `str` (STRING, BINSTRING, SHORT_BINSTRING) becomes text:
//!   UTF-8 if it is valid UTF-8, otherwise Latin-1.
//! - Ints of more than 4300 decimal digits are refused, as CPython refuses to
//!   print them.
//! - Besides `max_nodes`, the expanded tree's estimated JSON size is held to
//!   `max_body`, so one large string referenced many times cannot expand into
//!   gigabytes either.
//! - CPython pickles `bytes` at protocols 0–2, `set` and `frozenset` at 0–3
//!   and `bytearray` at 0–4 as calls (GLOBAL + REDUCE), so those are refused
//!   like any other call; senders need protocol 3, 4 and 5 respectively.
//! - Set elements are kept as pickled, without removing duplicates; dict keys
//!   are not checked for hashability.

mod machine;
mod materialize;
mod opcodes;
mod text;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fixtures;
#[cfg(test)]
mod tests_hostile;

use std::borrow::Cow;

#[cfg(test)]
use serde_json::Value;

use crate::{DecodeError, Limits};

/// `to_json_text`, parsed: what the tests compare with Python's answers.
#[cfg(test)]
pub(crate) fn to_json(input: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
    use serde::Deserialize as _;
    let text = to_json_text(input, limits)?;
    // The limits, not serde_json's 128 levels, decide the depth here.
    let mut de = serde_json::Deserializer::from_str(&text);
    de.disable_recursion_limit();
    Value::deserialize(&mut de).map_err(|e| DecodeError::BadPickle(format!("internal: {e}")))
}

/// Decodes a pickle (protocols 0–5) into compact JSON text without running
/// code, dict items in the pickle's order: what distlogd keeps as a pickled
/// record's body.
///
/// See `docs/protocol.md`, "Values JSON cannot hold", for the mapping.
pub fn to_json_text(input: &[u8], limits: &Limits) -> Result<String, DecodeError> {
    let (nodes, root) = machine::run(input, limits)?;
    materialize::to_text(&nodes, root, limits)
}

/// An index into the arena of nodes.
type Id = u32;

/// One decoded Python value. Text and bytes borrow from the input when they
/// can, so most opcodes allocate nothing.
#[derive(Debug)]
enum Node<'a> {
    None,
    Bool(bool),
    Int(i64),
    /// An int beyond i64: its decimal digits, with a leading `-` if negative.
    BigInt(String),
    Float(f64),
    Str(Cow<'a, str>),
    Bytes(&'a [u8]),
    Seq(SeqKind, Vec<Id>),
    /// Keys and values interleaved: key, value, key, value, ...
    Dict(Vec<Id>),
}

/// The sequence types differ only in which opcodes may change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeqKind {
    List,
    Tuple,
    Set,
    FrozenSet,
}

impl Node<'_> {
    fn children(&self) -> &[Id] {
        match self {
            Node::Seq(_, items) | Node::Dict(items) => items,
            _ => &[],
        }
    }

    fn is_container(&self) -> bool {
        matches!(self, Node::Seq(..) | Node::Dict(_))
    }

    /// The Python type's name, for error messages.
    fn type_name(&self) -> &'static str {
        match self {
            Node::None => "None",
            Node::Bool(_) => "a bool",
            Node::Int(_) | Node::BigInt(_) => "an int",
            Node::Float(_) => "a float",
            Node::Str(_) => "a str",
            Node::Bytes(_) => "bytes",
            Node::Seq(SeqKind::List, _) => "a list",
            Node::Seq(SeqKind::Tuple, _) => "a tuple",
            Node::Seq(SeqKind::Set, _) => "a set",
            Node::Seq(SeqKind::FrozenSet, _) => "a frozenset",
            Node::Dict(_) => "a dict",
        }
    }
}
