//! `GET /api/feed`: the live feed as server-sent events, one record per
//! `data:` line, filtered per subscriber with the rule language.

use std::convert::Infallible;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use distlog_rules::{parse_filter, Condition, RecordSubject};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::http::{Api, ApiError};

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
    let pipeline = api.switch.current();
    let sink = pipeline
        .sinks
        .iter()
        .filter(|s| s.config.kind() == "feed")
        .find(|s| q.sink.as_ref().is_none_or(|n| *n == s.name))
        .cloned()
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                match &q.sink {
                    Some(n) => format!("no feed sink named {n:?}"),
                    None => "this daemon's configuration has no feed sink".into(),
                },
            )
        })?;
    let rx = sink
        .subscribe()
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "not a feed sink".into()))?;
    let state = (rx, condition, sink, api.shutdown.clone());
    let stream = futures_util::stream::unfold(state, |(mut rx, cond, sink, mut stop)| async move {
        loop {
            if *stop.borrow() {
                return None;
            }
            let next = tokio::select! {
                r = rx.recv() => r,
                _ = stop.changed() => return None,
            };
            let event = match next {
                Ok(r) if matches(&cond, &r.record) => Event::default().data(r.feed_json()),
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => {
                    // This subscriber fell behind; it alone loses records.
                    sink.stats.dropped.fetch_add(n, Relaxed);
                    Event::default().event("lagged").data(n.to_string())
                }
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(event), (rx, cond, sink, stop)));
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn matches(cond: &Condition, record: &distlog_proto::Record) -> bool {
    cond.matches(&RecordSubject::new(record))
}
