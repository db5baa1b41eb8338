//! The journal: every accepted record, appended in arrival order, synced to
//! disk at least every commit interval. It is what makes a record survive a
//! crash before it reaches a segment; on start the engine replays its tail.
//!
//! The intake thread only copies a payload into a memory buffer (no system
//! call); the sync thread swaps the buffer out, writes it and `fdatasync`s
//! it, then publishes how far the journal is durable. A crash loses at most
//! the buffer: the records of the last commit interval.
//!
//! Files are `journal/<first id, 20 digits>.wal`, each a run of frames
//! `len u32 | crc32 u32 | payload`, rolled at [`FILE_BYTES`].

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::entry::payload_id;
use crate::StoreError;

/// A journal file is closed and a new one begun past this size.
pub const FILE_BYTES: u64 = 64 << 20;
/// The intake waits when this much is buffered and not yet written: the
/// disk is behind, and memory must stay bounded.
const MAX_PENDING: usize = 32 << 20;
/// Past this the sync thread is woken before the interval ends, so writes
/// stay large but a burst never piles up a whole interval's worth.
const WAKE_AT: usize = 4 << 20;
const FRAME_HEADER: usize = 8;
/// A frame claiming more than this is damage, not a record.
const MAX_FRAME: usize = 256 << 20;

struct Pending {
    buf: Vec<u8>,
    /// The id of the last payload in `buf` (0 when empty).
    last_id: u64,
}

pub(crate) struct Journal {
    dir: PathBuf,
    pending: Mutex<Pending>,
    /// Signalled when the sync thread took the buffer (room for the intake)
    /// or when the intake wants an early write.
    changed: Condvar,
    /// Every record with an id up to this is on disk and synced.
    durable: AtomicU64,
    stop: AtomicBool,
    failures: AtomicU64,
    /// Set when a failed write could not be cut back: the next write starts
    /// a new file.
    fresh_file: AtomicBool,
    /// The files, oldest first, with the first id each holds.
    files: Mutex<Vec<(u64, PathBuf)>>,
}

impl Journal {
    /// Opens the journal in `dir` for appending after `last_id`. Call after
    /// [`replay`], which repairs a torn tail.
    pub(crate) fn open(dir: &Path, last_id: u64) -> Result<Arc<Journal>, StoreError> {
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let files = list(dir)?;
        Ok(Arc::new(Journal {
            dir: dir.to_path_buf(),
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(WAKE_AT * 2),
                last_id: 0,
            }),
            changed: Condvar::new(),
            durable: AtomicU64::new(last_id),
            stop: AtomicBool::new(false),
            failures: AtomicU64::new(0),
            fresh_file: AtomicBool::new(false),
            files: Mutex::new(files),
        }))
    }

    /// Copies one payload into the buffer. Waits only when the disk is so far
    /// behind that [`MAX_PENDING`] bytes are waiting.
    pub(crate) fn append(&self, id: u64, payload: &[u8]) {
        let Ok(mut p) = self.pending.lock() else {
            return;
        };
        while p.buf.len() >= MAX_PENDING && !self.stop.load(Ordering::Relaxed) {
            p = match self.changed.wait_timeout(p, Duration::from_millis(100)) {
                Ok((g, _)) => g,
                Err(_) => return,
            };
        }
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        p.buf.extend_from_slice(&len.to_le_bytes());
        p.buf
            .extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        p.buf.extend_from_slice(payload);
        p.last_id = id;
        if p.buf.len() >= WAKE_AT {
            self.changed.notify_all();
        }
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub(crate) fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Bytes of journal files on disk.
    pub(crate) fn bytes(&self) -> u64 {
        self.files
            .lock()
            .map(|f| {
                f.iter()
                    .filter_map(|(_, p)| fs::metadata(p).ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Deletes the files whose every record has an id up to `id`: they are
    /// in segments and the catalogue now. The newest file is kept.
    pub(crate) fn release_through(&self, id: u64) {
        let Ok(mut files) = self.files.lock() else {
            return;
        };
        while files.len() > 1 && files[1].0 <= id + 1 {
            let (_, path) = files.remove(0);
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!("journal: could not delete {}: {e}", path.display());
            }
        }
    }

    /// Asks the sync thread to write what is buffered and stop.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.changed.notify_all();
    }

    /// Waits until every record appended so far is synced (for a clean
    /// shutdown and for tests).
    pub(crate) fn wait_durable(&self, id: u64, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        self.changed.notify_all();
        while self.durable() < id {
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
            self.changed.notify_all();
        }
        true
    }

    /// The sync thread's loop: write and sync what is buffered every
    /// `interval` (sooner when much is waiting) until stopped.
    pub(crate) fn run_sync(&self, interval: Duration) {
        let mut spare: Vec<u8> = Vec::with_capacity(WAKE_AT * 2);
        let mut file: Option<(File, u64)> = None;
        loop {
            let stopping = self.stop.load(Ordering::Relaxed);
            let (buf, last_id) = {
                let Ok(mut p) = self.pending.lock() else {
                    return;
                };
                if p.buf.len() < WAKE_AT && !stopping {
                    p = match self.changed.wait_timeout(p, interval) {
                        Ok((g, _)) => g,
                        Err(_) => return,
                    };
                }
                let buf = std::mem::replace(&mut p.buf, std::mem::take(&mut spare));
                let last = std::mem::take(&mut p.last_id);
                self.changed.notify_all();
                (buf, last)
            };
            if !buf.is_empty() {
                let first_id = payload_id(&buf[FRAME_HEADER..]).unwrap_or(last_id);
                self.write_out(&mut file, &buf, first_id, last_id);
            }
            spare = buf;
            spare.clear();
            // A burst's high-water mark is not kept for good.
            spare.shrink_to(WAKE_AT * 2);
            if stopping
                && self
                    .pending
                    .lock()
                    .map(|p| p.buf.is_empty())
                    .unwrap_or(true)
            {
                return;
            }
        }
    }

    /// Writes one buffer of frames and syncs it, retrying until it is on
    /// disk: records must not be acknowledged durable before they are.
    fn write_out(&self, file: &mut Option<(File, u64)>, buf: &[u8], first_id: u64, last_id: u64) {
        let mut delay = Duration::from_millis(50);
        let mut while_stopping = 0;
        loop {
            match self.try_write(file, buf, first_id) {
                Ok(()) => break,
                Err(e) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    if self.stop.load(Ordering::Relaxed) {
                        // Shutting down (the directory may be gone): a few
                        // more tries, then say what is lost, but never hang.
                        while_stopping += 1;
                        if while_stopping > 5 {
                            tracing::error!(
                                "journal write failed at shutdown: records {first_id} to {last_id} \
                                 were not synced and are lost: {e}"
                            );
                            return;
                        }
                    }
                    tracing::error!("journal write failed, retrying: {e}");
                    *file = None;
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
        self.durable.store(last_id, Ordering::Release);
    }

    fn try_write(
        &self,
        file: &mut Option<(File, u64)>,
        buf: &[u8],
        first_id: u64,
    ) -> Result<(), StoreError> {
        if file.as_ref().is_some_and(|(_, size)| *size >= FILE_BYTES) {
            *file = None;
        }
        if file.is_none() {
            *file = Some(self.open_file(first_id)?);
        }
        let Some((f, size)) = file.as_mut() else {
            return Ok(());
        };
        let before = *size;
        if let Err(e) = f.write_all(buf).and_then(|()| f.sync_data()) {
            // What a failed try left (a torn frame, or frames that the retry
            // writes again) must not stay before the retry: replay stops at
            // a torn frame. If the file cannot be cut back, the retry goes
            // to a file of its own.
            if f.set_len(before).and_then(|()| f.sync_data()).is_err() {
                self.fresh_file.store(true, Ordering::Relaxed);
            }
            return Err(io(&self.dir, e));
        }
        *size += buf.len() as u64;
        Ok(())
    }

    /// Appends to the newest file if it has room, else starts one named by
    /// the first id it will hold.
    fn open_file(&self, first_id: u64) -> Result<(File, u64), StoreError> {
        let mut files = self.files.lock().map_err(|_| poisoned())?;
        let fresh = self.fresh_file.swap(false, Ordering::Relaxed);
        if let Some((_, path)) = files.last().filter(|_| !fresh) {
            let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if size < FILE_BYTES {
                let f = OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(|e| io(path, e))?;
                return Ok((f, size));
            }
        }
        let path = self.dir.join(format!("{first_id:020}.wal"));
        // A file of this name can only hold a failed try of this very
        // buffer (its first record is this buffer's): it starts over.
        let f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        sync_dir(&self.dir)?;
        if files.last().is_none_or(|(_, p)| *p != path) {
            files.push((first_id, path));
        }
        Ok((f, 0))
    }
}

fn poisoned() -> StoreError {
    StoreError::Corrupt("journal lock poisoned".into())
}

/// The journal files in `dir`, oldest first.
fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let path = entry.map_err(|e| io(dir, e))?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first {
            out.push((first, path));
        }
    }
    out.sort();
    Ok(out)
}

/// What replay found.
#[derive(Debug, Default)]
pub(crate) struct Replayed {
    /// The highest id in the journal (0 when empty).
    pub last_id: u64,
    pub records: u64,
    /// Damage found and cut off, one line each, for the log.
    pub damage: Vec<String>,
}

/// Calls `each` with every intact payload whose id is above `after`, oldest
/// first. A torn or corrupt frame ends its file: the newest file is cut back
/// to its last intact frame (a crash mid-write), an older one is reported and
/// its remainder skipped (its records are counted in `damage`).
pub(crate) fn replay(
    dir: &Path,
    after: u64,
    mut each: impl FnMut(&[u8]) -> Result<(), StoreError>,
) -> Result<Replayed, StoreError> {
    let mut out = Replayed::default();
    if !dir.exists() {
        return Ok(out);
    }
    let files = list(dir)?;
    let newest = files.len().saturating_sub(1);
    let mut prev = 0u64;
    for (i, (_, path)) in files.iter().enumerate() {
        let mut data = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(|e| io(path, e))?;
        let mut at = 0usize;
        let mut bad: Option<String> = None;
        while at < data.len() {
            let Some(header) = data.get(at..at + FRAME_HEADER) else {
                bad = Some("a frame header cut short".into());
                break;
            };
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
            let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            if len > MAX_FRAME {
                bad = Some(format!("a frame claiming {len} bytes"));
                break;
            }
            let Some(payload) = data.get(at + FRAME_HEADER..at + FRAME_HEADER + len) else {
                bad = Some("a frame cut short".into());
                break;
            };
            if crc32fast::hash(payload) != crc {
                bad = Some("a frame whose checksum does not match".into());
                break;
            }
            let Some(id) = payload_id(payload) else {
                bad = Some("a frame too short for a record".into());
                break;
            };
            // Ids only grow: one seen before is a copy a failed write left
            // behind (a retry writes its whole buffer again).
            if id <= prev {
                at += FRAME_HEADER + len;
                continue;
            }
            prev = id;
            out.last_id = out.last_id.max(id);
            if id > after {
                each(payload)?;
                out.records += 1;
            }
            at += FRAME_HEADER + len;
        }
        if let Some(why) = bad {
            out.damage.push(format!(
                "{}: {why} at byte {at} of {}; {}",
                path.display(),
                data.len(),
                if i == newest {
                    "cut back to the last intact record (a write torn by a crash)"
                } else {
                    "the rest of this file is skipped"
                }
            ));
            if i == newest {
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| io(path, e))?;
                f.set_len(at as u64).map_err(|e| io(path, e))?;
                f.sync_all().map_err(|e| io(path, e))?;
            }
        }
    }
    Ok(out)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}
