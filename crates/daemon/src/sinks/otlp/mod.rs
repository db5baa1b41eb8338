//! `type: otlp`: records as OpenTelemetry log records, and the ends of
//! scopes as spans, posted as OTLP/HTTP protobuf to `<endpoint>/v1/logs`
//! and `<endpoint>/v1/traces`, so Jaeger, Grafana or an OpenTelemetry
//! Collector show distlog's trees. The id mapping is in [`ids`] and
//! docs/otlp.md.
//!
//! ```yaml
//! sinks:
//!   otel:
//!     type: otlp
//!     endpoint: http://localhost:4318
//! ```

mod convert;
pub mod ids;
mod request;
mod send;
mod values;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde::Deserialize;

use super::runner::{self, Lost, SinkHandle, SinkStats, Threads, Worker};
use super::units::parse_duration;
use super::{QueueConfig, SinkConfig, WhenFull};
use crate::pipeline::Routed;
use convert::Converter;
use request::Item;
use send::{OtlpStats, Retry, Sender, Signal};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpSinkConfig {
    /// The receiver's base URL, e.g. `http://localhost:4318`; the paths
    /// `/v1/logs` and `/v1/traces` are added.
    pub endpoint: String,
    /// Export records as log records (default true).
    #[serde(default)]
    pub logs: Option<bool>,
    /// Export the closing and failure records of scopes as spans (default
    /// true).
    #[serde(default)]
    pub spans: Option<bool>,
    /// The resource's `service.name` (default `distlog`).
    #[serde(default)]
    pub service_name: Option<String>,
    /// Sent with every request, e.g. `authorization: Bearer …`.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub batch: Option<BatchConfig>,
    /// How long one request may take (default `10s`).
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// Log records (and, apart, spans) held in requests waiting for the
    /// receiver (default 50,000 each); past it new ones are dropped and
    /// counted.
    #[serde(default)]
    pub max_pending: Option<usize>,
    #[serde(default)]
    pub queue: Option<QueueConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Log records (or spans) per request (default 512).
    #[serde(default)]
    pub size: Option<usize>,
    /// How long an item may wait for company (default `1s`).
    #[serde(default)]
    pub delay: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// The first wait after a failed attempt (default `1s`), doubled per
    /// failure up to `max`.
    #[serde(default)]
    pub initial: Option<String>,
    /// The longest wait between attempts (default `30s`).
    #[serde(default)]
    pub max: Option<String>,
    /// A request failing for this long is dropped (default `10m`).
    #[serde(default)]
    pub give_up_after: Option<String>,
}

/// The settings with their defaults filled in.
struct Settings {
    logs: bool,
    spans: bool,
    service: String,
    headers: Vec<(String, String)>,
    batch_size: usize,
    delay: Duration,
    timeout: Duration,
    retry: Retry,
    max_pending: usize,
}

fn duration_or(text: Option<&String>, default: Duration, what: &str) -> Result<Duration> {
    text.map_or(Ok(default), |t| parse_duration(t).context(what.to_owned()))
}

impl OtlpSinkConfig {
    pub fn validated(self) -> Result<OtlpSinkConfig> {
        self.settings()?;
        Ok(self)
    }

    fn settings(&self) -> Result<Settings> {
        let e = self.endpoint.trim_end_matches('/');
        if e.starts_with("https://") {
            bail!(
                "endpoint {:?}: this distlogd sends OTLP over plain http only; \
                 send to a local OpenTelemetry Collector (http://localhost:4318) and let it use TLS",
                self.endpoint
            );
        }
        let Some(rest) = e.strip_prefix("http://") else {
            bail!(
                "endpoint {:?} is not an http:// URL (the OTLP/HTTP receiver's base, like http://localhost:4318)",
                self.endpoint
            );
        };
        if rest.is_empty() || rest.starts_with('/') {
            bail!("endpoint {:?} names no host", self.endpoint);
        }
        if e.ends_with("/v1/logs") || e.ends_with("/v1/traces") {
            bail!(
                "endpoint {:?}: give the receiver's base URL; /v1/logs and /v1/traces are added",
                self.endpoint
            );
        }
        let logs = self.logs.unwrap_or(true);
        let spans = self.spans.unwrap_or(true);
        if !logs && !spans {
            bail!("logs and spans are both off: the sink would send nothing");
        }
        let mut headers = Vec::new();
        for (k, v) in self.headers.iter().flatten() {
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if k.is_empty() || !k.chars().all(token) {
                bail!("headers: {k:?} is not an HTTP header name");
            }
            if v.chars().any(|c| c.is_control() && c != '\t') {
                bail!("headers: the value of {k:?} has a control character (a line break?)");
            }
            headers.push((k.clone(), v.clone()));
        }
        let batch = self.batch.as_ref();
        let batch_size = batch.and_then(|b| b.size).unwrap_or(512);
        if batch_size == 0 {
            bail!("batch.size must be at least 1");
        }
        let delay = duration_or(
            batch.and_then(|b| b.delay.as_ref()),
            Duration::from_secs(1),
            "batch.delay",
        )?;
        let r = self.retry.as_ref();
        let retry = Retry {
            initial: duration_or(
                r.and_then(|r| r.initial.as_ref()),
                Duration::from_secs(1),
                "retry.initial",
            )?,
            max: duration_or(
                r.and_then(|r| r.max.as_ref()),
                Duration::from_secs(30),
                "retry.max",
            )?,
            give_up_after: duration_or(
                r.and_then(|r| r.give_up_after.as_ref()),
                Duration::from_secs(600),
                "retry.give_up_after",
            )?,
        };
        if retry.initial > retry.max {
            bail!("retry.initial is longer than retry.max");
        }
        let max_pending = self.max_pending.unwrap_or(50_000);
        if max_pending == 0 {
            bail!("max_pending must be at least 1");
        }
        Ok(Settings {
            logs,
            spans,
            service: self
                .service_name
                .clone()
                .unwrap_or_else(|| "distlog".into()),
            headers,
            batch_size,
            delay,
            timeout: duration_or(self.timeout.as_ref(), Duration::from_secs(10), "timeout")?,
            retry,
            max_pending,
        })
    }
}

struct OtlpWorker {
    settings: Settings,
    converter: Converter,
    logs: Vec<Item<LogRecord>>,
    spans: Vec<Item<Span>>,
    /// When the oldest buffered item came in.
    since: Option<Instant>,
    /// One per signal, indexed by `Signal`: a receiver that takes traces
    /// but fails on logs (or the other way) holds up only that signal.
    senders: [Sender; 2],
}

impl OtlpWorker {
    fn flush_logs(&mut self) {
        let items = std::mem::take(&mut self.logs);
        let n = items.len();
        if n > 0 {
            let body = request::logs_request(&self.settings.service, items).encode_to_vec();
            self.senders[Signal::Logs as usize].push(Signal::Logs, body, n);
        }
    }

    fn flush_spans(&mut self) {
        let items = std::mem::take(&mut self.spans);
        let n = items.len();
        if n > 0 {
            let body = request::traces_request(&self.settings.service, items).encode_to_vec();
            self.senders[Signal::Traces as usize].push(Signal::Traces, body, n);
        }
    }

    /// Flushes what has waited `batch.delay`, then sends what is due.
    fn due(&mut self) {
        if self
            .since
            .is_some_and(|t| t.elapsed() >= self.settings.delay)
        {
            self.flush_logs();
            self.flush_spans();
            self.since = None;
        }
        for s in &mut self.senders {
            s.pump(false);
        }
    }
}

impl Worker for OtlpWorker {
    fn attach(&mut self, stats: &Arc<SinkStats>) {
        for s in &mut self.senders {
            s.sink_stats = stats.clone();
        }
    }

    fn write(&mut self, batch: &[Arc<Routed>]) -> Result<(), Lost> {
        let (logs, spans) = (self.settings.logs, self.settings.spans);
        for r in batch {
            let (log, span) = self.converter.convert(r, logs, spans);
            if let Some(l) = log {
                self.logs.push(l);
                if self.logs.len() >= self.settings.batch_size {
                    self.flush_logs();
                }
            }
            if let Some(s) = span {
                self.spans.push(s);
                if self.spans.len() >= self.settings.batch_size {
                    self.flush_spans();
                }
            }
        }
        if self.since.is_none() && !(self.logs.is_empty() && self.spans.is_empty()) {
            self.since = Some(Instant::now());
        }
        self.due();
        Ok(())
    }

    fn tick(&mut self) {
        self.due();
    }

    fn finish(&mut self) {
        self.flush_logs();
        self.flush_spans();
        for s in &mut self.senders {
            s.pump(true);
        }
    }
}

pub fn start(
    name: &str,
    config: &SinkConfig,
    c: &OtlpSinkConfig,
    threads: &Threads,
) -> Result<Arc<SinkHandle>> {
    let s = c.settings()?;
    let stats = Arc::<OtlpStats>::default();
    let sender = || {
        let mut sender = Sender::new(
            name,
            &c.endpoint,
            s.headers.clone(),
            s.timeout,
            s.max_pending,
            s.retry.clone(),
        );
        sender.stats = stats.clone();
        sender
    };
    let senders = [sender(), sender()];
    let worker = OtlpWorker {
        settings: s,
        converter: Converter::default(),
        logs: Vec::new(),
        spans: Vec::new(),
        since: None,
        senders,
    };
    let handle = runner::spawn(
        name,
        config,
        c.queue.as_ref(),
        (10_000, WhenFull::Drop),
        worker,
        threads,
    )?;
    handle.set_report(Box::new(move || stats.json()));
    Ok(handle)
}

#[cfg(test)]
mod tests;
