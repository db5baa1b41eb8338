//! Asking the sources (this daemon and its peers) over HTTP, all at once,
//! each within the timeout, and saying how each one answered.

use std::io::Read as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use serde_json::{json, Value};

use super::Federation;

/// Set on a request a front sends on: the daemon answers from its own
/// store only, never asking its own peers (so loops cannot recurse).
pub const FANOUT_HEADER: &str = "x-distlog-fanout";
/// On answers to fanned-out requests: which daemon answered.
pub(crate) const INSTANCE_HEADER: &str = "x-distlog-instance";

/// The largest answer taken from one source (a big tree is tens of MiB).
const MAX_ANSWER: u64 = 1 << 30;

pub(crate) enum Outcome {
    /// 200 and its JSON.
    Ok(Value),
    /// 200 and its JSON text, not parsed (asked for with `raw`).
    Raw(Vec<u8>),
    /// Another status and its JSON (`{"error": …}`).
    Status(u16, Value),
    /// No usable answer: `down`, `timeout`, `error` or `looped`.
    Failed(&'static str, String),
}

pub(crate) struct Reply {
    pub source: usize,
    pub outcome: Outcome,
}

impl Reply {
    /// How this source answered, for the `peers` list of an answer.
    pub fn state(&self) -> &'static str {
        match &self.outcome {
            Outcome::Ok(_) | Outcome::Raw(_) => "ok",
            Outcome::Status(404, _) => "not_found",
            Outcome::Status(503, _) => "no_store",
            Outcome::Status(400, _) => "bad_request",
            Outcome::Status(..) => "error",
            Outcome::Failed(kind, _) => kind,
        }
    }

    /// A source that should have answered and did not.
    pub fn failed(&self) -> bool {
        matches!(self.state(), "down" | "timeout" | "error")
    }

    pub fn ok(&self) -> Option<&Value> {
        match &self.outcome {
            Outcome::Ok(v) => Some(v),
            _ => None,
        }
    }
}

impl Federation {
    pub(crate) fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// Asks each `(source, path and query)` at once. Every reply comes back
    /// within the timeout, failed or not.
    pub(crate) async fn ask(self: &Arc<Self>, asks: Vec<(usize, String)>) -> Vec<Reply> {
        self.ask_as(asks, false).await
    }

    /// As [`Federation::ask`]; with `raw`, 200 answers stay text.
    pub(crate) async fn ask_as(
        self: &Arc<Self>,
        asks: Vec<(usize, String)>,
        raw: bool,
    ) -> Vec<Reply> {
        let waits = asks.into_iter().map(|(source, pq)| {
            let fed = self.clone();
            async move {
                let call = tokio::task::spawn_blocking({
                    let fed = fed.clone();
                    move || fed.get(source, &pq, raw)
                });
                // ureq bounds the call already; this guards the guard.
                let limit = fed.timeout + std::time::Duration::from_secs(1);
                let outcome = match tokio::time::timeout(limit, call).await {
                    Ok(Ok(o)) => o,
                    Ok(Err(e)) => Outcome::Failed("error", e.to_string()),
                    Err(_) => Outcome::Failed("timeout", "no answer in time".into()),
                };
                fed.count(source, &outcome);
                Reply { source, outcome }
            }
        });
        futures_util::future::join_all(waits).await
    }

    /// Asks the same path and query of every source.
    pub(crate) async fn ask_all(self: &Arc<Self>, pq: &str) -> Vec<Reply> {
        self.ask(self.all(pq)).await
    }

    /// The same path and query for every source.
    pub(crate) fn all(&self, pq: &str) -> Vec<(usize, String)> {
        (0..self.sources.len())
            .map(|i| (i, pq.to_owned()))
            .collect()
    }

    pub(crate) fn count_feed_failure(&self, source: usize) {
        if let Some(s) = self.sources.get(source) {
            s.asked.fetch_add(1, Relaxed);
            s.failed.fetch_add(1, Relaxed);
        }
    }

    fn count(&self, source: usize, outcome: &Outcome) {
        let Some(s) = self.sources.get(source) else {
            return;
        };
        s.asked.fetch_add(1, Relaxed);
        match outcome {
            Outcome::Failed("timeout", _) => {
                s.timed_out.fetch_add(1, Relaxed);
                s.failed.fetch_add(1, Relaxed);
            }
            Outcome::Failed("looped", _) => {
                s.looped.fetch_add(1, Relaxed);
            }
            Outcome::Failed(..) => {
                s.failed.fetch_add(1, Relaxed);
            }
            Outcome::Status(code, _) if *code >= 500 && *code != 503 => {
                s.failed.fetch_add(1, Relaxed);
            }
            _ => {}
        }
    }

    /// One blocking GET of a source.
    fn get(&self, source: usize, pq: &str, raw: bool) -> Outcome {
        let Some(s) = self.sources.get(source) else {
            return Outcome::Failed("error", "no such source".into());
        };
        let url = format!("{}{pq}", s.base);
        let mut resp = match self.agent.get(&url).header(FANOUT_HEADER, "1").call() {
            Ok(r) => r,
            Err(e) => return failure(e),
        };
        if source != 0 && self.is_me(resp.headers()) {
            return Outcome::Failed("looped", "this peer is this daemon itself".into());
        }
        let status = resp.status().as_u16();
        let mut bytes = Vec::new();
        let read = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .reader()
            .read_to_end(&mut bytes);
        if let Err(e) = read {
            return Outcome::Failed("error", format!("reading the answer: {e}"));
        }
        if raw && status == 200 {
            return Outcome::Raw(bytes);
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) if status == 200 => Outcome::Ok(v),
            Ok(v) => Outcome::Status(status, v),
            Err(e) => Outcome::Failed("error", format!("HTTP {status}, not JSON: {e}")),
        }
    }

    pub(crate) fn is_me(&self, headers: &axum::http::HeaderMap) -> bool {
        headers
            .get(INSTANCE_HEADER)
            .is_some_and(|v| v.as_bytes() == self.instance.as_bytes())
    }

    pub(crate) fn source_name(&self, source: usize) -> &str {
        self.sources.get(source).map_or("?", |s| s.name.as_str())
    }

    pub(crate) fn source_base(&self, source: usize) -> &str {
        self.sources.get(source).map_or("", |s| s.base.as_str())
    }

    /// The `peers` list of an answer and whether it is partial, counted.
    pub(crate) fn report(&self, replies: &[Reply]) -> (Value, bool) {
        let mut partial = false;
        let list: Vec<Value> = replies
            .iter()
            .map(|r| {
                partial |= r.failed();
                let mut v = json!({ "peer": self.source_name(r.source), "state": r.state() });
                match &r.outcome {
                    Outcome::Failed(_, why) => v["error"] = json!(why),
                    Outcome::Status(code, body) if r.failed() => {
                        v["error"] = json!(format!(
                            "HTTP {code}: {}",
                            body["error"].as_str().unwrap_or("")
                        ));
                    }
                    _ => {}
                }
                v
            })
            .collect();
        if partial {
            self.partial.fetch_add(1, Relaxed);
        }
        (Value::Array(list), partial)
    }
}

pub(crate) fn failure(e: ureq::Error) -> Outcome {
    match e {
        ureq::Error::Timeout(t) => Outcome::Failed("timeout", format!("timed out ({t})")),
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
            Outcome::Failed("down", e.to_string())
        }
        ureq::Error::Io(io) => Outcome::Failed("down", io.to_string()),
        other => Outcome::Failed("error", other.to_string()),
    }
}
