//! The one record type every source decodes into, whatever its encoding.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{pickle, DecodeError, Encoding, Key, KeyError, Topic};

/// Bounds on what one message may cost the daemon.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body accepted, in bytes.
    pub max_body: usize,
    /// Deepest nesting of maps and lists accepted.
    pub max_depth: usize,
    /// Most values a pickle body may expand to (shared references included),
    /// so that a small pickle cannot build an exponentially large tree.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1 << 20,
            // Below serde_json's own recursion limit (128), so every stored
            // body can be parsed again by anything built on serde_json.
            max_depth: 100,
            max_nodes: 200_000,
        }
    }
}

/// Which scope event a record is. Opening is implied by `seq == 0`; closing
/// and failing need the `scope_event` field that our clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeEvent {
    Open,
    Close,
    Fail,
}

impl ScopeEvent {
    pub fn as_str(&self) -> &'static str {
        match self {
            ScopeEvent::Open => "open",
            ScopeEvent::Close => "close",
            ScopeEvent::Fail => "fail",
        }
    }

    pub fn parse(text: &str) -> Option<ScopeEvent> {
        match text {
            "open" => Some(ScopeEvent::Open),
            "close" => Some(ScopeEvent::Close),
            "fail" => Some(ScopeEvent::Fail),
            _ => None,
        }
    }
}

/// A decoded record: the whole body, kept as JSON text so no field is ever
/// lost, plus the fields the daemon indexes and routes on.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub topic: Topic,
    /// Every field of the body as a JSON object, unknown fields included.
    pub body: String,
    /// `created`, seconds since the epoch, if the sender set it.
    pub created: Option<f64>,
    pub levelno: i64,
    pub levelname: String,
    /// The logger name (`name`).
    pub logger: String,
    pub message: String,
    pub hostname: String,
    pub process: Option<i64>,
    /// `context.key`, when the record was logged inside a scope.
    pub key: Option<Key>,
    /// Set when `context.key` was present but malformed; the record is then
    /// kept as an unscoped record rather than dropped.
    pub key_error: Option<KeyError>,
    pub event: Option<ScopeEvent>,
    /// `scope_duration`, seconds, on closing and failing records.
    pub duration: Option<f64>,
}

/// Decodes one two-frame message body under `topic`.
pub fn decode(topic: Topic, body: &[u8], limits: &Limits) -> Result<Record, DecodeError> {
    if body.len() > limits.max_body {
        return Err(DecodeError::TooLarge {
            size: body.len(),
            limit: limits.max_body,
        });
    }
    match topic.encoding {
        Encoding::Json => decode_json(topic, body, limits),
        Encoding::Pickle => {
            let text = pickle::to_json_text(body, limits)?;
            from_json_text(topic, Cow::Owned(text), limits)
        }
    }
}

/// The fields we read from a JSON body. Everything else is skipped here and
/// kept in `Record::body` verbatim. Fields are taken raw so that a sender
/// that puts a string where we expect a number loses nothing but that field.
/// A repeated key is legal JSON; as in Python's `json.loads`, the last wins.
#[derive(Default)]
struct WireFields<'a> {
    name: Option<&'a RawValue>,
    msg: Option<&'a RawValue>,
    message: Option<&'a RawValue>,
    levelno: Option<&'a RawValue>,
    levelname: Option<&'a RawValue>,
    created: Option<&'a RawValue>,
    hostname: Option<&'a RawValue>,
    process: Option<&'a RawValue>,
    context: Option<&'a RawValue>,
    scope_event: Option<&'a RawValue>,
    scope_duration: Option<&'a RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for WireFields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = WireFields<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                let mut w = WireFields::default();
                while let Some(key) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    let slot = match key.as_ref() {
                        "name" => &mut w.name,
                        "msg" => &mut w.msg,
                        "message" => &mut w.message,
                        "levelno" => &mut w.levelno,
                        "levelname" => &mut w.levelname,
                        "created" => &mut w.created,
                        "hostname" => &mut w.hostname,
                        "process" => &mut w.process,
                        "context" => &mut w.context,
                        "scope_event" => &mut w.scope_event,
                        "scope_duration" => &mut w.scope_duration,
                        _ => {
                            m.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(m.next_value()?);
                }
                Ok(w)
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct ContextKey<'a> {
    #[serde(borrow)]
    key: Option<&'a RawValue>,
}

fn decode_json(topic: Topic, body: &[u8], limits: &Limits) -> Result<Record, DecodeError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| DecodeError::InvalidJson(format!("not UTF-8: {e}")))?;
    from_json_text(topic, Cow::Borrowed(text), limits)
}

/// A record from JSON text: a JSON body as received, or a pickle's JSON.
fn from_json_text(
    topic: Topic,
    body: Cow<'_, str>,
    limits: &Limits,
) -> Result<Record, DecodeError> {
    let text: &str = &body;
    match text.trim_start().as_bytes().first() {
        Some(b'{') => {}
        Some(b'[') => return Err(DecodeError::NotAMap("a list")),
        Some(b'"') => return Err(DecodeError::NotAMap("a string")),
        Some(b'0'..=b'9' | b'-') => return Err(DecodeError::NotAMap("a number")),
        Some(b't' | b'f') => return Err(DecodeError::NotAMap("a boolean")),
        Some(b'n') => return Err(DecodeError::NotAMap("null")),
        _ => return Err(DecodeError::InvalidJson("empty or not JSON".into())),
    }
    check_json_depth(text.as_bytes(), limits.max_depth)?;
    let wire: WireFields<'_> = serde_json::from_str(text).map_err(json_error)?;

    let levelno = wire.levelno.and_then(raw_i64);
    let levelname = wire.levelname.and_then(raw_string);
    let (levelno, levelname) = level_pair(levelno, levelname);
    let message = wire
        .message
        .and_then(raw_string)
        .or_else(|| wire.msg.map(raw_text))
        .unwrap_or_default();
    let (key, key_error) = match wire.context {
        Some(ctx) if ctx.get().starts_with('{') => {
            match serde_json::from_str::<ContextKey<'_>>(ctx.get()) {
                Ok(ContextKey { key: Some(k) }) => parse_key(raw_string(k).as_deref()),
                _ => (None, None),
            }
        }
        _ => (None, None),
    };
    let event = scope_event(
        wire.scope_event.and_then(raw_string).as_deref(),
        key.as_ref(),
    );
    let mut record = Record {
        topic,
        body: String::new(),
        created: wire.created.and_then(raw_f64),
        levelno,
        levelname,
        logger: wire.name.and_then(raw_string).unwrap_or_default(),
        message,
        hostname: wire.hostname.and_then(raw_string).unwrap_or_default(),
        process: wire.process.and_then(raw_i64),
        key,
        key_error,
        event,
        duration: wire.scope_duration.and_then(raw_f64),
    };
    // JSON bodies are kept verbatim; a pickle's is its JSON text.
    record.body = body.into_owned();
    Ok(record)
}

/// serde_json stops at its own recursion limit, but only for values it
/// builds; this scan holds skipped values (and our own limit) to the same
/// bound without recursing.
fn check_json_depth(bytes: &[u8], limit: usize) -> Result<(), DecodeError> {
    // Depth cannot pass the number of openers. Counting them is a tight
    // loop the compiler vectorises; the scan below cost a fifth of the
    // intake's time (bench/ingest), and typical records have a handful.
    let openers = bytes.iter().filter(|&&b| b == b'{' || b == b'[').count();
    if openers <= limit {
        return Ok(());
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return Err(DecodeError::TooDeep { limit });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn json_error(e: serde_json::Error) -> DecodeError {
    DecodeError::InvalidJson(e.to_string())
}

fn raw_string(raw: &RawValue) -> Option<String> {
    serde_json::from_str::<String>(raw.get()).ok()
}

/// A field as text whatever its JSON type: strings unquoted, others as JSON.
fn raw_text(raw: &RawValue) -> String {
    raw_string(raw).unwrap_or_else(|| raw.get().to_owned())
}

fn raw_i64(raw: &RawValue) -> Option<i64> {
    let text = raw.get();
    text.parse::<i64>()
        .ok()
        .or_else(|| text.parse::<f64>().ok().map(|f| f as i64))
}

fn raw_f64(raw: &RawValue) -> Option<f64> {
    raw.get().parse::<f64>().ok()
}

fn parse_key(text: Option<&str>) -> (Option<Key>, Option<KeyError>) {
    match text.map(Key::parse) {
        Some(Ok(k)) => (Some(k), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    }
}

fn scope_event(marker: Option<&str>, key: Option<&Key>) -> Option<ScopeEvent> {
    key?;
    match marker.and_then(ScopeEvent::parse) {
        Some(e) => Some(e),
        None if key.is_some_and(|k| k.seq == 0) => Some(ScopeEvent::Open),
        None => None,
    }
}

/// Python's level names, so a record with only one of the pair gets both.
fn level_pair(levelno: Option<i64>, levelname: Option<String>) -> (i64, String) {
    match (levelno, levelname) {
        (Some(n), Some(name)) => (n, name),
        (Some(n), None) => (n, level_name(n).to_owned()),
        (None, Some(name)) => (level_number(&name).unwrap_or(0), name),
        (None, None) => (0, "NOTSET".to_owned()),
    }
}

pub fn level_name(levelno: i64) -> &'static str {
    match levelno {
        n if n >= 50 => "CRITICAL",
        n if n >= 40 => "ERROR",
        n if n >= 30 => "WARNING",
        n if n >= 20 => "INFO",
        n if n >= 10 => "DEBUG",
        _ => "NOTSET",
    }
}

pub fn level_number(name: &str) -> Option<i64> {
    Some(match name.to_ascii_uppercase().as_str() {
        "CRITICAL" | "FATAL" => 50,
        "ERROR" => 40,
        "WARNING" | "WARN" => 30,
        "INFO" => 20,
        "DEBUG" => 10,
        "TRACE" => 5,
        "NOTSET" => 0,
        _ => return None,
    })
}

#[cfg(test)]
mod bench;
#[cfg(test)]
mod tests;
