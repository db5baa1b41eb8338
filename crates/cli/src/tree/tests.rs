use serde_json::{json, Value};

use super::{tree, TreeOptions};
use crate::render::Paint;

const PLAIN: Paint = Paint { color: false };

fn record(key: &str, seq: i64, event: Option<&str>, message: &str) -> Value {
    let (levelno, levelname) = if event == Some("fail") {
        (40, "ERROR")
    } else {
        (20, "INFO")
    };
    json!({"type": "record", "key": key, "seq": seq, "event": event, "message": message,
           "levelno": levelno, "levelname": levelname, "created": 1524085399.148})
}

fn scope(id: &str, message: &str, status: &str, entries: Vec<Value>) -> Value {
    let path = id.find('/').map_or("", |i| &id[i..]);
    json!({"type": "scope", "id": id, "path": path, "message": message, "status": status,
           "duration": 0.002, "entries": entries})
}

/// payment (succeeded) → charge card (failed, caught), and → receipt
/// (succeeded) → render (succeeded).
fn caught_failure() -> Value {
    let mut fail = record("2@R/1", 2, Some("fail"), "charge card");
    fail["exc_text"] = json!(
        "Traceback (most recent call last):\n  File \"pay.py\", line 3, in <module>\n\
         KeyError: 'card'"
    );
    let charge = scope(
        "R/1",
        "charge card",
        "failed",
        vec![
            record("0@R/1", 0, Some("open"), "charge card"),
            record("1@R/1", 1, None, "asking the bank"),
            fail,
        ],
    );
    let render = scope(
        "R/2/1",
        "render",
        "succeeded",
        vec![
            record("0@R/2/1", 0, Some("open"), "render"),
            record("1@R/2/1", 1, Some("close"), "render"),
        ],
    );
    let receipt = scope(
        "R/2",
        "receipt",
        "succeeded",
        vec![
            record("0@R/2", 0, Some("open"), "receipt"),
            render,
            record("1@R/2", 1, Some("close"), "receipt"),
        ],
    );
    let root = scope(
        "R",
        "payment",
        "succeeded",
        vec![
            record("0@R", 0, Some("open"), "payment"),
            charge,
            receipt,
            record("1@R", 1, Some("close"), "payment"),
        ],
    );
    json!({"root": "R", "records": 9, "scope": root})
}

fn shown(t: &Value, o: TreeOptions) -> Vec<String> {
    let mut out = Vec::new();
    tree(&mut out, t, PLAIN, o).expect("render");
    String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_failure_line_names_the_exception() {
    let lines = shown(&caught_failure(), TreeOptions::default());
    let fail = lines
        .iter()
        .find(|l| l.contains("✗ charge card"))
        .expect("failure line");
    assert!(
        fail.ends_with("ERROR   ✗ charge card  KeyError: 'card'"),
        "{fail}"
    );
}

#[test]
fn a_succeeded_scope_with_a_failed_one_inside_says_so() {
    let lines = shown(&caught_failure(), TreeOptions::default());
    assert!(
        lines[0].starts_with("payment  ✓ succeeded  ⚠ 1 failed inside"),
        "{}",
        lines[0]
    );
}

#[test]
fn depth_folds_deeper_scopes_into_one_line_with_their_counts() {
    let lines = shown(
        &caught_failure(),
        TreeOptions {
            depth: Some(0),
            errors: false,
        },
    );
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines[1].starts_with("├─ charge card  ✗ failed"),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with("⋯ 3 records folded"), "{}", lines[1]);
    assert!(
        lines[2].starts_with("├─ receipt  ✓ succeeded"),
        "{}",
        lines[2]
    );
    assert!(
        lines[2].ends_with("⋯ 4 records, 1 subtask folded"),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains("✓ payment"), "{}", lines[3]);

    let lines = shown(
        &caught_failure(),
        TreeOptions {
            depth: Some(1),
            errors: false,
        },
    );
    let render = lines
        .iter()
        .find(|l| l.contains("render  ✓ succeeded"))
        .expect("render");
    assert!(render.ends_with("⋯ 2 records folded"), "{render}");
    assert!(!lines.iter().any(|l| l.contains("✓ render")), "{lines:#?}");
}

#[test]
fn errors_keeps_only_the_paths_to_failures() {
    let lines = shown(
        &caught_failure(),
        TreeOptions {
            depth: None,
            errors: true,
        },
    );
    assert!(
        lines[0].starts_with("payment  ✓ succeeded  ⚠ 1 failed inside"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("└─ charge card  ✗ failed"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("   └─ ") && lines[2].contains("KeyError: 'card'"),
        "{}",
        lines[2]
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("receipt") || l.contains("asking the bank")),
        "{lines:#?}"
    );
}

#[test]
fn errors_on_a_clean_task_says_there_are_none() {
    let mut t = caught_failure();
    t["scope"]["entries"]
        .as_array_mut()
        .expect("entries")
        .remove(1);
    let lines = shown(
        &t,
        TreeOptions {
            depth: None,
            errors: true,
        },
    );
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with("payment  ✓ succeeded  2.0 ms"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "no failed scopes or failure records in this task");
}
