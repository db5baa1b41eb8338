//! `type: feed`: a live publication of routed records for `distlog tail -f`
//! and the web UI. Subscribers filter for themselves; a subscriber that
//! falls behind loses the oldest records (counted), never slowing the intake.

use std::sync::Arc;

use serde::Deserialize;

use super::runner::SinkHandle;
use super::SinkConfig;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSinkConfig {
    /// Records kept for subscribers that fall behind.
    #[serde(default)]
    pub buffer: Option<usize>,
}

pub fn start(name: &str, config: &SinkConfig, c: &FeedSinkConfig) -> Arc<SinkHandle> {
    Arc::new(SinkHandle::feed(name, config, c.buffer.unwrap_or(4096)))
}
