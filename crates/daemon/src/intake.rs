//! The ZeroMQ source: one PULL socket bound to every `--listen` endpoint,
//! decoding on the receiving thread and handing records to the store writer.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use distlog_proto::{decode, decode_heartbeat, DecodeError, Encoding, Kind, Limits, Topic};

use crate::curve::Gate;
use crate::pipeline::{Pipeline, Routed, Switch};
use crate::stats::Stats;
use crate::storage::now;

/// How often the receive loop looks up from the socket to check for shutdown.
const POLL_MS: i32 = 100;
/// Messages libzmq queues for us before it stops reading from peers; beyond
/// this, back-pressure reaches the clients, whose bounded buffers count drops.
const RCVHWM: i32 = 10_000;
/// The smallest ZMQ_MAXMSGSIZE we set, whatever the body limit.
const MAX_MSG_FLOOR: usize = 64 << 20;

pub struct Intake {
    socket: zmq::Socket,
    limits: Limits,
    stats: Arc<Stats>,
    switch: Arc<Switch>,
    /// With CURVE: drops messages whose key has left the allow-list.
    gate: Option<Gate>,
}

impl Intake {
    /// Binds every endpoint before returning, so a bad or busy address
    /// fails start-up rather than the first receive. `prepare` runs on the
    /// socket just before it binds (security, monitoring): no peer can
    /// connect before it has.
    pub fn bind(
        ctx: &zmq::Context,
        endpoints: &[String],
        limits: Limits,
        stats: Arc<Stats>,
        switch: Arc<Switch>,
        prepare: impl FnOnce(&zmq::Socket) -> Result<()>,
    ) -> Result<(Intake, Vec<String>)> {
        let socket = ctx.socket(zmq::PULL).context("creating the PULL socket")?;
        // libzmq cannot skip one oversized message: past ZMQ_MAXMSGSIZE it
        // drops the whole connection, and whatever was queued behind it. So
        // this bound sits far above the body limit; bodies between the two
        // are received and counted as too_large.
        let max_msg = limits.max_body.saturating_mul(4).max(MAX_MSG_FLOOR);
        let max_msg = i64::try_from(max_msg).unwrap_or(i64::MAX);
        socket
            .set_maxmsgsize(max_msg)
            .context("setting ZMQ_MAXMSGSIZE")?;
        socket.set_rcvhwm(RCVHWM).context("setting ZMQ_RCVHWM")?;
        socket
            .set_rcvtimeo(POLL_MS)
            .context("setting ZMQ_RCVTIMEO")?;
        socket.set_linger(0).context("setting ZMQ_LINGER")?;
        prepare(&socket)?;
        let mut bound = Vec::new();
        for ep in endpoints {
            socket
                .bind(ep)
                .with_context(|| format!("binding ZeroMQ PULL to {ep}"))?;
            let last = socket
                .get_last_endpoint()
                .ok()
                .and_then(Result::ok)
                .unwrap_or_else(|| ep.clone());
            bound.push(last);
        }
        Ok((
            Intake {
                socket,
                limits,
                stats,
                switch,
                gate: None,
            },
            bound,
        ))
    }

    /// Checks each message's CURVE key against the allow-list as it is now.
    pub fn with_gate(mut self, gate: Option<Gate>) -> Intake {
        self.gate = gate;
        self
    }

    /// Receives until `stop` is set, then drains what libzmq already holds,
    /// so a graceful stop keeps every message that reached the daemon.
    pub fn run(mut self, stop: &AtomicBool) {
        let mut topic = zmq::Message::new();
        let mut body = zmq::Message::new();
        let mut generation = self.switch.generation();
        let mut pipeline: Arc<Pipeline> = self.switch.current();
        loop {
            let stopping = stop.load(Relaxed);
            let flags = if stopping { zmq::DONTWAIT } else { 0 };
            match self.socket.recv(&mut topic, flags) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) if stopping => break,
                Err(zmq::Error::EAGAIN) => {
                    // Idle: held tasks still come due (tail rules).
                    pipeline.tick();
                    continue;
                }
                Err(zmq::Error::EINTR) => continue,
                Err(e) => {
                    tracing::error!("ZeroMQ receive failed: {e}; stopping intake");
                    break;
                }
            }
            self.stats.received.fetch_add(1, Relaxed);
            if let Err(err) = self.receive_rest(&topic, &mut body) {
                self.stats.reject(&err, "");
                continue;
            }
            if let Some(gate) = &mut self.gate {
                if !gate.admits(&mut topic) {
                    continue;
                }
            }
            let topic = match Topic::parse(&topic) {
                Ok(t) => t,
                Err(err) => {
                    self.stats.reject(&err, "");
                    continue;
                }
            };
            let current = self.switch.generation();
            if current != generation {
                generation = current;
                pipeline = self.switch.current();
            }
            if topic.kind == Kind::Heartbeat {
                self.heartbeat(&topic, &body, &pipeline);
                continue;
            }
            let decoded = decode(topic, &body, &self.limits);
            match decoded {
                Ok(record) => {
                    if record.key_error.is_some() {
                        self.stats.key_errors.fetch_add(1, Relaxed);
                    }
                    self.stats.decoded.fetch_add(1, Relaxed);
                    self.stats.metrics.observe(&record);
                    // Forwarding keeps the body as sent; JSON bodies are
                    // already kept verbatim in the record.
                    let original =
                        (record.topic.encoding == Encoding::Pickle).then(|| body.to_vec());
                    let routed = Arc::new(Routed::new(record, original, now()));
                    pipeline.route(&routed);
                }
                Err(err) => self.stats.reject(&err, ""),
            }
        }
    }

    /// A heartbeat: its process is alive, so its open scopes stay running.
    /// Not a record: it goes to no sink, only to the stores' process table.
    fn heartbeat(&self, topic: &Topic, body: &[u8], pipeline: &Pipeline) {
        match decode_heartbeat(body, &self.limits) {
            Ok(beat) => {
                self.stats.heartbeats.fetch_add(1, Relaxed);
                let at = now();
                for sink in &pipeline.sinks {
                    if let Some(store) = sink.store() {
                        store.heartbeat(&beat.hostname, beat.process, at);
                    }
                    // Collectors behind a jetstream sink need them too.
                    sink.heartbeat(topic, body);
                }
            }
            Err(err) => self.stats.reject(&err, ""),
        }
    }

    /// Reads the body frame of a message whose topic frame is in `topic`,
    /// and consumes any surplus frames so the next message starts clean.
    fn receive_rest(
        &self,
        topic: &zmq::Message,
        body: &mut zmq::Message,
    ) -> Result<(), DecodeError> {
        if !topic.get_more() {
            return Err(DecodeError::FrameCount(1));
        }
        if self.socket.recv(body, 0).is_err() {
            return Err(DecodeError::FrameCount(1));
        }
        let mut frames = 2;
        let mut more = body.get_more();
        let mut surplus = zmq::Message::new();
        while more {
            if self.socket.recv(&mut surplus, 0).is_err() {
                break;
            }
            frames += 1;
            more = surplus.get_more();
        }
        if frames != 2 {
            return Err(DecodeError::FrameCount(frames));
        }
        Ok(())
    }
}
