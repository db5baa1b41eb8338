//! The Rust client on a real PULL socket. One process may `init` once, so
//! each scenario runs in its own child process (the example binary) or
//! shares one init here.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

fn pull() -> (zmq::Context, zmq::Socket, String) {
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::PULL).expect("socket");
    s.bind("tcp://127.0.0.1:*").expect("bind");
    let ep = s.get_last_endpoint().expect("ep").expect("utf-8");
    (ctx, s, ep)
}

fn receive(s: &zmq::Socket, n: usize) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    while out.len() < n {
        let mut items = [s.as_poll_item(zmq::POLLIN)];
        zmq::poll(&mut items, 30_000).expect("poll");
        if !items[0].is_readable() {
            break;
        }
        let frames = s.recv_multipart(0).expect("recv");
        let body = serde_json::from_slice(&frames[1]).expect("JSON body");
        out.push((String::from_utf8_lossy(&frames[0]).into_owned(), body));
    }
    out
}

fn example() -> Command {
    // Cargo builds examples for integration tests of the same package.
    let mut dir = std::env::current_exe().expect("exe");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    Command::new(dir.join("examples").join("tutorial"))
}

#[test]
fn the_tutorial_in_rust_sends_the_same_seven_records_as_python() {
    let (_ctx, s, ep) = pull();
    let out = example().args(["--endpoint", &ep]).output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "into task\ninto subtask\nall done\n"
    );
    let got = receive(&s, 7);
    assert_eq!(got.len(), 7);
    assert!(got.iter().all(|(t, _)| t == "PLJ"));
    let u = got[0].1["context"]["key"].as_str().expect("key")[2..].to_owned();
    let want = [
        ("toplevel", Some(format!("0@{u}")), Some("open")),
        ("into task", Some(format!("1@{u}")), None),
        ("subtask", Some(format!("0@{u}/1")), Some("open")),
        ("into task", Some(format!("1@{u}/1")), None),
        ("subtask done", Some(format!("2@{u}/1")), Some("close")),
        ("toplevel", Some(format!("2@{u}")), Some("close")),
        ("all done", None, None),
    ];
    for ((_, body), (message, key, event)) in got.iter().zip(want) {
        assert_eq!(body["message"], message);
        assert_eq!(body["context"]["key"].as_str().map(str::to_owned), key);
        assert_eq!(body["scope_event"].as_str(), event);
        for field in [
            "name",
            "levelname",
            "levelno",
            "pathname",
            "filename",
            "lineno",
            "created",
            "msecs",
            "relativeCreated",
            "thread",
            "threadName",
            "process",
            "processName",
            "hostname",
            "asctime",
            "msg",
            "args",
            "exc_info",
            "exc_text",
            "stack_info",
            "module",
            "funcName",
        ] {
            assert!(body.get(field).is_some(), "{field} missing in {body}");
        }
    }
    assert_eq!(got[0].1["context"]["user"], "leo");
    assert_eq!(got[2].1["context"]["arg"], 42, "typed context values");
    assert_eq!(got[1].1["name"], "tutorial", "name is the log target");
    assert_eq!(got[0].1["filename"], "tutorial.rs");
    assert!(got[4].1["scope_duration"].as_f64().is_some());
}

#[test]
fn import_continues_a_foreign_slot_and_no_daemon_never_hangs() {
    let (_ctx, s, ep) = pull();
    let out = example()
        .args(["--endpoint", &ep, "--import", "c0ffee/3/1"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let keys: Vec<_> = receive(&s, 3)
        .into_iter()
        .map(|(_, b)| b["context"]["key"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(keys, ["0@c0ffee/3/1", "1@c0ffee/3/1", "2@c0ffee/3/1"]);

    // Nothing listens: the program still ends (the guard's linger bounds
    // it). A generous hang guard, not a timing assertion.
    let mut child = example()
        .args(["--endpoint", "tcp://127.0.0.1:9"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the program hung with no daemon");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
}
