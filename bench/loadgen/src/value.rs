//! A record body as the Python client builds it, and its two wire encodings:
//! JSON as `json.dumps` writes it, and pickle protocol 2 as CPython's
//! `pickle.dumps(obj, 2)` writes it (memo puts included).

use std::fmt::Write as _;

/// The values a log record body holds. Maps keep insertion order, as
/// Python dicts do.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Dict(Vec<(String, Value)>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::None, Into::into)
    }
}

impl Value {
    /// Appends the value as `json.dumps(value)` writes it (separators
    /// `", "` and `": "`, non-ASCII escaped).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::None => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Int(n) => push_display(out, n),
            Value::Float(x) => write_json_float(*x, out),
            Value::Str(s) => write_json_str(s, out),
            Value::List(items) => {
                out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    v.write_json(out);
                }
                out.push(b']');
            }
            Value::Dict(items) => {
                out.push(b'{');
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    write_json_str(k, out);
                    out.extend_from_slice(b": ");
                    v.write_json(out);
                }
                out.push(b'}');
            }
        }
    }

    /// The value as JSON text.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(768);
        self.write_json(&mut out);
        out
    }

    /// The value as `pickle.dumps(value, protocol=2)` writes it.
    pub fn to_pickle(&self) -> Vec<u8> {
        let mut p = Pickler {
            out: Vec::with_capacity(768),
            memo: 0,
        };
        p.out.extend_from_slice(&[op::PROTO, 2]);
        p.save(self);
        p.out.push(op::STOP);
        p.out
    }
}

fn push_display(out: &mut Vec<u8>, v: impl std::fmt::Display) {
    let mut s = String::new();
    let _ = write!(s, "{v}");
    out.extend_from_slice(s.as_bytes());
}

/// Python's `repr(float)`: the shortest text that reads back the same,
/// with `.0` on integral values. Rust's `Display` gives the same digits but
/// never an exponent, which JSON readers accept just as well.
fn write_json_float(x: f64, out: &mut Vec<u8>) {
    if x.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if x.is_infinite() {
        out.extend_from_slice(if x > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        let mut s = format!("{x}");
        if !s.contains('.') {
            s.push_str(".0");
        }
        out.extend_from_slice(s.as_bytes());
    }
}

fn write_json_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    push_display(out, format_args!("\\u{u:04x}"));
                }
            }
            c => out.push(c as u8),
        }
    }
    out.push(b'"');
}

/// The pickle opcodes protocol 2 uses for these values.
mod op {
    pub const PROTO: u8 = 0x80;
    pub const STOP: u8 = b'.';
    pub const NONE: u8 = b'N';
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const BININT2: u8 = b'M';
    pub const LONG1: u8 = 0x8a;
    pub const BINFLOAT: u8 = b'G';
    pub const BINUNICODE: u8 = b'X';
    pub const EMPTY_LIST: u8 = b']';
    pub const APPEND: u8 = b'a';
    pub const APPENDS: u8 = b'e';
    pub const EMPTY_DICT: u8 = b'}';
    pub const SETITEM: u8 = b's';
    pub const SETITEMS: u8 = b'u';
    pub const MARK: u8 = b'(';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
}

/// CPython's `_Pickler` for these types at protocol 2: strings, lists and
/// dicts are memoized (a `BINPUT` after each), containers are filled in
/// batches of at most 1000 (`APPENDS`/`SETITEMS`, or `APPEND`/`SETITEM`
/// for a batch of one). Equal strings are not shared, as CPython shares
/// only identical objects; our values hold no shared objects.
struct Pickler {
    out: Vec<u8>,
    memo: u32,
}

const BATCH: usize = 1000;

impl Pickler {
    fn put(&mut self) {
        let i = self.memo;
        self.memo += 1;
        match u8::try_from(i) {
            Ok(b) => self.out.extend_from_slice(&[op::BINPUT, b]),
            Err(_) => {
                self.out.push(op::LONG_BINPUT);
                self.out.extend_from_slice(&i.to_le_bytes());
            }
        }
    }

    fn save(&mut self, v: &Value) {
        match v {
            Value::None => self.out.push(op::NONE),
            Value::Bool(true) => self.out.push(op::NEWTRUE),
            Value::Bool(false) => self.out.push(op::NEWFALSE),
            Value::Int(n) => self.save_int(*n),
            Value::Float(x) => {
                self.out.push(op::BINFLOAT);
                self.out.extend_from_slice(&x.to_be_bytes());
            }
            Value::Str(s) => self.save_str(s),
            Value::List(items) => {
                self.out.push(op::EMPTY_LIST);
                self.put();
                for chunk in items.chunks(BATCH) {
                    if let [one] = chunk {
                        self.save(one);
                        self.out.push(op::APPEND);
                    } else {
                        self.out.push(op::MARK);
                        for v in chunk {
                            self.save(v);
                        }
                        self.out.push(op::APPENDS);
                    }
                }
            }
            Value::Dict(items) => {
                self.out.push(op::EMPTY_DICT);
                self.put();
                for chunk in items.chunks(BATCH) {
                    if let [(k, v)] = chunk {
                        self.save_str(k);
                        self.save(v);
                        self.out.push(op::SETITEM);
                    } else {
                        self.out.push(op::MARK);
                        for (k, v) in chunk {
                            self.save_str(k);
                            self.save(v);
                        }
                        self.out.push(op::SETITEMS);
                    }
                }
            }
        }
    }

    fn save_str(&mut self, s: &str) {
        self.out.push(op::BINUNICODE);
        // Bodies are far below 4 GiB; a longer string cannot be a record.
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        self.out.extend_from_slice(&len.to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
        self.put();
    }

    fn save_int(&mut self, n: i64) {
        if let Ok(b) = u8::try_from(n) {
            self.out.extend_from_slice(&[op::BININT1, b]);
        } else if let Ok(w) = u16::try_from(n) {
            self.out.push(op::BININT2);
            self.out.extend_from_slice(&w.to_le_bytes());
        } else if let Ok(i) = i32::try_from(n) {
            self.out.push(op::BININT);
            self.out.extend_from_slice(&i.to_le_bytes());
        } else {
            // LONG1: little-endian two's complement, as few bytes as keep
            // the sign (CPython's encode_long).
            let bytes = n.to_le_bytes();
            let mut len = 8;
            while len > 1 {
                let top = bytes[len - 1];
                let below_sign = bytes[len - 2] & 0x80;
                if (top == 0 && below_sign == 0) || (top == 0xff && below_sign != 0) {
                    len -= 1;
                } else {
                    break;
                }
            }
            self.out.extend_from_slice(&[op::LONG1, len as u8]);
            self.out.extend_from_slice(&bytes[..len]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        Value::Dict(vec![
            ("a".into(), Value::Int(1)),
            (
                "b".into(),
                Value::List(vec![Value::None, Value::Bool(true)]),
            ),
            ("c".into(), Value::Float(1.5)),
            ("d".into(), Value::Str("é\"x".into())),
        ])
    }

    #[test]
    fn json_matches_python_json_dumps() {
        // json.dumps({"a": 1, "b": [None, True], "c": 1.5, "d": 'é"x'})
        assert_eq!(
            String::from_utf8_lossy(&sample().to_json()),
            r#"{"a": 1, "b": [null, true], "c": 1.5, "d": "\u00e9\"x"}"#
        );
        assert_eq!(Value::Float(2.0).to_json(), b"2.0");
    }

    #[test]
    fn pickle_matches_cpython_protocol_2_bytes() {
        // pickle.dumps({"a": 1, "b": [None, True], "c": 1.5, "d": 'é"x'}, 2)
        let want: &[u8] = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02]q\x03(N\x88eX\x01\x00\x00\x00cq\x04G?\xf8\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00dq\x05X\x04\x00\x00\x00\xc3\xa9\"xq\x06u.";
        assert_eq!(sample().to_pickle(), want);
    }

    #[test]
    fn pickle_ints_use_the_smallest_opcode_like_cpython() {
        // pickle.dumps(n, 2)[2:-1] for each n
        let cases: &[(i64, &[u8])] = &[
            (0, b"K\x00"),
            (255, b"K\xff"),
            (256, b"M\x00\x01"),
            (-1, b"J\xff\xff\xff\xff"),
            (6156, b"M\x0c\x18"),
            (2_147_483_648, b"\x8a\x05\x00\x00\x00\x80\x00"),
            (-2_147_483_649, b"\x8a\x05\xff\xff\xff\x7f\xff"),
            (139_753_641_113_344, b"\x8a\x06\x00w\"\xee\x1a\x7f"),
            (i64::MIN, b"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80"),
        ];
        for (n, body) in cases {
            let p = Value::Int(*n).to_pickle();
            assert_eq!(&p[2..p.len() - 1], *body, "{n}");
        }
    }

    #[test]
    fn the_safe_decoder_reads_our_pickles_as_our_json() -> Result<(), Box<dyn std::error::Error>> {
        let limits = distlog_proto::Limits::default();
        let text = distlog_proto::pickle::to_json_text(&sample().to_pickle(), &limits)?;
        let from_pickle: serde_json::Value = serde_json::from_str(&text)?;
        let from_json: serde_json::Value = serde_json::from_slice(&sample().to_json())?;
        assert_eq!(from_pickle, from_json);
        Ok(())
    }
}
