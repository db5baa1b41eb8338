//! distlog's embedded store: an append-only journal, immutable compressed
//! segments clustered by task, and a small SQLite catalogue (tasks,
//! processes, the segment manifest). See docs/architecture.md.
//!
//! [`Store::append`] is the intake's whole cost: a copy into the journal's
//! buffer and a queue push. Threads of the store sync the journal every
//! commit interval, index records into the catalogue and memory (where
//! queries see them at once), and write, merge and retire segments. Any
//! number of [`Reader`]s query beside them.
//!
//! ```
//! use distlog_proto::{decode, Limits, Topic};
//! use distlog_store::{Store, TaskFilter};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().join("store")).unwrap();
//! let topic = Topic::parse(b"PLJ").unwrap();
//! let record = decode(topic, br#"{"message": "toplevel", "levelno": 20, "created": 1.0,
//!     "scope_event": "open",
//!     "context": {"key": "0@e252a11f-d33d-483d-ba08-bc8f642b2f10"}}"#, &Limits::default()).unwrap();
//! store.append(&record, 2.0).unwrap();
//! store.sync().unwrap();
//!
//! let reader = store.reader().unwrap();
//! let tasks = reader.tasks(&TaskFilter::default(), 2.0).unwrap();
//! assert_eq!(tasks[0].message.as_deref(), Some("toplevel"));
//! let tree = reader.tree("e252a11f-d33d-483d-ba08-bc8f642b2f10", 2.0).unwrap().unwrap();
//! assert_eq!(tree.scope.status, distlog_store::Status::Running);
//! ```

mod catalog;
mod engine;
mod entry;
mod error;
mod journal;
mod legacy;
mod memtable;
mod model;
mod query;
pub mod segment;
mod summary;
pub mod tokens;
mod tree;

pub use engine::{Store, StoreKind, StoreOptions, StoreStats};
pub use error::StoreError;
pub use model::{RecordFilter, RecordRow, Status, TaskFilter, TaskRow};
pub use query::{KeyPath, Reader, ScopePage, ScopeSummary, Skeleton};
pub use tree::{Entry, ScopeNode, Tree};

use std::time::Duration;

/// How long a process may be silent (no record, no heartbeat) before its
/// open scopes count as unfinished rather than running.
pub const DEFAULT_UNFINISHED_AFTER: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests;
