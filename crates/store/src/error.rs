use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "store file was written by a newer distlog (schema {found}, this build knows {known})"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error("invalid query: {0}")]
    BadQuery(String),
    #[error("{path} is not a distlog store ({why}); refusing to write into it")]
    NotAStore { path: PathBuf, why: String },
    #[error(
        "the store {path} is in use by another process (another distlogd?): \
         one writer per store; stop the other or give this one its own --store"
    )]
    Locked { path: PathBuf },
    #[error("store damaged: {0}")]
    Corrupt(String),
    #[error("segment: {0}")]
    Segment(#[from] crate::segment::SegmentError),
    #[error("the store is closed")]
    Closed,
}
