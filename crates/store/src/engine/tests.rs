//! The engine as a whole: recovery from the journal, damage, the lock,
//! refusal of foreign files, search, merges.

use std::collections::HashSet;
use std::path::Path;

use distlog_proto::{decode, Limits, Record, Topic};

use crate::{RecordFilter, Store, StoreError, StoreOptions, TaskFilter};

fn rec(key: &str, message: &str, extra: &str) -> Record {
    let body = format!(
        r#"{{"name": "app.db", "levelno": 20, "levelname": "INFO", "message": {message:?},
        "created": 10.0, "hostname": "obelix", "process": 6156,
        "context": {{"key": "{key}", "user": "leo", "request": {{"id": 7}}}}{extra}}}"#
    );
    decode(
        Topic::parse(b"PLJ").expect("topic"),
        body.as_bytes(),
        &Limits::default(),
    )
    .expect("record")
}

/// Records of `tasks` tasks, `per` records each, interleaved as concurrent
/// requests arrive.
fn interleaved(tasks: usize, per: usize) -> Vec<Record> {
    let mut out = Vec::new();
    for seq in 0..per {
        for t in 0..tasks {
            let event = if seq == 0 {
                r#","scope_event": "open""#
            } else {
                ""
            };
            out.push(rec(
                &format!("{seq}@task-{t}"),
                &format!("step {seq} of task {t}"),
                event,
            ));
        }
    }
    out
}

fn small(memtable_records: usize) -> StoreOptions {
    StoreOptions {
        memtable_records,
        block_bytes: 4 << 10,
        ..StoreOptions::default()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The journal file records are appended to now.
fn newest_journal(store: &Path) -> std::path::PathBuf {
    std::fs::read_dir(store.join("journal"))
        .expect("journal")
        .map(|e| e.expect("entry").path())
        .max()
        .expect("a journal file")
}

fn all(store: &Store) -> Vec<crate::RecordRow> {
    store
        .reader()
        .expect("reader")
        .records(&RecordFilter {
            limit: Some(10_000),
            ..RecordFilter::default()
        })
        .expect("records")
}

#[test]
fn a_crash_keeps_every_synced_record_once_whether_in_segments_or_only_in_the_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A memtable larger than the 400 records after the flush: no flush of
    // its own may run while the files are copied below (a copy is not a
    // snapshot: segments copied before a flush and the journal after it
    // would lose what the flush moved).
    let store = Store::open_with(dir.path().join("s"), small(1000)).expect("open");
    for (i, r) in interleaved(10, 100).iter().enumerate() {
        store.append(r, 20.0).expect("append");
        if i == 599 {
            store.flush().expect("the first 600 to segments");
        }
    }
    store.sync().expect("indexed");
    let durable = store.stats().appended;
    assert!(store
        .inner
        .journal
        .wait_durable(durable, std::time::Duration::from_secs(30)));
    assert!(store.stats().segments > 0, "some records reached segments");
    // The files as a crash at this moment would leave them.
    copy_dir(&dir.path().join("s"), &dir.path().join("crashed"));
    std::fs::remove_file(dir.path().join("crashed/LOCK")).expect("lock file");
    let after = Store::open_with(dir.path().join("crashed"), small(300)).expect("recovers");
    let rows = all(&after);
    assert_eq!(rows.len(), 1000);
    let ids: HashSet<i64> = rows.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 1000, "no record twice");
    let reader = after.reader().expect("reader");
    let task = reader.task("task-3", 30.0).expect("q").expect("task");
    assert_eq!(
        task.records, 100,
        "a replay does not count a task's records again"
    );
    let tree = reader.tree("task-3", 30.0).expect("q").expect("tree");
    assert_eq!(tree.records, 100);
    // New records continue after the old ids.
    let id = after
        .append(&rec("100@task-3", "late", ""), 40.0)
        .expect("append");
    assert_eq!(id, 1001);
}

#[test]
fn a_journal_torn_mid_record_loses_that_record_only_and_takes_new_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s");
    {
        let store = Store::open(&path).expect("open");
        for r in interleaved(2, 5) {
            store.append(&r, 20.0).expect("append");
        }
        store.sync().expect("sync");
    }
    let journal = newest_journal(&path);
    let len = std::fs::metadata(&journal).expect("meta").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&journal)
        .expect("open");
    f.set_len(len - 7).expect("tear the last record");
    drop(f);
    let store = Store::open(&path).expect("reopens");
    assert_eq!(all(&store).len(), 9);
    store
        .append(&rec("9@task-9", "after", ""), 30.0)
        .expect("append");
    store.sync().expect("sync");
    drop(store);
    let store = Store::open(&path).expect("reopens again");
    let rows = all(&store);
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[0].message, "after");
}

#[test]
fn a_damaged_segment_block_is_skipped_and_counted_and_the_rest_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s");
    {
        let store = Store::open_with(&path, small(100_000)).expect("open");
        for r in interleaved(20, 50) {
            store.append(&r, 20.0).expect("append");
        }
        store.flush().expect("flush");
        assert_eq!(store.stats().segments, 1);
    }
    let seg = std::fs::read_dir(path.join("segments"))
        .expect("segments")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .expect("a segment");
    // The last bytes before the next block's frame are this block's
    // compressed data (the footer, with every block's filter, may be most
    // of a small file, and damage there is recovered from whole).
    let next = {
        let s = crate::segment::Segment::open(&seg).expect("segment");
        assert!(s.blocks().len() > 4, "{} blocks", s.blocks().len());
        s.blocks()[2].offset as usize
    };
    let mut bytes = std::fs::read(&seg).expect("read");
    for b in &mut bytes[next - 8..next] {
        *b ^= 0x5a;
    }
    std::fs::write(&seg, &bytes).expect("write");
    let store = Store::open_with(&path, small(100_000)).expect("opens despite the damage");
    let rows = all(&store);
    assert!(rows.len() < 1000 && rows.len() > 500, "{} left", rows.len());
    assert!(store.stats().corrupt_blocks > 0);
    let reader = store.reader().expect("reader");
    // Every task's tree still answers, with what is left of it.
    for t in 0..20 {
        let _ = reader.tree(&format!("task-{t}"), 30.0).expect("no error");
    }
}

#[test]
fn a_second_writer_on_the_same_store_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s");
    let first = Store::open(&path).expect("open");
    let err = Store::open(&path).err().expect("refused");
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
    drop(first);
    Store::open(&path).expect("free again once the first closed");
}

#[test]
fn a_path_holding_something_else_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "my notes").expect("write");
    let err = Store::open(&text).err().expect("refused");
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert_eq!(std::fs::read(&text).expect("read"), b"my notes");

    let other = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&other).expect("sqlite");
        conn.execute_batch("CREATE TABLE invoices (n INTEGER); INSERT INTO invoices VALUES (1);")
            .expect("table");
    }
    let before = std::fs::read(&other).expect("read");
    let err = Store::open(&other).err().expect("refused");
    assert!(err.to_string().contains("some other program"), "{err}");
    assert_eq!(std::fs::read(&other).expect("read"), before);

    let busy = dir.path().join("busy");
    std::fs::create_dir_all(&busy).expect("mkdir");
    std::fs::write(busy.join("photo.jpg"), "jpeg").expect("write");
    let err = Store::open(&busy).err().expect("refused");
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert!(!busy.join("catalog.db").exists());
}

fn search(store: &Store, q: &str) -> Vec<String> {
    store
        .reader()
        .expect("reader")
        .records(&RecordFilter {
            q: Some(q.into()),
            ..RecordFilter::default()
        })
        .expect("search")
        .into_iter()
        .map(|r| r.message)
        .collect()
}

#[test]
fn search_finds_words_and_prefixes_in_messages_and_tracebacks_in_memory_and_in_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_with(dir.path().join("s"), small(100_000)).expect("open");
    let failure = r#","levelno": 40, "scope_event": "fail",
        "exc_text": "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'card'""#;
    store
        .append(&rec("1@t", "charge card", failure), 1.0)
        .expect("append");
    for r in interleaved(5, 20) {
        store.append(&r, 1.0).expect("append");
    }
    store.sync().expect("sync");
    for stage in ["memory", "segment"] {
        assert_eq!(search(&store, "KeyError"), ["charge card"], "{stage}");
        assert_eq!(search(&store, "keyerr*"), ["charge card"], "{stage}");
        assert_eq!(search(&store, "charge card"), ["charge card"], "{stage}");
        assert!(search(&store, "ValueError").is_empty(), "{stage}");
        assert_eq!(search(&store, "step 19 task").len(), 5, "{stage}");
        store.flush().expect("to a segment");
    }
}

#[test]
fn records_filter_by_context_fields_logger_and_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("s")).expect("open");
    store.append(&rec("0@a", "one", ""), 1.0).expect("append");
    let other = r#","hostname": "asterix", "name": "web""#;
    store
        .append(&rec("0@b", "two", other), 1.0)
        .expect("append");
    store.flush().expect("flush");
    let reader = store.reader().expect("reader");
    let find = |f: RecordFilter| -> Vec<String> {
        reader
            .records(&f)
            .expect("records")
            .into_iter()
            .map(|r| r.message)
            .collect()
    };
    let by_context = RecordFilter {
        context: Some("user=leo,request.id=7".into()),
        ..RecordFilter::default()
    };
    assert_eq!(find(by_context).len(), 2);
    let none = RecordFilter {
        context: Some("user=ann".into()),
        ..RecordFilter::default()
    };
    assert!(find(none).is_empty());
    let host = RecordFilter {
        host: Some("asterix".into()),
        ..RecordFilter::default()
    };
    assert_eq!(find(host), ["two"]);
    let logger = RecordFilter {
        logger: Some("app".into()),
        ..RecordFilter::default()
    };
    assert_eq!(find(logger), ["one"], "app matches app.db, not web");
    let bad = RecordFilter {
        context: Some("user".into()),
        ..RecordFilter::default()
    };
    assert!(matches!(reader.records(&bad), Err(StoreError::BadQuery(_))));
}

#[test]
fn small_segments_merge_and_a_task_spread_over_them_reads_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Segments far below a memtable's size: what a quiet daemon's
    // flushes by age leave.
    let store = Store::open_with(dir.path().join("s"), small(100_000)).expect("open");
    for chunk in interleaved(4, 200).chunks(100) {
        for r in chunk {
            store.append(r, 1.0).expect("append");
        }
        store.flush().expect("flush");
    }
    let before = store.stats();
    assert!(before.segments >= 8, "{}", before.segments);
    store.maintain().expect("merge");
    let after = store.stats();
    assert!(after.merges > 0);
    assert!(after.segments < before.segments);
    assert_eq!(after.records, 800);
    let reader = store.reader().expect("reader");
    let tree = reader.tree("task-2", 2.0).expect("q").expect("tree");
    assert_eq!(tree.records, 200);
    let tasks = reader.tasks(&TaskFilter::default(), 2.0).expect("tasks");
    assert_eq!(tasks.len(), 4);
    // Merged segments are all that is on disk: the inputs are gone.
    let files = std::fs::read_dir(dir.path().join("s/segments"))
        .expect("dir")
        .count() as u64;
    assert_eq!(files, after.segments);
}

#[test]
fn a_common_word_returns_its_newest_matches_in_order_across_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_with(dir.path().join("s"), small(100_000)).expect("open");
    let records = interleaved(30, 40);
    for chunk in records.chunks(400) {
        for r in chunk {
            store.append(r, 1.0).expect("append");
        }
        store.flush().expect("a segment per chunk");
    }
    let reader = store.reader().expect("reader");
    for (order, limit) in [("desc", 7), ("asc", 5), ("desc", 1000)] {
        let rows = reader
            .records(&RecordFilter {
                q: Some("step".into()),
                order: Some(order.into()),
                limit: Some(limit),
                ..RecordFilter::default()
            })
            .expect("search");
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let want: Vec<i64> = if order == "desc" {
            (1..=1200).rev().take(limit).collect()
        } else {
            (1..=1200).take(limit).collect()
        };
        assert_eq!(ids, want, "{order} {limit}");
    }
}

#[test]
fn search_in_memory_skips_chunks_without_the_word_and_finds_it_in_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_with(dir.path().join("s"), small(100_000)).expect("open");
    for i in 0..3000 {
        let message = if i == 10 || i == 2500 {
            format!("rare zanzibar {i}")
        } else {
            format!("plain {i}")
        };
        store
            .append(&rec(&format!("{i}@t"), &message, ""), 1.0)
            .expect("append");
    }
    store.sync().expect("sync");
    assert_eq!(store.stats().segments, 0, "all in memory");
    assert_eq!(
        search(&store, "zanzibar"),
        ["rare zanzibar 2500", "rare zanzibar 10"]
    );
    let oldest = store
        .reader()
        .expect("reader")
        .records(&RecordFilter {
            q: Some("zanzibar".into()),
            order: Some("asc".into()),
            limit: Some(1),
            ..RecordFilter::default()
        })
        .expect("search");
    assert_eq!(oldest[0].message, "rare zanzibar 10");
}

#[test]
fn records_a_failed_write_left_twice_in_the_journal_are_replayed_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s");
    {
        let store = Store::open(&path).expect("open");
        for r in interleaved(3, 4) {
            store.append(&r, 1.0).expect("append");
        }
        store.sync().expect("sync");
    }
    let journal = newest_journal(&path);
    // A retry writes its whole buffer again after what the failed try wrote.
    let bytes = std::fs::read(&journal).expect("read");
    let mut twice = bytes.clone();
    twice.extend_from_slice(&bytes);
    std::fs::write(&journal, &twice).expect("write");
    let store = Store::open(&path).expect("reopen");
    let rows = all(&store);
    assert_eq!(rows.len(), 12);
    let task = store
        .reader()
        .expect("reader")
        .task("task-1", 2.0)
        .expect("q")
        .expect("task");
    assert_eq!(task.records, 4);
}

#[test]
fn a_task_the_catalogue_lists_always_has_its_tree_while_records_arrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        std::sync::Arc::new(Store::open_with(dir.path().join("s"), small(500)).expect("open"));
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for t in 0..3000 {
                for seq in 0..2 {
                    let event = if seq == 0 {
                        r#","scope_event": "open""#
                    } else {
                        ""
                    };
                    let r = rec(&format!("{seq}@task-{t}"), "step", event);
                    store.append(&r, 1.0).expect("append");
                }
            }
        })
    };
    let reader = store.reader().expect("reader");
    let mut missing = Vec::new();
    let mut checked = 0;
    while !writer.is_finished() {
        for task in reader
            .tasks(&TaskFilter::default(), 2.0)
            .expect("tasks")
            .iter()
            .take(5)
        {
            checked += 1;
            if reader.tree(&task.root, 2.0).expect("tree").is_none() {
                missing.push(task.root.clone());
            }
        }
    }
    writer.join().expect("writer");
    assert!(checked > 0);
    assert!(
        missing.is_empty(),
        "listed but no tree ({} of {checked}): {missing:?}",
        missing.len()
    );
}
