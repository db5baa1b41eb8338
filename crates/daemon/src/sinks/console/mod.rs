//! `type: console`: one human-readable line per record on standard output.

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use serde::Deserialize;

use super::runner::{self, Lost, SinkHandle, Threads, Worker};
use super::{QueueConfig, SinkConfig, WhenFull};
use crate::pipeline::Routed;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSinkConfig {
    /// `human` (default) or `json` (the record's body, one per line).
    #[serde(default)]
    pub format: Option<ConsoleFormat>,
    #[serde(default)]
    pub queue: Option<QueueConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleFormat {
    Human,
    Json,
}

struct ConsoleWorker {
    format: ConsoleFormat,
}

impl Worker for ConsoleWorker {
    fn write(&mut self, batch: &[Arc<Routed>]) -> Result<(), Lost> {
        let lost = |e: std::io::Error| Lost {
            records: batch.len(),
            why: format!("writing to stdout: {e}"),
        };
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for r in batch {
            let line = match self.format {
                ConsoleFormat::Json => r.body_line().into_owned(),
                ConsoleFormat::Human => r.human_line(),
            };
            writeln!(out, "{line}").map_err(lost)?;
        }
        out.flush().map_err(lost)
    }
}

pub fn start(
    name: &str,
    config: &SinkConfig,
    c: &ConsoleSinkConfig,
    threads: &Threads,
) -> Result<Arc<SinkHandle>> {
    let worker = ConsoleWorker {
        format: c.format.unwrap_or(ConsoleFormat::Human),
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
