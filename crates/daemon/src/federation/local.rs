//! The front's own store, asked in process: the request goes through this
//! daemon's router (without the federation layer) instead of over
//! loopback, so it takes no connection and holds no blocking thread while
//! the store answers.

use std::sync::atomic::AtomicU64;

use axum::body::Body;
use axum::http::Request;
use futures_util::StreamExt as _;
use tower_service::Service;

use super::source::{take, too_big_answer, Outcome, FANOUT_HEADER, MAX_ANSWER};
use super::{deep, Federation};

impl Federation {
    /// Whether source 0 is answered in process.
    pub(crate) fn has_local(&self) -> bool {
        self.local.get().is_some()
    }

    /// Source 0's answer from this daemon's own router, read within
    /// [`MAX_ANSWER`] and `budget` as a peer's is.
    pub(crate) async fn get_local(&self, pq: &str, raw: bool, budget: &AtomicU64) -> Outcome {
        let Some(router) = self.local.get() else {
            return Outcome::Failed("error", "no local router".into());
        };
        let req = match Request::get(pq)
            .header(FANOUT_HEADER, "1")
            .body(Body::empty())
        {
            Ok(r) => r,
            Err(e) => return Outcome::Failed("error", format!("not a request: {e}")),
        };
        let mut svc = router.clone();
        // A router is always ready and never fails: errors are responses.
        let resp =
            match std::future::poll_fn(|cx| Service::<Request<Body>>::poll_ready(&mut svc, cx))
                .await
            {
                Ok(()) => match svc.call(req).await {
                    Ok(r) => r,
                    Err(e) => match e {},
                },
                Err(e) => match e {},
            };
        let status = resp.status().as_u16();
        let mut stream = resp.into_body().into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => return Outcome::Failed("error", format!("reading the answer: {e}")),
            };
            if (bytes.len() + chunk.len()) as u64 > MAX_ANSWER {
                return too_big_answer();
            }
            if let Err(o) = take(budget, chunk.len()) {
                return o;
            }
            bytes.extend_from_slice(&chunk);
        }
        if raw && status == 200 {
            return Outcome::Raw(bytes);
        }
        // Off the async workers: an answer may be big and deep.
        match tokio::task::spawn_blocking(move || deep::parse(&bytes)).await {
            Ok(Ok(v)) if status == 200 => Outcome::Ok(v),
            Ok(Ok(v)) => Outcome::Status(status, v),
            Ok(Err(e)) => Outcome::Failed("error", format!("HTTP {status}: {e}")),
            Err(e) => Outcome::Failed("error", format!("parsing the answer: {e}")),
        }
    }
}
