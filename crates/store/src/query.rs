use std::collections::HashMap;
use std::time::Duration;

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use crate::model::clamp_limit;
use crate::tree::{self, Tree};
use crate::{RecordFilter, RecordRow, Status, StoreError, TaskFilter, TaskRow};

const RECORD_COLUMNS: &str = "id, received, created, topic, root, scope, seq, event, levelno,
    levelname, logger, host, process, message, duration, body";

/// Answers queries; open as many as you need, each on its own connection.
pub struct Reader {
    conn: Connection,
    unfinished_after: Duration,
}

impl Reader {
    pub(crate) fn new(conn: Connection, unfinished_after: Duration) -> Result<Reader, StoreError> {
        Ok(Reader {
            conn,
            unfinished_after,
        })
    }

    /// Root tasks, newest first. `now` (epoch seconds) decides which running
    /// tasks have gone silent long enough to count as unfinished.
    pub fn tasks(&self, filter: &TaskFilter, now: f64) -> Result<Vec<TaskRow>, StoreError> {
        let silent_since = now - self.unfinished_after.as_secs_f64();
        let mut sql = String::from(
            "SELECT * FROM (
                SELECT t.root, t.message, t.host, t.process, t.started, t.ended, t.duration,
                    t.last_seen,
                    CASE WHEN t.status = 'running'
                        AND COALESCE(p.last_seen, t.last_seen) < ?1
                        THEN 'unfinished' ELSE t.status END AS status,
                    t.records, t.failures, t.context
                FROM tasks t LEFT JOIN processes p ON p.host = t.host AND p.process = t.process
             )
             WHERE (?2 IS NULL OR status = ?2 OR (?2 = 'failed' AND failures > 0))
               AND (?3 IS NULL OR started >= ?3)
               AND (?4 IS NULL OR started < ?4)
               AND (?5 IS NULL OR instr(lower(COALESCE(message, '')), lower(?5)) > 0
                    OR instr(root, ?5) > 0)
               AND (?6 IS NULL OR host = ?6)
               AND (?7 IS NULL OR substr(root, 1, length(?7)) = ?7)",
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
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), task_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One root task, or `None` if no record of it was stored.
    pub fn task(&self, root: &str, now: f64) -> Result<Option<TaskRow>, StoreError> {
        let silent_since = now - self.unfinished_after.as_secs_f64();
        let mut stmt = self.conn.prepare_cached(
            "SELECT t.root, t.message, t.host, t.process, t.started, t.ended, t.duration,
                t.last_seen,
                CASE WHEN t.status = 'running' AND COALESCE(p.last_seen, t.last_seen) < ?2
                    THEN 'unfinished' ELSE t.status END,
                t.records, t.failures, t.context
             FROM tasks t LEFT JOIN processes p ON p.host = t.host AND p.process = t.process
             WHERE t.root = ?1",
        )?;
        Ok(stmt
            .query_row(params![root, silent_since], task_row)
            .optional()?)
    }

    /// Every record of one root task, assembled into its tree.
    pub fn tree(&self, root: &str, now: f64) -> Result<Option<Tree>, StoreError> {
        let sql =
            format!("SELECT {RECORD_COLUMNS} FROM records WHERE task = (SELECT id FROM tasks WHERE root = ?1) ORDER BY scope, seq, id");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let records = stmt
            .query_map(params![root], |row| record_row(row, false))?
            .collect::<Result<Vec<_>, _>>()?;
        if records.is_empty() {
            return Ok(None);
        }
        let last_seen = self.process_last_seen(&records)?;
        let silent_since = now - self.unfinished_after.as_secs_f64();
        Ok(Some(tree::build(root, records, &last_seen, silent_since)))
    }

    fn process_last_seen(
        &self,
        records: &[RecordRow],
    ) -> Result<HashMap<(String, i64), f64>, StoreError> {
        let mut seen = HashMap::new();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT last_seen FROM processes WHERE host = ?1 AND process = ?2")?;
        for r in records {
            let Some(pid) = r.process else { continue };
            let key = (r.host.clone(), pid);
            if seen.contains_key(&key) {
                continue;
            }
            let at: Option<f64> = stmt
                .query_row(params![r.host, pid], |row| row.get(0))
                .optional()?;
            if let Some(at) = at {
                seen.insert(key, at);
            }
        }
        Ok(seen)
    }

    /// Records matching `filter`, newest first unless `order=asc`.
    pub fn records(&self, filter: &RecordFilter) -> Result<Vec<RecordRow>, StoreError> {
        let mut clauses: Vec<&str> = Vec::new();
        let mut args: Vec<Sql> = Vec::new();
        if let Some(level) = filter.level {
            // Spelled out so the planner may use the index of warnings
            // and worse, which a bound parameter alone cannot select.
            clauses.push(if level >= 30 {
                "levelno >= 30 AND levelno >= ?"
            } else {
                "levelno >= ?"
            });
            args.push(Sql::Integer(level));
        }
        if let Some(logger) = &filter.logger {
            // `a.b` matches `a.b` and its children `a.b.c`, as Python's
            // logger hierarchy does.
            clauses.push("(logger = ? OR substr(logger, 1, length(?) + 1) = ? || '.')");
            args.extend([
                Sql::Text(logger.clone()),
                Sql::Text(logger.clone()),
                Sql::Text(logger.clone()),
            ]);
        }
        if let Some(host) = &filter.host {
            clauses.push("host = ?");
            args.push(Sql::Text(host.clone()));
        }
        if let Some(root) = &filter.root {
            clauses.push("task = (SELECT id FROM tasks WHERE root = ?)");
            args.push(Sql::Text(root.clone()));
        }
        if let Some(since) = filter.since {
            clauses.push("created >= ?");
            args.push(Sql::Real(since));
        }
        if let Some(until) = filter.until {
            clauses.push("created < ?");
            args.push(Sql::Real(until));
        }
        if let Some(after) = filter.after {
            clauses.push("id > ?");
            args.push(Sql::Integer(after));
        }
        if let Some(before) = filter.before {
            clauses.push("id < ?");
            args.push(Sql::Integer(before));
        }
        if let Some(q) = filter.q.as_deref().map(fts_query).filter(|q| !q.is_empty()) {
            clauses.push("id IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)");
            args.push(Sql::Text(q));
        }
        let order = match filter.order.as_deref() {
            None | Some("desc") => "DESC",
            Some("asc") => "ASC",
            Some(other) => {
                return Err(StoreError::BadQuery(format!(
                    "order must be asc or desc, not {other:?}"
                )))
            }
        };
        let where_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records {where_sql} ORDER BY id {order} LIMIT {}",
            filter.answer_limit()
        );
        let full = filter.full.unwrap_or(false);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |row| record_row(row, full))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One record with every field, by its store id.
    pub fn record(&self, id: i64) -> Result<Option<RecordRow>, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt
            .query_row(params![id], |row| record_row(row, true))
            .optional()?)
    }

    /// Records with this key (normally one; a client that resends may make more).
    pub fn records_by_key(&self, key: &distlog_proto::Key) -> Result<Vec<RecordRow>, StoreError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE task = (SELECT id FROM tasks WHERE root = ?1) AND scope = ?2 AND seq = ?3 ORDER BY id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let seq = i64::try_from(key.seq).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![key.scope.root, key.scope.path_text(), seq], |row| {
            record_row(row, true)
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many records the store holds.
    pub fn count(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM records", [], |r| r.get(0))?)
    }
}

/// Turns what a user typed into an FTS5 query that matches records holding
/// every word, with no FTS5 syntax (quotes, `NEAR`, `*`) interpreted.
fn fts_query(text: &str) -> String {
    text.split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
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
fn context_conditions(text: Option<&str>) -> Result<Vec<(String, String)>, StoreError> {
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
fn json_path(field: &str) -> String {
    let mut path = String::from("$");
    for step in field.split('.') {
        path.push_str(".\"");
        path.push_str(step);
        path.push('"');
    }
    path
}

fn record_row(row: &Row<'_>, full: bool) -> rusqlite::Result<RecordRow> {
    let root: Option<String> = row.get(4)?;
    let scope: Option<String> = row.get(5)?;
    let seq: Option<i64> = row.get(6)?;
    let key = match (&root, &scope, seq) {
        (Some(root), Some(scope), Some(seq)) => Some(format!("{seq}@{root}{scope}")),
        _ => None,
    };
    let body_text: String = row.get(15)?;
    // Without `full`, only two fields of the body are wanted: parsing just
    // those is several times cheaper than building the whole body.
    let (context, exc_text, body) = if full {
        let body: serde_json::Value =
            serde_json::from_str(&body_text).unwrap_or(serde_json::Value::Null);
        let context = body.get("context").filter(|c| c.is_object()).cloned();
        let exc_text = body
            .get("exc_text")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        (context, exc_text, Some(body))
    } else {
        let part: BodyPart = serde_json::from_str(&body_text).unwrap_or_default();
        (part.context.filter(|c| c.is_object()), part.exc_text, None)
    };
    let context = context.map(|mut c| {
        if let Some(map) = c.as_object_mut() {
            map.remove("key");
        }
        c
    });
    Ok(RecordRow {
        id: row.get(0)?,
        received: row.get(1)?,
        created: row.get(2)?,
        topic: row.get(3)?,
        key,
        root,
        scope,
        seq,
        event: row.get(7)?,
        levelno: row.get(8)?,
        levelname: row.get(9)?,
        logger: row.get(10)?,
        host: row.get(11)?,
        process: row.get(12)?,
        message: row.get(13)?,
        duration: row.get(14)?,
        context,
        exc_text,
        body,
    })
}

#[derive(Default, serde::Deserialize)]
struct BodyPart {
    #[serde(default)]
    context: Option<serde_json::Value>,
    #[serde(default)]
    exc_text: Option<String>,
}
