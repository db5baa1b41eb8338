//! `/api/feed` across sources: one reader thread per source follows its
//! feed (reconnecting when it breaks) and hands its events to the one
//! stream the subscriber reads.

use std::convert::Infallible;
use std::io::BufRead as _;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::source::{failure, Outcome, FANOUT_HEADER};
use super::Federation;

/// Wait before connecting again to a feed that broke.
const RETRY: Duration = Duration::from_secs(2);
/// Events held for a slow subscriber before readers wait for it.
const BUFFER: usize = 4096;

/// How a source's feed first answered.
enum First {
    Connected,
    /// No feed sink there (404), or asked badly (400): its answer.
    Refused(u16, Value),
    /// Down for now; its reader keeps trying.
    Failing,
    /// The peer is this daemon.
    Looped,
}

/// `permit` is the subscriber's place among the front's feeds: held by
/// the stream and by every reader thread, it is given back once the
/// subscriber has left and the last reader has noticed.
pub(crate) async fn merged(
    fed: Arc<Federation>,
    uri: Uri,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Response {
    let permit = Arc::new(permit);
    let pq = uri
        .path_and_query()
        .map_or("/api/feed", |p| p.as_str())
        .to_owned();
    let (tx, rx) = mpsc::channel::<Event>(BUFFER);
    let mut firsts = Vec::new();
    for source in 0..fed.source_count() {
        let (first_tx, first_rx) = oneshot::channel();
        let (fed, pq, tx, permit) = (fed.clone(), pq.clone(), tx.clone(), permit.clone());
        let spawned = std::thread::Builder::new()
            .name("peer-feed".into())
            .spawn(move || {
                follow(&fed, source, &pq, &tx, first_tx);
                drop(permit);
            });
        if spawned.is_ok() {
            firsts.push(first_rx);
        }
    }
    drop(tx);
    let limit = fed.timeout + Duration::from_secs(1);
    let mut connected = 0;
    let mut failing = 0;
    let mut refused: Option<(u16, Value)> = None;
    for first in firsts {
        match tokio::time::timeout(limit, first).await {
            Ok(Ok(First::Connected)) => connected += 1,
            Ok(Ok(First::Refused(400, body))) => {
                return (StatusCode::BAD_REQUEST, Json(body)).into_response()
            }
            Ok(Ok(First::Refused(code, body))) => {
                refused.get_or_insert((code, body));
            }
            Ok(Ok(First::Looped)) => {}
            _ => failing += 1,
        }
    }
    if connected == 0 && failing == 0 {
        let (code, body) = refused.unwrap_or((
            404,
            json!({ "error": "no collector (this daemon or a peer) has a feed sink" }),
        ));
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::NOT_FOUND);
        return (status, Json(body)).into_response();
    }
    let stop = fed.shutdown.clone();
    let stream = futures_util::stream::unfold(
        (rx, stop, permit),
        |(mut rx, mut stop, permit)| async move {
            let e = tokio::select! {
                e = rx.recv() => e,
                _ = stop.wait_for(|s| *s) => None,
            };
            e.map(|e| (Ok::<_, Infallible>(e), (rx, stop, permit)))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Follows one source's feed until the subscriber leaves or the source
/// says it has none.
fn follow(
    fed: &Federation,
    source: usize,
    pq: &str,
    tx: &mpsc::Sender<Event>,
    first: oneshot::Sender<First>,
) {
    let mut first = Some(first);
    let mut say = |f: First| {
        if let Some(s) = first.take() {
            let _ = s.send(f);
        }
    };
    let url = format!("{}{pq}", fed.source_base(source));
    loop {
        if tx.is_closed() || *fed.shutdown.borrow() {
            return;
        }
        let resp = fed.feed_agent.get(&url).header(FANOUT_HEADER, "1").call();
        match resp {
            Err(e) => {
                let why = match failure(e) {
                    Outcome::Failed(_, why) => why,
                    _ => String::new(),
                };
                tracing::debug!(
                    peer = fed.source_name(source),
                    "live feed unreachable: {why}"
                );
                fed.count_feed_failure(source);
                say(First::Failing);
            }
            Ok(resp) => {
                if source != 0 && fed.is_me(resp.headers()) {
                    say(First::Looped);
                    return;
                }
                let status = resp.status().as_u16();
                if status == 404 || status == 400 {
                    let body = resp
                        .into_body()
                        .read_to_string()
                        .ok()
                        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                        .unwrap_or_else(|| json!({ "error": format!("HTTP {status}") }));
                    say(First::Refused(status, body));
                    return;
                }
                if status != 200 {
                    fed.count_feed_failure(source);
                    say(First::Failing);
                } else {
                    say(First::Connected);
                    if !relay(resp.into_body().into_reader(), tx) {
                        return;
                    }
                    tracing::info!(
                        peer = fed.source_name(source),
                        "live feed ended; reconnecting"
                    );
                }
            }
        }
        // Sleep in short steps, to leave soon after the subscriber does.
        for _ in 0..20 {
            if tx.is_closed() {
                return;
            }
            std::thread::sleep(RETRY / 20);
        }
    }
}

/// Passes a feed's events on; false once the subscriber is gone.
fn relay(body: impl std::io::Read, tx: &mpsc::Sender<Event>) -> bool {
    let mut event = String::new();
    let mut data = String::new();
    for line in std::io::BufReader::new(body).lines() {
        let Ok(line) = line else {
            return !tx.is_closed();
        };
        if tx.is_closed() {
            return false;
        }
        if let Some(name) = line.strip_prefix("event:") {
            event = name.trim().to_owned();
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        } else if line.is_empty() {
            let e = match event.as_str() {
                _ if data.is_empty() => None,
                "" => Some(Event::default().data(&data)),
                "lagged" => Some(Event::default().event("lagged").data(&data)),
                // The peer's feed ended (a reload removed it): follow it
                // again, rather than end everyone's merged feed.
                "closed" => return !tx.is_closed(),
                _ => None,
            };
            if let Some(e) = e {
                if tx.blocking_send(e).is_err() {
                    return false;
                }
            }
            event.clear();
            data.clear();
        }
    }
    !tx.is_closed()
}
