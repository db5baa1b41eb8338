//! The store across reloads and restarts: the API reads the store of the
//! running configuration, a reload that only changes retention keeps the
//! open store, and a second daemon on a store in use refuses to start.

mod common;

use std::path::Path;
use std::process::Command;

use common::{next_event, pusher, record, store_path, subscribe, Daemon};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write config");
}

#[test]
fn after_a_reload_to_another_store_path_the_api_reads_the_new_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("distlogd.yml");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    write(
        &config,
        &format!("sinks:\n  store: {{type: store, path: {a:?}}}\n"),
    );
    let config_arg = config.display().to_string();
    let daemon = Daemon::start_with(&store_path(&dir), &["--config", &config_arg]);
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    let send = |m: &str| {
        sock.send_multipart([&b"PLJ"[..], &record(None, m, "")], 0)
            .expect("send");
    };
    send("into a");
    daemon.wait_for("one record in a", |s| s["store"]["records"] == 1);

    write(
        &config,
        &format!("sinks:\n  store: {{type: store, path: {b:?}}}\n"),
    );
    daemon.signal("HUP");
    daemon.wait_log("configuration reloaded");
    send("into b");
    send("into b again");
    let stats = daemon.wait_for("two records in b", |s| s["store"]["records"] == 2);
    assert_eq!(stats["store"]["path"], b.display().to_string());
    let rows = daemon.get("/api/records");
    let messages: Vec<&str> = rows["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["message"].as_str())
        .collect();
    assert_eq!(
        messages,
        ["into b again", "into b"],
        "the API reads b, not a"
    );

    // A reload that changes only retention keeps the open store (a second
    // open of the same store would be refused by its lock).
    write(
        &config,
        &format!("sinks:\n  store: {{type: store, path: {b:?}, retention: {{max_age: 30d}}}}\n"),
    );
    daemon.signal("HUP");
    daemon.wait_log("configuration reloaded");
    send("still b");
    daemon.wait_for("three records in b", |s| s["store"]["records"] == 3);
    daemon.stop();
}

/// Runs distlogd on `store`, which must refuse to start; its error output.
fn refused(store: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_distlogd"))
        .args([
            "--listen",
            "tcp://127.0.0.1:*",
            "--http",
            "127.0.0.1:0",
            "--store",
        ])
        .arg(store)
        .env_remove("DISTLOGD_CONFIG")
        .output()
        .expect("runs");
    assert!(
        !out.status.success(),
        "distlogd started on {}",
        store.display()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_second_daemon_on_a_store_in_use_refuses_to_start_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_path(&dir);
    let first = Daemon::start(&store);
    let err = refused(&store);
    assert!(err.contains("in use by another process"), "{err}");
    first.stop();
}

#[test]
fn a_store_path_holding_another_file_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("notes.db");
    std::fs::write(&file, "not a store").expect("write");
    let err = refused(&file);
    assert!(err.contains("is not a distlog store"), "{err}");
    assert_eq!(std::fs::read(&file).expect("read"), b"not a store");
}

#[test]
fn the_feed_and_the_store_show_the_same_received_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(&store_path(&dir));
    let feed = subscribe(&daemon, "");
    daemon.wait_for("the subscriber", |s| {
        s["sinks"]
            .as_array()
            .is_some_and(|a| a.iter().any(|k| k["subscribers"] == 1))
    });
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    for i in 0..50 {
        sock.send_multipart([&b"PLJ"[..], &record(None, &format!("r{i}"), "")], 0)
            .expect("send");
    }
    daemon.wait_for("stored", |s| s["store"]["stored"] == 50);
    let stored = daemon.get("/api/records?limit=100&order=asc");
    for (i, row) in stored["records"]
        .as_array()
        .expect("rows")
        .iter()
        .enumerate()
    {
        let (_, data) = next_event(&feed).expect("a record");
        let live: serde_json::Value = serde_json::from_str(&data).expect("JSON");
        assert_eq!(live["message"], row["message"]);
        // One stamp, at intake: the same float in both.
        assert_eq!(live["received"], row["received"], "record {i}");
    }
    daemon.stop();
}
