//! Routing on `task: failed` with the real binary: timeouts, the bound on
//! held tasks, late failures, `mode: first`, and a reload deciding what
//! is held. (tests/test_tail_rules_e2e.py drives it with real Python
//! programs.)

mod common;

use std::path::Path;

use common::{pusher, record, store_path, Daemon};

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn messages(path: &Path) -> Vec<String> {
    lines(path)
        .iter()
        .map(|r| r["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn event(key: &str, message: &str, event: &str) -> Vec<u8> {
    let level = if event == "fail" {
        r#","levelno": 40, "levelname": "ERROR""#
    } else {
        ""
    };
    record(
        Some(key),
        message,
        &format!(r#", "scope_event": "{event}"{level}"#),
    )
}

fn config(dir: &Path, tail: &str, mode: &str) -> String {
    let failed = dir.join("failed.jsonl");
    let rest = dir.join("rest.jsonl");
    format!(
        "sinks:\n  store: {{type: store}}\n  failed: {{type: file, path: {failed:?}}}\n  rest: {{type: file, path: {rest:?}}}\n\
         routes:\n  mode: {mode}\n  tail: {tail}\n  rules:\n    - match: {{task: failed}}\n      to: [failed]\n    - to: [rest]\n  default: []\n"
    )
}

#[test]
fn silent_tasks_time_out_the_bound_decides_early_and_a_late_failure_still_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("distlogd.yml");
    std::fs::write(
        &path,
        config(dir.path(), "{timeout: 1s, grace: 1s, max_tasks: 2}", "all"),
    )
    .expect("config");
    let config_arg = path.display().to_string();
    let daemon = Daemon::start_with(&store_path(&dir), &["--config", &config_arg]);
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    let send = |body: Vec<u8>| sock.send_multipart([&b"PLJ"[..], &body], 0).expect("send");

    // Five tasks open and go silent: past two held, the others are
    // decided early, the rest at the timeout; none failed.
    for t in 0..5 {
        send(event(&format!("0@silent{t}"), &format!("open {t}"), "open"));
    }
    let s = daemon.wait_for("all five decided", |s| {
        s["tail"]["decided"]["early"] == 3 && s["tail"]["decided"]["timeout"] == 2
    });
    assert_eq!(s["tail"]["held_tasks"], 0);
    assert_eq!(s["tail"]["records_dropped"], 5, "the failed sink got none");
    assert!(messages(&dir.path().join("failed.jsonl")).is_empty());
    assert_eq!(s["tail"]["max_tasks"], 2);

    // A failure after its task timed out: it and what follows are kept.
    send(event("1@silent0", "failed late", "fail"));
    send(record(Some("2@silent0"), "after the failure", ""));
    daemon.wait_for("the late failure", |s| s["tail"]["late_failures"] == 1);
    daemon.wait_for("both in the failed file", |_| {
        daemon.sink("failed")["written"] == 2
    });
    assert_eq!(
        messages(&dir.path().join("failed.jsonl")),
        ["failed late", "after the failure"]
    );
    // `rest` has every record once, held or not.
    daemon.wait_for("rest written", |_| daemon.sink("rest")["written"] == 7);
}

#[test]
fn in_mode_first_a_task_rule_holds_what_the_rules_after_it_would_take() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("distlogd.yml");
    std::fs::write(&path, config(dir.path(), "{grace: 1s}", "first")).expect("config");
    let config_arg = path.display().to_string();
    let daemon = Daemon::start_with(&store_path(&dir), &["--config", &config_arg]);
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    let send = |body: Vec<u8>| sock.send_multipart([&b"PLJ"[..], &body], 0).expect("send");
    // `ok` succeeds, `bad` fails in a child: each record goes to exactly
    // one of the two files, by its task's outcome.
    for root in ["ok", "bad"] {
        send(event(&format!("0@{root}"), &format!("{root} open"), "open"));
        send(event(
            &format!("0@{root}/1"),
            &format!("{root} child"),
            "open",
        ));
        let end = if root == "bad" { "fail" } else { "close" };
        send(event(
            &format!("1@{root}/1"),
            &format!("{root} child end"),
            end,
        ));
        send(event(
            &format!("1@{root}"),
            &format!("{root} close"),
            "close",
        ));
    }
    daemon.wait_for("both decided", |s| {
        s["tail"]["decided"]["failed"] == 1 && s["tail"]["decided"]["closed"] == 1
    });
    daemon.wait_for("written", |_| {
        daemon.sink("failed")["written"] == 4 && daemon.sink("rest")["written"] == 4
    });
    assert_eq!(
        messages(&dir.path().join("failed.jsonl")),
        ["bad open", "bad child", "bad child end", "bad close"]
    );
    assert_eq!(
        messages(&dir.path().join("rest.jsonl")),
        ["ok open", "ok child", "ok child end", "ok close"]
    );
}

#[test]
fn a_reload_decides_the_held_tasks_and_the_counters_carry_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("distlogd.yml");
    std::fs::write(
        &path,
        config(dir.path(), "{timeout: 10m, grace: 10m}", "all"),
    )
    .expect("config");
    let config_arg = path.display().to_string();
    let daemon = Daemon::start_with(&store_path(&dir), &["--config", &config_arg]);
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    sock.send_multipart([&b"PLJ"[..], &event("0@held", "held open", "open")], 0)
        .expect("send");
    sock.send_multipart([&b"PLJ"[..], &event("0@gone", "gone fails", "fail")], 0)
        .expect("send");
    daemon.wait_for("one held, one failed", |s| {
        s["tail"]["held_tasks"] == 1 && s["tail"]["decided"]["failed"] == 1
    });
    // A new configuration (max_tasks differs): the held task is decided as
    // it stands, into the sinks of the configuration that held it.
    std::fs::write(
        &path,
        config(
            dir.path(),
            "{timeout: 10m, grace: 10m, max_tasks: 99}",
            "all",
        ),
    )
    .expect("config");
    daemon.signal("HUP");
    daemon.wait_log("configuration reloaded");
    let s = daemon.wait_for("flushed", |s| s["tail"]["decided"]["flush"] == 1);
    assert_eq!(s["tail"]["held_tasks"], 0);
    assert_eq!(
        s["tail"]["decided"]["failed"], 1,
        "counted before the reload"
    );
    assert_eq!(s["tail"]["max_tasks"], 99);
    daemon.wait_for("rest written", |_| daemon.sink("rest")["written"] == 2);
    assert_eq!(messages(&dir.path().join("failed.jsonl")), ["gone fails"]);
}
