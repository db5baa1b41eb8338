//! `GET /api/feed`: the live feed as server-sent events, one record per
//! `data:` line, filtered per subscriber with the rule language.

use std::convert::Infallible;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use distlog_rules::{parse_filter, Condition, RecordSubject};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};

use crate::http::{Api, ApiError};
use crate::pipeline::Routed;
use crate::sinks::feed::{Follower, Move};
use crate::sinks::SinkHandle;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FeedQuery {
    /// A filter in the rule language (`level=ERROR logger=app`, or `{…}`).
    filter: Option<String>,
    /// Which feed sink; the first one configured by default.
    sink: Option<String>,
}

pub async fn feed(
    State(api): State<Api>,
    Query(q): Query<FeedQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let condition = match q.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(text) => parse_filter(text)
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("filter: {e}")))?,
        None => Condition::always(),
    };
    let Some(sub) = api.switch.subscribe(q.sink.as_deref()) else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            match &q.sink {
                Some(n) => format!("no feed sink named {n:?}"),
                None => "this daemon's configuration has no feed sink".into(),
            },
        ));
    };
    let tail = Tail {
        rx: sub.rx,
        sink: sub.sink,
        follower: sub.follower,
        reloads: sub.reloads,
        stop: api.shutdown.clone(),
        condition,
        moving: false,
        ended: false,
    };
    let stream = futures_util::stream::unfold(tail, |mut tail| async move {
        let event = tail.next().await?;
        Some((Ok(event), tail))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// One subscriber's stream, on whichever feed sink the running
/// configuration gives it.
struct Tail {
    rx: broadcast::Receiver<Arc<Routed>>,
    sink: Arc<SinkHandle>,
    follower: Arc<Follower>,
    reloads: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
    condition: Condition,
    /// A reload happened: finish the old feed, then take the moves.
    moving: bool,
    ended: bool,
}

impl Tail {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.ended || *self.stop.borrow() {
                return None;
            }
            let next = if self.moving {
                // The replaced feed gets no more records: what it holds
                // is all that is left of it.
                match self.rx.try_recv() {
                    Ok(r) => Ok(r),
                    Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                    Err(TryRecvError::Empty | TryRecvError::Closed) => {
                        match self.follower.next_move() {
                            Some(Move::To(sink, rx)) => {
                                self.sink = sink;
                                self.rx = rx;
                                self.moving = self.follower.has_moves();
                            }
                            Some(Move::Gone(why)) => {
                                self.ended = true;
                                let data = serde_json::json!({ "error": why }).to_string();
                                return Some(Event::default().event("closed").data(data));
                            }
                            None => self.moving = false,
                        }
                        continue;
                    }
                }
            } else {
                tokio::select! {
                    r = self.rx.recv() => r,
                    _ = self.stop.changed() => return None,
                    Ok(()) = self.reloads.changed() => {
                        self.moving = self.follower.has_moves();
                        continue;
                    }
                }
            };
            match next {
                Ok(r) if matches(&self.condition, &r.record) => {
                    return Some(Event::default().data(r.feed_json()));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    // This subscriber fell behind; it alone loses records.
                    self.sink.stats.dropped.fetch_add(n, Relaxed);
                    return Some(Event::default().event("lagged").data(n.to_string()));
                }
                // Only at shutdown, when the last copy of the sink goes.
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

fn matches(cond: &Condition, record: &distlog_proto::Record) -> bool {
    cond.matches(&RecordSubject::new(record))
}
