//! Importing a store of an earlier distlog: one SQLite file with a row per
//! record (schema 1 or 2). It is imported whole on the first start, into a
//! new store directory at the same path; the old file is kept beside it as
//! `<path>.schema2.bak` until the user deletes it.
//!
//! The import is crash-safe: it builds `<path>.importing/` and only when
//! that is complete and synced renames the file away and the directory in.
//! A crash before that leaves the old file in place and the next start
//! begins again.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::engine::{open_dir, StoreOptions};
use crate::entry::{encode_ref, topic_bytes, EntryRef};
use crate::StoreError;

const COLUMNS: [&str; 16] = [
    "id",
    "received",
    "created",
    "topic",
    "root",
    "scope",
    "seq",
    "event",
    "levelno",
    "levelname",
    "logger",
    "host",
    "process",
    "message",
    "duration",
    "body",
];

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    Ok(Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?)
}

/// Whether the SQLite file at `path` is a distlog store of schema 1 or 2:
/// a `records` table with every column those wrote, and a `tasks` table.
pub(crate) fn check(path: &Path) -> Result<(), StoreError> {
    let refuse = |why: &str| StoreError::NotAStore {
        path: path.to_path_buf(),
        why: why.into(),
    };
    let conn = open_read_only(path).map_err(|_| refuse("an SQLite file that cannot be read"))?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|_| refuse("an SQLite file that cannot be read"))?;
    if version > 2 {
        return Err(refuse(&format!(
            "an SQLite file of schema {version}, which no distlog single-file store had"
        )));
    }
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info('records')")
        .map_err(|_| refuse("an SQLite file without distlog's tables"))?;
    let columns: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let has_tasks: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tasks'",
        [],
        |r| r.get(0),
    )?;
    if has_tasks == 0
        || COLUMNS
            .iter()
            .any(|c| !columns.iter().any(|have| have == c))
    {
        return Err(refuse(
            "an SQLite file of some other program (no distlog records and tasks tables)",
        ));
    }
    Ok(())
}

/// Imports the old store at `path` and puts the new store in its place.
pub(crate) fn import(path: &Path, options: &StoreOptions) -> Result<(), StoreError> {
    let staging = with_suffix(path, ".importing");
    let backup = with_suffix(path, ".schema2.bak");
    if backup.exists() {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            why: format!(
                "an old single-file store, but {} is in the way of keeping it as a backup",
                backup.display()
            ),
        });
    }
    if staging.exists() {
        // An import cut short: start it again.
        fs::remove_dir_all(&staging).map_err(|e| io(&staging, e))?;
    }
    tracing::info!(
        "store: importing the single-file store {} (kept as {})",
        path.display(),
        backup.display()
    );
    let mut records = 0u64;
    {
        let store = open_dir(&staging, options.clone())?;
        let old = open_read_only(path)?;
        let mut stmt = old.prepare(&format!(
            "SELECT {} FROM records ORDER BY id",
            COLUMNS.join(", ")
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let topic: String = r.get(3)?;
            let root: Option<String> = r.get(4)?;
            let scope: Option<String> = r.get(5)?;
            let seq: Option<i64> = r.get(6)?;
            let event: Option<String> = r.get(7)?;
            let levelname: String = r.get(9)?;
            let logger: String = r.get(10)?;
            let host: String = r.get(11)?;
            let message: String = r.get(13)?;
            let body: String = r.get(15)?;
            let key = match (&root, &scope, seq) {
                (Some(root), Some(scope), Some(seq)) => {
                    Some((root.as_str(), scope.as_str(), seq.max(0) as u64))
                }
                _ => None,
            };
            let received: f64 = r.get(1)?;
            let created: f64 = r.get(2)?;
            let levelno: i64 = r.get(8)?;
            let process: Option<i64> = r.get(12)?;
            let duration: Option<f64> = r.get(14)?;
            store.inner.append_with(|id, out| {
                encode_ref(
                    &EntryRef {
                        id,
                        received,
                        created,
                        topic: topic_bytes(&topic),
                        event: event.as_deref().and_then(distlog_proto::ScopeEvent::parse),
                        levelno,
                        levelname: &levelname,
                        logger: &logger,
                        host: &host,
                        process,
                        duration,
                        key,
                        message: &message,
                        body: body.as_bytes(),
                        spans: None,
                    },
                    out,
                )
            })?;
            records += 1;
        }
        store.flush()?;
    }
    crate::journal::sync_dir(&staging)?;
    fs::rename(path, &backup).map_err(|e| io(path, e))?;
    for side in ["-wal", "-shm"] {
        let from = with_suffix(path, side);
        if from.exists() {
            let _ = fs::rename(&from, with_suffix(&backup, side));
        }
    }
    fs::rename(&staging, path).map_err(|e| io(&staging, e))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::journal::sync_dir(parent)?;
    }
    tracing::info!(records, "store: import finished");
    Ok(())
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
#[path = "legacy_tests.rs"]
mod tests;
