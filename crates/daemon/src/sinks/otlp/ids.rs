//! How distlog's scope tree maps to W3C trace context: the trace id from the
//! root task id, the span id from the scope id. Written down in
//! docs/otlp.md; the Python client computes the same (`distlog._trace`), so
//! a `traceparent` it hands out names the spans this sink exports.

use sha2::{Digest, Sha256};

/// The trace id of a tree. A root that is a UUID, or a UUID followed by `.`
/// and anything (what the Python client makes from an incoming
/// `traceparent`), gives its 16 bytes; any other root the first 16 bytes of
/// the SHA-256 of its UTF-8 text. Never all zeros (W3C: invalid).
pub fn trace_id(root: &str) -> [u8; 16] {
    if let Some(id) = leading_uuid(root) {
        if id != [0; 16] {
            return id;
        }
    }
    let digest = Sha256::digest(root.as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    not_zero(&mut id);
    id
}

/// The span id of a scope (`<root>[/<n>]*`, as in the key after `@`): the
/// first 8 bytes of the SHA-256 of its UTF-8 text. Never all zeros.
pub fn span_id(scope: &str) -> [u8; 8] {
    let digest = Sha256::digest(scope.as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    not_zero(&mut id);
    id
}

/// A 16-hex-digit span id (`parent_span_id` of a record), if it is one and
/// not all zeros.
pub fn parse_span_id(text: &str) -> Option<[u8; 8]> {
    let mut id = [0u8; 8];
    if text.len() != 16 || !hex_into(text.as_bytes(), &mut id) || id == [0; 8] {
        return None;
    }
    Some(id)
}

/// The 16 bytes of a canonical `8-4-4-4-12` UUID at the start of `root`,
/// when it is the whole root or followed by `.`.
fn leading_uuid(root: &str) -> Option<[u8; 16]> {
    let b = root.as_bytes();
    if b.len() < 36 || (b.len() > 36 && b[36] != b'.') {
        return None;
    }
    let mut hex = [0u8; 32];
    let mut n = 0;
    for (i, &c) in b[..36].iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
        } else {
            hex[n] = c;
            n += 1;
        }
    }
    let mut id = [0u8; 16];
    hex_into(&hex, &mut id).then_some(id)
}

fn hex_into(hex: &[u8], out: &mut [u8]) -> bool {
    if hex.len() != out.len() * 2 {
        return false;
    }
    for (o, pair) in out.iter_mut().zip(hex.chunks(2)) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(h), Some(l)) => *o = (h << 4) | l,
            _ => return false,
        }
    }
    true
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn not_zero(id: &mut [u8]) {
    if id.iter().all(|&b| b == 0) {
        if let Some(last) = id.last_mut() {
            *last = 1;
        }
    }
}

#[cfg(test)]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_root_is_its_own_trace_id() {
        let root = "e252a11f-d33d-483d-ba08-bc8f642b2f10";
        assert_eq!(hex(&trace_id(root)), "e252a11fd33d483dba08bc8f642b2f10");
        let bridged = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736.00f067aa0ba902b7";
        assert_eq!(hex(&trace_id(bridged)), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            hex(&trace_id(&root.to_uppercase())),
            "e252a11fd33d483dba08bc8f642b2f10"
        );
    }

    #[test]
    fn other_roots_hash_into_a_trace_id() {
        let id = trace_id("job-17");
        assert_eq!(id.to_vec(), Sha256::digest(b"job-17")[..16].to_vec());
        // A UUID followed by anything but `.` is not taken as one.
        let odd = "e252a11f-d33d-483d-ba08-bc8f642b2f10x";
        assert_eq!(
            trace_id(odd).to_vec(),
            Sha256::digest(odd.as_bytes())[..16].to_vec()
        );
        // The nil UUID is no trace id.
        assert_ne!(trace_id("00000000-0000-0000-0000-000000000000"), [0; 16]);
    }

    #[test]
    fn span_ids_hash_the_scope_id() {
        let root = "e252a11f-d33d-483d-ba08-bc8f642b2f10";
        assert_eq!(
            span_id(root).to_vec(),
            Sha256::digest(root.as_bytes())[..8].to_vec()
        );
        assert_ne!(span_id(root), span_id(&format!("{root}/1")));
    }

    #[test]
    fn parent_span_ids_must_be_16_hex_digits() {
        assert_eq!(
            parse_span_id("00f067aa0ba902b7"),
            Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        assert_eq!(parse_span_id("0000000000000000"), None);
        assert_eq!(parse_span_id("00f067aa0ba902b"), None);
        assert_eq!(parse_span_id("00f067aa0ba902bz"), None);
    }
}
