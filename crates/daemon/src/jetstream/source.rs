//! `sources: {name: {type: jetstream}}`: a central collector's intake from
//! a JetStream stream. Every collector of a group pulls from one durable
//! consumer (a shared work queue); a message is acknowledged only once the
//! record is durable in every store it was routed to, so a collector that
//! dies loses nothing: JetStream hands what it had not acknowledged to the
//! others after `ack_wait`.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use async_nats::jetstream::{self, consumer::pull, AckKind};
use distlog_proto::{decode, Encoding, Limits, Topic};
use futures_util::StreamExt as _;

pub use super::source_config::{JetStreamSourceConfig, SourceConfig};
use super::source_config::{DEFAULT_BATCH, DEFAULT_CONSUMER, DEFAULT_MAX_ACK_PENDING};
use super::{ensure_stream, Counters, PREFIX, TOPIC_HEADER};
use crate::pipeline::{Pipeline, Routed, Switch};
use crate::stats::Stats;
use crate::storage::now;

/// How long one fetch waits for messages (also how soon a stop is seen):
/// a second, and well inside `ack_wait`, which a fetch must not eat up.
fn fetch_expires(ack_wait: Duration) -> Duration {
    (ack_wait / 4).min(Duration::from_secs(1))
}
/// Stream sequences remembered as stored, to drop a redelivery at once.
const SEEN: usize = 1 << 20;

/// What a source needs from the daemon.
pub struct Context {
    pub switch: Arc<Switch>,
    pub stats: Arc<Stats>,
    pub limits: Limits,
    pub stop: Arc<AtomicBool>,
}

/// Starts the source's thread; it connects (and reconnects) by itself.
pub fn start(name: &str, config: &SourceConfig, cx: Context) -> Result<JoinHandle<()>> {
    let SourceConfig::JetStream(c) = config.clone();
    let counters = Counters::register("source", name);
    let name = name.to_owned();
    std::thread::Builder::new()
        .name(format!("source-{name}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(source = %name, "cannot start its runtime: {e}");
                    return;
                }
            };
            let mut source = Source {
                name,
                c,
                cx,
                counters,
                seen: HashSet::new(),
                seen_order: VecDeque::new(),
            };
            rt.block_on(source.run());
        })
        .context("starting the jetstream source")
}

struct Source {
    name: String,
    c: JetStreamSourceConfig,
    cx: Context,
    counters: Arc<Counters>,
    seen: HashSet<u64>,
    seen_order: VecDeque<u64>,
}

/// One fetched message, decoded.
struct Fetched {
    message: jetstream::Message,
    seq: u64,
    redelivered: bool,
    record: Option<Arc<Routed>>,
}

impl Source {
    fn stopping(&self) -> bool {
        self.cx.stop.load(Relaxed)
    }

    async fn run(&mut self) {
        let client = match super::connect(
            &self.c.url,
            &format!("distlogd source {}", self.name),
            &self.counters,
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(source = %self.name, "{e:#}");
                return;
            }
        };
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(10))
            .build(client.clone());
        let beats = tokio::spawn(super::heartbeats::receive(
            client.clone(),
            self.cx.switch.clone(),
            self.cx.stats.clone(),
            self.cx.limits,
        ));
        let mut delay = Duration::from_millis(100);
        while !self.stopping() {
            let consumer = match self.consumer(&js).await {
                Ok(c) => {
                    delay = Duration::from_millis(100);
                    c
                }
                Err(e) => {
                    self.counters.error(&format!("{e:#}"));
                    tracing::warn!(source = %self.name, "{e:#}; trying again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            tracing::info!(source = %self.name, consumer = %self.consumer_name(), "consuming");
            while !self.stopping() {
                if let Err(e) = self.one_batch(&consumer).await {
                    self.counters.error(&format!("{e:#}"));
                    tracing::warn!(source = %self.name, "{e:#}; opening the consumer again");
                    tokio::time::sleep(delay).await;
                    break;
                }
            }
        }
        beats.abort();
        let _ = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
        tracing::info!(source = %self.name, "source stopped");
    }

    fn consumer_name(&self) -> &str {
        self.c.consumer.as_deref().unwrap_or(DEFAULT_CONSUMER)
    }

    async fn consumer(&self, js: &jetstream::Context) -> Result<jetstream::consumer::PullConsumer> {
        let stream_config = self.c.stream.clone().unwrap_or_default();
        let stream = ensure_stream(js, &stream_config).await?;
        let name = self.consumer_name().to_owned();
        let config = pull::Config {
            durable_name: Some(name.clone()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: self.c.ack_wait(),
            max_deliver: -1,
            max_ack_pending: self.c.max_ack_pending.unwrap_or(DEFAULT_MAX_ACK_PENDING),
            filter_subject: self
                .c
                .filter
                .clone()
                .unwrap_or_else(|| format!("{PREFIX}.>")),
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        };
        stream
            .get_or_create_consumer(&name, config)
            .await
            .with_context(|| format!("opening or creating the consumer {name:?}"))
    }

    /// Fetches one batch, routes its records, waits until they are durable,
    /// then acknowledges them.
    async fn one_batch(&mut self, consumer: &jetstream::consumer::PullConsumer) -> Result<()> {
        let ack_wait = self.c.ack_wait();
        // Every message of this fetch was handed to us at or after this
        // moment, so none can have expired before `asked + ack_wait`.
        let asked = Instant::now();
        let mut batch = consumer
            .fetch()
            .max_messages(self.c.batch.unwrap_or(DEFAULT_BATCH))
            .expires(fetch_expires(ack_wait))
            .messages()
            .await
            .context("fetching from the consumer")?;
        let mut messages = Vec::new();
        while let Some(m) = batch.next().await {
            match m {
                Ok(m) => messages.push(m),
                Err(e) => {
                    // Status messages (timeouts, heartbeats) end a fetch;
                    // what was fetched is still handled.
                    tracing::debug!(source = %self.name, "fetch: {e}");
                    break;
                }
            }
        }
        if messages.is_empty() {
            return Ok(());
        }
        if asked.elapsed() >= ack_wait {
            // Held past ack_wait (the process was frozen, or starved):
            // JetStream may have handed these to another collector
            // already. Storing them here too would store them twice; left
            // unacknowledged, they are redelivered, to whoever asks.
            self.counters
                .expired
                .fetch_add(messages.len() as u64, Relaxed);
            tracing::warn!(
                source = %self.name,
                "{} messages held longer than ack_wait: left for redelivery",
                messages.len()
            );
            return Ok(());
        }
        let mut fetched: Vec<Fetched> = messages.into_iter().map(|m| self.decode(m)).collect();
        self.counters
            .fetched
            .fetch_add(fetched.len() as u64, Relaxed);
        self.counters.in_flight.store(fetched.len() as u64, Relaxed);
        let pipeline = self.cx.switch.current();
        self.drop_stored(&mut fetched, &pipeline);
        for f in &fetched {
            if let Some(r) = &f.record {
                pipeline.route(r);
            }
        }
        if !self.wait_durable(&fetched, &pipeline).await {
            // Stopping with a store that cannot sync: unacknowledged, the
            // batch goes to another collector (or to this one, restarted).
            self.counters.in_flight.store(0, Relaxed);
            return Ok(());
        }
        for f in &fetched {
            // A lost ack means a redelivery, which `drop_stored` catches.
            if let Err(e) = f.message.ack().await {
                self.counters.error(&format!("ack failed: {e}"));
            } else {
                self.counters.acked.fetch_add(1, Relaxed);
            }
            self.remember(f.seq);
        }
        self.counters.in_flight.store(0, Relaxed);
        Ok(())
    }

    fn decode(&self, message: jetstream::Message) -> Fetched {
        let (seq, delivered) = match message.info() {
            Ok(i) => (i.stream_sequence, i.delivered),
            Err(_) => (0, 1),
        };
        let redelivered = delivered > 1;
        if redelivered {
            self.counters.redelivered.fetch_add(1, Relaxed);
        }
        let stats = &self.cx.stats;
        stats.received.fetch_add(1, Relaxed);
        let topic = message
            .headers
            .as_ref()
            .and_then(|h| h.get(TOPIC_HEADER))
            .map(|v| v.as_str().as_bytes().to_vec())
            .unwrap_or_default();
        let decoded =
            Topic::parse(&topic).and_then(|t| decode(t, &message.payload, &self.cx.limits));
        let record = match decoded {
            Ok(record) => {
                if record.key_error.is_some() {
                    stats.key_errors.fetch_add(1, Relaxed);
                }
                stats.decoded.fetch_add(1, Relaxed);
                stats.metrics.observe(&record);
                let original =
                    (record.topic.encoding == Encoding::Pickle).then(|| message.payload.to_vec());
                Some(Arc::new(Routed::new(record, original, now())))
            }
            Err(err) => {
                // Acknowledged all the same: it would fail every time.
                self.counters.rejected.fetch_add(1, Relaxed);
                stats.reject(&err, " from JetStream");
                None
            }
        };
        Fetched {
            message,
            seq,
            redelivered,
            record,
        }
    }

    /// Drops the records of redelivered messages this collector already
    /// stored: by stream sequence while it runs, and after a restart by the
    /// record's key in the store (a redelivery of what it stored, synced,
    /// and died before acknowledging).
    fn drop_stored(&self, fetched: &mut [Fetched], pipeline: &Pipeline) {
        let store = pipeline.sinks.iter().find_map(|s| s.store());
        let mut reader = None;
        for f in fetched.iter_mut().filter(|f| f.redelivered) {
            let already = self.seen.contains(&f.seq)
                || match (store, f.record.as_ref().and_then(|r| r.record.key.as_ref())) {
                    (Some(store), Some(key)) => {
                        if reader.is_none() {
                            // What this batch's predecessors routed must be
                            // indexed before the store can answer.
                            let _ = store.sync();
                            reader = store.reader().ok();
                        }
                        reader
                            .as_ref()
                            .and_then(|r| r.records_by_key(key).ok())
                            .is_some_and(|rows| !rows.is_empty())
                    }
                    _ => false,
                };
            if already {
                self.counters.deduplicated.fetch_add(1, Relaxed);
                f.record = None;
            }
        }
    }

    /// Waits until every store the pipeline routes to has synced what was
    /// appended. Past a third of `ack_wait`, says "still working" to
    /// JetStream, so a slow disk does not hand the batch to another
    /// collector (which would store it twice).
    /// False when the daemon stops before they are.
    async fn wait_durable(&self, fetched: &[Fetched], pipeline: &Pipeline) -> bool {
        let slice = (self.c.ack_wait() / 3).max(Duration::from_millis(200));
        for store in pipeline.sinks.iter().filter_map(|s| s.store()) {
            let last = store.last_appended();
            let mut tries = 0;
            loop {
                let store = store.clone();
                let synced =
                    tokio::task::spawn_blocking(move || store.wait_durable(last, slice)).await;
                if matches!(synced, Ok(true)) {
                    break;
                }
                tries += 1;
                if self.stopping() && tries > 3 {
                    return false;
                }
                for f in fetched {
                    let _ = f.message.ack_with(AckKind::Progress).await;
                }
            }
        }
        true
    }

    fn remember(&mut self, seq: u64) {
        if self.seen.insert(seq) {
            self.seen_order.push_back(seq);
            if self.seen_order.len() > SEEN {
                if let Some(old) = self.seen_order.pop_front() {
                    self.seen.remove(&old);
                }
            }
        }
    }
}
