//! What every queued sink shares: the handle the router delivers to, the
//! counters, and the thread that feeds batches to the sink's worker.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::{QueueConfig, SinkConfig, WhenFull};
use crate::pipeline::Routed;

const MAX_BATCH: usize = 2_000;
/// How long a record may wait for company before its batch is written.
const MAX_DELAY: Duration = Duration::from_millis(20);
/// How often an idle worker gets its `tick` (time rotation, retention).
const TICK: Duration = Duration::from_secs(1);
/// How often one sink may log a failure; the rest are counted.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct SinkStats {
    /// Records handed to the sink's queue.
    pub accepted: AtomicU64,
    /// Records the sink finished with (written, sent, printed).
    pub written: AtomicU64,
    /// Records dropped because the queue was full or the sink gave up.
    pub dropped: AtomicU64,
    /// Failed writes.
    pub errors: AtomicU64,
    last_error_log: Mutex<Option<Instant>>,
}

impl SinkStats {
    /// Counts a failure and logs it at a bounded pace.
    pub fn error(&self, sink: &str, what: &str) {
        self.errors.fetch_add(1, Relaxed);
        let Ok(mut last) = self.last_error_log.lock() else {
            return;
        };
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= ERROR_LOG_INTERVAL) {
            *last = Some(now);
            tracing::error!(sink, "{what}");
        }
    }
}

enum Input {
    Queue(Sender<Arc<Routed>>, WhenFull),
    Feed(broadcast::Sender<Arc<Routed>>),
}

/// The router's side of one running sink.
pub struct SinkHandle {
    pub name: String,
    pub config: SinkConfig,
    pub stats: Arc<SinkStats>,
    input: Input,
}

impl SinkHandle {
    pub fn deliver(&self, record: &Arc<Routed>) {
        match &self.input {
            Input::Queue(tx, WhenFull::Block) => {
                if tx.send(record.clone()).is_ok() {
                    self.stats.accepted.fetch_add(1, Relaxed);
                } else {
                    self.stats.dropped.fetch_add(1, Relaxed);
                }
            }
            Input::Queue(tx, WhenFull::Drop) => match tx.try_send(record.clone()) {
                Ok(()) => {
                    self.stats.accepted.fetch_add(1, Relaxed);
                }
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.stats.dropped.fetch_add(1, Relaxed);
                }
            },
            Input::Feed(tx) => {
                // No subscriber is not an error: the feed is live only.
                let _ = tx.send(record.clone());
                self.stats.accepted.fetch_add(1, Relaxed);
                self.stats.written.fetch_add(1, Relaxed);
            }
        }
    }

    /// A live subscription, for feed sinks.
    pub fn subscribe(&self) -> Option<broadcast::Receiver<Arc<Routed>>> {
        match &self.input {
            Input::Feed(tx) => Some(tx.subscribe()),
            Input::Queue(..) => None,
        }
    }

    pub fn feed(name: &str, config: &SinkConfig, capacity: usize) -> SinkHandle {
        let (tx, _) = broadcast::channel(capacity.max(16));
        SinkHandle {
            name: name.to_owned(),
            config: config.clone(),
            stats: Arc::default(),
            input: Input::Feed(tx),
        }
    }

    pub fn to_json(&self) -> Value {
        let (queued, capacity, subscribers) = match &self.input {
            Input::Queue(tx, _) => (tx.len(), tx.capacity().unwrap_or(0), None),
            Input::Feed(tx) => (0, 0, Some(tx.receiver_count())),
        };
        let mut v = json!({
            "name": self.name,
            "type": self.config.kind(),
            "accepted": self.stats.accepted.load(Relaxed),
            "written": self.stats.written.load(Relaxed),
            "dropped": self.stats.dropped.load(Relaxed),
            "errors": self.stats.errors.load(Relaxed),
            "queued": queued,
            "queue_size": capacity,
        });
        if let Some(n) = subscribers {
            v["subscribers"] = json!(n);
        }
        v
    }
}

/// Records a worker could not handle, and why.
pub struct Lost {
    pub records: usize,
    pub why: String,
}

/// What a queued sink does with its records.
pub trait Worker: Send + 'static {
    /// Handles one batch. What it could not handle is counted as dropped
    /// and the reason logged; retrying, where it makes sense, is the
    /// worker's own business.
    fn write(&mut self, batch: &[Arc<Routed>]) -> Result<(), Lost>;
    /// Called about once a second, busy or not.
    fn tick(&mut self) {}
    /// Called once the queue is closed and drained.
    fn finish(&mut self) {}
}

/// Every sink thread, so a graceful stop can wait for them to drain.
#[derive(Default, Clone)]
pub struct Threads(Arc<Mutex<Vec<JoinHandle<()>>>>);

impl Threads {
    pub fn join_all(&self) {
        let handles: Vec<_> = match self.0.lock() {
            Ok(mut v) => v.drain(..).collect(),
            Err(_) => return,
        };
        for h in handles {
            let _ = h.join();
        }
    }
}

/// Starts the thread of a queued sink and returns its handle.
pub fn spawn(
    name: &str,
    config: &SinkConfig,
    queue: Option<&QueueConfig>,
    defaults: (usize, WhenFull),
    worker: impl Worker,
    threads: &Threads,
) -> Result<Arc<SinkHandle>> {
    let size = queue.and_then(|q| q.size).unwrap_or(defaults.0).max(1);
    let when_full = queue.and_then(|q| q.when_full).unwrap_or(defaults.1);
    let (tx, rx) = crossbeam_channel::bounded(size);
    let stats = Arc::new(SinkStats::default());
    let thread_stats = stats.clone();
    let thread_name = name.to_owned();
    let handle = std::thread::Builder::new()
        .name(format!("sink-{name}"))
        .spawn(move || run(&thread_name, worker, rx, &thread_stats))
        .with_context(|| format!("starting sink {name:?}"))?;
    if let Ok(mut v) = threads.0.lock() {
        v.push(handle);
    }
    Ok(Arc::new(SinkHandle {
        name: name.to_owned(),
        config: config.clone(),
        stats,
        input: Input::Queue(tx, when_full),
    }))
}

fn run(name: &str, mut worker: impl Worker, rx: Receiver<Arc<Routed>>, stats: &SinkStats) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut next_tick = Instant::now() + TICK;
    loop {
        match rx.recv_timeout(TICK) {
            Ok(first) => {
                batch.push(first);
                let deadline = Instant::now() + MAX_DELAY;
                while batch.len() < MAX_BATCH {
                    match rx.recv_deadline(deadline) {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                let lost = match worker.write(&batch) {
                    Ok(()) => 0,
                    Err(Lost { records, why }) => {
                        stats.error(name, &why);
                        records.min(batch.len())
                    }
                };
                stats.dropped.fetch_add(lost as u64, Relaxed);
                stats
                    .written
                    .fetch_add((batch.len() - lost) as u64, Relaxed);
                batch.clear();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next_tick {
            worker.tick();
            next_tick = Instant::now() + TICK;
        }
    }
    worker.finish();
}
