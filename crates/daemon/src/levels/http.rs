//! `/api/levels`: list, set and clear the pushed log levels
//! (docs/http-api.md).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse_duration, parse_level, Levels, Selectors, Setting};
use crate::http::{Api, ApiError};
use crate::storage::now;

type ApiResult = Result<Json<Value>, ApiError>;

pub fn router() -> Router<Api> {
    Router::new().route("/api/levels", get(list).post(set).delete(clear))
}

fn bad(m: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, m)
}

fn listing(levels: &Levels) -> Value {
    json!({ "generation": levels.generation(), "levels": levels.list() })
}

async fn list(Extension(levels): Extension<Arc<Levels>>) -> ApiResult {
    Ok(Json(listing(&levels)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    level: Value,
    logger: Option<String>,
    host: Option<String>,
    process: Option<u32>,
    system: Option<String>,
    task: Option<String>,
    /// How long the setting holds (`10m`); absent: until cleared.
    #[serde(default, rename = "for")]
    for_: Option<String>,
}

async fn set(
    State(api): State<Api>,
    Extension(levels): Extension<Arc<Levels>>,
    body: Result<Json<SetBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(|e| bad(format!("bad level setting: {}", e.body_text())))?;
    let level = match &body.level {
        Value::String(s) => parse_level(s),
        Value::Number(n) => parse_level(&n.to_string()),
        other => Err(format!("`level` must be a name or number, not {other}")),
    }
    .map_err(bad)?;
    let on = Selectors {
        logger: body.logger,
        host: body.host,
        process: body.process,
        system: body.system,
        task: body.task,
    }
    .normalise()
    .map_err(bad)?;
    let at = now();
    let expires = match &body.for_ {
        Some(d) => Some(at + parse_duration(d).map_err(bad)?),
        None => None,
    };
    if let Some(root) = on.task.clone() {
        let known = api.query(move |r| Ok(r.task(&root, now())?)).await?;
        if known.is_none() {
            let root = on.task.as_deref().unwrap_or_default();
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("no task {root} in the store: give a root task id that distlog has seen"),
            ));
        }
    }
    let setting = Setting {
        on,
        level,
        set_at: at,
        expires,
    };
    let shown = setting.to_json(at);
    let levels2 = levels.clone();
    tokio::task::spawn_blocking(move || levels2.set(setting))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(Json(
        json!({ "set": shown, "generation": levels.generation() }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClearQuery {
    #[serde(default)]
    all: bool,
    logger: Option<String>,
    host: Option<String>,
    process: Option<u32>,
    system: Option<String>,
    task: Option<String>,
}

async fn clear(
    Extension(levels): Extension<Arc<Levels>>,
    q: Result<Query<ClearQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| bad(format!("bad clear request: {}", e.body_text())))?;
    let on = Selectors {
        logger: q.logger,
        host: q.host,
        process: q.process,
        system: q.system,
        task: q.task,
    }
    .normalise()
    .map_err(bad)?;
    let levels2 = levels.clone();
    let cleared = tokio::task::spawn_blocking(move || {
        if q.all {
            levels2.clear_all()
        } else {
            levels2.clear(&on).map(usize::from)
        }
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    if cleared == 0 && !q.all {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "no level setting with exactly these selectors (see GET /api/levels)".into(),
        ));
    }
    Ok(Json(
        json!({ "cleared": cleared, "generation": levels.generation() }),
    ))
}
