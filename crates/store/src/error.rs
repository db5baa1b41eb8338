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
}
