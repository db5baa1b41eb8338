//! Routing: the compiled rules and the running sinks, swapped as one on a
//! configuration reload.

mod switch;
mod tail;

pub use switch::Switch;
pub use tail::TailCounters;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Result;
use distlog_proto::civil::Civil;
use distlog_proto::Record;
use distlog_rules::tail::Decision;
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

    /// The live feed's copy of the record ([`Routed::feed_json`]): its size
    /// once made, else a reservation for it (about the body again), since
    /// a feed subscriber may make it while the record is held.
    pub fn feed_weight(&self) -> u64 {
        let made = self.feed_json.get().map(String::len);
        made.unwrap_or(self.record.body.len() + 256) as u64
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

    /// One line for the console sink, laid out as `distlog tail` prints
    /// a record: time (UTC), level, logger, message, key, context.
    pub fn human_line(&self) -> String {
        let r = &self.record;
        let time = Civil::from_epoch(r.created.unwrap_or(self.received));
        let mut line = format!(
            "{} {}.{:03}Z {:<7} {} {}",
            time.date(),
            time.time(),
            time.millis,
            r.levelname,
            r.logger,
            r.message
        );
        if let Some(k) = &r.key {
            line.push_str(&format!("  [{k}]"));
        }
        let context = context_text(&r.body);
        if !context.is_empty() {
            line.push_str("  ");
            line.push_str(&context);
        }
        line
    }
}

/// The scope's fields as `name=value`, without the key, as `distlog tail`
/// shows them.
fn context_text(body: &str) -> String {
    // Most records of a busy console are outside any scope: skip parsing.
    if !body.contains("\"context\"") {
        return String::new();
    }
    let Ok(serde_json::Value::Object(mut body)) = serde_json::from_str(body) else {
        return String::new();
    };
    let Some(serde_json::Value::Object(context)) = body.remove("context") else {
        return String::new();
    };
    context
        .iter()
        .filter(|(k, _)| *k != "key")
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The rules and sinks one configuration produced.
pub struct Pipeline {
    pub sinks: Vec<Arc<SinkHandle>>,
    rules: Vec<RulePlan>,
    default: Vec<usize>,
    mode: Mode,
    /// Routes in progress, so a retiring pipeline knows when its sinks
    /// will get no more records.
    active: AtomicUsize,
    /// Set once a reload replaced this pipeline: holders of a stale copy
    /// (the intake, until its next record) route through `successor`.
    retired: AtomicBool,
    successor: OnceLock<Arc<Pipeline>>,
    /// Held tasks, when a rule routes on `task: failed`.
    tail: Option<tail::TailRouter>,
    /// Tail counters, carried from one pipeline to the next.
    pub tail_counters: Arc<TailCounters>,
}

/// Counts a route in progress for as long as it runs, panics included.
struct Routing<'a>(&'a AtomicUsize);

impl Drop for Routing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
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
        let tail_counters = previous.map_or_else(Arc::default, |p| p.tail_counters.clone());
        let tail = plan
            .rules
            .iter()
            .any(|r| r.condition.needs_task())
            .then(|| tail::TailRouter::new(plan.tail.clone(), tail_counters.clone()));
        Ok(Pipeline {
            sinks: started,
            rules: plan.rules,
            default: plan.default,
            mode: plan.mode,
            active: AtomicUsize::new(0),
            retired: AtomicBool::new(false),
            successor: OnceLock::new(),
            tail,
            tail_counters,
        })
    }

    /// A pipeline with no sinks, to close everything at shutdown.
    pub fn empty() -> Pipeline {
        Pipeline {
            sinks: Vec::new(),
            rules: Vec::new(),
            default: Vec::new(),
            mode: Mode::All,
            active: AtomicUsize::new(0),
            retired: AtomicBool::new(false),
            successor: OnceLock::new(),
            tail: None,
            tail_counters: Arc::default(),
        }
    }

    pub fn route(&self, routed: &Arc<Routed>) {
        self.on_current(&|p| p.deliver(routed));
    }

    /// Decides held tasks that are due (grace or timeout passed). The
    /// intake calls it while idle; busy, routing does it by itself.
    pub fn tick(&self) {
        self.on_current(&|p| {
            if let Some(tail) = &p.tail {
                for d in tail.expire() {
                    p.release(d);
                }
            }
        });
    }

    /// Runs `work` here, or on the pipeline that replaced this one.
    fn on_current(&self, work: &dyn Fn(&Pipeline)) {
        // SeqCst on both sides: either `retire` sees this route running
        // and waits for it, or this route sees the pipeline retired.
        self.active.fetch_add(1, Ordering::SeqCst);
        let routing = Routing(&self.active);
        if self.retired.load(Ordering::SeqCst) {
            drop(routing);
            if let Some(next) = self.successor.get() {
                next.on_current(work);
            }
            return;
        }
        work(self);
    }

    /// Hands over to `next`, waits for routes still delivering here, then
    /// closes the sinks `next` does not share, so they release their
    /// files and sockets now rather than when a stale copy is dropped.
    fn retire(&self, next: Arc<Pipeline>) {
        let _ = self.successor.set(next.clone());
        self.retired.store(true, Ordering::SeqCst);
        while self.active.load(Ordering::SeqCst) != 0 {
            // A route holds on only while a blocking queue makes room.
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
        // Held tasks cannot move to `next` (its rules and sinks differ):
        // they are decided as they stand, into this pipeline's sinks.
        if let Some(tail) = &self.tail {
            for d in tail.flush() {
                self.release(d);
            }
        }
        for sink in &self.sinks {
            if !next.sinks.iter().any(|s| Arc::ptr_eq(s, sink)) {
                sink.close();
            }
        }
    }

    fn deliver(&self, routed: &Arc<Routed>) {
        let subject = RecordSubject::new(&routed.record);
        let Some(tail) = self.tail.as_ref().filter(|_| routed.record.key.is_some()) else {
            let targets = self.targets(&subject, false, true);
            self.send(routed, targets);
            // Records outside tasks keep held tasks coming due too.
            if let Some(tail) = &self.tail {
                for d in tail.expire() {
                    self.release(d);
                }
            }
            return;
        };
        // Both outcomes: the sinks reached either way get the record now,
        // the rest wait for the decision.
        let if_failed = self.targets(&subject, true, false);
        let if_not = self.targets(&subject, false, false);
        let certain = if_failed & if_not;
        let held = (if_failed != if_not).then(|| tail::Held {
            routed: routed.clone(),
            sent: certain,
        });
        let mut decided = Vec::new();
        match tail.offer(routed, held, &mut decided) {
            tail::Offer::Known(failed) => {
                // The task's earlier records first, then this one.
                for d in decided.drain(..) {
                    self.release(d);
                }
                let targets = self.targets(&subject, failed, true);
                self.send(routed, targets);
            }
            tail::Offer::Waiting => self.send(routed, certain),
        }
        for d in decided {
            self.release(d);
        }
    }

    /// Routes the records held for a decided task to the sinks its
    /// outcome adds.
    fn release(&self, d: Decision<tail::Held>) {
        let counters = &self.tail_counters;
        for held in d.held {
            let subject = RecordSubject::new(&held.routed.record);
            let more = self.targets(&subject, d.failed, true) & !held.sent;
            let c = if more == 0 {
                &counters.records_dropped
            } else {
                &counters.records_kept
            };
            c.fetch_add(1, Ordering::Relaxed);
            self.send(&held.routed, more);
        }
    }

    /// The sinks the rules pick for a record, given its task's outcome;
    /// `count` adds to the rules' `matched`.
    fn targets(&self, subject: &RecordSubject<'_>, failed: bool, count: bool) -> u128 {
        // Sinks are few; a stack bitmap keeps routing allocation-free.
        let mut targets: u128 = 0;
        let mut matched = false;
        for rule in &self.rules {
            if rule.condition.matches_task(subject, failed) {
                matched = true;
                if count {
                    rule.matched.fetch_add(1, Ordering::Relaxed);
                }
                for &i in &rule.sinks {
                    targets |= 1 << i;
                }
                if self.mode == Mode::First {
                    break;
                }
            }
        }
        if !matched {
            for &i in &self.default {
                targets |= 1 << i;
            }
        }
        targets
    }

    fn send(&self, routed: &Arc<Routed>, targets: u128) {
        if targets == 0 {
            return;
        }
        for (i, sink) in self.sinks.iter().enumerate() {
            if targets & (1 << i) != 0 {
                sink.deliver(routed);
            }
        }
    }

    /// The tail router's counters and bounds, for `/api/stats`.
    pub fn tail_json(&self) -> serde_json::Value {
        let limits = self.tail.as_ref().map(tail::TailRouter::limits);
        let mut v = self.tail_counters.to_json(limits.as_ref());
        v["enabled"] = json!(self.tail.is_some());
        v
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
