//! Log levels pushed to running programs (issue #13): settings kept in the
//! store's catalogue and published on a ZeroMQ PUB socket (docs/protocol.md,
//! "Control: log levels").
//!
//! PUB has no replay, so the full snapshot is published again every
//! [`REPUBLISH`] as well as at once on each change: a client that connects
//! late, or lost a message to a reconnect, is current within a second, and
//! expiry needs no message of its own.

mod http;
mod model;

pub use http::router;
pub use model::{parse_duration, parse_level, Selectors, Setting};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::{json, Value};

use crate::pipeline::Switch;
use crate::storage::now;

/// Where levels are published unless configured otherwise.
pub const DEFAULT_CONTROL: &str = "tcp://*:5011";
/// How often the snapshot goes out when nothing changes.
pub const REPUBLISH: Duration = Duration::from_secs(1);
/// Clients drop settings not heard again within this many seconds (the
/// daemon gone): a program is never left at DEBUG by a daemon that died.
pub const HOLD_SECONDS: u64 = 30;
/// The control message's format version.
pub const VERSION: u64 = 1;
/// The first frame of a control message.
pub const TOPIC: &[u8] = b"levels";
/// The catalogue's settings kind for levels.
const KIND: &str = "level";

/// The settings and what publishes them.
pub struct Levels {
    settings: Mutex<BTreeMap<String, Setting>>,
    /// Changes on every change; starts from the clock so it still grows
    /// across a restart.
    generation: AtomicU64,
    switch: Arc<Switch>,
    wake: crossbeam_channel::Sender<()>,
    woken: crossbeam_channel::Receiver<()>,
    pub published: AtomicU64,
}

impl Levels {
    /// Loads the settings the store kept; unreadable ones are reported and
    /// skipped.
    pub fn load(switch: Arc<Switch>) -> Arc<Levels> {
        let (wake, woken) = crossbeam_channel::bounded(1);
        let levels = Levels {
            settings: Mutex::new(BTreeMap::new()),
            generation: AtomicU64::new((now() * 1000.0) as u64),
            switch,
            wake,
            woken,
            published: AtomicU64::new(0),
        };
        if let Some(store) = levels.store() {
            match store.settings(KIND) {
                Ok(rows) => {
                    let mut map = levels.lock();
                    for (key, value) in rows {
                        match serde_json::from_str::<Setting>(&value) {
                            Ok(s) => {
                                map.insert(key, s);
                            }
                            Err(e) => tracing::warn!("skipping a stored level setting: {e}"),
                        }
                    }
                }
                Err(e) => tracing::warn!("cannot read the stored level settings: {e}"),
            }
        }
        Arc::new(levels)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Setting>> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn store(&self) -> Option<Arc<distlog_store::Store>> {
        let pipeline = self.switch.current();
        let stores = || {
            pipeline
                .sinks
                .iter()
                .filter_map(|s| s.store().cloned().map(|st| (s.name.clone(), st)))
        };
        stores()
            .find(|(n, _)| n == "store")
            .or_else(|| stores().next())
            .map(|(_, s)| s)
    }

    /// Sets (or replaces) the setting for `setting.on`; persisted first, so
    /// a setting the API confirmed survives a restart.
    pub fn set(&self, setting: Setting) -> Result<(), String> {
        let key = setting.on.key();
        if let Some(store) = self.store() {
            let value = serde_json::to_string(&setting).map_err(|e| e.to_string())?;
            store
                .put_setting(KIND, &key, &value)
                .map_err(|e| format!("cannot store the setting: {e}"))?;
        }
        self.lock().insert(key, setting);
        self.changed();
        Ok(())
    }

    /// Clears the setting of exactly these selectors; says if there was one.
    pub fn clear(&self, on: &Selectors) -> Result<bool, String> {
        let key = on.key();
        self.forget(&[key])
    }

    /// Clears every setting; returns how many there were.
    pub fn clear_all(&self) -> Result<usize, String> {
        let keys: Vec<String> = self.lock().keys().cloned().collect();
        let n = keys.len();
        self.forget(&keys)?;
        Ok(n)
    }

    fn forget(&self, keys: &[String]) -> Result<bool, String> {
        if let Some(store) = self.store() {
            for key in keys {
                store
                    .delete_setting(KIND, key)
                    .map_err(|e| format!("cannot remove the stored setting: {e}"))?;
            }
        }
        let mut any = false;
        {
            let mut map = self.lock();
            for key in keys {
                any |= map.remove(key).is_some();
            }
        }
        if any {
            self.changed();
        }
        Ok(any)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Relaxed);
        let _ = self.wake.try_send(());
    }

    /// Drops settings whose time is up (from memory and the store).
    fn expire(&self, at: f64) {
        let gone: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, s)| s.expires.is_some_and(|e| e <= at))
            .map(|(k, _)| k.clone())
            .collect();
        if !gone.is_empty() {
            if let Err(e) = self.forget(&gone) {
                tracing::warn!("expiring level settings: {e}");
            }
        }
    }

    /// The settings in force, as the API lists them.
    pub fn list(&self) -> Vec<Value> {
        let at = now();
        self.expire(at);
        self.lock().values().map(|s| s.to_json(at)).collect()
    }

    /// The control message's body.
    pub fn snapshot(&self) -> Value {
        let at = now();
        let levels: Vec<Value> = self.lock().values().map(|s| s.to_json(at)).collect();
        json!({
            "v": VERSION,
            "generation": self.generation.load(Relaxed),
            "hold": HOLD_SECONDS,
            "levels": levels,
        })
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// Binds the PUB socket and publishes until `stop`.
    pub fn start(
        self: &Arc<Self>,
        ctx: &zmq::Context,
        endpoint: &str,
        stop: Arc<AtomicBool>,
        curve: Option<&crate::curve::CurveConfig>,
    ) -> Result<(String, std::thread::JoinHandle<()>)> {
        let sock = ctx
            .socket(zmq::PUB)
            .context("creating the control socket")?;
        sock.set_linger(0).context("control socket")?;
        // With CURVE on the intake, the control endpoint takes the same
        // keys and allow-list: only admitted programs hear the settings.
        if let Some(c) = curve {
            c.apply(&sock)?;
        }
        sock.bind(endpoint)
            .with_context(|| format!("binding the control endpoint {endpoint}"))?;
        let bound = sock
            .get_last_endpoint()
            .ok()
            .and_then(|e| e.ok())
            .unwrap_or_else(|| endpoint.to_owned());
        let this = self.clone();
        let thread = std::thread::Builder::new()
            .name("levels".into())
            .spawn(move || this.publish(&sock, &stop))
            .context("starting the level publisher")?;
        Ok((bound, thread))
    }

    fn publish(&self, sock: &zmq::Socket, stop: &AtomicBool) {
        while !stop.load(Relaxed) {
            self.expire(now());
            let body = self.snapshot().to_string();
            // A full send queue (a stuck subscriber) drops this snapshot for
            // it; the next one a second later replaces it.
            if sock
                .send_multipart([TOPIC, body.as_bytes()], zmq::DONTWAIT)
                .is_ok()
            {
                self.published.fetch_add(1, Relaxed);
            }
            // Wake at once for a change, else after REPUBLISH; the stop
            // flag is looked at every 250 ms.
            let due = std::time::Instant::now() + REPUBLISH;
            loop {
                if stop.load(Relaxed) {
                    return;
                }
                let left = due.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                if self
                    .woken
                    .recv_timeout(left.min(Duration::from_millis(250)))
                    .is_ok()
                {
                    break;
                }
            }
        }
    }
}
