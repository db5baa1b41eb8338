//! Asking the sources (this daemon and its peers) over HTTP, all at once,
//! each within the timeout, and saying how each one answered.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use serde_json::{json, Value};

use super::Federation;

/// Set on a request a front sends on: the daemon answers from its own
/// store only, never asking its own peers (so loops cannot recurse).
pub const FANOUT_HEADER: &str = "x-distlog-fanout";
/// On answers to fanned-out requests: which daemon answered.
pub(crate) const INSTANCE_HEADER: &str = "x-distlog-instance";

/// The largest answer taken from one source (a 10,000-record tree is
/// some 5 MiB). Parsed, an answer takes several times its size.
pub(crate) const MAX_ANSWER: u64 = 64 << 20;
/// The most one request reads from all its sources together: past it,
/// the sources still reading are cut off and the answer is partial.
pub(crate) const MAX_REQUEST: u64 = 256 << 20;

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
        matches!(self.state(), "down" | "timeout" | "error" | "too_big")
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
        // Shared by this call's sources: what one has read, the others
        // may no longer.
        let budget = Arc::new(AtomicU64::new(MAX_REQUEST));
        let waits = asks.into_iter().map(|(source, pq)| {
            let fed = self.clone();
            let budget = budget.clone();
            async move {
                // ureq bounds the call already; this guards the guard.
                let limit = fed.timeout + std::time::Duration::from_secs(1);
                let outcome = if source == 0 && fed.has_local() {
                    match tokio::time::timeout(limit, fed.get_local(&pq, raw, &budget)).await {
                        Ok(o) => o,
                        Err(_) => Outcome::Failed("timeout", "no answer in time".into()),
                    }
                } else {
                    let call = tokio::task::spawn_blocking({
                        let fed = fed.clone();
                        move || fed.get(source, &pq, raw, &budget)
                    });
                    match tokio::time::timeout(limit, call).await {
                        Ok(Ok(o)) => o,
                        Ok(Err(e)) => Outcome::Failed("error", e.to_string()),
                        Err(_) => Outcome::Failed("timeout", "no answer in time".into()),
                    }
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
            Outcome::Failed("too_big", _) => {
                s.too_big.fetch_add(1, Relaxed);
                s.failed.fetch_add(1, Relaxed);
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

    /// One blocking GET of a source, reading at most [`MAX_ANSWER`] and
    /// what is left of `budget`.
    fn get(&self, source: usize, pq: &str, raw: bool, budget: &AtomicU64) -> Outcome {
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
        if (300..400).contains(&status) {
            // Redirects are not followed: a peer's answer is its own, and a
            // front must not be made to fetch from elsewhere.
            return Outcome::Failed(
                "error",
                format!("HTTP {status}: a redirect (peers' redirects are not followed)"),
            );
        }
        let mut reader = resp.body_mut().with_config().limit(MAX_ANSWER + 1).reader();
        let bytes = match read_within(&mut reader, budget) {
            Ok(b) => b,
            Err(o) => return o,
        };
        if raw && status == 200 {
            return Outcome::Raw(bytes);
        }
        match super::deep::parse(&bytes) {
            Ok(v) if status == 200 => Outcome::Ok(v),
            Ok(v) => Outcome::Status(status, v),
            Err(e) => Outcome::Failed("error", format!("HTTP {status}: {e}")),
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

/// Reads an answer to its end, taking what it reads from `budget`; a
/// `too_big` failure past [`MAX_ANSWER`] or the budget.
fn read_within(reader: &mut impl std::io::Read, budget: &AtomicU64) -> Result<Vec<u8>, Outcome> {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // ureq's own limit (MAX_ANSWER + 1) ends the body this way.
                if bytes.len() as u64 >= MAX_ANSWER {
                    return Err(too_big_answer());
                }
                return Err(Outcome::Failed("error", format!("reading the answer: {e}")));
            }
        };
        if (bytes.len() + n) as u64 > MAX_ANSWER {
            return Err(too_big_answer());
        }
        take(budget, n)?;
        bytes.extend_from_slice(&chunk[..n]);
    }
}

/// Takes `n` bytes from a request's budget; `too_big` when it is spent.
pub(crate) fn take(budget: &AtomicU64, n: usize) -> Result<(), Outcome> {
    let took = budget.fetch_update(Relaxed, Relaxed, |left| left.checked_sub(n as u64));
    if took.is_err() {
        return Err(Outcome::Failed(
            "too_big",
            format!(
                "the sources' answers together passed {} MiB; this one was cut off",
                MAX_REQUEST >> 20
            ),
        ));
    }
    Ok(())
}

pub(crate) fn too_big_answer() -> Outcome {
    Outcome::Failed(
        "too_big",
        format!("the answer passed {} MiB", MAX_ANSWER >> 20),
    )
}

pub(crate) fn failure(e: ureq::Error) -> Outcome {
    match e {
        ureq::Error::Timeout(t) => Outcome::Failed("timeout", format!("timed out ({t})")),
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
            Outcome::Failed("down", e.to_string())
        }
        ureq::Error::Io(io) => Outcome::Failed("down", io.to_string()),
        ureq::Error::BodyExceedsLimit(_) => too_big_answer(),
        other => Outcome::Failed("error", other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_past_its_cap_or_the_requests_budget_is_too_big() {
        let budget = AtomicU64::new(MAX_REQUEST);
        let small = vec![b' '; 1000];
        let got = read_within(&mut &small[..], &budget).ok().expect("fits");
        assert_eq!(got.len(), 1000);
        assert_eq!(budget.load(Relaxed), MAX_REQUEST - 1000);
        let big = vec![b' '; MAX_ANSWER as usize + 1];
        let cut = read_within(&mut &big[..], &budget).expect_err("too big");
        assert!(matches!(cut, Outcome::Failed("too_big", _)));
        // What several sources read together is bounded too.
        let low = AtomicU64::new(1500);
        assert!(read_within(&mut &small[..], &low).is_ok());
        let cut = read_within(&mut &small[..], &low).expect_err("over budget");
        match cut {
            Outcome::Failed("too_big", why) => assert!(why.contains("together"), "{why}"),
            _ => panic!("not too_big"),
        }
    }
}
