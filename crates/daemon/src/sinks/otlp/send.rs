//! Export requests on their way to the receiver: a bounded backlog, sent in
//! order, retried with backoff on 5xx, 429, 408 and connection errors,
//! dropped on other 4xx. Never sleeps: a request waiting for its next try
//! is looked at again on the sink's next batch or tick.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use serde_json::{json, Value};

use crate::sinks::runner::SinkStats;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Logs,
    Traces,
}

impl Signal {
    fn noun(self) -> &'static str {
        match self {
            Signal::Logs => "log records",
            Signal::Traces => "spans",
        }
    }
}

/// One counter per signal: `[logs, traces]`.
#[derive(Default)]
pub struct PerSignal([AtomicU64; 2]);

impl PerSignal {
    fn add(&self, s: Signal, n: usize) {
        self.0[s as usize].fetch_add(n as u64, Relaxed);
    }
    fn sub(&self, s: Signal, n: usize) {
        self.0[s as usize].fetch_sub(n as u64, Relaxed);
    }
    pub fn json(&self) -> Value {
        json!({"logs": self.0[0].load(Relaxed), "spans": self.0[1].load(Relaxed)})
    }
}

/// What `/api/stats` and `/metrics` show of an OTLP sink.
#[derive(Default)]
pub struct OtlpStats {
    /// Items the receiver took.
    pub exported: PerSignal,
    /// Items the receiver refused (4xx, or a partial success's rejects).
    pub rejected: PerSignal,
    /// Items given up on: the backlog was full, retries ran out, or the
    /// daemon stopped while the receiver was away.
    pub lost: PerSignal,
    /// Items in requests waiting to be sent.
    pub pending: PerSignal,
    pub requests: AtomicU64,
    /// Attempts that failed in a way worth retrying.
    pub failed_attempts: AtomicU64,
}

impl OtlpStats {
    pub fn json(&self) -> Value {
        json!({
            "exported": self.exported.json(),
            "rejected": self.rejected.json(),
            "lost": self.lost.json(),
            "pending": self.pending.json(),
            "requests": self.requests.load(Relaxed),
            "failed_attempts": self.failed_attempts.load(Relaxed),
        })
    }
}

struct Request {
    signal: Signal,
    body: Vec<u8>,
    items: usize,
    /// When its first attempt failed.
    failing_since: Option<Instant>,
}

#[derive(Clone)]
pub struct Retry {
    pub initial: Duration,
    pub max: Duration,
    pub give_up_after: Duration,
}

pub struct Sender {
    pub name: String,
    agent: ureq::Agent,
    endpoint: String,
    headers: Vec<(String, String)>,
    backlog: VecDeque<Request>,
    backlog_items: usize,
    max_pending: usize,
    retry: Retry,
    delay: Duration,
    next_attempt: Option<Instant>,
    pub stats: Arc<OtlpStats>,
    pub sink_stats: Arc<SinkStats>,
}

enum Outcome {
    Sent {
        rejected: usize,
    },
    Refused(String),
    Retry {
        why: String,
        after: Option<Duration>,
    },
}

impl Sender {
    pub fn new(
        name: &str,
        endpoint: &str,
        headers: Vec<(String, String)>,
        timeout: Duration,
        max_pending: usize,
        retry: Retry,
    ) -> Sender {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("distlogd/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Sender {
            name: name.to_owned(),
            agent,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            headers,
            backlog: VecDeque::new(),
            backlog_items: 0,
            max_pending,
            delay: retry.initial,
            retry,
            next_attempt: None,
            stats: Arc::default(),
            sink_stats: Arc::default(),
        }
    }

    /// Queues an encoded request, or drops it when the backlog is full.
    pub fn push(&mut self, signal: Signal, body: Vec<u8>, items: usize) {
        if items == 0 {
            return;
        }
        if self.backlog_items > 0 && self.backlog_items + items > self.max_pending {
            self.lose(
                signal,
                items,
                &format!(
                    "{items} {} dropped: {} items are already waiting for {} (max_pending)",
                    signal.noun(),
                    self.backlog_items,
                    self.endpoint
                ),
            );
            return;
        }
        self.backlog_items += items;
        self.stats.pending.add(signal, items);
        self.backlog.push_back(Request {
            signal,
            body,
            items,
            failing_since: None,
        });
    }

    /// Sends what is due, in order, until the backlog is empty or the
    /// receiver fails. `closing`: the sink is stopping, so one try each,
    /// and after a failure the rest are dropped rather than waited for.
    pub fn pump(&mut self, closing: bool) {
        let mut receiver_down = false;
        while let Some(front) = self.backlog.front_mut() {
            let now = Instant::now();
            if receiver_down {
                let (s, n) = (front.signal, front.items);
                self.pop();
                self.lose(
                    s,
                    n,
                    &format!(
                        "{n} {} dropped at shutdown: {} is not taking them",
                        s.noun(),
                        self.endpoint
                    ),
                );
                continue;
            }
            if !closing && self.next_attempt.is_some_and(|t| now < t) {
                return;
            }
            let (signal, items) = (front.signal, front.items);
            let outcome = attempt(&self.agent, &self.endpoint, &self.headers, front);
            self.stats.requests.fetch_add(1, Relaxed);
            match outcome {
                Outcome::Sent { rejected } => {
                    self.pop();
                    let rejected = rejected.min(items);
                    self.stats.exported.add(signal, items - rejected);
                    if rejected > 0 {
                        self.stats.rejected.add(signal, rejected);
                        self.sink_stats.dropped.fetch_add(rejected as u64, Relaxed);
                        self.sink_stats.error(
                            &self.name,
                            &format!(
                                "{} took a request but rejected {rejected} of its {items} {}",
                                self.endpoint,
                                signal.noun()
                            ),
                        );
                    }
                    self.delay = self.retry.initial;
                    self.next_attempt = None;
                }
                Outcome::Refused(why) => {
                    self.pop();
                    self.stats.rejected.add(signal, items);
                    if signal == Signal::Logs {
                        self.sink_stats.dropped.fetch_add(items as u64, Relaxed);
                    }
                    // At the error pace: a receiver refusing everything
                    // would otherwise log every batch.
                    self.sink_stats.error(
                        &self.name,
                        &format!(
                            "{} refused {items} {}: {why}; dropped, not retried (a 4xx answer means the request itself is wrong; {} refused so far)",
                            self.endpoint,
                            signal.noun(),
                            self.stats.rejected.0[signal as usize].load(Relaxed),
                        ),
                    );
                }
                Outcome::Retry { why, after } => {
                    self.stats.failed_attempts.fetch_add(1, Relaxed);
                    let since = *front.failing_since.get_or_insert(now);
                    if closing {
                        receiver_down = true;
                        continue;
                    }
                    if now.duration_since(since) >= self.retry.give_up_after {
                        self.pop();
                        self.lose(
                            signal,
                            items,
                            &format!(
                                "{items} {} dropped: {} failed for longer than retry.give_up_after ({why})",
                                signal.noun(),
                                self.endpoint
                            ),
                        );
                        continue;
                    }
                    let wait = after.unwrap_or(self.delay).min(self.retry.max);
                    self.sink_stats.error(
                        &self.name,
                        &format!(
                            "sending {items} {} to {} failed: {why}; retrying in {:.1}s ({} items waiting)",
                            signal.noun(),
                            self.endpoint,
                            wait.as_secs_f64(),
                            self.backlog_items
                        ),
                    );
                    self.next_attempt = Some(now + wait);
                    self.delay = (self.delay * 2).min(self.retry.max);
                    return;
                }
            }
        }
    }

    fn pop(&mut self) {
        if let Some(r) = self.backlog.pop_front() {
            self.backlog_items -= r.items;
            self.stats.pending.sub(r.signal, r.items);
        }
    }

    fn lose(&self, signal: Signal, items: usize, why: &str) {
        self.stats.lost.add(signal, items);
        if signal == Signal::Logs {
            self.sink_stats.dropped.fetch_add(items as u64, Relaxed);
        }
        self.sink_stats.error(&self.name, why);
    }
}

fn attempt(
    agent: &ureq::Agent,
    endpoint: &str,
    headers: &[(String, String)],
    r: &Request,
) -> Outcome {
    let path = match r.signal {
        Signal::Logs => "/v1/logs",
        Signal::Traces => "/v1/traces",
    };
    let mut req = agent
        .post(format!("{endpoint}{path}"))
        .header("Content-Type", "application/x-protobuf");
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let mut resp = match req.send(&r.body[..]) {
        Ok(resp) => resp,
        Err(e) => {
            return Outcome::Retry {
                why: e.to_string(),
                after: None,
            }
        }
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // Bounded: a receiver's error page is read for the log line only.
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_vec()
        .unwrap_or_default();
    match status {
        200..=299 => Outcome::Sent {
            rejected: partial_rejects(r.signal, &body),
        },
        408 | 429 | 500..=599 => Outcome::Retry {
            why: format!("HTTP {status}{}", snippet(&body)),
            after: retry_after,
        },
        _ => Outcome::Refused(format!("HTTP {status}{}", snippet(&body))),
    }
}

/// Items a 2xx answer says it rejected (OTLP's partial success).
fn partial_rejects(signal: Signal, body: &[u8]) -> usize {
    let n = match signal {
        Signal::Logs => ExportLogsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_log_records),
        Signal::Traces => ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_spans),
    };
    usize::try_from(n).unwrap_or(0)
}

/// The start of an error answer, as text, for the log line. OTLP receivers
/// answer with a protobuf `Status` whose message is readable text too.
fn snippet(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}
