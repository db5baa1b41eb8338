//! Sinks: where routed records go. Each sink has its own folder (config and
//! worker), its own bounded queue and thread, and its own counters, so a
//! slow or failing sink never stalls the intake or the other sinks.
//!
//! Adding a sink: a folder here, a variant of [`SinkConfig`], an arm in
//! [`start`].

mod console;
pub mod feed;
mod file;
mod forward;
mod jetstream;
pub mod otlp;
mod runner;
mod store;
pub(crate) mod units;

pub use runner::{Heartbeats, SinkHandle, Threads};

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use serde::Deserialize;

pub use console::ConsoleSinkConfig;
pub use feed::FeedSinkConfig;
pub use file::FileSinkConfig;
pub use forward::ForwardSinkConfig;
pub use jetstream::JetStreamSinkConfig;
pub use otlp::OtlpSinkConfig;
pub use store::StoreSinkConfig;

/// One sink as configured; `type` picks the variant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SinkConfig {
    Store(StoreSinkConfig),
    File(FileSinkConfig),
    Console(ConsoleSinkConfig),
    Feed(FeedSinkConfig),
    Forward(ForwardSinkConfig),
    #[serde(rename = "jetstream")]
    JetStream(JetStreamSinkConfig),
    Otlp(OtlpSinkConfig),
}

/// A sink's queue between the router and its thread.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Records the queue holds.
    #[serde(default)]
    pub size: Option<usize>,
    /// `drop`: a full queue drops (and counts) new records, the intake
    /// never waits; `block`: the intake waits, pushing back on clients.
    #[serde(default)]
    pub when_full: Option<WhenFull>,
    /// Bytes of records the queue holds (`256MiB`): with large bodies the
    /// queue is full at this, before `size` records.
    #[serde(default)]
    pub max_bytes: Option<String>,
}

/// The queue's byte bound when none is configured.
pub const DEFAULT_QUEUE_BYTES: u64 = 256 << 20;

impl QueueConfig {
    pub fn max_bytes(&self) -> Result<u64> {
        match &self.max_bytes {
            Some(text) => {
                let n = units::parse_size(text).context("queue.max_bytes")?;
                if n == 0 {
                    anyhow::bail!("queue.max_bytes must be more than 0");
                }
                Ok(n)
            }
            None => Ok(DEFAULT_QUEUE_BYTES),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenFull {
    Drop,
    Block,
}

impl SinkConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Store(_) => "store",
            SinkConfig::File(_) => "file",
            SinkConfig::Console(_) => "console",
            SinkConfig::Feed(_) => "feed",
            SinkConfig::Forward(_) => "forward",
            SinkConfig::JetStream(_) => "jetstream",
            SinkConfig::Otlp(_) => "otlp",
        }
    }

    fn queue(&self) -> Option<&QueueConfig> {
        match self {
            SinkConfig::Store(c) => c.queue.as_ref(),
            SinkConfig::File(c) => c.queue.as_ref(),
            SinkConfig::Console(c) => c.queue.as_ref(),
            SinkConfig::Forward(c) => c.queue.as_ref(),
            SinkConfig::JetStream(c) => c.queue.as_ref(),
            SinkConfig::Otlp(c) => c.queue.as_ref(),
            SinkConfig::Feed(_) => None,
        }
    }

    /// Checks values that serde cannot (sizes, durations, endpoints) and
    /// fills in defaults, so a started sink never meets a bad setting.
    pub fn validated(self, default_store: &Path) -> Result<SinkConfig> {
        if let Some(q) = self.queue() {
            q.max_bytes()?;
        }
        Ok(match self {
            SinkConfig::Store(c) => SinkConfig::Store(c.validated(default_store)?),
            SinkConfig::File(c) => SinkConfig::File(c.validated()?),
            SinkConfig::Console(c) => SinkConfig::Console(c),
            SinkConfig::Feed(c) => SinkConfig::Feed(c),
            SinkConfig::Forward(c) => SinkConfig::Forward(c.validated()?),
            SinkConfig::JetStream(c) => SinkConfig::JetStream(c.validated()?),
            SinkConfig::Otlp(c) => SinkConfig::Otlp(c.validated()?),
        })
    }
}

/// Starts one sink. Opening its resources (store file, output file,
/// socket) happens here, so a start-up failure names the sink.
pub fn start(name: &str, config: &SinkConfig, threads: &Threads) -> Result<Arc<SinkHandle>> {
    match config {
        SinkConfig::Store(c) => Ok(Arc::new(SinkHandle::store_sink(
            name,
            config,
            store::open(name, c)?,
        ))),
        SinkConfig::File(c) => file::start(name, config, c, threads),
        SinkConfig::Console(c) => console::start(name, config, c, threads),
        SinkConfig::Feed(c) => Ok(feed::start(name, config, c)),
        SinkConfig::Forward(c) => forward::start(name, config, c, threads),
        SinkConfig::JetStream(c) => jetstream::start(name, config, c, threads),
        SinkConfig::Otlp(c) => otlp::start(name, config, c, threads),
    }
}
