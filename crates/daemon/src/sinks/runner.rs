//! What every queued sink shares: the handle the router delivers to, the
//! counters, and the thread that feeds batches to the sink's worker.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::{QueueConfig, SinkConfig, WhenFull, DEFAULT_QUEUE_BYTES};
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
    Queue(Sender<Arc<Routed>>, WhenFull, Arc<Budget>),
    Feed(broadcast::Sender<Arc<Routed>>),
    /// The embedded store takes records straight into its journal.
    Store(Arc<distlog_store::Store>),
}

/// The bytes a queue holds, bounded, so memory stays bounded whatever the
/// body size: a count of records alone allows 65,536 × 1 MiB.
pub struct Budget {
    max: u64,
    queued: AtomicU64,
    /// Set when the sink's thread ends, however it ends: nothing will free
    /// room again, and the channel then refuses records by itself.
    closed: AtomicBool,
    lock: Mutex<()>,
    freed: Condvar,
}

impl Budget {
    fn new(max: u64) -> Budget {
        Budget {
            max,
            queued: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            lock: Mutex::new(()),
            freed: Condvar::new(),
        }
    }

    /// Whether `size` more bytes fit. An empty queue takes any one record,
    /// so a record larger than the budget still passes.
    fn fits(&self, size: u64) -> bool {
        let queued = self.queued.load(Relaxed);
        queued == 0 || queued + size <= self.max || self.closed.load(Relaxed)
    }

    /// Waits until `size` more bytes fit. Re-checks now and then, as a
    /// release may land between the check and the wait.
    fn wait_for_room(&self, size: u64) {
        // The intake's path: no lock while there is room.
        if self.fits(size) {
            return;
        }
        let Ok(mut guard) = self.lock.lock() else {
            return;
        };
        while !self.fits(size) {
            match self.freed.wait_timeout(guard, Duration::from_millis(50)) {
                Ok((g, _)) => guard = g,
                Err(_) => return,
            }
        }
    }

    fn release(&self, size: u64) {
        self.queued.fetch_sub(size, Relaxed);
        let _guard = self.lock.lock();
        self.freed.notify_all();
    }
}

/// Closes the budget when the sink's thread ends, a panic included, so the
/// intake never waits for room that will not come.
struct CloseOnExit<'a>(&'a Budget);

impl Drop for CloseOnExit<'_> {
    fn drop(&mut self) {
        self.0.closed.store(true, Relaxed);
        let _guard = self.0.lock.lock();
        self.0.freed.notify_all();
    }
}

/// The router's side of one running sink.
pub struct SinkHandle {
    pub name: String,
    pub config: SinkConfig,
    pub stats: Arc<SinkStats>,
    input: Input,
    /// Dropped by [`SinkHandle::close`]: the thread then drains its queue
    /// and ends, even while stale copies of the handle are still held.
    closer: Mutex<Option<Sender<()>>>,
    /// Figures of the sink's own, shown under its type's name in its
    /// `/api/stats` entry (an `otlp` sink's exports and retries).
    report: OnceLock<Report>,
    /// Passes on the heartbeats the intake receives (a `jetstream` sink's
    /// collectors need them too); set once, at the sink's start.
    heartbeats: OnceLock<Heartbeats>,
}

/// A sink's own figures, as JSON.
pub type Report = Box<dyn Fn() -> Value + Send + Sync>;

/// What a sink does with a heartbeat: its topic and body as received.
pub type Heartbeats = Box<dyn Fn(&distlog_proto::Topic, &[u8]) + Send + Sync>;

impl SinkHandle {
    pub fn deliver(&self, record: &Arc<Routed>) {
        match &self.input {
            Input::Queue(tx, WhenFull::Block, budget) => {
                let size = record.weight();
                budget.wait_for_room(size);
                budget.queued.fetch_add(size, Relaxed);
                if tx.send(record.clone()).is_ok() {
                    self.stats.accepted.fetch_add(1, Relaxed);
                } else {
                    budget.queued.fetch_sub(size, Relaxed);
                    self.stats.dropped.fetch_add(1, Relaxed);
                }
            }
            Input::Queue(tx, WhenFull::Drop, budget) => {
                let size = record.weight();
                if !budget.fits(size) {
                    self.stats.dropped.fetch_add(1, Relaxed);
                    return;
                }
                budget.queued.fetch_add(size, Relaxed);
                match tx.try_send(record.clone()) {
                    Ok(()) => {
                        self.stats.accepted.fetch_add(1, Relaxed);
                    }
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                        budget.queued.fetch_sub(size, Relaxed);
                        self.stats.dropped.fetch_add(1, Relaxed);
                    }
                }
            }
            Input::Feed(tx) => {
                // No subscriber is not an error: the feed is live only.
                let _ = tx.send(record.clone());
                self.stats.accepted.fetch_add(1, Relaxed);
                self.stats.written.fetch_add(1, Relaxed);
            }
            Input::Store(store) => match store.append(&record.record, record.received) {
                Ok(_) => {
                    self.stats.accepted.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    self.stats.dropped.fetch_add(1, Relaxed);
                    self.stats
                        .error(&self.name, &format!("store append failed: {e}"));
                }
            },
        }
    }

    /// The store of a store sink.
    pub fn store(&self) -> Option<&Arc<distlog_store::Store>> {
        match &self.input {
            Input::Store(s) => Some(s),
            _ => None,
        }
    }

    pub fn store_sink(
        name: &str,
        config: &SinkConfig,
        store: Arc<distlog_store::Store>,
    ) -> SinkHandle {
        SinkHandle {
            name: name.to_owned(),
            config: config.clone(),
            stats: Arc::default(),
            input: Input::Store(store),
            // The store closes when its last handle goes (see sinks/store).
            closer: Mutex::new(None),
            report: OnceLock::new(),
            heartbeats: OnceLock::new(),
        }
    }

    /// Ends a queued sink's thread once it has written what is queued, and
    /// with it the sink's file, socket or connection. The caller makes sure
    /// nothing is delivered any more (see `Pipeline::retire`).
    pub fn close(&self) {
        if let Ok(mut closer) = self.closer.lock() {
            closer.take();
        }
    }

    /// Sets the sink's own figures; once, at its start.
    pub fn set_report(&self, report: Report) {
        let _ = self.report.set(report);
    }

    /// Sets what the sink does with heartbeats; once, at its start.
    pub fn set_heartbeats(&self, heartbeats: Heartbeats) {
        let _ = self.heartbeats.set(heartbeats);
    }

    /// Hands a heartbeat to the sink, if it takes them.
    pub fn heartbeat(&self, topic: &distlog_proto::Topic, body: &[u8]) {
        if let Some(pass) = self.heartbeats.get() {
            pass(topic, body);
        }
    }

    /// A live subscription, for feed sinks.
    pub fn subscribe(&self) -> Option<broadcast::Receiver<Arc<Routed>>> {
        match &self.input {
            Input::Feed(tx) => Some(tx.subscribe()),
            Input::Queue(..) | Input::Store(_) => None,
        }
    }

    pub fn feed(name: &str, config: &SinkConfig, capacity: usize) -> SinkHandle {
        let (tx, _) = broadcast::channel(capacity.max(16));
        SinkHandle {
            name: name.to_owned(),
            config: config.clone(),
            stats: Arc::default(),
            input: Input::Feed(tx),
            closer: Mutex::new(None),
            report: OnceLock::new(),
            heartbeats: OnceLock::new(),
        }
    }

    pub fn to_json(&self) -> Value {
        let (queued, capacity, subscribers) = match &self.input {
            Input::Queue(tx, _, _) => (tx.len(), tx.capacity().unwrap_or(0), None),
            Input::Feed(tx) => (0, 0, Some(tx.receiver_count())),
            Input::Store(_) => (0, 0, None),
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
        if let Input::Queue(_, _, budget) = &self.input {
            v["queued_bytes"] = json!(budget.queued.load(Relaxed));
            v["queue_max_bytes"] = json!(budget.max);
        }
        if let Some(report) = self.report.get() {
            v[self.config.kind()] = report();
        }
        if let Input::Store(store) = &self.input {
            // Written: indexed and queryable since start; queued: appended
            // (in the journal) and not yet indexed.
            let s = store.stats();
            v["written"] = json!(s.indexed_since_open);
            v["queued"] = json!(s.appended.saturating_sub(s.indexed));
            v["durable"] = json!(s.durable);
            v["durable_lag"] = json!(s.durable_lag);
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
    /// Given the sink's counters before its thread starts, for a worker
    /// that loses records after `write` returned (a later failed send).
    fn attach(&mut self, _stats: &Arc<SinkStats>) {}
    /// Called about once a second, busy or not.
    fn tick(&mut self) {}
    /// Called once the sink is told to stop, before what is still queued is
    /// written: a worker that retries can then give up in bounded time.
    fn closing(&mut self) {}
    /// Given once, before the first batch: lets a worker that retries
    /// inside `write` see that the sink is told to stop meanwhile.
    fn stop_signal(&mut self, _stop: StopSignal) {}
    /// Called once the queue is closed and drained.
    fn finish(&mut self) {}
}

/// Set once the sink's handle is closed or dropped.
pub struct StopSignal(Receiver<()>);

impl StopSignal {
    pub fn is_set(&self) -> bool {
        // Nothing is ever sent: only the closer's drop disconnects it.
        matches!(
            self.0.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        )
    }
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
    mut worker: impl Worker,
    threads: &Threads,
) -> Result<Arc<SinkHandle>> {
    let size = queue.and_then(|q| q.size).unwrap_or(defaults.0).max(1);
    let when_full = queue.and_then(|q| q.when_full).unwrap_or(defaults.1);
    let max_bytes = match queue {
        Some(q) => q.max_bytes()?,
        None => DEFAULT_QUEUE_BYTES,
    };
    let budget = Arc::new(Budget::new(max_bytes));
    let thread_budget = budget.clone();
    let (tx, rx) = crossbeam_channel::bounded(size);
    let (closer, closed) = crossbeam_channel::bounded(0);
    let stats = Arc::new(SinkStats::default());
    worker.attach(&stats);
    worker.stop_signal(StopSignal(closed.clone()));
    let thread_stats = stats.clone();
    let thread_name = name.to_owned();
    let handle = std::thread::Builder::new()
        .name(format!("sink-{name}"))
        .spawn(move || {
            run(
                &thread_name,
                worker,
                &rx,
                &closed,
                &thread_stats,
                &thread_budget,
            );
        })
        .with_context(|| format!("starting sink {name:?}"))?;
    if let Ok(mut v) = threads.0.lock() {
        // Reloads replace sinks; their finished threads need no joining.
        v.retain(|h| !h.is_finished());
        v.push(handle);
    }
    Ok(Arc::new(SinkHandle {
        name: name.to_owned(),
        config: config.clone(),
        stats,
        input: Input::Queue(tx, when_full, budget),
        closer: Mutex::new(Some(closer)),
        report: OnceLock::new(),
        heartbeats: OnceLock::new(),
    }))
}

/// What the sink's thread waits for next.
enum Next {
    Record(Arc<Routed>),
    Idle,
    /// The handle was closed, or every copy of it dropped.
    End,
}

fn run(
    name: &str,
    mut worker: impl Worker,
    rx: &Receiver<Arc<Routed>>,
    closed: &Receiver<()>,
    stats: &SinkStats,
    budget: &Budget,
) {
    let _close = CloseOnExit(budget);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut next_tick = Instant::now() + TICK;
    loop {
        let next = crossbeam_channel::select! {
            recv(rx) -> r => r.map_or(Next::End, Next::Record),
            // Nothing is ever sent: only the closer's drop wakes this.
            recv(closed) -> _ => Next::End,
            default(TICK) => Next::Idle,
        };
        match next {
            Next::Record(first) => {
                batch.push(first);
                let deadline = Instant::now() + MAX_DELAY;
                while batch.len() < MAX_BATCH {
                    match rx.recv_deadline(deadline) {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                write_batch(name, &mut worker, &mut batch, stats, budget);
            }
            Next::Idle => {}
            Next::End => break,
        }
        if Instant::now() >= next_tick {
            worker.tick();
            next_tick = Instant::now() + TICK;
        }
    }
    worker.closing();
    // Closed with records still queued: they were accepted, so written.
    while let Ok(r) = rx.try_recv() {
        batch.push(r);
        if batch.len() == MAX_BATCH {
            write_batch(name, &mut worker, &mut batch, stats, budget);
        }
    }
    write_batch(name, &mut worker, &mut batch, stats, budget);
    worker.finish();
    // Said once its file, socket or connection is released.
    drop(worker);
    tracing::info!(sink = name, "sink stopped");
}

fn write_batch(
    name: &str,
    worker: &mut impl Worker,
    batch: &mut Vec<Arc<Routed>>,
    stats: &SinkStats,
    budget: &Budget,
) {
    if batch.is_empty() {
        return;
    }
    let lost = match worker.write(batch) {
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
    budget.release(batch.iter().map(|r| r.weight()).sum());
    batch.clear();
}

#[cfg(test)]
mod tests;
