//! What a record is on the calling thread (cheap to make), and the JSON
//! body the sender thread turns it into: Python's `LogRecord` fields.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::scope::Scope;

/// Levels with Python's numbers and names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warning,
    Error,
}

impl Level {
    pub fn number(self) -> i64 {
        match self {
            Level::Trace => 5,
            Level::Debug => 10,
            Level::Info => 20,
            Level::Warning => 30,
            Level::Error => 40,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        }
    }
}

/// Where a record was logged.
#[derive(Debug, Clone)]
pub struct Site {
    pub file: Cow<'static, str>,
    pub line: u32,
    pub module: Option<Cow<'static, str>>,
}

impl Site {
    #[track_caller]
    pub fn caller() -> Site {
        let at = std::panic::Location::caller();
        Site {
            file: Cow::Borrowed(at.file()),
            line: at.line(),
            module: None,
        }
    }
}

/// Which scope event a record is.
#[derive(Debug, Clone)]
pub enum Event {
    None,
    Open,
    Close { duration: f64 },
    Fail { duration: f64, exc_text: String },
}

/// A record as the calling thread hands it over.
pub struct Pending {
    pub(crate) level: Level,
    pub(crate) logger: Cow<'static, str>,
    pub(crate) message: String,
    pub(crate) site: Site,
    pub(crate) created: f64,
    pub(crate) thread: (u64, Arc<str>),
    /// The key, and the scope's context when the record was made.
    pub(crate) scope: Option<(String, Map<String, Value>)>,
    pub(crate) event: Event,
    pub(crate) fields: Option<Map<String, Value>>,
}

/// Sends one record, in `scope` if given (else the current scope).
pub(crate) fn emit(
    level: Level,
    logger: impl Into<Cow<'static, str>>,
    message: String,
    site: Site,
    scope: Option<&Arc<Scope>>,
    event: Event,
) {
    emit_with(level, logger.into(), message, site, scope, event, None);
}

pub(crate) fn emit_with(
    level: Level,
    logger: Cow<'static, str>,
    message: String,
    site: Site,
    scope: Option<&Arc<Scope>>,
    event: Event,
    fields: Option<Map<String, Value>>,
) {
    let Some(sender) = crate::sender::global() else {
        return;
    };
    let current;
    let scope = match scope {
        Some(s) => Some(s),
        None => {
            current = crate::scope::current();
            current.as_ref()
        }
    };
    sender.enqueue(Pending {
        level,
        logger,
        message,
        site,
        created: epoch_now(),
        thread: this_thread(),
        scope: scope.map(|s| (s.next_key(), s.context())),
        event,
        fields,
    });
}

pub(crate) fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn this_thread() -> (u64, Arc<str>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ME: (u64, Arc<str>) = {
            let t = std::thread::current();
            let name = match t.name() {
                Some("main") | None => "MainThread".to_owned(),
                Some(n) => n.to_owned(),
            };
            (NEXT.fetch_add(1, Ordering::Relaxed), Arc::from(name))
        };
    }
    ME.with(|me| me.clone())
}

fn started() -> Instant {
    static START: OnceLock<(Instant, f64)> = OnceLock::new();
    START.get_or_init(|| (Instant::now(), epoch_now())).0
}

/// Called once at start-up so `relativeCreated` counts from there.
pub(crate) fn mark_start() {
    let _ = started();
}

/// The JSON body: Python's field names, with what they mean in Rust.
pub(crate) fn body(p: Pending, hostname: &str, process_name: &str) -> Value {
    let filename = p
        .site
        .file
        .rsplit('/')
        .next()
        .unwrap_or(&p.site.file)
        .to_owned();
    let module = match &p.site.module {
        Some(m) => m.to_string(),
        None => filename.trim_end_matches(".rs").to_owned(),
    };
    let relative = started().elapsed().as_secs_f64() * 1000.0;
    let mut body = json!({
        "name": p.logger,
        "msg": p.message,
        "message": p.message,
        "args": null,
        "levelname": p.level.name(),
        "levelno": p.level.number(),
        "pathname": p.site.file,
        "filename": filename,
        "module": module,
        "exc_info": null,
        "exc_text": null,
        "stack_info": null,
        "lineno": p.site.line,
        "funcName": null,
        "created": p.created,
        "msecs": (p.created.fract() * 1000.0).floor(),
        "relativeCreated": relative,
        "thread": p.thread.0,
        "threadName": &*p.thread.1,
        "processName": process_name,
        "process": std::process::id(),
        "asctime": asctime(p.created),
        "hostname": hostname,
        "context": match p.scope {
            Some((key, mut ctx)) => {
                ctx.insert("key".into(), Value::String(key));
                Value::Object(ctx)
            }
            None => Value::Null,
        },
    });
    match p.event {
        Event::None => {}
        Event::Open => body["scope_event"] = json!("open"),
        Event::Close { duration } => {
            body["scope_event"] = json!("close");
            body["scope_duration"] = json!(duration);
        }
        Event::Fail { duration, exc_text } => {
            body["scope_event"] = json!("fail");
            body["scope_duration"] = json!(duration);
            body["exc_text"] = json!(exc_text);
        }
    }
    if let (Some(fields), Value::Object(map)) = (p.fields, &mut body) {
        for (k, v) in fields {
            map.entry(k).or_insert(v);
        }
    }
    body
}

/// Python's default `asctime` (`2018-04-18 23:03:19,148`), in UTC.
fn asctime(epoch: f64) -> String {
    // Python truncates to the millisecond; Civil rounds, so floor first.
    let c = distlog_proto::civil::Civil::from_epoch((epoch * 1000.0).floor() / 1000.0);
    format!("{} {},{:03}", c.date(), c.time(), c.millis)
}

#[cfg(test)]
mod tests {
    #[test]
    fn asctime_matches_pythons_default_format_in_utc() {
        assert_eq!(super::asctime(1524085399.148067), "2018-04-18 21:03:19,148");
    }
}
