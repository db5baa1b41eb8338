//! Decoding of the textual and integer arguments of opcodes.

use std::borrow::Cow;
use std::fmt::Write;

use super::Node;

/// CPython refuses to turn an int of more decimal digits than this into text
/// (`sys.int_info.default_max_str_digits`); the JSON we produce would need
/// exactly that, so such an int is refused here too, before any work.
pub(super) const MAX_INT_DIGITS: usize = 4300;
/// The longest LONG1/LONG4 argument whose value stays under
/// [`MAX_INT_DIGITS`] digits: 2^(8 * 1785) < 10^4300.
pub(super) const MAX_INT_BYTES: usize = 1785;

/// A Python 2 `str` (STRING, BINSTRING, SHORT_BINSTRING) is bytes with no
/// declared encoding. Python 2 programs overwhelmingly held UTF-8 in them, so
/// valid UTF-8 is taken as such; anything else is read as Latin-1, which
/// cannot fail and keeps every byte (as CPython's `encoding="latin1"` does).
pub(super) fn py2_str(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(latin1(bytes)),
    }
}

/// [`py2_str`] for bytes we already own.
pub(super) fn py2_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| latin1(e.as_bytes()))
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The argument of UNICODE (protocol 0): `raw-unicode-escape`, i.e. Latin-1
/// bytes with `\uXXXX` and `\UXXXXXXXX` escapes, decoded as CPython 3.11
/// does, except that a surrogate code point becomes U+FFFD.
pub(super) fn raw_unicode_escape(line: &[u8]) -> Result<Cow<'_, str>, String> {
    if line.is_ascii() && !line.contains(&b'\\') {
        if let Ok(s) = std::str::from_utf8(line) {
            return Ok(Cow::Borrowed(s));
        }
    }
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while let Some(&b) = line.get(i) {
        i += 1;
        let next = match line.get(i) {
            Some(&next) if b == b'\\' => next,
            _ => {
                out.push(char::from(b));
                continue;
            }
        };
        i += 1;
        let width = match next {
            b'u' => 4,
            b'U' => 8,
            // Any other escaped byte is kept with its backslash, and cannot
            // itself start an escape.
            _ => {
                out.push('\\');
                out.push(char::from(next));
                continue;
            }
        };
        let hex = line
            .get(i..i + width)
            .ok_or_else(|| format!("truncated \\{} escape", char::from(next)))?;
        let mut code = 0u32;
        for &h in hex {
            let digit = char::from(h)
                .to_digit(16)
                .ok_or_else(|| format!("bad hex digit {:?} in a \\u escape", char::from(h)))?;
            code = code << 4 | digit;
        }
        i += width;
        // CPython writes lone surrogates (text decoded with surrogateescape)
        // this way; UTF-8 cannot hold them, so they read as U+FFFD rather
        // than cost the record.
        let c = match code {
            0xD800..=0xDFFF => char::REPLACEMENT_CHARACTER,
            _ => char::from_u32(code)
                .ok_or_else(|| format!("escape of U+{code:04X} is past U+10FFFF"))?,
        };
        out.push(c);
    }
    Ok(Cow::Owned(out))
}

/// The inside of a STRING's quotes: the escapes of Python's `repr(str)`, as
/// `codecs.escape_decode` reads them.
pub(super) fn escape_decode(s: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    if !s.contains(&b'\\') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let c = *s.get(i).ok_or("trailing \\ in string")?;
        i += 1;
        match c {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(c),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            b'r' => out.push(b'\r'),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    let Some(&d @ b'0'..=b'7') = s.get(i) else {
                        break;
                    };
                    v = v * 8 + u32::from(d - b'0');
                    i += 1;
                }
                // Like CPython, an escape past \377 keeps its low byte.
                out.push(v as u8);
            }
            b'x' => {
                let pair = s.get(i..i + 2).ok_or("truncated \\x escape")?;
                let hex = |h: u8| char::from(h).to_digit(16).ok_or("invalid \\x escape");
                out.push((hex(pair[0])? << 4 | hex(pair[1])?) as u8);
                i += 2;
            }
            // Python keeps an unknown escape as it is, backslash included.
            _ => out.extend_from_slice(&[b'\\', c]),
        }
    }
    Ok(Cow::Owned(out))
}

/// The argument of INT or LONG: optional sign, then decimal digits.
pub(super) fn decimal_int(text: &[u8]) -> Result<Node<'static>, String> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "{:?} is not a decimal integer",
            String::from_utf8_lossy(text)
        ));
    }
    let start = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    let digits = &digits[start..];
    if digits.len() > MAX_INT_DIGITS {
        return Err(format!(
            "an integer of {} digits is over the limit of {MAX_INT_DIGITS}",
            digits.len()
        ));
    }
    let magnitude = digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    });
    if let Some(value) = magnitude.and_then(|m| signed(negative, m)) {
        return Ok(Node::Int(value));
    }
    let mut out = String::with_capacity(digits.len() + 1);
    if negative {
        out.push('-');
    }
    out.extend(digits.iter().map(|&d| char::from(d)));
    Ok(Node::BigInt(out))
}

fn signed(negative: bool, magnitude: u64) -> Option<i64> {
    if !negative {
        i64::try_from(magnitude).ok()
    } else if magnitude <= 1 << 63 {
        Some(0i64.wrapping_sub(magnitude as i64))
    } else {
        None
    }
}

/// The argument of LONG1 or LONG4: two's complement, little-endian, any
/// length (empty is zero).
pub(super) fn le_int(bytes: &[u8]) -> Node<'static> {
    let Some(&last) = bytes.last() else {
        return Node::Int(0);
    };
    let negative = last & 0x80 != 0;
    let fill = if negative { 0xff } else { 0 };
    // Senders may pad with sign bytes; the shortest form decides whether the
    // value fits in an i64.
    let mut len = bytes.len();
    while len > 1 && bytes[len - 1] == fill && (bytes[len - 2] & 0x80 != 0) == negative {
        len -= 1;
    }
    let bytes = &bytes[..len];
    if len <= 8 {
        let mut buf = [fill; 8];
        buf[..len].copy_from_slice(bytes);
        return Node::Int(i64::from_le_bytes(buf));
    }
    let mut magnitude = bytes.to_vec();
    if negative {
        let mut carry = true;
        for b in &mut magnitude {
            let (v, c) = (!*b).overflowing_add(u8::from(carry));
            *b = v;
            carry = c;
        }
    }
    Node::BigInt(to_decimal(&magnitude, negative))
}

/// Schoolbook conversion by repeated division by 10^9: quadratic, but the
/// length is capped at [`MAX_INT_BYTES`], where it takes well under 1 ms.
fn to_decimal(magnitude: &[u8], negative: bool) -> String {
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u32> = magnitude
        .chunks(4)
        .map(|c| c.iter().rev().fold(0u32, |acc, &b| acc << 8 | u32::from(b)))
        .collect();
    let mut parts: Vec<u32> = Vec::with_capacity(limbs.len() * 32 / 29 + 1);
    loop {
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
        if limbs.is_empty() {
            break;
        }
        let mut rem = 0u64;
        for limb in limbs.iter_mut().rev() {
            let cur = rem << 32 | u64::from(*limb);
            *limb = (cur / BASE) as u32;
            rem = cur % BASE;
        }
        parts.push(rem as u32);
    }
    let mut out = String::with_capacity(parts.len() * 9 + 1);
    if negative {
        out.push('-');
    }
    let mut parts = parts.iter().rev();
    // Writing to a String cannot fail.
    let _ = write!(out, "{}", parts.next().copied().unwrap_or(0));
    for part in parts {
        let _ = write!(out, "{part:09}");
    }
    out
}
