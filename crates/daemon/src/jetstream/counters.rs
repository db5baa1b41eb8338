//! Counters of the JetStream sinks and sources, served in `/api/stats`
//! (`jetstream`) and at `/metrics` (`distlog_jetstream_*`).
//!
//! Kept in a registry of their own, so the generic sink handles and the
//! HTTP routes need only one call each to show them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};

use serde_json::{json, Value};

/// One sink's or source's figures.
#[derive(Default)]
pub struct Counters {
    /// `sink` or `source`.
    pub side: &'static str,
    pub name: String,
    pub connected: AtomicBool,
    /// Times the connection was lost.
    pub disconnects: AtomicU64,
    /// Sink: messages JetStream acknowledged as stored in the stream.
    /// Source: messages acknowledged to JetStream, once durable here.
    pub acked: AtomicU64,
    /// Sink: publishes sent again after a failed or missing ack.
    pub retried: AtomicU64,
    /// Sink: publish acks not (yet) received. Source: messages fetched
    /// and not yet acknowledged.
    pub in_flight: AtomicU64,
    /// Sink: records held by the worker, waiting for NATS (beyond the queue).
    pub held: AtomicU64,
    /// Sink: publishes JetStream said it already had (a re-sent publish
    /// within the duplicate window).
    pub duplicates: AtomicU64,
    /// Source: messages fetched from the consumer.
    pub fetched: AtomicU64,
    /// Source: messages delivered more than once (after a collector died
    /// or an ack was lost).
    pub redelivered: AtomicU64,
    /// Source: redelivered messages this collector had already stored,
    /// acknowledged without storing them again.
    pub deduplicated: AtomicU64,
    /// Source: messages held past `ack_wait` before they could be stored
    /// (a frozen or starved collector), left for redelivery.
    pub expired: AtomicU64,
    /// Source: messages that are not records (no topic header, bad topic,
    /// bad body): counted, acknowledged, never redelivered for ever.
    pub rejected: AtomicU64,
    /// Failed NATS operations (connect, stream, fetch, publish, ack).
    pub errors: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

static REGISTRY: Mutex<Vec<Weak<Counters>>> = Mutex::new(Vec::new());

impl Counters {
    /// New counters, listed in `/api/stats` for as long as they live.
    pub fn register(side: &'static str, name: &str) -> Arc<Counters> {
        let c = Arc::new(Counters {
            side,
            name: name.to_owned(),
            ..Counters::default()
        });
        if let Ok(mut r) = REGISTRY.lock() {
            r.retain(|w| w.strong_count() > 0);
            r.push(Arc::downgrade(&c));
        }
        c
    }

    pub fn event(&self, event: &async_nats::Event) {
        match event {
            async_nats::Event::Connected => {
                self.connected.store(true, Relaxed);
                tracing::info!(side = self.side, name = %self.name, "NATS connected");
            }
            async_nats::Event::Disconnected => {
                self.connected.store(false, Relaxed);
                self.disconnects.fetch_add(1, Relaxed);
                tracing::warn!(side = self.side, name = %self.name, "NATS disconnected; reconnecting");
            }
            other => tracing::debug!(side = self.side, name = %self.name, "NATS: {other}"),
        }
    }

    /// Counts a failure and keeps its text for `/api/stats`.
    pub fn error(&self, what: &str) {
        self.errors.fetch_add(1, Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(what.to_owned());
        }
    }

    pub fn to_json(&self) -> Value {
        let n = |a: &AtomicU64| a.load(Relaxed);
        let mut v = json!({
            "name": self.name,
            "connected": self.connected.load(Relaxed),
            "disconnects": n(&self.disconnects),
            "acked": n(&self.acked),
            "in_flight": n(&self.in_flight),
            "errors": n(&self.errors),
            "last_error": self.last_error.lock().ok().and_then(|e| e.clone()),
        });
        if self.side == "sink" {
            v["retried"] = json!(n(&self.retried));
            v["held"] = json!(n(&self.held));
            v["duplicates"] = json!(n(&self.duplicates));
        } else {
            v["fetched"] = json!(n(&self.fetched));
            v["redelivered"] = json!(n(&self.redelivered));
            v["deduplicated"] = json!(n(&self.deduplicated));
            v["rejected"] = json!(n(&self.rejected));
            v["expired"] = json!(n(&self.expired));
        }
        v
    }
}

/// Every live sink's and source's counters, as listed under `jetstream`.
pub fn live() -> Vec<Arc<Counters>> {
    REGISTRY
        .lock()
        .map(|r| r.iter().filter_map(Weak::upgrade).collect())
        .unwrap_or_default()
}

/// `{"sinks": [...], "sources": [...]}`.
pub fn stats_json() -> Value {
    let all = live();
    let side = |s: &str| -> Vec<Value> {
        all.iter()
            .filter(|c| c.side == s)
            .map(|c| c.to_json())
            .collect()
    };
    json!({ "sinks": side("sink"), "sources": side("source") })
}

/// `distlog_jetstream_*` at `/metrics`, labelled by side and name.
pub fn register_metrics(r: &mut prometheus_client::registry::Registry) {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    type Labels = Vec<(String, String)>;
    let all = live();
    if all.is_empty() {
        return;
    }
    let labels = |c: &Counters| -> Labels {
        vec![
            ("side".into(), c.side.to_owned()),
            ("name".into(), c.name.clone()),
        ]
    };
    let counter = |pick: fn(&Counters) -> &AtomicU64| {
        let f = Family::<Labels, Counter>::default();
        for c in &all {
            f.get_or_create(&labels(c)).inc_by(pick(c).load(Relaxed));
        }
        f
    };
    r.register(
        "jetstream_acked",
        "Sink: publishes JetStream acknowledged; source: messages acknowledged once durable",
        counter(|c| &c.acked),
    );
    r.register(
        "jetstream_retried",
        "Sink: publishes sent again after a failed or missing ack",
        counter(|c| &c.retried),
    );
    r.register(
        "jetstream_errors",
        "Failed NATS operations",
        counter(|c| &c.errors),
    );
    r.register(
        "jetstream_disconnects",
        "Times the NATS connection was lost",
        counter(|c| &c.disconnects),
    );
    r.register(
        "jetstream_fetched",
        "Source: messages fetched from the consumer",
        counter(|c| &c.fetched),
    );
    r.register(
        "jetstream_redelivered",
        "Source: messages delivered more than once",
        counter(|c| &c.redelivered),
    );
    r.register(
        "jetstream_deduplicated",
        "Source: redelivered messages already stored here, not stored again",
        counter(|c| &c.deduplicated),
    );
    r.register(
        "jetstream_expired",
        "Source: messages held past ack_wait before storing, left for redelivery",
        counter(|c| &c.expired),
    );
    r.register(
        "jetstream_rejected",
        "Source: messages that are not records",
        counter(|c| &c.rejected),
    );
    let gauge = |pick: fn(&Counters) -> i64| {
        let f = Family::<Labels, Gauge>::default();
        for c in &all {
            f.get_or_create(&labels(c)).set(pick(c));
        }
        f
    };
    r.register(
        "jetstream_connected",
        "1 while connected to NATS",
        gauge(|c| i64::from(c.connected.load(Relaxed))),
    );
    r.register(
        "jetstream_in_flight",
        "Sink: publishes awaiting their ack; source: messages not yet acknowledged",
        gauge(|c| c.in_flight.load(Relaxed) as i64),
    );
    r.register(
        "jetstream_held",
        "Sink: records held by the worker while NATS is slow or away",
        gauge(|c| c.held.load(Relaxed) as i64),
    );
}
