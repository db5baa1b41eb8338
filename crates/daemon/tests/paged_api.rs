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
