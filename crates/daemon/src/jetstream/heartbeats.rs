//! Heartbeats across JetStream. A heartbeat is not a record: the agent
//! publishes it with plain NATS (not into the stream) on
//! `distlog-heartbeats.<system>`, and every collector subscribes, since a
//! process's trees may be spread over all of them (the shared consumer
//! would hand each heartbeat to one only).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use distlog_proto::{decode_heartbeat, Limits, Topic};
use futures_util::StreamExt as _;

use super::system_token;
use crate::pipeline::Switch;
use crate::stats::Stats;
use crate::storage::now;

/// The subject prefix of heartbeats, outside the stream's `distlog.>`.
pub const PREFIX: &str = "distlog-heartbeats";

/// A running jetstream sink's way to publish, held by its worker.
pub struct Forwarder {
    pub client: async_nats::Client,
    pub runtime: tokio::runtime::Handle,
}

static FORWARDERS: Mutex<Vec<Weak<Forwarder>>> = Mutex::new(Vec::new());

/// Lists `f` for [`forward`] for as long as it lives.
pub fn register(f: &Arc<Forwarder>) {
    if let Ok(mut all) = FORWARDERS.lock() {
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(f));
    }
}

/// Publishes a heartbeat the intake received through every running
/// jetstream sink, without waiting: a heartbeat comes every few seconds
/// per process, and one lost is made up by the next.
pub fn forward(topic: &Topic, body: &[u8]) {
    let live: Vec<Arc<Forwarder>> = match FORWARDERS.lock() {
        Ok(all) => all.iter().filter_map(Weak::upgrade).collect(),
        Err(_) => return,
    };
    if live.is_empty() {
        return;
    }
    let subject = format!("{PREFIX}.{}", system_token(topic.system));
    let payload = Bytes::copy_from_slice(body);
    for f in live {
        let client = f.client.clone();
        let subject = subject.clone();
        let payload = payload.clone();
        f.runtime.spawn(async move {
            let _ = client.publish(subject, payload).await;
        });
    }
}

/// Receives heartbeats for as long as the source runs, and tells the
/// stores of the running pipeline that their processes are alive.
pub async fn receive(
    client: async_nats::Client,
    switch: Arc<Switch>,
    stats: Arc<Stats>,
    limits: Limits,
) {
    let mut sub = match client.subscribe(format!("{PREFIX}.>")).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot subscribe to heartbeats: {e}");
            return;
        }
    };
    while let Some(m) = sub.next().await {
        match decode_heartbeat(&m.payload, &limits) {
            Ok(beat) => {
                stats.heartbeats.fetch_add(1, Relaxed);
                let at = now();
                let pipeline = switch.current();
                for store in pipeline.sinks.iter().filter_map(|s| s.store()) {
                    store.heartbeat(&beat.hostname, beat.process, at);
                }
            }
            Err(err) => stats.reject(&err, " (heartbeat from NATS)"),
        }
    }
}
