//! NATS JetStream: what the `jetstream` sink (per-host agent → stream) and
//! the `jetstream` source (stream → central collector) share: the stream's
//! settings, the subject a record goes to, the connection, and counters.
//!
//! ```yaml
//! # agent                               # collector
//! sinks:                                sources:
//!   nats:                                 nats:
//!     type: jetstream                       type: jetstream
//!     url: nats://nats1:4222                url: nats://nats1:4222
//! ```
//!
//! A record travels as one message: the body as received, the topic in the
//! `Distlog-Topic` header, on `distlog.<system>.<shard>`; see
//! docs/scale-out.md.

mod counters;
pub mod heartbeats;
pub mod source;
mod source_config;

pub use counters::{register_metrics, stats_json, Counters};

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use async_nats::jetstream;
use distlog_proto::{Record, System};
use serde::Deserialize;

use crate::sinks::units::{parse_duration, parse_size};

/// The header that carries the record's topic (three ASCII bytes).
pub const TOPIC_HEADER: &str = "Distlog-Topic";
/// The subject prefix of every record.
pub const PREFIX: &str = "distlog";

/// The stream both sides create when it is missing. An existing stream is
/// used as it is: its settings belong to whoever runs NATS.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Stream name; default `DISTLOG`.
    #[serde(default)]
    pub name: Option<String>,
    /// Subjects the stream takes; default `["distlog.>"]`.
    #[serde(default)]
    pub subjects: Option<Vec<String>>,
    /// Messages older than this are deleted; default `7d`.
    #[serde(default)]
    pub max_age: Option<String>,
    /// The oldest messages are deleted past this size; default: no bound
    /// but the server's own JetStream storage limit.
    #[serde(default)]
    pub max_bytes: Option<String>,
    /// Copies in a NATS cluster; default 1.
    #[serde(default)]
    pub replicas: Option<usize>,
    /// How long JetStream remembers message ids to drop a re-sent
    /// publish; default `2m`.
    #[serde(default)]
    pub duplicate_window: Option<String>,
}

impl StreamConfig {
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("DISTLOG")
    }

    pub fn validate(&self) -> Result<()> {
        let name = self.name();
        if name.is_empty() || name.contains(['.', ' ', '*', '>', '/', '\\']) {
            bail!("stream.name {name:?} must not be empty nor hold '.', ' ', '*', '>', '/'");
        }
        if let Some(s) = &self.subjects {
            if s.is_empty() {
                bail!("stream.subjects must name at least one subject (default [\"distlog.>\"])");
            }
        }
        if let Some(a) = &self.max_age {
            parse_duration(a).context("stream.max_age")?;
        }
        if let Some(b) = &self.max_bytes {
            parse_size(b).context("stream.max_bytes")?;
        }
        if let Some(w) = &self.duplicate_window {
            parse_duration(w).context("stream.duplicate_window")?;
        }
        if self.replicas == Some(0) || self.replicas.is_some_and(|r| r > 5) {
            bail!("stream.replicas must be 1 to 5");
        }
        Ok(())
    }

    fn to_nats(&self) -> jetstream::stream::Config {
        let age = self
            .max_age
            .as_deref()
            .and_then(|a| parse_duration(a).ok())
            .unwrap_or(Duration::from_secs(7 * 86_400));
        // No size bound unless asked: a bound JetStream cannot reserve on
        // the server's disk makes it refuse to create the stream at all.
        let bytes = self
            .max_bytes
            .as_deref()
            .and_then(|b| parse_size(b).ok())
            .map_or(-1, |b| i64::try_from(b).unwrap_or(i64::MAX));
        let window = self
            .duplicate_window
            .as_deref()
            .and_then(|w| parse_duration(w).ok())
            .unwrap_or(Duration::from_secs(120));
        jetstream::stream::Config {
            name: self.name().to_owned(),
            subjects: self
                .subjects
                .clone()
                .unwrap_or_else(|| vec![format!("{PREFIX}.>")]),
            max_age: age,
            max_bytes: bytes,
            num_replicas: self.replicas.unwrap_or(1),
            duplicate_window: window,
            storage: jetstream::stream::StorageType::File,
            retention: jetstream::stream::RetentionPolicy::Limits,
            discard: jetstream::stream::DiscardPolicy::Old,
            ..Default::default()
        }
    }
}

/// Opens the stream, creating it when missing.
pub async fn ensure_stream(
    js: &jetstream::Context,
    config: &StreamConfig,
) -> Result<jetstream::stream::Stream> {
    js.get_or_create_stream(config.to_nats())
        .await
        .with_context(|| format!("opening or creating the stream {:?}", config.name()))
}

/// Checks a NATS server URL (`nats://host:port`, several comma-separated).
pub fn validate_url(url: &str) -> Result<()> {
    for part in url.split(',') {
        let p = part.trim();
        let rest = p
            .strip_prefix("nats://")
            .or_else(|| p.strip_prefix("tls://"))
            .unwrap_or(p);
        if rest.is_empty() || rest.contains('/') {
            bail!("url {url:?}: {p:?} is not a NATS server (nats://HOST:PORT)");
        }
    }
    Ok(())
}

/// Connects in the background: the daemon starts (and buffers, or waits)
/// while NATS is away, and the client reconnects for ever.
pub async fn connect(
    url: &str,
    name: &str,
    counters: &std::sync::Arc<Counters>,
) -> Result<async_nats::Client> {
    let events = counters.clone();
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .event_callback(move |event| {
            let events = events.clone();
            async move { events.event(&event) }
        })
        .connect(url)
        .await
        .with_context(|| format!("connecting to NATS at {url}"))
}

/// The lower-case name of a topic's system, the subject's second token.
pub fn system_token(system: System) -> &'static str {
    match system {
        System::Test => "test",
        System::Staging => "staging",
        System::Production => "production",
    }
}

/// The shard of a record: from its root task id, so every record of a tree
/// lands on one subject (and in order); records outside any task by their
/// process, so a process's plain records keep their order too.
pub fn shard_of(record: &Record, shards: u32) -> u32 {
    let h = match &record.key {
        Some(k) => fnv1a(k.scope.root.as_bytes(), FNV_OFFSET),
        None => fnv1a(
            &record.process.unwrap_or(0).to_le_bytes(),
            fnv1a(record.hostname.as_bytes(), FNV_OFFSET),
        ),
    };
    // Folding the high half in spreads uuids' hashes evenly over small counts.
    ((h ^ (h >> 32)) % u64::from(shards.max(1))) as u32
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a: stable across versions and machines, unlike std's hasher,
/// so every agent puts a tree on the same shard.
fn fnv1a(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `distlog.<system>.<shard>`, the shard zero-padded so subjects sort.
pub fn subject(record: &Record, shards: u32) -> String {
    format!(
        "{PREFIX}.{}.{:03}",
        system_token(record.topic.system),
        shard_of(record, shards)
    )
}

#[cfg(test)]
mod tests;
