//! The requests of one signal waiting for the receiver, shared between the
//! sink's thread (which adds them and never waits on the network) and the
//! signal's sender thread (which takes them off the front once sent).
//! Bounded by items and by encoded bytes.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::send::Signal;

pub struct Request {
    pub signal: Signal,
    /// Shared so the sender can post it without holding the lock.
    pub body: Arc<Vec<u8>>,
    pub items: usize,
    /// When its first attempt failed.
    pub failing_since: Option<Instant>,
}

#[derive(Default)]
struct Queue {
    requests: VecDeque<Request>,
    items: usize,
    bytes: usize,
    /// Set when the sink stops: send what can be sent before this instant.
    closing: Option<Instant>,
}

pub struct Backlog {
    queue: Mutex<Queue>,
    wake: Condvar,
    max_items: usize,
    max_bytes: usize,
}

/// What the front request looks like, copied out of the lock.
pub struct Front {
    pub signal: Signal,
    pub body: Arc<Vec<u8>>,
    pub items: usize,
}

impl Backlog {
    pub fn new(max_items: usize, max_bytes: usize) -> Backlog {
        Backlog {
            queue: Mutex::default(),
            wake: Condvar::new(),
            max_items,
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic elsewhere must not stop the export: the queue's fields
        // are updated together, so its state is still consistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a request at the back, or says why not (the backlog is full).
    /// A request is always taken into an empty backlog, however large, so
    /// one oversized batch can still reach the receiver.
    pub fn offer(&self, r: Request) -> Result<(), String> {
        let mut q = self.lock();
        if q.items > 0 && q.items + r.items > self.max_items {
            return Err(format!(
                "{} items are already waiting (max_pending {})",
                q.items, self.max_items
            ));
        }
        if q.bytes > 0 && q.bytes + r.body.len() > self.max_bytes {
            return Err(format!(
                "{} bytes are already waiting (max_pending_bytes {})",
                q.bytes, self.max_bytes
            ));
        }
        q.items += r.items;
        q.bytes += r.body.len();
        q.requests.push_back(r);
        self.wake.notify_all();
        Ok(())
    }

    pub fn front(&self) -> Option<Front> {
        self.lock().requests.front().map(|r| Front {
            signal: r.signal,
            body: r.body.clone(),
            items: r.items,
        })
    }

    pub fn pop(&self) -> Option<Request> {
        let mut q = self.lock();
        let r = q.requests.pop_front()?;
        q.items -= r.items;
        q.bytes -= r.body.len();
        Some(r)
    }

    /// When the front request first failed, `now` if this is its first
    /// failure.
    pub fn failing_since(&self, now: Instant) -> Instant {
        let mut q = self.lock();
        match q.requests.front_mut() {
            Some(r) => *r.failing_since.get_or_insert(now),
            None => now,
        }
    }

    /// Puts the halves of the front request in its place, in order.
    pub fn replace_front(&self, signal: Signal, halves: [(Vec<u8>, usize); 2]) {
        let mut q = self.lock();
        let Some(old) = q.requests.pop_front() else {
            return;
        };
        q.bytes -= old.body.len();
        let [a, b] = halves;
        for (body, items) in [b, a] {
            q.bytes += body.len();
            q.requests.push_front(Request {
                signal,
                body: Arc::new(body),
                items,
                failing_since: old.failing_since,
            });
        }
    }

    pub fn items(&self) -> usize {
        self.lock().items
    }

    /// Asks the sender to finish by `deadline`.
    pub fn close(&self, deadline: Instant) {
        self.lock().closing = Some(deadline);
        self.wake.notify_all();
    }

    /// Waits until there is a request to try (the front one, once
    /// `next_attempt` has come) or the sink is stopping; the latter
    /// returns the deadline.
    pub fn wait(&self, next_attempt: Option<Instant>) -> Option<Instant> {
        let mut q = self.lock();
        loop {
            if let Some(d) = q.closing {
                return Some(d);
            }
            let now = Instant::now();
            if !q.requests.is_empty() && next_attempt.is_none_or(|t| now >= t) {
                return None;
            }
            let wait = match next_attempt {
                Some(t) if !q.requests.is_empty() => t.saturating_duration_since(now),
                _ => Duration::from_secs(1),
            };
            q = match self.wake.wait_timeout(q, wait) {
                Ok((q, _)) => q,
                Err(e) => e.into_inner().0,
            };
        }
    }
}
