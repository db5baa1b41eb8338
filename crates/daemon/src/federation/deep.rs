//! Answers as deep as the protocol allows. A task may nest 256 scopes
//! (`MAX_PATH_DEPTH`) and a record body 100 levels, so a tree answer runs
//! to some 2 × 256 + 110 JSON levels: past serde_json's default limit of
//! 128 and, in a debug build, past what a 2 MiB thread stack holds while
//! parsing, merging or dropping a `Value`. Deep answers are therefore
//! parsed without serde_json's limit but under [`MAX_DEPTH`], and parsed
//! and merged on a thread with a big stack.

use serde::Deserialize as _;
use serde_json::Value;

/// The deepest answer taken from a source: two JSON levels per scope
/// (the node and its `entries`), 256 scopes, a 100-level body and a few
/// levels of wrapping.
pub const MAX_DEPTH: usize = 2 * 256 + 110;

/// Answers up to this deep are parsed on the calling thread.
const SHALLOW: usize = 100;

/// Enough for [`MAX_DEPTH`] levels of parsing, merging and dropping in a
/// debug build; only the pages touched are ever committed.
const BIG_STACK: usize = 64 << 20;

/// How deep the JSON text nests (brackets outside strings).
pub fn depth(json: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                i += 1;
                while i < json.len() && json[i] != b'"' {
                    i += if json[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    max
}

/// Parses a source's answer, however deep the protocol lets it be.
pub fn parse(json: &[u8]) -> Result<Value, String> {
    let d = depth(json);
    if d > MAX_DEPTH {
        return Err(format!(
            "nested {d} levels deep; at most {MAX_DEPTH} are taken"
        ));
    }
    let parsed = if d <= SHALLOW {
        unlimited(json)
    } else {
        on_big_stack(|| unlimited(json))?
    };
    parsed.map_err(|e| format!("not JSON: {e}"))
}

fn unlimited(json: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    // The depth was checked above; the stack is big enough for it.
    de.disable_recursion_limit();
    let v = Value::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// Runs `f` on a thread of its own with a stack big enough for
/// [`MAX_DEPTH`] levels, waiting for it (call from a blocking thread).
pub fn on_big_stack<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, String> {
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("deep-json".into())
            .stack_size(BIG_STACK)
            .spawn_scoped(s, f)
            .map_err(|e| format!("starting a worker thread: {e}"))?;
        handle
            .join()
            .map_err(|_| "the worker thread panicked".to_owned())
    })
}

/// The JSON object `json` with `extra` (`"k":v,…`) added at its end,
/// without parsing it. `None` if it is not an object.
pub fn append_fields(json: &[u8], extra: &str) -> Option<Vec<u8>> {
    let start = json.iter().position(|b| !b.is_ascii_whitespace())?;
    let end = json.iter().rposition(|b| !b.is_ascii_whitespace())?;
    if json[start] != b'{' || json[end] != b'}' || end <= start {
        return None;
    }
    let empty = json[start + 1..end].iter().all(u8::is_ascii_whitespace);
    let mut out = Vec::with_capacity(json.len() + extra.len() + 1);
    out.extend_from_slice(&json[..end]);
    if !extra.is_empty() {
        if !empty {
            out.push(b',');
        }
        out.extend_from_slice(extra.as_bytes());
    }
    out.extend_from_slice(&json[end..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        let mut s = String::new();
        for _ in 0..levels {
            s.push_str("{\"children\":[");
        }
        s.push_str("\"x ] } [\"");
        for _ in 0..levels {
            s.push_str("]}");
        }
        s
    }

    #[test]
    fn answers_deeper_than_serde_json_allows_are_parsed() {
        // 300 scopes of a skeleton: 600 JSON levels.
        let text = nested(300);
        assert!(serde_json::from_str::<Value>(&text).is_err());
        assert_eq!(depth(text.as_bytes()), 600);
        let v = parse(text.as_bytes()).expect("deep but allowed");
        // Dropped on a big stack too: a debug build may not hold it.
        let back = on_big_stack(move || serde_json::to_string(&v).expect("writes")).expect("ran");
        assert_eq!(back.len(), text.len());
        let e = parse(nested(400).as_bytes()).expect_err("too deep");
        assert!(e.contains("800 levels deep"), "{e}");
        let e = parse(b"{\"a\": 1} x").expect_err("trailing text");
        assert!(e.starts_with("not JSON"), "{e}");
    }

    #[test]
    fn fields_are_appended_to_an_object_as_text() {
        let out = append_fields(b" {\"a\": [1]}\n", "\"partial\":false").expect("an object");
        let v: Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(v, serde_json::json!({"a": [1], "partial": false}));
        let out = append_fields(b"{}", "\"p\":1").expect("an object");
        assert_eq!(out, b"{\"p\":1}");
        assert!(append_fields(b"[1]", "\"p\":1").is_none());
        assert!(append_fields(b"", "\"p\":1").is_none());
    }
}
