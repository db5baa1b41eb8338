//! Pickles written by CPython (see fixtures/gen_fixtures.py), whole, cut
//! short and corrupted.

use serde_json::Value;

use super::tests::decode;
use crate::Limits;

#[path = "fixtures/fixtures.rs"]
mod fixtures;
use fixtures::{Expect, FIXTURES};

/// The tutorial-like LogRecord pickled at `protocol`.
pub(super) fn tutorial(protocol: u8) -> &'static [u8] {
    FIXTURES
        .iter()
        .find(|f| f.name == "tutorial_record" && f.protocol == protocol)
        .map(|f| f.pickle)
        .expect("fixture exists")
}

fn decodable() -> impl Iterator<Item = &'static fixtures::Fixture> {
    FIXTURES
        .iter()
        .filter(|f| matches!(f.expect, Expect::Json(_)))
}

/// The xorshift64 generator: deterministic, so failures reproduce.
pub(super) struct Rng(pub u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn every_fixture_decodes_to_what_python_expects_or_is_rejected_as_expected() {
    let mut failures = Vec::new();
    for f in FIXTURES {
        let got = decode(f.pickle);
        let ok = match (&f.expect, &got) {
            // serde_json parses no deeper than 127 levels; the fixture at
            // our limit of 128 is compared as text, which is exact for it.
            (Expect::Json(text), Ok(value)) => match serde_json::from_str::<Value>(text) {
                Ok(want) => *value == want,
                Err(_) => serde_json::to_string(value).ok().as_deref() == Some(*text),
            },
            (Expect::Error { reason, contains }, Err(e)) => {
                e.reason() == *reason && e.to_string().contains(contains)
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{} protocol {}: got {got:?}", f.name, f.protocol));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(FIXTURES.len() > 100);
}

#[test]
fn the_tutorial_record_is_the_same_json_at_every_protocol_0_to_5() {
    let first = decode(tutorial(0)).expect("protocol 0 decodes");
    for protocol in 1..=5 {
        assert_eq!(
            decode(tutorial(protocol)).expect("decodes"),
            first,
            "protocol {protocol}"
        );
    }
    let message = first["message"].as_str().expect("message");
    assert!(message.contains("\nsecond line — ünïcødé ✓ 🚀 tab\there back\\slash"));
    assert_eq!(
        first["msg"], first["message"],
        "the shared string is copied in full"
    );
    assert_eq!(
        first["context"]["nested"]["deep"],
        serde_json::json!({"x": null, "y": -1.5})
    );
}

#[test]
fn every_prefix_of_every_valid_fixture_is_rejected_without_panicking() {
    for f in decodable() {
        for len in 0..f.pickle.len() {
            assert!(
                decode(&f.pickle[..len]).is_err(),
                "{} protocol {} cut at {len} decoded",
                f.name,
                f.protocol
            );
        }
    }
}

#[test]
fn single_byte_mutations_of_valid_fixtures_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = Vec::new();
    for f in decodable() {
        for _ in 0..200 {
            buf.clear();
            buf.extend_from_slice(f.pickle);
            let at = rng.below(buf.len());
            buf[at] = rng.next() as u8;
            let _ = decode(&buf);
        }
    }
}

#[test]
fn ten_thousand_pseudo_random_inputs_never_panic() {
    // Half the inputs are drawn from data opcodes and small numbers, which
    // get much further into the machine than uniform bytes do.
    const LIKELY: &[u8] = b"()0125FIJKLMNSTUVXade}ghjl]pqrst)uG\x80\x85\x86\x87\x88\x89\x8a\x8bBC\x8c\x8d\x8e\x8f\x90\x91\x94\x95\x96\x00\x01\x02\n.";
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut buf = Vec::new();
    for case in 0..10_000 {
        buf.clear();
        let len = rng.below(96);
        for _ in 0..len {
            let byte = if case % 2 == 0 {
                rng.next() as u8
            } else {
                LIKELY[rng.below(LIKELY.len())]
            };
            buf.push(byte);
        }
        if case % 3 == 0 {
            buf.push(b'.');
        }
        let _ = decode(&buf);
    }
}

/// `cargo test --release -p distlog-proto -- --ignored --nocapture
/// decoding_speed` prints the cost of decoding the tutorial record.
#[test]
#[ignore = "a timing report, meaningful only in release builds"]
fn decoding_speed_of_the_tutorial_record_at_protocols_2_and_4() {
    for protocol in [2, 4] {
        let input = tutorial(protocol);
        let limits = Limits::default();
        let rounds = 200_000;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(super::to_json(std::hint::black_box(input), &limits).is_ok());
        }
        let each = start.elapsed() / rounds;
        println!(
            "protocol {protocol}: {} bytes decoded in {each:?}",
            input.len()
        );
    }
}
