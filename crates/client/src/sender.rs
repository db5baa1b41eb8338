//! The background sender: the calling thread only enqueues; this thread
//! owns the ZeroMQ socket, builds the JSON and sends, never blocking
//! anyone and never panicking on network trouble.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender as Tx, TrySendError};
use serde_json::json;

use crate::record::{body, epoch_now, Pending};
use crate::Error;

/// Where and how to send. `Config::new(endpoint)` has the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// `tcp://localhost:5010` and the like.
    pub endpoint: String,
    /// The topic's first letter: `T` test, `S` staging, `P` production.
    pub system: char,
    /// Records buffered while distlogd is away or slow; beyond, dropped and counted.
    pub queue_size: usize,
    /// How long the flush guard waits for delivery at the end.
    pub linger: Duration,
    /// ZeroMQ's send high-water mark.
    pub hwm: i32,
    /// While a scope is open, how often the sender tells distlogd the
    /// process is alive (a `<system>HJ` message); zero: never.
    pub heartbeat_interval: Duration,
    /// CURVE keys, for a distlogd started with `--curve-key`; see
    /// [`Config::curve`].
    pub curve: Option<Curve>,
    /// distlogd's control endpoint, where `distlog level` settings are
    /// published (docs/protocol.md); `None`: none. By default
    /// `DISTLOG_CONTROL`, else the endpoint's port + 1.
    pub control: Option<String>,
}

/// The server's public key and this program's own key pair.
#[derive(Debug, Clone)]
pub struct Curve {
    pub server_public: [u8; 32],
    pub pair: distlog_keys::KeyPair,
}

impl Curve {
    /// Makes `socket` a CURVE client of the daemon.
    pub(crate) fn apply(&self, socket: &zmq::Socket) -> Result<(), zmq::Error> {
        distlog_keys::make_client(socket, &self.server_public, &self.pair)
    }
}

impl Config {
    pub fn new(endpoint: impl Into<String>) -> Config {
        let endpoint = endpoint.into();
        Config {
            control: crate::levels::default_control(&endpoint),
            endpoint,
            system: 'P',
            queue_size: 10_000,
            linger: Duration::from_secs(1),
            hwm: 1000,
            heartbeat_interval: Duration::from_secs(5),
            curve: None,
        }
    }

    /// Encrypts and authenticates the connection with CURVE:
    /// `server_key` is the daemon's public key (its 40 Z85 characters or
    /// the path of its `.pub` file), `key_file` this program's `.key` file
    /// from `distlog keygen`, whose public key the daemon must allow.
    pub fn curve(mut self, server_key: &str, key_file: &std::path::Path) -> Result<Config, Error> {
        if !distlog_keys::curve_available() {
            return Err(Error::Key(distlog_keys::KeyError::NoCurve));
        }
        self.curve = Some(Curve {
            server_public: distlog_keys::read_public(server_key)?,
            pair: distlog_keys::KeyPair::read(key_file)?,
        });
        Ok(self)
    }
}

enum Msg {
    Record(Box<Pending>),
    Flush(Tx<()>),
}

pub(crate) struct Shared {
    tx: Tx<Msg>,
    dropped: AtomicU64,
    unreported: AtomicU64,
    /// Milliseconds after `epoch` past which a flush gives up; 0 = none.
    give_up_at: AtomicU64,
    epoch: Instant,
}

impl Shared {
    pub(crate) fn enqueue(&self, p: Pending) {
        match self.tx.try_send(Msg::Record(Box::new(p))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.unreported.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

static GLOBAL: OnceLock<Arc<Shared>> = OnceLock::new();
static CONFIG: Mutex<Option<Config>> = Mutex::new(None);

pub(crate) fn global() -> Option<&'static Arc<Shared>> {
    GLOBAL.get()
}

/// Records dropped so far because the queue was full.
pub fn dropped() -> u64 {
    GLOBAL
        .get()
        .map_or(0, |s| s.dropped.load(Ordering::Relaxed))
}

/// Starts the sender (once per process). Keep the guard until the end of
/// `main`: dropping it waits at most `config.linger` for delivery.
pub fn init(config: Config) -> Result<FlushGuard, Error> {
    if !matches!(config.system, 'T' | 'S' | 'P') {
        return Err(Error::BadSystem(config.system));
    }
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::PUSH)?;
    socket.set_sndhwm(config.hwm)?;
    // Queue only to a live connection; while distlogd is away records wait
    // in our bounded queue, where drops are counted.
    socket.set_immediate(true)?;
    socket.set_linger(0)?;
    if let Some(c) = &config.curve {
        c.apply(&socket)?;
    }
    socket
        .connect(&config.endpoint)
        .map_err(|e| Error::Connect(config.endpoint.clone(), e))?;
    let (tx, rx) = bounded(config.queue_size.max(1));
    let shared = Arc::new(Shared {
        tx,
        dropped: AtomicU64::new(0),
        unreported: AtomicU64::new(0),
        give_up_at: AtomicU64::new(0),
        epoch: Instant::now(),
    });
    if GLOBAL.set(shared.clone()).is_err() {
        return Err(Error::AlreadyInitialised);
    }
    crate::record::mark_start();
    crate::panic::install_hook();
    if let Ok(mut c) = CONFIG.lock() {
        *c = Some(config.clone());
    }
    let topic = [config.system as u8, b'L', b'J'];
    let hostname = gethostname::gethostname().to_string_lossy().into_owned();
    if let Some(control) = config.control.clone() {
        // A context of its own: the sender's context is terminated when
        // the flush guard ends, which is what waits (up to the linger) for
        // libzmq to write the last records out. A clone held by the
        // forever-subscribed levels thread kept it alive, and a program
        // exiting right after its last record lost it now and then.
        crate::levels::start(
            zmq::Context::new(),
            control,
            config.system,
            hostname.clone(),
            config.curve.clone(),
        );
    }
    let worker = Worker {
        socket,
        _ctx: ctx,
        topic,
        shared: shared.clone(),
        hostname,
        process_name: std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "MainProcess".into()),
        queue_size: config.queue_size,
        heartbeat: (!config.heartbeat_interval.is_zero()).then_some(config.heartbeat_interval),
    };
    std::thread::Builder::new()
        .name("distlog-sender".into())
        .spawn(move || worker.run(rx))
        .map_err(Error::Thread)?;
    Ok(FlushGuard {
        shared,
        linger: config.linger,
    })
}

/// Waits, when dropped, at most the linger for queued records to be sent;
/// records logged after that are no longer sent. Keep it until the end of
/// `main`.
#[must_use = "dropping the guard at once flushes at once"]
pub struct FlushGuard {
    shared: Arc<Shared>,
    linger: Duration,
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        let deadline = self.shared.epoch.elapsed() + self.linger;
        self.shared
            .give_up_at
            .store(deadline.as_millis() as u64, Ordering::Relaxed);
        let (ack_tx, ack_rx) = bounded(1);
        if self
            .shared
            .tx
            .send_timeout(Msg::Flush(ack_tx), self.linger)
            .is_ok()
        {
            let _ = ack_rx.recv_timeout(self.linger + Duration::from_millis(500));
        }
    }
}

struct Worker {
    socket: zmq::Socket,
    _ctx: zmq::Context,
    topic: [u8; 3],
    shared: Arc<Shared>,
    hostname: String,
    process_name: String,
    queue_size: usize,
    heartbeat: Option<Duration>,
}

impl Worker {
    fn run(self, rx: Receiver<Msg>) {
        let mut next_beat = self.heartbeat.map(|every| Instant::now() + every);
        loop {
            let wait = match next_beat {
                Some(at) => at.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if let (Some(at), Some(every)) = (next_beat, self.heartbeat) {
                if wait.is_zero() {
                    self.beat();
                    // Ticks keep their schedule; after a long stall (the
                    // daemon away, a record waiting) one beat, not a burst.
                    let mut next = at + every;
                    if next <= Instant::now() {
                        next = Instant::now() + every;
                    }
                    next_beat = Some(next);
                    continue;
                }
            }
            match rx.recv_timeout(wait) {
                Ok(Msg::Record(p)) => {
                    let kind = if p.logger == crate::metric::METRIC_LOGGER {
                        b'P'
                    } else {
                        b'L'
                    };
                    let body = body(*p, &self.hostname, &self.process_name).to_string();
                    self.send([self.topic[0], kind, self.topic[2]], body.as_bytes());
                }
                Ok(Msg::Flush(ack)) => {
                    // Handing a message to libzmq is not sending it: close
                    // with the time left as linger, and wait for libzmq to
                    // finish (terminating the context does), before saying
                    // the records are out. After this the sender is done.
                    let left = self.time_left();
                    let _ = self.socket.set_linger(left.as_millis() as i32);
                    let Worker { socket, _ctx, .. } = self;
                    drop(socket);
                    drop(_ctx);
                    let _ = ack.send(());
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn time_left(&self) -> Duration {
        let at = self.shared.give_up_at.load(Ordering::Relaxed);
        Duration::from_millis(at.saturating_sub(self.shared.epoch.elapsed().as_millis() as u64))
    }

    fn giving_up(&self) -> bool {
        let at = self.shared.give_up_at.load(Ordering::Relaxed);
        at != 0 && self.shared.epoch.elapsed().as_millis() as u64 >= at
    }

    /// Sends one body, waiting for the daemon as long as it takes unless a
    /// flush has run out of time; meanwhile the queue fills and drops.
    fn send(&self, topic: [u8; 3], body: &[u8]) {
        loop {
            let unreported = self.shared.unreported.load(Ordering::Relaxed);
            if unreported > 0 && self.try_send(&self.topic, &self.drop_report(unreported)) {
                self.shared
                    .unreported
                    .fetch_sub(unreported, Ordering::Relaxed);
            }
            if self.try_send(&topic, body) {
                return;
            }
            if self.giving_up() {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let mut items = [self.socket.as_poll_item(zmq::POLLOUT)];
            let _ = zmq::poll(&mut items, 100);
        }
    }

    /// One heartbeat if a scope is open. Sent without waiting: if distlogd
    /// cannot take it now, the next one will do, and nothing is counted.
    fn beat(&self) {
        let open = crate::scope::open_scopes();
        if open == 0 {
            return;
        }
        let topic = [self.topic[0], b'H', b'J'];
        let body = json!({
            "hostname": self.hostname,
            "process": std::process::id(),
            "created": epoch_now(),
            "open_scopes": open,
        })
        .to_string();
        let _ = self
            .socket
            .send(&topic[..], zmq::SNDMORE | zmq::DONTWAIT)
            .and_then(|()| self.socket.send(body.as_bytes(), zmq::DONTWAIT));
    }

    fn try_send(&self, topic: &[u8; 3], body: &[u8]) -> bool {
        self.socket
            .send(&topic[..], zmq::SNDMORE | zmq::DONTWAIT)
            .and_then(|()| self.socket.send(body, zmq::DONTWAIT))
            .is_ok()
    }

    fn drop_report(&self, n: u64) -> Vec<u8> {
        let message = format!(
            "distlog: {n} records dropped: the buffer of {} records was full",
            self.queue_size
        );
        json!({
            "name": "distlog", "msg": message, "message": message, "args": null,
            "levelname": "WARNING", "levelno": 30, "process": std::process::id(),
            "hostname": self.hostname, "context": null, "dropped_records": n,
            "created": epoch_now(),
        })
        .to_string()
        .into_bytes()
    }
}
