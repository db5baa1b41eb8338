//! `type: jetstream`: publishes each record (topic and body as received) to
//! a NATS JetStream stream, on `distlog.<system>.<shard>`, and counts it
//! written only once JetStream acknowledged storing it.
//!
//! While NATS is away the worker holds its batch and retries with the same
//! message ids (JetStream drops the copies it already has), the sink's
//! queue fills, and past the queue's bound new records are dropped and
//! counted: the intake never waits on NATS.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use bytes::Bytes;
use serde::Deserialize;

use super::runner::{self, Lost, SinkHandle, StopSignal, Threads, Worker};
use super::units::parse_duration;
use super::{QueueConfig, SinkConfig, WhenFull};
use crate::jetstream::{
    ensure_stream, subject, validate_url, Counters, StreamConfig, TOPIC_HEADER,
};
use crate::pipeline::Routed;

/// Shards per system when none is configured.
pub const DEFAULT_SHARDS: u32 = 16;
/// Publishes awaiting their ack, at most, when none is configured.
pub const DEFAULT_IN_FLIGHT: usize = 1024;
/// Records the sink's queue holds while NATS is slow or away.
pub const DEFAULT_QUEUE: usize = 100_000;
const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a stopping daemon keeps trying to hand its last records over.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JetStreamSinkConfig {
    /// NATS servers, `nats://host:4222` (comma-separated for several).
    pub url: String,
    /// Subjects per system (`distlog.<system>.000` …): a tree's records all
    /// go to one, chosen from its root task id. Default 16.
    #[serde(default)]
    pub shards: Option<u32>,
    /// The stream, created when missing.
    #[serde(default)]
    pub stream: Option<StreamConfig>,
    /// Publishes awaiting JetStream's ack, at most (default 1024).
    #[serde(default)]
    pub in_flight: Option<usize>,
    /// How long a publish waits for its ack before it is sent again
    /// (default `5s`).
    #[serde(default)]
    pub ack_timeout: Option<String>,
    /// The buffer while NATS is slow or away (default 100,000 records,
    /// 256MiB, `when_full: drop`).
    #[serde(default)]
    pub queue: Option<QueueConfig>,
}

impl JetStreamSinkConfig {
    pub fn validated(self) -> Result<JetStreamSinkConfig> {
        validate_url(&self.url)?;
        if let Some(s) = self.shards {
            if !(1..=1000).contains(&s) {
                bail!("shards must be 1 to 1000 (got {s})");
            }
        }
        if self.in_flight == Some(0) {
            bail!("in_flight must be at least 1");
        }
        if let Some(t) = &self.ack_timeout {
            parse_duration(t).context("ack_timeout")?;
        }
        if let Some(s) = &self.stream {
            s.validate()?;
        }
        Ok(self)
    }

    fn ack_timeout(&self) -> Duration {
        self.ack_timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(DEFAULT_ACK_TIMEOUT)
    }
}

/// One record on its way, with the id JetStream dedupes a re-send by.
struct Outgoing {
    subject: String,
    topic: String,
    body: Bytes,
    id: String,
}

struct JetStreamWorker {
    rt: tokio::runtime::Runtime,
    js: jetstream::Context,
    stream: StreamConfig,
    stream_ready: bool,
    shards: u32,
    in_flight: usize,
    ack_timeout: Duration,
    counters: Arc<Counters>,
    /// Unique to this run of this sink, so ids never repeat across restarts.
    id_prefix: String,
    next_id: u64,
    closing: bool,
    /// Set when a stopping sink gave a batch up.
    gave_up: bool,
    stop: Option<StopSignal>,
}

impl JetStreamWorker {
    fn outgoing(&mut self, r: &Routed) -> Outgoing {
        self.next_id += 1;
        let body = r.original.as_deref().unwrap_or(r.record.body.as_bytes());
        Outgoing {
            subject: subject(&r.record, self.shards),
            topic: r.record.topic.to_string(),
            body: Bytes::copy_from_slice(body),
            id: format!("{}.{}", self.id_prefix, self.next_id),
        }
    }

    /// Publishes `pending` in windows of `in_flight`, and returns what did
    /// not get its ack, and how many records NATS can never take.
    async fn publish_all(&self, pending: Vec<Outgoing>) -> (Vec<Outgoing>, usize) {
        let mut failed = Vec::new();
        let mut too_large = 0;
        let mut it = pending.into_iter().peekable();
        let mut stuck = false;
        while it.peek().is_some() && !stuck {
            let mut window = Vec::with_capacity(self.in_flight);
            for m in it.by_ref().take(self.in_flight) {
                if stuck {
                    failed.push(m);
                    continue;
                }
                let publish = PublishMessage::build()
                    .payload(m.body.clone())
                    .header(TOPIC_HEADER, m.topic.as_str())
                    .message_id(&m.id);
                // Sending waits only for room in the client's buffer, which
                // a lost connection can fill: bounded like the ack.
                let sent = tokio::time::timeout(
                    self.ack_timeout,
                    self.js.send_publish(m.subject.clone(), publish),
                )
                .await;
                match sent {
                    Ok(Ok(ack)) => window.push((m, ack)),
                    // Too large for this server: it would fail every
                    // time, so it is lost (and counted), not retried.
                    Ok(Err(e)) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                        self.counters.error(&format!(
                            "record of {} bytes not published: {e}",
                            m.body.len()
                        ));
                        too_large += 1;
                    }
                    // The rest would fail the same way, each after its
                    // own timeout: kept for the next try instead.
                    Ok(Err(e)) => {
                        self.counters.error(&format!("publish failed: {e}"));
                        failed.push(m);
                        stuck = true;
                    }
                    Err(_) => {
                        self.counters
                            .error("publish timed out: NATS is not taking messages");
                        failed.push(m);
                        stuck = true;
                    }
                }
            }
            self.counters.in_flight.store(window.len() as u64, Relaxed);
            for (m, ack) in window {
                match ack.await {
                    Ok(a) => {
                        self.counters.acked.fetch_add(1, Relaxed);
                        if a.duplicate {
                            self.counters.duplicates.fetch_add(1, Relaxed);
                        }
                    }
                    Err(e) => {
                        self.counters.error(&format!("no publish ack: {e}"));
                        failed.push(m);
                    }
                }
                self.counters.in_flight.fetch_sub(1, Relaxed);
            }
        }
        failed.extend(it);
        (failed, too_large)
    }
}

impl Worker for JetStreamWorker {
    fn write(&mut self, batch: &[Arc<Routed>]) -> Result<(), Lost> {
        if self.gave_up && !self.counters.connected.load(Relaxed) {
            // Stopping, and NATS was already away for the last batch: the
            // rest of the queue goes the same way, without a wait each.
            return Err(Lost {
                records: batch.len(),
                why: format!(
                    "{} records not published: NATS is away and the daemon is stopping",
                    batch.len()
                ),
            });
        }
        let mut pending: Vec<Outgoing> = batch.iter().map(|r| self.outgoing(r)).collect();
        self.counters.held.store(pending.len() as u64, Relaxed);
        let mut started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut lost = 0;
        loop {
            if !self.stream_ready {
                let opened = self.rt.block_on(async {
                    tokio::time::timeout(self.ack_timeout, ensure_stream(&self.js, &self.stream))
                        .await
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("NATS did not answer")))
                });
                match opened {
                    Ok(_) => self.stream_ready = true,
                    Err(e) => self.counters.error(&format!("{e:#}")),
                }
            }
            if self.stream_ready {
                let before = pending.len();
                let (failed, too_large) = self.rt.block_on(self.publish_all(pending));
                pending = failed;
                lost += too_large;
                // A stream deleted under us answers "no responders": look
                // it up (and create it) again before the next try.
                if pending.len() == before {
                    self.stream_ready = false;
                }
            }
            self.counters.held.store(pending.len() as u64, Relaxed);
            if pending.is_empty() {
                if lost > 0 {
                    return Err(Lost {
                        records: lost,
                        why: format!("{lost} records larger than the NATS server's max_payload"),
                    });
                }
                return Ok(());
            }
            if !self.closing && self.stop.as_ref().is_some_and(StopSignal::is_set) {
                // Told to stop while retrying: the grace starts now.
                self.closing = true;
                started = Instant::now();
            }
            if self.closing && started.elapsed() >= CLOSE_GRACE {
                self.gave_up = true;
                self.counters.held.store(0, Relaxed);
                return Err(Lost {
                    records: pending.len() + lost,
                    why: format!(
                        "{} records not published: NATS did not take them before the daemon stopped",
                        pending.len()
                    ),
                });
            }
            self.counters
                .retried
                .fetch_add(pending.len() as u64, Relaxed);
            std::thread::sleep(delay);
            delay = (delay * 2).min(MAX_BACKOFF);
        }
    }

    fn closing(&mut self) {
        self.closing = true;
    }

    fn stop_signal(&mut self, stop: StopSignal) {
        self.stop = Some(stop);
    }

    fn finish(&mut self) {
        let client = self.js.client();
        let _ = self
            .rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(2), client.flush()).await });
    }
}

/// An id for this run of the sink: host, pid and start time, so message
/// ids never repeat across agents or restarts within the duplicate window.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    format!("{host}-{}-{nanos:x}", std::process::id())
}

pub fn start(
    name: &str,
    config: &SinkConfig,
    c: &JetStreamSinkConfig,
    threads: &Threads,
) -> Result<Arc<SinkHandle>> {
    // One thread of its own runs the connection between batches (pings,
    // reconnects, acks), while the sink's thread waits on it per batch.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(format!("sink-{name}-nats"))
        .enable_all()
        .build()
        .context("starting the sink's async runtime")?;
    let counters = Counters::register("sink", name);
    let ack_timeout = c.ack_timeout();
    let client = rt.block_on(crate::jetstream::connect(
        &c.url,
        &format!("distlogd sink {name}"),
        &counters,
    ))?;
    let _runtime = rt.enter();
    let js = jetstream::ContextBuilder::new()
        .timeout(ack_timeout)
        .build(client);
    drop(_runtime);
    // The intake's heartbeats go out on this sink's connection.
    let heartbeats = crate::jetstream::heartbeats::forwarder(js.client(), rt.handle().clone());
    let worker = JetStreamWorker {
        rt,
        js,
        stream: c.stream.clone().unwrap_or_default(),
        stream_ready: false,
        shards: c.shards.unwrap_or(DEFAULT_SHARDS),
        in_flight: c.in_flight.unwrap_or(DEFAULT_IN_FLIGHT),
        ack_timeout,
        counters,
        id_prefix: run_id(),
        next_id: 0,
        closing: false,
        gave_up: false,
        stop: None,
    };
    let handle = runner::spawn(
        name,
        config,
        c.queue.as_ref(),
        (DEFAULT_QUEUE, WhenFull::Drop),
        worker,
        threads,
    )?;
    handle.set_heartbeats(heartbeats);
    Ok(handle)
}
