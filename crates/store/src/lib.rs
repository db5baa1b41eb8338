//! distlog's embedded store: one SQLite file (WAL mode, no server) holding
//! every record, an index of root tasks, and a full-text index of messages.
//!
//! Writes go through one [`Writer`] in batches (one transaction each); reads
//! go through any number of [`Reader`]s, which WAL lets run beside the writer.
//!
//! ```
//! use distlog_proto::{decode, Limits, Topic};
//! use distlog_store::{Store, TaskFilter};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().join("distlog.db")).unwrap();
//! let topic = Topic::parse(b"PLJ").unwrap();
//! let record = decode(topic, br#"{"message": "toplevel", "levelno": 20, "created": 1.0,
//!     "context": {"key": "0@e252a11f-d33d-483d-ba08-bc8f642b2f10"}}"#, &Limits::default()).unwrap();
//! store.writer().unwrap().write_batch([&record], 2.0).unwrap();
//!
//! let reader = store.reader().unwrap();
//! let tasks = reader.tasks(&TaskFilter::default(), 2.0).unwrap();
//! assert_eq!(tasks[0].message.as_deref(), Some("toplevel"));
//! let tree = reader.tree("e252a11f-d33d-483d-ba08-bc8f642b2f10", 2.0).unwrap().unwrap();
//! assert_eq!(tree.scope.status, distlog_store::Status::Running);
//! ```

mod error;
mod model;
mod query;
mod schema;
mod tree;
mod writer;

pub mod segment;
pub mod tokens;

pub use error::StoreError;
pub use model::{RecordFilter, RecordRow, Status, TaskFilter, TaskRow};
pub use query::Reader;
pub use tree::{Entry, ScopeNode, Tree};
pub use writer::Writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a process may be silent before its open scopes count as
/// unfinished rather than running.
pub const DEFAULT_UNFINISHED_AFTER: Duration = Duration::from_secs(60);

/// A handle on the store file; cheap to clone, opens connections on demand.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    unfinished_after: Duration,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema
    /// up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                path: dir.to_path_buf(),
                source: e,
            })?;
        }
        let conn = schema::connect(&path)?;
        schema::migrate(&conn)?;
        Ok(Store {
            path,
            unfinished_after: DEFAULT_UNFINISHED_AFTER,
        })
    }

    /// Sets after how long of silence a process's open scopes are unfinished.
    pub fn with_unfinished_after(mut self, after: Duration) -> Store {
        self.unfinished_after = after;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The one writer. Opening two is allowed by SQLite but they would only
    /// wait on each other.
    pub fn writer(&self) -> Result<Writer, StoreError> {
        Writer::new(schema::connect(&self.path)?)
    }

    /// A connection for checkpointing the write-ahead log from another
    /// thread than the writer's (see [`Writer::defer_checkpoints`]).
    pub fn checkpointer(&self) -> Result<Checkpointer, StoreError> {
        Ok(Checkpointer {
            conn: schema::connect(&self.path)?,
            wal: wal_path(&self.path),
        })
    }

    pub fn reader(&self) -> Result<Reader, StoreError> {
        Reader::new(schema::connect(&self.path)?, self.unfinished_after)
    }
}

fn wal_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

/// Moves the write-ahead log into the database file, off the writer's path.
pub struct Checkpointer {
    conn: rusqlite::Connection,
    wal: PathBuf,
}

impl Checkpointer {
    /// Copies what it can without waiting for anyone (`PASSIVE`); with
    /// `truncate`, waits for the writer and readers and empties the log.
    pub fn checkpoint(&self, truncate: bool) -> Result<(), StoreError> {
        let mode = if truncate { "TRUNCATE" } else { "PASSIVE" };
        self.conn
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))?;
        Ok(())
    }

    /// The log's size in bytes (0 when there is none).
    pub fn wal_bytes(&self) -> u64 {
        std::fs::metadata(&self.wal).map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
