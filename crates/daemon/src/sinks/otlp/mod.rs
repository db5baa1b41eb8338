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

mod backlog;
mod convert;
mod http;
pub mod ids;
mod request;
mod send;
mod split;
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
use super::units::{parse_duration, parse_size};
use super::{QueueConfig, SinkConfig, WhenFull};
use crate::pipeline::Routed;
use convert::Converter;
use request::Item;
use send::{OtlpStats, Retry, SendLimits, Sender, Signal, SignalThread, SHUTDOWN_GRACE};

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
    /// Encoded bytes (of log records, and apart of spans) waiting for the
    /// receiver (default `64MiB` each); past it new requests are dropped
    /// and counted.
    #[serde(default)]
    pub max_pending_bytes: Option<String>,
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
    /// The largest request body (default `4MiB`): a batch is sent early
    /// rather than grow past it.
    #[serde(default)]
    pub max_bytes: Option<String>,
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
    batch_bytes: usize,
    delay: Duration,
    timeout: Duration,
    retry: Retry,
    max_pending: usize,
    max_pending_bytes: usize,
}

fn size_or(text: Option<&String>, default: usize, what: &str) -> Result<usize> {
    let n = match text {
        Some(t) => parse_size(t).context(what.to_owned())?,
        None => return Ok(default),
    };
    if n == 0 {
        bail!("{what} must be more than 0");
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
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
        let batch_bytes = size_or(
            batch.and_then(|b| b.max_bytes.as_ref()),
            4 << 20,
            "batch.max_bytes",
        )?;
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
        let max_pending_bytes = size_or(
            self.max_pending_bytes.as_ref(),
            64 << 20,
            "max_pending_bytes",
        )?;
        Ok(Settings {
            logs,
            spans,
            service: self
                .service_name
                .clone()
                .unwrap_or_else(|| "distlog".into()),
            headers,
            batch_size,
            batch_bytes,
            delay,
            timeout: duration_or(self.timeout.as_ref(), Duration::from_secs(10), "timeout")?,
            retry,
            max_pending,
            max_pending_bytes,
        })
    }
}

struct OtlpWorker {
    settings: Settings,
    converter: Converter,
    logs: Vec<Item<LogRecord>>,
    spans: Vec<Item<Span>>,
    /// About the encoded size of `logs` and of `spans`.
    logs_bytes: usize,
    spans_bytes: usize,
    /// When the oldest buffered item came in.
    since: Option<Instant>,
    /// One per signal, indexed by `Signal`, each with its own backlog and
    /// thread: a receiver that takes traces but fails (or hangs) on logs,
    /// or the other way, holds up only that signal.
    senders: [SignalThread; 2],
}

/// About what an item adds to a request: itself, its field's tag and
/// length, and (counted for every item, so a little over) its resource
/// and scope.
fn weight<T: prost::Message>(item: &Item<T>) -> usize {
    item.value.encoded_len() + item.logger.len() + item.origin.host.len() + 96
}

impl OtlpWorker {
    fn flush_logs(&mut self) {
        let items = std::mem::take(&mut self.logs);
        self.logs_bytes = 0;
        let n = items.len();
        if n > 0 {
            let body = request::logs_request(&self.settings.service, items).encode_to_vec();
            self.senders[Signal::Logs as usize]
                .common
                .push(Signal::Logs, body, n);
        }
    }

    fn flush_spans(&mut self) {
        let items = std::mem::take(&mut self.spans);
        self.spans_bytes = 0;
        let n = items.len();
        if n > 0 {
            let body = request::traces_request(&self.settings.service, items).encode_to_vec();
            self.senders[Signal::Traces as usize]
                .common
                .push(Signal::Traces, body, n);
        }
    }

    /// Flushes what has waited `batch.delay`.
    fn due(&mut self) {
        if self
            .since
            .is_some_and(|t| t.elapsed() >= self.settings.delay)
        {
            self.flush_logs();
            self.flush_spans();
            self.since = None;
        }
    }
}

impl Worker for OtlpWorker {
    fn attach(&mut self, stats: &Arc<SinkStats>) {
        for s in &self.senders {
            let _ = s.common.sink_stats.set(stats.clone());
        }
    }

    fn write(&mut self, batch: &[Arc<Routed>]) -> Result<(), Lost> {
        let (logs, spans) = (self.settings.logs, self.settings.spans);
        let (size, bytes) = (self.settings.batch_size, self.settings.batch_bytes);
        for r in batch {
            let (log, span) = self.converter.convert(r, logs, spans);
            if let Some(l) = log {
                let w = weight(&l);
                if !self.logs.is_empty() && self.logs_bytes + w > bytes {
                    self.flush_logs();
                }
                self.logs_bytes += w;
                self.logs.push(l);
                if self.logs.len() >= size || self.logs_bytes >= bytes {
                    self.flush_logs();
                }
            }
            if let Some(s) = span {
                let w = weight(&s);
                if !self.spans.is_empty() && self.spans_bytes + w > bytes {
                    self.flush_spans();
                }
                self.spans_bytes += w;
                self.spans.push(s);
                if self.spans.len() >= size || self.spans_bytes >= bytes {
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
        // Both signals at once, so a stop waits for the receiver at most
        // about this long, not once per signal.
        let deadline = Instant::now() + self.settings.timeout.min(SHUTDOWN_GRACE);
        for s in &self.senders {
            s.close(deadline);
        }
        for s in &mut self.senders {
            s.join(deadline);
        }
    }
}

/// The worker with its two sender threads running.
fn worker(name: &str, c: &OtlpSinkConfig, stats: &Arc<OtlpStats>) -> Result<OtlpWorker> {
    let s = c.settings()?;
    let limits = SendLimits {
        timeout: s.timeout,
        max_pending: s.max_pending,
        max_pending_bytes: s.max_pending_bytes,
    };
    let thread = |signal: Signal| -> Result<SignalThread> {
        Sender::new(
            name,
            &c.endpoint,
            s.headers.clone(),
            &limits,
            s.retry.clone(),
            stats.clone(),
        )
        .spawn(signal)
        .with_context(|| format!("starting the otlp sink {name}'s {signal:?} thread"))
    };
    let senders = [thread(Signal::Logs)?, thread(Signal::Traces)?];
    Ok(OtlpWorker {
        settings: s,
        converter: Converter::default(),
        logs: Vec::new(),
        spans: Vec::new(),
        logs_bytes: 0,
        spans_bytes: 0,
        since: None,
        senders,
    })
}

pub fn start(
    name: &str,
    config: &SinkConfig,
    c: &OtlpSinkConfig,
    threads: &Threads,
) -> Result<Arc<SinkHandle>> {
    let stats = Arc::<OtlpStats>::default();
    let worker = worker(name, c, &stats)?;
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
