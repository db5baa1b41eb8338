//! Routing on `task: failed`: a record whose sinks depend on its task's
//! outcome goes at once to the sinks it reaches either way, and is held
//! (in `distlog_rules::tail`) for the others until the task is decided.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use distlog_rules::tail::{Decision, Seen, Tail, TailLimits, Why};
use serde_json::{json, Value};

use super::Routed;

/// How often due tasks are looked for, at most.
const EXPIRE_EVERY: Duration = Duration::from_millis(100);

/// A held record and the sinks it has already gone to.
pub struct Held {
    pub routed: Arc<Routed>,
    pub sent: u128,
}

/// Counters of tail decisions, kept across reloads (each pipeline takes
/// its predecessor's), for `/api/stats` and `/metrics`.
#[derive(Default)]
pub struct TailCounters {
    pub held_tasks: AtomicU64,
    pub held_records: AtomicU64,
    pub held_bytes: AtomicU64,
    /// Tasks decided as failed (a scope failed).
    pub decided_failed: AtomicU64,
    /// Tasks decided as not failed once closed and past the grace.
    pub decided_closed: AtomicU64,
    pub decided_timeout: AtomicU64,
    /// Decided early: holding them would have passed a bound.
    pub decided_early: AtomicU64,
    /// Decided as they stood at a reload or stop.
    pub decided_flush: AtomicU64,
    /// Held records that went to more sinks once decided.
    pub records_kept: AtomicU64,
    /// Held records that went to no more sinks once decided.
    pub records_dropped: AtomicU64,
    /// Failures that arrived after their task was decided as not failed.
    pub late_failures: AtomicU64,
}

impl TailCounters {
    pub fn count(&self, d: &Decision<Held>) {
        let c = match d.why {
            Why::Failed => &self.decided_failed,
            Why::Closed => &self.decided_closed,
            Why::Timeout => &self.decided_timeout,
            Why::Bound => &self.decided_early,
            Why::Flush => &self.decided_flush,
        };
        c.fetch_add(1, Relaxed);
    }

    pub fn to_json(&self, limits: Option<&TailLimits>) -> Value {
        let n = |c: &AtomicU64| c.load(Relaxed);
        let mut v = json!({
            "held_tasks": n(&self.held_tasks),
            "held_records": n(&self.held_records),
            "held_bytes": n(&self.held_bytes),
            "decided": {
                "failed": n(&self.decided_failed),
                "closed": n(&self.decided_closed),
                "timeout": n(&self.decided_timeout),
                "early": n(&self.decided_early),
                "flush": n(&self.decided_flush),
            },
            "records_kept": n(&self.records_kept),
            "records_dropped": n(&self.records_dropped),
            "late_failures": n(&self.late_failures),
        });
        if let Some(l) = limits {
            v["max_tasks"] = json!(l.max_tasks);
            v["max_bytes"] = json!(l.max_bytes);
            v["grace_seconds"] = json!(l.grace.as_secs_f64());
            v["timeout_seconds"] = json!(l.timeout.as_secs_f64());
        }
        v
    }
}

/// The held tasks of one pipeline.
pub struct TailRouter {
    state: Mutex<State>,
    pub counters: Arc<TailCounters>,
}

struct State {
    tail: Tail<Held>,
    next_expire: Instant,
}

/// What the router does with a record it offered.
pub enum Offer {
    /// Route it now with this outcome.
    Known(bool),
    /// Held (or routing the same either way): send it now to the sinks it
    /// reaches whatever the outcome.
    Waiting,
}

impl TailRouter {
    pub fn new(limits: TailLimits, counters: Arc<TailCounters>) -> TailRouter {
        TailRouter {
            state: Mutex::new(State {
                tail: Tail::new(limits),
                next_expire: Instant::now() + EXPIRE_EVERY,
            }),
            counters,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn limits(&self) -> TailLimits {
        self.lock().tail.limits().clone()
    }

    /// Notes `routed` for its task; `held` is `Some` when its sinks depend
    /// on the outcome. Decisions this caused are appended to `decided`.
    pub fn offer(
        &self,
        routed: &Arc<Routed>,
        held: Option<Held>,
        decided: &mut Vec<Decision<Held>>,
    ) -> Offer {
        let Some(key) = &routed.record.key else {
            return Offer::Known(false);
        };
        let item = held.map(|h| {
            // The feed's copy counts too: a record routed to a feed sink
            // now and held for a `task:` rule carries both (up to ~2x).
            let w = h.routed.weight() + h.routed.feed_weight();
            (h, w)
        });
        let now = Instant::now();
        let mut state = self.lock();
        let (seen, mut out) = state.tail.observe(
            &key.scope.root,
            &key.scope.path,
            routed.record.event,
            now,
            item,
        );
        if now >= state.next_expire {
            state.next_expire = now + EXPIRE_EVERY;
            out.extend(state.tail.expire(now));
        }
        self.gauges(&state.tail);
        drop(state);
        for d in &out {
            self.counters.count(d);
        }
        decided.extend(out);
        match seen {
            Seen::Known { failed, late, .. } => {
                if late {
                    self.counters.late_failures.fetch_add(1, Relaxed);
                }
                Offer::Known(failed)
            }
            Seen::Waiting => Offer::Waiting,
        }
    }

    /// Tasks due by now (past their grace or timeout).
    pub fn expire(&self) -> Vec<Decision<Held>> {
        let now = Instant::now();
        let mut state = self.lock();
        if now < state.next_expire {
            return Vec::new();
        }
        state.next_expire = now + EXPIRE_EVERY;
        let out = state.tail.expire(now);
        self.gauges(&state.tail);
        drop(state);
        out.iter().for_each(|d| self.counters.count(d));
        out
    }

    /// Every held task, decided as it stands.
    pub fn flush(&self) -> Vec<Decision<Held>> {
        let mut state = self.lock();
        let out = state.tail.flush();
        self.gauges(&state.tail);
        drop(state);
        out.iter().for_each(|d| self.counters.count(d));
        out
    }

    fn gauges(&self, tail: &Tail<Held>) {
        let c = &self.counters;
        c.held_tasks.store(tail.held_tasks() as u64, Relaxed);
        c.held_records.store(tail.held_records(), Relaxed);
        c.held_bytes.store(tail.held_bytes(), Relaxed);
    }
}

impl TailCounters {
    /// The counters as `/metrics` families (`distlog_tail_*`).
    pub fn register(&self, r: &mut prometheus_client::registry::Registry) {
        use prometheus_client::metrics::counter::{ConstCounter, Counter};
        use prometheus_client::metrics::family::Family;
        use prometheus_client::metrics::gauge::ConstGauge;
        let n = |c: &AtomicU64| c.load(Relaxed);
        let g = |c: &AtomicU64| ConstGauge::new(i64::try_from(n(c)).unwrap_or(i64::MAX));
        r.register(
            "tail_held_tasks",
            "Tasks held for a task: failed decision",
            g(&self.held_tasks),
        );
        r.register(
            "tail_held_records",
            "Records held for undecided tasks",
            g(&self.held_records),
        );
        r.register(
            "tail_held_bytes",
            "Bytes of held records and open-scope bookkeeping",
            g(&self.held_bytes),
        );
        let decided = Family::<Vec<(String, String)>, Counter>::default();
        for (why, c) in [
            ("failed", &self.decided_failed),
            ("closed", &self.decided_closed),
            ("timeout", &self.decided_timeout),
            ("early", &self.decided_early),
            ("flush", &self.decided_flush),
        ] {
            decided
                .get_or_create(&vec![("why".to_owned(), why.to_owned())])
                .inc_by(n(c));
        }
        r.register(
            "tail_decided",
            "Tasks decided, by why: failed (a scope failed), closed (root closed, grace passed), timeout, early (at a bound), flush (reload or stop)",
            decided,
        );
        let records = Family::<Vec<(String, String)>, Counter>::default();
        for (outcome, c) in [
            ("kept", &self.records_kept),
            ("dropped", &self.records_dropped),
        ] {
            records
                .get_or_create(&vec![("outcome".to_owned(), outcome.to_owned())])
                .inc_by(n(c));
        }
        r.register(
            "tail_records",
            "Held records once their task was decided: kept (went to more sinks) or dropped",
            records,
        );
        r.register(
            "tail_late_failures",
            "Failures that arrived after their task was decided as not failed",
            ConstCounter::new(n(&self.late_failures)),
        );
    }
}

#[cfg(test)]
mod tests {
    use distlog_proto::{decode, Limits, Topic};

    use super::*;

    #[test]
    fn held_bytes_count_the_feed_copy_of_a_record() {
        let body = serde_json::json!({
            "name": "root", "message": "x".repeat(10_000), "levelno": 20,
            "context": {"key": "0@t"}, "scope_event": "open",
        })
        .to_string();
        let record = decode(
            Topic::parse(b"PLJ").expect("topic"),
            body.as_bytes(),
            &Limits::default(),
        )
        .expect("record");
        let routed = Arc::new(Routed::new(record, None, 1.0));
        let router = TailRouter::new(TailLimits::default(), Arc::default());
        let held = Held {
            routed: routed.clone(),
            sent: 0,
        };
        let mut decided = Vec::new();
        router.offer(&routed, Some(held), &mut decided);
        let bytes = router.counters.held_bytes.load(Relaxed);
        // The body, the message parsed out of it, and the feed's copy.
        assert!(bytes > 30_000, "held_bytes {bytes}");
    }
}
