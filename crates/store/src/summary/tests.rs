use super::*;

/// The identity of the segment these summaries are for.
const OF: (u64, u64) = (4096, 8);
/// A byte of the directory (after the 36-byte header).
const HEADER_OF_DIR: usize = 40;

fn rec<'a>(id: u64, scope: &'a str, seq: u64, levelno: i64, event: bool) -> Rec<'a> {
    Rec {
        id,
        scope,
        seq,
        levelno,
        host: "obelix",
        process: Some(if scope == "/2" { 99 } else { 7 }),
        event,
    }
}

/// A store folder with a `segments/` file name to hang a summary on.
fn segment_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let seg = dir.path().join("segments");
    std::fs::create_dir_all(&seg).expect("mkdir");
    seg.join("00000000000000000001-00000000000000000009.seg")
}

fn sample() -> Vec<u8> {
    let mut b = Builder::default();
    // Task 0 (records outside any task) is left out.
    b.push(0, 0, &rec(1, "", 0, 20, false), b"zero");
    b.push(3, 0, &rec(2, "", 0, 20, true), b"root-open");
    b.push(3, 0, &rec(3, "", 1, 40, false), b"root-error");
    b.push(3, 1, &rec(4, "/1", 5, 20, false), b"one-first");
    b.push(3, 1, &rec(5, "/1", 6, 20, false), b"one-second");
    b.push(3, 2, &rec(6, "/1", 7, 20, true), b"one-close");
    b.push(3, 2, &rec(7, "/2", 0, 40, true), b"two-fail");
    b.push(8, 3, &rec(8, "", 0, 20, false), b"other-task");
    b.finish(OF)
}

#[test]
fn a_summary_gives_back_each_scopes_blocks_counts_and_kept_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = segment_path(&dir);
    let index = install(&seg, OF, &sample()).expect("install");
    let table = index.table(3, 4).expect("read").expect("task 3");
    assert_eq!(
        table.processes,
        vec![("obelix".to_owned(), 7), ("obelix".to_owned(), 99)]
    );
    let scopes: Vec<_> = table
        .scopes
        .iter()
        .map(|s| {
            (
                s.scope.as_str(),
                s.first_block,
                s.last_block,
                s.records,
                s.errors,
            )
        })
        .collect();
    assert_eq!(
        scopes,
        vec![("", 0, 0, 2, 1), ("/1", 1, 2, 3, 0), ("/2", 2, 2, 1, 1)]
    );
    // Events, and each scope's first record once.
    let area = index.area(3).expect("area");
    let kept: Vec<&[u8]> = payloads(&area).collect();
    assert_eq!(
        kept,
        vec![&b"root-open"[..], b"one-close", b"one-first", b"two-fail"]
    );
    assert!(index.table(0, 4).expect("read").is_none());
    assert!(index.table(5, 4).expect("read").is_none());
    assert_eq!(
        index
            .table(8, 4)
            .expect("read")
            .expect("task 8")
            .scopes
            .len(),
        1
    );
    // Opened again from disk, as a restart does.
    let again = ScopeIndex::open(&seg, OF).expect("open").expect("there");
    assert_eq!(again.table(3, 4).expect("read"), Some(table));
}

#[test]
fn a_damaged_or_foreign_summary_is_refused_not_believed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = segment_path(&dir);
    let bytes = sample();
    let index = install(&seg, OF, &bytes).expect("install");
    // Block numbers past the segment's end: not this segment's summary.
    let err = index.table(3, 2).expect_err("too few blocks");
    assert!(
        err.to_string()
            .contains("blocks 1..=2 of a 2-block segment"),
        "{err}"
    );
    // A flipped byte in a task's area fails that area's checksum.
    let mut bad = bytes.clone();
    let last = bad.len() - 3;
    bad[last] ^= 0xff;
    let index = install(&seg, OF, &bad).expect("install");
    assert!(index.table(3, 4).is_ok());
    let err = index.area(8).expect_err("damaged");
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    // A damaged directory, or a file cut short, fails at open.
    let mut bad = bytes.clone();
    bad[HEADER_OF_DIR] ^= 0xff;
    write(&seg, &bad).expect("write");
    assert!(ScopeIndex::open(&seg, OF).is_err());
    write(&seg, &bytes[..30]).expect("write");
    assert!(ScopeIndex::open(&seg, OF).is_err());
    write(&seg, b"DLSEGMT\0 not a summary at all").expect("write");
    assert!(ScopeIndex::open(&seg, OF).is_err());
    // A summary made for another segment of the same name.
    write(&seg, &bytes).expect("write");
    let err = ScopeIndex::open(&seg, (4097, 8)).expect_err("another segment's");
    assert!(
        err.to_string().contains("made for a segment of 4096 bytes"),
        "{err}"
    );
    // None at all is no error: an older build's segment.
    remove_for(&seg);
    assert!(ScopeIndex::open(&seg, OF).expect("open").is_none());
}

#[test]
fn a_scopes_least_record_is_kept_whatever_order_its_records_come_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = segment_path(&dir);
    let mut b = Builder::default();
    b.push(3, 0, &rec(9, "/1", 4, 20, false), b"later");
    b.push(3, 0, &rec(8, "/1", 2, 20, false), b"least");
    b.push(3, 0, &rec(10, "/1", 3, 20, false), b"between");
    let index = install(&seg, OF, &b.finish(OF)).expect("install");
    let area = index.area(3).expect("area");
    assert_eq!(payloads(&area).collect::<Vec<_>>(), vec![&b"least"[..]]);
}
