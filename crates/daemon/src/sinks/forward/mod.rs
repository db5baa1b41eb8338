//! `type: forward`: PUSH to another distlogd, with the original topic and
//! body, so a per-host daemon can feed a central one.

use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;

use super::runner::{self, Lost, SinkHandle, Threads, Worker};
use super::{QueueConfig, SinkConfig, WhenFull};
use crate::pipeline::Routed;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardSinkConfig {
    /// The upstream daemon's intake, e.g. `tcp://central:5010`.
    pub endpoint: String,
    /// Messages libzmq holds while the upstream is slow or away.
    #[serde(default)]
    pub hwm: Option<i32>,
    #[serde(default)]
    pub queue: Option<QueueConfig>,
}

impl ForwardSinkConfig {
    pub fn validated(self) -> Result<ForwardSinkConfig> {
        let ok = ["tcp://", "ipc://", "inproc://"]
            .iter()
            .any(|p| self.endpoint.starts_with(p));
        if !ok {
            bail!(
                "endpoint {:?} is not a ZeroMQ endpoint (tcp://HOST:PORT or ipc://PATH)",
                self.endpoint
            );
        }
        Ok(self)
    }
}

struct ForwardWorker {
    socket: zmq::Socket,
    endpoint: String,
}

impl Worker for ForwardWorker {
    fn write(&mut self, batch: &[Arc<Routed>]) -> Result<(), Lost> {
        let mut unsent = 0;
        for r in batch {
            let topic = r.record.topic.as_bytes();
            let body = r.original.as_deref().unwrap_or(r.record.body.as_bytes());
            // Never wait on the upstream: past the high-water mark, drop.
            let sent = self
                .socket
                .send(&topic[..], zmq::SNDMORE | zmq::DONTWAIT)
                .and_then(|()| self.socket.send(body, zmq::DONTWAIT));
            if sent.is_err() {
                unsent += 1;
            }
        }
        if unsent > 0 {
            return Err(Lost {
                records: unsent,
                why: format!(
                    "{unsent} of {} records not forwarded: {} is not taking them",
                    batch.len(),
                    self.endpoint
                ),
            });
        }
        Ok(())
    }
}

pub fn start(
    name: &str,
    config: &SinkConfig,
    c: &ForwardSinkConfig,
    threads: &Threads,
) -> Result<Arc<SinkHandle>> {
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::PUSH).context("creating the PUSH socket")?;
    socket
        .set_sndhwm(c.hwm.unwrap_or(10_000))
        .context("setting ZMQ_SNDHWM")?;
    socket.set_linger(1000).context("setting ZMQ_LINGER")?;
    socket
        .connect(&c.endpoint)
        .with_context(|| format!("sink {name:?}: connecting to {}", c.endpoint))?;
    let worker = ForwardWorker {
        socket,
        endpoint: c.endpoint.clone(),
    };
    runner::spawn(
        name,
        config,
        c.queue.as_ref(),
        (10_000, WhenFull::Drop),
        worker,
        threads,
    )
}
