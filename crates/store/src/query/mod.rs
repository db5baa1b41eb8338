//! Queries: the task list from the catalogue; trees, record lists and
//! search from the memtables and segments.

mod gather;
mod paged;
mod records;

pub use paged::{KeyPath, ScopePage, ScopeSummary, Skeleton};

use std::sync::Arc;

use rusqlite::Connection;

use crate::catalog::{self, connect};
use crate::engine::{Inner, Seg};
use crate::entry::{body_part, decode, EntryRef};
use crate::memtable::MemTable;
use crate::tree::{self, Tree};
use crate::{RecordRow, StoreError, TaskFilter, TaskRow};

/// Answers queries; open as many as you need, each with its own
/// catalogue connection.
pub struct Reader {
    inner: Arc<Inner>,
    conn: Connection,
    unfinished_after: std::time::Duration,
}

/// What one query reads, taken under the view's lock in one go so that a
/// record moving from memory to a segment is seen exactly once.
struct Snapshot {
    segments: Vec<Arc<Seg>>,
    frozen: Vec<Arc<MemTable>>,
}

impl Reader {
    pub(crate) fn new(inner: Arc<Inner>) -> Result<Reader, StoreError> {
        let conn = connect(&inner.catalog_path())?;
        let unfinished_after = inner.options.unfinished_after;
        Ok(Reader {
            inner,
            conn,
            unfinished_after,
        })
    }

    /// Sets after how long of silence (no record, no heartbeat) a process's
    /// open scopes count as unfinished.
    pub fn with_unfinished_after(mut self, after: std::time::Duration) -> Reader {
        self.unfinished_after = after;
        self
    }

    fn silent_since(&self, now: f64) -> f64 {
        now - self.unfinished_after.as_secs_f64()
    }

    /// Root tasks, newest first. `now` (epoch seconds) decides which running
    /// tasks have gone silent long enough to count as unfinished.
    pub fn tasks(&self, filter: &TaskFilter, now: f64) -> Result<Vec<TaskRow>, StoreError> {
        catalog::tasks_list(&self.conn, filter, self.silent_since(now))
    }

    /// One root task, or `None` if no record of it is stored.
    pub fn task(&self, root: &str, now: f64) -> Result<Option<TaskRow>, StoreError> {
        Ok(catalog::task_one(&self.conn, root, self.silent_since(now))?.map(|(_, t)| t))
    }

    /// Every record of one root task, assembled into its tree.
    pub fn tree(&self, root: &str, now: f64) -> Result<Option<Tree>, StoreError> {
        let silent_since = self.silent_since(now);
        let Some((task, row)) = catalog::task_one(&self.conn, root, silent_since)? else {
            return Ok(None);
        };
        let hint = usize::try_from(row.records).unwrap_or(0);
        let records = self.task_records(task, false, hint, |_| true)?;
        if records.is_empty() {
            return Ok(None);
        }
        // Each process once: a big tree has a handful among 100k records.
        let mut seen = rustc_hash::FxHashSet::default();
        let processes = records
            .iter()
            .filter_map(|r| r.process.map(|p| (r.host.as_str(), p)))
            .filter(|k| seen.insert(*k))
            .map(|(h, p)| (h.to_owned(), p))
            .collect::<Vec<_>>();
        let last_seen = catalog::last_seen(&self.conn, processes)?;
        Ok(Some(tree::build(root, records, &last_seen, silent_since)))
    }

    /// The records of one task that pass `keep`, read from the contiguous
    /// blocks that hold the task in each segment; with `full`, every field.
    fn task_records(
        &self,
        task: u64,
        full: bool,
        hint: usize,
        keep: impl Fn(&EntryRef<'_>) -> bool,
    ) -> Result<Vec<RecordRow>, StoreError> {
        // The catalogue's count: growing a vector of 100k rows by doubling
        // copied each row several times.
        let mut out = Vec::with_capacity(hint.min(1 << 22));
        let push = |payload: &[u8], out: &mut Vec<RecordRow>| {
            if let Ok(e) = decode(payload) {
                if keep(&e) {
                    out.push(row(&e, full));
                }
            }
        };
        let snap = {
            let view = self.inner.view.read().map_err(|_| StoreError::Closed)?;
            for p in view.active.task(task) {
                push(p, &mut out);
            }
            Snapshot {
                segments: view.segments.clone(),
                frozen: view.frozen.clone(),
            }
        };
        for m in &snap.frozen {
            for p in m.task(task) {
                push(p, &mut out);
            }
        }
        for s in &snap.segments {
            for b in s.file.task_blocks(task) {
                let block = match s.file.read_block(b) {
                    Ok(block) => block,
                    Err(e) => {
                        self.inner.note_corrupt(&e);
                        continue;
                    }
                };
                for r in block.records().filter(|r| r.task == task) {
                    push(r.payload, &mut out);
                }
            }
        }
        Ok(out)
    }

    /// One record with every field, by its store id.
    pub fn record(&self, id: i64) -> Result<Option<RecordRow>, StoreError> {
        let Ok(id) = u64::try_from(id) else {
            return Ok(None);
        };
        let full = |p: &[u8]| decode(p).ok().filter(|e| e.id == id).map(|e| row(&e, true));
        let snap = {
            let view = self.inner.view.read().map_err(|_| StoreError::Closed)?;
            if let Some(r) = find_in_memtable(&view.active, id).and_then(full) {
                return Ok(Some(r));
            }
            Snapshot {
                segments: view.segments.clone(),
                frozen: view.frozen.clone(),
            }
        };
        for m in &snap.frozen {
            if let Some(r) = find_in_memtable(m, id).and_then(full) {
                return Ok(Some(r));
            }
        }
        for s in snap
            .segments
            .iter()
            .filter(|s| s.info().min_id <= id && id <= s.info().max_id)
        {
            for (b, meta) in s.file.blocks().iter().enumerate() {
                if id < meta.min_id || id > meta.max_id {
                    continue;
                }
                match s.file.read_block(b) {
                    Ok(block) => {
                        if let Some(r) = block.records().find(|r| r.id == id) {
                            return Ok(full(r.payload));
                        }
                    }
                    Err(e) => self.inner.note_corrupt(&e),
                }
            }
        }
        Ok(None)
    }

    /// Records with this key (normally one; a client that resends may make more).
    pub fn records_by_key(&self, key: &distlog_proto::Key) -> Result<Vec<RecordRow>, StoreError> {
        let root = key.scope.root.as_str();
        let Some((task, _)) = catalog::task_one(&self.conn, root, 0.0)? else {
            return Ok(Vec::new());
        };
        let path = key.scope.path_text();
        let mut out = self.task_records(task, true, 0, |e| {
            e.key
                .is_some_and(|k| k.0 == root && k.1 == path && k.2 == key.seq)
        })?;
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    /// How many records the store holds, after retention.
    pub fn count(&self) -> Result<i64, StoreError> {
        Ok(i64::try_from(self.inner.stats_records()).unwrap_or(i64::MAX))
    }
}

/// A memtable's entries are in id order: a binary search finds one.
fn find_in_memtable(m: &MemTable, id: u64) -> Option<&[u8]> {
    let at = m
        .entries
        .binary_search_by_key(&id, |e| crate::entry::payload_id(&e.payload).unwrap_or(0))
        .ok()?;
    Some(&m.entries[at].payload)
}

/// A record as queries return it. Without `full`, only two fields of the
/// body are parsed (context, exc_text), several times cheaper than the whole.
pub(crate) fn row(e: &EntryRef<'_>, full: bool) -> RecordRow {
    let (context, exc_text, body) = if full {
        let body: serde_json::Value =
            serde_json::from_slice(e.body).unwrap_or(serde_json::Value::Null);
        let context = body.get("context").filter(|c| c.is_object()).cloned();
        let exc_text = body
            .get("exc_text")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        (context, exc_text, Some(body))
    } else if e.spans.is_some() {
        (e.context(), e.exc_text(), None)
    } else if e.key.is_some() || memchr::memmem::find(e.body, b"\"exc_text\"").is_some() {
        let part = body_part(e.body);
        (part.context.filter(|c| c.is_object()), part.exc_text, None)
    } else {
        (None, None, None)
    };
    let context = context.map(|mut c| {
        if let Some(map) = c.as_object_mut() {
            map.remove("key");
        }
        c
    });
    let (root, scope, seq) = match e.key {
        Some((root, scope, seq)) => (
            Some(root.to_owned()),
            Some(scope.to_owned()),
            Some(i64::try_from(seq).unwrap_or(i64::MAX)),
        ),
        None => (None, None, None),
    };
    RecordRow {
        id: i64::try_from(e.id).unwrap_or(i64::MAX),
        received: e.received,
        created: e.created,
        topic: String::from_utf8_lossy(&e.topic).into_owned(),
        key: e
            .key
            .map(|(root, scope, seq)| format!("{seq}@{root}{scope}")),
        root,
        scope,
        seq,
        event: e.event.map(|ev| ev.as_str().to_owned()),
        levelno: e.levelno,
        levelname: e.levelname.to_owned(),
        logger: e.logger.to_owned(),
        host: e.host.to_owned(),
        process: e.process,
        message: e.message.to_owned(),
        duration: e.duration,
        context,
        exc_text,
        body,
    }
}
