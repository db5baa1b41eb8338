//! Routing: the compiled rules and the running sinks, swapped as one on a
//! configuration reload.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Result;
use distlog_proto::Record;
use distlog_rules::RecordSubject;
use serde_json::json;

use crate::config::{Mode, Plan, RulePlan};
use crate::sinks::{self, SinkHandle, Threads};

/// A decoded record on its way to the sinks, shared by all of them.
pub struct Routed {
    pub record: Record,
    /// The body as received when it was not JSON (pickle), for forwarding.
    pub original: Option<Vec<u8>>,
    pub received: f64,
    feed_json: OnceLock<String>,
}

impl Routed {
    /// About what this record holds in memory, for the queues' byte
    /// budgets: its texts, the original body, and a fixed share for the
    /// struct and allocations.
    pub fn weight(&self) -> u64 {
        let r = &self.record;
        let texts = r.body.len() + r.message.len() + r.logger.len() + r.hostname.len();
        let original = self.original.as_ref().map_or(0, Vec::len);
        (texts + original + 512) as u64
    }

    pub fn new(record: Record, original: Option<Vec<u8>>, received: f64) -> Routed {
        Routed {
            record,
            original,
            received,
            feed_json: OnceLock::new(),
        }
    }

    /// The record as the live feed sends it (the API's record shape without
    /// a store id), serialised once however many subscribers there are.
    pub fn feed_json(&self) -> &str {
        self.feed_json.get_or_init(|| {
            let r = &self.record;
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
            let mut context = body.get("context").cloned().filter(|c| c.is_object());
            if let Some(serde_json::Value::Object(m)) = context.as_mut() {
                m.remove("key");
            }
            json!({
                "received": self.received,
                "created": r.created.unwrap_or(self.received),
                "topic": r.topic.as_str(),
                "key": r.key.as_ref().map(ToString::to_string),
                "root": r.key.as_ref().map(|k| k.scope.root.clone()),
                "scope": r.key.as_ref().map(|k| k.scope.path_text()),
                "seq": r.key.as_ref().map(|k| k.seq),
                "event": r.event.map(|e| e.as_str()),
                "levelno": r.levelno,
                "levelname": r.levelname,
                "logger": r.logger,
                "host": r.hostname,
                "process": r.process,
                "message": r.message,
                "duration": r.duration,
                "context": context,
                "exc_text": body.get("exc_text").and_then(|v| v.as_str()),
            })
            .to_string()
        })
    }

    /// The body on one line, for JSON Lines. A raw line break in valid JSON
    /// can only be whitespace between tokens (inside strings it must be
    /// escaped), so turning it into a space changes nothing but the layout.
    pub fn body_line(&self) -> std::borrow::Cow<'_, str> {
        let body = &self.record.body;
        if body.contains(['\n', '\r']) {
            std::borrow::Cow::Owned(body.replace(['\n', '\r'], " "))
        } else {
            std::borrow::Cow::Borrowed(body)
        }
    }

    /// One line for the console sink.
    pub fn human_line(&self) -> String {
        let r = &self.record;
        let key = r
            .key
            .as_ref()
            .map(|k| format!("  [{k}]"))
            .unwrap_or_default();
        format!(
            "{:.3} {:<8} {} {}{key}",
            r.created.unwrap_or(self.received),
            r.levelname,
            r.logger,
            r.message
        )
    }
}

/// The rules and sinks one configuration produced.
pub struct Pipeline {
    pub sinks: Vec<Arc<SinkHandle>>,
    rules: Vec<RulePlan>,
    default: Vec<usize>,
    mode: Mode,
}

impl Pipeline {
    /// Starts the sinks of `plan`, reusing any running sink of `previous`
    /// whose name and configuration are unchanged (its queue, file, socket
    /// and subscribers carry over untouched).
    pub fn start(plan: Plan, previous: Option<&Pipeline>, threads: &Threads) -> Result<Pipeline> {
        let mut started = Vec::with_capacity(plan.sinks.len());
        for (name, config) in &plan.sinks {
            let reused = previous.and_then(|p| {
                p.sinks
                    .iter()
                    .find(|s| s.name == *name && s.config == *config)
                    .cloned()
            });
            started.push(match reused {
                Some(s) => s,
                None => sinks::start(name, config, threads)?,
            });
        }
        Ok(Pipeline {
            sinks: started,
            rules: plan.rules,
            default: plan.default,
            mode: plan.mode,
        })
    }

    /// A pipeline with no sinks, to close everything at shutdown.
    pub fn empty() -> Pipeline {
        Pipeline {
            sinks: Vec::new(),
            rules: Vec::new(),
            default: Vec::new(),
            mode: Mode::All,
        }
    }

    pub fn route(&self, routed: &Arc<Routed>) {
        // Sinks are few; a stack bitmap keeps routing allocation-free.
        let mut targets: u128 = 0;
        let mut matched = false;
        if !self.rules.is_empty() {
            let subject = RecordSubject::new(&routed.record);
            for rule in &self.rules {
                if rule.condition.matches(&subject) {
                    matched = true;
                    rule.matched.fetch_add(1, Ordering::Relaxed);
                    for &i in &rule.sinks {
                        targets |= 1 << i;
                    }
                    if self.mode == Mode::First {
                        break;
                    }
                }
            }
        }
        if !matched {
            for &i in &self.default {
                targets |= 1 << i;
            }
        }
        for (i, sink) in self.sinks.iter().enumerate() {
            if targets & (1 << i) != 0 {
                sink.deliver(routed);
            }
        }
    }

    /// Each rule's name and how many records it matched.
    pub fn rules_json(&self) -> serde_json::Value {
        self.rules
            .iter()
            .map(|r| json!({ "name": r.name, "matched": r.matched.load(Ordering::Relaxed) }))
            .collect()
    }

    pub fn sink(&self, name: &str) -> Option<&Arc<SinkHandle>> {
        self.sinks.iter().find(|s| s.name == name)
    }
}

/// The current pipeline, replaceable while the intake runs. The intake
/// checks `generation` per record (one atomic load) and takes the lock only
/// when it changed.
pub struct Switch {
    current: Mutex<Arc<Pipeline>>,
    generation: AtomicU64,
}

impl Switch {
    pub fn new(p: Pipeline) -> Switch {
        Switch {
            current: Mutex::new(Arc::new(p)),
            generation: AtomicU64::new(0),
        }
    }

    pub fn current(&self) -> Arc<Pipeline> {
        match self.current.lock() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn replace(&self, p: Pipeline) {
        let mut cur = match self.current.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        *cur = Arc::new(p);
        self.generation.fetch_add(1, Ordering::Release);
    }
}
