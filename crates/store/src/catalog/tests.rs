use distlog_proto::{decode, Limits, Topic};

use super::*;
use crate::entry::{decode as decode_entry, encode};

fn payload(id: u64, key: &str, event: &str) -> Vec<u8> {
    let body = format!(
        r#"{{"message": "m", "created": 1.0, "hostname": "h", "process": 1,
        "scope_event": "{event}", "context": {{"key": "{key}"}}}}"#
    );
    let r = decode(
        Topic::parse(b"PLJ").expect("topic"),
        body.as_bytes(),
        &Limits::default(),
    )
    .expect("record");
    let mut out = Vec::new();
    encode(&r, id, 2.0, &mut out);
    out
}

fn catalog() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = connect(&dir.path().join("catalog.db")).expect("connect");
    prepare(&conn, dir.path()).expect("prepare");
    (dir, Catalog::new(conn))
}

#[test]
fn a_batch_replayed_after_a_crash_is_not_counted_twice() {
    let (_dir, mut c) = catalog();
    let payloads = [payload(1, "0@r", "open"), payload(2, "1@r", "close")];
    let entries: Vec<_> = payloads
        .iter()
        .map(|p| decode_entry(p).expect("entry"))
        .collect();
    let first = c.apply(&entries, &[]).expect("apply");
    let again = c.apply(&entries, &[]).expect("replay");
    assert_eq!(first, again, "the same task ids");
    assert_ne!(first[0], 0);
    let records: i64 = c
        .conn
        .query_row("SELECT records FROM tasks WHERE root = 'r'", [], |r| {
            r.get(0)
        })
        .expect("task");
    assert_eq!(records, 2);
    assert_eq!(c.meta("tasks_through").expect("meta"), 2);
}

#[test]
fn another_programs_sqlite_file_is_refused_as_a_catalogue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.db");
    let conn = Connection::open(&path).expect("open");
    conn.execute_batch("CREATE TABLE invoices (n INTEGER);")
        .expect("table");
    let err = prepare(&conn, dir.path()).expect_err("refused");
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
}
