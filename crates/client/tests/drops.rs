//! With no daemon, a full queue drops and counts; once the daemon is there
//! it receives what was queued and a report of what was dropped. (Its own
//! test binary: `init` is once per process.)

use serde_json::Value;

#[test]
fn drops_are_counted_and_reported_when_the_daemon_comes() {
    let ctx = zmq::Context::new();
    // A free port that nobody listens on, for now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let endpoint = format!("tcp://127.0.0.1:{port}");

    let mut config = distlog::Config::new(endpoint.clone());
    config.queue_size = 10;
    let _guard = distlog::init(config).expect("init");
    distlog::LogBridge::install(log::LevelFilter::Info).expect("log");
    for i in 0..50 {
        log::info!("early {i}");
    }
    let dropped = distlog::dropped();
    // The queue holds 10; the sender may hold one more while it waits.
    assert!((39..=40).contains(&dropped), "{dropped}");

    let daemon = ctx.socket(zmq::PULL).expect("socket");
    daemon.bind(&endpoint).expect("rebind");
    let mut bodies: Vec<Value> = Vec::new();
    while bodies.len() < 50 - dropped as usize + 1 {
        let mut items = [daemon.as_poll_item(zmq::POLLIN)];
        zmq::poll(&mut items, 30_000).expect("poll");
        assert!(items[0].is_readable(), "got only {bodies:?}");
        let frames = daemon.recv_multipart(0).expect("recv");
        bodies.push(serde_json::from_slice(&frames[1]).expect("JSON"));
    }
    let report = bodies
        .iter()
        .find(|b| b.get("dropped_records").is_some())
        .expect("a drop report");
    assert_eq!(report["dropped_records"], dropped);
    assert_eq!(
        (report["name"].as_str(), report["levelname"].as_str()),
        (Some("distlog"), Some("WARNING"))
    );
    let delivered = bodies
        .iter()
        .filter(|b| {
            b["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("early"))
        })
        .count();
    assert_eq!(
        delivered as u64 + dropped,
        50,
        "every record is either delivered or counted"
    );
}
