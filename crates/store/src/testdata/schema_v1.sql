-- A store as distlogd wrote it at schema 1 (generated from that schema).
PRAGMA auto_vacuum = INCREMENTAL;
BEGIN;
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
        
INSERT INTO records VALUES (1, 1.0, 1.0, 'PLJ', 'e252a11f-d33d-483d-ba08-bc8f642b2f10', '', 0, 'open', 20, 'INFO', 'root', 'obelix', 6156, 'toplevel', NULL, '{"name": "root", "levelno": 20, "levelname": "INFO", "message": "toplevel", "created": 1.0, "hostname": "obelix", "process": 6156, "context": {"key": "0@e252a11f-d33d-483d-ba08-bc8f642b2f10", "user": "leo"}, "scope_event": "open"}');
INSERT INTO records_fts (rowid, message) VALUES (1, 'toplevel');
INSERT INTO records VALUES (2, 2.0, 2.0, 'PLJ', 'e252a11f-d33d-483d-ba08-bc8f642b2f10', '', 1, NULL, 20, 'INFO', 'root', 'obelix', 6156, 'into task', NULL, '{"name": "root", "levelno": 20, "levelname": "INFO", "message": "into task", "created": 2.0, "hostname": "obelix", "process": 6156, "context": {"key": "1@e252a11f-d33d-483d-ba08-bc8f642b2f10", "user": "leo"}}');
INSERT INTO records_fts (rowid, message) VALUES (2, 'into task');
INSERT INTO records VALUES (3, 3.0, 3.0, 'PLJ', 'e252a11f-d33d-483d-ba08-bc8f642b2f10', '/1', 0, 'open', 20, 'INFO', 'root', 'obelix', 6156, 'subtask', NULL, '{"name": "root", "levelno": 20, "levelname": "INFO", "message": "subtask", "created": 3.0, "hostname": "obelix", "process": 6156, "context": {"key": "0@e252a11f-d33d-483d-ba08-bc8f642b2f10/1", "user": "leo"}, "scope_event": "open"}');
INSERT INTO records_fts (rowid, message) VALUES (3, 'subtask');
INSERT INTO records VALUES (4, 4.0, 4.0, 'PLJ', 'e252a11f-d33d-483d-ba08-bc8f642b2f10', '', 2, 'close', 20, 'INFO', 'root', 'obelix', 6156, 'toplevel', 0.5, '{"name": "root", "levelno": 20, "levelname": "INFO", "message": "toplevel", "created": 4.0, "hostname": "obelix", "process": 6156, "context": {"key": "2@e252a11f-d33d-483d-ba08-bc8f642b2f10", "user": "leo"}, "scope_event": "close"}');
INSERT INTO records_fts (rowid, message) VALUES (4, 'toplevel');
INSERT INTO tasks VALUES ('e252a11f-d33d-483d-ba08-bc8f642b2f10', 'toplevel', 'obelix', 6156, 1.0, 4.0, 0.5, 4.0, 'succeeded', 4, 0);
INSERT INTO processes VALUES ('obelix', 6156, 4.0);
PRAGMA user_version = 1;
COMMIT;
