//! The one record type every source decodes into, whatever its encoding.

use std::borrow::Cow;

pub(crate) mod fields;
mod scan;

use fields::{raw_f64, raw_i64, raw_string, raw_text, Fields};

use crate::{pickle, DecodeError, Encoding, Key, KeyError, Kind, Topic};

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

/// Which scope event a record is: the `scope_event` field our clients send,
/// or, from a client that never sends it, opening implied by `seq == 0`.
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
    /// Where `body` holds the `context` and `exc_text` values (byte ranges of
    /// their JSON text), so that a store can show them without parsing the
    /// body again.
    pub context_span: Option<(u32, u32)>,
    pub exc_text_span: Option<(u32, u32)>,
}

/// Decodes one two-frame message body under `topic`.
pub fn decode(topic: Topic, body: &[u8], limits: &Limits) -> Result<Record, DecodeError> {
    if body.len() > limits.max_body {
        return Err(DecodeError::TooLarge {
            size: body.len(),
            limit: limits.max_body,
        });
    }
    if topic.kind == Kind::Heartbeat {
        // Never a record; `decode_heartbeat` reads it. Callers that do not
        // know heartbeats count it as a bad topic, as older daemons do.
        return Err(DecodeError::BadTopic(topic.as_str()));
    }
    match topic.encoding {
        Encoding::Json => decode_json(topic, body, limits),
        Encoding::Pickle => {
            let text = pickle::to_json_text(body, limits)?;
            from_json_text(topic, Cow::Owned(text), limits)
        }
    }
}

fn decode_json(topic: Topic, body: &[u8], limits: &Limits) -> Result<Record, DecodeError> {
    // SIMD validation: std's was 40% of the intake thread (perf, bench/ingest).
    // On failure std's error, which says where.
    let text = match simdutf8::basic::from_utf8(body) {
        Ok(t) => t,
        Err(_) => std::str::from_utf8(body)
            .map_err(|e| DecodeError::InvalidJson(format!("not UTF-8: {e}")))?,
    };
    from_json_text(topic, Cow::Borrowed(text), limits)
}

/// A record from JSON text: a JSON body as received, or a pickle's JSON.
fn from_json_text(
    topic: Topic,
    body: Cow<'_, str>,
    limits: &Limits,
) -> Result<Record, DecodeError> {
    let text: &str = &body;
    let wire = match scan::scan(text, limits.max_depth) {
        Ok(fields) => fields,
        Err(scan::Unsure) => fields::by_serde(text, limits.max_depth)?,
    };
    let mut record = to_record(topic, &wire);
    record.context_span = wire.context.and_then(|v| span_in(text, v));
    record.exc_text_span = wire.exc_text.and_then(|v| span_in(text, v));
    // JSON bodies are kept verbatim; a pickle's is its JSON text.
    record.body = body.into_owned();
    Ok(record)
}

/// The byte range of `part`, a slice of `text`, within it.
fn span_in(text: &str, part: &str) -> Option<(u32, u32)> {
    let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= text.len()).then_some(())?;
    Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
}

/// The record the fields describe, its `body` still empty.
fn to_record(topic: Topic, wire: &Fields<'_>) -> Record {
    let levelno = wire.levelno.and_then(raw_i64);
    let levelname = wire.levelname.and_then(raw_string);
    let (levelno, levelname) = level_pair(levelno, levelname);
    let message = wire
        .message
        .and_then(raw_string)
        .or_else(|| wire.msg.map(raw_text))
        .unwrap_or_default();
    let (key, key_error) = parse_key(wire.context_key.and_then(raw_string).as_deref());
    let event = scope_event(wire.scope_event, key.as_ref());
    Record {
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
        context_span: None,
        exc_text_span: None,
    }
}

fn parse_key(text: Option<&str>) -> (Option<Key>, Option<KeyError>) {
    match text.map(Key::parse) {
        Some(Ok(k)) => (Some(k), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    }
}

/// A record that carries `scope_event` (any value, `null` included) is the
/// event it names, or none; only a record without the field, as the
/// tutorial's client sends, is taken as opening its scope by `seq` 0. So a
/// record that lands on seq 0 because the opening record was filtered out
/// is not mistaken for the opening.
fn scope_event(marker: Option<&str>, key: Option<&Key>) -> Option<ScopeEvent> {
    let key = key?;
    match marker {
        Some(raw) => raw_string(raw).as_deref().and_then(ScopeEvent::parse),
        None => (key.seq == 0).then_some(ScopeEvent::Open),
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
mod differential;
#[cfg(test)]
mod tests;
