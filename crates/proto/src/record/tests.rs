use super::*;
use crate::{Kind, System};
use serde_json::Value;

const U: &str = "e252a11f-d33d-483d-ba08-bc8f642b2f10";

pub(super) fn plj() -> Topic {
    Topic::new(System::Production, Kind::Log, Encoding::Json)
}

pub(super) fn tutorial_body(key: &str, message: &str) -> String {
    format!(
        r#"{{"context": {{"key": "{key}", "user": "leo"}}, "filename": "example.py",
        "funcName": "main", "stack_info": null, "args": null, "process": 6156,
        "hostname": "obelix", "msecs": 148.06, "message": "{message}", "name": "root",
        "module": "example", "thread": 139753641113344, "msg": "{message}", "lineno": 13,
        "threadName": "MainThread", "exc_text": null, "exc_info": null, "levelno": 20,
        "asctime": "2018-04-18 23:03:19,148", "relativeCreated": 379328.7,
        "levelname": "INFO", "processName": "MainProcess", "created": 1524085399.148067,
        "pathname": "/home/leo/src/distlog/example.py", "taskName": null}}"#
    )
}

#[test]
fn a_tutorial_record_decodes_with_every_indexed_field() {
    let body = tutorial_body(&format!("0@{U}"), "toplevel");
    let r = decode(plj(), body.as_bytes(), &Limits::default()).expect("decodes");
    assert_eq!(r.logger, "root");
    assert_eq!(r.levelno, 20);
    assert_eq!(r.levelname, "INFO");
    assert_eq!(r.message, "toplevel");
    assert_eq!(r.hostname, "obelix");
    assert_eq!(r.process, Some(6156));
    assert_eq!(r.created, Some(1524085399.148067));
    assert_eq!(r.event, Some(ScopeEvent::Open), "seq 0 opens its scope");
    let key = r.key.expect("key");
    assert_eq!((key.seq, key.scope.root.as_str()), (0, U));
    // Unknown fields survive in the stored body.
    let kept: Value = serde_json::from_str(&r.body).expect("body is JSON");
    assert_eq!(kept["taskName"], Value::Null);
    assert_eq!(kept["context"]["user"], "leo");
}

#[test]
fn closing_records_carry_their_event_and_duration() {
    let body = format!(
        r#"{{"message": "subtask done", "levelno": 20, "scope_event": "close",
        "scope_duration": 0.25, "context": {{"key": "2@{U}/1", "arg": 42}}}}"#
    );
    let r = decode(plj(), body.as_bytes(), &Limits::default()).expect("decodes");
    assert_eq!(r.event, Some(ScopeEvent::Close));
    assert_eq!(r.duration, Some(0.25));
    assert_eq!(r.key.expect("key").scope.path, vec![1]);
}

#[test]
fn a_record_outside_any_scope_has_no_key() {
    let r = decode(
        plj(),
        br#"{"message": "all done", "context": null}"#,
        &Limits::default(),
    )
    .expect("decodes");
    assert!(r.key.is_none() && r.event.is_none() && r.key_error.is_none());
}

#[test]
fn a_malformed_key_keeps_the_record_unscoped() {
    let body = br#"{"message": "m", "context": {"key": "zero@"}}"#;
    let r = decode(plj(), body, &Limits::default()).expect("record kept");
    assert!(r.key.is_none());
    assert!(r.key_error.is_some());
}

#[test]
fn fields_of_the_wrong_type_lose_only_themselves() {
    let body = br#"{"message": ["not", "text"], "msg": "fallback", "levelno": "high",
        "levelname": "WARNING", "process": "x", "name": 7}"#;
    let r = decode(plj(), body, &Limits::default()).expect("record kept");
    assert_eq!(r.message, "fallback");
    assert_eq!((r.levelno, r.levelname.as_str()), (30, "WARNING"));
    assert_eq!(r.process, None);
    assert_eq!(r.logger, "");
}

#[test]
fn any_map_is_a_record() {
    let r = decode(
        plj(),
        br#"{"a": {"b": [1, 2, {"c": null}]}}"#,
        &Limits::default(),
    )
    .expect("decodes");
    assert_eq!(r.levelname, "NOTSET");
    assert_eq!(r.message, "");
}

#[test]
fn bad_json_is_rejected_with_a_specific_reason() {
    let limits = Limits::default();
    let cases: [(&[u8], &str); 8] = [
        (b"", "invalid_json"),
        (b"{\"a\": ", "invalid_json"),
        (b"\xff\xfe{}", "invalid_json"),
        (b"[1, 2]", "not_a_map"),
        (b"\"text\"", "not_a_map"),
        (b"42", "not_a_map"),
        (b"null", "not_a_map"),
        (b"{\"a\": 1} trailing", "invalid_json"),
    ];
    for (body, reason) in cases {
        let err = decode(plj(), body, &limits).expect_err("must be rejected");
        assert_eq!(err.reason(), reason, "{body:?}: {err}");
    }
}

#[test]
fn deeply_nested_json_is_rejected_without_overflowing_the_stack() {
    let depth = 100_000;
    let body = format!("{{\"a\": {}{}}}", "[".repeat(depth), "]".repeat(depth));
    let err = decode(plj(), body.as_bytes(), &Limits::default()).expect_err("too deep");
    assert_eq!(err.reason(), "too_deep");
    // Brackets inside strings do not count.
    let body = format!("{{\"a\": \"{}\"}}", "[".repeat(depth));
    decode(plj(), body.as_bytes(), &Limits::default()).expect("a string is flat");
}

#[test]
fn depth_is_measured_not_guessed_from_the_number_of_brackets() {
    let limits = Limits {
        max_depth: 4,
        ..Limits::default()
    };
    // Many siblings, each shallow: more openers than the limit, depth 2.
    let flat = format!("{{\"args\": [{}]}}", ["{}"; 10].join(","));
    decode(plj(), flat.as_bytes(), &limits).expect("shallow siblings pass");
    let at_limit = "{\"a\": [[[1]]]}";
    decode(plj(), at_limit.as_bytes(), &limits).expect("depth 4 passes a limit of 4");
    let over = "{\"a\": [[[[1]]]], \"b\": 1}";
    let err = decode(plj(), over.as_bytes(), &limits).expect_err("depth 5");
    assert_eq!(err.reason(), "too_deep");
}

#[test]
fn oversized_bodies_are_rejected_before_parsing() {
    let limits = Limits {
        max_body: 64,
        ..Limits::default()
    };
    let body = format!("{{\"message\": \"{}\"}}", "x".repeat(100));
    let err = decode(plj(), body.as_bytes(), &limits).expect_err("too large");
    assert_eq!(err.reason(), "too_large");
}

#[test]
fn a_repeated_field_is_legal_json_and_the_last_one_wins() {
    let r = decode(
        plj(),
        br#"{"levelno": 10, "levelno": 40, "message": "m"}"#,
        &Limits::default(),
    )
    .expect("duplicates are legal JSON");
    assert_eq!(r.levelno, 40);
}

fn event_of(scope_event: Option<&str>, seq: u64) -> Option<ScopeEvent> {
    let marker = scope_event.map_or(String::new(), |e| format!(r#""scope_event": {e}, "#));
    let body = format!(
        r#"{{{marker}"levelno": 30, "message": "disk almost full", "context": {{"key": "{seq}@{U}"}}}}"#
    );
    decode(plj(), body.as_bytes(), &Limits::default())
        .expect("decodes")
        .event
}

#[test]
fn a_record_that_carries_scope_event_is_never_taken_for_an_opening_by_its_seq() {
    for marker in ["null", r#""warning""#, "5", r#""OPEN""#, "{}"] {
        assert_eq!(event_of(Some(marker), 0), None, "scope_event {marker}");
    }
    assert_eq!(event_of(Some(r#""close""#), 0), Some(ScopeEvent::Close));
    assert_eq!(event_of(Some(r#""fail""#), 0), Some(ScopeEvent::Fail));
}

#[test]
fn only_a_record_without_scope_event_opens_its_scope_by_seq_0() {
    assert_eq!(event_of(None, 0), Some(ScopeEvent::Open));
    assert_eq!(event_of(None, 1), None);
    assert_eq!(event_of(Some(r#""open""#), 3), Some(ScopeEvent::Open));
}

#[test]
fn the_spans_of_context_and_exc_text_point_at_their_values_in_the_body() {
    let body = br#"{"msg": "m", "context" : {"key": "0@abc", "user": "ann"} , "exc_text":"Traceback\n  x"}"#;
    let r = decode(plj(), body, &Limits::default()).expect("decodes");
    let at = |s: Option<(u32, u32)>| s.map(|(a, b)| &r.body[a as usize..b as usize]);
    assert_eq!(
        at(r.context_span),
        Some(r#"{"key": "0@abc", "user": "ann"}"#)
    );
    assert_eq!(at(r.exc_text_span), Some(r#""Traceback\n  x""#));
    let plain = decode(
        plj(),
        br#"{"msg": "m", "exc_text": null}"#,
        &Limits::default(),
    )
    .expect("decodes");
    assert_eq!(plain.context_span, None);
    assert_eq!(
        plain
            .exc_text_span
            .map(|(a, b)| &plain.body[a as usize..b as usize]),
        Some("null")
    );
}
