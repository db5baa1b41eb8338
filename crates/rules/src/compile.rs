//! From what was written to what is matched: every name, level, regex and
//! glob is checked here, so a compiled condition cannot fail later.

use distlog_proto::{Encoding, Kind, ScopeEvent, System};
use regex::Regex;
use serde_json::Value;

use crate::condition::{FieldTest, NamePattern, Node};
use crate::spec::{ConditionSpec, FieldSpec, Level};
use crate::{Condition, RuleError};

impl ConditionSpec {
    pub fn compile(&self) -> Result<Condition, RuleError> {
        Ok(Condition(compile(self)?))
    }
}

fn compile(spec: &ConditionSpec) -> Result<Node, RuleError> {
    let mut all = Vec::new();
    if let Some(level) = &spec.level {
        all.push(Node::MinLevel(level_number(level)?));
    }
    if let Some(loggers) = &spec.logger {
        let patterns = loggers
            .to_vec()
            .iter()
            .map(|l| name_pattern(l, true))
            .collect::<Result<_, _>>()?;
        all.push(Node::Logger(patterns));
    }
    if let Some(hosts) = &spec.host {
        let patterns = hosts
            .to_vec()
            .iter()
            .map(|h| name_pattern(h, false))
            .collect::<Result<_, _>>()?;
        all.push(Node::Host(patterns));
    }
    if let Some(v) = &spec.system {
        all.push(Node::System(
            v.to_vec()
                .iter()
                .map(|s| system(s))
                .collect::<Result<_, _>>()?,
        ));
    }
    if let Some(v) = &spec.kind {
        all.push(Node::Kind(
            v.to_vec()
                .iter()
                .map(|s| kind(s))
                .collect::<Result<_, _>>()?,
        ));
    }
    if let Some(v) = &spec.encoding {
        all.push(Node::Encoding(
            v.to_vec()
                .iter()
                .map(|s| encoding(s))
                .collect::<Result<_, _>>()?,
        ));
    }
    if let Some(v) = &spec.event {
        let mut events = Vec::new();
        for e in v.to_vec() {
            events.extend(event(&e)?);
        }
        all.push(Node::Event(events));
    }
    if let Some(pattern) = &spec.message {
        all.push(Node::Message(regex(pattern)?));
    }
    if let Some(fields) = &spec.context {
        for (name, test) in fields {
            all.push(Node::Context(name.clone(), field_test(name, test)?));
        }
    }
    if let Some(specs) = &spec.all {
        all.push(Node::All(
            specs.iter().map(compile).collect::<Result<_, _>>()?,
        ));
    }
    if let Some(specs) = &spec.any {
        all.push(Node::Any(
            specs.iter().map(compile).collect::<Result<_, _>>()?,
        ));
    }
    if let Some(spec) = &spec.not {
        all.push(Node::Not(Box::new(compile(spec)?)));
    }
    if let Some(task) = &spec.task {
        all.push(task_node(task)?);
    }
    if let Some(ratio) = spec.sample {
        all.push(sample_node(ratio)?);
    }
    Ok(match all.len() {
        0 => Node::Always,
        1 => all.pop().unwrap_or(Node::Always),
        _ => Node::All(all),
    })
}

pub(crate) fn level_number(level: &Level) -> Result<i64, RuleError> {
    match level {
        Level::Number(n) => Ok(*n),
        Level::Name(name) => match name.parse::<i64>() {
            Ok(n) => Ok(n),
            Err(_) => {
                distlog_proto::level_number(name).ok_or_else(|| RuleError::BadLevel(name.clone()))
            }
        },
    }
}

/// Loggers match their children unless the pattern is a glob; hosts match
/// exactly unless it is a glob.
pub(crate) fn name_pattern(text: &str, hierarchy: bool) -> Result<NamePattern, RuleError> {
    if text.contains(['*', '?', '[']) {
        return glob(text).map(NamePattern::Glob);
    }
    Ok(if hierarchy {
        NamePattern::Hierarchy(text.to_owned())
    } else {
        NamePattern::Exact(text.to_owned())
    })
}

/// `*` any run, `?` one character, `[…]` a class; all else literal.
fn glob(text: &str) -> Result<Regex, RuleError> {
    let mut re = String::from("^");
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '[' => {
                let mut class = String::from("[");
                if chars.peek() == Some(&'!') {
                    chars.next();
                    class.push('^');
                }
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == ']' {
                        closed = true;
                        break;
                    }
                    if c == '\\' || c == '[' {
                        class.push('\\');
                    }
                    class.push(c);
                }
                if !closed {
                    return Err(RuleError::BadGlob(text.to_owned()));
                }
                class.push(']');
                re.push_str(&class);
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|_| RuleError::BadGlob(text.to_owned()))
}

pub(crate) fn regex(pattern: &str) -> Result<Regex, RuleError> {
    Regex::new(pattern).map_err(|e| RuleError::BadRegex {
        pattern: pattern.to_owned(),
        error: e.to_string(),
    })
}

fn bad(field: &'static str, value: &str, expected: &'static str) -> RuleError {
    RuleError::BadValue {
        field,
        value: value.to_owned(),
        expected,
    }
}

pub(crate) fn system(text: &str) -> Result<System, RuleError> {
    match text.to_ascii_lowercase().as_str() {
        "t" | "test" => Ok(System::Test),
        "s" | "staging" => Ok(System::Staging),
        "p" | "production" => Ok(System::Production),
        _ => Err(bad("system", text, "T/test, S/staging, P/production")),
    }
}

pub(crate) fn kind(text: &str) -> Result<Kind, RuleError> {
    match text.to_ascii_lowercase().as_str() {
        "l" | "log" => Ok(Kind::Log),
        "p" | "performance" => Ok(Kind::Performance),
        _ => Err(bad("kind", text, "L/log, P/performance")),
    }
}

pub(crate) fn encoding(text: &str) -> Result<Encoding, RuleError> {
    match text.to_ascii_lowercase().as_str() {
        "j" | "json" => Ok(Encoding::Json),
        "p" | "pickle" => Ok(Encoding::Pickle),
        _ => Err(bad("encoding", text, "J/json, P/pickle")),
    }
}

pub(crate) fn event(text: &str) -> Result<Vec<Option<ScopeEvent>>, RuleError> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "open" => vec![Some(ScopeEvent::Open)],
        "close" => vec![Some(ScopeEvent::Close)],
        "fail" => vec![Some(ScopeEvent::Fail)],
        "scope" => vec![
            Some(ScopeEvent::Open),
            Some(ScopeEvent::Close),
            Some(ScopeEvent::Fail),
        ],
        "none" => vec![None],
        _ => return Err(bad("event", text, "open, close, fail, scope, none")),
    })
}

pub(crate) fn task_node(text: &str) -> Result<Node, RuleError> {
    match text.to_ascii_lowercase().as_str() {
        "failed" => Ok(Node::TaskFailed),
        _ => Err(bad("task", text, "failed")),
    }
}

pub(crate) fn sample_node(ratio: f64) -> Result<Node, RuleError> {
    if !(0.0..=1.0).contains(&ratio) {
        return Err(RuleError::BadSample(ratio.to_string()));
    }
    Ok(Node::Sample(crate::sample::threshold(ratio)))
}

fn field_test(name: &str, spec: &FieldSpec) -> Result<FieldTest, RuleError> {
    let FieldSpec::Test(t) = spec else {
        let FieldSpec::Value(v) = spec else {
            return Err(RuleError::BadFieldTest {
                field: name.to_owned(),
            });
        };
        return Ok(FieldTest::Equals(v.clone(), None));
    };
    match (&t.equals, t.exists, &t.one_of) {
        (Some(v), None, None) => Ok(FieldTest::Equals(v.clone(), None)),
        (None, Some(e), None) => Ok(FieldTest::Exists(e)),
        (None, None, Some(list)) => Ok(FieldTest::In(list.clone())),
        _ => Err(RuleError::BadFieldTest {
            field: name.to_owned(),
        }),
    }
}

/// A value typed on the command line: a JSON scalar if it reads as one.
pub(crate) fn typed(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => v,
        _ => Value::String(text.to_owned()),
    }
}
