//! Scopes inside one process: threads, async, panics, the tracing layer.
//! `init` is once per process, so the scenarios run in order in one test.

use std::collections::HashSet;

use distlog::FutureExt;
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

fn receive_all(s: &zmq::Socket) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let mut items = [s.as_poll_item(zmq::POLLIN)];
        zmq::poll(&mut items, 1_000).expect("poll");
        if !items[0].is_readable() {
            return out;
        }
        let frames = s.recv_multipart(0).expect("recv");
        out.push(serde_json::from_slice(&frames[1]).expect("JSON"));
    }
}

fn key(v: &Value) -> String {
    v["context"]["key"].as_str().unwrap_or("").to_owned()
}

#[test]
fn scopes_hold_across_threads_futures_panics_and_tracing_spans() {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).expect("socket");
    pull.bind("tcp://127.0.0.1:*").expect("bind");
    let ep = pull.get_last_endpoint().expect("ep").expect("utf-8");
    let _guard = distlog::init(distlog::Config::new(ep)).expect("init");
    assert!(
        distlog::init(distlog::Config::new("tcp://127.0.0.1:9")).is_err(),
        "once"
    );
    distlog::LogBridge::install(log::LevelFilter::Info).expect("log");

    // Threads logging into one shared scope never share a key.
    let job = distlog::task("shared").enter();
    let root = job.id().to_owned();
    let scope = job.scope();
    std::thread::scope(|t| {
        for _ in 0..4 {
            let scope = scope.clone();
            t.spawn(move || {
                for _ in 0..50 {
                    let fut = async { log::info!("tick") }.in_scope(scope.clone());
                    futures_block_on(fut);
                }
            });
        }
    });
    // A thread of its own starts outside any scope.
    std::thread::spawn(|| log::info!("outside"))
        .join()
        .expect("thread");
    drop(job);
    let got = receive_all(&pull);
    let ticks: Vec<_> = got
        .iter()
        .filter(|r| r["message"] == "tick")
        .map(key)
        .collect();
    assert_eq!(ticks.len(), 200);
    assert_eq!(
        ticks.iter().collect::<HashSet<_>>().len(),
        200,
        "all keys distinct"
    );
    assert!(ticks.iter().all(|k| k.ends_with(&format!("@{root}"))));
    let outside = got
        .iter()
        .find(|r| r["message"] == "outside")
        .expect("outside");
    assert!(outside["context"].is_null());

    // A future carries its scope onto other worker threads across .await.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let job = distlog::task("async").enter();
    let root = job.id().to_owned();
    let handles: Vec<_> = (0..4)
        .map(|n| {
            rt.spawn(
                async move {
                    for _ in 0..3 {
                        tokio::task::yield_now().await;
                        log::info!("async {n}");
                    }
                }
                .in_current_scope(),
            )
        })
        .collect();
    rt.block_on(async {
        for h in handles {
            h.await.expect("task");
        }
    });
    drop(job);
    let got = receive_all(&pull);
    let asyncs: Vec<_> = got
        .iter()
        .filter(|r| {
            r["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("async "))
        })
        .collect();
    assert_eq!(asyncs.len(), 12);
    assert!(asyncs.iter().all(|r| key(r).ends_with(&format!("@{root}"))));

    // A panic inside a scope sends a failure record; fail() does too.
    let caught = std::panic::catch_unwind(|| {
        let _job = distlog::task("doomed").field("attempt", 1).enter();
        panic!("boom");
    });
    assert!(caught.is_err());
    {
        let mut job = distlog::task("refused").enter();
        job.bind("order", 7);
        log::info!("bound");
        job.fail("card declined");
    }
    let got = receive_all(&pull);
    let fail = got
        .iter()
        .find(|r| {
            r["scope_event"] == "fail"
                && r["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("doomed: panicked at "))
        })
        .expect("fail");
    assert_eq!(
        (fail["levelname"].as_str(), fail["levelno"].as_i64()),
        (Some("ERROR"), Some(40))
    );
    assert_eq!(fail["context"]["attempt"], 1);
    assert!(fail["exc_text"]
        .as_str()
        .is_some_and(|t| t.ends_with("\nboom")));
    let bound = got.iter().find(|r| r["message"] == "bound").expect("bound");
    assert_eq!(bound["context"]["order"], 7);
    let refused = got
        .iter()
        .find(|r| r["message"] == "refused" && r["scope_event"] == "fail")
        .expect("refused");
    assert_eq!(refused["exc_text"], "card declined");

    // tracing: spans become scopes, span fields their context.
    let subscriber = tracing_subscriber::registry().with(distlog::DistlogLayer);
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("handle request", user = "leo");
        let _o = outer.enter();
        tracing::info!(attempt = 2, "working");
        let inner = tracing::info_span!("query db", table = "orders");
        inner.in_scope(|| tracing::warn!("slow"));
    });
    let got = receive_all(&pull);
    let open = got
        .iter()
        .find(|r| r["message"] == "handle request" && r["scope_event"] == "open")
        .expect("open");
    let root = key(open)[2..].to_owned();
    assert_eq!(open["context"]["user"], "leo");
    let working = got
        .iter()
        .find(|r| r["message"] == "working")
        .expect("event");
    assert_eq!(key(working), format!("1@{root}"));
    assert_eq!(
        working["attempt"], 2,
        "event fields travel as record fields"
    );
    let slow = got
        .iter()
        .find(|r| r["message"] == "slow")
        .expect("inner event");
    assert_eq!(key(slow), format!("1@{root}/1"));
    assert_eq!(slow["levelname"], "WARNING");
    assert_eq!(slow["context"]["table"], "orders");
    let closes = got.iter().filter(|r| r["scope_event"] == "close").count();
    assert_eq!(closes, 2, "both spans closed");
}

/// A tiny executor for a ready future, to show `in_scope` on a plain thread.
fn futures_block_on<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    rt.block_on(f)
}
