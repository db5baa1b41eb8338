//! distlogd's intake, end to end: real ZeroMQ sockets, the real binary.

mod common;

use common::{pusher, record, store_path, Daemon};

#[test]
fn records_from_many_concurrent_senders_are_all_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(&store_path(&dir));
    let (senders, each) = (8, 500);
    let ctx = zmq::Context::new();
    std::thread::scope(|s| {
        for n in 0..senders {
            let (ctx, ep) = (ctx.clone(), daemon.intake.clone());
            s.spawn(move || {
                let sock = pusher(&ctx, &ep);
                let root = format!("sender-{n}");
                for i in 0..each {
                    let key = format!("{i}@{root}");
                    sock.send_multipart([&b"PLJ"[..], &record(Some(&key), "work", "")], 0)
                        .expect("send");
                }
            });
        }
    });
    let total = senders * each;
    let stats = daemon.wait_for("every record stored", |s| s["store"]["stored"] == total);
    assert_eq!(stats["rejected"]["total"], 0);
    let tasks = daemon.get("/api/tasks?limit=100");
    let tasks = tasks["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), senders);
    for t in tasks {
        assert_eq!(t["records"], each, "{t}");
    }
}

#[test]
fn bad_input_is_counted_by_reason_and_good_input_around_it_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(&store_path(&dir));
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    let good = |i: usize| record(Some(&format!("{i}@good")), "fine", "");
    let deep = format!("{{\"a\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    // A pickle that would run os.system if anything unpickled it.
    let evil = b"cos\nsystem\n(S'touch /tmp/distlog-pwned'\ntR.".to_vec();
    let huge = record(None, &"x".repeat(3 << 20), "");
    let bad: Vec<Vec<Vec<u8>>> = vec![
        vec![b"PLJ".to_vec()],
        vec![b"PLJ".to_vec(), b"{}".to_vec(), b"more".to_vec()],
        vec![b"XYZ".to_vec(), good(99)],
        vec![b"PLJ".to_vec(), b"{not json".to_vec()],
        vec![b"PLJ".to_vec(), deep.into_bytes()],
        vec![b"PLJ".to_vec(), b"[1, 2, 3]".to_vec()],
        vec![b"PLP".to_vec(), evil],
        vec![b"PLP".to_vec(), b"\x80\x05\x95garbage".to_vec()],
        vec![b"PLJ".to_vec(), huge],
    ];
    sock.send_multipart([&b"PLJ"[..], &good(0)], 0)
        .expect("send");
    for msg in &bad {
        sock.send_multipart(msg, 0).expect("send");
        sock.send_multipart([&b"PLJ"[..], &good(1)], 0)
            .expect("send");
    }
    let stats = daemon.wait_for("all messages handled", |s| {
        s["received"].as_u64() == Some(1 + 2 * bad.len() as u64)
            && s["store"]["stored"].as_u64() == Some(1 + bad.len() as u64)
    });
    let r = &stats["rejected"];
    assert_eq!(r["frame_count"], 2, "{stats}");
    assert_eq!(r["bad_topic"], 1, "{stats}");
    assert_eq!(r["invalid_json"], 1, "{stats}");
    assert_eq!(r["too_deep"], 1, "{stats}");
    assert_eq!(r["not_a_map"], 1, "{stats}");
    assert_eq!(r["bad_pickle"], 2, "{stats}");
    assert_eq!(r["too_large"], 1, "{stats}");
    assert_eq!(r["total"], bad.len(), "{stats}");
    assert!(
        !std::path::Path::new("/tmp/distlog-pwned").exists(),
        "the hostile pickle must never run"
    );
    // The daemon still answers and still takes records.
    sock.send_multipart([&b"PLJ"[..], &good(2)], 0)
        .expect("send");
    daemon.wait_for("one more", |s| {
        s["store"]["stored"].as_u64() == Some(2 + bad.len() as u64)
    });
}

#[test]
fn a_graceful_stop_stores_everything_received_and_a_restart_keeps_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(&store_path(&dir));
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    let n = 3000;
    for i in 0..n {
        let key = format!("{i}@restart-task");
        sock.send_multipart([&b"PLJ"[..], &record(Some(&key), "before stop", "")], 0)
            .expect("send");
    }
    daemon.wait_for("every record received", |s| s["received"] == n);
    daemon.stop();

    let again = Daemon::start(&store_path(&dir));
    let task = again.get("/api/tasks/restart-task");
    assert_eq!(task["records"], n);
    assert_eq!(again.stats()["store"]["records"], n);
}

#[test]
fn the_api_answers_unknown_and_malformed_ids_with_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(&store_path(&dir));
    let (status, body) = daemon.get_status("/api/tree/no-such-task");
    assert_eq!(status, 404);
    assert!(body["error"]
        .as_str()
        .expect("error")
        .contains("no-such-task"));
    let (status, body) = daemon.get_status("/api/tree/x@y@z");
    assert_eq!(status, 400, "{body}");
    let (status, _) = daemon.get_status("/api/records?order=sideways");
    assert_eq!(status, 400);
    let (status, _) = daemon.get_status("/api/records/12345");
    assert_eq!(status, 404);
    let (status, body) = daemon.get_status("/healthz");
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
}
