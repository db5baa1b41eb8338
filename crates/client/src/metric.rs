//! Performance records: metric samples sent as kind `P` records, which
//! distlogd aggregates into counters, gauges and histograms (`GET /metrics`).
//!
//! ```
//! // Without `distlog::init` nothing is sent; the checks still run.
//! use distlog::MetricKind;
//! distlog::metric("jobs_done", 1.0, MetricKind::Counter, &[("queue", "fast")]).unwrap();
//! assert!(distlog::metric("9lives", 1.0, MetricKind::Gauge, &[]).is_err());
//! {
//!     let _t = distlog::timed("step_seconds", &[("step", "parse")]).unwrap();
//!     // ... the timed work; the sample is sent when `_t` is dropped
//! }
//! ```

use std::borrow::Cow;
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::record::{emit_with, Event, Level, Site};
use crate::Error;

/// The logger name of metric records; the sender gives records of this
/// logger the topic `<system>PJ`.
pub(crate) const METRIC_LOGGER: &str = "distlog.metric";
const MAX_LABELS: usize = 16;
const MAX_LABEL_VALUE: usize = 256;

/// What distlogd makes of a metric name (its first sample decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Values are added; never negative.
    Counter,
    /// The last value wins.
    Gauge,
    /// Values are observed into buckets (1 ms to 300 s, for seconds).
    Histogram,
}

impl MetricKind {
    fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

fn valid(name: &str, colons: bool) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic()
                || c == '_'
                || (colons && c == ':')
                || (i > 0 && c.is_ascii_digit())
        })
}

fn check(name: &str, value: f64, kind: MetricKind, labels: &[(&str, &str)]) -> Result<(), Error> {
    let bad = |why: String| Err(Error::BadMetric(why));
    if !valid(name, true) {
        return bad(format!(
            "name {name:?} is not [a-zA-Z_:][a-zA-Z0-9_:]* of at most 128 chars"
        ));
    }
    if !value.is_finite() || (kind == MetricKind::Counter && value < 0.0) {
        return bad(format!(
            "value {value} of {name} is not finite (counters: not negative)"
        ));
    }
    if labels.len() > MAX_LABELS {
        return bad(format!(
            "{} labels on {name}, at most {MAX_LABELS}",
            labels.len()
        ));
    }
    for (k, v) in labels {
        if !valid(k, false) || k.starts_with("__") || *k == "le" || *k == "quantile" {
            return bad(format!(
                "label name {k:?} is not [a-zA-Z_][a-zA-Z0-9_]* (nor le, quantile, __*)"
            ));
        }
        if v.len() > MAX_LABEL_VALUE {
            return bad(format!("label {k} is longer than {MAX_LABEL_VALUE} bytes"));
        }
    }
    Ok(())
}

/// Sends one sample of `name`, with `labels` (distlogd adds `host`). A bad
/// name, value or label is an error here, where the mistake is; sending
/// never blocks (a full queue drops and counts, as for log records).
#[track_caller]
pub fn metric(
    name: &str,
    value: f64,
    kind: MetricKind,
    labels: &[(&str, &str)],
) -> Result<(), Error> {
    check(name, value, kind, labels)?;
    send(name, value, kind, labels, Site::caller());
    Ok(())
}

fn send(name: &str, value: f64, kind: MetricKind, labels: &[(&str, &str)], site: Site) {
    let mut fields = Map::new();
    fields.insert("metric".into(), json!(name));
    fields.insert("metric_kind".into(), json!(kind.as_str()));
    fields.insert("metric_value".into(), json!(value));
    let labels: Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    fields.insert("metric_labels".into(), Value::Object(labels));
    emit_with(
        Level::Info,
        Cow::Borrowed(METRIC_LOGGER),
        format!("{} {name}={value}", kind.as_str()),
        site,
        None,
        Event::None,
        Some(fields),
    );
}

/// Times until dropped, then sends the seconds as a histogram sample of
/// its name, with `outcome="ok"` (or `"error"` when dropped while
/// panicking, or after [`Timer::failed`]).
#[must_use = "the sample is sent when the timer is dropped"]
pub struct Timer {
    name: String,
    labels: Vec<(String, String)>,
    started: Instant,
    failed: bool,
    site: Site,
}

impl Timer {
    /// Marks the timed work as failed: the sample gets `outcome="error"`.
    pub fn failed(&mut self) {
        self.failed = true;
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let seconds = self.started.elapsed().as_secs_f64();
        let outcome = if self.failed || std::thread::panicking() {
            "error"
        } else {
            "ok"
        };
        let mut labels: Vec<(&str, &str)> = self
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        labels.push(("outcome", outcome));
        send(
            &self.name,
            seconds,
            MetricKind::Histogram,
            &labels,
            self.site.clone(),
        );
    }
}

/// Starts a [`Timer`] for histogram `name`.
#[track_caller]
pub fn timed(name: &str, labels: &[(&str, &str)]) -> Result<Timer, Error> {
    let mut with_outcome = labels.to_vec();
    with_outcome.push(("outcome", "ok"));
    check(name, 0.0, MetricKind::Histogram, &with_outcome)?;
    Ok(Timer {
        name: name.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        started: Instant::now(),
        failed: false,
        site: Site::caller(),
    })
}
