//! The `jetstream` source's settings, checked before anything starts.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;

use super::{validate_url, StreamConfig};
use crate::sinks::units::parse_duration;

/// The consumer every collector shares when none is named.
pub const DEFAULT_CONSUMER: &str = "distlog-collectors";
const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
pub const DEFAULT_BATCH: usize = 1000;
pub const DEFAULT_MAX_ACK_PENDING: i64 = 20_000;

/// A source, as configured; `type` picks the variant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SourceConfig {
    #[serde(rename = "jetstream")]
    JetStream(JetStreamSourceConfig),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JetStreamSourceConfig {
    /// NATS servers, `nats://host:4222` (comma-separated for several).
    pub url: String,
    /// The stream, created when missing (same settings as the sink's).
    #[serde(default)]
    pub stream: Option<StreamConfig>,
    /// The durable consumer, shared by every collector of one group
    /// (default `distlog-collectors`).
    #[serde(default)]
    pub consumer: Option<String>,
    /// The subjects this group takes (default `distlog.>`; e.g.
    /// `distlog.production.>`). Fixed when the consumer is created.
    #[serde(default)]
    pub filter: Option<String>,
    /// How long JetStream waits for a collector's ack before it hands the
    /// message to another collector (default `30s`): the take-over time
    /// after a collector dies.
    #[serde(default)]
    pub ack_wait: Option<String>,
    /// Messages fetched, stored and acknowledged at once (default 1000).
    #[serde(default)]
    pub batch: Option<usize>,
    /// Messages the whole group may hold unacknowledged (default 20,000).
    #[serde(default)]
    pub max_ack_pending: Option<i64>,
}

impl SourceConfig {
    pub fn validated(self) -> Result<SourceConfig> {
        let SourceConfig::JetStream(c) = self;
        validate_url(&c.url)?;
        if let Some(s) = &c.stream {
            s.validate()?;
        }
        if let Some(name) = &c.consumer {
            if name.is_empty() || name.contains(['.', ' ', '*', '>', '/', '\\']) {
                bail!("consumer {name:?} must not be empty nor hold '.', ' ', '*', '>', '/'");
            }
        }
        if let Some(a) = &c.ack_wait {
            let d = parse_duration(a).context("ack_wait")?;
            if d < Duration::from_secs(1) {
                bail!("ack_wait {a:?} is too short: a batch must be stored and synced within it (at least 1s)");
            }
        }
        if c.batch == Some(0) {
            bail!("batch must be at least 1");
        }
        if c.max_ack_pending.is_some_and(|m| m < 1) {
            bail!("max_ack_pending must be at least 1");
        }
        Ok(SourceConfig::JetStream(c))
    }

    pub fn kind(&self) -> &'static str {
        "jetstream"
    }
}

impl JetStreamSourceConfig {
    pub(super) fn ack_wait(&self) -> Duration {
        self.ack_wait
            .as_deref()
            .and_then(|a| parse_duration(a).ok())
            .unwrap_or(DEFAULT_ACK_WAIT)
    }
}
