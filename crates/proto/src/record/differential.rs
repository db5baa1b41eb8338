//! The scanner against serde_json, on many generated and mutated bodies:
//! whatever the scanner accepts, serde_json must accept with the same
//! fields, and `decode` must answer exactly as the serde_json path would.

use super::bench::{loadgen_json, loadgen_pickles, tutorial_bodies};
use super::tests::plj;
use super::*;

/// `decode` for JSON as it was before the scanner: serde_json only.
pub(super) fn decode_by_serde(body: &[u8], limits: &Limits) -> Result<Record, DecodeError> {
    if body.len() > limits.max_body {
        return Err(DecodeError::TooLarge {
            size: body.len(),
            limit: limits.max_body,
        });
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| DecodeError::InvalidJson(format!("not UTF-8: {e}")))?;
    let wire = fields::by_serde(text, limits.max_depth)?;
    let mut record = to_record(plj(), &wire);
    record.context_span = wire.context.and_then(|v| span_in(text, v));
    record.exc_text_span = wire.exc_text.and_then(|v| span_in(text, v));
    record.body = text.to_owned();
    Ok(record)
}

#[derive(Default, Debug)]
struct Tally {
    bodies: usize,
    accepted: usize,
    /// Valid bodies the scanner left to serde_json.
    unsure_valid: usize,
}

/// Checks one body; returns whether serde_json accepts it.
fn check(body: &[u8], limits: &Limits, tally: &mut Tally) -> bool {
    tally.bodies += 1;
    let want = decode_by_serde(body, limits);
    let got = decode(plj(), body, limits);
    assert_eq!(got, want, "body {:?}", String::from_utf8_lossy(body));
    if let Ok(text) = std::str::from_utf8(body) {
        match scan::scan(text, limits.max_depth) {
            Ok(fast) => {
                let slow = fields::by_serde(text, limits.max_depth);
                assert_eq!(Ok(fast), slow, "scanner accepted {text:?}");
            }
            Err(scan::Unsure) if want.is_ok() => tally.unsure_valid += 1,
            Err(scan::Unsure) => {}
        }
    }
    tally.accepted += usize::from(want.is_ok());
    want.is_ok()
}

/// SplitMix64, as in bench/loadgen: reproducible, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const NAMES: &[&str] = &[
    "name",
    "msg",
    "message",
    "levelno",
    "levelname",
    "created",
    "hostname",
    "process",
    "context",
    "scope_event",
    "scope_duration",
    "key",
    "user",
    "args",
    "k\\u0065y",
    "na\\nme",
    "",
    "\u{e9}t\u{e9}",
];

const SCALARS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "20",
    "20.0",
    "1e3",
    "1E+3",
    "2.5e-3",
    "-0.0",
    "1.5E400",
    "-1e-400",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "0.1",
    "true",
    "false",
    "null",
    "\"\"",
    "\"INFO\"",
    "\"WARNING\"",
    "\"open\"",
    "\"close\"",
    "\"fail\"",
    "\"bogus\"",
    "\"a\\\"b\"",
    "\"\\\\\"",
    "\"\\/\\b\\f\\n\\r\\t\"",
    "\"\\u00e9\"",
    "\"\\ud83d\\ude00\"",
    "\"\\ud800\"",
    "\"\\udc00x\"",
    "\"caf\u{e9} \u{1f600}\"",
    "\"0@e252a11f-d33d-483d-ba08-bc8f642b2f10\"",
    "\"3@e252a11f-d33d-483d-ba08-bc8f642b2f10/1/2\"",
    "\"zero@\"",
    "\"0@\\u0041\"",
];

const WS: &[&str] = &["", "", "", " ", "\n", "\t", "\r\n  "];

fn value(rng: &mut Rng, depth: usize, out: &mut String) {
    match rng.below(if depth > 4 { 1 } else { 4 }) {
        0 => out.push_str(rng.pick(SCALARS)),
        1 => {
            out.push('[');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(rng.pick(WS));
                value(rng, depth + 1, out);
            }
            out.push(']');
        }
        _ => object(rng, depth + 1, out),
    }
}

fn object(rng: &mut Rng, depth: usize, out: &mut String) {
    out.push('{');
    for i in 0..rng.below(7) {
        if i > 0 {
            out.push(',');
        }
        out.push_str(rng.pick(WS));
        out.push('"');
        out.push_str(rng.pick(NAMES));
        out.push('"');
        out.push_str(rng.pick(WS));
        out.push(':');
        out.push_str(rng.pick(WS));
        value(rng, depth, out);
    }
    out.push_str(rng.pick(WS));
    out.push('}');
}

/// Bytes that turn valid JSON into edge cases when they land anywhere.
const NASTY: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"0",
    b"-",
    b".",
    b"e",
    b"+",
    b"\x00",
    b"\x1f",
    b"\x7f",
    b" ",
    b"u",
    b"x",
    b"\xff",
    b"\xc3",
    b"\xc3\xa9",
    b"\xed\xa0\x80",
    b"\xe2\x80\xa8",
    b"\xc2\xa0",
    b"\\u",
    b"\\ud800",
    b"tru",
    b"nul",
    b"01",
    b"1.",
    b".5",
    b"1e",
    b"--1",
    b",]",
    b",}",
    b"\"\":",
];

fn mutate(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    for _ in 0..=rng.below(2) {
        let at = rng.below(b.len() + 1);
        match rng.below(4) {
            0 => b.truncate(at),
            1 if at < b.len() => {
                b.remove(at);
            }
            2 if at < b.len() => {
                let with = rng.pick(NASTY);
                b.splice(at..(at + 1).min(b.len()), with.iter().copied());
            }
            _ => {
                let with = rng.pick(NASTY);
                b.splice(at..at, with.iter().copied());
            }
        }
    }
    b
}

#[test]
fn the_scanner_agrees_with_serde_json_on_generated_and_mutated_bodies() {
    let limits = Limits {
        max_depth: 6,
        ..Limits::default()
    };
    let mut rng = Rng(7);
    let mut tally = Tally::default();
    for _ in 0..5_000 {
        let mut body = String::new();
        body.push_str(rng.pick(WS));
        object(&mut rng, 1, &mut body);
        body.push_str(rng.pick(WS));
        check(body.as_bytes(), &limits, &mut tally);
        for _ in 0..4 {
            check(&mutate(&mut rng, body.as_bytes()), &limits, &mut tally);
        }
    }
    // Both halves were exercised: many valid bodies and many rejections.
    assert!(tally.accepted > tally.bodies / 5, "{tally:?}");
    assert!(tally.accepted < tally.bodies * 4 / 5, "{tally:?}");
}

#[test]
fn realistic_bodies_decode_alike_and_never_need_serde_json() {
    let limits = Limits::default();
    let mut tally = Tally::default();
    let tutorial = tutorial_bodies();
    let bodies: Vec<&[u8]> = loadgen_json()
        .into_iter()
        .chain(tutorial.iter().map(Vec::as_slice))
        .collect();
    for body in &bodies {
        assert!(check(body, &limits, &mut tally));
    }
    assert_eq!(tally.unsure_valid, 0, "{tally:?}");
    // Pickles become JSON text the scanner reads too.
    for p in loadgen_pickles() {
        let text = pickle::to_json_text(p, &limits).expect("fixture pickle");
        assert!(scan::scan(&text, limits.max_depth).is_ok(), "{text}");
    }
    // Every cut of a realistic body is rejected alike.
    let mut rng = Rng(11);
    for body in bodies.iter().take(10) {
        for end in 0..body.len() {
            check(&body[..end], &limits, &mut tally);
        }
        for _ in 0..500 {
            check(&mutate(&mut rng, body), &limits, &mut tally);
        }
    }
}

#[test]
fn depth_at_and_past_the_limit_and_the_scanners_stack_is_decided_alike() {
    let mut tally = Tally::default();
    for limit in [0, 1, 2, 99, 100, 101, 127, 128, 129, 200] {
        let limits = Limits {
            max_depth: limit,
            ..Limits::default()
        };
        for depth in [1, 2, 3, 99, 100, 101, 102, 127, 128, 129, 130, 201] {
            for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
                let inner = depth - 1;
                let body = format!("{{\"x\": {}1{}}}", open.repeat(inner), close.repeat(inner));
                check(body.as_bytes(), &limits, &mut tally);
                // Unbalanced: too deep and invalid at once.
                let body = format!("{{\"x\": {}1", open.repeat(inner));
                check(body.as_bytes(), &limits, &mut tally);
            }
        }
    }
}

#[test]
fn odd_but_valid_bodies_are_read_alike() {
    let limits = Limits::default();
    let mut tally = Tally::default();
    let cases: &[&str] = &[
        "{}",
        " \t\r\n{ } \n",
        "\u{a0}{}",
        "\u{a0}[1]",
        "{\"levelno\": 10, \"levelno\": 40}",
        "{\"context\": {\"key\": \"0@u\"}, \"context\": null}",
        "{\"context\": null, \"context\": {\"key\": \"1@u\"}}",
        "{\"context\": {\"key\": \"0@u\", \"key\": \"1@u\"}}",
        "{\"context\": {\"key\": null, \"key\": \"1@u\"}}",
        "{\"context\": {\"key\": null}}",
        "{\"context\": {\"k\\u0065y\": \"0@u\"}}",
        "{\"context\": {\"key\": \"0@u\\/1\"}}",
        "{\"context\": {\"key\": \"\\ud800\"}}",
        "{\"context\": {\"\\ud800\": 1, \"key\": \"0@u\"}}",
        "{\"context\": [\"key\"], \"message\": \"\\u0000\"}",
        "{\"msg\": {\"a\": [1, 2.5e3]}, \"message\": 5}",
        "{\"m\\u0065ssage\": \"escaped name\"}",
        "{\"\\ud800\": 1}",
        "{\"x\": \"\\ud800\"}",
        "{\"process\": 6156.9, \"levelno\": 1e2, \"created\": -0}",
        "{\"process\": 99999999999999999999, \"created\": 1e999}",
        "{\"scope_event\": null, \"context\": {\"key\": \"0@u\"}}",
        "{\"scope_event\": \"cl\\u006fse\", \"context\": {\"key\": \"4@u\"}}",
    ];
    for case in cases {
        check(case.as_bytes(), &limits, &mut tally);
    }
}
