use distlog_proto::{decode, Limits, Record, Topic};

use crate::{Entry, RecordFilter, ScopeNode, Status, Store, StoreError, StoreOptions, TaskFilter};

/// The old store's batch writer, kept for these tests: each batch is
/// appended and then waited for, so what was written is queryable at once.
struct TestWriter<'a>(&'a Store);

impl Store {
    fn writer(&self) -> Result<TestWriter<'_>, StoreError> {
        Ok(TestWriter(self))
    }
}

impl TestWriter<'_> {
    fn write_batch<'r>(
        &mut self,
        records: impl IntoIterator<Item = &'r Record>,
        received: f64,
    ) -> Result<(), StoreError> {
        for r in records {
            self.0.append(r, received)?;
        }
        self.0.sync()
    }
}

const U: &str = "e252a11f-d33d-483d-ba08-bc8f642b2f10";

fn rec(key: Option<&str>, message: &str, extra: &str, created: f64) -> Record {
    let context = match key {
        Some(k) => format!(r#"{{"key": "{k}", "user": "leo"}}"#),
        None => "null".to_owned(),
    };
    let body = format!(
        r#"{{"name": "root", "levelno": 20, "levelname": "INFO", "message": {message:?},
        "created": {created}, "hostname": "obelix", "process": 6156, "context": {context}{extra}}}"#
    );
    decode(
        Topic::parse(b"PLJ").expect("topic"),
        body.as_bytes(),
        &Limits::default(),
    )
    .expect("valid record")
}

/// The tutorial's seven records, in the order the tutorial sends them.
fn tutorial() -> Vec<Record> {
    vec![
        rec(
            Some(&format!("0@{U}")),
            "toplevel",
            r#","scope_event": "open""#,
            1.0,
        ),
        rec(Some(&format!("1@{U}")), "into task", "", 1.1),
        rec(
            Some(&format!("0@{U}/1")),
            "subtask",
            r#","scope_event": "open""#,
            1.2,
        ),
        rec(Some(&format!("1@{U}/1")), "into task", "", 1.3),
        rec(
            Some(&format!("2@{U}/1")),
            "subtask done",
            r#","scope_event": "close", "scope_duration": 0.2"#,
            1.4,
        ),
        rec(
            Some(&format!("2@{U}")),
            "toplevel",
            r#","scope_event": "close", "scope_duration": 0.5"#,
            1.5,
        ),
        rec(None, "all done", "", 1.6),
    ]
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("sub/dir/distlog.db")).expect("open");
    (dir, store)
}

fn messages(scope: &ScopeNode) -> Vec<String> {
    scope
        .entries
        .iter()
        .map(|e| match e {
            Entry::Record(r) => r.message.clone(),
            Entry::Scope(s) => format!("[{}]", s.message.clone().unwrap_or_default()),
        })
        .collect()
}

fn child(scope: &ScopeNode, i: usize) -> &ScopeNode {
    scope
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Scope(s) => Some(s),
            Entry::Record(_) => None,
        })
        .nth(i)
        .expect("child scope")
}

#[test]
fn the_tutorial_run_becomes_one_succeeded_task_with_a_nested_subtask() {
    let (_dir, store) = store();
    store
        .writer()
        .expect("writer")
        .write_batch(&tutorial(), 2.0)
        .expect("write");
    let reader = store.reader().expect("reader");

    let tasks = reader.tasks(&TaskFilter::default(), 2.0).expect("tasks");
    assert_eq!(tasks.len(), 1);
    let t = &tasks[0];
    assert_eq!(
        (t.root.as_str(), t.message.as_deref()),
        (U, Some("toplevel"))
    );
    assert_eq!(
        (t.status, t.records, t.duration),
        (Status::Succeeded, 6, Some(0.5))
    );
    assert_eq!(t.host.as_deref(), Some("obelix"));

    let tree = reader.tree(U, 2.0).expect("query").expect("tree");
    assert_eq!(tree.records, 6);
    assert_eq!(tree.scope.status, Status::Succeeded);
    assert_eq!(
        messages(&tree.scope),
        ["toplevel", "into task", "[subtask]", "toplevel"]
    );
    let sub = child(&tree.scope, 0);
    assert_eq!(sub.id, format!("{U}/1"));
    assert_eq!(sub.status, Status::Succeeded);
    assert_eq!(sub.duration, Some(0.2));
    assert!(!sub.foreign);
    assert_eq!(messages(sub), ["subtask", "into task", "subtask done"]);
    assert_eq!(sub.context.as_ref().expect("context")["user"], "leo");
}

#[test]
fn records_arriving_in_any_order_build_the_same_tree() {
    let (_dir, store) = store();
    let mut records = tutorial();
    records.reverse();
    let mut writer = store.writer().expect("writer");
    // One record per batch, child scopes before their parents.
    for r in records {
        writer.write_batch([&r], 2.0).expect("write");
    }
    let reader = store.reader().expect("reader");
    let tree = reader.tree(U, 2.0).expect("query").expect("tree");
    assert_eq!(
        messages(&tree.scope),
        ["toplevel", "into task", "[subtask]", "toplevel"]
    );
    let t = reader.task(U, 2.0).expect("query").expect("task");
    assert_eq!(
        (t.message.as_deref(), t.status),
        (Some("toplevel"), Status::Succeeded)
    );
}

#[test]
fn a_subtask_from_another_process_before_its_parent_hangs_in_its_slot() {
    let (_dir, store) = store();
    let mut remote = rec(Some(&format!("0@{U}/1/2")), "remote work", "", 1.3);
    remote.process = Some(7);
    let mut writer = store.writer().expect("writer");
    writer.write_batch([&remote], 2.0).expect("write");
    let reader = store.reader().expect("reader");
    let tree = reader.tree(U, 2.0).expect("query").expect("tree");
    let placeholder = child(&tree.scope, 0);
    assert_eq!(placeholder.message, None, "parent not seen yet");
    assert_eq!(
        child(placeholder, 0).message.as_deref(),
        Some("remote work")
    );

    writer.write_batch(&tutorial(), 2.0).expect("write");
    let tree = reader.tree(U, 2.0).expect("query").expect("tree");
    let sub = child(&tree.scope, 0);
    assert_eq!(sub.message.as_deref(), Some("subtask"));
    let foreign = child(sub, 0);
    assert_eq!(foreign.id, format!("{U}/1/2"));
    assert!(foreign.foreign, "opened by process 7, parent by 6156");
}

#[test]
fn an_open_scope_is_running_until_its_process_goes_silent() {
    let (_dir, store) = store();
    let open = tutorial().into_iter().take(2).collect::<Vec<_>>();
    store
        .writer()
        .expect("writer")
        .write_batch(&open, 100.0)
        .expect("write");
    let reader = store.reader().expect("reader");
    let now_soon = 110.0;
    let now_late = 100.0 + crate::DEFAULT_UNFINISHED_AFTER.as_secs_f64() + 1.0;
    assert_eq!(
        reader
            .tree(U, now_soon)
            .expect("q")
            .expect("t")
            .scope
            .status,
        Status::Running
    );
    assert_eq!(
        reader
            .tree(U, now_late)
            .expect("q")
            .expect("t")
            .scope
            .status,
        Status::Unfinished
    );
    let late = reader
        .tasks(&TaskFilter::default(), now_late)
        .expect("tasks");
    assert_eq!(late[0].status, Status::Unfinished);
    let filter = TaskFilter {
        status: Some(Status::Running),
        ..TaskFilter::default()
    };
    assert_eq!(reader.tasks(&filter, now_soon).expect("tasks").len(), 1);
    assert!(reader.tasks(&filter, now_late).expect("tasks").is_empty());
}

#[test]
fn a_failure_record_fails_the_scope_and_counts_on_the_task() {
    let (_dir, store) = store();
    let records = vec![
        rec(Some(&format!("0@{U}")), "job", "", 1.0),
        rec(Some(&format!("0@{U}/1")), "step", "", 1.1),
        rec(
            Some(&format!("1@{U}/1")),
            "step",
            r#","scope_event": "fail", "levelno": 40, "exc_text": "Traceback: boom""#,
            1.2,
        ),
        rec(
            Some(&format!("1@{U}")),
            "job",
            r#","scope_event": "fail""#,
            1.3,
        ),
    ];
    store
        .writer()
        .expect("w")
        .write_batch(&records, 2.0)
        .expect("write");
    let reader = store.reader().expect("reader");
    let t = reader.task(U, 2.0).expect("q").expect("task");
    assert_eq!((t.status, t.failures), (Status::Failed, 2));
    let tree = reader.tree(U, 2.0).expect("q").expect("tree");
    let step = child(&tree.scope, 0);
    assert_eq!(step.status, Status::Failed);
    let Entry::Record(fail) = &step.entries[1] else {
        panic!("record expected")
    };
    assert_eq!(fail.exc_text.as_deref(), Some("Traceback: boom"));
}

#[test]
fn the_store_survives_a_reopen() {
    let (dir, store) = store();
    store
        .writer()
        .expect("w")
        .write_batch(&tutorial(), 2.0)
        .expect("write");
    drop(store);
    let again = Store::open(dir.path().join("sub/dir/distlog.db")).expect("reopen");
    let reader = again.reader().expect("reader");
    assert_eq!(reader.count().expect("count"), 7);
    assert!(reader.tree(U, 2.0).expect("q").is_some());
}

#[test]
fn records_filter_by_level_logger_host_text_and_id() {
    let (_dir, store) = store();
    let mut records = tutorial();
    records[6].levelno = 40;
    records[6].logger = "app.db".into();
    records[5].logger = "app.dbx".into();
    records[3].hostname = "asterix".into();
    store
        .writer()
        .expect("w")
        .write_batch(&records, 2.0)
        .expect("write");
    let reader = store.reader().expect("reader");
    let get = |f: RecordFilter| -> Vec<String> {
        reader
            .records(&f)
            .expect("records")
            .into_iter()
            .map(|r| r.message)
            .collect()
    };
    assert_eq!(
        get(RecordFilter {
            level: Some(30),
            ..Default::default()
        }),
        ["all done"]
    );
    assert_eq!(
        get(RecordFilter {
            logger: Some("app".into()),
            ..Default::default()
        }),
        ["all done", "toplevel"],
        "a logger matches its children"
    );
    assert_eq!(
        get(RecordFilter {
            logger: Some("app.db".into()),
            ..Default::default()
        }),
        ["all done"],
        "app.dbx is not a child of app.db"
    );
    assert_eq!(
        get(RecordFilter {
            host: Some("asterix".into()),
            ..Default::default()
        }),
        ["into task"]
    );
    assert_eq!(
        get(RecordFilter {
            q: Some("DONE".into()),
            order: Some("asc".into()),
            ..Default::default()
        }),
        ["subtask done", "all done"]
    );
    // FTS5 syntax in user text is taken as words, never as a query error.
    assert_eq!(
        get(RecordFilter {
            q: Some("task \"into".into()),
            ..Default::default()
        })
        .len(),
        2
    );
    assert_eq!(
        get(RecordFilter {
            q: Some("NEAR(a*".into()),
            ..Default::default()
        })
        .len(),
        0
    );
    assert_eq!(
        get(RecordFilter {
            after: Some(5),
            order: Some("asc".into()),
            ..Default::default()
        }),
        ["toplevel", "all done"]
    );
    assert_eq!(
        get(RecordFilter {
            limit: Some(2),
            ..Default::default()
        }),
        ["all done", "toplevel"]
    );
    let bad = reader.records(&RecordFilter {
        order: Some("up".into()),
        ..Default::default()
    });
    assert!(bad.is_err());
}

#[test]
fn a_record_by_key_has_every_field() {
    let (_dir, store) = store();
    store
        .writer()
        .expect("w")
        .write_batch(&tutorial(), 2.0)
        .expect("write");
    let reader = store.reader().expect("reader");
    let key = distlog_proto::Key::parse(&format!("1@{U}/1")).expect("key");
    let found = reader.records_by_key(&key).expect("query");
    assert_eq!(found.len(), 1);
    let body = found[0].body.as_ref().expect("full body");
    assert_eq!(body["hostname"], "obelix");
    assert_eq!(body["context"]["key"], format!("1@{U}/1"));
    assert_eq!(found[0].key.as_deref(), Some(format!("1@{U}/1").as_str()));
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

#[test]
fn retention_by_age_deletes_old_segments_their_tasks_and_their_search_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        max_age: Some(std::time::Duration::from_secs(3600)),
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir.path().join("s"), options).expect("open");
    let mut writer = store.writer().expect("w");
    let old = vec![
        rec(Some("0@old-task"), "ancient history", "", 100.0),
        rec(Some("1@old-task"), "more history", "", 101.0),
    ];
    writer.write_batch(&old, 101.0).expect("write");
    store.flush().expect("flush");
    let t = now();
    let recent = vec![
        rec(Some("0@new-task"), "new task", "", t),
        rec(Some("1@new-task"), "new task work", "", t),
    ];
    writer.write_batch(&recent, t).expect("write");
    store.flush().expect("flush");
    store.maintain().expect("retention");
    assert_eq!(store.stats().retention_deleted, 2);
    let reader = store.reader().expect("reader");
    assert_eq!(
        reader.count().expect("count"),
        2,
        "a true count after retention"
    );
    assert!(reader.task("old-task", t).expect("q").is_none());
    assert!(reader.task("new-task", t).expect("q").is_some());
    let found = reader
        .records(&RecordFilter {
            q: Some("history".into()),
            ..Default::default()
        })
        .expect("search");
    assert!(found.is_empty(), "deleted records leave search too");
    assert_eq!(
        reader
            .records(&RecordFilter {
                q: Some("task".into()),
                ..Default::default()
            })
            .expect("search")
            .len(),
        2
    );
}

#[test]
fn retention_by_size_deletes_the_oldest_segments_until_the_store_fits() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Each batch is flushed into a segment of its own.
    let options = StoreOptions::default();
    let store = Store::open_with(dir.path().join("s"), options).expect("open");
    let mut writer = store.writer().expect("w");
    // Words that do not repeat, so blocks do not compress to nothing.
    let filler = |batch: i32, i: i32| -> String {
        (0..150)
            .map(|w| {
                format!(
                    "w{}",
                    (batch * 7919 + i * 104_729 + w * 1_299_709) % 1_000_003
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    for batch in 0..20 {
        let records: Vec<_> = (0..50)
            .map(|i| {
                let key = format!("{i}@task-{batch}");
                rec(Some(&key), &filler(batch, i), "", f64::from(batch))
            })
            .collect();
        writer.write_batch(&records, 1.0).expect("write");
        store.flush().expect("flush");
    }
    let reader = store.reader().expect("reader");
    assert_eq!(reader.count().expect("count"), 1000);
    store.maintain().expect("merges");
    let before = store.stats();
    assert!(before.merges > 0, "twenty small segments merge");
    let max = before.segment_bytes * 6 / 10;
    store.set_retention(None, Some(max));
    store.maintain().expect("retention");
    let stats = store.stats();
    let deleted = stats.retention_deleted;
    assert!(deleted > 0 && deleted < 1000, "{deleted}");
    assert!(
        stats.segment_bytes <= max,
        "{} > {max}",
        stats.segment_bytes
    );
    let tasks = reader.tasks(&TaskFilter::default(), 1.0).expect("tasks");
    assert!(tasks.len() < 20, "the oldest tasks went first");
    assert!(
        tasks.iter().any(|t| t.root == "task-19"),
        "the newest stayed"
    );
    let left = reader
        .records(&RecordFilter {
            limit: Some(10_000),
            ..Default::default()
        })
        .expect("records");
    assert_eq!(left.len() as u64, 1000 - deleted);
    assert_eq!(reader.count().expect("count") as u64, 1000 - deleted);
}

#[test]
fn tasks_filter_by_fields_of_the_root_context() {
    let (_dir, store) = store();
    let mut w = store.writer().expect("writer");
    let other = "0c7bd1b4-7f1c-4a43-9d8e-3b2f5d3f8e11";
    let other_open = {
        let body = format!(
            r#"{{"name": "root", "levelno": 20, "levelname": "INFO", "message": "other",
            "created": 2.0, "hostname": "obelix", "process": 6156, "scope_event": "open",
            "context": {{"key": "0@{other}", "user": "ada", "request": {{"id": 7}}}}}}"#
        );
        decode(
            Topic::parse(b"PLJ").expect("topic"),
            body.as_bytes(),
            &Limits::default(),
        )
        .expect("valid record")
    };
    let mut records = tutorial();
    records.push(other_open);
    w.write_batch(&records, 3.0).expect("write");
    let r = store.reader().expect("reader");
    let roots = |context: &str| -> Vec<String> {
        let filter = TaskFilter {
            context: Some(context.to_owned()),
            ..TaskFilter::default()
        };
        r.tasks(&filter, 3.0)
            .expect("tasks")
            .into_iter()
            .map(|t| t.root)
            .collect()
    };
    assert_eq!(roots("user=leo"), vec![U.to_owned()]);
    assert_eq!(roots("user=ada"), vec![other.to_owned()]);
    assert_eq!(roots("request.id=7"), vec![other.to_owned()]);
    assert_eq!(roots("user=ada, request.id=8"), Vec::<String>::new());
    assert_eq!(roots("user=nobody"), Vec::<String>::new());
    assert_eq!(roots(" "), vec![other.to_owned(), U.to_owned()]);
    // The key is the scope's address, not part of the context shown.
    let task = r.task(U, 3.0).expect("task").expect("stored");
    assert_eq!(task.context, Some(serde_json::json!({"user": "leo"})));
    for bad in ["user", "=leo", "a..b=1", "\"x\"=1"] {
        let filter = TaskFilter {
            context: Some(bad.to_owned()),
            ..TaskFilter::default()
        };
        let err = r.tasks(&filter, 3.0).expect_err(bad);
        assert!(err.to_string().contains("context filter"), "{bad}: {err}");
    }
}

#[test]
fn a_schema_1_store_is_migrated_keeping_its_records_and_trees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.db");
    {
        // Schema 1 as distlogd 0.1 wrote it, with the tutorial's root stored.
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(include_str!("testdata/schema_v1.sql"))
            .expect("schema 1");
    }
    let store = Store::open(&path).expect("migrates");
    let r = store.reader().expect("reader");
    let tree = r.tree(U, 10.0).expect("tree").expect("kept");
    assert_eq!(
        messages(&tree.scope),
        ["toplevel", "into task", "[subtask]", "toplevel"]
    );
    let task = r.task(U, 10.0).expect("task").expect("kept");
    assert_eq!(task.status, Status::Succeeded);
    assert_eq!(task.context, Some(serde_json::json!({"user": "leo"})));
    // New records join the migrated task.
    let mut w = store.writer().expect("writer");
    w.write_batch(&[rec(Some(&format!("3@{U}")), "late", "", 2.0)], 10.0)
        .expect("write");
    let tree = r.tree(U, 10.0).expect("tree").expect("kept");
    assert_eq!(
        messages(&tree.scope),
        ["toplevel", "into task", "[subtask]", "toplevel", "late"]
    );
    drop(store);
    let reopened = Store::open(&path).expect("reopens at schema 2");
    assert_eq!(
        reopened.reader().expect("reader").count().expect("count"),
        5
    );
}

#[test]
fn a_tree_serialises_its_records_without_what_their_place_says() {
    let (_dir, store) = store();
    store
        .writer()
        .expect("writer")
        .write_batch(&tutorial(), 2.0)
        .expect("write");
    let tree = store
        .reader()
        .expect("reader")
        .tree(U, 2.0)
        .expect("query")
        .expect("tree");
    let json = serde_json::to_value(&tree).expect("serialises");
    let first = &json["scope"]["entries"][0];
    assert_eq!(first["type"], "record");
    assert_eq!(first["key"], format!("0@{U}"));
    assert_eq!(
        (first["seq"].as_i64(), first["event"].as_str()),
        (Some(0), Some("open"))
    );
    assert_eq!(first["context"], serde_json::json!({"user": "leo"}));
    for gone in ["root", "scope", "received", "topic", "duration", "body"] {
        assert!(first.get(gone).is_none(), "{gone} in {first}");
    }
    let closing = &json["scope"]["entries"][3];
    assert_eq!(
        (closing["event"].as_str(), closing["duration"].as_f64()),
        (Some("close"), Some(0.5))
    );
}

#[test]
fn status_failed_finds_a_task_whose_subtask_failed_and_a_root_prefix_finds_its_task() {
    let (_dir, store) = store();
    let other = "1844aa91-0000-4000-8000-000000000000";
    let event = |key: String, message: &str, event: &str, at: f64| {
        rec(
            Some(&key),
            message,
            &format!(r#","scope_event": "{event}""#),
            at,
        )
    };
    let records = vec![
        event(format!("0@{U}"), "job", "open", 1.0),
        event(format!("0@{U}/1"), "step", "open", 1.1),
        event(format!("1@{U}/1"), "step", "fail", 1.2),
        event(format!("1@{U}"), "job", "close", 1.3),
        event(format!("0@{other}"), "fine", "open", 1.4),
        event(format!("1@{other}"), "fine", "close", 1.5),
    ];
    store
        .writer()
        .expect("w")
        .write_batch(&records, 2.0)
        .expect("write");
    let reader = store.reader().expect("reader");
    let failed = TaskFilter {
        status: Some(Status::Failed),
        ..TaskFilter::default()
    };
    let roots: Vec<String> = reader
        .tasks(&failed, 2.0)
        .expect("q")
        .into_iter()
        .map(|t| t.root)
        .collect();
    assert_eq!(roots, vec![U.to_owned()]);
    let t = reader.task(U, 2.0).expect("q").expect("task");
    assert_eq!((t.status, t.failures), (Status::Succeeded, 1));
    let by_prefix = TaskFilter {
        root_prefix: Some("1844AA91".into()),
        ..TaskFilter::default()
    };
    let found = reader.tasks(&by_prefix, 2.0).expect("q");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].root, other);
}

mod paged;
mod paged_summaries;
