//! Heartbeats: while a scope is open the sender says the process is alive,
//! and only then. (Its own test binary: `init` is once per process.)

use std::time::{Duration, Instant};

use serde_json::Value;

/// Every message that arrives within `window` (a wait that bounds the
/// test even if heartbeats never stop; no timing is asserted).
fn receive_for(s: &zmq::Socket, window: Duration) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let until = Instant::now() + window;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let mut items = [s.as_poll_item(zmq::POLLIN)];
        zmq::poll(&mut items, left.as_millis() as i64).expect("poll");
        if !items[0].is_readable() {
            return out;
        }
        let frames = s.recv_multipart(0).expect("recv");
        let body = serde_json::from_slice(&frames[1]).expect("JSON");
        out.push((String::from_utf8_lossy(&frames[0]).into_owned(), body));
    }
}

#[test]
fn heartbeats_arrive_while_a_scope_is_open_and_stop_when_it_closes() {
    let every = Duration::from_millis(50);
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).expect("socket");
    pull.bind("tcp://127.0.0.1:*").expect("bind");
    let ep = pull.get_last_endpoint().expect("ep").expect("utf-8");
    let mut config = distlog::Config::new(ep);
    config.system = 'T';
    config.heartbeat_interval = every;
    let _guard = distlog::init(config).expect("init");

    // No scope open: ten intervals of silence.
    let before = receive_for(&pull, every * 10);
    assert!(before.is_empty(), "nothing before any scope: {before:?}");

    {
        let _job = distlog::task("long step").enter();
        let _inner = distlog::to("inner").enter();
        std::thread::sleep(every * 20);
    }
    // The step's records and beats, then twenty intervals after it.
    let got = receive_for(&pull, every * 20);
    let beats: Vec<_> = got.iter().filter(|(t, _)| t == "THJ").collect();
    assert!(
        beats.len() >= 2,
        "heartbeats during a step twenty intervals long: {got:?}"
    );
    let me = gethostname();
    for (_, b) in &beats {
        assert_eq!(b["process"], std::process::id());
        assert_eq!(b["open_scopes"], 2, "{b}");
        assert_eq!(b["hostname"].as_str(), Some(me.as_str()));
        assert!(b["created"].as_f64().is_some_and(|c| c > 1.5e9), "{b}");
        assert_eq!(b.as_object().map(|o| o.len()), Some(4), "{b}");
    }
    let last_close = got
        .iter()
        .rposition(|(t, b)| t == "TLJ" && b["scope_event"] == "close")
        .expect("closing records");
    assert_eq!(got[last_close].1["message"], "long step");
    assert!(
        got[last_close..].iter().all(|(t, _)| t != "THJ"),
        "no heartbeat after the last scope closed: {:?}",
        &got[last_close..]
    );
    assert_eq!(
        distlog::dropped(),
        0,
        "heartbeats are never counted as drops"
    );
}

fn gethostname() -> String {
    std::process::Command::new("hostname")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .expect("hostname")
}
