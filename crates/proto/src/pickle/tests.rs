//! What each data opcode builds, and how misuse of the machine is reported.

use serde_json::{json, Value};

use crate::{DecodeError, Limits};

/// The decoder's own tests run at a depth limit of 128, the deepest that
/// serde_json itself allows, to exercise the limit at its edge; the daemon's
/// default (`Limits::default()`) is lower.
pub(super) fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    let limits = Limits {
        max_depth: 128,
        ..Limits::default()
    };
    super::to_json(input, &limits)
}

/// The message of a `BadPickle` rejection; fails the test on anything else.
pub(super) fn rejection(input: &[u8]) -> String {
    match decode(input) {
        Err(DecodeError::BadPickle(msg)) => msg,
        other => panic!("expected bad_pickle for {input:?}, got {other:?}"),
    }
}

fn ok(input: &[u8]) -> Value {
    decode(input).unwrap_or_else(|e| panic!("{input:?} should decode: {e}"))
}

#[test]
fn protocol_0_ints_00_and_01_are_bools() {
    assert_eq!(
        ok(b"(lp0\nI01\naI00\naI5\naI-7\na."),
        json!([true, false, 5, -7])
    );
}

#[test]
fn ints_are_numbers_within_i64_and_digit_strings_beyond() {
    assert_eq!(
        ok(b"L1180591620717411303424L\n."),
        json!("1180591620717411303424")
    );
    assert_eq!(ok(b"L-5L\n."), json!(-5));
    assert_eq!(ok(b"I-0009223372036854775808\n."), json!(i64::MIN));
    assert_eq!(ok(b"I9223372036854775808\n."), json!("9223372036854775808"));
    let long1 = |bytes: &[u8]| {
        let mut p = vec![0x80, 2, 0x8a, bytes.len() as u8];
        p.extend_from_slice(bytes);
        p.push(b'.');
        ok(&p)
    };
    assert_eq!(long1(&[]), json!(0));
    assert_eq!(
        long1(&[0xff; 16]),
        json!(-1),
        "sign padding is not a big int"
    );
    assert_eq!(
        long1(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
        json!(i64::MAX)
    );
    assert_eq!(
        long1(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]),
        json!("9223372036854775808")
    );
    assert_eq!(long1(&[0, 0, 0, 0, 0, 0, 0, 0x80]), json!(i64::MIN));
    assert_eq!(
        long1(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff]),
        json!("-9223372036854775809")
    );
    let mut p100 = [0u8; 13];
    p100[12] = 0x10;
    assert_eq!(long1(&p100), json!("1267650600228229401496703205376"));
}

#[test]
fn ints_longer_than_python_would_print_are_refused() {
    let mut long4 = vec![0x8b];
    long4.extend_from_slice(&1786i32.to_le_bytes());
    long4.extend(std::iter::repeat_n(0x11, 1786));
    long4.push(b'.');
    assert!(rejection(&long4).contains("over the limit of 1785"));
    let digits = format!("I{}\n.", "9".repeat(4301));
    assert!(rejection(digits.as_bytes()).contains("4301 digits"));
}

#[test]
fn the_longest_int_allowed_converts_to_at_most_4300_digits() {
    let mut long4 = vec![0x8b];
    long4.extend_from_slice(&1785i32.to_le_bytes());
    long4.extend(std::iter::repeat_n(0xff, 1784));
    long4.extend_from_slice(&[0x7f, b'.']);
    let value = ok(&long4);
    let digits = value.as_str().expect("a digit string");
    assert!(
        (4290..=4300).contains(&digits.len()),
        "{} digits",
        digits.len()
    );
}

#[test]
fn floats_in_text_and_binary_with_non_finite_values_as_strings() {
    assert_eq!(
        ok(b"(lF1.5\naFnan\naFinf\naF-inf\naF-0.0\na."),
        json!([1.5, "NaN", "Infinity", "-Infinity", -0.0])
    );
    assert_eq!(ok(b"G\x7f\xf8\x00\x00\x00\x00\x00\x00."), json!("NaN"));
    assert!(rejection(b"F1.5x\n.").contains("not a float"));
}

#[test]
fn python_2_strings_are_utf8_when_valid_else_latin1() {
    assert_eq!(ok(b"U\x02\xc3\xa9."), json!("é"));
    assert_eq!(ok(b"U\x01\xe9."), json!("é"));
    assert_eq!(ok(b"T\x03\x00\x00\x00abc."), json!("abc"));
    assert_eq!(
        ok(b"S'a\\nb\\x41\\101\\\\q\\'\\z'\n."),
        json!("a\nbAA\\q'\\z")
    );
    assert_eq!(ok(b"S\"it's\"\n."), json!("it's"));
    assert!(rejection(b"S'unclosed\n.").contains("quoted"));
    assert!(rejection(b"S'bad\\x4'\n.").contains("\\x escape"));
    assert!(rejection(b"T\xff\xff\xff\xff.").contains("negative length"));
}

#[test]
fn protocol_0_unicode_is_raw_unicode_escape() {
    assert_eq!(
        ok(b"Va\\u000ab\xe9\\U0001F680\\x\\\\u0041\n."),
        json!("a\nb\u{e9}\u{1f680}\\x\\\\u0041")
    );
    assert_eq!(ok(b"Va\\udc80b\n."), json!("a\u{fffd}b"));
    assert!(rejection(b"V\\U00110000\n.").contains("past U+10FFFF"));
    assert!(rejection(b"V\\u12\n.").contains("truncated"));
    assert!(rejection(b"V\\u12zz\n.").contains("hex digit"));
}

#[test]
fn a_lone_surrogate_in_binunicode_reads_as_a_replacement_character() {
    // pickle.dumps('a\udc80b', 3): CPython writes the surrogate as ED B2 80.
    assert_eq!(
        ok(b"\x80\x03X\x05\x00\x00\x00a\xed\xb2\x80b."),
        json!("a\u{fffd}\u{fffd}\u{fffd}b")
    );
}

#[test]
fn a_list_memoized_before_filling_is_the_filled_list_when_fetched() {
    assert_eq!(
        ok(b"\x80\x02]q\x00(K\x01K\x02eh\x00\x86q\x01."),
        json!([[1, 2], [1, 2]])
    );
    assert_eq!(
        ok(b"\x80\x04\x8c\x01a\x94]\x94(h\x00e\x86."),
        json!(["a", ["a"]])
    );
    assert_eq!(ok(b"(lp0\nVx\np1\nag1\na."), json!(["x", "x"]));
}

#[test]
fn memo_keys_far_beyond_the_input_still_work() {
    assert_eq!(
        ok(b"\x80\x02Nr\xff\xff\xff\xffj\xff\xff\xff\xff\x86."),
        json!([null, null])
    );
    assert_eq!(
        ok(b"(Vx\np99999999999\ng99999999999\nt."),
        json!(["x", "x"])
    );
    assert!(rejection(b"\x80\x02h\x05.").contains("memo key 5 not found"));
    assert!(rejection(b"Np-1\n.").contains("memo key is not a decimal"));
}

#[test]
fn pop_dup_and_pop_mark_move_the_stack_as_in_cpython() {
    assert_eq!(ok(b"(0N."), json!(null), "POP takes a mark off the top");
    assert_eq!(ok(b"K\x01(NN1."), json!(1));
    assert_eq!(ok(b"\x80\x02N2\x86."), json!([null, null]));
}

#[test]
fn stack_underflow_and_mark_misuse_are_rejected() {
    assert!(rejection(b"a.").contains("stack underflow"));
    assert!(rejection(b".").contains("STOP (0x2e) at offset 0: stack underflow"));
    assert!(rejection(b"N(2.").contains("DUP (0x32) at offset 2: stack underflow"));
    assert!(rejection(b"]N(a.").contains("stack underflow"));
    assert!(rejection(b"\x80\x02N(\x86.").contains("stack underflow"));
    assert!(rejection(b"]e.").contains("no MARK"));
    assert!(rejection(b"(Ne.").contains("nothing below the MARK"));
    assert!(rejection(b"(Nd.").contains("odd number of items"));
    assert!(rejection(b"}(Nu.").contains("odd number of items"));
}

#[test]
fn items_go_only_into_containers_of_the_right_kind() {
    assert!(rejection(b")Na.").contains("cannot add items to a tuple"));
    assert!(rejection(b"\x80\x04(\x91(N\x90.").contains("cannot add items to a frozenset"));
    assert!(rejection(b"]NNs.").contains("cannot add items to a list"));
    assert!(rejection(b"N(Ne.").contains("cannot add items to None"));
    assert_eq!(ok(b"\x80\x04\x8f(K\x01K\x02\x90."), json!([1, 2]));
}

#[test]
fn stop_must_end_the_input_and_leave_one_value() {
    assert!(rejection(b"N.N").contains("1 bytes of trailing data after STOP at offset 1"));
    assert!(rejection(b"NN.").contains("1 values and 0 marks left"));
    assert!(rejection(b"(N.").contains("0 values and 1 marks left"));
    assert!(rejection(b"N").contains("ends at offset 1 without STOP"));
    assert!(rejection(b"").contains("ends at offset 0 without STOP"));
}

#[test]
fn protocol_and_frame_headers_are_checked() {
    assert!(rejection(b"\x80\x06N.").contains("unsupported protocol 6"));
    assert_eq!(
        ok(b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N."),
        json!(null)
    );
    assert!(rejection(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00N.").contains("truncated"));
}

#[test]
fn dict_keys_become_text_and_a_repeated_key_keeps_the_last_value() {
    assert_eq!(
        ok(b"\x80\x04}(\x8c\x01aK\x01\x8c\x01aK\x02u."),
        json!({"a": 2})
    );
    let keys = b"\x80\x03}(G\x7f\xf0\x00\x00\x00\x00\x00\x00K\x01C\x01kK\x02\x88K\x03N\x85K\x04u.";
    assert_eq!(
        ok(keys),
        json!({"Infinity": 1, "{\"$bytes\":\"aw==\"}": 2, "true": 3, "[null]": 4})
    );
}

#[test]
fn a_pickled_tutorial_record_decodes_into_a_record() {
    use crate::{decode as decode_message, Topic};
    let fixture = super::tests_fixtures::tutorial(2);
    let topic = Topic::parse(b"PLP").expect("topic");
    let record = decode_message(topic, fixture, &Limits::default()).expect("decodes");
    assert_eq!(record.logger, "root");
    assert_eq!(record.levelname, "INFO");
    assert_eq!(record.process, Some(6156));
    assert!(record.message.starts_with("toplevel\nsecond line"));
    let key = record.key.expect("context.key");
    assert_eq!(key.seq, 0);
    let body: Value = serde_json::from_str(&record.body).expect("JSON body");
    assert_eq!(body["context"]["user"], "léo");
}
