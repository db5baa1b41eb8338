//! `GET /metrics`: everything in one registry, encoded by prometheus-client
//! in the OpenMetrics text format (which Prometheus scrapes as well).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use distlog_proto::DecodeError;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use serde_json::Value;
use std::sync::atomic::Ordering::Relaxed;

use super::{AppFamily, Labels, MetricError, Metrics};
use crate::http::Api;
use crate::stats::Stats;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub async fn metrics_handler(State(api): State<Api>) -> Response {
    let store = api.store().map(|(name, store)| (name, store.stats()));
    let pipeline = api.switch.current();
    let sinks: Vec<Value> = pipeline.sinks.iter().map(|s| s.to_json()).collect();
    let mut registry = Registry::with_prefix("distlog");
    daemon_figures(&mut registry, &api.stats, &sinks, store.as_ref());
    pipeline.tail_counters.register(&mut registry);
    otlp_figures(&mut registry, &sinks);
    api.stats.metrics.register(&mut registry);
    crate::jetstream::register_metrics(&mut registry);
    let mut out = String::new();
    match encode(&mut out, &registry) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], out).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics failed: {e}"),
        )
            .into_response(),
    }
}

fn label(k: &str, v: impl Into<String>) -> Labels {
    vec![(k.to_string(), v.into())]
}

fn counter_family(values: impl IntoIterator<Item = (Labels, u64)>) -> Family<Labels, Counter> {
    let f = Family::<Labels, Counter>::default();
    for (l, v) in values {
        f.get_or_create(&l).inc_by(v);
    }
    f
}

fn gauge_family(values: impl IntoIterator<Item = (Labels, i64)>) -> Family<Labels, Gauge> {
    let f = Family::<Labels, Gauge>::default();
    for (l, v) in values {
        f.get_or_create(&l).set(v);
    }
    f
}

fn num(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn daemon_figures(
    r: &mut Registry,
    stats: &Stats,
    sinks: &[Value],
    store: Option<&(String, distlog_store::StoreStats)>,
) {
    let c = |v: u64| ConstCounter::new(v);
    r.register(
        "received",
        "Messages received on the intake socket",
        c(stats.received.load(Relaxed)),
    );
    r.register(
        "decoded",
        "Messages decoded into records",
        c(stats.decoded.load(Relaxed)),
    );
    let rejected = DecodeError::REASONS
        .iter()
        .zip(stats.rejected_counts())
        .map(|(reason, n)| (label("reason", *reason), n));
    r.register(
        "rejected",
        "Messages rejected, by reason",
        counter_family(rejected),
    );
    let refused = stats
        .refused
        .by_reason()
        .into_iter()
        .map(|(reason, n)| (label("reason", reason), n));
    r.register(
        "intake_refused",
        "Connections refused at the handshake (CURVE), by reason",
        counter_family(refused),
    );
    r.register(
        "intake_removed_key_messages",
        "Messages dropped because their connection's CURVE key was taken off the allow-list",
        c(stats.refused.removed_key_messages.load(Relaxed)),
    );
    r.register(
        "key_errors",
        "Records kept whose context.key was malformed",
        c(stats.key_errors.load(Relaxed)),
    );
    r.register(
        "heartbeats",
        "Heartbeats received from clients",
        c(stats.heartbeats.load(Relaxed)),
    );
    r.register(
        "client_dropped_records",
        "Records clients reported they dropped (their drop reports)",
        c(stats.metrics.client_dropped.load(Relaxed)),
    );
    let sink = |key: &'static str| {
        sinks.iter().map(move |s| {
            let name = s
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            (label("sink", name), num(s, key))
        })
    };
    r.register(
        "sink_accepted",
        "Records a sink accepted",
        counter_family(sink("accepted")),
    );
    r.register(
        "sink_written",
        "Records a sink wrote",
        counter_family(sink("written")),
    );
    r.register(
        "sink_dropped",
        "Records a sink dropped (queue full)",
        counter_family(sink("dropped")),
    );
    r.register(
        "sink_errors",
        "Write errors of a sink",
        counter_family(sink("errors")),
    );
    r.register(
        "sink_queue_depth",
        "Records waiting in a sink's queue",
        gauge_family(sink("queued").map(|(l, v)| (l, v as i64))),
    );
    if let Some((name, s)) = store {
        let l = || label("sink", name.clone());
        r.register(
            "store_records",
            "Records in the store (after retention)",
            gauge_family([(l(), s.records as i64)]),
        );
        r.register(
            "store_stored",
            "Records indexed since start",
            counter_family([(l(), s.indexed_since_open)]),
        );
        r.register(
            "store_durable",
            "Records synced to the journal since start",
            counter_family([(l(), s.durable)]),
        );
        r.register(
            "store_durable_lag",
            "Records appended to the journal and not yet synced",
            gauge_family([(l(), s.durable_lag as i64)]),
        );
        r.register(
            "store_bytes",
            "Bytes on disk, by part",
            gauge_family([
                (
                    vec![
                        ("sink".into(), name.clone()),
                        ("part".into(), "segments".into()),
                    ],
                    s.segment_bytes as i64,
                ),
                (
                    vec![
                        ("sink".into(), name.clone()),
                        ("part".into(), "filters".into()),
                    ],
                    s.filter_bytes as i64,
                ),
                (
                    vec![
                        ("sink".into(), name.clone()),
                        ("part".into(), "journal".into()),
                    ],
                    s.journal_bytes as i64,
                ),
            ]),
        );
        r.register(
            "store_segments",
            "Segment files",
            gauge_family([(l(), s.segments as i64)]),
        );
        r.register(
            "store_corrupt_blocks",
            "Corrupt blocks found and skipped",
            counter_family([(l(), s.corrupt_blocks)]),
        );
    }
    r.register(
        "uptime_seconds",
        "Seconds since the daemon started",
        ConstGauge::new(stats.uptime_seconds()),
    );
}

/// The `otlp` sinks' own figures (their `otlp` entry in `/api/stats`),
/// registered only when such a sink runs.
fn otlp_figures(r: &mut Registry, sinks: &[Value]) {
    let otlp: Vec<(String, &Value)> = sinks
        .iter()
        .filter_map(|s| {
            let name = s.get("name")?.as_str()?.to_owned();
            Some((name, s.get("otlp")?))
        })
        .collect();
    if otlp.is_empty() {
        return;
    }
    let per_signal = |key: &'static str| {
        otlp.iter().flat_map(move |(name, v)| {
            ["logs", "spans"].map(|signal| {
                let labels = vec![
                    ("sink".to_string(), name.clone()),
                    ("signal".to_string(), signal.to_string()),
                ];
                (labels, v.get(key).map_or(0, |x| num(x, signal)))
            })
        })
    };
    let families = [
        ("otlp_exported", "Log records and spans an OTLP receiver took"),
        ("otlp_rejected", "Log records and spans an OTLP receiver refused (4xx, partial success)"),
        ("otlp_lost", "Log records and spans given up on (backlog full, retries ran out, stopped while the receiver was away)"),
    ];
    for (name, help) in families {
        let key = name.trim_start_matches("otlp_");
        r.register(name, help, counter_family(per_signal(key)));
    }
    r.register(
        "otlp_pending",
        "Log records and spans waiting to be sent to an OTLP receiver",
        gauge_family(per_signal("pending").map(|(l, v)| (l, v as i64))),
    );
    let per_sink = |key: &'static str| {
        otlp.iter()
            .map(move |(name, v)| (label("sink", name.clone()), num(v, key)))
    };
    r.register(
        "otlp_requests",
        "Export requests sent to an OTLP receiver (attempts)",
        counter_family(per_sink("requests")),
    );
    r.register(
        "otlp_failed_attempts",
        "Export attempts that failed and will be retried (5xx, 429, 408, connection errors)",
        counter_family(per_sink("failed_attempts")),
    );
}

impl Metrics {
    /// Registers clones of the live families (they share their values) with
    /// the figures about metrics themselves.
    fn register(&self, r: &mut Registry) {
        let m = self;
        r.register(
            "metric_records",
            "Performance records taken as metric samples",
            ConstCounter::new(m.accepted.load(Relaxed)),
        );
        let rejected = MetricError::REASONS
            .iter()
            .zip(&m.rejected)
            .map(|(reason, n)| (label("reason", *reason), n.load(Relaxed)));
        r.register(
            "metric_records_rejected",
            "Performance records not taken as metrics, by reason",
            counter_family(rejected),
        );
        let dropped = ["app", "scope"]
            .iter()
            .zip(&m.dropped_series)
            .map(|(source, n)| (label("source", *source), n.load(Relaxed)));
        r.register(
            "metric_series_dropped",
            "Samples dropped because their series would pass the cardinality cap",
            counter_family(dropped),
        );
        r.register(
            "scope_runs",
            "Scopes ended, per normalised scope message",
            m.scopes.runs.clone(),
        );
        r.register(
            "scope_failures",
            "Scopes that failed, per normalised scope message",
            m.scopes.failures.clone(),
        );
        r.register(
            "scope_duration_seconds",
            "Scope durations, per normalised scope message",
            m.scopes.durations.clone(),
        );
        let Ok(app) = m.app.lock() else {
            return;
        };
        let sub = r.sub_registry_with_prefix("app");
        for (name, metric) in &app.metrics {
            let help = "Reported by clients (kind P records)";
            match &metric.family {
                AppFamily::Counter(f) => sub.register(name, help, f.clone()),
                AppFamily::Gauge(f) => sub.register(name, help, f.clone()),
                AppFamily::Histogram(f) => sub.register(name, help, f.clone()),
            }
        }
    }
}
