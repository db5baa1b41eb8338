//! The fields we read from a JSON body, found either by the fast scanner
//! (`scan.rs`) or by serde_json, which is slower but the authority: it
//! decides every body the scanner is unsure of, and gives the errors.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::DecodeError;

/// The raw JSON text of each field we index, as the body holds it. Fields
/// are taken raw so that a sender that puts a string where we expect a
/// number loses nothing but that field. A repeated key is legal JSON; as in
/// Python's `json.loads`, the last wins.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Fields<'a> {
    pub name: Option<&'a str>,
    pub msg: Option<&'a str>,
    pub message: Option<&'a str>,
    pub levelno: Option<&'a str>,
    pub levelname: Option<&'a str>,
    pub created: Option<&'a str>,
    pub hostname: Option<&'a str>,
    pub process: Option<&'a str>,
    pub scope_event: Option<&'a str>,
    pub scope_duration: Option<&'a str>,
    /// `context.key` when `context` is an object with one `key` member.
    pub context_key: Option<&'a str>,
    /// The whole `context` and `exc_text` values, whatever their shape:
    /// their spans go with the record so that readers of the store need not
    /// parse the body again to find them.
    pub context: Option<&'a str>,
    pub exc_text: Option<&'a str>,
}

/// The serde_json path: what `decode` did before the scanner, kept as the
/// fallback and as the reference the differential tests compare with.
pub(super) fn by_serde<'a>(text: &'a str, max_depth: usize) -> Result<Fields<'a>, DecodeError> {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => {}
        Some(b'[') => return Err(DecodeError::NotAMap("a list")),
        Some(b'"') => return Err(DecodeError::NotAMap("a string")),
        Some(b'0'..=b'9' | b'-') => return Err(DecodeError::NotAMap("a number")),
        Some(b't' | b'f') => return Err(DecodeError::NotAMap("a boolean")),
        Some(b'n') => return Err(DecodeError::NotAMap("null")),
        _ => return Err(DecodeError::InvalidJson("empty or not JSON".into())),
    }
    check_json_depth(text.as_bytes(), max_depth)?;
    let wire: WireFields<'_> = serde_json::from_str(text).map_err(json_error)?;
    let context = wire.context.map(RawValue::get);
    let context_key = match wire.context {
        Some(ctx) if ctx.get().starts_with('{') => {
            match serde_json::from_str::<ContextKey<'_>>(ctx.get()) {
                Ok(ContextKey { key: Some(k) }) => Some(k.get()),
                _ => None,
            }
        }
        _ => None,
    };
    let get = |raw: Option<&'a RawValue>| raw.map(RawValue::get);
    Ok(Fields {
        name: get(wire.name),
        msg: get(wire.msg),
        message: get(wire.message),
        levelno: get(wire.levelno),
        levelname: get(wire.levelname),
        created: get(wire.created),
        hostname: get(wire.hostname),
        process: get(wire.process),
        scope_event: get(wire.scope_event),
        scope_duration: get(wire.scope_duration),
        context_key,
        context,
        exc_text: get(wire.exc_text),
    })
}

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
    exc_text: Option<&'a RawValue>,
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
                        "exc_text" => &mut w.exc_text,
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

/// serde_json stops at its own recursion limit, but only for values it
/// builds; this scan holds skipped values (and our own limit) to the same
/// bound without recursing.
pub(crate) fn check_json_depth(bytes: &[u8], limit: usize) -> Result<(), DecodeError> {
    // Depth cannot pass the number of openers. Counting them is a tight
    // loop the compiler vectorises, and typical records have a handful.
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

pub(crate) fn json_error(e: serde_json::Error) -> DecodeError {
    DecodeError::InvalidJson(e.to_string())
}

/// A JSON string value, decoded; `None` for any other type.
pub(crate) fn raw_string(raw: &str) -> Option<String> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    // `raw` is one valid JSON value, so without escapes the text between
    // the quotes is the string.
    if !inner.contains('\\') {
        return Some(inner.to_owned());
    }
    serde_json::from_str::<String>(raw).ok()
}

/// A field as text whatever its JSON type: strings unquoted, others as JSON.
pub(crate) fn raw_text(raw: &str) -> String {
    raw_string(raw).unwrap_or_else(|| raw.to_owned())
}

pub(crate) fn raw_i64(text: &str) -> Option<i64> {
    text.parse::<i64>()
        .ok()
        .or_else(|| text.parse::<f64>().ok().map(|f| f as i64))
}

pub(crate) fn raw_f64(text: &str) -> Option<f64> {
    text.parse::<f64>().ok()
}
