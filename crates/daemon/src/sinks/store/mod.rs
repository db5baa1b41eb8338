//! `type: store`: the embedded store, with retention by age and size.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use distlog_store::{Store, Writer};
use serde::Deserialize;

use super::runner::{self, Lost, SinkHandle, Threads, Worker};
use super::units::{parse_duration, parse_size};
use super::{QueueConfig, SinkConfig, WhenFull};
use crate::pipeline::Routed;
use crate::storage::now;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSinkConfig {
    /// The store file; defaults to `--store`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub retention: Option<RetentionConfig>,
    #[serde(default)]
    pub queue: Option<QueueConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Delete records created longer ago than this (`30d`).
    #[serde(default)]
    pub max_age: Option<String>,
    /// Delete the oldest records while the store is larger than this (`10GiB`).
    #[serde(default)]
    pub max_size: Option<String>,
}

impl StoreSinkConfig {
    pub fn validated(mut self, default_store: &Path) -> Result<StoreSinkConfig> {
        if self.path.is_none() {
            self.path = Some(default_store.to_path_buf());
        }
        if let Some(r) = &self.retention {
            if let Some(age) = &r.max_age {
                parse_duration(age).context("retention.max_age")?;
            }
            if let Some(size) = &r.max_size {
                parse_size(size).context("retention.max_size")?;
            }
        }
        Ok(self)
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new("distlog.db"))
    }
}

/// Retries of a failing write before its batch is counted as lost.
const MAX_RETRIES: u32 = 20;
/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// Past this, the checkpointer waits for the writer to empty the log.
const WAL_TRUNCATE_BYTES: u64 = 256 << 20;

struct StoreWorker {
    writer: Writer,
    checkpoints: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
    max_age: Option<Duration>,
    max_size: Option<u64>,
    next_prune: Instant,
}

impl Worker for StoreWorker {
    fn write(&mut self, batch: &[Arc<Routed>]) -> Result<(), Lost> {
        let mut delay = Duration::from_millis(50);
        let mut last = String::new();
        for attempt in 0..=MAX_RETRIES {
            match self
                .writer
                .write_batch(batch.iter().map(|r| &r.record), now())
            {
                Ok(()) => return Ok(()),
                Err(e) => {
                    last = e.to_string();
                    tracing::warn!(attempt, records = batch.len(), "store write failed: {e}");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
        Err(Lost {
            records: batch.len(),
            why: format!(
                "gave up writing {} records to the store: {last}",
                batch.len()
            ),
        })
    }

    fn finish(&mut self) {
        if let Some((stop, thread)) = self.checkpoints.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
    }

    fn tick(&mut self) {
        if (self.max_age.is_none() && self.max_size.is_none()) || Instant::now() < self.next_prune {
            return;
        }
        self.next_prune = Instant::now() + RETENTION_EVERY;
        match self.writer.prune(self.max_age, self.max_size, now()) {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "retention removed old records"),
            Err(e) => tracing::error!("retention failed: {e}"),
        }
    }
}

/// Checkpoints once a second from their own thread and connection: the
/// writer's commits then never wait on a checkpoint's fsync (measured in
/// bench/ingest: the writer spent a third of its time there).
fn start_checkpoints(
    name: &str,
    store: &Store,
    writer: &Writer,
) -> Result<(Arc<AtomicBool>, std::thread::JoinHandle<()>)> {
    let checkpointer = store
        .checkpointer()
        .context("opening the store for checkpoints")?;
    writer
        .defer_checkpoints()
        .context("configuring the store writer")?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name(format!("checkpoint-{name}"))
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let truncate = checkpointer.wal_bytes() > WAL_TRUNCATE_BYTES;
                if let Err(e) = checkpointer.checkpoint(truncate) {
                    tracing::warn!("store checkpoint failed: {e}");
                }
            }
            if let Err(e) = checkpointer.checkpoint(true) {
                tracing::warn!("final store checkpoint failed: {e}");
            }
        })
        .context("starting the store checkpointer")?;
    Ok((stop, thread))
}

pub fn start(
    name: &str,
    config: &SinkConfig,
    c: &StoreSinkConfig,
    threads: &Threads,
) -> Result<Arc<SinkHandle>> {
    let store = Store::open(c.path())
        .with_context(|| format!("sink {name:?}: opening the store at {}", c.path().display()))?;
    let writer = store.writer().context("opening the store for writing")?;
    let checkpoints = start_checkpoints(name, &store, &writer)?;
    let retention = c.retention.as_ref();
    let worker = StoreWorker {
        writer,
        checkpoints: Some(checkpoints),
        max_age: retention
            .and_then(|r| r.max_age.as_deref())
            .and_then(|a| parse_duration(a).ok()),
        max_size: retention
            .and_then(|r| r.max_size.as_deref())
            .and_then(|s| parse_size(s).ok()),
        next_prune: Instant::now(),
    };
    // The store is the record of truth: by default a full queue makes the
    // intake wait (clients then buffer and count drops) rather than lose.
    runner::spawn(
        name,
        config,
        c.queue.as_ref(),
        (65_536, WhenFull::Block),
        worker,
        threads,
    )
}
