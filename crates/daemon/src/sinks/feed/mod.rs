//! `type: feed`: a live publication of routed records for `distlog tail -f`
//! and the web UI. Subscribers filter for themselves; a subscriber that
//! falls behind loses the oldest records (counted), never slowing the intake.
//!
//! A subscriber follows the running configuration: when a reload replaces
//! its feed sink it moves to the new one, and when a reload removes it the
//! subscription ends with the reason ([`Move::Gone`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

use serde::Deserialize;
use tokio::sync::broadcast;

use super::runner::SinkHandle;
use super::SinkConfig;
use crate::pipeline::{Pipeline, Routed};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSinkConfig {
    /// Records kept for subscribers that fall behind.
    #[serde(default)]
    pub buffer: Option<usize>,
}

pub fn start(name: &str, config: &SinkConfig, c: &FeedSinkConfig) -> Arc<SinkHandle> {
    Arc::new(SinkHandle::feed(name, config, c.buffer.unwrap_or(4096)))
}

/// The feed sink a subscriber asks for: by name, else the first one.
pub fn find<'a>(pipeline: &'a Pipeline, name: Option<&str>) -> Option<&'a Arc<SinkHandle>> {
    pipeline
        .sinks
        .iter()
        .filter(|s| s.config.kind() == "feed")
        .find(|s| name.is_none_or(|n| n == s.name))
}

/// Where a subscriber goes after a reload.
pub enum Move {
    /// To a new feed sink, subscribed before it received its first record.
    To(Arc<SinkHandle>, broadcast::Receiver<Arc<Routed>>),
    /// Nowhere: the reload removed its feed; why, in plain words.
    Gone(String),
}

/// One subscriber as the switch sees it, so a reload can move it.
pub struct Follower {
    /// The feed asked for by name; `None` follows the first feed sink.
    name: Option<String>,
    state: Mutex<FollowState>,
}

struct FollowState {
    /// The feed the subscriber is on, or will be once it takes its moves.
    on: Weak<SinkHandle>,
    moves: VecDeque<Move>,
}

impl Follower {
    pub fn new(name: Option<String>, on: &Arc<SinkHandle>) -> Follower {
        Follower {
            name,
            state: Mutex::new(FollowState {
                on: Arc::downgrade(on),
                moves: VecDeque::new(),
            }),
        }
    }

    /// Called with a pipeline before it takes over. A changed feed is
    /// subscribed to here, so no record it routes is missed. Returns false
    /// once the subscriber's feed is gone: it needs no more calls.
    pub fn follow(&self, next: &Pipeline) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        if let Some(sink) = find(next, self.name.as_deref()) {
            if std::ptr::eq(sink.as_ref(), state.on.as_ptr()) {
                return true;
            }
            if let Some(rx) = sink.subscribe() {
                state.on = Arc::downgrade(sink);
                state.moves.push_back(Move::To(sink.clone(), rx));
                return true;
            }
        }
        let why = match &self.name {
            Some(n) if next.sink(n).is_some() => {
                format!("the configuration was reloaded and sink {n:?} is no longer a feed sink")
            }
            Some(n) => format!("the configuration was reloaded without the feed sink {n:?}"),
            None => "the configuration was reloaded without a feed sink".to_owned(),
        };
        state.moves.push_back(Move::Gone(why));
        false
    }

    /// The next move, oldest first.
    pub fn next_move(&self) -> Option<Move> {
        self.state.lock().ok()?.moves.pop_front()
    }

    pub fn has_moves(&self) -> bool {
        self.state.lock().is_ok_and(|s| !s.moves.is_empty())
    }
}

#[cfg(test)]
mod tests;
