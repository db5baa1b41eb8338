//! Decoding speed on realistic bodies, in ns/record. Ignored by default; run
//! `cargo test -p distlog-proto --release -- --ignored --nocapture`.
//!
//! The fixtures are what `distlog-loadgen` sends (its `records.rs`, four
//! streams, seed 42, 20-record tasks): JSON lines and length-prefixed
//! protocol-2 pickles.

use std::hint::black_box;
use std::time::Instant;

use super::differential::decode_by_serde;
use super::tests::{plj, tutorial_body};
use super::*;
use crate::{Kind, System};

pub(super) fn loadgen_json() -> Vec<&'static [u8]> {
    include_bytes!("fixtures/loadgen.jsonl")
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

pub(super) fn loadgen_pickles() -> Vec<&'static [u8]> {
    let mut all: &'static [u8] = include_bytes!("fixtures/loadgen.pickles");
    let mut out = Vec::new();
    while let Some((len, rest)) = all.split_first_chunk::<4>() {
        let (body, rest) = rest.split_at(u32::from_le_bytes(*len) as usize);
        out.push(body);
        all = rest;
    }
    out
}

/// The seven records of the tutorial's example, as its handler sends them.
pub(super) fn tutorial_bodies() -> Vec<Vec<u8>> {
    const U: &str = "e252a11f-d33d-483d-ba08-bc8f642b2f10";
    [
        ("0@U", "toplevel"),
        ("1@U", "into task"),
        ("0@U/1", "subtask"),
        ("1@U/1", "into task"),
        ("2@U/1", "subtask done"),
        ("2@U", "toplevel"),
    ]
    .iter()
    .map(|(k, m)| tutorial_body(&k.replace('U', U), m).into_bytes())
    .chain([tutorial_body("", "all done")
        .replace(r#"{"key": "", "user": "leo"}"#, "null")
        .into_bytes()])
    .collect()
}

/// Nanoseconds per call of `f` over `bodies`, best of a few rounds.
fn ns_per_record(bodies: &[&[u8]], f: impl Fn(&[u8]) -> Result<Record, DecodeError>) -> f64 {
    let rounds = (200_000 / bodies.len()).max(1);
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..rounds {
            for b in bodies {
                black_box(f(black_box(b)).expect("fixture decodes"));
            }
        }
        let ns = start.elapsed().as_nanos() as f64 / (rounds * bodies.len()) as f64;
        best = best.min(ns);
    }
    best
}

#[test]
#[ignore = "a benchmark: run in release mode with --ignored --nocapture"]
fn decoding_speed_in_ns_per_record() {
    let limits = Limits::default();
    let plp = Topic::new(System::Production, Kind::Log, Encoding::Pickle);
    let json = loadgen_json();
    let tutorial = tutorial_bodies();
    let tutorial: Vec<&[u8]> = tutorial.iter().map(Vec::as_slice).collect();
    let pickles = loadgen_pickles();
    let avg = |b: &[&[u8]]| b.iter().map(|x| x.len()).sum::<usize>() / b.len();
    // The serde_json path is what `decode` did before the scanner; timing
    // both in one run gives a ratio that a loaded machine distorts less.
    let serde_pickle = |b: &[u8]| {
        let text = pickle::to_json_text(b, &limits)?;
        let mut r = to_record(plp, &fields::by_serde(&text, limits.max_depth)?);
        r.body = text;
        Ok(r)
    };
    for (name, bodies) in [("loadgen JSON", &json), ("tutorial JSON", &tutorial)] {
        let before = ns_per_record(bodies, |b| decode_by_serde(b, &limits));
        let after = ns_per_record(bodies, |b| decode(plj(), b, &limits));
        report(name, bodies, before, after, avg(bodies));
    }
    let before = ns_per_record(&pickles, serde_pickle);
    let after = ns_per_record(&pickles, |b| decode(plp, b, &limits));
    report("loadgen pickle", &pickles, before, after, avg(&pickles));
}

fn report(name: &str, bodies: &[&[u8]], before: f64, after: f64, avg: usize) {
    println!(
        "{name:>15}: serde_json path {before:6.0} ns/record, scanner {after:6.0} ns/record \
         ({:.1}x; {} bodies, {avg} bytes on average)",
        before / after,
        bodies.len(),
    );
}
