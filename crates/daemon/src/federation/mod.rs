//! Queries across collectors (docs/federation.md): a distlogd given peers
//! (`peers:` in the configuration, `--peer URL`) answers the query API with
//! the union of its own store and its peers' stores, and merges their live
//! feeds. Every source is asked with [`FANOUT_HEADER`] set (peers over
//! HTTP, this daemon's own store through its own routes in process), so a
//! peer answers from its own store only and a loop in the peers'
//! configurations cannot recurse.
//!
//! ```text
//! distlogd --store ./a --http 127.0.0.1:5081 --listen tcp://*:5010
//! distlogd --store ./b --http 127.0.0.1:5082 --listen tcp://*:5020
//! distlogd --config front.yml --peer http://127.0.0.1:5081 --peer http://127.0.0.1:5082
//! distlog --server http://127.0.0.1:5080 tasks
//! ```

mod deep;
mod feed;
mod ids;
mod local;
mod query;
mod raw;
mod source;
mod tree;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Value};

pub use source::FANOUT_HEADER;
use source::INSTANCE_HEADER;

/// The most peers one daemon may have: store ids are made unique across
/// sources as `id * STRIDE + source` (see `ids`).
pub const MAX_PEERS: usize = (ids::STRIDE as usize) - 1;

/// The sources a front asks: itself (index 0) and its peers, with their
/// counters.
pub struct Federation {
    /// `sources[0]` is this daemon's own API, then the peers in order.
    sources: Vec<Source>,
    agent: ureq::Agent,
    feed_agent: ureq::Agent,
    /// Answers this daemon gives under its own name, to tell a peer that
    /// is in fact this daemon (a loop) from a real one.
    instance: String,
    timeout: Duration,
    /// Requests answered by fanning out.
    fanned_out: AtomicU64,
    /// Of those, answers marked partial (a peer failed).
    partial: AtomicU64,
    /// Requests refused with 503 as the front was at its limits.
    busy: AtomicU64,
    calls: Arc<tokio::sync::Semaphore>,
    feeds: Arc<tokio::sync::Semaphore>,
    /// This daemon's own routes (without this layer), to ask its store in
    /// process; until set, it is asked over loopback.
    local: std::sync::OnceLock<axum::Router>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

pub(crate) struct Source {
    /// `local`, or the peer's base URL as configured.
    name: String,
    base: String,
    asked: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    /// Answers that came from this daemon itself (a peer list pointing back).
    looped: AtomicU64,
    /// Answers cut off past the per-answer cap or the request's budget.
    too_big: AtomicU64,
}

impl Source {
    fn new(name: String, base: String) -> Source {
        Source {
            name,
            base,
            asked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            looped: AtomicU64::new(0),
            too_big: AtomicU64::new(0),
        }
    }
}

/// Source calls (one blocking thread each, held up to the timeout) all
/// fanned-out queries may have in flight: a request takes one per source
/// it asks, and past this it is refused with 503. Well under tokio's 512
/// blocking threads, so the store's own work always finds a thread.
pub const MAX_SOURCE_CALLS: usize = 256;
/// Live feed subscribers a front serves at once (each holds a thread and
/// an upstream feed per source); past it, 503.
pub const MAX_FEEDS: usize = 32;

/// Checks and normalises peer URLs: `http://host:port`, no trailing slash.
pub fn parse_peers(urls: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for url in urls {
        let u = url.trim().trim_end_matches('/');
        let Some(rest) = u.strip_prefix("http://") else {
            if u.starts_with("https://") {
                bail!("peer {url:?}: https is not supported; reach peers over http (a private network or a tunnel)");
            }
            bail!("peer {url:?} is not an http:// base URL (like http://collector-a:5080)");
        };
        if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
            bail!("peer {url:?}: give the base URL only (http://host:port), no path");
        }
        if !out.iter().any(|o| o == u) {
            out.push(u.to_owned());
        }
    }
    if out.len() > MAX_PEERS {
        bail!("{} peers configured; at most {MAX_PEERS}", out.len());
    }
    Ok(out)
}

impl Federation {
    /// `http` is this daemon's own API address; `peers` as [`parse_peers`]
    /// gives them.
    pub fn new(
        http: SocketAddr,
        peers: Vec<String>,
        timeout: Duration,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Federation {
        let mut own = http;
        if own.ip().is_unspecified() {
            own.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let mut sources = vec![Source::new("local".into(), format!("http://{own}"))];
        sources.extend(peers.into_iter().map(|p| Source::new(p.clone(), p)));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .build()
            .new_agent();
        // A feed never ends: only connecting and each read are bounded. A
        // live peer sends a keep-alive every 15 seconds.
        let feed_agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .timeout_per_read(Some(Duration::from_secs(45)))
            .build()
            .new_agent();
        let instance = format!(
            "{:x}-{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        Federation {
            sources,
            agent,
            feed_agent,
            instance,
            timeout,
            fanned_out: AtomicU64::new(0),
            partial: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            calls: Arc::new(tokio::sync::Semaphore::new(MAX_SOURCE_CALLS)),
            feeds: Arc::new(tokio::sync::Semaphore::new(MAX_FEEDS)),
            local: std::sync::OnceLock::new(),
            shutdown,
        }
    }

    /// This daemon's own routes, for asking its store in process.
    pub fn set_local(&self, routes: axum::Router) {
        let _ = self.local.set(routes);
    }

    /// The `federation` part of `/api/stats`.
    pub fn to_json(&self) -> Value {
        json!({
            "timeout_seconds": self.timeout.as_secs_f64(),
            "fanned_out": self.fanned_out.load(Relaxed),
            "partial": self.partial.load(Relaxed),
            "busy": self.busy.load(Relaxed),
            "peers": self.sources[1..].iter().map(|s| json!({
                "peer": s.name,
                "asked": s.asked.load(Relaxed),
                "failed": s.failed.load(Relaxed),
                "timed_out": s.timed_out.load(Relaxed),
                "looped": s.looped.load(Relaxed),
                "too_big": s.too_big.load(Relaxed),
            })).collect::<Vec<_>>(),
        })
    }

    /// The federation's counters in the OpenMetrics text format, without
    /// the closing `# EOF`.
    fn metrics_text(&self) -> String {
        use prometheus_client::metrics::counter::Counter;
        use prometheus_client::metrics::family::Family;
        type Labels = Vec<(String, String)>;
        let mut registry = prometheus_client::registry::Registry::with_prefix("distlog");
        let fam = |get: fn(&Source) -> u64| {
            let f = Family::<Labels, Counter>::default();
            for s in &self.sources[1..] {
                f.get_or_create(&vec![("peer".to_owned(), s.name.clone())])
                    .inc_by(get(s));
            }
            f
        };
        registry.register(
            "peer_requests",
            "Requests a front sent to each peer",
            fam(|s| s.asked.load(Relaxed)),
        );
        registry.register(
            "peer_failures",
            "Peer requests that failed (down, bad answer or timed out)",
            fam(|s| s.failed.load(Relaxed)),
        );
        registry.register(
            "peer_timeouts",
            "Peer requests that timed out",
            fam(|s| s.timed_out.load(Relaxed)),
        );
        registry.register(
            "peer_loops",
            "Answers from a peer that turned out to be this daemon",
            fam(|s| s.looped.load(Relaxed)),
        );
        registry.register(
            "peer_answers_too_big",
            "Peer answers cut off past the per-answer cap or the request's budget",
            fam(|s| s.too_big.load(Relaxed)),
        );
        let busy = Counter::<u64>::default();
        busy.inc_by(self.busy.load(Relaxed));
        registry.register(
            "federation_busy",
            "Requests a front refused with 503 at its limits of queries or feeds",
            busy,
        );
        let c = Counter::<u64>::default();
        c.inc_by(self.partial.load(Relaxed));
        registry.register(
            "federated_partial",
            "Answers across peers marked partial",
            c,
        );
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            return String::new();
        }
        out.replace("# EOF\n", "")
    }
}

/// What a request asks of the federation, by its path.
enum Route {
    Query,
    Feed,
    Stats,
    Metrics,
    Local,
}

fn route(path: &str) -> Route {
    const QUERIES: [&str; 6] = [
        "/api/tasks",
        "/api/tree/",
        "/api/skeleton/",
        "/api/scope/",
        "/api/path/",
        "/api/records",
    ];
    match path {
        "/api/feed" => Route::Feed,
        "/api/stats" => Route::Stats,
        "/metrics" => Route::Metrics,
        p if QUERIES.iter().any(|q| p.starts_with(q)) => Route::Query,
        _ => Route::Local,
    }
}

/// The middleware a front runs in front of its own API.
pub async fn layer(State(fed): State<Arc<Federation>>, req: Request, next: Next) -> Response {
    if req.headers().contains_key(FANOUT_HEADER) {
        // Asked by a front: this daemon's own records only.
        let mut resp = next.run(req).await;
        if let Ok(v) = HeaderValue::from_str(&fed.instance) {
            resp.headers_mut().insert(INSTANCE_HEADER, v);
        }
        return resp;
    }
    // Only reads fan out; anything else is this daemon's to answer (or
    // refuse, as 405).
    if req.method() != axum::http::Method::GET {
        return next.run(req).await;
    }
    match route(req.uri().path()) {
        Route::Local => next.run(req).await,
        Route::Query => {
            // Every source call of the request is paid for up front, so a
            // flood of queries is refused instead of queueing on threads.
            let wanted = u32::try_from(fed.source_count()).unwrap_or(u32::MAX);
            let Ok(_permit) = fed.calls.clone().try_acquire_many_owned(wanted) else {
                return fed.busy(format!(
                    "too many queries across collectors at once (at most {MAX_SOURCE_CALLS} peer calls in flight); try again shortly"
                ));
            };
            fed.fanned_out.fetch_add(1, Relaxed);
            query::answer(fed.clone(), req.uri().clone()).await
        }
        Route::Feed => {
            let Ok(permit) = fed.feeds.clone().try_acquire_owned() else {
                return fed.busy(format!(
                    "too many live feeds through this front (at most {MAX_FEEDS}); try again later or subscribe to a collector directly"
                ));
            };
            feed::merged(fed, req.uri().clone(), permit).await
        }
        Route::Stats => {
            with_json(next.run(req).await, |v| {
                v["federation"] = fed.to_json();
            })
            .await
        }
        Route::Metrics => {
            let resp = next.run(req).await;
            let (parts, body) = resp.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
                return Response::from_parts(parts, axum::body::Body::empty());
            };
            let text = String::from_utf8_lossy(&bytes);
            let ours = fed.metrics_text();
            let merged = match text.rfind("# EOF") {
                Some(at) => format!("{}{ours}{}", &text[..at], &text[at..]),
                None => format!("{text}{ours}"),
            };
            let mut parts = parts;
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            Response::from_parts(parts, axum::body::Body::from(merged))
        }
    }
}

impl Federation {
    /// A 503 for a request past the front's limits, counted.
    fn busy(&self, message: String) -> Response {
        use axum::response::IntoResponse as _;
        self.busy.fetch_add(1, Relaxed);
        let mut resp = (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "error": message })),
        )
            .into_response();
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            HeaderValue::from_static("1"),
        );
        resp
    }
}

/// The response with its JSON body changed by `f` (left alone if it is
/// not JSON).
async fn with_json(resp: Response, f: impl FnOnce(&mut Value)) -> Response {
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    f(&mut v);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;

    #[test]
    fn peers_are_http_base_urls() {
        let ok = parse_peers(&[
            "http://a:5080/".into(),
            "http://a:5080".into(),
            "http://b:1".into(),
        ])
        .expect("valid peers");
        assert_eq!(ok, ["http://a:5080", "http://b:1"]);
        for (bad, says) in [
            ("https://a:5080", "https is not supported"),
            ("a:5080", "not an http:// base URL"),
            ("http://a:5080/api", "no path"),
            ("http://", "not an http:// base URL"),
        ] {
            let e = parse_peers(&[bad.into()]).expect_err(bad).to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let many: Vec<String> = (0..64).map(|i| format!("http://h{i}:1")).collect();
        assert!(parse_peers(&many).is_err());
    }

    #[test]
    fn a_front_with_peers_needs_no_sinks() {
        let front = ConfigFile::parse("peers: [http://a:5080]\n")
            .and_then(|f| f.compile(std::path::Path::new("/tmp/x")))
            .expect("a pure front");
        assert_eq!(
            front.peers.as_deref(),
            Some(&["http://a:5080".to_owned()][..])
        );
        assert!(front.sinks.is_empty());
        let e = ConfigFile::parse("peers: []\n")
            .and_then(|f| f.compile(std::path::Path::new("/tmp/x")))
            .expect_err("nothing to do");
        assert!(format!("{e:#}").contains("no sinks configured"), "{e:#}");
    }

    #[test]
    fn peer_flags_make_a_file_without_sinks_a_front() {
        let dir = std::env::temp_dir().join(format!("distlog-fedfix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let file = dir.join("front.yml");
        std::fs::write(&file, "http: 127.0.0.1:5080\n").expect("written");
        let store = dir.join("store");
        let plan =
            crate::config::resolve_with_peers(Some(&file), &store, &["http://a:5080".to_owned()])
                .expect("a front by its flags");
        assert!(plan.sinks.is_empty());
        assert_eq!(plan.peers.as_deref().map(<[String]>::len), Some(1));
        let e = crate::config::resolve_with_peers(Some(&file), &store, &[])
            .expect_err("no sinks, no peers");
        assert!(format!("{e:#}").contains("no sinks configured"), "{e:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
