//! Export requests on their way to the receiver: a bounded backlog per
//! signal, sent in order by that signal's own thread, retried with backoff
//! on 5xx, 429, 408 and connection errors, halved on 413, dropped on other
//! 4xx and on redirects. The sink's thread only adds to the backlog, so a
//! receiver that never answers holds up neither the sink's queue nor the
//! other signal.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::backlog::{Backlog, Request};
use super::http::{attempt, Outcome};
use super::split;
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
    fn one(self) -> &'static str {
        match self {
            Signal::Logs => "log record",
            Signal::Traces => "span",
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
    pub fn get(&self, s: Signal) -> u64 {
        self.0[s as usize].load(Relaxed)
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

#[derive(Clone)]
pub struct Retry {
    pub initial: Duration,
    pub max: Duration,
    pub give_up_after: Duration,
}

/// The longest a stop (or a reload that replaces the sink) waits for the
/// receiver: each signal's thread tries what is waiting until then, at
/// most `timeout` per request, and drops the rest.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Connecting is quick or the receiver is not there: a black-holed address
/// should not take the whole `timeout` of every attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the sink's thread and a signal's sender thread share.
pub struct Common {
    pub name: String,
    pub endpoint: String,
    pub backlog: Backlog,
    pub stats: Arc<OtlpStats>,
    /// The sink's counters, known once the runner has made them.
    pub sink_stats: OnceLock<Arc<SinkStats>>,
}

impl Common {
    pub fn sink(&self) -> Arc<SinkStats> {
        self.sink_stats.get().cloned().unwrap_or_default()
    }

    /// Queues an encoded request, or drops it when the backlog is full.
    pub fn push(&self, signal: Signal, body: Vec<u8>, items: usize) {
        if items == 0 {
            return;
        }
        let r = Request {
            signal,
            body: Arc::new(body),
            items,
            failing_since: None,
        };
        match self.backlog.offer(r) {
            Ok(()) => self.stats.pending.add(signal, items),
            Err(why) => self.lose(
                signal,
                items,
                &format!(
                    "{items} {} dropped: {why} for {}",
                    signal.noun(),
                    self.endpoint
                ),
            ),
        }
    }

    fn lose(&self, signal: Signal, items: usize, why: &str) {
        self.stats.lost.add(signal, items);
        let sink = self.sink();
        if signal == Signal::Logs {
            sink.dropped.fetch_add(items as u64, Relaxed);
        }
        sink.error(&self.name, why);
    }

    fn reject(&self, signal: Signal, items: usize, why: &str) {
        self.stats.rejected.add(signal, items);
        let sink = self.sink();
        if signal == Signal::Logs {
            sink.dropped.fetch_add(items as u64, Relaxed);
        }
        sink.error(&self.name, why);
    }

    fn pop(&self) {
        if let Some(r) = self.backlog.pop() {
            self.stats.pending.sub(r.signal, r.items);
        }
    }
}

/// Sends one signal's backlog; runs on that signal's thread.
pub struct Sender {
    pub common: Arc<Common>,
    agent: ureq::Agent,
    headers: Vec<(String, String)>,
    timeout: Duration,
    retry: Retry,
    delay: Duration,
    next_attempt: Option<Instant>,
}

pub struct SendLimits {
    pub timeout: Duration,
    pub max_pending: usize,
    pub max_pending_bytes: usize,
}

impl Sender {
    pub fn new(
        name: &str,
        endpoint: &str,
        headers: Vec<(String, String)>,
        limits: &SendLimits,
        retry: Retry,
        stats: Arc<OtlpStats>,
    ) -> Sender {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(limits.timeout))
            .timeout_connect(Some(limits.timeout.min(CONNECT_TIMEOUT)))
            .http_status_as_error(false)
            // A redirect would resend the whole body elsewhere, possibly
            // with the authorization header: answered as a refusal.
            .max_redirects(0)
            .user_agent(concat!("distlogd/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        Sender {
            common: Arc::new(Common {
                name: name.to_owned(),
                endpoint,
                backlog: Backlog::new(limits.max_pending, limits.max_pending_bytes),
                stats,
                sink_stats: OnceLock::new(),
            }),
            agent,
            headers,
            timeout: limits.timeout,
            delay: retry.initial,
            retry,
            next_attempt: None,
        }
    }

    /// Sends what is due, in order, until the backlog is empty or the
    /// receiver fails. `deadline`: the sink is stopping, so one try each
    /// until then, and after a failure (or past it) the rest are dropped
    /// rather than waited for.
    pub fn pump(&mut self, deadline: Option<Instant>) {
        let c = self.common.clone();
        let mut receiver_down = false;
        while let Some(front) = c.backlog.front() {
            let now = Instant::now();
            let (signal, items) = (front.signal, front.items);
            if receiver_down || deadline.is_some_and(|d| now >= d) {
                c.pop();
                c.lose(
                    signal,
                    items,
                    &format!(
                        "{items} {} dropped at shutdown: {} is not taking them",
                        signal.noun(),
                        c.endpoint
                    ),
                );
                continue;
            }
            if deadline.is_none() && self.next_attempt.is_some_and(|t| now < t) {
                return;
            }
            let timeout = deadline.map_or(self.timeout, |d| (d - now).min(self.timeout));
            let outcome = attempt(
                &self.agent,
                &c.endpoint,
                &self.headers,
                (signal, &front.body),
                timeout,
            );
            c.stats.requests.fetch_add(1, Relaxed);
            match outcome {
                Outcome::Sent { rejected } => {
                    c.pop();
                    let rejected = rejected.min(items);
                    c.stats.exported.add(signal, items - rejected);
                    if rejected > 0 {
                        c.stats.rejected.add(signal, rejected);
                        let sink = c.sink();
                        sink.dropped.fetch_add(rejected as u64, Relaxed);
                        sink.error(
                            &c.name,
                            &format!(
                                "{} took a request but rejected {rejected} of its {items} {}",
                                c.endpoint,
                                signal.noun()
                            ),
                        );
                    }
                    self.delay = self.retry.initial;
                    self.next_attempt = None;
                }
                Outcome::TooLarge(why) => match split::halves(signal, &front.body) {
                    Some(halves) => {
                        tracing::info!(
                            sink = %c.name,
                            "{} answered {why} to a request of {items} {} ({} bytes); sending it again in two halves",
                            c.endpoint,
                            signal.noun(),
                            front.body.len()
                        );
                        c.backlog.replace_front(signal, halves);
                    }
                    None => {
                        c.pop();
                        c.reject(
                            signal,
                            items,
                            &format!(
                                "{} answered {why} to a single {} of {} bytes: it is larger than the receiver takes; dropped",
                                c.endpoint,
                                signal.one(),
                                front.body.len()
                            ),
                        );
                    }
                },
                Outcome::Redirected(why) => {
                    c.pop();
                    c.reject(
                        signal,
                        items,
                        &format!(
                            "{} answered {items} {} with a redirect ({why}); dropped: distlogd does not follow redirects, set the sink's endpoint to the receiver's own address",
                            c.endpoint,
                            signal.noun()
                        ),
                    );
                }
                Outcome::Refused(why) => {
                    c.pop();
                    // At the error pace: a receiver refusing everything
                    // would otherwise log every batch.
                    c.reject(
                        signal,
                        items,
                        &format!(
                            "{} refused {items} {}: {why}; dropped, not retried (a 4xx answer means the request itself is wrong; {} refused so far)",
                            c.endpoint,
                            signal.noun(),
                            c.stats.rejected.get(signal) + items as u64,
                        ),
                    );
                }
                Outcome::Retry { why, after } => {
                    c.stats.failed_attempts.fetch_add(1, Relaxed);
                    let since = c.backlog.failing_since(now);
                    if deadline.is_some() {
                        receiver_down = true;
                        continue;
                    }
                    if now.duration_since(since) >= self.retry.give_up_after {
                        c.pop();
                        c.lose(
                            signal,
                            items,
                            &format!(
                                "{items} {} dropped: {} failed for longer than retry.give_up_after ({why})",
                                signal.noun(),
                                c.endpoint
                            ),
                        );
                        continue;
                    }
                    let wait = after.unwrap_or(self.delay).min(self.retry.max);
                    c.sink().error(
                        &c.name,
                        &format!(
                            "sending {items} {} to {} failed: {why}; retrying in {:.1}s ({} items waiting)",
                            signal.noun(),
                            c.endpoint,
                            wait.as_secs_f64(),
                            c.backlog.items()
                        ),
                    );
                    self.next_attempt = Some(now + wait);
                    self.delay = (self.delay * 2).min(self.retry.max);
                    return;
                }
            }
        }
    }

    /// Runs the sender on its own thread until the sink stops.
    pub fn spawn(mut self, signal: Signal) -> std::io::Result<SignalThread> {
        let common = self.common.clone();
        // Dropped when the thread ends, which is what finish() waits for.
        let (alive, done) = crossbeam_channel::bounded::<()>(0);
        let handle = std::thread::Builder::new()
            .name(format!("otlp-{}-{signal:?}", common.name))
            .spawn(move || {
                let _alive = alive;
                loop {
                    let closing = self.common.backlog.wait(self.next_attempt);
                    self.pump(closing);
                    if closing.is_some() {
                        return;
                    }
                }
            })?;
        Ok(SignalThread {
            common,
            signal,
            done,
            handle: Some(handle),
        })
    }
}

/// A signal's sender thread, seen from the sink's thread.
pub struct SignalThread {
    pub common: Arc<Common>,
    signal: Signal,
    done: crossbeam_channel::Receiver<()>,
    handle: Option<JoinHandle<()>>,
}

impl SignalThread {
    /// Asks the thread to finish by `deadline`; see [`SignalThread::join`].
    pub fn close(&self, deadline: Instant) {
        self.common.backlog.close(deadline);
    }

    /// Waits for the thread until about `deadline`. A request already on
    /// its way when the sink was closed cannot be cut short: past the
    /// deadline the thread is left to finish it (at most `timeout`) and
    /// then drop the rest, counted, on its own.
    pub fn join(&mut self, deadline: Instant) {
        let slack = Duration::from_millis(200);
        match self.done.recv_deadline(deadline + slack) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                let c = &self.common;
                tracing::warn!(
                    sink = %c.name,
                    "stopping without waiting for {}: a request of {} is still waiting for an answer; \
                     its {} items, and any behind it, will be counted as lost",
                    c.endpoint,
                    self.signal.noun(),
                    c.backlog.items()
                );
                self.handle = None;
            }
            _ => {
                if let Some(h) = self.handle.take() {
                    let _ = h.join();
                }
            }
        }
    }
}

impl Drop for SignalThread {
    fn drop(&mut self) {
        // A sink dropped without finish() (its thread panicked) must not
        // leave the sender retrying forever.
        if self.handle.is_some() {
            self.close(Instant::now());
        }
    }
}
