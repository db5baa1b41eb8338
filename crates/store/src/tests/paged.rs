//! The paged tree (skeleton, scope pages, key paths) against the whole tree.

use super::{rec, store, U};
use crate::{Entry, ScopeNode, ScopeSummary, Status};

/// A task of nested scopes, sent shuffled: a failing scope, a scope from
/// another process, one whose opening record never came, and a scope with
/// enough records for several pages.
pub(super) fn shuffled_task() -> Vec<distlog_proto::Record> {
    let mut out = vec![
        rec(
            Some(&format!("0@{U}")),
            "job",
            r#","scope_event": "open""#,
            1.0,
        ),
        rec(
            Some(&format!("0@{U}/1")),
            "step one",
            r#","scope_event": "open""#,
            1.1,
        ),
        rec(
            Some(&format!("0@{U}/2")),
            "step two",
            r#","scope_event": "open""#,
            2.0,
        ),
        rec(
            Some(&format!("1@{U}/2")),
            "boom",
            r#","scope_event": "fail", "levelno": 40, "exc_text": "Traceback: boom""#,
            2.5,
        ),
        rec(
            Some(&format!("0@{U}/1/1")),
            "deep",
            r#","scope_event": "open", "process": 99"#,
            1.2,
        ),
        rec(
            Some(&format!("1@{U}/1/1")),
            "deep done",
            r#","scope_event": "close", "process": 99"#,
            1.3,
        ),
        // No opening record for /3.
        rec(
            Some(&format!("4@{U}/3")),
            "late warning",
            r#","levelno": 30"#,
            3.0,
        ),
        rec(
            Some(&format!("900@{U}")),
            "job",
            r#","scope_event": "close""#,
            4.0,
        ),
    ];
    for i in 1..=25 {
        out.push(rec(
            Some(&format!("{i}@{U}/1")),
            &format!("line {i}"),
            "",
            1.1 + f64::from(i) / 1000.0,
        ));
        out.push(rec(
            Some(&format!("{}@{U}", 100 + i)),
            &format!("root {i}"),
            "",
            1.05 + f64::from(i) / 10.0,
        ));
    }
    out.push(rec(
        Some(&format!("26@{U}/1")),
        "step one",
        r#","scope_event": "close""#,
        1.9,
    ));
    // A fixed shuffle: every other record from the back.
    let (a, b): (Vec<_>, Vec<_>) = out.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    b.into_iter().rev().chain(a).map(|(_, r)| r).collect()
}

fn own_ids(s: &ScopeNode) -> Vec<i64> {
    s.entries
        .iter()
        .filter_map(|e| match e {
            Entry::Record(r) => Some(r.id),
            Entry::Scope(_) => None,
        })
        .collect()
}

fn children(s: &ScopeNode) -> Vec<&ScopeNode> {
    s.entries
        .iter()
        .filter_map(|e| match e {
            Entry::Scope(c) => Some(c),
            Entry::Record(_) => None,
        })
        .collect()
}

/// Every scope of the skeleton says what the whole tree says of it, and
/// paging through its records gives the tree's records in the tree's order.
pub(super) fn check(
    reader: &crate::Reader,
    whole: &ScopeNode,
    skel: &ScopeSummary,
    limit: usize,
) -> usize {
    assert_eq!(skel.id, whole.id);
    assert_eq!(skel.message, whole.message, "{}", whole.id);
    assert_eq!(skel.status, whole.status, "{}", whole.id);
    assert_eq!(
        (skel.started, skel.ended, skel.duration),
        (whole.started, whole.ended, whole.duration),
        "{}",
        whole.id
    );
    assert_eq!(
        (&skel.host, skel.process, skel.foreign),
        (&whole.host, whole.process, whole.foreign),
        "{}",
        whole.id
    );
    let ids = own_ids(whole);
    assert_eq!(skel.records, ids.len(), "{}", whole.id);
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = reader
            .scope_page(U, &whole.path, after.as_deref(), limit)
            .expect("page")
            .expect("task");
        assert_eq!((page.total, page.offset), (ids.len(), paged.len()));
        assert!(page.records.len() <= limit);
        paged.extend(page.records.iter().map(|r| r.id));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(paged, ids, "records of {}", whole.id);
    let kids = children(whole);
    assert_eq!(skel.children.len(), kids.len(), "children of {}", whole.id);
    let below: usize = kids
        .iter()
        .zip(&skel.children)
        .map(|(w, s)| check(reader, w, s, limit))
        .sum();
    assert_eq!(skel.total_records, ids.len() + below);
    ids.len() + below
}

#[test]
fn the_paged_tree_has_the_whole_trees_scopes_and_records_in_order() {
    let (_dir, store) = store();
    let records = shuffled_task();
    let n = records.len();
    // Half in a segment, half in memory: the pages read both.
    let (first, second) = records.split_at(n / 2);
    store
        .writer()
        .expect("w")
        .write_batch(first, 5.0)
        .expect("write");
    store.flush().expect("flush");
    store
        .writer()
        .expect("w")
        .write_batch(second, 5.0)
        .expect("write");
    let reader = store.reader().expect("reader");
    let whole = reader.tree(U, 5.0).expect("q").expect("tree");
    let skel = reader.skeleton(U, 5.0).expect("q").expect("skeleton");
    assert_eq!(skel.records, n);
    assert_eq!(skel.scopes, 5);
    assert_eq!(skel.scope.failures, 1);
    assert_eq!(skel.scope.children[1].status, Status::Failed);
    assert_eq!(skel.scope.children[1].errors, 1);
    assert!(skel.scope.children[0].children[0].foreign);
    for limit in [1, 3, 10, 1000] {
        assert_eq!(check(&reader, &whole.scope, &skel.scope, limit), n);
    }
    // Without records the skeleton is a small fraction of the tree.
    let skel_json = serde_json::to_string(&skel).expect("json").len();
    let tree_json = serde_json::to_string(&whole).expect("json").len();
    assert!(skel_json * 3 < tree_json, "{skel_json} vs {tree_json}");
}

#[test]
fn a_key_path_names_the_scopes_down_to_the_key_and_a_cursor_to_its_page() {
    let (_dir, store) = store();
    store
        .writer()
        .expect("w")
        .write_batch(&shuffled_task(), 5.0)
        .expect("write");
    let reader = store.reader().expect("reader");
    let key = distlog_proto::Key::parse(&format!("7@{U}/1")).expect("key");
    let path = reader.key_path(&key).expect("q").expect("path");
    assert_eq!(path.scopes, vec![U.to_owned(), format!("{U}/1")]);
    assert_eq!(path.offset, 7);
    let page = reader
        .scope_page(U, "/1", path.cursor.as_deref(), 2)
        .expect("q")
        .expect("page");
    assert_eq!(page.offset, 7);
    assert_eq!(
        page.records[0].key.as_deref(),
        Some(format!("7@{U}/1").as_str())
    );
    let missing = distlog_proto::Key::parse(&format!("77@{U}/1")).expect("key");
    assert!(reader.key_path(&missing).expect("q").is_none());
    assert!(reader.scope_page(U, "/1", Some("nonsense"), 2).is_err());
    assert!(reader
        .scope_page("no-such-task", "", None, 2)
        .expect("q")
        .is_none());
}
