//! The paged tree over HTTP against the whole tree: the same records, in
//! order, and clear errors for what is not a scope, cursor or key.

mod common;

use common::{pusher, record, store_path, Daemon};
use serde_json::Value;

fn own_keys(scope: &Value) -> Vec<String> {
    scope["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "record")
        .filter_map(|e| e["key"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn pages_of_a_scope_give_the_whole_trees_records_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(&store_path(&dir));
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    let open = r#", "scope_event": "open""#;
    let mut sent = 0;
    let mut send = |key: &str, extra: &str| {
        sock.send_multipart([&b"PLJ"[..], &record(Some(key), "m", extra)], 0)
            .expect("send");
        sent += 1;
    };
    // Sent out of order: the sub-scope's records before the root's.
    for i in (1..40).rev() {
        send(&format!("{i}@paged-task/1"), "");
    }
    send("0@paged-task/1", open);
    send("0@paged-task", open);
    for i in 1..25 {
        send(&format!("{i}@paged-task"), "");
    }
    daemon.wait_for("every record stored", |s| s["store"]["stored"] == sent);

    let whole = daemon.get("/api/tree/paged-task");
    let skel = daemon.get("/api/skeleton/paged-task");
    assert_eq!(skel["records"], sent);
    assert_eq!(skel["scopes"], 2);
    let sub = &whole["scope"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["type"] == "scope")
        .expect("the subscope")
        .clone();
    assert_eq!(skel["scope"]["children"][0]["records"], 40);
    for (id, scope) in [("paged-task", &whole["scope"]), ("paged-task/1", sub)] {
        let mut keys = Vec::new();
        let mut after = String::new();
        loop {
            let page = daemon.get(&format!("/api/scope/{id}?limit=7{after}"));
            for r in page["records"].as_array().expect("records") {
                keys.push(r["key"].as_str().expect("key").to_owned());
            }
            match page["next"].as_str() {
                Some(n) => after = format!("&after={n}"),
                None => break,
            }
        }
        assert_eq!(keys, own_keys(scope), "{id}");
    }
    let path = daemon.get("/api/path/9@paged-task/1");
    assert_eq!(
        path["scopes"],
        serde_json::json!(["paged-task", "paged-task/1"])
    );
    assert_eq!(path["offset"], 9);

    for (url, want) in [
        ("/api/skeleton/no-such-task", 404),
        ("/api/scope/no-such-task", 404),
        ("/api/scope/paged-task?after=nonsense", 400),
        ("/api/scope/paged-task?limit=0", 400),
        ("/api/scope/3@paged-task", 400),
        ("/api/path/paged-task", 400),
        ("/api/path/99@paged-task/1", 404),
    ] {
        let (status, body) = daemon.get_status(url);
        assert_eq!(status, want, "{url}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{url}"
        );
    }
}

/// Every scope of a skeleton answer by id: (records, total_records,
/// number of children in the answer, more_scopes).
fn scopes_of(scope: &Value, out: &mut Vec<(String, u64, u64, usize, u64)>) {
    let kids = scope["children"].as_array().expect("children");
    out.push((
        scope["id"].as_str().expect("id").to_owned(),
        scope["records"].as_u64().expect("records"),
        scope["total_records"].as_u64().expect("total_records"),
        kids.len(),
        scope["more_scopes"].as_u64().unwrap_or(0),
    ));
    for k in kids {
        scopes_of(k, out);
    }
}

#[test]
fn a_depth_limited_skeleton_is_the_top_of_the_whole_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(&store_path(&dir));
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    let open = r#", "scope_event": "open""#;
    let mut sent = 0;
    let mut send = |key: &str, extra: &str| {
        sock.send_multipart([&b"PLJ"[..], &record(Some(key), "m", extra)], 0)
            .expect("send");
        sent += 1;
    };
    // The root, 3 batches of 1, 2 and 3 items, the second item of each
    // with one scope of its own below it.
    send("0@cut-task", open);
    for b in 1..=3 {
        send(&format!("0@cut-task/{b}"), open);
        for i in 1..=b {
            send(&format!("0@cut-task/{b}/{i}"), open);
            send(&format!("1@cut-task/{b}/{i}"), "");
            if i == 2 {
                send(&format!("0@cut-task/{b}/{i}/1"), open);
            }
        }
    }
    daemon.wait_for("every record stored", |s| s["store"]["stored"] == sent);

    let whole = daemon.get("/api/skeleton/cut-task");
    let mut all = Vec::new();
    scopes_of(&whole["scope"], &mut all);
    assert_eq!(all.len(), 1 + 3 + 6 + 2);
    assert!(
        all.iter().all(|s| s.4 == 0),
        "no cut without depth: {all:?}"
    );
    // A scope id without depth: the whole task's, as scripts expect.
    assert_eq!(daemon.get("/api/skeleton/cut-task/2"), whole);

    let top = daemon.get("/api/skeleton/cut-task?depth=1");
    assert_eq!(top["records"], whole["records"]);
    assert_eq!(top["scopes"], whole["scopes"]);
    let mut cut = Vec::new();
    scopes_of(&top["scope"], &mut cut);
    let ids: Vec<&str> = cut.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(ids, ["cut-task", "cut-task/1", "cut-task/2", "cut-task/3"]);
    for s in &cut {
        let full = all.iter().find(|a| a.0 == s.0).expect("in the whole");
        // Same counts of the branch; the children left out are counted.
        assert_eq!((s.1, s.2), (full.1, full.2), "{}", s.0);
        assert_eq!(s.3 as u64 + s.4, full.3 as u64, "{}", s.0);
    }
    assert_eq!(cut[3].4, 3, "batch 3's items are counted");

    // Unfolding batch 3: its items, each cut below itself.
    let below = daemon.get("/api/skeleton/cut-task/3?depth=1");
    assert_eq!(below["root"], "cut-task");
    let mut sub = Vec::new();
    scopes_of(&below["scope"], &mut sub);
    let ids: Vec<&str> = sub.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        ids,
        ["cut-task/3", "cut-task/3/1", "cut-task/3/2", "cut-task/3/3"]
    );
    assert_eq!(sub[2].4, 1, "item 2's own scope is counted");
    let deep = daemon.get("/api/skeleton/cut-task/3?depth=5");
    let mut deep_all = Vec::new();
    scopes_of(&deep["scope"], &mut deep_all);
    let from_whole: Vec<_> = all
        .iter()
        .filter(|a| a.0.starts_with("cut-task/3"))
        .cloned()
        .collect();
    assert_eq!(deep_all, from_whole);

    // At most 2 children a scope: the root keeps two batches.
    let few = daemon.get("/api/skeleton/cut-task?children=2");
    let mut kept = Vec::new();
    scopes_of(&few["scope"], &mut kept);
    let ids: Vec<&str> = kept.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        ids,
        [
            "cut-task",
            "cut-task/1",
            "cut-task/1/1",
            "cut-task/2",
            "cut-task/2/1",
            "cut-task/2/2",
            "cut-task/2/2/1",
        ]
    );
    assert_eq!(kept[0].4, 1, "the root's third batch is counted");
    assert_eq!(kept[0].2, all[0].2, "the root counts its whole branch");
    let few = daemon.get("/api/skeleton/cut-task/3?children=2");
    let mut kept = Vec::new();
    scopes_of(&few["scope"], &mut kept);
    let ids: Vec<&str> = kept.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        ids,
        [
            "cut-task/3",
            "cut-task/3/1",
            "cut-task/3/2",
            "cut-task/3/2/1"
        ]
    );
    assert_eq!(kept[0].4, 1, "batch 3's third item is counted");

    for (url, want) in [
        ("/api/skeleton/cut-task/9?depth=1", 404),
        ("/api/skeleton/cut-task?depth=nonsense", 400),
        ("/api/skeleton/cut-task?depth=99999", 400),
        ("/api/skeleton/cut-task?children=-1", 400),
    ] {
        let (status, body) = daemon.get_status(url);
        assert_eq!(status, want, "{url}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{url}"
        );
    }
}
