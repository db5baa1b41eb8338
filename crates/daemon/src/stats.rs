//! Counters the daemon keeps, served at `/api/stats`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use distlog_proto::DecodeError;
use serde_json::{json, Value};

use crate::curve::Refused;

/// How often one rejection reason may be logged; the rest are counted.
const REJECT_LOG_INTERVAL: Duration = Duration::from_secs(1);

pub struct Stats {
    started: Instant,
    pub received: AtomicU64,
    pub decoded: AtomicU64,
    rejected: [AtomicU64; DecodeError::REASONS.len()],
    pub key_errors: AtomicU64,
    /// Heartbeats from clients with open scopes (not records).
    pub heartbeats: AtomicU64,
    /// Connections the intake refused at the handshake (CURVE).
    pub refused: Arc<Refused>,
    last_reject_log: Mutex<[Option<Instant>; DecodeError::REASONS.len()]>,
    suppressed: [AtomicU64; DecodeError::REASONS.len()],
    /// Client metrics and scope metrics, served at `/metrics`.
    pub metrics: crate::metrics::Metrics,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            received: AtomicU64::new(0),
            decoded: AtomicU64::new(0),
            rejected: Default::default(),
            key_errors: AtomicU64::new(0),
            heartbeats: AtomicU64::new(0),
            refused: Arc::default(),
            last_reject_log: Mutex::new([None; DecodeError::REASONS.len()]),
            suppressed: Default::default(),
            metrics: Default::default(),
        }
    }
}

impl Stats {
    /// Counts a rejected message and logs it, at most once a second per
    /// reason, saying how many like it went unlogged meanwhile.
    pub fn reject(&self, err: &DecodeError, peer_hint: &str) {
        let reason = err.reason();
        let i = DecodeError::REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.rejected[i].fetch_add(1, Relaxed);
        let now = Instant::now();
        let Ok(mut last) = self.last_reject_log.lock() else {
            return;
        };
        if last[i].is_some_and(|t| now.duration_since(t) < REJECT_LOG_INTERVAL) {
            self.suppressed[i].fetch_add(1, Relaxed);
            return;
        }
        last[i] = Some(now);
        drop(last);
        let skipped = self.suppressed[i].swap(0, Relaxed);
        tracing::warn!(
            reason,
            skipped_since_last_log = skipped,
            "rejected message{peer_hint}: {err}"
        );
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Rejections per reason, in the order of `DecodeError::REASONS`.
    pub fn rejected_counts(&self) -> impl Iterator<Item = u64> + '_ {
        self.rejected.iter().map(|c| c.load(Relaxed))
    }

    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn to_json(&self) -> Value {
        let mut rejected = serde_json::Map::new();
        rejected.insert("total".into(), json!(self.rejected_total()));
        for (reason, count) in DecodeError::REASONS.iter().zip(&self.rejected) {
            rejected.insert((*reason).into(), json!(count.load(Relaxed)));
        }
        json!({
            "uptime_seconds": self.started.elapsed().as_secs_f64(),
            "received": self.received.load(Relaxed),
            "decoded": self.decoded.load(Relaxed),
            "rejected": rejected,
            "key_errors": self.key_errors.load(Relaxed),
            "heartbeats": self.heartbeats.load(Relaxed),
            "refused": self.refused.to_json(),
        })
    }
}
