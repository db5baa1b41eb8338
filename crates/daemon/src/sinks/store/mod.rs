//! `type: store`: the embedded store (journal, segments, catalogue), with
//! retention by age and size.
//!
//! Unlike the other sinks it has no queue of its own: the intake appends
//! each record to the store's journal buffer (a copy; the store's threads
//! sync, index and write segments), so a record is on its way to disk the
//! moment it is routed, and a crash loses at most one commit interval.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use anyhow::{Context as _, Result};
use distlog_store::{Store, StoreOptions};
use serde::Deserialize;

use super::units::{parse_duration, parse_size};
use super::QueueConfig;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSinkConfig {
    /// The store directory; defaults to `--store`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub retention: Option<RetentionConfig>,
    /// How often the journal is synced to disk (`200ms`, `1s`): a crash
    /// loses at most the records of one interval.
    #[serde(default)]
    pub commit_interval: Option<String>,
    /// Accepted so configurations written for the queued store still load;
    /// the store now takes records straight into its journal.
    #[serde(default)]
    pub queue: Option<QueueConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Delete records created longer ago than this (`30d`).
    #[serde(default)]
    pub max_age: Option<String>,
    /// Delete the oldest records while the store is larger than this (`10GiB`).
    #[serde(default)]
    pub max_size: Option<String>,
}

/// The default commit interval.
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(200);

impl StoreSinkConfig {
    pub fn validated(mut self, default_store: &Path) -> Result<StoreSinkConfig> {
        if self.path.is_none() {
            self.path = Some(default_store.to_path_buf());
        }
        if let Some(r) = &self.retention {
            if let Some(age) = &r.max_age {
                parse_duration(age).context("retention.max_age")?;
            }
            if let Some(size) = &r.max_size {
                parse_size(size).context("retention.max_size")?;
            }
        }
        if let Some(c) = &self.commit_interval {
            parse_duration(c).context("commit_interval")?;
        }
        Ok(self)
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new("distlog.db"))
    }

    fn retention(&self) -> (Option<Duration>, Option<u64>) {
        let r = self.retention.as_ref();
        (
            r.and_then(|r| r.max_age.as_deref())
                .and_then(|a| parse_duration(a).ok()),
            r.and_then(|r| r.max_size.as_deref())
                .and_then(|s| parse_size(s).ok()),
        )
    }

    fn commit_interval(&self) -> Duration {
        self.commit_interval
            .as_deref()
            .and_then(|c| parse_duration(c).ok())
            .unwrap_or(COMMIT_INTERVAL)
    }
}

/// Stores open in this process, by path: a reload that changes a store
/// sink's retention (a new sink configuration) keeps the same open store,
/// which a second open would refuse (one writer per store).
static OPEN: Mutex<Vec<(PathBuf, Weak<Store>)>> = Mutex::new(Vec::new());

/// Opens the store of `c`, or takes the one already open at its path.
pub fn open(name: &str, c: &StoreSinkConfig) -> Result<Arc<Store>> {
    let path = c.path().to_path_buf();
    let (max_age, max_bytes) = c.retention();
    let mut open = OPEN
        .lock()
        .map_err(|_| anyhow::anyhow!("store registry poisoned"))?;
    open.retain(|(_, w)| w.strong_count() > 0);
    if let Some(store) = open
        .iter()
        .find(|(p, _)| *p == path)
        .and_then(|(_, w)| w.upgrade())
    {
        store.set_retention(max_age, max_bytes);
        return Ok(store);
    }
    let options = StoreOptions {
        commit_interval: c.commit_interval(),
        max_age,
        max_bytes,
        ..StoreOptions::default()
    };
    let store = Store::open_with(&path, options)
        .with_context(|| format!("sink {name:?}: opening the store at {}", path.display()))?;
    let store = Arc::new(store);
    open.push((path, Arc::downgrade(&store)));
    Ok(store)
}
