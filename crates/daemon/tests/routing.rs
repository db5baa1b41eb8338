//! Routing, sinks and reloads with the real binary, real files and sockets.

mod common;

use std::path::Path;
use std::process::Command;

use common::{pusher, record, store_path, Daemon};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write config");
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn error_record(i: usize) -> Vec<u8> {
    record(
        Some(&format!("{i}@errs")),
        "it broke",
        r#","levelno": 40, "levelname": "ERROR""#,
    )
}

#[test]
fn rules_send_a_record_to_several_sinks_and_others_to_the_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let errors = dir.path().join("errors.jsonl");
    let everything = dir.path().join("all.jsonl");
    let config = dir.path().join("distlogd.yml");
    write(
        &config,
        &format!(
            "sinks:\n  store: {{type: store}}\n  errors: {{type: file, path: {errors:?}}}\n  all: {{type: file, path: {everything:?}}}\n\
             routes:\n  mode: all\n  rules:\n    - match: {{level: ERROR}}\n      to: [errors, store]\n  default: [store, all]\n"
        ),
    );
    let config = config.display().to_string();
    let daemon = Daemon::start_with(&store_path(&dir), &["--config", &config]);
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    for i in 0..10 {
        sock.send_multipart(
            [&b"PLJ"[..], &record(Some(&format!("{i}@fine")), "ok", "")],
            0,
        )
        .expect("send");
        sock.send_multipart([&b"PLJ"[..], &error_record(i)], 0)
            .expect("send");
    }
    daemon.wait_for("all written", |s| {
        s["store"]["stored"] == 20
            && s["sinks"]
                .as_array()
                .is_some_and(|a| a.iter().all(|k| k["written"] == 10 || k["name"] == "store"))
    });
    let errs = lines(Path::new(&errors));
    assert_eq!(errs.len(), 10);
    assert!(errs.iter().all(|r| r["levelname"] == "ERROR"));
    let all = lines(&everything);
    assert_eq!(all.len(), 10, "errors matched a rule, so skip the default");
    assert!(all.iter().all(|r| r["message"] == "ok"));
}

#[test]
fn a_per_host_daemon_forwards_to_a_central_one_with_the_tree_intact() {
    let central_dir = tempfile::tempdir().expect("tempdir");
    let central = Daemon::start(&store_path(&central_dir));
    let host_dir = tempfile::tempdir().expect("tempdir");
    let config = host_dir.path().join("distlogd.yml");
    write(
        &config,
        &format!(
            "sinks:\n  store: {{type: store}}\n  central: {{type: forward, endpoint: {:?}}}\n",
            central.intake
        ),
    );
    let config = config.display().to_string();
    let host = Daemon::start_with(&store_path(&host_dir), &["--config", &config]);
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &host.intake);
    let root = "c0ffee00-0000-4000-8000-000000000001";
    let msgs = [
        (format!("0@{root}"), "request", r#","scope_event": "open""#),
        (format!("0@{root}/1"), "query", r#","scope_event": "open""#),
        (format!("1@{root}/1"), "query", r#","scope_event": "close""#),
        (format!("1@{root}"), "request", r#","scope_event": "close""#),
    ];
    for (key, message, extra) in &msgs {
        sock.send_multipart([&b"SLJ"[..], &record(Some(key), message, extra)], 0)
            .expect("send");
    }
    // A pickle body is forwarded as sent, not re-encoded.
    let pickled = b"\x80\x02}q\x00(X\x07\x00\x00\x00messageq\x01X\x06\x00\x00\x00pickleq\x02u.";
    sock.send_multipart([&b"SLP"[..], &pickled[..]], 0)
        .expect("send");
    host.wait_for("forwarded", |_| host.sink("central")["written"] == 5);
    let stats = central.wait_for("received at the centre", |s| s["store"]["stored"] == 5);
    assert_eq!(stats["rejected"]["total"], 0);
    let tree = central.get(&format!("/api/tree/{root}"));
    assert_eq!(tree["scope"]["status"], "succeeded");
    let sub = tree["scope"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["type"] == "scope")
        .expect("subtask")
        .clone();
    assert_eq!(
        (sub["message"].as_str(), sub["status"].as_str()),
        (Some("query"), Some("succeeded"))
    );
    let pickle = central.get("/api/records?q=pickle&full=true");
    assert_eq!(
        pickle["records"][0]["topic"], "SLP",
        "the original topic travels"
    );
}

#[test]
fn a_failing_file_sink_and_a_stalled_subscriber_do_not_stop_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("distlogd.yml");
    write(
        &config,
        "sinks:\n  store: {type: store}\n  full: {type: file, path: /dev/full}\n  feed: {type: feed, buffer: 16}\n",
    );
    let config = config.display().to_string();
    let daemon = Daemon::start_with(&store_path(&dir), &["--config", &config]);
    // A subscriber that connects and never reads.
    let http = daemon.http.trim_start_matches("http://").to_owned();
    let mut stalled = std::net::TcpStream::connect(&http).expect("connect");
    std::io::Write::write_all(
        &mut stalled,
        format!("GET /api/feed HTTP/1.1\r\nHost: {http}\r\n\r\n").as_bytes(),
    )
    .expect("request");
    daemon.wait_for("the subscriber", |_| {
        daemon.sink("feed")["subscribers"] == 1
    });

    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    let n = 20_000;
    let body = record(Some("0@big"), &"x".repeat(300), "");
    for _ in 0..n {
        sock.send_multipart([&b"PLJ"[..], &body], 0).expect("send");
    }
    let stats = daemon.wait_for("every record stored", |s| s["store"]["stored"] == n);
    let full = daemon.sink("full");
    assert!(full["errors"].as_u64() > Some(0), "{full}");
    assert_eq!(full["written"], 0, "{full}");
    assert_eq!(stats["rejected"]["total"], 0);
    drop(stalled);
}

#[test]
fn sighup_applies_a_good_config_and_keeps_the_old_one_on_a_bad_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("distlogd.yml");
    let extra = dir.path().join("extra.jsonl");
    write(&config, "sinks:\n  store: {type: store}\n");
    let config_arg = config.display().to_string();
    let daemon = Daemon::start_with(&store_path(&dir), &["--config", &config_arg]);
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    let send = |i: usize| {
        sock.send_multipart(
            [&b"PLJ"[..], &record(Some(&format!("{i}@reload")), "r", "")],
            0,
        )
        .expect("send");
    };
    for i in 0..5 {
        send(i);
    }
    daemon.wait_for("first five", |s| s["store"]["stored"] == 5);

    write(
        &config,
        &format!("sinks:\n  store: {{type: store}}\n  extra: {{type: file, path: {extra:?}}}\n"),
    );
    daemon.signal("HUP");
    daemon.wait_log("configuration reloaded");
    for i in 5..10 {
        send(i);
    }
    daemon.wait_for("next five", |s| s["store"]["stored"] == 10);
    daemon.wait_for("extra file", |_| lines(&extra).len() == 5);

    write(&config, "sinks:\n  store: {type: stroe}\n");
    daemon.signal("HUP");
    let line = daemon.wait_log("not reloaded");
    assert!(line.contains("stroe"), "{line}");
    for i in 10..15 {
        send(i);
    }
    daemon.wait_for("last five", |s| s["store"]["stored"] == 15);
    daemon.wait_for("still the good config", |_| lines(&extra).len() == 10);
}

#[test]
fn check_config_validates_and_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.yml");
    let bad = dir.path().join("bad.yml");
    write(
        &good,
        "sinks:\n  store: {type: store}\n  live: {type: feed}\n",
    );
    write(
        &bad,
        "sinks:\n  store: {type: store}\nroutes:\n  mode: all\n  default: [stroe]\n",
    );
    let run = |p: &Path| {
        Command::new(env!("CARGO_BIN_EXE_distlogd"))
            .arg("--check-config")
            .arg(p)
            .output()
            .expect("runs")
    };
    let ok = run(&good);
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("OK: 2 sinks"));
    let no = run(&bad);
    assert_eq!(no.status.code(), Some(1));
    let err = String::from_utf8_lossy(&no.stderr);
    assert!(
        err.contains("bad.yml")
            && err.contains("line 5")
            && err.contains("did you mean \"store\"?"),
        "{err}"
    );
}
