//! Summary files on disk: where they live, writing one whole, and reading
//! one task's part of one. Only the header and directory are read at open;
//! a task's table and area are read when a query asks, each checked by
//! its own CRC.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{ScopeEntry, TaskTable};
use crate::segment::read_at;
use crate::StoreError;

pub(super) const MAGIC: [u8; 8] = *b"DLSCOPE\0";
pub(super) const VERSION: u32 = 1;
pub(super) const HEADER_LEN: usize = 36;
pub(super) const DIR_ENTRY_LEN: usize = 40;
/// The most a task's kept records may take once decompressed.
const MAX_AREA: u64 = 1 << 30;
/// Beside `segments/` in the store's folder.
pub(crate) const DIR: &str = "scopes";

/// Where the summary of the segment at `segment` lives:
/// `<store>/scopes/<segment name>.scopes`. Its own folder, because opening
/// a store deletes files in `segments/` that the manifest does not list.
pub(crate) fn summary_path(segment: &Path) -> PathBuf {
    let name = segment
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let store = segment
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| Path::new("."));
    store.join(DIR).join(format!("{name}.scopes"))
}

/// Deletes the summary of a segment that goes; a missing one is fine.
pub(crate) fn remove_for(segment: &Path) {
    let path = summary_path(segment);
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("store: could not delete {}: {e}", path.display()),
    }
}

/// Writes a summary under a temporary name and renames it into place. Not
/// synced: a summary lost or torn by a crash fails its checks and is
/// written again from the segment.
pub(crate) fn write(segment: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let path = summary_path(segment);
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| StoreError::Io { path: p, source }
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = path.with_extension("scopes.tmp");
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(io(&path))
}

struct Part {
    off: u64,
    len: u32,
    crc: u32,
}

struct DirEntry {
    task: u64,
    table: Part,
    area: Part,
}

/// An open summary: its directory in memory, the rest read on demand.
/// The file is opened per read, not held: a store has as many summaries
/// as segments, and each segment already holds a descriptor. A summary
/// deleted under a query (its segment retired) fails the read, and the
/// query reads the segment's blocks instead.
pub(crate) struct ScopeIndex {
    path: PathBuf,
    /// The file's size at open: a file replaced since fails the reads'
    /// checks.
    len: u64,
    /// Sorted by task, as the segment is.
    tasks: Vec<DirEntry>,
}

impl std::fmt::Debug for ScopeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ScopeIndex({}, {} tasks)",
            self.path.display(),
            self.tasks.len()
        )
    }
}

fn corrupt(path: &Path, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("scope summary {}: {why}", path.display()))
}

/// Little-endian fields off the front of untrusted bytes.
struct Take<'a>(&'a [u8]);

impl<'a> Take<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.bytes(n)?).ok()
    }
}

impl ScopeIndex {
    /// Opens the summary of the segment at `segment`, whose
    /// [`identity`](super::identity) is `of`; `Ok(None)` when it has none.
    pub(crate) fn open(segment: &Path, of: (u64, u64)) -> Result<Option<ScopeIndex>, StoreError> {
        let path = summary_path(segment);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let len = file
            .metadata()
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?
            .len();
        if len < HEADER_LEN as u64 {
            return Err(corrupt(&path, format!("{len} bytes is too short")));
        }
        let head = read_at(&path, &file, 0, HEADER_LEN)?;
        let mut t = Take(&head);
        let bad_header = || corrupt(&path, "not a scope summary (bad header)");
        if t.bytes(8) != Some(&MAGIC[..]) {
            return Err(bad_header());
        }
        let version = t.u32().ok_or_else(bad_header)?;
        if version != VERSION {
            return Err(corrupt(
                &path,
                format!("format version {version}, this build reads {VERSION}"),
            ));
        }
        let n = t.u32().ok_or_else(bad_header)? as usize;
        let dir_crc = t.u32().ok_or_else(bad_header)?;
        let made_for = (
            t.u64().ok_or_else(bad_header)?,
            t.u64().ok_or_else(bad_header)?,
        );
        if made_for != of {
            // A segment rewritten under the same name: its blocks are not
            // the ones this summary numbers.
            return Err(corrupt(
                &path,
                format!(
                    "made for a segment of {} bytes and {} records, this one has {} and {}",
                    made_for.0, made_for.1, of.0, of.1
                ),
            ));
        }
        let dir_len = n
            .checked_mul(DIR_ENTRY_LEN)
            .filter(|d| (HEADER_LEN + d) as u64 <= len);
        let Some(dir_len) = dir_len else {
            return Err(corrupt(&path, format!("claims {n} tasks in {len} bytes")));
        };
        let dir = read_at(&path, &file, HEADER_LEN as u64, dir_len)?;
        if crc32fast::hash(&dir) != dir_crc {
            return Err(corrupt(&path, "directory checksum mismatch"));
        }
        let mut t = Take(&dir);
        let mut tasks: Vec<DirEntry> = Vec::with_capacity(n);
        let part = |t: &mut Take<'_>| -> Option<Part> {
            Some(Part {
                off: t.u64()?,
                len: t.u32()?,
                crc: t.u32()?,
            })
        };
        for _ in 0..n {
            let (Some(task), Some(table), Some(area)) = (t.u64(), part(&mut t), part(&mut t))
            else {
                return Err(corrupt(&path, "short directory"));
            };
            let inside = |p: &Part| {
                p.off
                    .checked_add(u64::from(p.len))
                    .is_some_and(|e| e <= len)
            };
            if !inside(&table) || !inside(&area) || tasks.last().is_some_and(|l| l.task >= task) {
                return Err(corrupt(
                    &path,
                    format!("task {task}'s entry is out of place"),
                ));
            }
            tasks.push(DirEntry { task, table, area });
        }
        Ok(Some(ScopeIndex { path, len, tasks }))
    }

    fn entry(&self, task: u64) -> Option<&DirEntry> {
        let at = self.tasks.binary_search_by_key(&task, |d| d.task).ok()?;
        self.tasks.get(at)
    }

    fn read(&self, p: &Part) -> Result<Vec<u8>, StoreError> {
        let file = File::open(&self.path).map_err(|source| StoreError::Io {
            path: self.path.clone(),
            source,
        })?;
        let len = file
            .metadata()
            .map_err(|source| StoreError::Io {
                path: self.path.clone(),
                source,
            })?
            .len();
        if len != self.len {
            return Err(corrupt(&self.path, "changed since it was opened"));
        }
        let bytes = read_at(&self.path, &file, p.off, p.len as usize)?;
        if crc32fast::hash(&bytes) != p.crc {
            return Err(corrupt(&self.path, "checksum mismatch"));
        }
        Ok(bytes)
    }

    /// The task's scopes and processes in this segment; `None` when the
    /// segment holds none of its records. `blocks` is the segment's block
    /// count: a block range past it means the summary is not this
    /// segment's.
    pub(crate) fn table(&self, task: u64, blocks: usize) -> Result<Option<TaskTable>, StoreError> {
        let Some(d) = self.entry(task) else {
            return Ok(None);
        };
        let bytes = self.read(&d.table)?;
        let short = || corrupt(&self.path, format!("task {task}'s table is cut short"));
        let mut t = Take(&bytes);
        let procs = t.u32().ok_or_else(short)? as usize;
        let mut table = TaskTable::default();
        for _ in 0..procs.min(bytes.len()) {
            let host = t.str().ok_or_else(short)?.to_owned();
            let pid = t.u64().ok_or_else(short)? as i64;
            table.processes.push((host, pid));
        }
        let scopes = t.u32().ok_or_else(short)? as usize;
        for _ in 0..scopes.min(bytes.len()) {
            let scope = t.str().ok_or_else(short)?.to_owned();
            let mut v = [0u32; 4];
            for x in &mut v {
                *x = t.u32().ok_or_else(short)?;
            }
            let [first_block, last_block, records, errors] = v;
            if first_block > last_block || last_block as usize >= blocks {
                return Err(corrupt(
                    &self.path,
                    format!("blocks {first_block}..={last_block} of a {blocks}-block segment"),
                ));
            }
            table.scopes.push(ScopeEntry {
                scope,
                first_block,
                last_block,
                records,
                errors,
            });
        }
        Ok(Some(table))
    }

    /// The task's kept records in this segment (see [`payloads`]).
    pub(crate) fn area(&self, task: u64) -> Result<Vec<u8>, StoreError> {
        let Some(d) = self.entry(task) else {
            return Ok(Vec::new());
        };
        let packed = self.read(&d.area)?;
        let mut area = Vec::new();
        // Bounded as a segment block is, whatever the frame claims.
        let read = zstd::stream::read::Decoder::new(&packed[..])
            .and_then(|z| z.take(MAX_AREA).read_to_end(&mut area));
        match read {
            Ok(_) if (area.len() as u64) < MAX_AREA => Ok(area),
            Ok(_) => Err(corrupt(
                &self.path,
                format!("task {task}'s records exceed {MAX_AREA} bytes"),
            )),
            Err(e) => Err(corrupt(
                &self.path,
                format!("task {task}'s records do not decompress: {e}"),
            )),
        }
    }
}

/// The payloads of an area read by [`ScopeIndex::area`] (it passed its
/// checksum, so a cut-short tail means a bug; it ends the walk).
pub(crate) fn payloads(area: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut t = Take(area);
    std::iter::from_fn(move || {
        let n = t.u32()? as usize;
        t.bytes(n)
    })
}
