use super::*;
use crate::sinks::ConsoleSinkConfig;
use distlog_proto::{decode, Limits, Topic};

/// Holds every batch until the test lets go.
struct Stuck(crossbeam_channel::Receiver<()>);

impl Worker for Stuck {
    fn write(&mut self, _batch: &[Arc<Routed>]) -> Result<(), Lost> {
        let _ = self.0.recv();
        Ok(())
    }
}

fn record(body_bytes: usize) -> Arc<Routed> {
    let body = format!(r#"{{"message": "{}"}}"#, "x".repeat(body_bytes));
    let topic = Topic::parse(b"PLJ").expect("topic");
    let r = decode(topic, body.as_bytes(), &Limits::default()).expect("record");
    Arc::new(Routed::new(r, None, 0.0))
}

/// A sink of 1,000 records and `max_bytes` around `worker`.
fn spawn_with(
    worker: impl Worker,
    when_full: WhenFull,
    max_bytes: &str,
) -> (Arc<SinkHandle>, Threads) {
    let queue = QueueConfig {
        size: Some(1_000),
        when_full: Some(when_full),
        max_bytes: Some(max_bytes.into()),
    };
    let config = SinkConfig::Console(ConsoleSinkConfig {
        format: None,
        queue: None,
    });
    let threads = Threads::default();
    let handle = spawn(
        "t",
        &config,
        Some(&queue),
        (10, WhenFull::Drop),
        worker,
        &threads,
    )
    .expect("spawn");
    (handle, threads)
}

fn sink(when_full: WhenFull, max_bytes: &str) -> (Arc<SinkHandle>, Sender<()>, Threads) {
    let (release, held) = crossbeam_channel::unbounded();
    let (handle, threads) = spawn_with(Stuck(held), when_full, max_bytes);
    (handle, release, threads)
}

#[test]
fn a_dropping_queue_drops_what_passes_its_byte_budget() {
    let one = record(10_000);
    let budget = one.weight() * 3;
    let (handle, release, threads) = sink(WhenFull::Drop, &format!("{budget}B"));
    for _ in 0..10 {
        handle.deliver(&one);
    }
    let stats = handle.to_json();
    assert_eq!(
        (stats["accepted"].as_u64(), stats["dropped"].as_u64()),
        (Some(3), Some(7))
    );
    assert_eq!(stats["queued_bytes"].as_u64(), Some(budget));
    // Once written, the bytes are free again.
    for _ in 0..3 {
        let _ = release.send(());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while handle.to_json()["queued_bytes"].as_u64() != Some(0) {
        assert!(Instant::now() < deadline, "bytes never released");
        std::thread::sleep(Duration::from_millis(5));
    }
    handle.deliver(&one);
    assert_eq!(handle.to_json()["accepted"].as_u64(), Some(4));
    drop(release);
    drop(handle);
    threads.join_all();
}

/// Panics on its first batch.
struct Broken;

impl Worker for Broken {
    fn write(&mut self, _batch: &[Arc<Routed>]) -> Result<(), Lost> {
        panic!("a sink's bug");
    }
}

#[test]
fn a_blocking_queue_whose_thread_died_drops_instead_of_waiting() {
    let big = record(50_000);
    let (handle, threads) = spawn_with(Broken, WhenFull::Block, "1KiB");
    handle.deliver(&big);
    threads.join_all();
    // The thread is gone and its bytes were never freed: the next
    // record must not wait for them.
    handle.deliver(&big);
    assert_eq!(handle.to_json()["dropped"].as_u64(), Some(1));
}

#[test]
fn a_blocking_queue_waits_for_room_and_takes_one_oversized_record() {
    let big = record(50_000);
    let (handle, release, threads) = sink(WhenFull::Block, "1KiB");
    // Larger than the whole budget, but the queue is empty: it passes.
    handle.deliver(&big);
    let h = handle.clone();
    let b = big.clone();
    let second = std::thread::spawn(move || h.deliver(&b));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(handle.to_json()["accepted"].as_u64(), Some(1), "waits");
    let _ = release.send(());
    second.join().expect("second delivery");
    assert_eq!(handle.to_json()["accepted"].as_u64(), Some(2));
    drop(release);
    drop(handle);
    threads.join_all();
}
