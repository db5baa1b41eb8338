//! Cost on the calling thread per record emitted inside a scope, with the
//! sender draining to a real local PULL socket.

use criterion::{criterion_group, criterion_main, Criterion};

fn emit(c: &mut Criterion) {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).expect("socket");
    pull.bind("tcp://127.0.0.1:*").expect("bind");
    let endpoint = pull
        .get_last_endpoint()
        .expect("endpoint")
        .expect("utf-8 endpoint");
    std::thread::spawn(move || while pull.recv_multipart(0).is_ok() {});
    // A control endpoint of our own, publishing one setting for another
    // logger once asked: the second bench then measures the pushed-level
    // check on a call it does not change.
    let publisher = ctx.socket(zmq::PUB).expect("socket");
    publisher.bind("tcp://127.0.0.1:*").expect("bind");
    let control = publisher
        .get_last_endpoint()
        .expect("endpoint")
        .expect("utf-8 endpoint");
    let (push_tx, push_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut on = false;
        loop {
            if push_rx.try_recv().is_ok() {
                on = true;
            }
            let levels = if on {
                r#"[{"logger": "some.other", "level": 10}]"#
            } else {
                "[]"
            };
            let body = format!(
                r#"{{"v": 1, "generation": {}, "hold": 30, "levels": {levels}}}"#,
                u8::from(on)
            );
            let _ = publisher.send_multipart([&b"levels"[..], body.as_bytes()], 0);
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
    let mut config = distlog::Config::new(endpoint);
    config.control = Some(control);
    config.queue_size = 1 << 20;
    let _guard = distlog::init(config).expect("init");
    distlog::LogBridge::install(log::LevelFilter::Info).expect("logger");
    let _job = distlog::task("bench").field("user", "leo").enter();
    c.bench_function("log::info! in a scope (calling thread)", |b| {
        b.iter(|| log::info!("request {} handled", 42));
    });
    let _ = push_tx.send(());
    while distlog::pushed_levels() == 0 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    c.bench_function(
        "log::info! in a scope, a pushed setting applies (calling thread)",
        |b| {
            b.iter(|| log::info!("request {} handled", 42));
        },
    );
}

criterion_group!(benches, emit);
criterion_main!(benches);
