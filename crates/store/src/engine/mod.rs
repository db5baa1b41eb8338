//! The running store: the intake appends, three threads do the rest.
//!
//! - **sync** ([`Journal::run_sync`]): writes the journal buffer out and
//!   fsyncs it every commit interval.
//! - **index**: folds records into the catalogue (tasks, processes) and puts
//!   them in the active memtable, where queries see them at once.
//! - **flush**: turns full memtables into segments, merges small segments,
//!   applies retention, and deletes the journal behind what is in segments.

mod flusher;
mod indexer;
mod open;
mod summaries;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use distlog_proto::Record;
use serde::Serialize;

use crate::journal::Journal;
use crate::memtable::MemTable;
use crate::segment::{Segment, SegmentInfo};
use crate::{Reader, StoreError};

pub use open::StoreKind;
pub(crate) use open::{open_dir, CATALOG};

/// How the store runs; every field has a sane default.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The journal is synced to disk at least this often; a crash loses at
    /// most the records of one interval.
    pub commit_interval: Duration,
    /// How long a process may be silent (no record, no heartbeat) before
    /// its open scopes count as unfinished rather than running.
    pub unfinished_after: Duration,
    /// Delete segments whose newest record is older than this.
    pub max_age: Option<Duration>,
    /// Delete the oldest segments while the store's records take more.
    pub max_bytes: Option<u64>,
    /// A memtable becomes a segment at this many records…
    pub memtable_records: usize,
    /// …or this many bytes…
    pub memtable_bytes: usize,
    /// …or when its oldest record is this old.
    pub memtable_age: Duration,
    /// Uncompressed bytes per segment block.
    pub block_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            commit_interval: Duration::from_millis(200),
            unfinished_after: crate::DEFAULT_UNFINISHED_AFTER,
            max_age: None,
            max_bytes: None,
            memtable_records: 64 * 1024,
            memtable_bytes: 32 << 20,
            memtable_age: Duration::from_secs(30),
            block_bytes: 64 << 10,
        }
    }
}

/// Records waiting for the index thread may hold this many bytes; past it
/// the intake waits (and the clients' bounded buffers take the strain).
const MAX_QUEUED_BYTES: u64 = 32 << 20;
const QUEUE_RECORDS: usize = 65_536;

pub(crate) enum Msg {
    Record(Vec<u8>),
    Heartbeat(String, i64, f64),
    /// Answered once everything sent before it is indexed; with `true`,
    /// once it is also in segments and the journal is synced.
    Barrier(bool, Sender<()>),
    /// Merge and apply retention now, then answer.
    Maintain(Sender<()>),
}

/// What queries read: the active memtable, the frozen ones on their way to
/// segments, and the segments, swapped under one lock so a record is never
/// seen twice or missed while it moves.
#[derive(Default)]
pub(crate) struct View {
    pub active: MemTable,
    pub frozen: Vec<Arc<MemTable>>,
    /// Oldest first (by id range, which merges and retention keep disjoint).
    pub segments: Vec<Arc<Seg>>,
}

/// A segment file as the engine lists it.
pub(crate) struct Seg {
    pub file: Segment,
    pub name: String,
    /// How many merges made it (0: written from a memtable).
    pub level: u32,
    /// Its scope summary: unset until one is read or written (a segment
    /// of an older build has none until the flush thread writes it); set
    /// to `None` when one could not be made, and queries read the
    /// segment's blocks instead.
    pub scopes: std::sync::OnceLock<Option<crate::summary::ScopeIndex>>,
}

impl Seg {
    /// Memory its block filters hold.
    pub(crate) fn filter_bytes(&self) -> u64 {
        self.file
            .blocks()
            .iter()
            .map(|b| b.filter_bytes() as u64)
            .sum()
    }

    pub(crate) fn info(&self) -> &SegmentInfo {
        self.file.info()
    }

    pub(crate) fn path(&self) -> &Path {
        self.file.path()
    }

    /// The scope summary, when there is a usable one.
    pub(crate) fn summary(&self) -> Option<&crate::summary::ScopeIndex> {
        self.scopes.get().and_then(Option::as_ref)
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub appended: AtomicU64,
    pub indexed: AtomicU64,
    /// Records indexed since the store opened (the journal's replay not
    /// counted).
    pub indexed_count: AtomicU64,
    pub queued_bytes: AtomicU64,
    pub segments_written: AtomicU64,
    pub merges: AtomicU64,
    pub corrupt_blocks: AtomicU64,
    pub retention_deleted: AtomicU64,
    pub heartbeats: AtomicU64,
    pub catalog_errors: AtomicU64,
    /// Scope summaries written for segments that lacked one.
    pub summaries_written: AtomicU64,
}

/// The intake's side, under one lock: the next id and the index queue, so
/// ids reach the journal and the queue in the same order, and a record
/// costs one lock (it was two, and a clone of the sender).
pub(crate) struct Ingest {
    pub next_id: u64,
    /// `None` once the store is closing.
    pub tx: Option<Sender<Msg>>,
}

pub(crate) struct Inner {
    pub dir: PathBuf,
    pub options: StoreOptions,
    pub journal: Arc<Journal>,
    pub view: RwLock<View>,
    pub counters: Counters,
    /// The next id, under the lock that also orders journal appends.
    ingest: Mutex<Ingest>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Retention as configured now (a reload may change it).
    pub retention: Mutex<(Option<Duration>, Option<u64>)>,
    /// Held while the store is open: one writer per store. Released at
    /// shutdown, though readers may still hold the rest.
    lock: Mutex<Option<std::fs::File>>,
}

/// A handle on an open store; cheap to clone. The last handle dropped
/// stops its threads after syncing what they hold.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    _closer: Arc<Closer>,
}

struct Closer(Arc<Inner>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

/// The store's figures, for `/api/stats`.
#[derive(Debug, Clone, Serialize)]
pub struct StoreStats {
    /// Records stored (in segments and memory), after retention.
    pub records: u64,
    /// The id of the last record appended.
    pub appended: u64,
    /// Every record up to this id is synced to disk.
    pub durable: u64,
    /// Appended but not yet synced.
    pub durable_lag: u64,
    /// Every record up to this id is indexed and queryable.
    pub indexed: u64,
    /// Records indexed since the store opened.
    pub indexed_since_open: u64,
    pub memtable_records: u64,
    pub segments: u64,
    pub segment_bytes: u64,
    /// Memory held by the segments' block filters (kept for every block).
    pub filter_bytes: u64,
    pub journal_bytes: u64,
    pub segments_written: u64,
    pub merges: u64,
    pub corrupt_blocks: u64,
    pub retention_deleted: u64,
    pub heartbeats: u64,
    pub journal_failures: u64,
    pub catalog_errors: u64,
    /// Scope summaries written for segments that lacked one (an older
    /// build's, or one lost or damaged).
    pub summaries_written: u64,
}

impl Store {
    /// Opens the store at `path` (a directory; created if missing), taking
    /// its lock, repairing and replaying what a crash left, and starting its
    /// threads. An old single-file store (schema 1 or 2) at `path` is
    /// imported first and kept beside as `<path>.schema2.bak`.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with(path, StoreOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store, StoreError> {
        open::open(path.as_ref(), options)
    }

    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// A reader: open as many as you need.
    pub fn reader(&self) -> Result<Reader, StoreError> {
        Reader::new(self.inner.clone())
    }

    /// Appends one record received at `received` (the intake's stamp) and
    /// returns its id. Costs a copy into the journal's buffer and a queue
    /// push; waits only when the disk or the index thread is far behind.
    pub fn append(&self, record: &Record, received: f64) -> Result<u64, StoreError> {
        self.inner
            .append_with(|id, buf| crate::entry::encode(record, id, received, buf))
    }

    /// Notes that a process is alive (a heartbeat): its open scopes stay
    /// running. Not stored as a record.
    pub fn heartbeat(&self, host: &str, process: i64, at: f64) {
        self.inner
            .counters
            .heartbeats
            .fetch_add(1, Ordering::Relaxed);
        self.inner
            .send(Msg::Heartbeat(host.to_owned(), process, at), 0);
    }

    /// The id of the last record appended (0 before the first).
    pub fn last_appended(&self) -> u64 {
        self.inner.counters.appended.load(Ordering::Acquire)
    }

    /// Waits until every record up to id `id` is synced to disk, asking the
    /// journal to sync now rather than at its next interval; false when
    /// `timeout` passed first. For a source that acknowledges upstream
    /// only what a crash cannot lose (the `jetstream` source).
    pub fn wait_durable(&self, id: u64, timeout: Duration) -> bool {
        self.inner.journal.wait_durable(id, timeout)
    }

    /// Waits until every record appended so far is queryable.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.inner.barrier(false)
    }

    /// Waits until every record appended so far is in a segment and the
    /// journal is synced (tests, import, shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.barrier(true)
    }

    /// Changes retention while the store runs (a configuration reload).
    pub fn set_retention(&self, max_age: Option<Duration>, max_bytes: Option<u64>) {
        if let Ok(mut r) = self.inner.retention.lock() {
            *r = (max_age, max_bytes);
        }
    }

    /// Runs merging and retention now (they also run every few seconds),
    /// and waits for them.
    pub fn maintain(&self) -> Result<(), StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if !self.inner.send(Msg::Maintain(tx), 0) {
            return Err(StoreError::Closed);
        }
        rx.recv_timeout(Duration::from_secs(300))
            .map_err(|_| StoreError::Closed)
    }

    pub fn stats(&self) -> StoreStats {
        self.inner.stats()
    }
}

impl Inner {
    pub(crate) fn append_with(
        &self,
        encode: impl FnOnce(u64, &mut Vec<u8>),
    ) -> Result<u64, StoreError> {
        let mut ingest = self.ingest.lock().map_err(|_| StoreError::Closed)?;
        let id = ingest.next_id;
        let mut payload = Vec::new();
        encode(id, &mut payload);
        self.journal.append(id, &payload);
        ingest.next_id += 1;
        self.counters.appended.store(id, Ordering::Release);
        let size = payload.len() as u64;
        if !self.send_locked(&ingest, Msg::Record(payload), size) {
            return Err(StoreError::Closed);
        }
        Ok(id)
    }

    /// Queues a message for the index thread, waiting while too many bytes
    /// are queued. False once the store is closed.
    fn send(&self, msg: Msg, size: u64) -> bool {
        match self.ingest.lock() {
            Ok(ingest) => self.send_locked(&ingest, msg, size),
            Err(_) => false,
        }
    }

    fn send_locked(&self, ingest: &Ingest, msg: Msg, size: u64) -> bool {
        let mut waited = 0u32;
        while self.counters.queued_bytes.load(Ordering::Relaxed) + size > MAX_QUEUED_BYTES
            && self.counters.queued_bytes.load(Ordering::Relaxed) > 0
            && waited < 60_000
        {
            std::thread::sleep(Duration::from_millis(1));
            waited += 1;
        }
        let Some(tx) = &ingest.tx else { return false };
        self.counters
            .queued_bytes
            .fetch_add(size, Ordering::Relaxed);
        if tx.send(msg).is_err() {
            self.counters
                .queued_bytes
                .fetch_sub(size, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn barrier(&self, flush: bool) -> Result<(), StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if !self.send(Msg::Barrier(flush, tx), 0) {
            return Err(StoreError::Closed);
        }
        rx.recv_timeout(Duration::from_secs(300))
            .map_err(|_| StoreError::Closed)?;
        if flush {
            let last = self.counters.appended.load(Ordering::Acquire);
            if !self.journal.wait_durable(last, Duration::from_secs(60)) {
                return Err(StoreError::Corrupt(format!(
                    "the journal could not be synced up to record {last} (see the log)"
                )));
            }
        }
        Ok(())
    }

    fn stats(&self) -> StoreStats {
        let c = &self.counters;
        let (records, memtable_records, segments, segment_bytes, filter_bytes) =
            match self.view.read() {
                Ok(v) => {
                    let mem = v.active.len() + v.frozen.iter().map(|m| m.len()).sum::<usize>();
                    let seg: u64 = v.segments.iter().map(|s| s.info().count).sum();
                    let bytes: u64 = v.segments.iter().map(|s| s.info().bytes).sum();
                    let filters: u64 = v.segments.iter().map(|s| s.filter_bytes()).sum();
                    let n = v.segments.len() as u64;
                    (seg + mem as u64, mem as u64, n, bytes, filters)
                }
                Err(_) => (0, 0, 0, 0, 0),
            };
        let appended = c.appended.load(Ordering::Acquire);
        let durable = self.journal.durable().min(appended);
        StoreStats {
            records,
            appended,
            durable,
            durable_lag: appended - durable,
            indexed: c.indexed.load(Ordering::Acquire),
            indexed_since_open: c.indexed_count.load(Ordering::Acquire),
            memtable_records,
            segments,
            segment_bytes,
            filter_bytes,
            journal_bytes: self.journal.bytes(),
            segments_written: c.segments_written.load(Ordering::Relaxed),
            merges: c.merges.load(Ordering::Relaxed),
            corrupt_blocks: c.corrupt_blocks.load(Ordering::Relaxed),
            retention_deleted: c.retention_deleted.load(Ordering::Relaxed),
            heartbeats: c.heartbeats.load(Ordering::Relaxed),
            journal_failures: self.journal.failures(),
            catalog_errors: c.catalog_errors.load(Ordering::Relaxed),
            summaries_written: c.summaries_written.load(Ordering::Relaxed),
        }
    }

    /// Closes the queue, lets the threads finish what they hold, and syncs
    /// the journal. Records still in memory stay in the journal and are
    /// replayed on the next start.
    fn shutdown(&self) {
        if let Ok(mut ingest) = self.ingest.lock() {
            ingest.tx.take();
        }
        self.journal.stop();
        let threads: Vec<_> = match self.threads.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for t in threads {
            let _ = t.join();
        }
        if let Ok(mut lock) = self.lock.lock() {
            lock.take();
        }
    }

    /// Counts a damaged block met by a query, which skips it.
    pub(crate) fn note_corrupt(&self, e: &crate::segment::SegmentError) {
        self.counters.corrupt_blocks.fetch_add(1, Ordering::Relaxed);
        tracing::error!("store: skipping a damaged block: {e}");
    }

    pub(crate) fn stats_records(&self) -> u64 {
        self.stats().records
    }

    pub(crate) fn catalog_path(&self) -> PathBuf {
        self.dir.join(open::CATALOG)
    }

    pub(crate) fn segments_dir(&self) -> PathBuf {
        self.dir.join(open::SEGMENTS)
    }
}

#[cfg(test)]
mod tests;
