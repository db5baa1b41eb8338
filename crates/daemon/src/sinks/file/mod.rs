//! `type: file`: JSON Lines (each record's body, one per line), rotated by
//! size and by age, keeping a set number of old files.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde::Deserialize;

use super::runner::{self, Lost, SinkHandle, Threads, Worker};
use super::units::{parse_duration, parse_size};
use super::{QueueConfig, SinkConfig, WhenFull};
use crate::pipeline::Routed;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub rotate: Option<RotateConfig>,
    #[serde(default)]
    pub queue: Option<QueueConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateConfig {
    /// Start a new file when the current one would pass this size (`100MiB`).
    #[serde(default)]
    pub max_size: Option<String>,
    /// Start a new file this long after the current one was opened (`1d`).
    #[serde(default)]
    pub every: Option<String>,
    /// Old files kept (`path.1` newest … `path.N`); older ones are deleted.
    #[serde(default)]
    pub keep: Option<u32>,
}

impl FileSinkConfig {
    pub fn validated(self) -> Result<FileSinkConfig> {
        if let Some(r) = &self.rotate {
            if let Some(size) = &r.max_size {
                parse_size(size).context("rotate.max_size")?;
            }
            if let Some(every) = &r.every {
                parse_duration(every).context("rotate.every")?;
            }
        }
        Ok(self)
    }
}

struct FileWorker {
    path: PathBuf,
    out: BufWriter<File>,
    size: u64,
    opened: Instant,
    max_size: Option<u64>,
    every: Option<Duration>,
    keep: u32,
}

fn open(path: &Path) -> std::io::Result<(BufWriter<File>, u64)> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let size = file.metadata()?.len();
    Ok((BufWriter::with_capacity(64 << 10, file), size))
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{n}"));
    PathBuf::from(p)
}

impl FileWorker {
    fn rotate(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(numbered(&self.path, self.keep));
            for n in (1..self.keep).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
        }
        let (out, size) = open(&self.path)?;
        self.out = out;
        self.size = size;
        self.opened = Instant::now();
        Ok(())
    }

    fn write_all(&mut self, batch: &[Arc<Routed>]) -> std::io::Result<()> {
        for r in batch {
            let line = r.body_line();
            let line = line.as_bytes();
            let needed = line.len() as u64 + 1;
            if self
                .max_size
                .is_some_and(|max| self.size > 0 && self.size + needed > max)
            {
                self.rotate()?;
            }
            self.out.write_all(line)?;
            self.out.write_all(b"\n")?;
            self.size += needed;
        }
        self.out.flush()
    }
}

impl Worker for FileWorker {
    fn write(&mut self, batch: &[Arc<Routed>]) -> Result<(), Lost> {
        self.write_all(batch).map_err(|e| Lost {
            records: batch.len(),
            why: format!("writing {}: {e}", self.path.display()),
        })
    }

    fn tick(&mut self) {
        if self
            .every
            .is_some_and(|every| self.opened.elapsed() >= every)
            && self.size > 0
        {
            if let Err(e) = self.rotate() {
                tracing::error!(path = %self.path.display(), "rotating: {e}");
            }
        }
    }

    fn finish(&mut self) {
        let _ = self.out.flush();
    }
}

pub fn start(
    name: &str,
    config: &SinkConfig,
    c: &FileSinkConfig,
    threads: &Threads,
) -> Result<Arc<SinkHandle>> {
    let (out, size) =
        open(&c.path).with_context(|| format!("sink {name:?}: opening {}", c.path.display()))?;
    let rotate = c.rotate.as_ref();
    let worker = FileWorker {
        path: c.path.clone(),
        out,
        size,
        opened: Instant::now(),
        max_size: rotate
            .and_then(|r| r.max_size.as_deref())
            .and_then(|s| parse_size(s).ok()),
        every: rotate
            .and_then(|r| r.every.as_deref())
            .and_then(|s| parse_duration(s).ok()),
        keep: rotate.and_then(|r| r.keep).unwrap_or(5),
    };
    runner::spawn(
        name,
        config,
        c.queue.as_ref(),
        (10_000, WhenFull::Drop),
        worker,
        threads,
    )
}

#[cfg(test)]
mod tests;
