//! The flush thread: memtables into segments, small segments merged,
//! retention applied, and the journal behind the segments deleted.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::indexer::Flush;
use super::summaries;
use super::{Inner, Seg};
use crate::catalog::{Catalog, SegmentRow};
use crate::entry::decode;
use crate::memtable::MemTable;
use crate::segment::{write_segment, SegItem, Segment, SegmentOptions};
use crate::summary::{self, ScopeIndex};
use crate::StoreError;

/// Small segments (from a memtable flushed by age on a quiet daemon, or
/// at a restart) merge four at a time; a segment of at least a quarter of
/// a memtable is left as it is: merging those would rewrite every record
/// again under full load for little gain in queries (measured: the merge
/// was the flush thread's largest cost).
const MERGE_FAN_IN: usize = 4;
/// A merge's result stays below these, which bound its memory.
const MERGE_MAX_RECORDS: u64 = 256 * 1024;
/// (compressed bytes)
const MERGE_MAX_BYTES: u64 = 48 << 20;
const MAINTENANCE_EVERY: Duration = Duration::from_secs(10);

pub(crate) fn run(inner: &Inner, mut catalog: Catalog, rx: Receiver<Flush>) {
    let mut next_maintenance = Instant::now() + MAINTENANCE_EVERY;
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(Flush::Memtable(m)) => flush(inner, &mut catalog, &m),
            Ok(Flush::Barrier(tx)) => {
                let _ = tx.send(());
            }
            Ok(Flush::Maintain(tx)) => {
                maintain(inner, &mut catalog);
                summaries::backfill(inner, || false);
                let _ = tx.send(());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        summaries::backfill(inner, || !rx.is_empty());
        if Instant::now() >= next_maintenance {
            maintain(inner, &mut catalog);
            next_maintenance = Instant::now() + MAINTENANCE_EVERY;
        }
    }
}

fn maintain(inner: &Inner, catalog: &mut Catalog) {
    while merge_once(inner, catalog) {}
    if let Err(e) = retention(inner, catalog) {
        tracing::error!("store retention failed: {e}");
    }
}

/// One record on its way into a segment, with its sort key.
pub(super) struct Item<'a> {
    pub(super) task: u64,
    pub(super) scope: &'a str,
    pub(super) seq: u64,
    pub(super) id: u64,
    pub(super) created: f64,
    pub(super) levelno: i64,
    pub(super) host: &'a str,
    pub(super) process: Option<i64>,
    pub(super) event: bool,
    pub(super) payload: &'a [u8],
    pub(super) tokens: Vec<u64>,
}

/// One record's sort key and search terms, from one decode; `tokens` when
/// the index thread already computed them.
fn item<'a>(task: u64, payload: &'a [u8], tokens: Option<&[u64]>) -> Option<Item<'a>> {
    let e = decode(payload).ok()?;
    let (scope, seq) = e.key.map_or(("", 0), |k| (k.1, k.2));
    Some(Item {
        task,
        scope,
        seq,
        id: e.id,
        created: e.created,
        levelno: e.levelno,
        host: e.host,
        process: e.process,
        event: crate::summary::kept(&e),
        payload,
        tokens: tokens.map_or_else(|| e.search_tokens(), <[u64]>::to_vec),
    })
}

/// A segment written and not yet listed, with its scope summary.
type Written = (SegmentRow, Segment, Option<ScopeIndex>);

/// Sorts `items` so each task's records are contiguous (and within a task,
/// each scope's) and writes them as one segment file and its summary.
fn write(inner: &Inner, items: &mut [Item<'_>], level: u32) -> Result<Option<Written>, StoreError> {
    if items.is_empty() {
        return Ok(None);
    }
    items.sort_unstable_by(|a, b| {
        (a.task, a.scope, a.seq, a.id).cmp(&(b.task, b.scope, b.seq, b.id))
    });
    let min_id = items.iter().map(|i| i.id).min().unwrap_or(0);
    let max_id = items.iter().map(|i| i.id).max().unwrap_or(0);
    let name = format!("{min_id:020}-{max_id:020}.seg");
    let path = inner.segments_dir().join(&name);
    // A summary left by a segment of this name that was never listed
    // (a crash before the manifest took it) must not describe this one.
    summary::remove_for(&path);
    let options = SegmentOptions {
        block_bytes: inner.options.block_bytes,
        zstd_level: 1,
    };
    let info = write_segment(
        &path,
        items.iter().map(|i| SegItem {
            id: i.id,
            task: i.task,
            created: i.created,
            levelno: i.levelno,
            payload: i.payload,
            tokens: &i.tokens,
        }),
        &options,
    )?;
    let segment = Segment::open(&path)?;
    let scopes = match summary::install(
        &path,
        summary::identity(&segment),
        &summaries::summarise(items, &segment),
    ) {
        Ok(s) => Some(s),
        Err(e) => {
            // The segment is sound without it: queries read its blocks.
            tracing::warn!("store: no scope summary for {name}: {e}");
            None
        }
    };
    let row = SegmentRow {
        name,
        min_id: info.min_id,
        max_id: info.max_id,
        records: info.count,
        bytes: info.bytes,
        min_created: info.min_created,
        max_created: info.max_created,
        level,
    };
    Ok(Some((row, segment, scopes)))
}

fn flush(inner: &Inner, catalog: &mut Catalog, table: &Arc<MemTable>) {
    let mut items: Vec<Item> = table
        .entries
        .iter()
        .filter_map(|e| item(e.task, &e.payload, Some(&e.tokens)))
        .collect();
    let mut delay = Duration::from_millis(100);
    // Until it is written: giving up and going on with the next memtable
    // would move the watermark past these records and let the journal
    // that holds them go. A failing disk stalls the store (the intake then
    // waits) rather than lose records; only a shutdown stops the retries,
    // and the journal still has them then.
    for attempt in 0u32.. {
        match write(inner, &mut items, 0).and_then(|s| commit(catalog, s, &[])) {
            Ok(segment) => {
                let through = table.id_range().map(|r| r.1);
                if let Ok(mut view) = inner.view.write() {
                    view.frozen.retain(|f| !Arc::ptr_eq(f, table));
                    if let Some(s) = segment {
                        insert_sorted(&mut view.segments, Arc::new(s));
                    }
                }
                inner
                    .counters
                    .segments_written
                    .fetch_add(1, Ordering::Relaxed);
                if let Some(through) = through {
                    inner.journal.release_through(through);
                }
                if attempt > 0 {
                    tracing::info!("store: segment written after {attempt} failed attempts");
                }
                return;
            }
            Err(e) => {
                tracing::error!(attempt, "store: writing a segment failed, retrying: {e}");
                if inner.journal.stopping() && attempt >= 3 {
                    break;
                }
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
    // The records stay queryable in memory and safe in the journal, which
    // is replayed into a segment on the next start.
    tracing::error!("store: giving up on a segment for now; its records stay in memory");
}

fn commit(
    catalog: &mut Catalog,
    written: Option<Written>,
    replaced: &[String],
) -> Result<Option<Seg>, StoreError> {
    let Some((row, file, scopes)) = written else {
        // A merge of inputs none of whose blocks could be read: they are
        // unlisted all the same, as their files go.
        if !replaced.is_empty() {
            catalog.drop_segments(replaced, 0)?;
        }
        return Ok(None);
    };
    let through = replaced.is_empty().then_some(row.max_id);
    catalog.commit_segment(&row, replaced, through)?;
    let summary = std::sync::OnceLock::new();
    if let Some(s) = scopes {
        let _ = summary.set(Some(s));
    }
    Ok(Some(Seg {
        file,
        name: row.name,
        level: row.level,
        scopes: summary,
    }))
}

fn insert_sorted(segments: &mut Vec<Arc<Seg>>, s: Arc<Seg>) {
    let at = segments.partition_point(|x| x.info().min_id < s.info().min_id);
    segments.insert(at, s);
}

/// Merges the oldest run of small segments of one level, if there is one.
/// Returns whether it merged.
fn merge_once(inner: &Inner, catalog: &mut Catalog) -> bool {
    let segments: Vec<Arc<Seg>> = match inner.view.read() {
        Ok(v) => v.segments.clone(),
        Err(_) => return false,
    };
    let small = (inner.options.memtable_records / 4).max(1) as u64;
    let Some(run) = segments.windows(MERGE_FAN_IN).find(|w| {
        let records: u64 = w.iter().map(|s| s.info().count).sum();
        let bytes: u64 = w.iter().map(|s| s.info().bytes).sum();
        w.iter().all(|s| s.info().count < small)
            && records <= MERGE_MAX_RECORDS
            && bytes <= MERGE_MAX_BYTES
    }) else {
        return false;
    };
    let run: Vec<Arc<Seg>> = run.to_vec();
    let mut blocks = Vec::new();
    for s in &run {
        for b in 0..s.file.blocks().len() {
            match s.file.read_block(b) {
                Ok(block) => blocks.push(block),
                Err(e) => {
                    inner
                        .counters
                        .corrupt_blocks
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::error!("store: skipping a damaged block while merging: {e}");
                }
            }
        }
    }
    let mut items: Vec<Item<'_>> = blocks
        .iter()
        .flat_map(|b| b.records())
        .filter_map(|r| item(r.task, r.payload, None))
        .collect();
    let names: Vec<String> = run.iter().map(|s| s.name.clone()).collect();
    let level = run.iter().map(|s| s.level).max().unwrap_or(0) + 1;
    let merged = match write(inner, &mut items, level).and_then(|w| commit(catalog, w, &names)) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!("store: merging segments failed: {e}");
            return false;
        }
    };
    if let Ok(mut view) = inner.view.write() {
        view.segments
            .retain(|s| !run.iter().any(|r| Arc::ptr_eq(r, s)));
        if let Some(m) = merged {
            insert_sorted(&mut view.segments, Arc::new(m));
        }
    }
    for s in &run {
        remove(s.path().to_path_buf());
    }
    inner.counters.merges.fetch_add(1, Ordering::Relaxed);
    true
}

fn remove(path: PathBuf) {
    summary::remove_for(&path);
    // Readers holding the segment keep its open file; the name goes now.
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::warn!("store: could not delete {}: {e}", path.display());
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Deletes whole segments: those older than `max_age`, then the oldest
/// while the segments take more than `max_bytes`.
fn retention(inner: &Inner, catalog: &mut Catalog) -> Result<(), StoreError> {
    let (max_age, max_bytes) = match inner.retention.lock() {
        Ok(r) => *r,
        Err(_) => return Ok(()),
    };
    if max_age.is_none() && max_bytes.is_none() {
        return Ok(());
    }
    let segments: Vec<Arc<Seg>> = match inner.view.read() {
        Ok(v) => v.segments.clone(),
        Err(_) => return Ok(()),
    };
    let mut doomed: Vec<Arc<Seg>> = Vec::new();
    if let Some(age) = max_age {
        let cutoff = now() - age.as_secs_f64();
        doomed.extend(
            segments
                .iter()
                .filter(|s| s.info().max_created < cutoff)
                .cloned(),
        );
    }
    if let Some(max) = max_bytes {
        let mut total: u64 = segments
            .iter()
            .filter(|s| !doomed.iter().any(|d| Arc::ptr_eq(d, s)))
            .map(|s| s.info().bytes)
            .sum();
        for s in &segments {
            if total <= max {
                break;
            }
            if doomed.iter().any(|d| Arc::ptr_eq(d, s)) {
                continue;
            }
            total -= s.info().bytes;
            doomed.push(s.clone());
        }
    }
    if doomed.is_empty() {
        return Ok(());
    }
    let first_live = {
        let view = inner.view.read().map_err(|_| StoreError::Closed)?;
        let seg = view
            .segments
            .iter()
            .filter(|s| !doomed.iter().any(|d| Arc::ptr_eq(d, s)))
            .map(|s| s.info().min_id)
            .min();
        let mem = view
            .frozen
            .iter()
            .filter_map(|m| m.id_range())
            .chain(view.active.id_range())
            .map(|r| r.0)
            .min();
        // Records the index thread has put in the catalogue but not yet in
        // memory have ids above `indexed`: their tasks must stay.
        let in_flight = inner.counters.indexed.load(Ordering::Acquire) + 1;
        seg.into_iter()
            .chain(mem)
            .chain(std::iter::once(in_flight))
            .min()
            .unwrap_or(in_flight)
    };
    let names: Vec<String> = doomed.iter().map(|s| s.name.clone()).collect();
    catalog.drop_segments(&names, first_live)?;
    let deleted: u64 = doomed.iter().map(|s| s.info().count).sum();
    if let Ok(mut view) = inner.view.write() {
        view.segments
            .retain(|s| !doomed.iter().any(|d| Arc::ptr_eq(d, s)));
    }
    for s in &doomed {
        remove(s.path().to_path_buf());
    }
    inner
        .counters
        .retention_deleted
        .fetch_add(deleted, Ordering::Relaxed);
    tracing::info!(
        deleted,
        segments = doomed.len(),
        "retention removed old records"
    );
    Ok(())
}
