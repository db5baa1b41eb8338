//! The allow-list as it is now, shared by the ZAP handler (new
//! handshakes) and the intake (messages on connections admitted earlier).
//!
//! CURVE authenticates a connection once, at its handshake. A key taken
//! off the list would otherwise keep writing for as long as its
//! connection lives, which for a long-running service is until it
//! restarts. libzmq tags every message of an admitted connection with the
//! `User-Id` the ZAP handler gave it (the client key in Z85), so the
//! intake can ask, per message, whether that key is still allowed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result};
use distlog_keys::AllowList;

use super::Refused;

/// How often the intake logs messages refused for a removed key.
const LOG_INTERVAL: Duration = Duration::from_secs(1);

pub struct LiveAllowList {
    path: PathBuf,
    current: Mutex<Current>,
    /// Bumped at every reload, so readers know when their cache is stale
    /// without taking the lock.
    generation: AtomicU64,
}

struct Current {
    list: AllowList,
    modified: Option<SystemTime>,
}

impl LiveAllowList {
    pub fn load(path: PathBuf) -> Result<Arc<LiveAllowList>> {
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let list = AllowList::read(&path).context("reading the CURVE allow-list")?;
        Ok(Arc::new(LiveAllowList {
            path,
            current: Mutex::new(Current { list, modified }),
            generation: AtomicU64::new(0),
        }))
    }

    /// Reads the file again if it changed. A file that went bad keeps the
    /// last good list, so a half-saved edit does not lock every client out.
    pub fn refresh(&self) {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if modified == current.modified {
            return;
        }
        current.modified = modified;
        match AllowList::read(&self.path) {
            Ok(list) => {
                tracing::info!(keys = list.len(), "CURVE allow-list reloaded");
                current.list = list;
                self.generation.fetch_add(1, Relaxed);
            }
            Err(e) => tracing::error!("CURVE allow-list not reloaded, keeping the last one: {e}"),
        }
    }

    pub fn allows(&self, key: &[u8]) -> bool {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.list.allows(key)
    }

    fn allows_z85(&self, user_id: &str) -> bool {
        zmq::z85_decode(user_id)
            .ok()
            .is_some_and(|key| self.allows(&key))
    }

    fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }
}

/// The intake's per-message check. It remembers each key's answer until
/// the list is reloaded, so the common case is one map lookup.
pub struct Gate {
    keys: Arc<LiveAllowList>,
    refused: Arc<Refused>,
    generation: u64,
    answers: HashMap<String, bool>,
    last_log: Option<Instant>,
}

impl Gate {
    pub fn new(keys: Arc<LiveAllowList>, refused: Arc<Refused>) -> Gate {
        let generation = keys.generation();
        Gate {
            keys,
            refused,
            generation,
            answers: HashMap::new(),
            last_log: None,
        }
    }

    /// Whether the message whose first frame is `frame` came from a key
    /// that is allowed now. A message without a `User-Id` did not pass the
    /// ZAP handler, which cannot happen on a CURVE socket: refused too.
    pub fn admits(&mut self, frame: &mut zmq::Message) -> bool {
        let generation = self.keys.generation();
        if generation != self.generation {
            self.generation = generation;
            self.answers.clear();
        }
        let user = frame.gets("User-Id").unwrap_or_default();
        let allowed = match self.answers.get(user) {
            Some(&allowed) => allowed,
            None => {
                let allowed = self.keys.allows_z85(user);
                self.answers.insert(user.to_owned(), allowed);
                allowed
            }
        };
        if !allowed {
            self.refused.removed_key_messages.fetch_add(1, Relaxed);
            let now = Instant::now();
            if self
                .last_log
                .is_none_or(|t| now.duration_since(t) >= LOG_INTERVAL)
            {
                self.last_log = Some(now);
                tracing::warn!(
                    key = %user,
                    "dropped a message from a client whose key was removed from the allow-list; it stays connected until it reconnects, and is refused then"
                );
            }
        }
        allowed
    }
}
