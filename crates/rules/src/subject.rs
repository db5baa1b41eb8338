//! What a condition looks at: a decoded record (daemon) or a record row as
//! the HTTP API returns it (CLI).

use std::cell::OnceCell;

use distlog_proto::{Record, ScopeEvent, Topic};
use serde_json::{Map, Value};

/// The fields conditions read.
pub trait Subject {
    fn levelno(&self) -> i64;
    fn logger(&self) -> &str;
    fn host(&self) -> &str;
    fn topic(&self) -> Option<Topic>;
    fn message(&self) -> &str;
    fn event(&self) -> Option<ScopeEvent>;
    /// `context` without `key`, if the record has one.
    fn context(&self) -> Option<&Map<String, Value>>;
    /// The root id of the record's task, if it was logged in a scope.
    fn root(&self) -> Option<&str> {
        None
    }
}

/// A decoded record. Its context is parsed out of the body only when a
/// condition asks for it, and then once.
pub struct RecordSubject<'a> {
    record: &'a Record,
    context: OnceCell<Option<Map<String, Value>>>,
}

impl<'a> RecordSubject<'a> {
    pub fn new(record: &'a Record) -> Self {
        RecordSubject {
            record,
            context: OnceCell::new(),
        }
    }
}

impl Subject for RecordSubject<'_> {
    fn levelno(&self) -> i64 {
        self.record.levelno
    }
    fn logger(&self) -> &str {
        &self.record.logger
    }
    fn host(&self) -> &str {
        &self.record.hostname
    }
    fn topic(&self) -> Option<Topic> {
        Some(self.record.topic)
    }
    fn message(&self) -> &str {
        &self.record.message
    }
    fn event(&self) -> Option<ScopeEvent> {
        self.record.event
    }
    fn root(&self) -> Option<&str> {
        self.record.key.as_ref().map(|k| k.scope.root.as_str())
    }
    fn context(&self) -> Option<&Map<String, Value>> {
        self.context
            .get_or_init(|| {
                #[derive(serde::Deserialize)]
                struct Body {
                    context: Option<Map<String, Value>>,
                }
                let mut ctx = serde_json::from_str::<Body>(&self.record.body)
                    .ok()?
                    .context?;
                ctx.remove("key");
                Some(ctx)
            })
            .as_ref()
    }
}

/// A record row of the HTTP API (`/api/records`, the live feed).
pub struct JsonSubject<'a> {
    row: &'a Value,
}

impl<'a> JsonSubject<'a> {
    pub fn new(row: &'a Value) -> Self {
        JsonSubject { row }
    }

    fn text(&self, key: &str) -> &str {
        self.row.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

impl Subject for JsonSubject<'_> {
    fn levelno(&self) -> i64 {
        self.row.get("levelno").and_then(Value::as_i64).unwrap_or(0)
    }
    fn logger(&self) -> &str {
        self.text("logger")
    }
    fn host(&self) -> &str {
        self.text("host")
    }
    fn topic(&self) -> Option<Topic> {
        Topic::parse(self.text("topic").as_bytes()).ok()
    }
    fn message(&self) -> &str {
        self.text("message")
    }
    fn event(&self) -> Option<ScopeEvent> {
        ScopeEvent::parse(self.text("event"))
    }
    fn context(&self) -> Option<&Map<String, Value>> {
        self.row.get("context").and_then(Value::as_object)
    }
    fn root(&self) -> Option<&str> {
        self.row.get("root").and_then(Value::as_str)
    }
}
