//! One pass over a JSON body that validates it as strictly as serde_json does
//! and notes where the fields we index sit.
//!
//! It answers only "valid, and here are the spans" or [`Unsure`]. Anything
//! unusual (any error, an escaped key where we match names, nesting past the
//! bit stack) goes to the serde_json path in `fields.rs`, which stays the
//! authority: so a gap here costs speed, never a different answer, as long
//! as this scanner accepts nothing that serde_json rejects. The
//! `differential` tests hold it to that.

use super::fields::Fields;

/// Not plainly valid: ask serde_json.
#[derive(Debug)]
pub(super) struct Unsure;

type Scan<T> = Result<T, Unsure>;

/// Deepest nesting the bit stack of open containers can hold.
const STACK_BITS: usize = 128;

/// Validates `text` as one JSON object, no deeper than `limit`, and returns
/// the spans of the fields `Fields` names, with the same last-one-wins rule
/// and the same `context.key` rule as the serde_json path.
pub(super) fn scan(text: &str, limit: usize) -> Scan<Fields<'_>> {
    let mut c = Cursor {
        text,
        b: text.as_bytes(),
        i: 0,
        depth: 0,
        stack: 0,
        limit,
    };
    let mut f = Fields::default();
    c.ws();
    if c.peek() != Some(b'{') {
        return Err(Unsure);
    }
    c.open(true)?;
    c.ws();
    if c.peek() == Some(b'}') {
        c.close();
    } else {
        loop {
            let name = c.plain_key()?;
            c.ws();
            let start = c.i;
            let slot = match name {
                b"name" => &mut f.name,
                b"msg" => &mut f.msg,
                b"message" => &mut f.message,
                b"levelno" => &mut f.levelno,
                b"levelname" => &mut f.levelname,
                b"created" => &mut f.created,
                b"hostname" => &mut f.hostname,
                b"process" => &mut f.process,
                b"scope_event" => &mut f.scope_event,
                b"scope_duration" => &mut f.scope_duration,
                b"exc_text" => &mut f.exc_text,
                b"context" => {
                    f.context_key = if c.peek() == Some(b'{') {
                        c.context()?
                    } else {
                        c.value()?;
                        None
                    };
                    f.context = Some(c.span(start)?);
                    if c.after_member()? {
                        break;
                    }
                    continue;
                }
                _ => {
                    c.value()?;
                    if c.after_member()? {
                        break;
                    }
                    continue;
                }
            };
            c.value()?;
            *slot = Some(c.span(start)?);
            if c.after_member()? {
                break;
            }
        }
    }
    c.ws();
    if c.i == c.b.len() {
        Ok(f)
    } else {
        Err(Unsure)
    }
}

struct Cursor<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    /// Containers open around `i`.
    depth: usize,
    /// Bit `d` is set when the container at depth `d + 1` is an object.
    stack: u128,
    limit: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Scan<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(Unsure)
        }
    }

    #[inline]
    fn span(&self, start: usize) -> Scan<&'a str> {
        self.text.get(start..self.i).ok_or(Unsure)
    }

    /// Enters the container at `i`; past the limit serde_json's path
    /// reports `too_deep`.
    #[inline]
    fn open(&mut self, object: bool) -> Scan<()> {
        if self.depth >= self.limit || self.depth >= STACK_BITS {
            return Err(Unsure);
        }
        let bit = 1u128 << self.depth;
        self.stack = if object {
            self.stack | bit
        } else {
            self.stack & !bit
        };
        self.depth += 1;
        self.i += 1;
        Ok(())
    }

    #[inline]
    fn close(&mut self) {
        self.i += 1;
        self.depth -= 1;
    }

    #[inline]
    fn in_object(&self) -> bool {
        (self.stack >> (self.depth - 1)) & 1 == 1
    }

    /// After a member of the object being read: true at its end.
    #[inline]
    fn after_member(&mut self) -> Scan<bool> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                self.ws();
                Ok(false)
            }
            Some(b'}') => {
                self.close();
                Ok(true)
            }
            _ => Err(Unsure),
        }
    }

    /// A member name whose text we compare, and its colon. Escaped names
    /// would need decoding first; no sender writes them, so serde_json may.
    #[inline]
    fn plain_key(&mut self) -> Scan<&'a [u8]> {
        let start = self.i + 1;
        if self.string()? {
            return Err(Unsure);
        }
        let name = self.b.get(start..self.i - 1).ok_or(Unsure)?;
        self.ws();
        self.eat(b':')?;
        Ok(name)
    }

    /// The `context` object: the span of its `key`, if it has exactly one
    /// (serde's derived struct refuses a duplicate field, and the serde_json
    /// path then reads no key at all).
    fn context(&mut self) -> Scan<Option<&'a str>> {
        self.open(true)?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.close();
            return Ok(None);
        }
        let (mut key, mut seen) = (None, 0);
        loop {
            let name = self.plain_key()?;
            self.ws();
            let start = self.i;
            self.value()?;
            if name == b"key" {
                // serde reads `"key": null` as no key, but counts it.
                key = Some(self.span(start)?).filter(|&k| k != "null");
                seen += 1;
            }
            if self.after_member()? {
                break;
            }
        }
        Ok(if seen == 1 { key } else { None })
    }

    /// Skips one value of any shape, without recursion.
    fn value(&mut self) -> Scan<()> {
        let base = self.depth;
        loop {
            self.ws();
            match self.peek() {
                Some(b'{') => {
                    self.open(true)?;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.close();
                    } else {
                        self.member_name()?;
                        continue;
                    }
                }
                Some(b'[') => {
                    self.open(false)?;
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.close();
                    } else {
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(Unsure),
            }
            // A value ended: close containers until one expects another.
            loop {
                if self.depth == base {
                    return Ok(());
                }
                self.ws();
                let object = self.in_object();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if object {
                            self.ws();
                            self.member_name()?;
                        }
                        break;
                    }
                    Some(b'}') if object => self.close(),
                    Some(b']') if !object => self.close(),
                    _ => return Err(Unsure),
                }
            }
        }
    }

    /// A member name inside a skipped object, and its colon.
    #[inline]
    fn member_name(&mut self) -> Scan<()> {
        self.string()?;
        self.ws();
        self.eat(b':')
    }

    #[inline]
    fn literal(&mut self, word: &[u8]) -> Scan<()> {
        if self
            .b
            .get(self.i..)
            .is_some_and(|rest| rest.starts_with(word))
        {
            self.i += word.len();
            Ok(())
        } else {
            Err(Unsure)
        }
    }

    /// RFC 8259's number grammar, as serde_json's `ignore_number` has it.
    #[inline]
    fn number(&mut self) -> Scan<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(Unsure);
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(Unsure),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(Unsure);
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(Unsure);
            }
        }
        Ok(())
    }

    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// A string from its opening quote; true if it holds escapes. The text
    /// is already known to be UTF-8, so only quotes, backslashes and control
    /// characters matter.
    #[inline]
    fn string(&mut self) -> Scan<bool> {
        self.eat(b'"')?;
        let mut escaped = false;
        loop {
            self.i = skip_plain(self.b, self.i);
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return Err(Unsure),
            }
        }
    }

    /// As serde_json's `ignore_escape`: any `\uXXXX` passes, surrogate or
    /// not; the fields we read are decoded by serde_json later.
    #[cold]
    fn escape(&mut self) -> Scan<()> {
        match self.b.get(self.i + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.i += 2;
                Ok(())
            }
            Some(b'u') => {
                let hex = self.b.get(self.i + 2..self.i + 6).ok_or(Unsure)?;
                if hex.iter().all(u8::is_ascii_hexdigit) {
                    self.i += 6;
                    Ok(())
                } else {
                    Err(Unsure)
                }
            }
            _ => Err(Unsure),
        }
    }
}

/// The index of the first quote, backslash or control byte at or after
/// `i`, or the length. Eight bytes at a time: most of a body is string
/// content, and this loop is most of the scan.
#[inline]
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        let w = u64::from_le_bytes(*chunk);
        let quote = w ^ (ONES * u64::from(b'"'));
        let slash = w ^ (ONES * u64::from(b'\\'));
        // The classic "has a zero byte" and "has a byte below n" tests; the
        // lowest flagged byte is always a true hit, later ones may not be.
        let hits = ((quote.wrapping_sub(ONES) & !quote)
            | (slash.wrapping_sub(ONES) & !slash)
            | (w.wrapping_sub(ONES * 0x20) & !w))
            & HIGH;
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        i += 1;
    }
    i
}
