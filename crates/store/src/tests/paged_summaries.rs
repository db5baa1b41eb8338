//! The paged tree read through scope summaries: what it reads, and what it
//! does where a segment has none.

use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;

use super::paged::{check, shuffled_task};
use super::U;
use crate::{Store, StoreOptions};

/// A store with tiny blocks, so a task spans many.
fn small_blocks() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        block_bytes: 700,
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir.path().join("store"), options).expect("open");
    (dir, store)
}

fn write_in(store: &Store, parts: usize) {
    let records = shuffled_task();
    let size = records.len().div_ceil(parts);
    for chunk in records.chunks(size) {
        store
            .writer()
            .expect("w")
            .write_batch(chunk, 5.0)
            .expect("write");
        store.flush().expect("flush");
    }
}

/// Overwrites the compressed bytes of every block of every segment for
/// which `hit` says so; returns how many.
fn damage_blocks(store: &Store, hit: impl Fn(usize, usize) -> bool) -> usize {
    let view = store.inner.view.read().expect("view");
    let mut n = 0;
    for (si, s) in view.segments.iter().enumerate() {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(s.path())
            .expect("open segment");
        for (bi, m) in s.file.blocks().iter().enumerate() {
            if hit(si, bi) {
                let data = m.offset + 24 + u64::from(m.meta_len);
                file.write_all_at(&[0xa5; 8], data + 1).expect("write");
                n += 1;
            }
        }
    }
    n
}

fn json(v: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).expect("json")
}

#[test]
fn a_skeleton_from_summaries_reads_no_record_block() {
    let (_dir, store) = small_blocks();
    write_in(&store, 1);
    let reader = store.reader().expect("reader");
    let before = reader.skeleton(U, 5.0).expect("q").expect("skeleton");
    let blocks = damage_blocks(&store, |_, _| true);
    assert!(blocks > 10, "{blocks} blocks");
    let after = reader.skeleton(U, 5.0).expect("q").expect("skeleton");
    assert_eq!(json(&after), json(&before));
    assert_eq!(store.stats().corrupt_blocks, 0, "a record block was read");
    // The whole tree, which reads every block, sees the damage.
    reader.tree(U, 5.0).expect("q");
    assert!(store.stats().corrupt_blocks > 0);
}

#[test]
fn a_scope_page_reads_only_the_blocks_that_hold_its_scope() {
    let (_dir, store) = small_blocks();
    write_in(&store, 1);
    let reader = store.reader().expect("reader");
    let before = reader
        .scope_page(U, "/1/1", None, 100)
        .expect("q")
        .expect("page");
    assert_eq!(before.total, 2);
    // The blocks holding /1/1, from the segment's summary; every other
    // block is damaged.
    let (first, last) = {
        let view = store.inner.view.read().expect("view");
        let s = &view.segments[0];
        let conn = crate::catalog::connect(&store.inner.catalog_path()).expect("catalogue");
        let task = crate::catalog::task_one(&conn, U, 0.0)
            .expect("q")
            .expect("task")
            .0;
        let table = s
            .summary()
            .expect("summary")
            .table(task, s.file.blocks().len())
            .expect("table")
            .expect("task");
        let e = table
            .scopes
            .iter()
            .find(|e| e.scope == "/1/1")
            .expect("scope");
        (e.first_block as usize, e.last_block as usize)
    };
    let damaged = damage_blocks(&store, |_, b| b < first || b > last);
    assert!(damaged > 10, "{damaged} blocks");
    let after = reader
        .scope_page(U, "/1/1", None, 100)
        .expect("q")
        .expect("page");
    assert_eq!(json(&after), json(&before));
    assert_eq!(
        store.stats().corrupt_blocks,
        0,
        "a block of other scopes was read"
    );
}

#[test]
fn a_task_split_over_segments_and_memory_pages_as_its_whole_tree() {
    let (_dir, store) = small_blocks();
    let records = shuffled_task();
    let n = records.len();
    // Three segments, each holding part of most scopes, and the rest in
    // memory.
    let quarter = n.div_ceil(4);
    for (i, chunk) in records.chunks(quarter).enumerate() {
        store
            .writer()
            .expect("w")
            .write_batch(chunk, 5.0)
            .expect("write");
        if i < 3 {
            store.flush().expect("flush");
        }
    }
    {
        let view = store.inner.view.read().expect("view");
        assert_eq!(view.segments.len(), 3);
        assert!(view.segments.iter().all(|s| s.summary().is_some()));
        assert!(!view.active.is_empty());
    }
    let reader = store.reader().expect("reader");
    let whole = reader.tree(U, 5.0).expect("q").expect("tree");
    let skel = reader.skeleton(U, 5.0).expect("q").expect("skeleton");
    assert_eq!(skel.records, n);
    for limit in [1, 4, 1000] {
        assert_eq!(check(&reader, &whole.scope, &skel.scope, limit), n);
    }
}

#[test]
fn a_damaged_summary_is_passed_over_for_the_segments_blocks() {
    let (_dir, store) = small_blocks();
    write_in(&store, 2);
    let reader = store.reader().expect("reader");
    let whole = reader.tree(U, 5.0).expect("q").expect("tree");
    // Flip bytes near the end of each summary file: the last task's area
    // fails its checksum (the file is read as queries need it).
    let view = store.inner.view.read().expect("view");
    for s in &view.segments {
        let path = crate::summary::summary_path(s.path());
        let len = std::fs::metadata(&path).expect("summary").len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        f.write_all_at(&[0x5a; 4], len - 6).expect("write");
    }
    drop(view);
    let skel = reader.skeleton(U, 5.0).expect("q").expect("skeleton");
    assert_eq!(check(&reader, &whole.scope, &skel.scope, 7), whole.records);
}

#[test]
fn a_store_without_summaries_answers_the_same_and_has_them_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    let options = StoreOptions {
        block_bytes: 700,
        ..StoreOptions::default()
    };
    let expected = {
        let store = Store::open_with(&path, options.clone()).expect("open");
        write_in(&store, 2);
        let reader = store.reader().expect("reader");
        let skel = reader.skeleton(U, 5.0).expect("q").expect("skeleton");
        json(&skel)
    };
    // As a store of an older build leaves it: segments, no summaries.
    std::fs::remove_dir_all(path.join("scopes")).expect("remove summaries");
    let store = Store::open_with(&path, options).expect("reopen");
    let reader = store.reader().expect("reader");
    // The flush thread may or may not have written them yet: the answer is
    // the same either way.
    assert_eq!(
        json(&reader.skeleton(U, 5.0).expect("q").expect("skeleton")),
        expected
    );
    store.maintain().expect("maintain");
    assert_eq!(
        store
            .inner
            .counters
            .summaries_written
            .load(Ordering::Relaxed),
        2
    );
    let written = std::fs::read_dir(path.join("scopes"))
        .expect("scopes")
        .count();
    assert_eq!(written, 2);
    let view = store.inner.view.read().expect("view");
    assert!(view.segments.iter().all(|s| s.summary().is_some()));
    drop(view);
    let whole = reader.tree(U, 5.0).expect("q").expect("tree");
    let skel = reader.skeleton(U, 5.0).expect("q").expect("skeleton");
    assert_eq!(json(&skel), expected);
    assert_eq!(check(&reader, &whole.scope, &skel.scope, 5), whole.records);
    // A summary left for a segment the manifest does not list goes at open.
    drop(store);
    drop(reader);
    let stray = path
        .join("scopes")
        .join("00000000000000000077-00000000000000000078.seg.scopes");
    std::fs::write(&stray, b"stray").expect("write");
    let store = Store::open(&path).expect("reopen");
    assert!(!stray.exists());
    drop(store);
}
