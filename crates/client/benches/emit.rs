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
    let mut config = distlog::Config::new(endpoint);
    config.queue_size = 1 << 20;
    let _guard = distlog::init(config).expect("init");
    distlog::LogBridge::install(log::LevelFilter::Info).expect("logger");
    let _job = distlog::task("bench").field("user", "leo").enter();
    c.bench_function("log::info! in a scope (calling thread)", |b| {
        b.iter(|| log::info!("request {} handled", 42));
    });
}

criterion_group!(benches, emit);
criterion_main!(benches);
