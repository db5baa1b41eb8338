//! The JSON HTTP API (see docs/http-api.md).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use distlog_proto::{parse_any, Key};
use distlog_store::{Reader, RecordFilter, Store, StoreError, TaskFilter};
use serde_json::{json, Value};

use crate::pipeline::Switch;
use crate::stats::Stats;
use crate::storage::now;

#[derive(Clone)]
pub struct Api {
    pub(crate) stats: Arc<Stats>,
    pub(crate) switch: Arc<Switch>,
    unfinished_after: Duration,
    /// Readers kept between requests, with the store each reads.
    readers: Arc<Mutex<Vec<(PathBuf, Reader)>>>,
    /// Turns true at shutdown, so endless responses (the feed) end.
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
    /// With peers: the query API answers across them (docs/federation.md).
    federation: Option<Arc<crate::federation::Federation>>,
}

/// An error as the API returns it: a status and `{"error": "..."}`.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BadQuery(m) => ApiError(StatusCode::BAD_REQUEST, m),
            other => ApiError(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

impl Api {
    pub fn new(
        stats: Arc<Stats>,
        switch: Arc<Switch>,
        unfinished_after: Duration,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Api {
        Api {
            stats,
            switch,
            unfinished_after,
            readers: Arc::new(Mutex::new(Vec::new())),
            shutdown,
            federation: None,
        }
    }

    pub fn with_federation(mut self, federation: crate::federation::Federation) -> Api {
        self.federation = Some(Arc::new(federation));
        self
    }

    pub fn router(self) -> Router {
        let federation = self.federation.clone();
        let routes = Router::new()
            .route(
                "/healthz",
                get(|| async { Json(json!({ "status": "ok" })) }),
            )
            .route("/api/stats", get(stats))
            .route("/api/tasks", get(tasks))
            .route("/api/tasks/{root}", get(task))
            .route("/api/tree/{*id}", get(tree))
            .route("/api/records", get(records))
            .route("/api/records/{*id}", get(record))
            .route("/api/feed", get(crate::feed::feed))
            .merge(crate::levels::router())
            .route("/metrics", get(crate::metrics::metrics_handler))
            .merge(crate::http_tree::router())
            .merge(crate::ui::router())
            .with_state(self);
        // Inside the compression: a front's merged answers are compressed
        // like a collector's own.
        if let Some(f) = &federation {
            f.set_local(routes.clone());
        }
        let routes = match federation {
            Some(f) => routes.layer(axum::middleware::from_fn_with_state(
                f,
                crate::federation::layer,
            )),
            None => routes,
        };
        routes
            // Trees run to tens of MiB of JSON: for a browser across a
            // network, compressed at the fastest level (zstd where the
            // client takes it) they are a tenth of that. The live feed's
            // event stream is left alone, as the default predicate does.
            .layer(
                tower_http::compression::CompressionLayer::new()
                    .quality(tower_http::CompressionLevel::Fastest),
            )
    }

    /// The store the API reads, as the running pipeline has it (a reload
    /// may change it): the store sink named `store`, else the first one.
    pub(crate) fn store(&self) -> Option<(String, Arc<Store>)> {
        let pipeline = self.switch.current();
        let stores = || {
            pipeline
                .sinks
                .iter()
                .filter_map(|s| s.store().map(|st| (s.name.clone(), st.clone())))
        };
        stores()
            .find(|(n, _)| n == "store")
            .or_else(|| stores().next())
    }

    /// Runs a query on a pooled reader of the current store, off the async
    /// workers: reads block.
    pub(crate) async fn query<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> Result<T, ApiError> + Send + 'static,
    {
        let api = self.clone();
        let Some((_, store)) = api.store() else {
            return Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "this daemon's configuration has no store sink to query".into(),
            ));
        };
        tokio::task::spawn_blocking(move || {
            let path = store.path().to_path_buf();
            let pooled = api.readers.lock().ok().and_then(|mut pool| {
                // Readers of a store a reload replaced are let go.
                pool.retain(|(p, _)| *p == path);
                pool.pop()
            });
            let reader = match pooled {
                Some((_, r)) => r,
                None => store.reader()?.with_unfinished_after(api.unfinished_after),
            };
            let out = f(&reader);
            if let Ok(mut pool) = api.readers.lock() {
                pool.push((path, reader));
            }
            out
        })
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    }
}

async fn stats(State(api): State<Api>) -> ApiResult {
    let mut out = api.stats.to_json();
    let pipeline = api.switch.current();
    out["sinks"] = pipeline.sinks.iter().map(|s| s.to_json()).collect();
    out["rules"] = pipeline.rules_json();
    out["jetstream"] = crate::jetstream::stats_json();
    out["tail"] = pipeline.tail_json();
    if let Some((name, store)) = api.store() {
        let sink = pipeline
            .sink(&name)
            .map(|s| s.to_json())
            .unwrap_or_default();
        let s = store.stats();
        out["store"] = json!({
            "sink": name,
            "path": store.path().display().to_string(),
            "records": s.records,
            "stored": s.indexed_since_open,
            "queued": s.appended.saturating_sub(s.indexed),
            "errors": sink["errors"],
            "lost": sink["dropped"],
            "appended": s.appended,
            "durable": s.durable,
            "durable_lag": s.durable_lag,
            "memtable_records": s.memtable_records,
            "segments": s.segments,
            "segment_bytes": s.segment_bytes,
            "filter_bytes": s.filter_bytes,
            "journal_bytes": s.journal_bytes,
            "segments_written": s.segments_written,
            "summaries_written": s.summaries_written,
            "merges": s.merges,
            "corrupt_blocks": s.corrupt_blocks,
            "retention_deleted": s.retention_deleted,
            "heartbeats": s.heartbeats,
            "journal_failures": s.journal_failures,
        });
    }
    Ok(Json(out))
}

async fn tasks(State(api): State<Api>, Query(filter): Query<TaskFilter>) -> ApiResult {
    let rows = api.query(move |r| Ok(r.tasks(&filter, now())?)).await?;
    Ok(Json(json!({ "tasks": rows })))
}

async fn task(State(api): State<Api>, Path(root): Path<String>) -> ApiResult {
    let row = api.query(move |r| Ok(r.task(&root, now())?)).await?;
    match row {
        Some(t) => Ok(Json(json!(t))),
        None => Err(not_found("no such task")),
    }
}

async fn tree(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (scope, seq) = parse_any(&id).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("not a task id, scope id or key: {e}"),
        )
    })?;
    let root = scope.root.clone();
    let tree = api.query(move |r| Ok(r.tree(&root, now())?)).await?;
    let Some(tree) = tree else {
        return Err(not_found(&format!("no records of task {}", scope.root)));
    };
    let focus_key = seq.map(|seq| format!("{seq}@{scope}"));
    Ok(Json(TreeAnswer {
        tree,
        focus: scope.to_string(),
        focus_key,
    })
    .into_response())
}

/// Serialised straight from the tree: building a `Value` first cost as
/// much again as the query (bench/query).
#[derive(serde::Serialize)]
struct TreeAnswer {
    #[serde(flatten)]
    tree: distlog_store::Tree,
    focus: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    focus_key: Option<String>,
}

/// `filter`, a condition in the rule language, besides the SQL filters.
#[derive(serde::Deserialize)]
struct RuleParam {
    filter: Option<String>,
}

async fn records(
    State(api): State<Api>,
    Query(filter): Query<RecordFilter>,
    Query(rule): Query<RuleParam>,
) -> ApiResult {
    let Some(text) = rule.filter.filter(|t| !t.trim().is_empty()) else {
        let rows = api.query(move |r| Ok(r.records(&filter)?)).await?;
        return Ok(Json(json!({ "records": rows })));
    };
    let condition = distlog_rules::parse_filter(&text)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("filter {text:?}: {e}")))?;
    let scan = api
        .query(move |r| Ok(crate::scan::filtered(r, &filter, &condition)?))
        .await?;
    Ok(Json(json!({
        "records": scan.records,
        "scanned": scan.scanned,
        "truncated": scan.truncated,
    })))
}

/// One record by store id, or the records with a key (`seq@scope-id`).
async fn record(State(api): State<Api>, Path(id): Path<String>) -> ApiResult {
    if let Ok(n) = id.parse::<i64>() {
        return match api.query(move |r| Ok(r.record(n)?)).await? {
            Some(row) => Ok(Json(json!(row))),
            None => Err(not_found(&format!("no record with id {n}"))),
        };
    }
    let key = Key::parse(&id).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("not a record id or key: {e}"),
        )
    })?;
    let rows = api.query(move |r| Ok(r.records_by_key(&key)?)).await?;
    match rows.len() {
        0 => Err(not_found(&format!("no record with key {id}"))),
        1 => Ok(Json(json!(rows[0]))),
        _ => Ok(Json(json!({ "records": rows }))),
    }
}

fn not_found(what: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what.to_owned())
}
