//! The index thread: batches of records into the catalogue and the active
//! memtable; a full memtable goes to the flush thread.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::{Inner, Msg};
use crate::catalog::Catalog;
use crate::entry::{decode, EntryRef};
use crate::memtable::MemTable;

const MAX_BATCH: usize = 4_096;

/// What the flush thread is handed.
pub(crate) enum Flush {
    Memtable(Arc<MemTable>),
    /// Answer once everything handed over before is in segments.
    Barrier(Sender<()>),
    Maintain(Sender<()>),
}

pub(crate) fn run(inner: &Inner, mut catalog: Catalog, rx: Receiver<Msg>, flush: Sender<Flush>) {
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(MAX_BATCH);
    let mut beats: Vec<(String, i64, f64)> = Vec::new();
    let mut barriers: Vec<(bool, Sender<()>)> = Vec::new();
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut next = first;
        while let Some(msg) = next.take() {
            match msg {
                Msg::Record(p) => batch.push(p),
                Msg::Heartbeat(h, p, at) => beats.push((h, p, at)),
                Msg::Barrier(f, tx) => {
                    barriers.push((f, tx));
                    break;
                }
                Msg::Maintain(tx) => {
                    let _ = flush.send(Flush::Maintain(tx));
                    break;
                }
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() || !beats.is_empty() {
            index(inner, &mut catalog, &mut batch, &mut beats);
        }
        let wants_flush = barriers.iter().any(|(f, _)| *f);
        if wants_flush || due(inner) {
            freeze(inner, &flush);
        }
        for (f, tx) in barriers.drain(..) {
            if f {
                // The flush thread answers after the segments it holds.
                let _ = flush.send(Flush::Barrier(tx));
            } else {
                let _ = tx.send(());
            }
        }
    }
    // Stopping: what is left in memory is in the journal and is replayed
    // on the next start, so it is not worth a segment now.
}

/// Whether the active memtable should become a segment.
fn due(inner: &Inner) -> bool {
    let o = &inner.options;
    let Ok(view) = inner.view.read() else {
        return false;
    };
    let m = &view.active;
    !m.is_empty()
        && (m.len() >= o.memtable_records
            || m.bytes >= o.memtable_bytes
            || m.since.is_some_and(|t| t.elapsed() >= o.memtable_age))
}

fn freeze(inner: &Inner, flush: &Sender<Flush>) {
    let frozen = {
        let Ok(mut view) = inner.view.write() else {
            return;
        };
        if view.active.is_empty() {
            return;
        }
        let table = Arc::new(std::mem::take(&mut view.active));
        view.frozen.push(table.clone());
        table
    };
    // Bounded: a slow disk makes this thread wait, and then the intake.
    let _ = flush.send(Flush::Memtable(frozen));
}

fn index(
    inner: &Inner,
    catalog: &mut Catalog,
    batch: &mut Vec<Vec<u8>>,
    beats: &mut Vec<(String, i64, f64)>,
) {
    let bytes: u64 = batch.iter().map(|p| p.len() as u64).sum();
    // The catalogue must never count a record the journal could still
    // lose: after a kill -9 its commits survive (they are in the page
    // cache) but the journal's unsynced buffer does not. So a batch waits
    // until it is durable (asking for an early sync), which also makes
    // "queryable" imply "durable".
    if let Some(last) = batch.last().and_then(|p| crate::entry::payload_id(p)) {
        while !inner.journal.wait_durable(last, Duration::from_secs(1)) {
            if inner.journal.stopping() {
                break;
            }
        }
    }
    // Our own encoder made these, so each decodes; one that did not would
    // be dropped here rather than shift the task ids of those after it.
    let decoded: Vec<Option<EntryRef<'_>>> = batch.iter().map(|p| decode(p).ok()).collect();
    let ok: Vec<bool> = decoded.iter().map(Option::is_some).collect();
    let entries: Vec<EntryRef<'_>> = decoded.into_iter().flatten().collect();
    let last = entries.last().map(|e| e.id);
    let count = entries.len();
    let mut tokens: Vec<Vec<u64>> = entries.iter().map(EntryRef::search_tokens).collect();
    let mut delay = Duration::from_millis(50);
    // The catalogue commits and the records enter memory under the view's
    // write lock: a query finds a task in the catalogue, then reads the
    // view, so it waits here rather than see a listed task whose records
    // are nowhere yet.
    let held = loop {
        let Ok(view) = inner.view.write() else {
            break None;
        };
        match catalog.apply(&entries, beats) {
            Ok(tasks) => break Some((view, tasks)),
            Err(e) => {
                drop(view);
                // The records are safe in the journal; until the catalogue
                // takes them they wait here, and back-pressure builds.
                inner
                    .counters
                    .catalog_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!("store catalogue update failed, retrying: {e}");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    };
    drop(entries);
    if let Some((mut view, tasks)) = held {
        let mut tasks = tasks.into_iter();
        let mut tokens = tokens.drain(..);
        for (payload, ok) in batch.drain(..).zip(ok) {
            if ok {
                let t = tokens.next().unwrap_or_default();
                view.active.push(tasks.next().unwrap_or(0), payload, t);
            }
        }
    }
    batch.clear();
    beats.clear();
    inner
        .counters
        .queued_bytes
        .fetch_sub(bytes, Ordering::Relaxed);
    if let Some(last) = last {
        inner.counters.indexed.store(last, Ordering::Release);
    }
    inner
        .counters
        .indexed_count
        .fetch_add(count as u64, Ordering::Release);
}
