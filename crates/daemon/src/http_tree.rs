//! Trees in parts over HTTP (docs/http-api.md, "Paged trees"): a task's
//! scope skeleton, one scope's records a page at a time, and the path to a
//! key. The whole-tree call (`/api/tree/{id}`) stays for scripts.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use distlog_proto::{parse_any, Key};

use crate::http::{Api, ApiError};
use crate::storage::now;

/// Records per page unless the caller asks for another number.
const DEFAULT_PAGE: usize = 1000;
/// The most records one page holds, whatever the caller asks.
const MAX_PAGE: usize = 20_000;

pub(crate) fn router() -> Router<Api> {
    Router::new()
        .route("/api/skeleton/{*id}", get(skeleton))
        .route("/api/scope/{*id}", get(scope))
        .route("/api/path/{*key}", get(key_path))
}

/// Answers are serialised straight from the store's types: going through
/// a `serde_json::Value` first cost a tree of small allocations per scope
/// and record (a third of a 10,000-scope skeleton's time, perf).
type ApiResult = Result<Response, ApiError>;

fn bad(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, format!("{what}: {e}"))
}

fn not_found(what: String) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what)
}

/// The deepest `depth=` a skeleton call takes: more than any tree has
/// levels, small enough to say plainly that a number is nonsense.
const MAX_DEPTH: usize = 10_000;

#[derive(serde::Deserialize)]
struct SkeletonParams {
    // Text, so that a bad number gets this API's JSON error, not axum's
    // plain-text rejection.
    depth: Option<String>,
    children: Option<String>,
}

/// `text` as a number from 0 to `max`, or this API's error for `what`.
fn count(what: &str, text: Option<&str>, max: usize) -> Result<Option<usize>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    match text.parse::<usize>() {
        Ok(n) if n <= max => Ok(Some(n)),
        _ => Err(bad(
            what,
            format!("{text:?} is not a number from 0 to {max}"),
        )),
    }
}

/// The whole task's skeleton, whatever the id names (scripts and the CLI
/// rely on it); with `?depth=N`, the skeleton of the scope a scope id names
/// (the root's for a task id or key) down to N levels below it, and with
/// `?children=K` at most K child scopes of each; the scopes left out are
/// counted in their parent's `more_scopes`.
async fn skeleton(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(p): Query<SkeletonParams>,
) -> ApiResult {
    let (scope, seq) = parse_any(&id).map_err(|e| bad("not a task id, scope id or key", e))?;
    let depth = count("depth", p.depth.as_deref(), MAX_DEPTH)?;
    let children = count("children", p.children.as_deref(), usize::MAX)?;
    let root = scope.root.clone();
    // A key names its task, as it did before scope ids were read here.
    let path = if seq.is_some() || (depth.is_none() && children.is_none()) {
        Vec::new()
    } else {
        scope.path.clone()
    };
    let at = path.clone();
    let skel = api
        .query(move |r| Ok(r.skeleton_cut(&root, &at, depth, children, now())?))
        .await?;
    match skel {
        Some(s) => Ok(Json(s).into_response()),
        None if path.is_empty() => Err(not_found(format!("no records of task {}", scope.root))),
        None => Err(not_found(format!("no scope {id}"))),
    }
}

#[derive(serde::Deserialize)]
struct PageParams {
    after: Option<String>,
    limit: Option<usize>,
}

async fn scope(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(p): Query<PageParams>,
) -> ApiResult {
    let (scope, seq) = parse_any(&id).map_err(|e| bad("not a scope id", e))?;
    if seq.is_some() {
        return Err(bad(
            "not a scope id",
            "a key; ask /api/path/{key} for its page",
        ));
    }
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(bad(
            "limit",
            format!("{limit} is not between 1 and {MAX_PAGE}"),
        ));
    }
    let root = scope.root.clone();
    let path: String = scope.path.iter().map(|n| format!("/{n}")).collect();
    let page = api
        .query(move |r| Ok(r.scope_page(&root, &path, p.after.as_deref(), limit)?))
        .await?;
    match page {
        Some(page) => Ok(Json(page).into_response()),
        None => Err(not_found(format!("no records of task {}", scope.root))),
    }
}

async fn key_path(State(api): State<Api>, Path(key): Path<String>) -> ApiResult {
    let parsed = Key::parse(&key).map_err(|e| bad("not a key", e))?;
    let path = api.query(move |r| Ok(r.key_path(&parsed)?)).await?;
    match path {
        Some(p) => Ok(Json(p).into_response()),
        None => Err(not_found(format!("no record with key {key}"))),
    }
}
