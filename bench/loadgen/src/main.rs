//! `distlog-loadgen`: sends realistic distlog records over ZeroMQ PUSH
//! connections (`send`), or receives and counts them without decoding
//! (`sink`). Both print a one-line JSON summary on stdout.
//!
//! ```text
//! distlog-loadgen sink --bind 'tcp://127.0.0.1:*' --count 200000 &
//! distlog-loadgen send --endpoint tcp://127.0.0.1:40123 --count 200000 \
//!     --connections 4 --encoding json --pregen
//! ```

use std::io::{Read as _, Write as _};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use distlog_loadgen::procstat::{cpu_seconds, epoch, status_kib};
use distlog_loadgen::records::{Stream, StreamCounts, ROOTS_KEPT};

/// Load generator and raw receiver for distlog benchmarks.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send records over N concurrent PUSH connections, then print a JSON
    /// summary. A line `sending` goes to stderr when the clock starts.
    Send(SendArgs),
    /// Bind a PULL socket, count messages without decoding them, and print
    /// a JSON summary once `--count` messages arrived.
    Sink(SinkArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EncodingArg {
    Json,
    Pickle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SystemArg {
    /// `T`: test.
    T,
    /// `S`: staging.
    S,
    /// `P`: production.
    P,
}

#[derive(Debug, clap::Args)]
struct SendArgs {
    /// The daemon's (or sink's) ZeroMQ endpoint.
    #[arg(long, default_value = "tcp://127.0.0.1:5010")]
    endpoint: String,
    /// Records to send, in all.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Concurrent PUSH connections, one sending thread (and simulated
    /// process) each.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    connections: u64,
    /// Body encoding: topic `?LJ` or `?LP` (pickle protocol 2).
    #[arg(long, value_enum, default_value_t = EncodingArg::Json)]
    encoding: EncodingArg,
    /// Records per second, in all; 0 sends as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// The topic's system byte.
    #[arg(long, value_enum, default_value_t = SystemArg::P)]
    system: SystemArg,
    /// Records per root task, its opening and closing records and its
    /// subtasks' records included.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(2..))]
    task_records: u64,
    /// Seed of the record streams (default: from the clock, so runs into
    /// one store get distinct task ids).
    #[arg(long)]
    seed: Option<u64>,
    /// Encode every record before the clock starts, so the sender spends
    /// its CPU only on sending while it is measured (memory: count × ~650
    /// bytes).
    #[arg(long)]
    pregen: bool,
    /// Adds a `payload` field of this many bytes to every record, for
    /// larger bodies.
    #[arg(long, default_value_t = 0)]
    pad: usize,
    /// ZMQ_SNDHWM of each connection, in messages.
    #[arg(long, default_value_t = 1000)]
    sndhwm: i32,
    /// How long to wait, at the end, for queued messages to leave.
    #[arg(long, default_value_t = 60_000)]
    linger_ms: i32,
    /// Send over CURVE: the server's public key (a `.pub` file or its 40
    /// Z85 characters) and this sender's `.key` file (`distlog keygen`).
    #[arg(long, num_args = 2, value_names = ["SERVER_KEY", "KEY_FILE"])]
    curve: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct SinkArgs {
    /// Endpoint to bind; `tcp://127.0.0.1:*` picks a free port, printed on
    /// stderr as `distlog-loadgen sink ready endpoint=…`.
    #[arg(long, default_value = "tcp://127.0.0.1:*")]
    bind: String,
    /// Messages to receive before reporting.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Give up (exit 1) after this many seconds without all messages.
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
    /// ZMQ_RCVHWM, in messages (distlogd's is 10,000).
    #[arg(long, default_value_t = 10_000)]
    rcvhwm: i32,
    /// After reporting, wait for stdin to close before exiting, so a driver
    /// can read this process's /proc figures.
    #[arg(long)]
    hold: bool,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Send(a) => send(&a),
        Command::Sink(a) => sink(&a),
    };
    if let Err(e) = result {
        eprintln!("distlog-loadgen: {e:#}");
        std::process::exit(1);
    }
}

/// What one sending thread did.
struct Sent {
    counts: StreamCounts,
    bytes: u64,
    roots: Vec<String>,
    started: f64,
    done: f64,
}

fn send(a: &SendArgs) -> Result<()> {
    if !(a.rate >= 0.0 && a.rate.is_finite()) {
        bail!("--rate must be a number of records per second, 0 or more");
    }
    let topic: [u8; 3] = [
        match a.system {
            SystemArg::T => b'T',
            SystemArg::S => b'S',
            SystemArg::P => b'P',
        },
        b'L',
        match a.encoding {
            EncodingArg::Json => b'J',
            EncodingArg::Pickle => b'P',
        },
    ];
    let seed = a.seed.unwrap_or_else(|| (epoch() * 1e6) as u64);
    let sim_epoch = epoch();
    let curve = match &a.curve[..] {
        [server, own] => Some((
            distlog_keys::read_public(server).context("--curve SERVER_KEY")?,
            distlog_keys::KeyPair::read(std::path::Path::new(own)).context("--curve KEY_FILE")?,
        )),
        _ => None,
    };
    let ctx = zmq::Context::new();
    let threads = a.connections as usize;
    // Every thread, and this one, meet here once connected (and encoded).
    let ready = Arc::new(Barrier::new(threads + 1));
    let per_thread_rate = a.rate / a.connections as f64;
    let mut handles = Vec::with_capacity(threads);
    for i in 0..a.connections {
        let share = a.count / a.connections + u64::from(i < a.count % a.connections);
        let socket = ctx.socket(zmq::PUSH).context("creating a PUSH socket")?;
        socket.set_sndhwm(a.sndhwm).context("setting ZMQ_SNDHWM")?;
        socket
            .set_linger(a.linger_ms)
            .context("setting ZMQ_LINGER")?;
        if let Some((server, pair)) = &curve {
            distlog_keys::make_client(&socket, server, pair).context("setting CURVE keys")?;
        }
        socket
            .connect(&a.endpoint)
            .with_context(|| format!("connecting to {}", a.endpoint))?;
        let ready = ready.clone();
        let encoding = a.encoding;
        let (pregen, task_records, pad) = (a.pregen, a.task_records, a.pad);
        let handle = std::thread::Builder::new()
            .name(format!("conn-{i}"))
            .spawn(move || -> Result<Sent> {
                let mut stream = Stream::new(seed, i, task_records, sim_epoch).with_padding(pad);
                let encode = |s: &mut Stream| {
                    let v = s.next_record();
                    match encoding {
                        EncodingArg::Json => v.to_json(),
                        EncodingArg::Pickle => v.to_pickle(),
                    }
                };
                let mut bodies = Vec::new();
                if pregen {
                    bodies.reserve_exact(share as usize);
                    for _ in 0..share {
                        bodies.push(encode(&mut stream));
                    }
                }
                ready.wait();
                let started = epoch();
                let start = Instant::now();
                let mut bytes = 0u64;
                let mut bodies = bodies.into_iter();
                for n in 0..share {
                    if per_thread_rate > 0.0 {
                        let due = Duration::from_secs_f64(n as f64 / per_thread_rate);
                        let now = start.elapsed();
                        if due > now + Duration::from_millis(1) {
                            std::thread::sleep(due - now);
                        }
                    }
                    let body = match bodies.next() {
                        Some(b) => b,
                        None => encode(&mut stream),
                    };
                    bytes += body.len() as u64;
                    socket
                        .send(&topic[..], zmq::SNDMORE)
                        .context("sending a topic frame")?;
                    socket.send(body, 0).context("sending a body frame")?;
                }
                Ok(Sent {
                    counts: stream.counts,
                    bytes,
                    roots: stream.roots,
                    started,
                    done: epoch(),
                })
            })
            .context("starting a sending thread")?;
        handles.push(handle);
    }
    let cpu_before = cpu_seconds("self");
    let pregen_started = Instant::now();
    ready.wait();
    let pregen_seconds = pregen_started.elapsed().as_secs_f64();
    eprintln!("distlog-loadgen sending");
    let mut sent = Vec::with_capacity(threads);
    for h in handles {
        match h.join() {
            Ok(r) => sent.push(r?),
            Err(_) => bail!("a sending thread panicked"),
        }
    }
    // The clock starts when the first thread starts sending.
    let start = sent.iter().map(|s| s.started).fold(f64::INFINITY, f64::min);
    let sent_epoch = sent.iter().map(|s| s.done).fold(start, f64::max);
    // Waits (up to the linger time) for libzmq to hand over what is queued.
    drop(ctx);
    let flushed_epoch = epoch();
    let cpu = cpu_seconds("self")
        .zip(cpu_before)
        .map(|(after, before)| after - before);

    let mut total = StreamCounts::default();
    let mut bytes = 0;
    let mut roots = Vec::new();
    for s in &sent {
        let c = s.counts;
        total.records += c.records;
        total.tasks += c.tasks;
        total.scopes += c.scopes;
        total.closed += c.closed;
        total.failed += c.failed;
        total.unscoped += c.unscoped;
        total.rare += c.rare;
        bytes += s.bytes;
    }
    // Interleave the threads' first roots so a short list has some of each.
    for k in 0..ROOTS_KEPT {
        roots.extend(sent.iter().filter_map(|s| s.roots.get(k).cloned()));
    }
    roots.truncate(ROOTS_KEPT);
    let send_seconds = (sent_epoch - start).max(1e-9);
    let summary = json!({
        "mode": "send",
        "endpoint": a.endpoint,
        "topic": String::from_utf8_lossy(&topic),
        "encoding": format!("{:?}", a.encoding).to_lowercase(),
        "connections": a.connections,
        "records": total.records,
        "bytes": bytes,
        "avg_body_bytes": bytes as f64 / total.records.max(1) as f64,
        "rate_target": a.rate,
        "pregen": a.pregen,
        "pregen_seconds": if a.pregen { Some(pregen_seconds) } else { None },
        "start_epoch": start,
        "sent_epoch": sent_epoch,
        "flushed_epoch": flushed_epoch,
        "send_seconds": send_seconds,
        "send_rate": total.records as f64 / send_seconds,
        "sender_cpu_seconds": cpu,
        "task_records": a.task_records,
        "pad": a.pad,
        "tasks": total.tasks,
        "scopes": total.scopes,
        "scopes_closed": total.closed,
        "scopes_failed": total.failed,
        "unscoped_records": total.unscoped,
        "rare_word_records": total.rare,
        "roots": roots,
        "seed": seed,
    });
    println!("{summary}");
    Ok(())
}

fn sink(a: &SinkArgs) -> Result<()> {
    if !(a.timeout > 0.0 && a.timeout.is_finite()) {
        bail!("--timeout must be a positive number of seconds");
    }
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::PULL).context("creating the PULL socket")?;
    socket.set_rcvhwm(a.rcvhwm).context("setting ZMQ_RCVHWM")?;
    socket.set_rcvtimeo(100).context("setting ZMQ_RCVTIMEO")?;
    socket.set_linger(0).context("setting ZMQ_LINGER")?;
    socket
        .bind(&a.bind)
        .with_context(|| format!("binding {}", a.bind))?;
    let endpoint = socket
        .get_last_endpoint()
        .ok()
        .and_then(Result::ok)
        .unwrap_or_else(|| a.bind.clone());
    let cpu_ready = cpu_seconds("self");
    eprintln!("distlog-loadgen sink ready endpoint={endpoint}");
    let deadline = Instant::now() + Duration::from_secs_f64(a.timeout);
    let mut frame = zmq::Message::new();
    let (mut messages, mut frames, mut bytes, mut odd) = (0u64, 0u64, 0u64, 0u64);
    let mut frames_in_message = 0u32;
    let (mut first, mut last) = (None, 0.0);
    while messages < a.count && Instant::now() < deadline {
        match socket.recv(&mut frame, 0) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => continue,
            Err(e) => bail!("receiving: {e}"),
        }
        frames += 1;
        frames_in_message += 1;
        bytes += frame.len() as u64;
        if !frame.get_more() {
            messages += 1;
            if frames_in_message != 2 {
                odd += 1;
            }
            frames_in_message = 0;
            last = epoch();
            first.get_or_insert(last);
        }
    }
    let complete = messages >= a.count;
    let cpu = cpu_seconds("self")
        .zip(cpu_ready)
        .map(|(after, before)| after - before);
    let summary = json!({
        "mode": "sink",
        "endpoint": endpoint,
        "complete": complete,
        "messages": messages,
        "frames": frames,
        "not_two_frames": odd,
        "bytes": bytes,
        "first_epoch": first,
        "last_epoch": last,
        "cpu_seconds": cpu,
        "peak_rss_kib": status_kib("self", "VmHWM"),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{summary}").context("writing the summary")?;
    out.flush().context("writing the summary")?;
    drop(out);
    if a.hold {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    }
    if !complete {
        bail!("timed out after {} of {} messages", messages, a.count);
    }
    Ok(())
}
