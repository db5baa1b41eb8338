use std::collections::HashMap;
use std::time::Duration;

use distlog_proto::{Record, ScopeEvent};
use rusqlite::{params, Connection};

use crate::StoreError;

/// Appends records in batches. One per store.
pub struct Writer {
    conn: Connection,
}

/// What one batch changes about one root task, folded before touching SQL
/// so a batch of many records of one task costs one upsert.
#[derive(Default)]
struct TaskDelta {
    opened: bool,
    message: Option<String>,
    /// The root's context, as JSON text without its `key`.
    context: Option<String>,
    host: Option<String>,
    process: Option<i64>,
    started: f64,
    ended: Option<f64>,
    duration: Option<f64>,
    last_seen: f64,
    status: Option<&'static str>,
    records: i64,
    failures: i64,
}

impl Writer {
    pub(crate) fn new(conn: Connection) -> Result<Writer, StoreError> {
        Ok(Writer { conn })
    }

    /// Stops this connection from checkpointing the write-ahead log at
    /// commit. Checkpoints (and their fsyncs) then fall to a [`Checkpointer`]
    /// on another thread; without one the log grows without bound.
    ///
    /// [`Checkpointer`]: crate::Checkpointer
    pub fn defer_checkpoints(&self) -> Result<(), StoreError> {
        self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(())
    }

    /// Stores `records`, all received at `received` (epoch seconds), in one
    /// transaction: either all of them are durable or none.
    pub fn write_batch<'r>(
        &mut self,
        records: impl IntoIterator<Item = &'r Record>,
        received: f64,
    ) -> Result<(), StoreError> {
        let records: Vec<&Record> = records.into_iter().collect();
        let tx = self.conn.transaction()?;
        // Tasks first: records carry their task's id.
        let mut tasks: HashMap<&str, TaskDelta> = HashMap::new();
        let mut processes: HashMap<(&str, i64), f64> = HashMap::new();
        for r in &records {
            if let Some(pid) = r.process {
                processes.insert((r.hostname.as_str(), pid), received);
            }
            if let Some(k) = &r.key {
                fold_task(
                    tasks.entry(&k.scope.root).or_default(),
                    r,
                    created_at(r, received),
                );
            }
        }
        let ids = upsert_tasks(&tx, tasks)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO records (received, created, topic, root, scope, seq, event,
                    levelno, levelname, logger, host, process, message, duration, body, task)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?;
            let mut fts =
                tx.prepare_cached("INSERT INTO records_fts (rowid, message) VALUES (?1, ?2)")?;
            for r in &records {
                let created = created_at(r, received);
                let (root, scope, seq, task) = match &r.key {
                    Some(k) => (
                        Some(k.scope.root.as_str()),
                        Some(k.scope.path_text()),
                        Some(i64::try_from(k.seq).unwrap_or(i64::MAX)),
                        ids.get(k.scope.root.as_str()).copied(),
                    ),
                    None => (None, None, None, None),
                };
                insert.execute(params![
                    received,
                    created,
                    r.topic.as_str(),
                    root,
                    scope,
                    seq,
                    r.event.map(|e| e.as_str()),
                    r.levelno,
                    r.levelname,
                    r.logger,
                    r.hostname,
                    r.process,
                    r.message,
                    r.duration,
                    r.body,
                    task,
                ])?;
                if !r.message.is_empty() {
                    fts.execute(params![tx.last_insert_rowid(), r.message])?;
                }
            }
        }
        let mut seen = tx.prepare_cached(
            "INSERT INTO processes (host, process, last_seen) VALUES (?1, ?2, ?3)
             ON CONFLICT (host, process) DO UPDATE SET last_seen = MAX(last_seen, excluded.last_seen)",
        )?;
        for ((host, pid), at) in processes {
            seen.execute(params![host, pid, at])?;
        }
        drop(seen);
        tx.commit()?;
        Ok(())
    }
}

impl Writer {
    /// Deletes records created longer than `max_age` ago, then the oldest
    /// records while the file is larger than `max_bytes`, and the tasks left
    /// without records. Works in chunks so writes never wait long behind it.
    /// Returns how many records it deleted.
    pub fn prune(
        &mut self,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
        now: f64,
    ) -> Result<u64, StoreError> {
        const CHUNK: i64 = 10_000;
        let mut deleted = 0u64;
        if let Some(age) = max_age {
            let cutoff = now - age.as_secs_f64();
            loop {
                let n = self.conn.execute(
                    "DELETE FROM records WHERE id IN
                        (SELECT id FROM records WHERE created < ?1 LIMIT ?2)",
                    params![cutoff, CHUNK],
                )?;
                deleted += n as u64;
                if (n as i64) < CHUNK {
                    break;
                }
            }
            self.conn
                .execute("DELETE FROM tasks WHERE last_seen < ?1", params![cutoff])?;
        }
        if let Some(max) = max_bytes {
            while self.used_bytes()? > max {
                // Steps of about 5% of what is stored, so a small store is
                // not emptied by one oversized chunk.
                let (low, high): (Option<i64>, Option<i64>) =
                    self.conn
                        .query_row("SELECT MIN(id), MAX(id) FROM records", [], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })?;
                let step = match (low, high) {
                    (Some(l), Some(h)) => ((h - l + 1) / 20).clamp(1, CHUNK),
                    _ => break,
                };
                let n = self.conn.execute(
                    "DELETE FROM records WHERE id IN
                        (SELECT id FROM records ORDER BY id LIMIT ?1)",
                    params![step],
                )?;
                if n == 0 {
                    break;
                }
                deleted += n as u64;
                self.conn.execute_batch("PRAGMA incremental_vacuum;")?;
            }
        }
        if deleted > 0 {
            self.conn.execute(
                "DELETE FROM tasks WHERE NOT EXISTS
                    (SELECT 1 FROM records WHERE records.task = tasks.id)",
                [],
            )?;
            self.conn.execute_batch("PRAGMA incremental_vacuum;")?;
        }
        Ok(deleted)
    }

    /// Pages in use (the file less its free list), in bytes.
    fn used_bytes(&self) -> Result<u64, StoreError> {
        let (pages, free, size): (i64, i64, i64) = self.conn.query_row(
            "SELECT (SELECT page_count FROM pragma_page_count()),
                    (SELECT freelist_count FROM pragma_freelist_count()),
                    (SELECT page_size FROM pragma_page_size())",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(((pages - free).max(0) * size) as u64)
    }
}

/// When the record was created, by its sender's clock, or else when it
/// was received.
fn created_at(r: &Record, received: f64) -> f64 {
    r.created.filter(|c| c.is_finite()).unwrap_or(received)
}

fn fold_task(d: &mut TaskDelta, r: &Record, created: f64) {
    if d.records == 0 {
        d.started = created;
        d.last_seen = created;
        d.host = Some(r.hostname.clone());
        d.process = r.process;
    }
    d.records += 1;
    d.started = d.started.min(created);
    d.last_seen = d.last_seen.max(created);
    let is_root = r.key.as_ref().is_some_and(|k| k.scope.path.is_empty());
    match r.event {
        Some(ScopeEvent::Open) if is_root => {
            d.opened = true;
            d.message = Some(r.message.clone());
            d.context = root_context(&r.body);
            d.host = Some(r.hostname.clone());
            d.process = r.process;
        }
        Some(ScopeEvent::Close) if is_root => {
            d.status = Some("succeeded");
            d.ended = Some(created);
            d.duration = r.duration;
        }
        Some(ScopeEvent::Fail) => {
            d.failures += 1;
            if is_root {
                d.status = Some("failed");
                d.ended = Some(created);
                d.duration = r.duration;
            }
        }
        _ => {}
    }
}

/// The context of a root's opening record, for filtering tasks by it.
fn root_context(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        context: Option<serde_json::Map<String, serde_json::Value>>,
    }
    let mut context = serde_json::from_str::<Body>(body).ok()?.context?;
    context.remove("key");
    serde_json::to_string(&context).ok()
}

/// Returns each task's id.
fn upsert_tasks<'a>(
    tx: &rusqlite::Transaction<'_>,
    tasks: HashMap<&'a str, TaskDelta>,
) -> Result<HashMap<&'a str, i64>, StoreError> {
    // The root's opening record decides message, host and process; until it
    // arrives (a subtask from another process may come first) the first
    // record seen stands in. A closed task stays closed.
    let mut upsert = tx.prepare_cached(
        "INSERT INTO tasks (root, message, host, process, started, ended, duration,
            last_seen, status, records, failures, context)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, COALESCE(?9, 'running'), ?10, ?11, ?14)
         ON CONFLICT (root) DO UPDATE SET
            message  = CASE WHEN ?12 THEN excluded.message ELSE tasks.message END,
            context  = CASE WHEN ?12 THEN excluded.context ELSE tasks.context END,
            host     = CASE WHEN ?12 THEN excluded.host ELSE COALESCE(tasks.host, excluded.host) END,
            process  = CASE WHEN ?12 THEN excluded.process ELSE COALESCE(tasks.process, excluded.process) END,
            started  = MIN(tasks.started, excluded.started),
            ended    = COALESCE(excluded.ended, tasks.ended),
            duration = COALESCE(?13, CASE WHEN excluded.ended IS NOT NULL
                THEN MAX(0, excluded.ended - MIN(tasks.started, excluded.started)) END, tasks.duration),
            last_seen = MAX(tasks.last_seen, excluded.last_seen),
            status   = CASE WHEN ?9 IS NOT NULL THEN ?9 ELSE tasks.status END,
            records  = tasks.records + excluded.records,
            failures = tasks.failures + excluded.failures
         RETURNING id",
    )?;
    let mut ids = HashMap::with_capacity(tasks.len());
    for (root, d) in tasks {
        let duration = d
            .duration
            .or_else(|| d.ended.map(|e| (e - d.started).max(0.0)));
        let id = upsert.query_row(
            params![
                root,
                d.message,
                d.host,
                d.process,
                d.started,
                d.ended,
                duration,
                d.last_seen,
                d.status,
                d.records,
                d.failures,
                d.opened,
                d.duration,
                d.context,
            ],
            |row| row.get(0),
        )?;
        ids.insert(root, id);
    }
    Ok(ids)
}
