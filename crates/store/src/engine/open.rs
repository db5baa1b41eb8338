//! Opening a store: what the path holds, the lock, recovery after a crash,
//! and the threads.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use super::{flusher, indexer, Closer, Counters, Inner, Msg, Seg, Store, StoreOptions, View};
use crate::catalog::{self, Catalog};
use crate::journal::{self, Journal};
use crate::segment::Segment;
use crate::summary::{self, ScopeIndex};
use crate::StoreError;

pub(crate) const CATALOG: &str = "catalog.db";
pub(crate) const SEGMENTS: &str = "segments";
pub(crate) const JOURNAL: &str = "journal";
const LOCK: &str = "LOCK";

/// What a store path holds before it is opened.
#[derive(Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// Nothing yet: a new store is made there.
    Missing,
    /// A store directory of ours.
    Store,
    /// A single-file store of an earlier distlog (SQLite, schema 1 or 2).
    Legacy,
}

impl StoreKind {
    /// Looks at `path` without changing anything; refuses what is neither a
    /// store nor nothing, so nothing else is ever written into.
    pub fn of(path: &Path) -> Result<StoreKind, StoreError> {
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StoreKind::Missing),
            Err(e) => return Err(io(path, e)),
        };
        if meta.is_dir() {
            if path.join(CATALOG).exists() {
                return Ok(StoreKind::Store);
            }
            let empty = fs::read_dir(path)
                .map_err(|e| io(path, e))?
                .next()
                .is_none();
            if empty {
                return Ok(StoreKind::Missing);
            }
            return Err(not_a_store(
                path,
                "it is a directory holding other files and no catalog.db",
            ));
        }
        let mut header = [0u8; 16];
        let n = File::open(path)
            .and_then(|mut f| f.read(&mut header))
            .map_err(|e| io(path, e))?;
        if n < 16 || &header != b"SQLite format 3\0" {
            return Err(not_a_store(
                path,
                "it is a file that is not an SQLite database",
            ));
        }
        crate::legacy::check(path)?;
        Ok(StoreKind::Legacy)
    }
}

fn not_a_store(path: &Path, why: &str) -> StoreError {
    StoreError::NotAStore {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn open(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
    match StoreKind::of(path)? {
        StoreKind::Legacy => {
            crate::legacy::import(path, &options)?;
            open_dir(path, options)
        }
        StoreKind::Missing | StoreKind::Store => open_dir(path, options),
    }
}

/// Takes the store's lock, refusing if another process holds it.
fn lock(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(io(&path, e)),
    }
}

pub(crate) fn open_dir(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
    fs::create_dir_all(dir.join(SEGMENTS)).map_err(|e| io(dir, e))?;
    let lock = lock(dir)?;
    let catalog_path = dir.join(CATALOG);
    let conn = catalog::connect(&catalog_path)?;
    catalog::prepare(&conn, dir)?;
    let mut catalog = Catalog::new(conn);
    let segments = load_segments(dir, &mut catalog)?;
    let through = catalog.meta("segments_through")?;
    // Read the journal tail first: it says where ids continue.
    let mut pending: Vec<Vec<u8>> = Vec::new();
    let replayed = journal::replay(&dir.join(JOURNAL), through, |p| {
        pending.push(p.to_vec());
        Ok(())
    })?;
    for line in &replayed.damage {
        tracing::warn!("store journal: {line}");
    }
    let last_segment = segments.iter().map(|s| s.info().max_id).max().unwrap_or(0);
    let last_id = replayed
        .last_id
        .max(through)
        .max(last_segment)
        .max(catalog.meta("tasks_through")?);
    let journal = Journal::open(&dir.join(JOURNAL), last_id)?;
    let options_retention = (options.max_age, options.max_bytes);
    let (tx, rx) = crossbeam_channel::bounded::<Msg>(super::QUEUE_RECORDS);
    // One memtable waiting while one is written: memory stays bounded
    // when the disk is slow, and the intake then waits.
    let (ftx, frx) = crossbeam_channel::bounded::<indexer::Flush>(1);
    let inner = Arc::new(Inner {
        dir: dir.to_path_buf(),
        options,
        journal: journal.clone(),
        view: RwLock::new(View {
            segments,
            ..View::default()
        }),
        counters: Counters::default(),
        ingest: Mutex::new(super::Ingest {
            next_id: last_id + 1,
            tx: Some(tx),
        }),
        threads: Mutex::new(Vec::new()),
        retention: Mutex::new((options_retention.0, options_retention.1)),
        lock: Mutex::new(Some(lock)),
    });
    inner.counters.appended.store(last_id, Ordering::Release);
    inner.counters.indexed.store(through, Ordering::Release);
    let flush_catalog = Catalog::new(catalog::connect(&catalog_path)?);
    let mut threads = Vec::new();
    let (j, interval) = (journal.clone(), inner.options.commit_interval);
    threads.push(spawn("store-sync", move || j.run_sync(interval))?);
    let i = inner.clone();
    threads.push(spawn("store-index", move || {
        indexer::run(&i, catalog, rx, ftx)
    })?);
    let i = inner.clone();
    threads.push(spawn("store-flush", move || {
        flusher::run(&i, flush_catalog, frx)
    })?);
    if let Ok(mut t) = inner.threads.lock() {
        t.extend(threads);
    }
    let store = Store {
        inner: inner.clone(),
        _closer: Arc::new(Closer(inner.clone())),
    };
    if !pending.is_empty() {
        tracing::info!(
            records = pending.len(),
            "store: replaying the journal's records not yet in segments"
        );
    }
    for payload in pending {
        let size = payload.len() as u64;
        if !inner.send(Msg::Record(payload), size) {
            return Err(StoreError::Closed);
        }
    }
    store.sync()?;
    inner.counters.indexed_count.store(0, Ordering::Release);
    Ok(store)
}

fn spawn(
    name: &str,
    f: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| StoreError::Io {
            path: PathBuf::from(name),
            source: e,
        })
}

/// Opens every listed segment. A damaged one is recovered block by block;
/// a missing one is reported and unlisted; files the manifest does not list
/// (left by a crash between writing a segment and listing it, or between a
/// merge's listing and its deletions) are removed.
fn load_segments(dir: &Path, catalog: &mut Catalog) -> Result<Vec<Arc<Seg>>, StoreError> {
    let seg_dir = dir.join(SEGMENTS);
    let rows = catalog.segments()?;
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for row in &rows {
        let path = seg_dir.join(&row.name);
        if !path.exists() {
            tracing::error!(
                "store: segment {} is listed but missing: its {} records are lost",
                path.display(),
                row.records
            );
            missing.push(row.name.clone());
            continue;
        }
        let scopes = std::sync::OnceLock::new();
        let file = match Segment::open(&path) {
            Ok(s) => {
                match ScopeIndex::open(&path, summary::identity(&s)) {
                    Ok(Some(index)) => {
                        let _ = scopes.set(Some(index));
                    }
                    // Written by an older build: the flush thread writes it.
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!("store: {e}; writing it again");
                        summary::remove_for(&path);
                    }
                }
                s
            }
            Err(e) => {
                tracing::error!(
                    "store: segment {} is damaged ({e}); recovering its intact blocks",
                    path.display()
                );
                // Its summary numbers blocks that recovery may have lost.
                summary::remove_for(&path);
                Segment::recover(&path)?.0
            }
        };
        out.push(Arc::new(Seg {
            file,
            name: row.name.clone(),
            level: row.level,
            scopes,
        }));
    }
    let scopes_dir = dir.join(summary::DIR);
    if let Ok(entries) = fs::read_dir(&scopes_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let listed = name
                .strip_suffix(".scopes")
                .is_some_and(|seg| rows.iter().any(|r| r.name == seg));
            if !listed {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    for entry in fs::read_dir(&seg_dir).map_err(|e| io(&seg_dir, e))? {
        let entry = entry.map_err(|e| io(&seg_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !rows.iter().any(|r| r.name == name) {
            tracing::info!("store: removing {name}, a segment no manifest entry lists");
            let _ = fs::remove_file(entry.path());
        }
    }
    if !missing.is_empty() {
        catalog.drop_segments(&missing, 0)?;
    }
    out.sort_by_key(|s| s.info().min_id);
    Ok(out)
}
