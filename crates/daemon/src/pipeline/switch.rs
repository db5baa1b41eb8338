//! The running pipeline and the live-feed subscribers that follow it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::{broadcast, watch};

use super::{Pipeline, Routed};
use crate::sinks::feed::{self, Follower};
use crate::sinks::SinkHandle;

/// The current pipeline, replaceable while the intake runs. The intake
/// checks `generation` per record (one atomic load) and takes the lock only
/// when it changed.
pub struct Switch {
    current: Mutex<Current>,
    generation: AtomicU64,
    /// Bumped once a replaced pipeline is retired, so feed subscribers
    /// look for their moves.
    reloaded: watch::Sender<u64>,
}

struct Current {
    pipeline: Arc<Pipeline>,
    followers: Vec<Weak<Follower>>,
}

/// A live-feed subscription that follows reloads.
pub struct Subscription {
    pub sink: Arc<SinkHandle>,
    pub rx: broadcast::Receiver<Arc<Routed>>,
    pub follower: Arc<Follower>,
    /// Changes once per reload; then `follower` may have moves.
    pub reloads: watch::Receiver<u64>,
}

impl Switch {
    pub fn new(p: Pipeline) -> Switch {
        Switch {
            current: Mutex::new(Current {
                pipeline: Arc::new(p),
                followers: Vec::new(),
            }),
            generation: AtomicU64::new(0),
            reloaded: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Current> {
        match self.current.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn current(&self) -> Arc<Pipeline> {
        self.lock().pipeline.clone()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Subscribes to the feed sink `name` (else the first feed sink) of the
    /// running pipeline; `None` if it has none. Under the lock, so a reload
    /// sees every subscriber.
    pub fn subscribe(&self, name: Option<&str>) -> Option<Subscription> {
        let mut current = self.lock();
        let sink = feed::find(&current.pipeline, name)?.clone();
        let rx = sink.subscribe()?;
        let follower = Arc::new(Follower::new(name.map(str::to_owned), &sink));
        current.followers.retain(|f| f.strong_count() > 0);
        current.followers.push(Arc::downgrade(&follower));
        Some(Subscription {
            sink,
            rx,
            follower,
            reloads: self.reloaded.subscribe(),
        })
    }

    /// Makes `p` the running pipeline. Feed subscribers are moved before
    /// it routes anything; the replaced pipeline's own sinks are closed
    /// once no route is still delivering to them.
    pub fn replace(&self, p: Pipeline) {
        let next = Arc::new(p);
        let old = {
            let mut current = self.lock();
            current
                .followers
                .retain(|f| f.upgrade().is_some_and(|f| f.follow(&next)));
            let old = std::mem::replace(&mut current.pipeline, next.clone());
            self.generation.fetch_add(1, Ordering::Release);
            old
        };
        old.retire(next);
        self.reloaded.send_modify(|n| *n += 1);
    }
}
