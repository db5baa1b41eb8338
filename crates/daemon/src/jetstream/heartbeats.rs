//! Heartbeats across JetStream. A heartbeat is not a record: the agent
//! publishes it with plain NATS (not into the stream) on
//! `distlog-heartbeats.<system>`, and every collector subscribes, since a
//! process's trees may be spread over all of them (the shared consumer
//! would hand each heartbeat to one only).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::Bytes;
use distlog_proto::{decode_heartbeat, Limits, Topic};
use futures_util::StreamExt as _;

use super::system_token;
use crate::pipeline::Switch;
use crate::sinks::Heartbeats;
use crate::stats::Stats;
use crate::storage::now;

/// The subject prefix of heartbeats, outside the stream's `distlog.>`.
pub const PREFIX: &str = "distlog-heartbeats";

/// Publishes the heartbeats the intake receives through a jetstream
/// sink's connection, without waiting: a heartbeat comes every few seconds
/// per process, and one lost is made up by the next.
pub fn forwarder(client: async_nats::Client, runtime: tokio::runtime::Handle) -> Heartbeats {
    Box::new(move |topic: &Topic, body: &[u8]| {
        let subject = format!("{PREFIX}.{}", system_token(topic.system));
        let payload = Bytes::copy_from_slice(body);
        let client = client.clone();
        runtime.spawn(async move {
            let _ = client.publish(subject, payload).await;
        });
    })
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
