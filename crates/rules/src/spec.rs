//! Conditions as written, before they are checked and compiled.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// A condition as written in YAML: every key present must hold.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    /// Minimum level: a name or a number.
    #[serde(default)]
    pub level: Option<Level>,
    /// A logger and its children, or a glob over the whole name.
    #[serde(default)]
    pub logger: Option<OneOrMany<String>>,
    /// A hostname, exact or glob.
    #[serde(default)]
    pub host: Option<OneOrMany<String>>,
    #[serde(default)]
    pub system: Option<OneOrMany<String>>,
    #[serde(default)]
    pub kind: Option<OneOrMany<String>>,
    #[serde(default)]
    pub encoding: Option<OneOrMany<String>>,
    /// Tests on fields of `context`, by name (dots reach into objects).
    #[serde(default)]
    pub context: Option<BTreeMap<String, FieldSpec>>,
    /// A regex searched in the message.
    #[serde(default)]
    pub message: Option<String>,
    /// `open`, `close`, `fail`, `scope` (any of the three) or `none`.
    #[serde(default)]
    pub event: Option<OneOrMany<String>>,
    #[serde(default)]
    pub all: Option<Vec<ConditionSpec>>,
    #[serde(default)]
    pub any: Option<Vec<ConditionSpec>>,
    #[serde(default)]
    pub not: Option<Box<ConditionSpec>>,
    /// `failed`: the record's task has, or will have, a failed scope.
    /// Decided when the task closes or times out: routing rules only.
    #[serde(default)]
    pub task: Option<String>,
    /// A share of tasks from 0 to 1, chosen by the root id, so every
    /// daemon and process picks the same tasks.
    #[serde(default)]
    pub sample: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Level {
    Number(i64),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// One context field's test: a plain value means "equals".
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum FieldSpec {
    Test(FieldTest),
    Value(Value),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldTest {
    #[serde(default)]
    pub equals: Option<Value>,
    #[serde(default)]
    pub exists: Option<bool>,
    #[serde(default, rename = "in")]
    pub one_of: Option<Vec<Value>>,
}
