//! From the arena to JSON text: first measure, then write.
//!
//! Both walks keep their own stack on the heap. Measuring is linear in the
//! arena however much the nodes share; building happens only once the tree
//! is known to be acyclic, no deeper than `max_depth` (so that serde_json's
//! readers' recursion stays shallow) and no larger than the limits.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{Id, Node};
use crate::{DecodeError, Limits};

/// The tree as JSON text, once it is known to be within the limits.
pub(super) fn to_text(
    nodes: &[Node<'_>],
    root: Id,
    limits: &Limits,
) -> Result<String, DecodeError> {
    measure(nodes, root, limits)?;
    let mut out = Vec::with_capacity(1024);
    write(nodes, root, &mut out);
    // Every piece written is UTF-8: strings are `str`, the rest ASCII.
    String::from_utf8(out).map_err(|e| DecodeError::BadPickle(format!("internal: not UTF-8: {e}")))
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum State {
    #[default]
    New,
    /// On the current path: meeting it again is a cycle.
    Open,
    Done,
}

/// What a node expands to, shared references included.
#[derive(Clone, Copy, Default)]
struct Extent {
    state: State,
    /// Levels of containers, as JSON counts nesting: a scalar is 0.
    height: usize,
    /// Values, keys included.
    values: u64,
    /// A lower bound on the JSON text's length.
    bytes: u64,
}

/// A depth-first walk computing each node's extent from its children's,
/// failing as soon as one exceeds a limit or a node is met on its own path.
fn measure(nodes: &[Node<'_>], root: Id, limits: &Limits) -> Result<(), DecodeError> {
    let mut seen = vec![Extent::default(); nodes.len()];
    let mut path: Vec<(Id, usize)> = vec![(root, 0)];
    seen[root as usize].state = State::Open;
    while let Some(top) = path.last_mut() {
        let (id, next) = *top;
        let node = &nodes[id as usize];
        if let Some(&kid) = node.children().get(next) {
            top.1 += 1;
            let k = kid as usize;
            match seen[k].state {
                State::Done => {}
                State::Open => {
                    return Err(DecodeError::BadPickle(
                        "cycle: a container holds itself, directly or through others".into(),
                    ))
                }
                State::New if nodes[k].is_container() => {
                    seen[k].state = State::Open;
                    path.push((kid, 0));
                }
                State::New => seen[k] = leaf_extent(&nodes[k]),
            }
            continue;
        }
        let extent = if node.is_container() {
            container_extent(node.children(), &seen)
        } else {
            leaf_extent(node)
        };
        if extent.height > limits.max_depth {
            return Err(DecodeError::TooDeep {
                limit: limits.max_depth,
            });
        }
        if extent.values > limits.max_nodes as u64 {
            return Err(DecodeError::TooManyValues {
                limit: limits.max_nodes,
            });
        }
        if extent.bytes > limits.max_body as u64 {
            let size = usize::try_from(extent.bytes).unwrap_or(usize::MAX);
            return Err(DecodeError::TooLarge {
                size,
                limit: limits.max_body,
            });
        }
        seen[id as usize] = extent;
        path.pop();
    }
    Ok(())
}

fn leaf_extent(node: &Node<'_>) -> Extent {
    let bytes = match node {
        Node::Str(s) => s.len() + 2,
        Node::BigInt(s) => s.len() + 2,
        Node::Bytes(b) => b.len().div_ceil(3) * 4 + 14,
        _ => 4,
    };
    Extent {
        state: State::Done,
        height: 0,
        values: 1,
        bytes: bytes as u64,
    }
}

fn container_extent(kids: &[Id], seen: &[Extent]) -> Extent {
    let mut out = Extent {
        state: State::Done,
        height: 0,
        values: 1,
        bytes: 2,
    };
    for &kid in kids {
        let kid = &seen[kid as usize];
        out.height = out.height.max(kid.height);
        out.values = out.values.saturating_add(kid.values);
        // One more for the comma or colon after each.
        out.bytes = out.bytes.saturating_add(kid.bytes).saturating_add(1);
    }
    out.height = out.height.saturating_add(1);
    out
}

/// A container being written: its children and the next to write.
struct Open<'n> {
    kids: &'n [Id],
    next: usize,
    dict: bool,
}

/// Writes a scalar, or opens a container and stacks it.
fn open<'n>(node: &'n Node<'_>, out: &mut Vec<u8>, stack: &mut Vec<Open<'n>>) {
    match node {
        Node::Seq(_, kids) => {
            out.push(b'[');
            stack.push(Open {
                kids,
                next: 0,
                dict: false,
            });
        }
        Node::Dict(kids) => {
            out.push(b'{');
            stack.push(Open {
                kids,
                next: 0,
                dict: true,
            });
        }
        leaf => scalar(leaf, out),
    }
}

/// Writes the measured tree as compact JSON text, keeping the pickle's
/// order of dict items. Going straight to text skips building a
/// `serde_json::Value`, printing it and dropping it: more than half of the
/// pickle intake's time when it went through one (docs/benchmarks.md).
fn write(nodes: &[Node<'_>], root: Id, out: &mut Vec<u8>) {
    let mut stack: Vec<Open<'_>> = Vec::new();
    open(&nodes[root as usize], out, &mut stack);
    while let Some(top) = stack.last_mut() {
        let i = top.next;
        // A dict's children alternate key, value; a key left without its
        // value (only a malformed arena could hold one) is not written.
        let done = i >= top.kids.len() || (top.dict && i % 2 == 0 && i + 1 >= top.kids.len());
        if done {
            out.push(if top.dict { b'}' } else { b']' });
            stack.pop();
            continue;
        }
        top.next += 1;
        let kid = top.kids[i];
        if top.dict && i % 2 == 0 {
            if i > 0 {
                out.push(b',');
            }
            key(nodes, kid, out);
            out.push(b':');
            continue;
        }
        if !top.dict && i > 0 {
            out.push(b',');
        }
        open(&nodes[kid as usize], out, &mut stack);
    }
}

/// A dict key: scalars as their text (numbers as their digits, also beyond
/// i64), containers and bytes as their own JSON text, all as JSON strings.
fn key(nodes: &[Node<'_>], id: Id, out: &mut Vec<u8>) {
    let text = match &nodes[id as usize] {
        Node::Str(s) => return string(s, out),
        Node::BigInt(s) => s.clone(),
        Node::Int(i) => i.to_string(),
        Node::Bool(b) => b.to_string(),
        Node::None => "null".to_owned(),
        Node::Float(f) => float_text(*f),
        Node::Bytes(_) | Node::Seq(..) | Node::Dict(_) => {
            let mut inner = Vec::new();
            write(nodes, id, &mut inner);
            String::from_utf8_lossy(&inner).into_owned()
        }
    };
    string(&text, out);
}

fn scalar(node: &Node<'_>, out: &mut Vec<u8>) {
    match node {
        Node::Bool(true) => out.extend_from_slice(b"true"),
        Node::Bool(false) => out.extend_from_slice(b"false"),
        // Writing into a Vec cannot fail.
        Node::Int(i) => {
            let _ = serde_json::to_writer(&mut *out, i);
        }
        Node::BigInt(s) => string(s, out),
        Node::Float(f) if f.is_finite() => {
            let _ = serde_json::to_writer(&mut *out, f);
        }
        Node::Float(f) => string(&float_text(*f), out),
        Node::Str(s) => string(s, out),
        Node::Bytes(b) => {
            out.extend_from_slice(b"{\"$bytes\":\"");
            out.extend_from_slice(STANDARD.encode(b).as_bytes());
            out.extend_from_slice(b"\"}");
        }
        Node::None | Node::Seq(..) | Node::Dict(_) => out.extend_from_slice(b"null"),
    }
}

/// As serde_json writes a float; NaN and the infinities, which JSON cannot
/// hold, as the names Python's `json` module gives them.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        serde_json::to_string(&f).unwrap_or_else(|_| "null".to_owned())
    }
}

fn string(s: &str, out: &mut Vec<u8>) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}
