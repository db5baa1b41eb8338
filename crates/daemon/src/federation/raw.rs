//! A tree from one source passed on without building it as a `Value`:
//! the record ids are rewritten in the JSON text (parsing a 10,000-record
//! tree into a `Value` and writing it again tripled the time of the call).

use super::ids;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Object,
    Array,
}

struct Frame {
    kind: Kind,
    /// A scope node: the top-level `scope`, or an element of a node's
    /// `entries` (a context is neither, whatever keys it holds).
    node: bool,
    /// An array that is the value of a node's `entries`.
    entries: bool,
    /// An object that is an element of an `entries` array: a record or a
    /// scope, whose `id` (a number for records) is rewritten.
    entry: bool,
    /// Objects: the next string is a key.
    want_key: bool,
    /// Objects: the last key was `id` / `entries`.
    key_id: bool,
    key_entries: bool,
    key_scope: bool,
}

/// The tree answer `json` with the number `id` of every object in an
/// `entries` array made `id * STRIDE + source`, and `extra` (`"k":v,…`)
/// added to the top-level object. `None` if it is not a JSON object.
pub fn rewrite_tree(json: &[u8], source: usize, extra: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(json.len() + extra.len() + 64);
    let mut stack: Vec<Frame> = Vec::new();
    let mut copied = 0;
    let mut i = 0;
    let mut top_end = None;
    while i < json.len() {
        let b = json[i];
        match b {
            b'{' | b'[' => {
                let parent = stack.last();
                let kind = if b == b'{' { Kind::Object } else { Kind::Array };
                let entry = kind == Kind::Object
                    && parent.is_some_and(|p| p.kind == Kind::Array && p.entries);
                let top_scope = kind == Kind::Object
                    && stack.len() == 1
                    && parent.is_some_and(|p| p.kind == Kind::Object && p.key_scope);
                let frame = Frame {
                    kind,
                    node: entry || top_scope,
                    entries: kind == Kind::Array
                        && parent
                            .is_some_and(|p| p.kind == Kind::Object && p.node && p.key_entries),
                    entry,
                    want_key: kind == Kind::Object,
                    key_id: false,
                    key_entries: false,
                    key_scope: false,
                };
                stack.push(frame);
                i += 1;
            }
            b'}' | b']' => {
                stack.pop()?;
                if stack.is_empty() {
                    top_end = Some(i);
                }
                i += 1;
            }
            b',' => {
                if let Some(f) = stack.last_mut() {
                    if f.kind == Kind::Object {
                        f.want_key = true;
                    }
                }
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < json.len() && json[j] != b'"' {
                    j += if json[j] == b'\\' { 2 } else { 1 };
                }
                let text = json.get(start..j)?;
                if let Some(f) = stack.last_mut() {
                    if f.kind == Kind::Object && f.want_key {
                        f.want_key = false;
                        f.key_id = text == b"id";
                        f.key_entries = text == b"entries";
                        f.key_scope = text == b"scope";
                    }
                }
                i = j + 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < json.len()
                    && matches!(json[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let rewrite = stack
                    .last()
                    .is_some_and(|f| f.kind == Kind::Object && f.entry && f.key_id);
                if rewrite {
                    let n: i64 = std::str::from_utf8(&json[start..i]).ok()?.parse().ok()?;
                    out.extend_from_slice(&json[copied..start]);
                    out.extend_from_slice(ids::encode(n, source).to_string().as_bytes());
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    let end = top_end?;
    if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    out.extend_from_slice(&json[copied..end]);
    if !extra.is_empty() {
        out.push(b',');
        out.extend_from_slice(extra.as_bytes());
    }
    out.extend_from_slice(&json[end..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn only_the_ids_of_entries_change_whatever_the_contexts_hold() {
        let tree = json!({"root": "r", "records": 3, "focus": "r", "scope": {
            "id": "r", "path": "", "context": {"id": 5, "entries": [{"id": 6}]},
            "entries": [
                {"type": "record", "id": 10, "seq": 0, "message": "a \"id\": 7 {[",
                 "context": {"id": 8, "nested": {"entries": [{"id": 9}]}}},
                {"type": "scope", "id": "r/1", "entries": [
                    {"type": "record", "id": 11, "seq": 0, "message": "\\", "duration": -1.5e-3}]},
                {"type": "record", "id": 12, "seq": 1, "message": "\u{e9}"}]}});
        let text = serde_json::to_vec(&tree).expect("json");
        let out = rewrite_tree(&text, 3, r#""partial":false"#).expect("rewritten");
        let got: Value = serde_json::from_slice(&out).expect("still JSON");
        let mut want = tree.clone();
        want["partial"] = json!(false);
        let e = &mut want["scope"]["entries"];
        e[0]["id"] = json!(ids::encode(10, 3));
        e[1]["entries"][0]["id"] = json!(ids::encode(11, 3));
        e[2]["id"] = json!(ids::encode(12, 3));
        assert_eq!(got, want);
        assert!(rewrite_tree(b"[1]", 0, "").is_none());
        assert!(rewrite_tree(b"{\"a\": [", 0, "").is_none());
    }
}
