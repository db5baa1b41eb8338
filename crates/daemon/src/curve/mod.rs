//! CURVE on the intake: the server key on the PULL socket, a ZAP handler
//! that admits only the client keys of an allow-list, and a monitor that
//! counts every refused handshake by why it failed.
//!
//! libzmq asks the ZAP handler (a REP socket at a fixed inproc address in
//! the same context) about every CURVE handshake; without one it would
//! admit any client that knows the server's public key. The allow-list
//! file is read again when its modification time changes, so adding a
//! client needs no restart, and removing one takes effect on its open
//! connections too: the intake checks each message's `User-Id` (the key
//! the ZAP handler admitted) against the list as it is now.

mod allowed;

pub use allowed::{Gate, LiveAllowList};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use distlog_keys::{AllowList, KeyPair};

/// The address libzmq sends authentication requests to (RFC 27).
const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";
const MONITOR_ENDPOINT: &str = "inproc://distlog-intake-monitor";
const ZAP_DOMAIN: &str = "distlog";
const POLL_MS: i32 = 100;
/// How often refusals of one kind are logged; the rest are counted.
const LOG_INTERVAL: Duration = Duration::from_secs(1);
/// How often the allow-list file is looked at when no handshake asks.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// What the operator gave: the server's key pair and the allow-list file.
pub struct CurveConfig {
    pub pair: KeyPair,
    pub allow: PathBuf,
}

impl CurveConfig {
    pub fn load(key: &Path, allow: &Path) -> Result<CurveConfig> {
        if !distlog_keys::curve_available() {
            bail!("this distlogd's libzmq has no CURVE support; build against a libzmq with libsodium (see .cargo/config.toml)");
        }
        let pair = KeyPair::read(key).context("reading --curve-key")?;
        let list = AllowList::read(allow).context("reading --curve-allow")?;
        if list.is_empty() {
            tracing::warn!(
                allow = %allow.display(),
                "the CURVE allow-list is empty: every client will be refused until keys are added"
            );
        }
        Ok(CurveConfig {
            pair,
            allow: allow.to_path_buf(),
        })
    }

    /// Makes `socket` a CURVE server whose handshakes go to the ZAP handler.
    pub fn apply(&self, socket: &zmq::Socket) -> Result<()> {
        socket
            .set_zap_domain(ZAP_DOMAIN)
            .context("setting ZMQ_ZAP_DOMAIN")?;
        socket
            .set_curve_server(true)
            .context("setting ZMQ_CURVE_SERVER")?;
        socket
            .set_curve_secretkey(&self.pair.secret)
            .context("setting ZMQ_CURVE_SECRETKEY")?;
        Ok(())
    }
}

/// Refused connections, by reason; served in `/api/stats` as `refused`.
#[derive(Default)]
pub struct Refused {
    pub not_allowed: AtomicU64,
    pub wrong_server_key: AtomicU64,
    pub no_curve: AtomicU64,
    pub other: AtomicU64,
    /// Messages, not connections: sent on a connection admitted before
    /// its key was taken off the allow-list.
    pub removed_key_messages: AtomicU64,
}

impl Refused {
    /// Each reason with its count, as `/api/stats` and `/metrics` name it.
    pub fn by_reason(&self) -> [(&'static str, u64); 4] {
        [
            ("key_not_allowed", self.not_allowed.load(Relaxed)),
            ("wrong_server_key", self.wrong_server_key.load(Relaxed)),
            ("no_curve", self.no_curve.load(Relaxed)),
            ("other", self.other.load(Relaxed)),
        ]
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        let mut total = 0;
        for (name, n) in self.by_reason() {
            total += n;
            out.insert(name.into(), n.into());
        }
        out.insert("total".into(), total.into());
        out.insert(
            "removed_key_messages".into(),
            self.removed_key_messages.load(Relaxed).into(),
        );
        serde_json::Value::Object(out)
    }
}

/// Starts the ZAP handler. Must run before the intake socket binds, so
/// that no handshake happens without it.
pub fn start_zap(
    ctx: &zmq::Context,
    keys: Arc<LiveAllowList>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    let socket = ctx.socket(zmq::REP).context("creating the ZAP socket")?;
    socket
        .set_rcvtimeo(POLL_MS)
        .context("setting ZMQ_RCVTIMEO")?;
    socket.set_linger(0).context("setting ZMQ_LINGER")?;
    socket
        .bind(ZAP_ENDPOINT)
        .context("binding the ZAP handler (is another one running in this process?)")?;
    std::thread::Builder::new()
        .name("curve-zap".into())
        .spawn(move || {
            let mut last_log = None;
            let mut checked = Instant::now();
            while !stop.load(Relaxed) {
                // Between handshakes too: a removed key must stop being
                // admitted on the connections it already has.
                if checked.elapsed() >= RELOAD_INTERVAL {
                    checked = Instant::now();
                    keys.refresh();
                }
                let frames = match socket.recv_multipart(0) {
                    Ok(f) => f,
                    // A signal landing on this thread interrupts libzmq's
                    // poll: that is no reason to stop authenticating.
                    Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => continue,
                    Err(e) => {
                        // Without a handler libzmq admits every CURVE
                        // client: fail closed rather than run open.
                        tracing::error!(
                            "the CURVE ZAP handler failed ({e}); stopping distlogd rather than admit unauthenticated clients"
                        );
                        std::process::abort();
                    }
                };
                let reply = answer(&frames, &keys, &mut last_log);
                if let Err(e) = socket.send_multipart(reply, 0) {
                    tracing::warn!("ZAP reply not sent: {e}");
                }
            }
        })
        .context("starting the ZAP handler")
}

/// Watches `socket`'s handshakes and counts the failed ones.
pub fn start_monitor(
    ctx: &zmq::Context,
    socket: &zmq::Socket,
    refused: Arc<Refused>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    let events = zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL as i32
        | zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as i32
        | zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as i32;
    socket
        .monitor(MONITOR_ENDPOINT, events)
        .context("monitoring the intake socket")?;
    let watch = ctx
        .socket(zmq::PAIR)
        .context("creating the monitor socket")?;
    watch
        .set_rcvtimeo(POLL_MS)
        .context("setting ZMQ_RCVTIMEO")?;
    watch.set_linger(0).context("setting ZMQ_LINGER")?;
    watch
        .connect(MONITOR_ENDPOINT)
        .context("connecting to the intake monitor")?;
    std::thread::Builder::new()
        .name("curve-monitor".into())
        .spawn(move || {
            let mut last_log: [Option<Instant>; 4] = [None; 4];
            while !stop.load(Relaxed) {
                let frames = match watch.recv_multipart(0) {
                    Ok(f) => f,
                    Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => continue,
                    Err(e) => {
                        tracing::error!("the intake monitor stopped ({e}): refusals are no longer counted");
                        return;
                    }
                };
                let Some((event, value)) = parse_event(&frames) else {
                    continue;
                };
                let peer = frames
                    .get(1)
                    .map(|e| String::from_utf8_lossy(e).into_owned())
                    .unwrap_or_default();
                let (i, counter, why) = classify(&refused, event, value);
                counter.fetch_add(1, Relaxed);
                let now = Instant::now();
                if last_log[i].is_none_or(|t| now.duration_since(t) >= LOG_INTERVAL) {
                    last_log[i] = Some(now);
                    tracing::warn!(endpoint = %peer, event, value = format!("{value:#x}"), "refused a connection: {why}");
                }
            }
        })
        .context("starting the intake monitor")
}

fn classify(refused: &Refused, event: u16, value: u32) -> (usize, &AtomicU64, &'static str) {
    const MECHANISM_MISMATCH: u32 = 0x1100_0002;
    const CRYPTOGRAPHIC: u32 = 0x1100_0001;
    if event == zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as u16 {
        (
            0,
            &refused.not_allowed,
            "its public key is not in the allow-list",
        )
    } else if event == zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as u16 && value == CRYPTOGRAPHIC
    {
        (
            1,
            &refused.wrong_server_key,
            "its handshake does not decrypt: it was given another server key",
        )
    } else if event == zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as u16
        && value == MECHANISM_MISMATCH
    {
        (
            2,
            &refused.no_curve,
            "it does not use CURVE (no server key configured in the client?)",
        )
    } else {
        (3, &refused.other, "its handshake failed")
    }
}

/// A monitor event: frame 1 is `u16 event | u32 value`, native byte order.
fn parse_event(frames: &[Vec<u8>]) -> Option<(u16, u32)> {
    let head = frames.first()?;
    let event = u16::from_ne_bytes(head.get(0..2)?.try_into().ok()?);
    let value = u32::from_ne_bytes(head.get(2..6)?.try_into().ok()?);
    Some((event, value))
}

/// The reply to one ZAP request (RFC 27): version, request id, status
/// code, status text, user id, metadata.
fn answer(
    frames: &[Vec<u8>],
    keys: &LiveAllowList,
    last_log: &mut Option<Instant>,
) -> Vec<Vec<u8>> {
    let id = frames.get(1).cloned().unwrap_or_default();
    let reply = |code: &str, text: &str, user: &[u8]| {
        vec![
            b"1.0".to_vec(),
            id.clone(),
            code.as_bytes().to_vec(),
            text.as_bytes().to_vec(),
            user.to_vec(),
            Vec::new(),
        ]
    };
    if frames.len() < 6 || frames[0] != b"1.0" {
        return reply("500", "malformed ZAP request", b"");
    }
    if frames[5] != b"CURVE" {
        return reply("400", "CURVE required", b"");
    }
    let Some(key) = frames.get(6) else {
        return reply("400", "no client key", b"");
    };
    keys.refresh();
    if keys.allows(key) {
        let user = <&[u8; 32]>::try_from(key.as_slice())
            .ok()
            .and_then(|k| zmq::z85_encode(k).ok())
            .unwrap_or_default();
        return reply("200", "OK", user.as_bytes());
    }
    let now = Instant::now();
    if last_log.is_none_or(|t| now.duration_since(t) >= LOG_INTERVAL) {
        *last_log = Some(now);
        let shown = zmq::z85_encode(key).unwrap_or_else(|_| "(malformed)".into());
        let address = String::from_utf8_lossy(&frames[3]);
        tracing::warn!(%address, key = %shown, "refused a client key that is not in the allow-list");
    }
    reply("400", "key not allowed", b"")
}
