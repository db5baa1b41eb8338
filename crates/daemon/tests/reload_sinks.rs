//! What a SIGHUP reload does to running sinks and live-feed subscribers,
//! with the real binary, real sockets and real files.

mod common;

use std::path::Path;
use std::sync::mpsc;

use common::{next_event, pusher, record, store_path, subscribe, Daemon};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write config");
}

fn message_of(feed: &mpsc::Receiver<String>) -> String {
    let (event, data) = next_event(feed).expect("an event");
    assert_eq!(event, "", "a record, not {event}: {data}");
    let r: serde_json::Value = serde_json::from_str(&data).expect("JSON record");
    r["message"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn feed_subscribers_follow_a_reload_and_end_with_the_reason_when_their_feed_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("distlogd.yml");
    write(
        &config,
        "sinks:\n  store: {type: store}\n  live: {type: feed, buffer: 64}\n",
    );
    let config_arg = config.display().to_string();
    let daemon = Daemon::start_with(&store_path(&dir), &["--config", &config_arg]);
    let first = subscribe(&daemon, "");
    let named = subscribe(&daemon, "?sink=live");
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    let send = |message: &str| {
        sock.send_multipart([&b"PLJ"[..], &record(None, message, "")], 0)
            .expect("send");
    };
    send("one");
    assert_eq!(message_of(&first), "one");
    assert_eq!(message_of(&named), "one");

    // Same name, new settings: a new feed sink takes over.
    write(
        &config,
        "sinks:\n  store: {type: store}\n  live: {type: feed, buffer: 128}\n",
    );
    daemon.signal("HUP");
    daemon.wait_log("configuration reloaded");
    send("two");
    assert_eq!(message_of(&first), "two");
    assert_eq!(message_of(&named), "two");
    daemon.wait_for("both on the new feed", |_| {
        daemon.sink("live")["subscribers"] == 2
    });

    write(&config, "sinks:\n  store: {type: store}\n");
    daemon.signal("HUP");
    daemon.wait_log("configuration reloaded");
    for (feed, why) in [
        (&first, "the configuration was reloaded without a feed sink"),
        (
            &named,
            r#"the configuration was reloaded without the feed sink "live""#,
        ),
    ] {
        let (event, data) = next_event(feed).expect("the closing event");
        assert_eq!(event, "closed", "{data}");
        let data: serde_json::Value = serde_json::from_str(&data).expect("JSON");
        assert_eq!(data["error"], why);
        assert_eq!(next_event(feed), None, "the response ends");
    }
}

/// The files the daemon's process has open.
fn open_files(pid: u32) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc lists the daemon's files")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .collect()
}

#[test]
fn a_sink_replaced_by_a_reload_releases_its_file_without_waiting_for_a_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("distlogd.yml");
    let old = dir.path().join("old.jsonl");
    let new = dir.path().join("new.jsonl");
    let file_sink = |path: &Path| {
        format!("sinks:\n  store: {{type: store}}\n  archive: {{type: file, path: {path:?}}}\n")
    };
    write(&config, &file_sink(&old));
    let config_arg = config.display().to_string();
    let daemon = Daemon::start_with(&store_path(&dir), &["--config", &config_arg]);
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    sock.send_multipart([&b"PLJ"[..], &record(None, "kept", "")], 0)
        .expect("send");
    daemon.wait_for("the record in the old file", |_| {
        daemon.sink("archive")["written"] == 1
    });
    let old = old.canonicalize().expect("old file exists");
    assert!(open_files(daemon.pid()).contains(&old));

    write(&config, &file_sink(&new));
    daemon.signal("HUP");
    let line = daemon.wait_log("sink stopped");
    assert!(line.contains("archive"), "{line}");
    // No record came since the reload; the old file is closed all the same.
    assert!(
        !open_files(daemon.pid()).contains(&old),
        "{} still open",
        old.display()
    );
    let kept = std::fs::read_to_string(&old).expect("old file");
    assert!(kept.contains("\"kept\""), "{kept}");
}
