//! `distlogd`, the distlog collector: receives records over ZeroMQ, decodes
//! JSON and pickle safely, routes them to sinks, and serves them over HTTP.
//!
//! ```text
//! distlogd --listen tcp://*:5010 --http 127.0.0.1:5080 --store ./distlog-store
//! curl http://127.0.0.1:5080/api/tasks
//! ```

mod config;
mod curve;
mod federation;
mod feed;
mod http;
mod http_tree;
mod intake;
mod jetstream;
mod levels;
mod metrics;
mod pipeline;
mod scan;
mod sinks;
mod stats;
mod storage;
mod ui;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Parser;
use distlog_proto::Limits;

use pipeline::{Pipeline, Switch};
use sinks::Threads;

/// The distlog collector daemon.
///
/// Receives log records from distlog clients over ZeroMQ (PULL), decodes
/// them (JSON, or pickle without ever running code), routes them by rules
/// to sinks (the embedded store, files, the console, a live feed, another
/// distlogd, a NATS JetStream stream), and serves tasks, trees and records
/// over an HTTP API. A central collector can also take records from
/// JetStream (`sources:` in the configuration; see docs/scale-out.md).
/// SIGHUP reloads the configuration; SIGINT or SIGTERM stops gracefully,
/// storing every record received.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// ZeroMQ endpoint to bind for intake; repeat for several.
    /// [default: the config file's `listen`, else tcp://*:5010]
    #[arg(long = "listen", value_name = "ENDPOINT")]
    listen: Vec<String>,

    /// ZeroMQ PUB endpoint to bind for publishing log levels to clients
    /// (`distlog level`). [default: the config file's `control`, else
    /// tcp://*:5011]
    #[arg(long, value_name = "ENDPOINT")]
    control: Option<String>,

    /// The embedded store (a directory) of store sinks that name no `path`
    /// (and of the default configuration). Created if missing; kept across
    /// restarts. A single-file store of distlog 0.1 here is imported on the
    /// first start and kept beside as <PATH>.schema2.bak.
    #[arg(long, value_name = "PATH", env = "DISTLOG_STORE", default_value_os_t = default_store())]
    store: PathBuf,

    /// Address for the HTTP API and the web UI.
    /// [default: the config file's `http`, else 127.0.0.1:5080]
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,

    /// The configuration file (distlogd.yml): sinks and routing rules.
    /// Without it: store everything in --store and publish the live feed.
    #[arg(long, value_name = "FILE", env = "DISTLOGD_CONFIG")]
    config: Option<PathBuf>,

    /// Validate a configuration file, print a summary, and exit.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    check_config: Option<PathBuf>,

    /// Largest message body accepted, in bytes; larger ones are rejected
    /// and counted as too_large.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_body)]
    max_body: usize,

    /// Seconds a process may be silent before its open scopes show as
    /// unfinished instead of running.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    unfinished_after: u64,

    /// Require CURVE (authenticated encryption) on the intake, with this
    /// server key file (`distlog keygen` writes one). Clients then need the
    /// server's public key and a key pair of their own in --curve-allow.
    #[arg(
        long,
        value_name = "FILE",
        env = "DISTLOGD_CURVE_KEY",
        requires = "curve_allow"
    )]
    curve_key: Option<PathBuf>,

    /// With --curve-key: the client public keys to admit, one per line
    /// (`#` lines are comments). Read again whenever the file changes.
    #[arg(
        long,
        value_name = "FILE",
        env = "DISTLOGD_CURVE_ALLOW",
        requires = "curve_key"
    )]
    curve_allow: Option<PathBuf>,

    /// Another collector's HTTP API (http://host:port) whose store this
    /// daemon's query API and live feed also answer from; repeat for
    /// several. Replaces the config file's `peers`. See docs/federation.md.
    #[arg(long = "peer", value_name = "URL")]
    peers: Vec<String>,

    /// Seconds a peer has to answer a query before the answer goes out
    /// without it, marked partial.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    peer_timeout: f64,

    /// Log filter for the daemon's own messages (e.g. info, debug).
    #[arg(
        long,
        value_name = "FILTER",
        env = "DISTLOGD_LOG",
        default_value = "info"
    )]
    log: String,
}

fn default_store() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    let dir = data.map_or_else(PathBuf::new, |d| d.join("distlog"));
    // A single-file store of an earlier version at the old default place
    // is used there (and imported into a store directory at that path).
    let old = dir.join("distlog.db");
    if old.exists() {
        return old;
    }
    dir.join("store")
}

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match &args.check_config {
        Some(path) => check_config(path, &args),
        None => run(args),
    };
    if let Err(e) = result {
        eprintln!("distlogd: {e:#}");
        std::process::exit(1);
    }
}

fn check_config(path: &PathBuf, args: &Args) -> Result<()> {
    let plan = config::resolve_with_peers(Some(path), &args.store, &args.peers)?;
    println!(
        "{}: OK: {} sinks ({}), {}{} rules, {} default route",
        path.display(),
        plan.sinks.len(),
        plan.sinks
            .iter()
            .map(|(n, c)| format!("{n}: {}", c.kind()))
            .collect::<Vec<_>>()
            .join(", "),
        if plan.sources.is_empty() {
            String::new()
        } else {
            format!(
                "{} sources ({}), ",
                plan.sources.len(),
                plan.sources
                    .iter()
                    .map(|(n, c)| format!("{n}: {}", c.kind()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        plan.rules.len(),
        if plan.default.is_empty() { "no" } else { "a" },
    );
    Ok(())
}

fn run(args: Args) -> Result<()> {
    let limits = Limits {
        max_body: args.max_body,
        ..Limits::default()
    };
    let mut plan = config::resolve_with_peers(args.config.as_ref(), &args.store, &args.peers)?;
    let listen = match (&args.listen[..], plan.listen.take()) {
        ([], Some(from_file)) if !from_file.is_empty() => from_file,
        ([], _) => vec!["tcp://*:5010".to_owned()],
        (given, _) => given.to_vec(),
    };
    let http: SocketAddr = match (args.http, plan.http.take()) {
        (Some(a), _) => a,
        (None, Some(text)) => text
            .parse()
            .with_context(|| format!("`http: {text}` in the configuration is not an address"))?,
        (None, None) => SocketAddr::from(([127, 0, 0, 1], 5080)),
    };
    let unfinished_after = Duration::from_secs(args.unfinished_after);
    let control = args.control.clone().or(plan.control.take());
    let peers = match (&args.peers[..], plan.peers.take()) {
        ([], Some(from_file)) => {
            federation::parse_peers(&from_file).context("`peers` in the configuration")?
        }
        (given, _) => federation::parse_peers(given)?,
    };
    if !(args.peer_timeout.is_finite() && args.peer_timeout > 0.0) {
        anyhow::bail!(
            "--peer-timeout {} is not a positive number of seconds",
            args.peer_timeout
        );
    }

    let sources = std::mem::take(&mut plan.sources);
    let threads = Threads::default();
    let switch = Arc::new(Switch::new(Pipeline::start(plan, None, &threads)?));
    let stats = Arc::new(stats::Stats::default());
    let ctx = zmq::Context::new();
    let stop = Arc::new(AtomicBool::new(false));
    let curve = match (&args.curve_key, &args.curve_allow) {
        (Some(key), Some(allow)) => Some(curve::CurveConfig::load(key, allow)?),
        _ => None,
    };
    // The ZAP handler and the monitor stop only once the sockets they guard
    // are closed: libzmq admits any CURVE client while no handler is bound.
    let curve_stop = Arc::new(AtomicBool::new(false));
    let mut curve_threads = Vec::new();
    let mut gate = None;
    if let Some(c) = &curve {
        let keys = curve::LiveAllowList::load(c.allow.clone())?;
        curve_threads.push(curve::start_zap(&ctx, keys.clone(), curve_stop.clone())?);
        gate = Some(curve::Gate::new(keys, stats.refused.clone()));
    }
    let (intake, bound) = intake::Intake::bind(
        &ctx,
        &listen,
        limits,
        stats.clone(),
        switch.clone(),
        |socket| {
            if let Some(c) = &curve {
                c.apply(socket)?;
                curve_threads.push(curve::start_monitor(
                    &ctx,
                    socket,
                    stats.refused.clone(),
                    curve_stop.clone(),
                )?);
            }
            Ok(())
        },
    )?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(http))
        .with_context(|| format!("binding the HTTP API to {http}"))?;
    let http_addr = listener.local_addr().context("reading the HTTP address")?;

    let levels = levels::Levels::load(switch.clone());
    // The default endpoint may be taken (another daemon on this host): the
    // daemon then runs without publishing levels, and says so. An endpoint
    // asked for must bind.
    let (control_bound, levels_thread) = match &control {
        Some(endpoint) => {
            let (b, t) = levels.start(&ctx, endpoint, stop.clone(), curve.as_ref())?;
            (b, Some(t))
        }
        None => match levels.start(&ctx, levels::DEFAULT_CONTROL, stop.clone(), curve.as_ref()) {
            Ok((b, t)) => (b, Some(t)),
            Err(e) => {
                tracing::warn!("log levels are not published: {e:#}");
                ("none".to_owned(), None)
            }
        },
    };
    let intake_stop = stop.clone();
    let intake_thread = std::thread::Builder::new()
        .name("intake".into())
        .spawn(move || intake.with_gate(gate).run(&intake_stop))
        .context("starting the intake")?;
    let mut source_threads = Vec::new();
    for (name, config) in &sources {
        let cx = jetstream::source::Context {
            switch: switch.clone(),
            stats: stats.clone(),
            limits,
            stop: stop.clone(),
        };
        source_threads.push(jetstream::source::start(name, config, cx)?);
    }

    let store = {
        let pipeline = switch.current();
        let stores: Vec<_> = pipeline
            .sinks
            .iter()
            .filter_map(|s| {
                s.store()
                    .map(|st| (s.name.clone(), st.path().display().to_string()))
            })
            .collect();
        stores
            .iter()
            .find(|(n, _)| n == "store")
            .or(stores.first())
            .map(|(_, p)| p.clone())
            .unwrap_or_default()
    };
    // One line a script can wait for; tests read the real ports from it.
    tracing::info!(
        intake = %bound.join(","),
        http = %http_addr,
        control = %control_bound,
        store = %store,
        curve = curve.is_some(),
        peers = peers.len(),
        "distlogd ready"
    );
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut api = http::Api::new(
        stats.clone(),
        switch.clone(),
        unfinished_after,
        shutdown_rx.clone(),
    );
    if !peers.is_empty() {
        api = api.with_federation(federation::Federation::new(
            http_addr,
            peers,
            Duration::from_secs_f64(args.peer_timeout),
            shutdown_rx,
        ));
    }
    let reload = Reload {
        config: args.config.clone(),
        store: args.store.clone(),
        switch: switch.clone(),
        threads: threads.clone(),
    };
    runtime.block_on(async move {
        tokio::spawn(reload.on_sighup());
        let shutdown = async move {
            wait_for_signal().await;
            let _ = shutdown_tx.send(true);
        };
        axum::serve(listener, api.router().layer(axum::Extension(levels)))
            .with_graceful_shutdown(shutdown)
            .await
    })?;

    tracing::info!("stopping: draining intake and flushing sinks");
    stop.store(true, Relaxed);
    let _ = intake_thread.join();
    // A source ends once its batch in hand is stored and acknowledged.
    for t in source_threads {
        let _ = t.join();
    }
    if let Some(t) = levels_thread {
        let _ = t.join();
    }
    curve_stop.store(true, Relaxed);
    for t in curve_threads {
        let _ = t.join();
    }
    // Dropping the last pipeline closes every sink's queue; each drains it.
    switch.replace(Pipeline::empty());
    threads.join_all();
    tracing::info!(
        received = stats.received.load(Relaxed),
        rejected = stats.rejected_total(),
        "distlogd stopped"
    );
    Ok(())
}

struct Reload {
    config: Option<PathBuf>,
    store: PathBuf,
    switch: Arc<Switch>,
    threads: Threads,
}

impl Reload {
    async fn on_sighup(self) {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload by restarting");
            return;
        };
        let this = Arc::new(self);
        while hup.recv().await.is_some() {
            let this = this.clone();
            let _ = tokio::task::spawn_blocking(move || this.reload()).await;
        }
    }

    /// A valid new configuration takes over; records already queued in a
    /// replaced sink are still written by it. An invalid one is reported
    /// and the running one stays.
    fn reload(&self) {
        let current = self.switch.current();
        let next = config::resolve(self.config.as_ref(), &self.store)
            .and_then(|plan| Pipeline::start(plan, Some(&current), &self.threads));
        match next {
            Ok(p) => {
                let names = p
                    .sinks
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",");
                // Said once it holds: a record sent after the line is read
                // goes through the new configuration.
                self.switch.replace(p);
                tracing::info!(sinks = %names, "configuration reloaded");
            }
            Err(e) => tracing::error!("configuration not reloaded, keeping the running one: {e:#}"),
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
