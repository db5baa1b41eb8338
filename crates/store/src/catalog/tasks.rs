//! The task list: folding batches into it, and the queries on it.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::TaskDelta;
use crate::model::clamp_limit;
use crate::{Status, StoreError, TaskFilter, TaskRow};

/// Writes each task's delta and returns each task's id.
pub(super) fn upsert<'a>(
    tx: &rusqlite::Transaction<'_>,
    tasks: FxHashMap<&'a str, TaskDelta>,
) -> Result<FxHashMap<&'a str, u64>, StoreError> {
    // The root's opening record decides message, host and process; until it
    // arrives (a subtask from another process may come first) the first
    // record seen stands in. A closed task stays closed.
    let mut upsert = tx.prepare_cached(
        "INSERT INTO tasks (root, message, host, process, started, ended, duration,
            last_seen, status, records, failures, context, last_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, COALESCE(?9, 'running'), ?10, ?11, ?14, ?15)
         ON CONFLICT (root) DO UPDATE SET
            message  = CASE WHEN ?12 THEN excluded.message ELSE tasks.message END,
            context  = CASE WHEN ?12 THEN excluded.context ELSE tasks.context END,
            host     = CASE WHEN ?12 THEN excluded.host ELSE COALESCE(tasks.host, excluded.host) END,
            process  = CASE WHEN ?12 THEN excluded.process ELSE COALESCE(tasks.process, excluded.process) END,
            started  = MIN(tasks.started, excluded.started),
            ended    = COALESCE(excluded.ended, tasks.ended),
            duration = COALESCE(?13, CASE WHEN excluded.ended IS NOT NULL
                THEN MAX(0, excluded.ended - MIN(tasks.started, excluded.started)) END, tasks.duration),
            last_seen = MAX(tasks.last_seen, excluded.last_seen),
            status   = CASE WHEN ?9 IS NOT NULL THEN ?9 ELSE tasks.status END,
            records  = tasks.records + excluded.records,
            failures = tasks.failures + excluded.failures,
            last_id  = MAX(tasks.last_id, excluded.last_id)
         RETURNING id",
    )?;
    let mut ids = FxHashMap::with_capacity_and_hasher(tasks.len(), Default::default());
    for (root, d) in tasks {
        let duration = d
            .duration
            .or_else(|| d.ended.map(|e| (e - d.started).max(0.0)));
        let id: i64 = upsert.query_row(
            params![
                root,
                d.message,
                d.host,
                d.process,
                d.started,
                d.ended,
                duration,
                d.last_seen,
                d.status,
                d.records,
                d.failures,
                d.opened,
                d.duration,
                d.context,
                d.last_id as i64,
            ],
            |row| row.get(0),
        )?;
        ids.insert(root, id as u64);
    }
    Ok(ids)
}

const TASK_COLUMNS: &str = "t.root, t.message, t.host, t.process, t.started, t.ended,
    t.duration, t.last_seen,
    CASE WHEN t.status = 'running' AND COALESCE(p.last_seen, t.last_seen) < ?1
        THEN 'unfinished' ELSE t.status END AS status,
    t.records, t.failures, t.context";

/// Root tasks, newest first. A running task whose process was last heard
/// (a record or a heartbeat) before `silent_since` counts as unfinished.
pub(crate) fn list(
    conn: &Connection,
    filter: &TaskFilter,
    silent_since: f64,
) -> Result<Vec<TaskRow>, StoreError> {
    let mut sql = format!(
        "SELECT * FROM (
            SELECT {TASK_COLUMNS}
            FROM tasks t LEFT JOIN processes p ON p.host = t.host AND p.process = t.process
         )
         WHERE (?2 IS NULL OR status = ?2 OR (?2 = 'failed' AND failures > 0))
           AND (?3 IS NULL OR started >= ?3)
           AND (?4 IS NULL OR started < ?4)
           AND (?5 IS NULL OR instr(lower(COALESCE(message, '')), lower(?5)) > 0
                OR instr(root, ?5) > 0)
           AND (?6 IS NULL OR host = ?6)
           AND (?7 IS NULL OR lower(substr(root, 1, length(?7))) = ?7)"
    );
    let mut args: Vec<Sql> = vec![
        Sql::Real(silent_since),
        filter
            .status
            .map_or(Sql::Null, |s| Sql::Text(s.as_str().into())),
        filter.since.map_or(Sql::Null, Sql::Real),
        filter.until.map_or(Sql::Null, Sql::Real),
        filter.text.clone().map_or(Sql::Null, Sql::Text),
        filter.host.clone().map_or(Sql::Null, Sql::Text),
        filter
            .root_prefix
            .clone()
            .map(|p| p.to_ascii_lowercase())
            .map_or(Sql::Null, Sql::Text),
    ];
    for (field, value) in context_conditions(filter.context.as_deref())? {
        // Compared as text so `id=5` finds the number 5 and the string "5".
        sql.push_str(&format!(
            " AND CAST(json_extract(context, ?{}) AS TEXT) = ?{}",
            args.len() + 1,
            args.len() + 2
        ));
        args.push(Sql::Text(json_path(&field)));
        args.push(Sql::Text(value));
    }
    sql.push_str(&format!(
        " ORDER BY started DESC LIMIT ?{} OFFSET ?{}",
        args.len() + 1,
        args.len() + 2
    ));
    args.push(Sql::Integer(clamp_limit(filter.limit) as i64));
    args.push(Sql::Integer(
        i64::try_from(filter.offset.unwrap_or(0)).unwrap_or(i64::MAX),
    ));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), task_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One root task with its catalogue id, or `None` if no record of it was stored.
pub(crate) fn one(
    conn: &Connection,
    root: &str,
    silent_since: f64,
) -> Result<Option<(u64, TaskRow)>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TASK_COLUMNS}, t.id
         FROM tasks t LEFT JOIN processes p ON p.host = t.host AND p.process = t.process
         WHERE t.root = ?2"
    ))?;
    Ok(stmt
        .query_row(params![silent_since, root], |row| {
            Ok((row.get::<_, i64>(12)? as u64, task_row(row)?))
        })
        .optional()?)
}

/// When each process was last heard from, for the given (host, pid) pairs.
pub(crate) fn last_seen(
    conn: &Connection,
    processes: impl IntoIterator<Item = (String, i64)>,
) -> Result<HashMap<(String, i64), f64>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT last_seen FROM processes WHERE host = ?1 AND process = ?2")?;
    let mut seen = HashMap::new();
    for (host, pid) in processes {
        if seen.contains_key(&(host.clone(), pid)) {
            continue;
        }
        let at: Option<f64> = stmt
            .query_row(params![host, pid], |row| row.get(0))
            .optional()?;
        if let Some(at) = at {
            seen.insert((host, pid), at);
        }
    }
    Ok(seen)
}

fn task_row(row: &Row<'_>) -> rusqlite::Result<TaskRow> {
    let status: String = row.get(8)?;
    Ok(TaskRow {
        root: row.get(0)?,
        message: row.get(1)?,
        host: row.get(2)?,
        process: row.get(3)?,
        started: row.get(4)?,
        ended: row.get(5)?,
        duration: row.get(6)?,
        last_seen: row.get(7)?,
        status: Status::parse(&status).unwrap_or(Status::Running),
        records: row.get(9)?,
        failures: row.get(10)?,
        context: row
            .get::<_, Option<String>>(11)?
            .and_then(|c| serde_json::from_str(&c).ok()),
    })
}

/// `user=leo,region=eu` as pairs: a task matches when its root context
/// holds every one. Field names are JSON object keys; a dotted name reaches
/// into nested objects (`request.id=7`).
pub(crate) fn context_conditions(text: Option<&str>) -> Result<Vec<(String, String)>, StoreError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|pair| {
            let (field, value) = pair.split_once('=').ok_or_else(|| {
                StoreError::BadQuery(format!(
                    "context filter {pair:?} is not field=value (e.g. context=user=leo)"
                ))
            })?;
            let field = field.trim();
            if field.is_empty() || field.split('.').any(str::is_empty) || field.contains('"') {
                return Err(StoreError::BadQuery(format!(
                    "context filter {pair:?} needs a field name without quotes or empty parts"
                )));
            }
            Ok((field.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// A JSON path for SQLite with every step quoted, so no field name is read
/// as path syntax (`[`, `$`); names with quotes are refused above.
pub(crate) fn json_path(field: &str) -> String {
    let mut path = String::from("$");
    for step in field.split('.') {
        path.push_str(".\"");
        path.push_str(step);
        path.push('"');
    }
    path
}
