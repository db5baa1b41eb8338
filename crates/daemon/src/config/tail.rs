//! `routes.tail`: how long and how much the router holds of tasks whose
//! records wait for a `task: failed` decision.

use anyhow::{bail, Context as _, Result};
use distlog_rules::tail::TailLimits;
use serde::Deserialize;

use crate::sinks::units::{parse_duration, parse_size};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailConfig {
    /// After a task's root scope closes: how long to wait for late records
    /// of other processes before deciding (`2s`).
    #[serde(default)]
    pub grace: Option<String>,
    /// A task with no record for this long is decided as it stands (`60s`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Undecided tasks held at most; past it, the task nearest its
    /// decision is decided early.
    #[serde(default)]
    pub max_tasks: Option<usize>,
    /// Bytes of held records at most (`256MiB`).
    #[serde(default)]
    pub max_bytes: Option<String>,
}

impl TailConfig {
    pub fn limits(&self) -> Result<TailLimits> {
        let mut l = TailLimits::default();
        if let Some(g) = &self.grace {
            l.grace = parse_duration(g).context("routes.tail.grace")?;
        }
        if let Some(t) = &self.timeout {
            l.timeout = parse_duration(t).context("routes.tail.timeout")?;
        }
        if let Some(n) = self.max_tasks {
            if n == 0 {
                bail!("routes.tail.max_tasks must be at least 1");
            }
            l.max_tasks = n;
        }
        if let Some(b) = &self.max_bytes {
            l.max_bytes = parse_size(b).context("routes.tail.max_bytes")?;
            if l.max_bytes == 0 {
                bail!("routes.tail.max_bytes must be more than 0");
            }
        }
        if l.grace > l.timeout {
            bail!(
                "routes.tail.grace ({:?}) is longer than routes.tail.timeout ({:?}): a closed task would wait longer than an open one",
                l.grace,
                l.timeout
            );
        }
        // Outcomes outlive their tasks for late records; ten times the
        // open tasks costs ~100 bytes each.
        l.remember = l.max_tasks.saturating_mul(10).max(10_000);
        Ok(l)
    }
}
