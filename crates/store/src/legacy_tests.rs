//! The import against the old store's own answers: a schema-2 file written
//! by distlogd at 797f384 (see testdata/make_schema_v2_fixture.sh) is
//! queried with the old SQL (crates/store/src/query.rs of that commit), then
//! imported by `Store::open`, and the new `Reader` must answer the same.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{params, Connection, OpenFlags, Row};

use crate::{Entry, RecordFilter, RecordRow, ScopeNode, Status, Store, TaskFilter, TaskRow};

const FIXTURE: &[u8] = include_bytes!("testdata/schema_v2_loadgen.db");

/// Later than every record: every task left open counts as unfinished.
const LONG_AFTER: f64 = 1e12;

/// The old file (read-only, a copy of its own) and the store imported from
/// another copy. Fields drop in order: the store must close before its
/// directory goes, or its journal thread retries writing there for good.
struct Both {
    new: Store,
    old: Connection,
    _dir: tempfile::TempDir,
}

fn both() -> Both {
    let dir = tempfile::tempdir().expect("tempdir");
    let old_path = dir.path().join("old.db");
    let new_path = dir.path().join("distlog.db");
    std::fs::write(&old_path, FIXTURE).expect("copy of the fixture to read");
    std::fs::write(&new_path, FIXTURE).expect("copy of the fixture to import");
    let old = Connection::open_with_flags(&old_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("the old file opens read-only");
    let new = Store::open(&new_path).expect("the old file is imported");
    new.sync().expect("sync after the import");
    assert!(
        Path::new(&format!("{}.schema2.bak", new_path.display())).exists(),
        "the old file is kept as a backup"
    );
    Both {
        new,
        old,
        _dir: dir,
    }
}

/// When the old daemon last heard from any process, plus a second: tasks of
/// processes heard within `unfinished_after` still run.
fn just_after_the_last_record(old: &Connection) -> f64 {
    old.query_row("SELECT MAX(last_seen) FROM processes", [], |r| {
        r.get::<_, f64>(0)
    })
    .expect("processes of the old file")
        + 1.0
}

/// The old `Reader::tasks` without filters or limit: every task, newest first.
fn old_tasks(old: &Connection, now: f64) -> Vec<TaskRow> {
    let silent_since = now - crate::DEFAULT_UNFINISHED_AFTER.as_secs_f64();
    let mut stmt = old
        .prepare(
            "SELECT t.root, t.message, t.host, t.process, t.started, t.ended, t.duration,
                t.last_seen,
                CASE WHEN t.status = 'running' AND COALESCE(p.last_seen, t.last_seen) < ?1
                    THEN 'unfinished' ELSE t.status END,
                t.records, t.failures, t.context
             FROM tasks t LEFT JOIN processes p ON p.host = t.host AND p.process = t.process
             ORDER BY t.started DESC",
        )
        .expect("the old tasks query");
    let rows = stmt
        .query_map(params![silent_since], old_task_row)
        .expect("old tasks");
    rows.collect::<Result<_, _>>().expect("old task rows")
}

fn old_task_row(row: &Row<'_>) -> rusqlite::Result<TaskRow> {
    let status: String = row.get(8)?;
    Ok(TaskRow {
        root: row.get(0)?,
        message: row.get(1)?,
        host: row.get(2)?,
        process: row.get(3)?,
        started: row.get(4)?,
        ended: row.get(5)?,
        duration: row.get(6)?,
        last_seen: row.get(7)?,
        status: Status::parse(&status).expect("a status the old store wrote"),
        records: row.get(9)?,
        failures: row.get(10)?,
        context: row
            .get::<_, Option<String>>(11)?
            .map(|c| serde_json::from_str(&c).expect("the old context is JSON")),
    })
}

const OLD_RECORD_COLUMNS: &str = "id, received, created, topic, root, scope, seq, event,
    levelno, levelname, logger, host, process, message, duration, body";

/// A row as the old `record_row(row, full = true)` made it.
fn old_record_row(row: &Row<'_>) -> rusqlite::Result<RecordRow> {
    let root: Option<String> = row.get(4)?;
    let scope: Option<String> = row.get(5)?;
    let seq: Option<i64> = row.get(6)?;
    let key = match (&root, &scope, seq) {
        (Some(root), Some(scope), Some(seq)) => Some(format!("{seq}@{root}{scope}")),
        _ => None,
    };
    let body: serde_json::Value =
        serde_json::from_str(&row.get::<_, String>(15)?).expect("the old body is JSON");
    let context = body
        .get("context")
        .filter(|c| c.is_object())
        .cloned()
        .map(|mut c| {
            c.as_object_mut().expect("an object").remove("key");
            c
        });
    let exc_text = body
        .get("exc_text")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    Ok(RecordRow {
        id: row.get(0)?,
        received: row.get(1)?,
        created: row.get(2)?,
        topic: row.get(3)?,
        key,
        root,
        scope,
        seq,
        event: row.get(7)?,
        levelno: row.get(8)?,
        levelname: row.get(9)?,
        logger: row.get(10)?,
        host: row.get(11)?,
        process: row.get(12)?,
        message: row.get(13)?,
        duration: row.get(14)?,
        context,
        exc_text,
        body: Some(body),
    })
}

fn old_records(old: &Connection, where_sql: &str, args: impl rusqlite::Params) -> Vec<RecordRow> {
    let sql = format!("SELECT {OLD_RECORD_COLUMNS} FROM records {where_sql}");
    let mut stmt = old.prepare(&sql).expect("the old records query");
    let rows = stmt.query_map(args, old_record_row).expect("old records");
    rows.collect::<Result<_, _>>().expect("old record rows")
}

/// The old `Reader::tree`'s rows of one task.
fn old_tree_rows(old: &Connection, root: &str) -> Vec<RecordRow> {
    old_records(
        old,
        "WHERE task = (SELECT id FROM tasks WHERE root = ?1) ORDER BY scope, seq, id",
        params![root],
    )
}

/// Every record of a tree, in the old order (scope, seq, id).
fn tree_rows(scope: &ScopeNode, out: &mut Vec<RecordRow>) {
    for e in &scope.entries {
        match e {
            Entry::Record(r) => out.push(r.clone()),
            Entry::Scope(s) => tree_rows(s, out),
        }
    }
}

/// What a tree shows of a record, comparable between old and new.
fn shown(r: &RecordRow) -> (Option<&str>, &str, i64, &str, Option<&str>, f64) {
    (
        r.key.as_deref(),
        r.message.as_str(),
        r.levelno,
        r.levelname.as_str(),
        r.event.as_deref(),
        r.created,
    )
}

/// The old search: FTS5 over messages, every word quoted (the old
/// `fts_query`). With `exc_text`, the same tokenizer over message and
/// exception text together, which is what the new search looks in.
fn old_search(old: &Connection, words: &str, exc_text: bool) -> Vec<(String, f64)> {
    let fts: String = words
        .split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ");
    let rows = if exc_text {
        let mem = Connection::open_in_memory().expect("an in-memory database");
        mem.execute_batch("CREATE VIRTUAL TABLE t USING fts5(text);")
            .expect("an FTS5 table");
        for r in old_records(old, "ORDER BY id", []) {
            let text = match &r.exc_text {
                Some(exc) => format!("{}\n{exc}", r.message),
                None => r.message.clone(),
            };
            mem.execute(
                "INSERT INTO t (rowid, text) VALUES (?1, ?2)",
                params![r.id, text],
            )
            .expect("indexing a record");
        }
        let mut stmt = mem
            .prepare("SELECT rowid FROM t WHERE t MATCH ?1")
            .expect("the search");
        let ids: Vec<i64> = stmt
            .query_map(params![fts], |r| r.get(0))
            .expect("search")
            .collect::<Result<_, _>>()
            .expect("ids");
        let all = old_records(old, "ORDER BY id", []);
        all.into_iter().filter(|r| ids.contains(&r.id)).collect()
    } else {
        old_records(
            old,
            "WHERE id IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?1) ORDER BY id",
            params![fts],
        )
    };
    found(&rows)
}

/// A search answer as (key, or the message outside scopes; created), sorted.
fn found(rows: &[RecordRow]) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = rows
        .iter()
        .map(|r| {
            (
                r.key.clone().unwrap_or_else(|| r.message.clone()),
                r.created,
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    out
}

fn new_search(store: &Store, words: &str) -> Vec<(String, f64)> {
    let rows = store
        .reader()
        .expect("reader")
        .records(&RecordFilter {
            q: Some(words.to_owned()),
            limit: Some(10_000),
            ..RecordFilter::default()
        })
        .expect("search");
    assert!(rows.len() < 10_000, "the answer is not cut at the limit");
    found(&rows)
}

/// Equal answers, or a short account of what differs (an answer runs to
/// hundreds of hits).
fn assert_same_hits(new: &[(String, f64)], old: &[(String, f64)], words: &str) {
    let only = |a: &[(String, f64)], b: &[(String, f64)]| -> Vec<(String, f64)> {
        a.iter()
            .filter(|x| !b.contains(x))
            .take(5)
            .cloned()
            .collect()
    };
    assert!(
        new == old,
        "search for {words:?}: new {} hits, old {}; only new: {:?}; only old: {:?}",
        new.len(),
        old.len(),
        only(new, old),
        only(old, new)
    );
}

fn by_root(tasks: Vec<TaskRow>) -> BTreeMap<String, TaskRow> {
    tasks.into_iter().map(|t| (t.root.clone(), t)).collect()
}

fn all_tasks(store: &Store, filter: TaskFilter, now: f64) -> Vec<TaskRow> {
    store
        .reader()
        .expect("reader")
        .tasks(
            &TaskFilter {
                limit: Some(10_000),
                ..filter
            },
            now,
        )
        .expect("tasks")
}

#[test]
fn every_task_of_the_old_store_is_listed_with_the_same_fields() {
    let b = both();
    for now in [LONG_AFTER, just_after_the_last_record(&b.old)] {
        let old = old_tasks(&b.old, now);
        assert!(old.len() > 100, "the fixture holds many tasks");
        let new = all_tasks(&b.new, TaskFilter::default(), now);
        let order = |ts: &[TaskRow]| ts.iter().map(|t| t.started).collect::<Vec<_>>();
        assert_eq!(order(&new), order(&old), "newest first, at {now}");
        let (old, new) = (by_root(old), by_root(new));
        assert_eq!(
            new.keys().collect::<Vec<_>>(),
            old.keys().collect::<Vec<_>>(),
            "the same roots"
        );
        for (root, o) in &old {
            assert_eq!(&new[root], o, "task {root} at {now}");
            let one = b.new.reader().expect("reader").task(root, now);
            let one = one.expect("task").expect("the task is found by its root");
            assert_eq!(&one, o, "task {root} alone at {now}");
        }
    }
}

#[test]
fn failed_finds_the_failed_tasks_and_those_with_a_failed_subtask() {
    let b = both();
    let now = LONG_AFTER;
    let old: Vec<TaskRow> = old_tasks(&b.old, now)
        .into_iter()
        .filter(|t| t.status == Status::Failed || t.failures > 0)
        .collect();
    assert!(
        old.iter().any(|t| t.status == Status::Failed)
            && old.iter().any(|t| t.status == Status::Succeeded),
        "the fixture has a failed task and a succeeded one with a failure: {old:?}"
    );
    let new = all_tasks(
        &b.new,
        TaskFilter {
            status: Some(Status::Failed),
            ..TaskFilter::default()
        },
        now,
    );
    let roots = |ts: &[TaskRow]| ts.iter().map(|t| t.root.clone()).collect::<Vec<_>>();
    assert_eq!(roots(&new), roots(&old));
}

#[test]
fn trees_hold_the_records_of_their_task_as_the_old_store_did() {
    let b = both();
    let reader = b.new.reader().expect("reader");
    // Every task: loadgen's are all of 20 records (so none is the biggest),
    // and the hand-made ones are the edge cases.
    let roots: Vec<(i64, String)> = b
        .old
        .prepare("SELECT records, root FROM tasks ORDER BY records DESC, root")
        .expect("tasks by size")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("tasks")
        .collect::<Result<_, _>>()
        .expect("task rows");
    assert_eq!(
        roots
            .iter()
            .filter(|(_, r)| r.starts_with("0a0e000"))
            .count(),
        5,
        "the fixture's hand-made tasks"
    );
    for (count, root) in roots {
        let old = old_tree_rows(&b.old, &root);
        let tree = reader
            .tree(&root, LONG_AFTER)
            .expect("tree")
            .expect("the tree is found");
        let mut new = Vec::new();
        tree_rows(&tree.scope, &mut new);
        new.sort_by(|a, b| (&a.scope, a.seq, a.id).cmp(&(&b.scope, b.seq, b.id)));
        assert_eq!(
            new.iter().map(shown).collect::<Vec<_>>(),
            old.iter().map(shown).collect::<Vec<_>>(),
            "the records of {root}"
        );
        assert_eq!(tree.records, old.len(), "the record count of {root}");
        assert_eq!(
            i64::try_from(old.len()).expect("a count"),
            count,
            "the old task's count of {root}"
        );
    }
}

#[test]
fn word_search_finds_what_the_old_full_text_index_found() {
    let b = both();
    // Words of loadgen's and the hand-made messages that no exception text
    // holds: the old FTS5 answer is the whole expected answer.
    for words in [
        "zanzibar",
        "batch",
        "shipped",
        "cache miss",
        "Shard",
        "remote",
    ] {
        let old = old_search(&b.old, words, false);
        assert!(!old.is_empty(), "the old store finds {words:?}");
        assert_eq!(
            old,
            old_search(&b.old, words, true),
            "{words:?} is in no exception text"
        );
        assert_same_hits(&new_search(&b.new, words), &old, words);
    }
}

#[test]
fn word_search_also_finds_words_of_exception_texts() {
    let b = both();
    for words in ["ledger", "quarantined", "ledger quarantined"] {
        let old = old_search(&b.old, words, true);
        assert!(
            old.len() > old_search(&b.old, words, false).len(),
            "{words:?} is in an exception text"
        );
        assert_same_hits(&new_search(&b.new, words), &old, words);
    }
}

#[test]
fn the_record_count_and_every_record_by_key_are_the_old_ones() {
    let b = both();
    let reader = b.new.reader().expect("reader");
    let (count, max_id): (i64, i64) = b
        .old
        .query_row("SELECT count(*), MAX(id) FROM records", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("old count");
    assert_eq!(count, max_id, "the old file lost no record to retention");
    assert_eq!(reader.count().expect("count"), count);
    let mut checked = 0;
    for o in old_records(&b.old, "WHERE root IS NOT NULL ORDER BY id", []) {
        let key = distlog_proto::Key::parse(o.key.as_deref().expect("a scoped record"))
            .expect("the old key parses");
        let new = reader.records_by_key(&key).expect("records by key");
        let old = old_records(
            &b.old,
            "WHERE task = (SELECT id FROM tasks WHERE root = ?1) AND scope = ?2 AND seq = ?3
             ORDER BY id",
            params![o.root, o.scope, o.seq],
        );
        assert_eq!(new, old, "the records of key {key}");
        checked += 1;
    }
    assert!(checked > 3000, "every scoped record was looked up");
}

#[test]
fn a_record_keeps_its_id_and_every_field() {
    let b = both();
    let reader = b.new.reader().expect("reader");
    for o in old_records(&b.old, "ORDER BY id", []) {
        let new = reader.record(o.id).expect("record");
        assert_eq!(new.as_ref(), Some(&o), "record {}", o.id);
    }
}

// The new search splits words at `_` and folds diacritics as the old FTS5
// index (`unicode61`) did.

#[test]
fn a_search_for_part_of_an_underscored_word_finds_what_the_old_index_found() {
    let b = both();
    for words in ["order", "lines"] {
        let old = old_search(&b.old, words, true);
        assert_same_hits(&new_search(&b.new, words), &old, words);
    }
}

#[test]
fn a_search_without_accents_finds_accented_words_as_the_old_index_did() {
    let b = both();
    for words in ["zurich", "recu", "a"] {
        let old = old_search(&b.old, words, true);
        assert!(!old.is_empty(), "the old store finds {words:?}");
        assert_same_hits(&new_search(&b.new, words), &old, words);
    }
}
