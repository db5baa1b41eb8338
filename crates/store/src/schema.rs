use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::StoreError;

const SCHEMA_VERSION: i64 = 2;

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
    if version == 0 {
        // Retention returns freed pages to the file system bit by bit; the
        // mode can only be chosen before the first table exists.
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")?;
        conn.execute_batch(&format!("BEGIN; {CREATE} PRAGMA user_version = 2; COMMIT;"))?;
        return Ok(());
    }
    conn.execute_batch(&format!(
        "BEGIN; {FROM_V1} PRAGMA user_version = 2; COMMIT;"
    ))?;
    Ok(())
}

/// The tasks table's columns, shared by schema 2 and the migration to it.
macro_rules! tasks_columns {
    () => {
        "(
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
        context   TEXT
    );"
    };
}

/// Schema 2. Records point at their root task by the task's integer id,
/// not its UUID: ids grow with time, so the tree index takes new records at
/// its end instead of on a random page each (a quarter of the store's
/// ingest time in bench/ingest). Level, logger and host filters scan by id
/// or time: an index each cost more at ingest than it saved in queries.
const CREATE: &str = concat!("
    CREATE TABLE records (
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
        body      TEXT NOT NULL,
        task      INTEGER
    );
    CREATE INDEX records_tree ON records(task, scope, seq) WHERE task IS NOT NULL;
    CREATE INDEX records_created ON records(created);
    CREATE INDEX records_level ON records(levelno, created) WHERE levelno >= 30;
    CREATE VIRTUAL TABLE records_fts USING fts5(
        message, content='records', content_rowid='id'
    );
    -- Keeps the external-content FTS index in step when retention deletes.
    CREATE TRIGGER records_fts_delete AFTER DELETE ON records
        WHEN old.message != '' BEGIN
        INSERT INTO records_fts (records_fts, rowid, message) VALUES ('delete', old.id, old.message);
    END;
    CREATE TABLE tasks ", tasks_columns!(), "
    CREATE INDEX tasks_started ON tasks(started);
    CREATE TABLE processes (
        host      TEXT NOT NULL,
        process   INTEGER NOT NULL,
        last_seen REAL NOT NULL,
        PRIMARY KEY (host, process)
    ) WITHOUT ROWID;
");

/// From schema 1, whose tasks were keyed by root UUID and whose records
/// carried no task id. Rewrites the tasks table and adds the column; the
/// root task's context is taken from its opening record.
const FROM_V1: &str = concat!(
    "
    CREATE TABLE tasks_v2 ",
    tasks_columns!(),
    "
    INSERT INTO tasks_v2 (root, message, host, process, started, ended, duration,
            last_seen, status, records, failures)
        SELECT root, message, host, process, started, ended, duration,
            last_seen, status, records, failures
        FROM tasks ORDER BY started;
    DROP TABLE tasks;
    ALTER TABLE tasks_v2 RENAME TO tasks;
    CREATE INDEX tasks_started ON tasks(started);
    ALTER TABLE records ADD COLUMN task INTEGER;
    UPDATE records SET task = (SELECT id FROM tasks WHERE tasks.root = records.root)
        WHERE root IS NOT NULL;
    UPDATE tasks SET context = (
        SELECT json_remove(json_extract(body, '$.context'), '$.key') FROM records
        WHERE records.task = tasks.id AND scope = '' AND event = 'open'
            AND json_type(body, '$.context') = 'object'
        LIMIT 1);
    DROP INDEX records_tree;
    DROP INDEX records_logger;
    DROP INDEX records_host;
    DROP INDEX records_level;
    CREATE INDEX records_tree ON records(task, scope, seq) WHERE task IS NOT NULL;
    CREATE INDEX records_level ON records(levelno, created) WHERE levelno >= 30;
"
);
