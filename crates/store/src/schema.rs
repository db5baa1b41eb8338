use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::StoreError;

const SCHEMA_VERSION: i64 = 1;

pub(crate) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    // WAL lets readers (HTTP API, CLI) run beside the writer; NORMAL
    // synchronous keeps every committed batch across a daemon crash and
    // restart, losing at most the last batch only on power loss.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

pub(crate) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    // Retention returns freed pages to the file system bit by bit; the
    // mode can only be chosen before the first table exists.
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")?;
    conn.execute_batch(
        "BEGIN;
        CREATE TABLE IF NOT EXISTS records (
            id        INTEGER PRIMARY KEY,
            received  REAL NOT NULL,
            created   REAL NOT NULL,
            topic     TEXT NOT NULL,
            root      TEXT,
            scope     TEXT,
            seq       INTEGER,
            event     TEXT,
            levelno   INTEGER NOT NULL,
            levelname TEXT NOT NULL,
            logger    TEXT NOT NULL,
            host      TEXT NOT NULL,
            process   INTEGER,
            message   TEXT NOT NULL,
            duration  REAL,
            body      TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS records_tree ON records(root, scope, seq) WHERE root IS NOT NULL;
        CREATE INDEX IF NOT EXISTS records_created ON records(created);
        CREATE INDEX IF NOT EXISTS records_level ON records(levelno, created);
        CREATE INDEX IF NOT EXISTS records_logger ON records(logger, created);
        CREATE INDEX IF NOT EXISTS records_host ON records(host, created);
        CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5(
            message, content='records', content_rowid='id'
        );
        -- Keeps the external-content FTS index in step when retention deletes.
        CREATE TRIGGER IF NOT EXISTS records_fts_delete AFTER DELETE ON records
            WHEN old.message != '' BEGIN
            INSERT INTO records_fts (records_fts, rowid, message) VALUES ('delete', old.id, old.message);
        END;
        CREATE TABLE IF NOT EXISTS tasks (
            root      TEXT PRIMARY KEY,
            message   TEXT,
            host      TEXT,
            process   INTEGER,
            started   REAL NOT NULL,
            ended     REAL,
            duration  REAL,
            last_seen REAL NOT NULL,
            status    TEXT NOT NULL,
            records   INTEGER NOT NULL,
            failures  INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS tasks_started ON tasks(started);
        CREATE TABLE IF NOT EXISTS processes (
            host      TEXT NOT NULL,
            process   INTEGER NOT NULL,
            last_seen REAL NOT NULL,
            PRIMARY KEY (host, process)
        ) WITHOUT ROWID;
        PRAGMA user_version = 1;
        COMMIT;",
    )?;
    Ok(())
}
