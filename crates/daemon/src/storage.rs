//! The store writer thread: batches decoded records into transactions.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use distlog_proto::Record;
use distlog_store::Writer;

use crate::stats::Stats;

/// Largest batch per transaction: big enough to amortise the commit, small
/// enough that a query never waits long behind a write.
const MAX_BATCH: usize = 2_000;
/// How long a record may wait for company before its batch is written.
const MAX_DELAY: Duration = Duration::from_millis(20);
/// Retries of a failing write before its batch is counted as lost.
const MAX_RETRIES: u32 = 20;

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Writes until every sender is gone and the channel is empty.
pub fn run(mut writer: Writer, input: Receiver<Record>, stats: Arc<Stats>) {
    let mut batch: Vec<Record> = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = match input.recv() {
            Ok(r) => r,
            Err(_) => break,
        };
        batch.push(first);
        let deadline = std::time::Instant::now() + MAX_DELAY;
        while batch.len() < MAX_BATCH {
            match input.recv_deadline(deadline) {
                Ok(r) => batch.push(r),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        write_with_retry(&mut writer, &batch, &stats);
        stats.queued.fetch_sub(batch.len() as u64, Relaxed);
        batch.clear();
    }
}

fn write_with_retry(writer: &mut Writer, batch: &[Record], stats: &Stats) {
    let mut delay = Duration::from_millis(50);
    for attempt in 0..=MAX_RETRIES {
        match writer.write_batch(batch, now()) {
            Ok(()) => {
                stats.stored.fetch_add(batch.len() as u64, Relaxed);
                return;
            }
            Err(e) => {
                stats.store_errors.fetch_add(1, Relaxed);
                tracing::error!(attempt, records = batch.len(), "store write failed: {e}");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    stats.store_lost.fetch_add(batch.len() as u64, Relaxed);
    tracing::error!(
        records = batch.len(),
        "gave up writing a batch to the store"
    );
}
