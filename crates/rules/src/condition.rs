//! Compiled conditions and how they match.

use distlog_proto::{Encoding, Kind, ScopeEvent, System};
use regex::Regex;
use serde_json::Value;

use crate::Subject;

/// A compiled condition: cheap to match, cheap to clone.
#[derive(Debug, Clone)]
pub struct Condition(pub(crate) Node);

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Always,
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    MinLevel(i64),
    Logger(Vec<NamePattern>),
    Host(Vec<NamePattern>),
    System(Vec<System>),
    Kind(Vec<Kind>),
    Encoding(Vec<Encoding>),
    Event(Vec<Option<ScopeEvent>>),
    Message(Regex),
    /// A bare word of a command-line filter, lower-cased.
    MessageContains(String),
    Context(String, FieldTest),
    /// The record's task has, or will have, a failed scope: known only
    /// when the task is decided (see `crate::tail`).
    TaskFailed,
    /// The record's root id hashes below this (`None`: every task).
    Sample(Option<u64>),
}

#[derive(Debug, Clone)]
pub(crate) enum NamePattern {
    /// A logger name: matches itself and its children (`a.b` → `a.b.c`).
    Hierarchy(String),
    Exact(String),
    Glob(Regex),
}

#[derive(Debug, Clone)]
pub(crate) enum FieldTest {
    /// Equal as JSON values (numbers compare by value: 3 equals 3.0); with
    /// `text` set (command-line terms, which carry no types), a string field
    /// equal to that text matches too.
    Equals(Value, Option<String>),
    Exists(bool),
    In(Vec<Value>),
}

impl Condition {
    /// Matches every record.
    pub fn always() -> Condition {
        Condition(Node::Always)
    }

    /// Whether the record matches. A condition on the task's outcome
    /// (`task: failed`) reads as "not failed" here; routing asks
    /// [`Condition::matches_task`] with the outcome once it is known.
    pub fn matches(&self, subject: &dyn Subject) -> bool {
        self.0.matches(subject, false)
    }

    /// Whether the record matches if its task `failed` (has a failed
    /// scope) or not. A record outside any task never has a failed task.
    pub fn matches_task(&self, subject: &dyn Subject, failed: bool) -> bool {
        self.0.matches(subject, failed)
    }

    /// Whether matching depends on the outcome of the record's task, so a
    /// router must hold the record until the task is decided.
    pub fn needs_task(&self) -> bool {
        self.0.needs_task()
    }

    /// Whether matching may need the record's context (which costs a parse).
    pub fn needs_context(&self) -> bool {
        self.0.needs_context()
    }
}

impl Node {
    fn matches(&self, s: &dyn Subject, failed: bool) -> bool {
        match self {
            Node::Always => true,
            Node::All(nodes) => nodes.iter().all(|n| n.matches(s, failed)),
            Node::Any(nodes) => nodes.iter().any(|n| n.matches(s, failed)),
            Node::Not(node) => !node.matches(s, failed),
            Node::MinLevel(min) => s.levelno() >= *min,
            Node::Logger(p) => p.iter().any(|p| p.matches(s.logger())),
            Node::Host(p) => p.iter().any(|p| p.matches(s.host())),
            Node::System(v) => s.topic().is_some_and(|t| v.contains(&t.system)),
            Node::Kind(v) => s.topic().is_some_and(|t| v.contains(&t.kind)),
            Node::Encoding(v) => s.topic().is_some_and(|t| v.contains(&t.encoding)),
            Node::Event(v) => v.contains(&s.event()),
            Node::Message(re) => re.is_match(s.message()),
            Node::MessageContains(word) => s.message().to_lowercase().contains(word.as_str()),
            Node::Context(path, test) => {
                let value = s.context().and_then(|c| lookup(c, path));
                test.matches(value)
            }
            Node::TaskFailed => failed && s.root().is_some(),
            Node::Sample(None) => s.root().is_some(),
            Node::Sample(Some(below)) => s.root().is_some_and(|r| crate::sample::hash(r) < *below),
        }
    }

    fn needs_task(&self) -> bool {
        match self {
            Node::TaskFailed => true,
            Node::All(n) | Node::Any(n) => n.iter().any(Node::needs_task),
            Node::Not(n) => n.needs_task(),
            _ => false,
        }
    }

    fn needs_context(&self) -> bool {
        match self {
            Node::Context(..) => true,
            Node::All(n) | Node::Any(n) => n.iter().any(Node::needs_context),
            Node::Not(n) => n.needs_context(),
            _ => false,
        }
    }
}

impl NamePattern {
    fn matches(&self, name: &str) -> bool {
        match self {
            NamePattern::Hierarchy(prefix) => {
                name == prefix
                    || (name.len() > prefix.len()
                        && name.starts_with(prefix.as_str())
                        && name.as_bytes()[prefix.len()] == b'.')
            }
            NamePattern::Exact(exact) => name == exact,
            NamePattern::Glob(re) => re.is_match(name),
        }
    }
}

impl FieldTest {
    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            FieldTest::Exists(want) => value.is_some() == *want,
            FieldTest::Equals(expected, text) => value.is_some_and(|v| {
                same(v, expected) || text.as_deref().is_some_and(|t| v.as_str() == Some(t))
            }),
            FieldTest::In(options) => value.is_some_and(|v| options.iter().any(|o| same(v, o))),
        }
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// `user.id` finds `{"user": {"id": …}}`; a key that itself contains dots
/// is found first.
fn lookup<'a>(context: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = context.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut current = context.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}
