//! The catalogue: one small SQLite file beside the segments holding what is
//! small and updated in place: root tasks, processes (when each was last
//! heard from), the segment manifest and the engine's watermarks. Records
//! themselves never go in here.

mod fold;
pub(crate) mod settings;
mod tasks;

pub(crate) use fold::TaskDelta;
pub(crate) use tasks::{context_conditions, last_seen, list as tasks_list, one as task_one};

use rustc_hash::FxHashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::entry::EntryRef;
use crate::StoreError;

/// `PRAGMA application_id` of a distlog catalogue ("dlog"): tells our file
/// from any other SQLite file, which we refuse to write into.
pub(crate) const APPLICATION_ID: i64 = 0x646c_6f67;
// 4: the `settings` table (issue #13: log levels pushed to clients).
const SCHEMA_VERSION: i64 = 4;

/// Small named settings the daemon keeps across restarts (log levels), one
/// JSON value per (kind, id). Created by schema 4; added to a schema-3 file.
const CREATE_SETTINGS: &str = "
    CREATE TABLE IF NOT EXISTS settings (
        kind  TEXT NOT NULL,
        id    TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    ) WITHOUT ROWID;
";

const CREATE: &str = "
    CREATE TABLE tasks (
        id        INTEGER PRIMARY KEY,
        root      TEXT NOT NULL UNIQUE,
        message   TEXT,
        host      TEXT,
        process   INTEGER,
        started   REAL NOT NULL,
        ended     REAL,
        duration  REAL,
        last_seen REAL NOT NULL,
        status    TEXT NOT NULL,
        records   INTEGER NOT NULL,
        failures  INTEGER NOT NULL,
        context   TEXT,
        -- The newest record's id: retention drops the task once every
        -- record up to it is gone.
        last_id   INTEGER NOT NULL
    );
    CREATE INDEX tasks_started ON tasks(started);
    CREATE TABLE processes (
        host      TEXT NOT NULL,
        process   INTEGER NOT NULL,
        last_seen REAL NOT NULL,
        PRIMARY KEY (host, process)
    ) WITHOUT ROWID;
    CREATE TABLE segments (
        name        TEXT PRIMARY KEY,
        min_id      INTEGER NOT NULL,
        max_id      INTEGER NOT NULL,
        records     INTEGER NOT NULL,
        bytes       INTEGER NOT NULL,
        min_created REAL NOT NULL,
        max_created REAL NOT NULL,
        level       INTEGER NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO meta VALUES ('tasks_through', 0), ('segments_through', 0);
";

pub(crate) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    // The journal is the record of truth for what the catalogue last
    // committed, so the catalogue need not fsync each commit: after a power
    // loss it rolls back to an earlier consistent state and replay redoes
    // the rest (its watermarks say from where).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Creates the schema in a new file, or checks that an existing file is a
/// catalogue of ours that this build can read.
pub(crate) fn prepare(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let app: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if app == 0 && version == 0 && tables == 0 {
        conn.execute_batch(&format!(
            "BEGIN; {CREATE} {CREATE_SETTINGS} PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))?;
        return Ok(());
    }
    if app != APPLICATION_ID {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            why: "its catalogue is an SQLite file of some other program".into(),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    if version < 4 {
        // Schema 3 lacks only the settings table; an older build opening
        // the file afterwards is refused by its own version check.
        conn.execute_batch(&format!(
            "BEGIN; {CREATE_SETTINGS} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))?;
    }
    Ok(())
}

/// One segment as the manifest lists it.
#[derive(Debug, Clone)]
pub(crate) struct SegmentRow {
    pub name: String,
    pub min_id: u64,
    pub max_id: u64,
    pub records: u64,
    pub bytes: u64,
    pub min_created: f64,
    pub max_created: f64,
    pub level: u32,
}

/// The catalogue as the engine's writing threads use it.
pub(crate) struct Catalog {
    conn: Connection,
}

impl Catalog {
    pub(crate) fn new(conn: Connection) -> Catalog {
        Catalog { conn }
    }

    pub(crate) fn meta(&self, key: &str) -> Result<u64, StoreError> {
        let v: Option<i64> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?;
        Ok(v.unwrap_or(0).max(0) as u64)
    }

    pub(crate) fn segments(&self) -> Result<Vec<SegmentRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, min_id, max_id, records, bytes, min_created, max_created, level
             FROM segments ORDER BY min_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SegmentRow {
                name: r.get(0)?,
                min_id: r.get::<_, i64>(1)? as u64,
                max_id: r.get::<_, i64>(2)? as u64,
                records: r.get::<_, i64>(3)? as u64,
                bytes: r.get::<_, i64>(4)? as u64,
                min_created: r.get(5)?,
                max_created: r.get(6)?,
                level: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Folds a batch of records into the task and process tables and
    /// returns each record's task id (0 outside a task), in batch order.
    /// Records with ids up to `tasks_through` were folded before (a replay
    /// after a crash): they are looked up, not counted again.
    pub(crate) fn apply(
        &mut self,
        batch: &[EntryRef<'_>],
        heartbeats: &[(String, i64, f64)],
    ) -> Result<Vec<u64>, StoreError> {
        let through = self.meta("tasks_through")?;
        let tx = self.conn.transaction()?;
        // Fx, not SipHash: the keys are ours, and hashing was a tenth of
        // this thread's time.
        let mut deltas: FxHashMap<&str, TaskDelta> = FxHashMap::default();
        let mut known: Vec<&str> = Vec::new();
        let mut processes: FxHashMap<(&str, i64), f64> = FxHashMap::default();
        let mut last = through;
        for e in batch {
            if e.id <= through {
                if let Some(root) = e.root() {
                    known.push(root);
                }
                continue;
            }
            last = last.max(e.id);
            if let Some(pid) = e.process {
                let at = processes.entry((e.host, pid)).or_insert(e.received);
                *at = at.max(e.received);
            }
            if let Some(root) = e.root() {
                deltas.entry(root).or_default().fold(e);
            }
        }
        for (host, pid, at) in heartbeats {
            let seen = processes.entry((host.as_str(), *pid)).or_insert(*at);
            *seen = seen.max(*at);
        }
        let mut ids = tasks::upsert(&tx, deltas)?;
        {
            let mut lookup = tx.prepare_cached("SELECT id FROM tasks WHERE root = ?1")?;
            for root in known {
                if ids.contains_key(root) {
                    continue;
                }
                let id: Option<i64> = lookup.query_row([root], |r| r.get(0)).optional()?;
                if let Some(id) = id {
                    ids.insert(root, id as u64);
                }
            }
            let mut seen = tx.prepare_cached(
                "INSERT INTO processes (host, process, last_seen) VALUES (?1, ?2, ?3)
                 ON CONFLICT (host, process) DO UPDATE
                 SET last_seen = MAX(last_seen, excluded.last_seen)",
            )?;
            for ((host, pid), at) in processes {
                seen.execute(params![host, pid, at])?;
            }
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'tasks_through'",
                [last as i64],
            )?;
        }
        tx.commit()?;
        Ok(batch
            .iter()
            .map(|e| e.root().and_then(|r| ids.get(r).copied()).unwrap_or(0))
            .collect())
    }

    /// Lists a new segment, unlists the ones it replaces (a merge), and
    /// moves the segment watermark, in one transaction synced to disk: the
    /// journal behind it is deleted next, so this commit must not be lost.
    pub(crate) fn commit_segment(
        &mut self,
        added: &SegmentRow,
        replaced: &[String],
        through: Option<u64>,
    ) -> Result<(), StoreError> {
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        let result = (|| {
            let tx = self.conn.transaction()?;
            tx.execute(
                "INSERT INTO segments (name, min_id, max_id, records, bytes, min_created,
                    max_created, level) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    added.name,
                    added.min_id as i64,
                    added.max_id as i64,
                    added.records as i64,
                    added.bytes as i64,
                    added.min_created,
                    added.max_created,
                    added.level,
                ],
            )?;
            for name in replaced {
                tx.execute("DELETE FROM segments WHERE name = ?1", [name])?;
            }
            if let Some(through) = through {
                tx.execute(
                    "UPDATE meta SET value = MAX(value, ?1) WHERE key = 'segments_through'",
                    [through as i64],
                )?;
            }
            tx.commit()?;
            Ok(())
        })();
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        result
    }

    /// Unlists segments deleted by retention, and the tasks none of whose
    /// records is left (`first_live` is the oldest id still stored).
    pub(crate) fn drop_segments(
        &mut self,
        names: &[String],
        first_live: u64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for name in names {
            tx.execute("DELETE FROM segments WHERE name = ?1", [name])?;
        }
        tx.execute("DELETE FROM tasks WHERE last_id < ?1", [first_live as i64])?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
