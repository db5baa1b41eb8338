//! The query API across sources: each call asked of every source (or of
//! the one an id names), the answers merged as one store holding every
//! record would give them, marked `partial` with a `peers` list.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::source::{Outcome, Reply};
use super::tree;
use super::Federation;
use super::{deep, ids};

/// As the store clamps them.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 10_000;
/// The furthest a front pages `/api/tasks`: each source is asked for
/// `offset + limit` rows from the start, and gives at most `MAX_LIMIT`.
const MAX_OFFSET: u64 = MAX_LIMIT;

pub(crate) async fn answer(fed: Arc<Federation>, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    let q = Params::parse(uri.query().unwrap_or(""));
    let tail = |prefix: &str| path.strip_prefix(prefix).map(str::to_owned);
    if path == "/api/tasks" {
        tasks(&fed, q).await
    } else if path == "/api/records" {
        records(&fed, q).await
    } else if let Some(root) = tail("/api/tasks/") {
        one_task(&fed, &root).await
    } else if let Some(id) = tail("/api/records/") {
        record(&fed, &id, &q).await
    } else if let Some(id) = tail("/api/tree/") {
        whole_raw(&fed, &format!("/api/tree/{id}"), Whole::Tree).await
    } else if let Some(id) = tail("/api/skeleton/") {
        whole_raw(&fed, &format!("/api/skeleton/{id}"), Whole::Skeleton).await
    } else if let Some(id) = tail("/api/scope/") {
        scope_page(&fed, &id, q).await
    } else if let Some(key) = tail("/api/path/") {
        key_path(&fed, &key).await
    } else {
        error(StatusCode::NOT_FOUND, "no such API call".into())
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The sources' 200 answers, by source.
type Answers = Vec<(usize, Value)>;

/// The answers to use, or the response to give when there are none: a
/// 400 any source gave (every collector checks requests alike), 502 when
/// sources failed and none answered, else the sources' 404 (or 503).
fn settle(fed: &Federation, replies: Vec<Reply>) -> Result<(Answers, Report), Box<Response>> {
    let (peers, partial) = fed.report(&replies);
    let with_peers = |code: u16, mut body: Value| {
        body["peers"] = peers.clone();
        body["partial"] = json!(partial);
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
        Box::new((status, Json(body)).into_response())
    };
    for r in &replies {
        if let Outcome::Status(400, body) = &r.outcome {
            return Err(with_peers(400, body.clone()));
        }
    }
    if replies.iter().any(|r| r.ok().is_some()) {
        // Taken, not copied: a tree runs to tens of MiB.
        let oks = replies
            .into_iter()
            .filter_map(|r| match r.outcome {
                Outcome::Ok(v) => Some((r.source, v)),
                _ => None,
            })
            .collect();
        return Ok((oks, Report { peers, partial }));
    }
    let status_of = |code: u16| {
        replies.iter().find_map(|r| match &r.outcome {
            Outcome::Status(c, body) if *c == code => Some(body.clone()),
            _ => None,
        })
    };
    let why: Vec<String> = replies
        .iter()
        .filter(|r| r.failed())
        .map(|r| format!("{}: {}", fed.source_name(r.source), r.state()))
        .collect();
    if let Some(mut body) = status_of(404) {
        // Not where it was looked for; a source that did not answer may
        // still hold it, and the answer says so.
        if partial {
            let text = body["error"].as_str().unwrap_or("not found").to_owned();
            body["error"] = json!(format!("{text} (not asked: {})", why.join(", ")));
        }
        return Err(with_peers(404, body));
    }
    if partial {
        return Err(with_peers(
            502,
            json!({ "error": format!("no collector answered ({})", why.join(", ")) }),
        ));
    }
    Err(with_peers(
        503,
        json!({ "error": "no collector (this daemon or a peer) has a store to query" }),
    ))
}

/// How the sources answered, for the answer's `peers` and `partial`.
struct Report {
    peers: Value,
    partial: bool,
}

fn finish(report: Report, mut body: Value) -> Response {
    body["partial"] = json!(report.partial);
    body["peers"] = report.peers;
    Json(body).into_response()
}

/// Query parameters as sent (still percent-encoded), in order.
#[derive(Clone, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(text: &str) -> Params {
        Params(
            text.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (p.to_owned(), String::new()),
                })
                .collect(),
        )
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn num<T: std::str::FromStr>(&self, key: &str) -> Option<T> {
        self.get(key).and_then(|v| v.parse().ok())
    }
    fn set(&mut self, key: &str, value: impl ToString) {
        self.remove(key);
        self.0.push((key.to_owned(), value.to_string()));
    }
    fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }
    pub fn to_query(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("?{}", parts.join("&"))
    }
}

// ---- tasks

async fn tasks(fed: &Arc<Federation>, q: Params) -> Response {
    let limit = q
        .num::<u64>("limit")
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, MAX_LIMIT);
    let offset = match task_offset(&q) {
        Ok(o) => o,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let mut ask = q.clone();
    if q.get("limit").is_none_or(|l| l.parse::<u64>().is_ok()) {
        ask.set("limit", offset.saturating_add(limit).min(MAX_LIMIT));
    }
    if q.get("offset").is_none_or(|o| o.parse::<u64>().is_ok()) {
        ask.set("offset", 0);
    }
    let replies = fed.ask_all(&format!("/api/tasks{}", ask.to_query())).await;
    let (oks, report) = match settle(fed, replies) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let rows = oks
        .into_iter()
        .flat_map(|(_, v)| match v {
            Value::Object(mut m) => match m.remove("tasks") {
                Some(Value::Array(rows)) => rows,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        })
        .collect();
    let mut merged = merge_tasks(rows);
    merged.sort_by(|a, b| {
        let s = |v: &Value| v["started"].as_f64().unwrap_or(f64::MIN);
        s(b).total_cmp(&s(a))
            .then_with(|| a["root"].as_str().cmp(&b["root"].as_str()))
    });
    let page: Vec<Value> = merged
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(limit as usize)
        .collect();
    finish(report, json!({ "tasks": page }))
}

/// `offset` of `/api/tasks` as a front can honour it. One that is not a
/// number is left for the sources to refuse.
fn task_offset(q: &Params) -> Result<u64, String> {
    match q.num::<u64>("offset") {
        Some(o) if o > MAX_OFFSET => Err(format!(
            "offset {o}: a query front pages tasks up to offset {MAX_OFFSET} (each collector gives at most {MAX_LIMIT} rows); narrow the query (since, until, status, q) instead"
        )),
        Some(o) => Ok(o),
        None => Ok(0),
    }
}

async fn one_task(fed: &Arc<Federation>, root: &str) -> Response {
    let replies = fed.ask_all(&format!("/api/tasks/{root}")).await;
    let (oks, report) = match settle(fed, replies) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let mut rows = merge_tasks(oks.into_iter().map(|(_, v)| v).collect());
    let row = rows.pop().unwrap_or_default();
    finish(report, row)
}

/// Rows of the same root (a task split across collectors) made one.
pub(crate) fn merge_tasks(rows: Vec<Value>) -> Vec<Value> {
    let mut order: Vec<String> = Vec::new();
    let mut by_root: HashMap<String, Value> = HashMap::new();
    for row in rows {
        let root = row["root"].as_str().unwrap_or("").to_owned();
        match by_root.get_mut(&root) {
            Some(have) => combine_task(have, row),
            None => {
                order.push(root.clone());
                by_root.insert(root, row);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|r| by_root.remove(&r))
        .collect()
}

fn status_rank(s: &str) -> u8 {
    match s {
        "failed" => 4,
        "succeeded" => 3,
        "running" => 2,
        _ => 1,
    }
}

fn combine_task(have: &mut Value, other: Value) {
    // The part with the root's opening record says what the task is.
    if have["message"].is_null() && !other["message"].is_null() {
        for k in ["message", "host", "process", "context"] {
            if let Some(v) = other.get(k) {
                have[k] = v.clone();
            }
        }
    }
    let f = |v: &Value, k: &str| v[k].as_f64();
    if let Some(s) = f(&other, "started") {
        if f(have, "started").is_none_or(|h| s < h) {
            have["started"] = json!(s);
        }
    }
    if let Some(s) = f(&other, "last_seen") {
        if f(have, "last_seen").is_none_or(|h| s > h) {
            have["last_seen"] = json!(s);
        }
    }
    let (hs, os) = (
        have["status"].as_str().unwrap_or("").to_owned(),
        other["status"].as_str().unwrap_or(""),
    );
    if status_rank(os) > status_rank(&hs) {
        have["status"] = json!(os);
        have["ended"] = other["ended"].clone();
        have["duration"] = other["duration"].clone();
    }
    for k in ["records", "failures"] {
        let sum = have[k].as_i64().unwrap_or(0) + other[k].as_i64().unwrap_or(0);
        have[k] = json!(sum);
    }
    if let (Some(e), Some(s)) = (f(have, "ended"), f(have, "started")) {
        if have["duration"].is_null() {
            have["duration"] = json!((e - s).max(0.0));
        }
    }
}

// ---- records

/// What identifies one record across sources: the same record stored by
/// two collectors (redelivered after a failover) is shown once.
fn identity(r: &Value) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}",
        r["key"].as_str().unwrap_or(""),
        r["created"],
        r["host"].as_str().unwrap_or(""),
        r["process"],
        r["logger"].as_str().unwrap_or(""),
        r["message"].as_str().unwrap_or(""),
    )
}

/// Drops records already seen from another source.
fn dedupe(rows: &mut Vec<(usize, Value)>) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    rows.retain(|(source, r)| match seen.get(&identity(r)) {
        Some(s) => s == source,
        None => {
            seen.insert(identity(r), *source);
            true
        }
    });
}

fn by_time(a: &Value, b: &Value) -> Ordering {
    let t = |v: &Value| v["created"].as_f64().unwrap_or(0.0);
    let id = |v: &Value| v["id"].as_i64().unwrap_or(0);
    t(a).total_cmp(&t(b)).then_with(|| id(a).cmp(&id(b)))
}

async fn records(fed: &Arc<Federation>, q: Params) -> Response {
    let limit = q
        .num::<u64>("limit")
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, MAX_LIMIT) as usize;
    let asc = q.get("order") == Some("asc");
    // `after`/`before` name a record by the front's id: its own source
    // goes on by its ids; the others by the time that record was created.
    let mut asks: Vec<(usize, String)> = Vec::new();
    let mut bound: Option<(usize, Value, bool)> = None;
    // Sources not asked as the cursor's record could not be looked up:
    // reported, so the answer says it is partial.
    let mut skipped: Vec<Reply> = Vec::new();
    let cursor = [("after", true), ("before", false)]
        .into_iter()
        .find_map(|(k, after)| q.num::<i64>(k).map(|id| (k, id, after)));
    match cursor {
        None => {
            for s in 0..fed.source_count() {
                asks.push((s, format!("/api/records{}", q.to_query())));
            }
        }
        Some((key, id, after)) => {
            let (local, source) = ids::decode(id);
            let mut mine = q.clone();
            mine.set(key, local);
            asks.push((source, format!("/api/records{}", mine.to_query())));
            let found = fed
                .ask(vec![(source, format!("/api/records/{local}"))])
                .await
                .pop();
            if let Some(created) = found
                .as_ref()
                .and_then(|r| r.ok())
                .and_then(|v| v["created"].as_f64())
            {
                let mut others = q.clone();
                others.remove(key);
                if after {
                    others.set("since", created);
                } else {
                    // `until` is exclusive; records created at the same
                    // instant are sorted out below.
                    others.set("until", created + 1e-3);
                }
                for s in (0..fed.source_count()).filter(|s| *s != source) {
                    asks.push((s, format!("/api/records{}", others.to_query())));
                }
                let mut at = json!({ "created": created, "id": id });
                at["id"] = json!(id);
                bound = Some((source, at, after));
            } else if source < fed.source_count() {
                let how = match &found {
                    Some(r) => match &r.outcome {
                        Outcome::Failed(_, why) => format!("{}: {why}", r.state()),
                        _ => r.state().to_owned(),
                    },
                    None => "no answer".to_owned(),
                };
                let why = format!(
                    "not asked: the cursor's record ({key}={id}) could not be looked up on {} ({how}), so where to go on from is unknown",
                    fed.source_name(source)
                );
                for s in (0..fed.source_count()).filter(|s| *s != source) {
                    skipped.push(Reply {
                        source: s,
                        outcome: Outcome::Failed("error", why.clone()),
                    });
                }
            }
        }
    }
    let mut replies = fed.ask(asks).await;
    replies.append(&mut skipped);
    replies.sort_by_key(|r| r.source);
    let (oks, report) = match settle(fed, replies) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let mut scanned = 0;
    let mut truncated = false;
    let mut filtered = false;
    let mut rows: Vec<(usize, Value)> = Vec::new();
    for (source, mut v) in oks {
        if let Some(n) = v.get("scanned").and_then(Value::as_u64) {
            filtered = true;
            scanned += n;
        }
        truncated |= v["truncated"].as_bool() == Some(true);
        if let Some(Value::Array(list)) = v.get_mut("records").map(Value::take) {
            for mut r in list {
                ids::rewrite(&mut r, source);
                rows.push((source, r));
            }
        }
    }
    if let Some((own, at, after)) = &bound {
        rows.retain(|(s, r)| {
            s == own
                || match by_time(r, at) {
                    Ordering::Greater => *after,
                    Ordering::Less => !*after,
                    Ordering::Equal => false,
                }
        });
    }
    dedupe(&mut rows);
    rows.sort_by(|a, b| {
        if asc {
            by_time(&a.1, &b.1)
        } else {
            by_time(&b.1, &a.1)
        }
    });
    rows.truncate(limit);
    let mut body = json!({ "records": rows.into_iter().map(|(_, r)| r).collect::<Vec<_>>() });
    if filtered {
        body["scanned"] = json!(scanned);
        body["truncated"] = json!(truncated);
    }
    finish(report, body)
}

/// One record by the front's id (from its source), or by key (from all).
async fn record(fed: &Arc<Federation>, id: &str, q: &Params) -> Response {
    if let Ok(n) = id.parse::<i64>() {
        let (local, source) = ids::decode(n);
        if source >= fed.source_count() {
            return error(StatusCode::NOT_FOUND, format!("no record with id {n}"));
        }
        let replies = fed
            .ask(vec![(
                source,
                format!("/api/records/{local}{}", q.to_query()),
            )])
            .await;
        let (mut oks, report) = match settle(fed, replies) {
            Ok(o) => o,
            Err(resp) => return *resp,
        };
        let (_, mut row) = oks.remove(0);
        ids::rewrite(&mut row, source);
        return finish(report, row);
    }
    let replies = fed
        .ask_all(&format!("/api/records/{id}{}", q.to_query()))
        .await;
    let (oks, report) = match settle(fed, replies) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let mut rows: Vec<(usize, Value)> = Vec::new();
    for (source, v) in oks {
        let list = match v.get("records") {
            Some(Value::Array(l)) => l.clone(),
            _ => vec![v],
        };
        for mut r in list {
            ids::rewrite(&mut r, source);
            rows.push((source, r));
        }
    }
    dedupe(&mut rows);
    rows.sort_by(|a, b| by_time(&a.1, &b.1));
    let body = if rows.len() == 1 {
        rows.remove(0).1
    } else {
        json!({ "records": rows.into_iter().map(|(_, r)| r).collect::<Vec<_>>() })
    };
    finish(report, body)
}

// ---- trees

#[derive(Clone, Copy)]
enum Whole {
    Tree,
    Skeleton,
}

/// A tree or skeleton held by one source (the rule) goes on as its text
/// (a tree's ids rewritten in it), never parsed, however deep; one split
/// across sources is parsed and merged.
async fn whole_raw(fed: &Arc<Federation>, pq: &str, what: Whole) -> Response {
    let mut replies = fed.ask_as(fed.all(pq), true).await;
    let raw: Vec<usize> = replies
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.outcome, Outcome::Raw(_)))
        .map(|(i, _)| i)
        .collect();
    let bad_request = replies
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Status(400, _)));
    if raw.len() == 1 && !bad_request {
        let (peers, partial) = fed.report(&replies);
        let i = raw[0];
        let source = replies[i].source;
        let Outcome::Raw(bytes) =
            std::mem::replace(&mut replies[i].outcome, Outcome::Ok(Value::Null))
        else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "lost an answer".into());
        };
        let extra = format!("\"partial\":{partial},\"peers\":{peers}");
        let work = tokio::task::spawn_blocking(move || match what {
            Whole::Tree => super::raw::rewrite_tree(&bytes, source, &extra),
            Whole::Skeleton => deep::append_fields(&bytes, &extra),
        });
        return match work.await {
            Ok(Some(out)) => (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                out,
            )
                .into_response(),
            _ => error(
                StatusCode::BAD_GATEWAY,
                format!(
                    "{} sent an answer that is not a JSON object",
                    fed.source_name(source)
                ),
            ),
        };
    }
    let merge = match what {
        Whole::Tree => tree::merge_trees,
        Whole::Skeleton => tree::merge_skeletons,
    };
    merged_whole(fed, replies, merge).await
}

/// Parses the text answers (in the worker the merge runs in).
fn parse_raw(mut r: Reply) -> Reply {
    if let Outcome::Raw(bytes) = &r.outcome {
        r.outcome = match deep::parse(bytes) {
            Ok(v) => Outcome::Ok(v),
            Err(e) => Outcome::Failed("error", format!("HTTP 200: {e}")),
        };
    }
    r
}

async fn merged_whole(
    fed: &Arc<Federation>,
    replies: Vec<Reply>,
    merge: fn(Vec<(usize, Value)>) -> Value,
) -> Response {
    // Trees run to tens of MiB and hundreds of levels: parsed, merged,
    // written and dropped off the async workers, on a stack that holds
    // the deepest tree the protocol allows.
    let fed = fed.clone();
    let work = tokio::task::spawn_blocking(move || {
        deep::on_big_stack(move || {
            let replies = replies.into_iter().map(parse_raw).collect();
            let (oks, report) = settle(&fed, replies)?;
            let mut body = merge(oks);
            body["partial"] = json!(report.partial);
            body["peers"] = report.peers;
            Ok::<_, Box<Response>>(serde_json::to_vec(&body))
        })
    });
    match work.await {
        Ok(Ok(Ok(Ok(bytes)))) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Ok(Ok(Err(resp))) => *resp,
        Ok(Ok(Ok(Err(e)))) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("writing: {e}")),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("merging: {e}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("merging: {e}")),
    }
}

async fn scope_page(fed: &Arc<Federation>, id: &str, q: Params) -> Response {
    let after = q.get("after").map(str::to_owned);
    let cursor = match after.as_deref() {
        Some(text) => match ids::parse_cursor(text) {
            Some(c) => Some(c),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("not a page cursor: {text:?}"),
                )
            }
        },
        None => None,
    };
    let asks = (0..fed.source_count())
        .map(|s| {
            let mut mine = q.clone();
            if let Some(c) = cursor {
                mine.set("after", ids::cursor_for(c, s));
            }
            (s, format!("/api/scope/{id}{}", mine.to_query()))
        })
        .collect();
    let replies = fed.ask(asks).await;
    let (oks, report) = match settle(fed, replies) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let limit = q.num::<usize>("limit").unwrap_or(1000);
    finish(report, tree::merge_pages(oks, limit))
}

/// Where a key sits, in the front's order: found on a source, then every
/// source says how many of the scope's records come before it.
async fn key_path(fed: &Arc<Federation>, key: &str) -> Response {
    let replies = fed.ask_all(&format!("/api/path/{key}")).await;
    let (oks, report) = match settle(fed, replies) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let (source, found) = oks[0].clone();
    let Some(scope) = found["scopes"]
        .as_array()
        .and_then(|s| s.last())
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return finish(report, found);
    };
    // The key's own record, for its place in the merged order.
    let first = match found["cursor"].as_str() {
        Some(c) => format!("/api/scope/{scope}?limit=1&after={c}"),
        None => format!("/api/scope/{scope}?limit=1"),
    };
    let page = fed.ask(vec![(source, first)]).await.pop();
    let at = page.as_ref().and_then(|r| r.ok()).and_then(|p| {
        let r = p["records"].get(0)?;
        Some((
            r["seq"].as_i64().unwrap_or(i64::MAX),
            ids::encode(r["id"].as_i64()?, source),
        ))
    });
    let Some((seq, id)) = at else {
        return finish(report, found);
    };
    let before = (seq, id - 1);
    let asks = (0..fed.source_count())
        .map(|s| {
            (
                s,
                format!(
                    "/api/scope/{scope}?limit=1&after={}",
                    ids::cursor_for(before, s)
                ),
            )
        })
        .collect();
    let counts = fed.ask(asks).await;
    let offset: u64 = counts
        .iter()
        .filter_map(|r| r.ok())
        .filter_map(|p| p["offset"].as_u64())
        .sum();
    let mut body = found;
    body["offset"] = json!(offset);
    body["cursor"] = if offset == 0 {
        Value::Null
    } else {
        json!(format!("{}.{}", before.0, before.1))
    };
    if offset == 0 {
        if let Some(m) = body.as_object_mut() {
            m.remove("cursor");
        }
    }
    finish(report, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_of_a_split_task_make_one_row() {
        let opened = json!({"root": "r", "message": "top", "host": "h", "process": 1,
            "context": {"user": "leo"}, "started": 1.0, "ended": null, "duration": null,
            "last_seen": 1.5, "status": "unfinished", "records": 4, "failures": 0});
        let closed = json!({"root": "r", "message": null, "host": null, "process": null,
            "started": 2.0, "ended": 3.0, "duration": 2.0, "last_seen": 3.0,
            "status": "failed", "records": 3, "failures": 1});
        let other = json!({"root": "s", "message": "x", "started": 5.0, "status": "running",
            "records": 1, "failures": 0});
        let rows = merge_tasks(vec![closed, other, opened]);
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!(
            (&r["message"], &r["host"], &r["context"]["user"]),
            (&json!("top"), &json!("h"), &json!("leo"))
        );
        assert_eq!(
            (r["started"].as_f64(), r["last_seen"].as_f64()),
            (Some(1.0), Some(3.0))
        );
        assert_eq!((&r["status"], &r["ended"]), (&json!("failed"), &json!(3.0)));
        assert_eq!((&r["records"], &r["failures"]), (&json!(7), &json!(1)));
    }

    #[test]
    fn a_task_offset_past_what_a_front_can_page_is_refused() {
        let e = task_offset(&Params::parse("offset=18446744073709551615")).expect_err("too far");
        assert!(e.contains("up to offset 10000"), "{e}");
        assert_eq!(task_offset(&Params::parse("offset=10000")), Ok(10_000));
        assert_eq!(task_offset(&Params::parse("limit=5")), Ok(0));
        // Not a number: the sources refuse it, as a collector would.
        assert_eq!(task_offset(&Params::parse("offset=x")), Ok(0));
    }

    #[test]
    fn query_parameters_are_kept_as_sent() {
        let mut q = Params::parse("q=a%20b&limit=5&limit=7&x");
        assert_eq!(q.get("limit"), Some("7"));
        q.set("limit", 10);
        q.remove("x");
        assert_eq!(q.to_query(), "?q=a%20b&limit=10");
        assert_eq!(Params::parse("").to_query(), "");
    }
}
