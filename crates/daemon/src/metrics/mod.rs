//! Metrics: what clients report as kind `P` records, what the closing
//! records of scopes say (count, failures, duration per kind of scope), and
//! the daemon's own figures, served at `GET /metrics` (see docs/http-api.md).
//!
//! Aggregation runs on the intake thread, so it is kept to a hash lookup and
//! an atomic add per record; only `P` records and closing records reach it.
//! Both kinds of series are capped: a new label set past the cap is dropped
//! and counted, so a client that puts a request id in a label cannot grow
//! the daemon without bound.

mod export;
mod normalise;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use distlog_proto::{Kind, Record, ScopeEvent, System};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use serde_json::Value;

pub use export::metrics_handler;
pub use normalise::normalise;

/// Label sets distinct per metric name, summed over all names, past which
/// new client series are dropped.
pub const MAX_APP_SERIES: usize = 10_000;
/// Distinct (scope, host, system) sets past which new scope series are
/// dropped.
pub const MAX_SCOPE_SERIES: usize = 10_000;
/// Labels one client metric may carry (besides `host`).
pub const MAX_LABELS: usize = 16;
const MAX_NAME: usize = 128;
const MAX_LABEL_VALUE: usize = 256;
/// How often a bad metric record is logged; the rest are only counted.
const WARN_INTERVAL: Duration = Duration::from_secs(1);

/// Histogram bounds, in seconds for durations: 1 ms to 5 min.
pub const BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

type Labels = Vec<(String, String)>;
type FloatCounter = Counter<f64, AtomicU64>;
type FloatGauge = Gauge<f64, AtomicU64>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Why a `P` record was not taken as a metric. The record itself is still
/// stored and routed like any other.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricError {
    NoName,
    BadName(String),
    BadValue(String),
    BadKind(String),
    BadLabels(String),
    KindConflict {
        name: String,
        was: MetricKind,
        now: MetricKind,
    },
}

impl MetricError {
    /// Every reason, as counted in `distlog_metric_records_rejected_total`.
    pub const REASONS: [&'static str; 6] = [
        "no_name",
        "bad_name",
        "bad_value",
        "bad_kind",
        "bad_labels",
        "kind_conflict",
    ];

    pub fn reason(&self) -> &'static str {
        match self {
            MetricError::NoName => "no_name",
            MetricError::BadName(_) => "bad_name",
            MetricError::BadValue(_) => "bad_value",
            MetricError::BadKind(_) => "bad_kind",
            MetricError::BadLabels(_) => "bad_labels",
            MetricError::KindConflict { .. } => "kind_conflict",
        }
    }
}

impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricError::NoName => {
                write!(f, "performance record without a `metric` name (a string)")
            }
            MetricError::BadName(n) => write!(
                f,
                "metric name {n:?} is not [a-zA-Z_:][a-zA-Z0-9_:]* of at most {MAX_NAME} chars"
            ),
            MetricError::BadValue(v) => write!(
                f,
                "metric value {v} is not a finite number (counters: not negative)"
            ),
            MetricError::BadKind(k) => {
                write!(
                    f,
                    "metric_kind {k} is not \"counter\", \"gauge\" or \"histogram\""
                )
            }
            MetricError::BadLabels(why) => write!(f, "metric labels: {why}"),
            MetricError::KindConflict { name, was, now } => write!(
                f,
                "metric {name:?} is a {was} (its first record said so), not a {now}"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        })
    }
}

#[derive(Clone, Debug)]
enum AppFamily {
    Counter(Family<Labels, FloatCounter>),
    Gauge(Family<Labels, FloatGauge>),
    Histogram(Histograms),
}

struct AppMetric {
    kind: MetricKind,
    family: AppFamily,
    series: HashSet<Labels>,
}

#[derive(Default)]
struct App {
    metrics: BTreeMap<String, AppMetric>,
    series: usize,
}

struct Scopes {
    runs: Family<Labels, Counter>,
    failures: Family<Labels, Counter>,
    durations: Histograms,
    /// Each series' metrics, taken from the families once: a closing record
    /// then costs one lookup here and atomic adds, not a label set built
    /// and hashed into three families (this runs on the intake thread).
    series: Mutex<HashMap<(String, String, System), ScopeSeries>>,
}

/// Handles sharing their values with the families' entries.
struct ScopeSeries {
    runs: Counter,
    failures: Counter,
    durations: Histogram,
}

/// A client metric as a `P` record's body gives it.
#[derive(Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub kind: MetricKind,
    pub value: f64,
    pub labels: Labels,
}

pub struct Metrics {
    app: Mutex<App>,
    scopes: Scopes,
    accepted: AtomicU64,
    rejected: [AtomicU64; MetricError::REASONS.len()],
    /// New series refused by the caps: [client metrics, scopes].
    dropped_series: [AtomicU64; 2],
    client_dropped: AtomicU64,
    last_warn: Mutex<Option<Instant>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            app: Mutex::default(),
            scopes: Scopes {
                runs: Family::default(),
                failures: Family::default(),
                durations: Family::new_with_constructor(histogram),
                series: Mutex::default(),
            },
            accepted: AtomicU64::new(0),
            rejected: Default::default(),
            dropped_series: Default::default(),
            client_dropped: AtomicU64::new(0),
            last_warn: Mutex::new(None),
        }
    }
}

impl Metrics {
    /// Takes what a decoded record says: a client metric (kind `P`), a
    /// scope's end (closing or failure record) or a client's drop report.
    pub fn observe(&self, record: &Record) {
        match record.topic.kind {
            Kind::Performance => match parse_sample(record) {
                Ok(sample) => match self.add_sample(sample) {
                    Ok(()) => {}
                    Err(e) => self.reject(&e),
                },
                Err(e) => self.reject(&e),
            },
            Kind::Log => {
                if let Some(event @ (ScopeEvent::Close | ScopeEvent::Fail)) = record.event {
                    self.scope_end(record, event == ScopeEvent::Fail);
                } else if record.logger == "distlog" && record.body.contains("\"dropped_records\"")
                {
                    self.drop_report(record);
                }
            }
            Kind::Heartbeat => {}
        }
    }

    fn reject(&self, err: &MetricError) {
        let i = MetricError::REASONS
            .iter()
            .position(|r| *r == err.reason())
            .unwrap_or(0);
        self.rejected[i].fetch_add(1, Relaxed);
        let now = Instant::now();
        if let Ok(mut last) = self.last_warn.lock() {
            if last.is_none_or(|t| now.duration_since(t) >= WARN_INTERVAL) {
                *last = Some(now);
                tracing::warn!(
                    reason = err.reason(),
                    "performance record not taken as a metric: {err}"
                );
            }
        }
    }

    /// Adds a sample to its series, creating the metric on its first record
    /// (which fixes its kind) and the series if under the cap.
    pub fn add_sample(&self, s: Sample) -> Result<(), MetricError> {
        let Ok(mut app) = self.app.lock() else {
            return Ok(());
        };
        let app = &mut *app;
        if !app.metrics.contains_key(&s.name) {
            if app.series >= MAX_APP_SERIES {
                self.dropped_series[0].fetch_add(1, Relaxed);
                return Ok(());
            }
            let family = match s.kind {
                MetricKind::Counter => AppFamily::Counter(Family::default()),
                MetricKind::Gauge => AppFamily::Gauge(Family::default()),
                MetricKind::Histogram => {
                    AppFamily::Histogram(Family::new_with_constructor(histogram))
                }
            };
            app.metrics.insert(
                s.name.clone(),
                AppMetric {
                    kind: s.kind,
                    family,
                    series: HashSet::new(),
                },
            );
        }
        let Some(metric) = app.metrics.get_mut(&s.name) else {
            return Ok(());
        };
        if metric.kind != s.kind {
            return Err(MetricError::KindConflict {
                name: s.name,
                was: metric.kind,
                now: s.kind,
            });
        }
        if !metric.series.contains(&s.labels) {
            if app.series >= MAX_APP_SERIES {
                self.dropped_series[0].fetch_add(1, Relaxed);
                return Ok(());
            }
            metric.series.insert(s.labels.clone());
            app.series += 1;
        }
        match &metric.family {
            AppFamily::Counter(f) => {
                f.get_or_create(&s.labels).inc_by(s.value);
            }
            AppFamily::Gauge(f) => {
                f.get_or_create(&s.labels).set(s.value);
            }
            AppFamily::Histogram(f) => f.get_or_create(&s.labels).observe(s.value),
        }
        self.accepted.fetch_add(1, Relaxed);
        Ok(())
    }

    fn scope_end(&self, record: &Record, failed: bool) {
        let key = (
            normalise(&record.message),
            record.hostname.clone(),
            record.topic.system,
        );
        let Ok(mut series) = self.scopes.series.lock() else {
            return;
        };
        let len = series.len();
        let s = match series.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(_) if len >= MAX_SCOPE_SERIES => {
                self.dropped_series[1].fetch_add(1, Relaxed);
                return;
            }
            Entry::Vacant(e) => {
                let (scope, host, system) = e.key().clone();
                let labels = vec![
                    ("scope".to_string(), scope),
                    ("host".to_string(), host),
                    ("system".to_string(), system_name(system).to_string()),
                ];
                // Failures are created with the series, so that a failure
                // rate reads 0, not absent, for scopes that never failed.
                e.insert(ScopeSeries {
                    runs: self.scopes.runs.get_or_create(&labels).clone(),
                    failures: self.scopes.failures.get_or_create(&labels).clone(),
                    durations: self.scopes.durations.get_or_create(&labels).clone(),
                })
            }
        };
        s.runs.inc();
        if failed {
            s.failures.inc();
        }
        if let Some(d) = record.duration.filter(|d| d.is_finite() && *d >= 0.0) {
            s.durations.observe(d);
        }
    }

    fn drop_report(&self, record: &Record) {
        let Ok(body) = serde_json::from_str::<Value>(&record.body) else {
            return;
        };
        if let Some(n) = body.get("dropped_records").and_then(Value::as_u64) {
            self.client_dropped.fetch_add(n, Relaxed);
        }
    }
}

pub fn system_name(system: System) -> &'static str {
    match system {
        System::Test => "test",
        System::Staging => "staging",
        System::Production => "production",
    }
}

/// Reads a `P` record's metric fields: `metric` (name), `metric_value`,
/// `metric_kind` (default gauge) and `metric_labels`.
pub fn parse_sample(record: &Record) -> Result<Sample, MetricError> {
    let body: Value = serde_json::from_str(&record.body).map_err(|_| MetricError::NoName)?;
    let name = match body.get("metric") {
        Some(Value::String(n)) => n.as_str(),
        _ => return Err(MetricError::NoName),
    };
    if !valid_name(name, true) {
        return Err(MetricError::BadName(
            name.chars().take(MAX_NAME + 8).collect(),
        ));
    }
    let kind = match body.get("metric_kind") {
        None | Some(Value::Null) => MetricKind::Gauge,
        Some(Value::String(k)) if k == "counter" => MetricKind::Counter,
        Some(Value::String(k)) if k == "gauge" => MetricKind::Gauge,
        Some(Value::String(k)) if k == "histogram" => MetricKind::Histogram,
        Some(other) => return Err(MetricError::BadKind(short(other))),
    };
    let value = match body.get("metric_value") {
        Some(Value::Number(n)) => n.as_f64().filter(|v| v.is_finite()),
        _ => None,
    };
    let value = match value {
        Some(v) if kind != MetricKind::Counter || v >= 0.0 => v,
        _ => {
            let shown = body
                .get("metric_value")
                .map(short)
                .unwrap_or_else(|| "(none)".into());
            return Err(MetricError::BadValue(shown));
        }
    };
    let mut labels: Labels = Vec::new();
    match body.get("metric_labels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            if map.len() > MAX_LABELS {
                return Err(MetricError::BadLabels(format!(
                    "{} labels, at most {MAX_LABELS} allowed",
                    map.len()
                )));
            }
            for (k, v) in map {
                if !valid_name(k, false) || k.starts_with("__") || k == "le" || k == "quantile" {
                    return Err(MetricError::BadLabels(format!(
                        "label name {:?} is not [a-zA-Z_][a-zA-Z0-9_]* (nor le, quantile, __*)",
                        k.chars().take(MAX_NAME).collect::<String>()
                    )));
                }
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(_) | Value::Bool(_) => v.to_string(),
                    other => {
                        return Err(MetricError::BadLabels(format!(
                            "label {k:?} has value {}, not a string, number or bool",
                            short(other)
                        )))
                    }
                };
                if v.len() > MAX_LABEL_VALUE {
                    return Err(MetricError::BadLabels(format!(
                        "label {k:?} is {} bytes long, at most {MAX_LABEL_VALUE} allowed",
                        v.len()
                    )));
                }
                labels.push((k.clone(), v));
            }
        }
        Some(other) => {
            return Err(MetricError::BadLabels(format!(
                "{} is not a map",
                short(other)
            )))
        }
    }
    if !labels.iter().any(|(k, _)| k == "host") {
        labels.push(("host".into(), record.hostname.clone()));
    }
    labels.sort();
    // prometheus-client adds `_total` to counters itself.
    let name = match kind {
        MetricKind::Counter => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    };
    Ok(Sample {
        name: name.to_string(),
        kind,
        value,
        labels,
    })
}

fn valid_name(name: &str, colons: bool) -> bool {
    let ok = |c: char, first: bool| {
        c.is_ascii_alphabetic()
            || c == '_'
            || (colons && c == ':')
            || (!first && c.is_ascii_digit())
    };
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.chars().enumerate().all(|(i, c)| ok(c, i == 0))
        && name != "_total"
}

fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 60 {
        let mut cut = 60;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests;
