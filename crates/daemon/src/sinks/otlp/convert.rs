//! Records into OpenTelemetry log records and, for the closing and failure
//! records of scopes, spans (the fields are listed in docs/otlp.md).

use std::collections::{HashMap, VecDeque};

use distlog_proto::{ScopeEvent, System};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::{span, status, Span, Status};
use serde_json::{Map, Value};

use super::ids;
use super::request::{Item, Origin};
use super::values::{any, kv, str_field, text};
use crate::pipeline::Routed;

/// Scopes whose opening record was seen and whose end was not, for the
/// spans' start times and names. Past this many the oldest are forgotten:
/// their spans then start at the closing record's time less its duration.
const MAX_OPEN: usize = 100_000;
/// W3C trace flags: sampled. distlog exports every record it routes here.
const SAMPLED: u32 = 1;

#[derive(Default)]
pub struct Converter {
    opened: HashMap<String, (u64, String)>,
    order: VecDeque<String>,
}

impl Converter {
    /// The log record of `r` (when `logs`) and, for a scope's end, its span
    /// (when `spans`).
    pub fn convert(
        &mut self,
        r: &Routed,
        logs: bool,
        spans: bool,
    ) -> (Option<Item<LogRecord>>, Option<Item<Span>>) {
        let rec = &r.record;
        let body = match serde_json::from_str::<Value>(&rec.body) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let origin = Origin {
            host: rec.hostname.clone(),
            process: rec.process,
            system: system_name(rec.topic.system),
        };
        let time = nanos(rec.created.unwrap_or(r.received));
        let scope = rec.key.as_ref().map(|k| k.scope.to_string());
        if spans {
            if let (Some(ScopeEvent::Open), Some(s)) = (rec.event, &scope) {
                self.remember(s, time, &rec.message);
            }
        }
        let log = logs.then(|| Item {
            origin: origin.clone(),
            logger: rec.logger.clone(),
            value: log_record(r, &body, time, scope.as_deref()),
        });
        let span = match (spans, rec.event, &rec.key) {
            (true, Some(e @ (ScopeEvent::Close | ScopeEvent::Fail)), Some(key)) => {
                let scope_text = key.scope.to_string();
                let (start, name) = self.opened.remove(&scope_text).unwrap_or_else(|| {
                    let d = rec.duration.filter(|d| d.is_finite() && *d >= 0.0);
                    let start = time.saturating_sub(d.map_or(0, |d| (d * 1e9) as u64));
                    (start, rec.message.clone())
                });
                let parent = match key.scope.parent() {
                    Some(p) => ids::span_id(&p.to_string()).to_vec(),
                    None => str_field(&body, "parent_span_id")
                        .and_then(ids::parse_span_id)
                        .map(|id| id.to_vec())
                        .unwrap_or_default(),
                };
                Some(Item {
                    origin,
                    logger: rec.logger.clone(),
                    value: Span {
                        trace_id: ids::trace_id(&key.scope.root).to_vec(),
                        span_id: ids::span_id(&scope_text).to_vec(),
                        parent_span_id: parent,
                        flags: SAMPLED,
                        name,
                        kind: span::SpanKind::Internal as i32,
                        start_time_unix_nano: start,
                        end_time_unix_nano: time.max(start),
                        attributes: span_attributes(r, &body),
                        events: failure_event(e, &body, time),
                        status: Some(span_status(e, &body)),
                        ..Default::default()
                    },
                })
            }
            _ => None,
        };
        (log, span)
    }

    fn remember(&mut self, scope: &str, time: u64, message: &str) {
        if self.opened.len() >= MAX_OPEN {
            // Keys of scopes already ended are skipped over here.
            while let Some(old) = self.order.pop_front() {
                if self.opened.remove(&old).is_some() {
                    break;
                }
            }
        }
        if self
            .opened
            .insert(scope.to_owned(), (time, message.to_owned()))
            .is_none()
        {
            self.order.push_back(scope.to_owned());
        }
        // Ended scopes leave their keys behind in `order`: drop them when
        // they outnumber the live ones.
        if self.order.len() > 2 * self.opened.len() + 1024 {
            let opened = &self.opened;
            self.order.retain(|k| opened.contains_key(k));
        }
    }
}

fn system_name(s: System) -> &'static str {
    match s {
        System::Test => "test",
        System::Staging => "staging",
        System::Production => "production",
    }
}

/// Seconds since the epoch as nanoseconds; what is not a time is 0
/// ("unknown" in OTLP).
fn nanos(secs: f64) -> u64 {
    if secs.is_finite() && secs > 0.0 {
        (secs * 1e9).round() as u64
    } else {
        0
    }
}

/// Python's levels (10 DEBUG … 50 CRITICAL) onto OTLP's severity numbers
/// (5 DEBUG, 9 INFO, 13 WARN, 17 ERROR, 21 FATAL), four steps per decade.
pub fn severity(levelno: i64) -> i32 {
    let n = levelno.clamp(0, 59);
    let band = (n / 10).min(5);
    let step = (n % 10) * 4 / 10;
    if band == 0 {
        1 + step as i32
    } else {
        (1 + 4 * band + step).min(24) as i32
    }
}

fn log_record(r: &Routed, body: &Map<String, Value>, time: u64, scope: Option<&str>) -> LogRecord {
    let rec = &r.record;
    let mut attributes = Vec::new();
    if let Some(k) = &rec.key {
        attributes.push(kv("distlog.key", text(k.to_string())));
    }
    if let Some(e) = rec.event {
        attributes.push(kv("distlog.scope_event", text(e.as_str())));
    }
    if let Some(d) = rec.duration {
        attributes.push(kv(
            "distlog.scope_duration",
            any_value::Value::DoubleValue(d),
        ));
    }
    if let Some(Value::Object(ctx)) = body.get("context") {
        for (k, v) in ctx.iter().filter(|(k, _)| *k != "key") {
            if let Some(v) = any(v, 0) {
                attributes.push(kv(format!("distlog.context.{k}"), v));
            }
        }
    }
    code_attributes(body, &mut attributes);
    if let Some(t) = str_field(body, "exc_text") {
        attributes.push(kv("exception.stacktrace", text(t)));
    }
    let (trace_id, span_id, flags) = match (&rec.key, scope) {
        (Some(k), Some(s)) => (
            ids::trace_id(&k.scope.root).to_vec(),
            ids::span_id(s).to_vec(),
            SAMPLED,
        ),
        _ => (Vec::new(), Vec::new(), 0),
    };
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: nanos(r.received),
        severity_number: severity(rec.levelno),
        severity_text: rec.levelname.clone(),
        body: Some(AnyValue {
            value: Some(text(rec.message.clone())),
        }),
        attributes,
        flags,
        trace_id,
        span_id,
        ..Default::default()
    }
}

fn code_attributes(body: &Map<String, Value>, out: &mut Vec<KeyValue>) {
    if let Some(p) = str_field(body, "pathname") {
        out.push(kv("code.filepath", text(p)));
    }
    if let Some(n) = body.get("lineno").and_then(Value::as_i64) {
        out.push(kv("code.lineno", any_value::Value::IntValue(n)));
    }
    if let Some(f) = str_field(body, "funcName") {
        out.push(kv("code.function", text(f)));
    }
    if let Some(t) = str_field(body, "threadName") {
        out.push(kv("thread.name", text(t)));
    }
}

fn span_attributes(r: &Routed, body: &Map<String, Value>) -> Vec<KeyValue> {
    let rec = &r.record;
    let mut a = vec![
        kv("host.name", text(rec.hostname.clone())),
        kv("distlog.logger", text(rec.logger.clone())),
        kv("distlog.message", text(rec.message.clone())),
    ];
    if let Some(p) = rec.process {
        a.push(kv("process.pid", any_value::Value::IntValue(p)));
    }
    if let Some(d) = rec.duration {
        a.push(kv(
            "distlog.scope_duration",
            any_value::Value::DoubleValue(d),
        ));
    }
    if let Some(Value::Object(ctx)) = body.get("context") {
        for (k, v) in ctx.iter().filter(|(k, _)| *k != "key") {
            if let Some(v) = any(v, 0) {
                a.push(kv(format!("distlog.context.{k}"), v));
            }
        }
    }
    code_attributes(body, &mut a);
    a
}

/// The exception's own line (the traceback's last), for the span status.
fn exception_line(body: &Map<String, Value>) -> Option<&str> {
    str_field(body, "exc_text")?
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
}

fn span_status(e: ScopeEvent, body: &Map<String, Value>) -> Status {
    match e {
        ScopeEvent::Fail => Status {
            code: status::StatusCode::Error as i32,
            message: exception_line(body).unwrap_or("scope failed").to_owned(),
        },
        _ => Status::default(),
    }
}

/// A failed scope's traceback as the span's `exception` event, which is
/// where Jaeger and others look for it.
fn failure_event(e: ScopeEvent, body: &Map<String, Value>, time: u64) -> Vec<span::Event> {
    let Some(trace) = str_field(body, "exc_text").filter(|_| e == ScopeEvent::Fail) else {
        return Vec::new();
    };
    let mut attributes = vec![kv("exception.stacktrace", text(trace))];
    if let Some(line) = exception_line(body) {
        let (kind, message) = line.split_once(": ").unwrap_or((line, ""));
        attributes.push(kv("exception.type", text(kind)));
        attributes.push(kv("exception.message", text(message)));
    }
    vec![span::Event {
        time_unix_nano: time,
        name: "exception".into(),
        attributes,
        ..Default::default()
    }]
}
