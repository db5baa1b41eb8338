//! One record as the engine keeps it: a compact binary payload, the same
//! bytes in the journal, in memory and inside segment blocks, so a record is
//! encoded once, on the intake thread, and never re-encoded until a merge.
//!
//! Layout (all integers little-endian, `str` = varint length + UTF-8 bytes):
//! `id u64 | received f64 | created f64 | topic [u8; 3] | flags u8 |
//!  levelno zigzag-varint | levelname str | logger str | host str |
//!  [process zigzag-varint] | [duration f64] | [root str | scope str | seq varint] |
//!  message str | body str | [context span | exc_text span]`.
//! `flags` holds which optional parts are present and the scope event. A
//! span is `varint(start + 1) varint(len)` of a value inside the body, or a
//! single `0` when the body has no such field; payloads written before spans
//! existed have no `HAS_SPANS` flag, and their readers parse the body.

use distlog_proto::{Record, ScopeEvent};

use crate::StoreError;

const HAS_PROCESS: u8 = 1;
const HAS_DURATION: u8 = 2;
const HAS_KEY: u8 = 4;
const EVENT_SHIFT: u8 = 3;
const EVENT_MASK: u8 = 0b11 << EVENT_SHIFT;
const HAS_SPANS: u8 = 0x20;

/// Where the body holds its `context` and `exc_text` values, as byte ranges,
/// found by the intake's scan: reading them then costs a slice, not a parse
/// of the whole body (which was a sixth of a big tree's time).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spans {
    pub context: Option<(u32, u32)>,
    pub exc_text: Option<(u32, u32)>,
}

/// A decoded view of a payload, borrowing its texts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntryRef<'a> {
    pub id: u64,
    pub received: f64,
    pub created: f64,
    pub topic: [u8; 3],
    pub event: Option<ScopeEvent>,
    pub levelno: i64,
    pub levelname: &'a str,
    pub logger: &'a str,
    pub host: &'a str,
    pub process: Option<i64>,
    pub duration: Option<f64>,
    /// Root id, scope path (`""` or `/1/3`) and seq, for records in a scope.
    pub key: Option<(&'a str, &'a str, u64)>,
    pub message: &'a str,
    /// The body as JSON text. Left as bytes: it is the bulk of a record and
    /// most readers never look at it, so its UTF-8 is checked (by serde_json)
    /// only by those that do.
    pub body: &'a [u8],
    /// `None` for payloads from before spans were kept (and for imports):
    /// their readers parse the body.
    pub spans: Option<Spans>,
}

impl EntryRef<'_> {
    pub fn root(&self) -> Option<&str> {
        self.key.map(|k| k.0)
    }

    pub fn is_root_scope(&self) -> bool {
        self.key.is_some_and(|k| k.1.is_empty())
    }

    fn span(&self, span: Option<(u32, u32)>) -> Option<&[u8]> {
        let (start, end) = span?;
        self.body.get(start as usize..end as usize)
    }

    /// The body's `context`, when it is an object.
    pub fn context(&self) -> Option<serde_json::Value> {
        let context = match self.spans {
            Some(spans) => serde_json::from_slice(self.span(spans.context)?).ok()?,
            None => body_part(self.body).context?,
        };
        context.is_object().then_some(context)
    }

    /// The exception text, read from the body only when the body has one:
    /// most records do not, and a full parse costs more than the rest of
    /// indexing together.
    pub fn exc_text(&self) -> Option<String> {
        if let Some(spans) = self.spans {
            return serde_json::from_slice::<Option<String>>(self.span(spans.exc_text)?)
                .ok()
                .flatten();
        }
        static FIELD: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"exc_text\""));
        let at = FIELD.find(self.body)?;
        let rest = self.body[at + 10..].trim_ascii_start();
        let rest = rest.strip_prefix(b":")?.trim_ascii_start();
        if !rest.starts_with(b"\"") {
            return None;
        }
        body_part(self.body).exc_text
    }
}

impl EntryRef<'_> {
    /// The search terms of this record: the words of its message and
    /// exception text (with their prefixes), its host and its logger as
    /// field terms.
    pub fn search_tokens(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(32);
        crate::tokens::tokenize(self.message, &mut out);
        if let Some(exc) = self.exc_text() {
            crate::tokens::tokenize(&exc, &mut out);
        }
        out.push(crate::tokens::field_token("host", self.host));
        crate::tokens::logger_tokens(self.logger, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Two fields of the body, parsed without building the rest.
#[derive(Default, serde::Deserialize)]
pub(crate) struct BodyPart {
    #[serde(default)]
    pub context: Option<serde_json::Value>,
    #[serde(default)]
    pub exc_text: Option<String>,
}

pub(crate) fn body_part(body: &[u8]) -> BodyPart {
    serde_json::from_slice(body).unwrap_or_default()
}

/// Appends the payload of `record`, stored as `id` and received at
/// `received`, to `out`.
pub fn encode(record: &Record, id: u64, received: f64, out: &mut Vec<u8>) {
    let path = record.key.as_ref().map(|k| k.scope.path_text());
    let e = EntryRef {
        id,
        received,
        created: record.created.filter(|c| c.is_finite()).unwrap_or(received),
        topic: topic_bytes(&record.topic.as_str()),
        event: record.event,
        levelno: record.levelno,
        levelname: &record.levelname,
        logger: &record.logger,
        host: &record.hostname,
        process: record.process,
        duration: record.duration,
        key: record
            .key
            .as_ref()
            .zip(path.as_deref())
            .map(|(k, p)| (k.scope.root.as_str(), p, k.seq)),
        message: &record.message,
        body: record.body.as_bytes(),
        spans: Some(Spans {
            context: record.context_span,
            exc_text: record.exc_text_span,
        }),
    };
    encode_ref(&e, out);
}

pub(crate) fn topic_bytes(topic: &str) -> [u8; 3] {
    let b = topic.as_bytes();
    let mut out = *b"PLJ";
    for (o, t) in out.iter_mut().zip(b) {
        *o = *t;
    }
    out
}

/// Appends the payload of `e` to `out`.
pub(crate) fn encode_ref(e: &EntryRef<'_>, out: &mut Vec<u8>) {
    out.reserve(64 + e.body.len() + e.message.len() + e.logger.len());
    out.extend_from_slice(&e.id.to_le_bytes());
    out.extend_from_slice(&e.received.to_le_bytes());
    out.extend_from_slice(&e.created.to_le_bytes());
    out.extend_from_slice(&e.topic);
    let mut flags = 0u8;
    if e.process.is_some() {
        flags |= HAS_PROCESS;
    }
    if e.duration.is_some() {
        flags |= HAS_DURATION;
    }
    if e.key.is_some() {
        flags |= HAS_KEY;
    }
    if e.spans.is_some() {
        flags |= HAS_SPANS;
    }
    let event = match e.event {
        None => 0,
        Some(ScopeEvent::Open) => 1,
        Some(ScopeEvent::Close) => 2,
        Some(ScopeEvent::Fail) => 3,
    };
    flags |= event << EVENT_SHIFT;
    out.push(flags);
    put_varint(out, zigzag(e.levelno));
    put_str(out, e.levelname);
    put_str(out, e.logger);
    put_str(out, e.host);
    if let Some(p) = e.process {
        put_varint(out, zigzag(p));
    }
    if let Some(d) = e.duration {
        out.extend_from_slice(&d.to_le_bytes());
    }
    if let Some((root, scope, seq)) = e.key {
        put_str(out, root);
        put_str(out, scope);
        put_varint(out, seq);
    }
    put_str(out, e.message);
    put_bytes(out, e.body);
    if let Some(spans) = e.spans {
        for span in [spans.context, spans.exc_text] {
            match span {
                Some((start, end)) => {
                    put_varint(out, u64::from(start) + 1);
                    put_varint(out, u64::from(end.saturating_sub(start)));
                }
                None => put_varint(out, 0),
            }
        }
    }
}

/// Reads a payload written by [`encode`]. Payloads come from our own files,
/// but a damaged file must give an error, never a panic.
pub fn decode(payload: &[u8]) -> Result<EntryRef<'_>, StoreError> {
    let mut r = Cursor {
        buf: payload,
        at: 0,
    };
    let id = r.u64()?;
    let received = r.f64()?;
    let created = r.f64()?;
    let topic: [u8; 3] = r.bytes(3)?.try_into().map_err(|_| corrupt("topic"))?;
    let flags = r.byte()?;
    let event = match (flags & EVENT_MASK) >> EVENT_SHIFT {
        0 => None,
        1 => Some(ScopeEvent::Open),
        2 => Some(ScopeEvent::Close),
        _ => Some(ScopeEvent::Fail),
    };
    let levelno = unzigzag(r.varint()?);
    let levelname = r.str()?;
    let logger = r.str()?;
    let host = r.str()?;
    let process = if flags & HAS_PROCESS != 0 {
        Some(unzigzag(r.varint()?))
    } else {
        None
    };
    let duration = if flags & HAS_DURATION != 0 {
        Some(r.f64()?)
    } else {
        None
    };
    let key = if flags & HAS_KEY != 0 {
        Some((r.str()?, r.str()?, r.varint()?))
    } else {
        None
    };
    let message = r.str()?;
    let body = r.raw()?;
    let spans = if flags & HAS_SPANS != 0 {
        Some(Spans {
            context: r.span(body.len())?,
            exc_text: r.span(body.len())?,
        })
    } else {
        None
    };
    Ok(EntryRef {
        id,
        received,
        created,
        topic,
        event,
        levelno,
        levelname,
        logger,
        host,
        process,
        duration,
        key,
        message,
        body,
        spans,
    })
}

/// The id of a payload without decoding the rest.
pub fn payload_id(payload: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(payload.get(..8)?.try_into().ok()?))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("record payload: bad {what}"))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| corrupt("length"))?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, StoreError> {
        Ok(self.bytes(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, StoreError> {
        let b = self.bytes(8)?;
        Ok(u64::from_le_bytes(
            b.try_into().map_err(|_| corrupt("u64"))?,
        ))
    }

    fn f64(&mut self) -> Result<f64, StoreError> {
        Ok(f64::from_bits(self.u64()?))
    }

    fn varint(&mut self) -> Result<u64, StoreError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(corrupt("varint"))
    }

    fn raw(&mut self) -> Result<&'a [u8], StoreError> {
        let n = usize::try_from(self.varint()?).map_err(|_| corrupt("length"))?;
        self.bytes(n)
    }

    /// A span inside a body of `len` bytes; one that points outside it is
    /// damage.
    fn span(&mut self, len: usize) -> Result<Option<(u32, u32)>, StoreError> {
        let start = match self.varint()? {
            0 => return Ok(None),
            n => n - 1,
        };
        let end = start
            .checked_add(self.varint()?)
            .filter(|end| *end <= len as u64)
            .ok_or_else(|| corrupt("span"))?;
        let as_u32 = |v: u64| u32::try_from(v).map_err(|_| corrupt("span"));
        Ok(Some((as_u32(start)?, as_u32(end)?)))
    }

    fn str(&mut self) -> Result<&'a str, StoreError> {
        let n = usize::try_from(self.varint()?).map_err(|_| corrupt("length"))?;
        simdutf8::basic::from_utf8(self.bytes(n)?).map_err(|_| corrupt("text"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use distlog_proto::{decode as decode_record, Limits, Topic};

    fn record(body: &str) -> Record {
        decode_record(
            Topic::parse(b"PLJ").expect("topic"),
            body.as_bytes(),
            &Limits::default(),
        )
        .expect("record")
    }

    #[test]
    fn a_payload_reads_back_every_field_it_was_given() {
        let r = record(
            r#"{"name": "app.db", "levelno": 40, "levelname": "ERROR", "message": "bang",
            "created": 12.5, "hostname": "obelix", "process": -7, "scope_event": "fail",
            "scope_duration": 0.25, "exc_text": "Traceback\nKeyError: 'x'",
            "context": {"key": "3@e252a11f-d33d-483d-ba08-bc8f642b2f10/1/2"}}"#,
        );
        let mut buf = Vec::new();
        encode(&r, 42, 99.0, &mut buf);
        let e = decode(&buf).expect("decode");
        assert_eq!(e.id, 42);
        assert_eq!((e.received, e.created), (99.0, 12.5));
        assert_eq!(&e.topic, b"PLJ");
        assert_eq!(e.event, Some(ScopeEvent::Fail));
        assert_eq!((e.levelno, e.levelname), (40, "ERROR"));
        assert_eq!(
            (e.logger, e.host, e.process),
            ("app.db", "obelix", Some(-7))
        );
        assert_eq!(e.duration, Some(0.25));
        assert_eq!(
            e.key,
            Some(("e252a11f-d33d-483d-ba08-bc8f642b2f10", "/1/2", 3))
        );
        assert_eq!(e.message, "bang");
        assert_eq!(e.body, r.body.as_bytes());
        assert_eq!(e.exc_text().as_deref(), Some("Traceback\nKeyError: 'x'"));
        assert_eq!(payload_id(&buf), Some(42));
    }

    #[test]
    fn an_unscoped_record_without_process_has_no_key_and_no_exception() {
        let r = record(r#"{"message": "plain", "exc_text": null}"#);
        let mut buf = Vec::new();
        encode(&r, 1, 5.0, &mut buf);
        let e = decode(&buf).expect("decode");
        assert_eq!(
            (e.key, e.process, e.duration, e.event),
            (None, None, None, None)
        );
        assert_eq!(e.created, 5.0, "no created: the received time stands in");
        assert_eq!(e.exc_text(), None);
    }

    #[test]
    fn context_and_exc_text_are_read_through_their_spans_and_old_payloads_parse_the_body() {
        let r = record(
            r#"{"message": "m", "exc_text": "Traceback\nKeyError: 'k'",
            "context": {"key": "0@abc", "user": "ann"}}"#,
        );
        let mut buf = Vec::new();
        encode(&r, 7, 1.0, &mut buf);
        let e = decode(&buf).expect("decode");
        assert!(e
            .spans
            .is_some_and(|s| s.context.is_some() && s.exc_text.is_some()));
        let want_context = serde_json::json!({"key": "0@abc", "user": "ann"});
        assert_eq!(e.context(), Some(want_context.clone()));
        assert_eq!(e.exc_text().as_deref(), Some("Traceback\nKeyError: 'k'"));
        // A payload written before spans existed: the same answers, by parsing.
        let mut old = Vec::new();
        encode_ref(&EntryRef { spans: None, ..e }, &mut old);
        let o = decode(&old).expect("decode");
        assert_eq!(o.spans, None);
        assert_eq!(o.context(), Some(want_context));
        assert_eq!(o.exc_text(), e.exc_text());
        assert_eq!(old.len() + 4, buf.len(), "two spans of two varints each");
    }

    #[test]
    fn a_span_outside_its_body_is_damage() {
        let r = record(r#"{"message": "m", "context": {"key": "0@abc"}}"#);
        let mut buf = Vec::new();
        encode(&r, 7, 1.0, &mut buf);
        let e = decode(&buf).expect("decode");
        let mut bad = Vec::new();
        let spans = Spans {
            context: Some((0, e.body.len() as u32 + 1)),
            exc_text: None,
        };
        encode_ref(
            &EntryRef {
                spans: Some(spans),
                ..e
            },
            &mut bad,
        );
        assert!(decode(&bad).is_err());
    }

    #[test]
    fn a_cut_or_garbled_payload_is_an_error_not_a_panic() {
        let r = record(r#"{"message": "hello", "context": {"key": "0@abc"}}"#);
        let mut buf = Vec::new();
        encode(&r, 1, 5.0, &mut buf);
        for cut in 0..buf.len() {
            assert!(decode(&buf[..cut]).is_err(), "cut at {cut}");
        }
        // A garbled message is refused; a garbled body is left to whoever
        // parses it (serde_json refuses it then, without a panic).
        let mut bad = buf.clone();
        let at = memchr::memmem::find(&bad, b"hello").expect("message");
        bad[at] = 0xff;
        assert!(decode(&bad).is_err());
        let mut bad_body = buf.clone();
        // Inside the body's context, before the spans that follow the body.
        let last = memchr::memrchr(b'}', &bad_body).expect("body end") - 3;
        bad_body[last] = 0xff;
        let e = decode(&bad_body).expect("the fields still read");
        assert!(body_part(e.body).context.is_none());
        assert!(e.context().is_none());
    }
}
