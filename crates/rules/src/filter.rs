//! The command-line form: `level>=WARNING logger=app context.user=leo
//! message~"timed out" !event=open`, or a YAML map `{any: [...]}`.

use crate::compile::{
    encoding, event, kind, level_number, name_pattern, regex, sample_node, system, typed,
};
use crate::condition::{FieldTest, Node};
use crate::spec::{ConditionSpec, Level};
use crate::{Condition, RuleError};

/// Parses a filter: a YAML map when it starts with `{`, else terms, all of
/// which must hold.
pub fn parse_filter(text: &str) -> Result<Condition, RuleError> {
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        let spec: ConditionSpec =
            serde_saphyr::from_str(trimmed).map_err(|e| RuleError::Yaml(e.to_string()))?;
        let condition = spec.compile()?;
        // A filter sees each record once, as it passes: it cannot wait
        // for the task to close.
        if condition.needs_task() {
            return Err(RuleError::TaskInFilter);
        }
        return Ok(condition);
    }
    let mut nodes = Vec::new();
    for (i, term) in split_terms(trimmed)?.iter().enumerate() {
        nodes.push(term_node(i + 1, term)?);
    }
    Ok(Condition(match nodes.len() {
        0 => Node::Always,
        1 => nodes.pop().unwrap_or(Node::Always),
        _ => Node::All(nodes),
    }))
}

/// Splits on white space, keeping `"quoted parts"` together (quotes removed).
fn split_terms(text: &str) -> Result<Vec<String>, RuleError> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    terms.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            c => {
                current.push(c);
                started = true;
            }
        }
    }
    if quoted {
        return Err(RuleError::BadTerm {
            term: terms.len() + 1,
            text: current,
            problem: "unclosed quote".into(),
        });
    }
    if started {
        terms.push(current);
    }
    Ok(terms)
}

const KNOWN: [&str; 9] = [
    "level", "logger", "host", "system", "kind", "encoding", "event", "message", "sample",
];

fn term_node(index: usize, term: &str) -> Result<Node, RuleError> {
    if let Some(rest) = term.strip_prefix('!') {
        return Ok(Node::Not(Box::new(term_node(index, rest)?)));
    }
    let bad = |problem: &str| RuleError::BadTerm {
        term: index,
        text: term.to_owned(),
        problem: problem.to_owned(),
    };
    if let Some(field) = term
        .strip_suffix('?')
        .and_then(|f| f.strip_prefix("context."))
    {
        if field.is_empty() {
            return Err(bad("name the context field: context.NAME?"));
        }
        return Ok(Node::Context(field.to_owned(), FieldTest::Exists(true)));
    }
    // The first operator decides: `>=`, `~` or `=`.
    let op_at = term.find(['=', '~', '>']);
    let Some(at) = op_at else {
        return Ok(Node::MessageContains(term.to_lowercase()));
    };
    let field = &term[..at];
    let (op, value) = if term[at..].starts_with(">=") {
        (">=", &term[at + 2..])
    } else {
        (&term[at..at + 1], &term[at + 1..])
    };
    if field.is_empty() {
        return Ok(Node::MessageContains(term.to_lowercase()));
    }
    if value.is_empty() {
        return Err(bad("no value after the operator"));
    }
    let list = || value.split(',').map(str::trim).filter(|v| !v.is_empty());
    match (field, op) {
        ("level", "=" | ">=") => Ok(Node::MinLevel(level_number(&Level::Name(
            value.to_owned(),
        ))?)),
        ("logger", "=") => Ok(Node::Logger(
            list()
                .map(|v| name_pattern(v, true))
                .collect::<Result<_, _>>()?,
        )),
        ("host", "=") => Ok(Node::Host(
            list()
                .map(|v| name_pattern(v, false))
                .collect::<Result<_, _>>()?,
        )),
        ("system", "=") => Ok(Node::System(list().map(system).collect::<Result<_, _>>()?)),
        ("kind", "=") => Ok(Node::Kind(list().map(kind).collect::<Result<_, _>>()?)),
        ("encoding", "=") => Ok(Node::Encoding(
            list().map(encoding).collect::<Result<_, _>>()?,
        )),
        ("event", "=") => {
            let mut events = Vec::new();
            for e in list() {
                events.extend(event(e)?);
            }
            Ok(Node::Event(events))
        }
        ("sample", "=") => match value.parse::<f64>() {
            Ok(ratio) => sample_node(ratio),
            Err(_) => Err(RuleError::BadSample(value.to_owned())),
        },
        ("task", _) => Err(RuleError::TaskInFilter),
        ("message", "~") => Ok(Node::Message(regex(value)?)),
        ("message", "=") => Ok(Node::MessageContains(value.to_lowercase())),
        (f, "=") if f.starts_with("context.") && f.len() > 8 => {
            let name = f["context.".len()..].to_owned();
            let values: Vec<&str> = list().collect();
            Ok(match values.as_slice() {
                [one] => {
                    Node::Context(name, FieldTest::Equals(typed(one), Some((*one).to_owned())))
                }
                many => {
                    let mut options: Vec<_> = many.iter().map(|v| typed(v)).collect();
                    options.extend(
                        many.iter()
                            .map(|v| serde_json::Value::String((*v).to_owned())),
                    );
                    Node::Context(name, FieldTest::In(options))
                }
            })
        }
        (f, _) if KNOWN.contains(&f) || f.starts_with("context.") => Err(bad(&format!(
            "`{op}` does not apply to {f}: use level>=NAME, message~REGEX, or FIELD=VALUE"
        ))),
        (other, _) => Err(RuleError::UnknownField {
            term: index,
            field: other.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests;
