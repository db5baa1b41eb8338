//! From the arena to a `serde_json::Value`: first measure, then build.
//!
//! Both walks keep their own stack on the heap. Measuring is linear in the
//! arena however much the nodes share; building happens only once the tree
//! is known to be acyclic, no deeper than `max_depth` (so that serde_json's
//! recursive drop and printing stay shallow) and no larger than the limits.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Number, Value};

use super::{Id, Node};
use crate::{DecodeError, Limits};

pub(super) fn to_value(
    nodes: &[Node<'_>],
    root: Id,
    limits: &Limits,
) -> Result<Value, DecodeError> {
    measure(nodes, root, limits)?;
    Ok(build(nodes, root))
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

/// A container being built: its children, the next to take, what is done.
enum Frame<'n> {
    Array {
        kids: &'n [Id],
        next: usize,
        items: Vec<Value>,
    },
    Object {
        kids: &'n [Id],
        next: usize,
        map: Map<String, Value>,
        key: Option<String>,
    },
}

impl<'n> Frame<'n> {
    fn open(node: &'n Node<'_>) -> Option<Frame<'n>> {
        match node {
            Node::Seq(_, kids) => Some(Frame::Array {
                kids,
                next: 0,
                items: Vec::with_capacity(kids.len()),
            }),
            Node::Dict(kids) => Some(Frame::Object {
                kids,
                next: 0,
                map: Map::new(),
                key: None,
            }),
            _ => None,
        }
    }

    fn next_kid(&mut self) -> Option<Id> {
        let (Frame::Array { kids, next, .. } | Frame::Object { kids, next, .. }) = self;
        let kid = kids.get(*next).copied();
        *next += 1;
        kid
    }

    fn wants_key(&self) -> bool {
        matches!(self, Frame::Object { key: None, .. })
    }

    /// Takes a finished child: an item, a dict key, or the value for the key.
    fn accept(&mut self, value: Value) {
        match self {
            Frame::Array { items, .. } => items.push(value),
            Frame::Object { map, key, .. } => match key.take() {
                Some(k) => {
                    map.insert(k, value);
                }
                // Keys that are not scalars (tuples, bytes) become JSON text.
                None => *key = Some(value.to_string()),
            },
        }
    }

    fn into_value(self) -> Value {
        match self {
            Frame::Array { items, .. } => Value::Array(items),
            Frame::Object { map, .. } => Value::Object(map),
        }
    }
}

fn build(nodes: &[Node<'_>], root: Id) -> Value {
    let node = |id: Id| &nodes[id as usize];
    let mut frames = match Frame::open(node(root)) {
        Some(frame) => vec![frame],
        None => return scalar(node(root)),
    };
    let mut finished: Option<Value> = None;
    loop {
        let Some(frame) = frames.last_mut() else {
            return finished.unwrap_or(Value::Null);
        };
        if let Some(value) = finished.take() {
            frame.accept(value);
        }
        let Some(kid) = frame.next_kid() else {
            finished = frames.pop().map(Frame::into_value);
            continue;
        };
        let kid = node(kid);
        if frame.wants_key() {
            if let Some(key) = scalar_key(kid) {
                if let Frame::Object { key: slot, .. } = frame {
                    *slot = Some(key);
                }
                continue;
            }
        }
        match Frame::open(kid) {
            Some(child) => frames.push(child),
            None => frame.accept(scalar(kid)),
        }
    }
}

fn scalar(node: &Node<'_>) -> Value {
    match node {
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => Value::from(*i),
        Node::BigInt(s) => Value::String(s.clone()),
        Node::Float(f) => Number::from_f64(*f).map_or_else(|| non_finite(*f), Value::Number),
        Node::Str(s) => Value::String(s.as_ref().to_owned()),
        Node::Bytes(b) => {
            let mut map = Map::new();
            map.insert("$bytes".to_owned(), Value::String(STANDARD.encode(b)));
            Value::Object(map)
        }
        Node::None | Node::Seq(..) | Node::Dict(_) => Value::Null,
    }
}

fn non_finite(f: f64) -> Value {
    let text = if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    };
    Value::String(text.to_owned())
}

/// A scalar key's text: strings as they are, numbers as their digits (also
/// beyond i64), others as JSON. `None` for keys that need building.
fn scalar_key(node: &Node<'_>) -> Option<String> {
    Some(match node {
        Node::Str(s) => s.as_ref().to_owned(),
        Node::BigInt(s) => s.clone(),
        Node::Int(i) => i.to_string(),
        Node::Bool(b) => b.to_string(),
        Node::None => "null".to_owned(),
        Node::Float(f) => match Number::from_f64(*f) {
            Some(n) => n.to_string(),
            None => non_finite(*f).as_str().unwrap_or_default().to_owned(),
        },
        Node::Bytes(_) | Node::Seq(..) | Node::Dict(_) => return None,
    })
}
