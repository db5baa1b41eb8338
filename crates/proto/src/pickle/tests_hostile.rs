//! Pickles written to attack the decoder: code, depth, cycles, expansion.
//! Deep inputs run on the default test thread's stack on purpose.

use std::time::{Duration, Instant};

use super::opcodes;
use super::tests::{decode, rejection};
use crate::{DecodeError, Limits};

const TOO_DEEP: DecodeError = DecodeError::TooDeep { limit: 128 };

fn repeat(parts: &[(&[u8], usize)]) -> Vec<u8> {
    parts
        .iter()
        .flat_map(|(bytes, n)| bytes.repeat(*n))
        .collect()
}

#[test]
fn os_system_through_global_and_reduce_is_refused_naming_global() {
    let msg = rejection(b"cos\nsystem\n(S'echo pwned'\ntR.");
    assert_eq!(
        msg,
        "opcode GLOBAL (0x63) at offset 0 is not allowed: globals would run code"
    );
}

#[test]
fn os_system_through_stack_global_at_protocol_4_is_refused_naming_it() {
    let msg = rejection(
        b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x0aecho pwned\x94\x85\x94R\x94.",
    );
    assert!(
        msg.starts_with("opcode STACK_GLOBAL (0x93) at offset 16 is not allowed"),
        "{msg}"
    );
}

#[test]
fn every_code_running_or_external_opcode_is_refused_by_name() {
    let refused = [
        "GLOBAL",
        "STACK_GLOBAL",
        "INST",
        "OBJ",
        "REDUCE",
        "BUILD",
        "NEWOBJ",
        "NEWOBJ_EX",
        "EXT1",
        "EXT2",
        "EXT4",
        "PERSID",
        "BINPERSID",
        "NEXT_BUFFER",
        "READONLY_BUFFER",
    ];
    let mut named = Vec::new();
    for op in 0..=255u8 {
        if opcodes::forbidden(op).is_none() {
            continue;
        }
        let msg = rejection(&[0x80, 5, b'N', op]);
        let name = opcodes::name(op);
        assert!(
            msg.starts_with(&format!(
                "opcode {name} (0x{op:02x}) at offset 3 is not allowed: "
            )),
            "{msg}"
        );
        named.push(name);
    }
    named.sort_unstable();
    let mut expected = refused.to_vec();
    expected.sort_unstable();
    assert_eq!(named, expected);
}

#[test]
fn unknown_opcodes_are_refused_with_their_byte_and_offset() {
    for op in (0..=255u8).filter(|&op| opcodes::name(op) == "unknown") {
        assert_eq!(
            rejection(&[b'N', op]),
            format!("unknown opcode 0x{op:02x} at offset 1")
        );
    }
}

#[test]
fn a_hundred_thousand_nested_lists_are_too_deep_not_a_stack_overflow() {
    let input = repeat(&[(b"]", 1), (b"(]", 100_000), (b"e", 100_000), (b".", 1)]);
    assert_eq!(decode(&input), Err(TOO_DEEP));
}

#[test]
fn a_hundred_thousand_nested_tuples_and_dicts_are_too_deep() {
    let tuples = repeat(&[(b"(", 100_000), (b"t", 100_000), (b".", 1)]);
    assert_eq!(decode(&tuples), Err(TOO_DEEP));
    let dicts = repeat(&[(b"}", 1), (b"(K\x00}", 60_000), (b"u", 60_000), (b".", 1)]);
    assert_eq!(decode(&dicts), Err(TOO_DEEP));
}

#[test]
fn a_hundred_thousand_marks_with_nothing_to_stop_on_are_rejected() {
    let marks = repeat(&[(b"(", 100_000), (b".", 1)]);
    assert!(rejection(&marks).contains("stack underflow"));
}

#[test]
fn nesting_of_exactly_the_limit_is_accepted() {
    let at_limit = repeat(&[(b"]", 1), (b"(]", 127), (b"e", 127), (b".", 1)]);
    assert!(decode(&at_limit).is_ok());
    let over = repeat(&[(b"]", 1), (b"(]", 128), (b"e", 128), (b".", 1)]);
    assert_eq!(decode(&over), Err(TOO_DEEP));
}

#[test]
fn a_list_appended_to_itself_is_a_cycle() {
    assert!(rejection(b"\x80\x02]q\x00h\x00a.").starts_with("cycle"));
}

#[test]
fn a_dict_holding_itself_deep_inside_is_a_cycle() {
    let msg = rejection(b"\x80\x02}q\x00X\x02\x00\x00\x00me]]h\x00\x85aas.");
    assert!(msg.starts_with("cycle"), "{msg}");
}

#[test]
fn a_billion_laughs_memo_bomb_is_too_large_at_once() {
    // Level i+1 is a list of two references to level i: 2^40 leaves.
    let mut input = b"\x80\x02]q\x000".to_vec();
    for level in 0..40u8 {
        input.extend_from_slice(&[b'(', b'h', level, b'h', level, b'l', b'q', level + 1, b'0']);
    }
    input.extend_from_slice(b"h\x28.");
    let start = Instant::now();
    assert_eq!(
        decode(&input),
        Err(DecodeError::TooManyValues { limit: 200_000 })
    );
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn one_string_referenced_a_hundred_thousand_times_is_too_large() {
    let mut input = b"X\xe8\x03\x00\x00".to_vec();
    input.extend_from_slice(&[b'a'; 1000]);
    input.extend_from_slice(b"q\x000](");
    input.extend_from_slice(&b"h\x00".repeat(100_000));
    input.extend_from_slice(b"e.");
    match decode(&input) {
        Err(DecodeError::TooLarge { limit, .. }) => assert_eq!(limit, 1 << 20),
        other => panic!("expected too_large, got {other:?}"),
    }
}

#[test]
fn more_values_than_max_nodes_are_too_large_even_unshared() {
    let input = repeat(&[(b"(", 1), (b"N", 200_001), (b"l.", 1)]);
    assert_eq!(
        decode(&input),
        Err(DecodeError::TooManyValues { limit: 200_000 })
    );
    let small = Limits {
        max_nodes: 10,
        ..Limits::default()
    };
    assert!(super::to_json(b"(NNNNNl.", &small).is_ok());
    let shared = b"\x80\x02(NNNNlq\x00h\x00h\x00\x87.";
    assert!(matches!(
        super::to_json(shared, &small),
        Err(DecodeError::TooManyValues { .. })
    ));
}

#[test]
fn huge_declared_lengths_are_truncation_not_allocation() {
    assert!(rejection(b"\x8d\xff\xff\xff\xff\xff\xff\xff\x7f").contains("truncated"));
    assert!(rejection(b"\x8e\xff\xff\xff\xff\xff\xff\xff\xff").contains("truncated"));
    assert!(rejection(b"\x80\x05\x96\x00\x00\x00\x00\x01\x00\x00\x00x.").contains("truncated"));
    assert!(rejection(b"X\xff\xff\xff\xffabc.").contains("needs 4294967295 bytes, 4 left"));
    assert!(rejection(b"\x8b\xff\xff\xff\x7f").contains("over the limit"));
}
