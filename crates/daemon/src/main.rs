//! `distlogd`, the distlog collector: receives records over ZeroMQ, decodes
//! JSON and pickle safely, stores them, and serves them over HTTP.
//!
//! ```text
//! distlogd --listen tcp://*:5010 --http 127.0.0.1:5080 --store ./distlog.db
//! curl http://127.0.0.1:5080/api/tasks
//! ```

mod http;
mod intake;
mod stats;
mod storage;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Parser;
use distlog_proto::Limits;
use distlog_store::Store;

/// The distlog collector daemon.
///
/// Receives log records from distlog clients over ZeroMQ (PULL), decodes
/// them (JSON, or pickle without ever running code), stores them in an
/// embedded store, and serves tasks, trees and records over an HTTP API.
/// SIGINT or SIGTERM stops it gracefully: every record received is stored.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// ZeroMQ endpoint to bind for intake; repeat for several.
    #[arg(
        long = "listen",
        value_name = "ENDPOINT",
        default_value = "tcp://*:5010"
    )]
    listen: Vec<String>,

    /// The embedded store file. Created if missing; kept across restarts.
    #[arg(long, value_name = "PATH", env = "DISTLOG_STORE", default_value_os_t = default_store())]
    store: PathBuf,

    /// Address for the HTTP API (and, later, the web UI).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5080")]
    http: SocketAddr,

    /// Largest message body accepted, in bytes; larger ones are rejected
    /// and counted as too_large.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_body)]
    max_body: usize,

    /// Seconds a process may be silent before its open scopes show as
    /// unfinished instead of running.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    unfinished_after: u64,

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
    match data {
        Some(dir) => dir.join("distlog").join("distlog.db"),
        None => PathBuf::from("distlog.db"),
    }
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
    if let Err(e) = run(args) {
        eprintln!("distlogd: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let limits = Limits {
        max_body: args.max_body,
        ..Limits::default()
    };
    let store = Store::open(&args.store)
        .with_context(|| format!("opening the store at {}", args.store.display()))?
        .with_unfinished_after(Duration::from_secs(args.unfinished_after));
    let writer = store.writer().context("opening the store for writing")?;
    let stats = Arc::new(stats::Stats::default());

    let (tx, rx) = crossbeam_channel::bounded(65_536);
    let ctx = zmq::Context::new();
    let (intake, bound) = intake::Intake::bind(&ctx, &args.listen, limits, stats.clone(), tx)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(args.http))
        .with_context(|| format!("binding the HTTP API to {}", args.http))?;
    let http_addr = listener.local_addr().context("reading the HTTP address")?;

    let stop = Arc::new(AtomicBool::new(false));
    let writer_stats = stats.clone();
    let writer_thread = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || storage::run(writer, rx, writer_stats))
        .context("starting the store writer")?;
    let intake_stop = stop.clone();
    let intake_thread = std::thread::Builder::new()
        .name("intake".into())
        .spawn(move || intake.run(&intake_stop))
        .context("starting the intake")?;

    // One line a script can wait for; tests read the real ports from it.
    tracing::info!(
        intake = %bound.join(","),
        http = %http_addr,
        store = %store.path().display(),
        "distlogd ready"
    );
    let api = http::Api::new(store, stats.clone());
    let serve_stop = stop.clone();
    runtime.block_on(async move {
        let shutdown = async move {
            wait_for_signal().await;
            serve_stop.store(true, Relaxed);
        };
        axum::serve(listener, api.router())
            .with_graceful_shutdown(shutdown)
            .await
    })?;

    tracing::info!("stopping: draining intake and flushing the store");
    stop.store(true, Relaxed);
    let _ = intake_thread.join();
    let _ = writer_thread.join();
    tracing::info!(
        stored = stats.stored.load(Relaxed),
        rejected = stats.rejected_total(),
        "distlogd stopped"
    );
    Ok(())
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
