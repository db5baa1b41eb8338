//! Trees in parts: a task's scope skeleton without its records, one scope's
//! records a page at a time, and the scopes on the way to a key. A viewer
//! paints the skeleton first and reads records only for what it unfolds, so
//! the first paint of a 500,000-record task does not carry 500,000 records.

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::gather::{order, parse_path, Counts};
use super::Reader;
use crate::catalog;
use crate::tree::{self, Entry, ScopeNode};
use crate::{RecordRow, Status, StoreError};

/// A task's scopes without their records.
#[derive(Debug, Clone, Serialize)]
pub struct Skeleton {
    pub root: String,
    /// How many records the task holds.
    pub records: usize,
    /// How many scopes the skeleton holds.
    pub scopes: usize,
    pub scope: ScopeSummary,
}

/// One scope of a skeleton: what the tree says of it, and counts in place
/// of its records.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeSummary {
    pub id: String,
    pub path: String,
    pub message: Option<String>,
    pub status: Status,
    pub started: Option<f64>,
    pub ended: Option<f64>,
    pub duration: Option<f64>,
    pub host: Option<String>,
    pub process: Option<i64>,
    pub foreign: bool,
    /// The scope's own context fields (from its opening record).
    pub context: Option<serde_json::Value>,
    /// The scope's own records.
    pub records: usize,
    /// Records of the scope and everything below it.
    pub total_records: usize,
    /// Own records at ERROR level or above.
    pub errors: usize,
    /// Failed scopes here and below.
    pub failures: usize,
    /// Child scopes left out of `children` by a depth-limited skeleton
    /// ([`Reader::skeleton_cut`]); absent from the answer when none are.
    #[serde(skip_serializing_if = "is_zero")]
    pub more_scopes: usize,
    pub children: Vec<ScopeSummary>,
}

// A reference is what serde's `skip_serializing_if` hands over.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One page of a scope's records, in the tree's order (by seq, then id).
#[derive(Debug, Clone, Serialize)]
pub struct ScopePage {
    /// The scope id, `<root>[/<n>]*`.
    pub scope: String,
    /// How many records the scope holds (all pages).
    pub total: usize,
    /// How many of them come before this page.
    pub offset: usize,
    /// In the shape a whole tree gives its records (no `root`, `scope`,
    /// `received`, `topic`: `/api/records/{id}` has every field).
    #[serde(serialize_with = "tree::tree_records")]
    pub records: Vec<RecordRow>,
    /// The cursor of the next page, `None` on the last.
    pub next: Option<String>,
}

/// The scopes from the root down to the scope a key names, and where in
/// that scope's records the key sits.
#[derive(Debug, Clone, Serialize)]
pub struct KeyPath {
    pub key: String,
    /// Scope ids, the root first and the key's own scope last.
    pub scopes: Vec<String>,
    /// How many of the scope's records come before the key's.
    pub offset: usize,
    /// A cursor whose page starts with the key's record (`None`: the
    /// first page does).
    pub cursor: Option<String>,
}

/// Parses a cursor, `<seq>.<id>` as [`ScopePage::next`] gives it.
fn parse_cursor(text: &str) -> Result<(i64, i64), StoreError> {
    let bad = || StoreError::BadQuery(format!("not a page cursor: {text:?}"));
    let (seq, id) = text.split_once('.').ok_or_else(bad)?;
    Ok((
        seq.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

fn cursor(at: (i64, i64)) -> String {
    format!("{}.{}", at.0, at.1)
}

impl Reader {
    /// The scope skeleton of task `root`: every scope with its status,
    /// times, host and process and counts, no records. Segments answer
    /// from their scope summaries (no record block read); memory, and a
    /// segment without a summary, have their records of the task decoded.
    pub fn skeleton(&self, root: &str, now: f64) -> Result<Option<Skeleton>, StoreError> {
        let silent_since = self.silent_since(now);
        let Some((task, _)) = catalog::task_one(&self.conn, root, silent_since)? else {
            return Ok(None);
        };
        let parts = self.skeleton_parts(task)?;
        let total = parts.total;
        if total == 0 {
            return Ok(None);
        }
        let processes: Vec<(String, i64)> = parts.processes.iter().cloned().collect();
        let (rows, counts) = parts.into_rows();
        let last_seen = catalog::last_seen(&self.conn, processes)?;
        let tree = tree::build(root, rows, &last_seen, silent_since);
        let mut scopes = 0;
        let scope = summarise(tree.scope, &counts, &mut scopes);
        Ok(Some(Skeleton {
            root: root.to_owned(),
            records: total,
            scopes,
            scope,
        }))
    }

    /// The skeleton of the scope at `path` below task `root`'s (`[]`: the
    /// root's), with its scopes down to `depth` levels below it, and at
    /// most `children` child scopes of each (the first by start): a scope
    /// keeps its counts (of its whole branch) and counts the child scopes
    /// left out in `more_scopes`. A viewer paints the top of a task of many
    /// scopes with it and asks again for a scope it unfolds. `None` when
    /// the task or the scope is unknown.
    pub fn skeleton_cut(
        &self,
        root: &str,
        path: &[u32],
        depth: Option<usize>,
        children: Option<usize>,
        now: f64,
    ) -> Result<Option<Skeleton>, StoreError> {
        let Some(mut skel) = self.skeleton(root, now)? else {
            return Ok(None);
        };
        let mut at = skel.scope;
        let mut want = String::new();
        for n in path {
            want.push_str(&format!("/{n}"));
            let Some(i) = at.children.iter().position(|c| c.path == want) else {
                return Ok(None);
            };
            at = at.children.swap_remove(i);
        }
        if depth.is_some() || children.is_some() {
            cut(
                &mut at,
                depth.unwrap_or(usize::MAX),
                children.unwrap_or(usize::MAX),
            );
        }
        skel.scope = at;
        Ok(Some(skel))
    }

    /// A page of at most `limit` records of scope `path` (`""` or `/1/3`)
    /// of task `root`, those after `after` (a cursor from the page before).
    pub fn scope_page(
        &self,
        root: &str,
        path: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Option<ScopePage>, StoreError> {
        let after = after.map(parse_cursor).transpose()?;
        let Some(mut rows) = self.scope_rows(root, path)? else {
            return Ok(None);
        };
        let total = rows.len();
        let offset = match after {
            Some(a) => rows.partition_point(|r| order(r.seq, r.id) <= a),
            None => 0,
        };
        let end = offset.saturating_add(limit.max(1)).min(total);
        let next = (end < total).then(|| {
            let last = &rows[end - 1];
            cursor(order(last.seq, last.id))
        });
        rows.truncate(end);
        let records = rows.split_off(offset);
        Ok(Some(ScopePage {
            scope: format!("{root}{}", canonical(path)),
            total,
            offset,
            records,
            next,
        }))
    }

    /// The scopes from the root to the record with key `seq@<scope-id>`,
    /// and where that record sits among its scope's; `None` without it.
    pub fn key_path(&self, key: &distlog_proto::Key) -> Result<Option<KeyPath>, StoreError> {
        let root = key.scope.root.clone();
        let path_text: String = key.scope.path.iter().map(|n| format!("/{n}")).collect();
        let Some(rows) = self.scope_rows(&root, &path_text)? else {
            return Ok(None);
        };
        let Some(offset) = rows
            .iter()
            .position(|r| r.seq == i64::try_from(key.seq).ok())
        else {
            return Ok(None);
        };
        let mut scopes = vec![root.clone()];
        let mut at = root.clone();
        for n in &key.scope.path {
            at = format!("{at}/{n}");
            scopes.push(at.clone());
        }
        let cursor = offset
            .checked_sub(1)
            .map(|i| cursor(order(rows[i].seq, rows[i].id)));
        Ok(Some(KeyPath {
            key: format!("{}@{root}{path_text}", key.seq),
            scopes,
            offset,
            cursor,
        }))
    }

    /// Every record of one scope, in the tree's order; `None` when the
    /// task is unknown.
    fn scope_rows(&self, root: &str, path: &str) -> Result<Option<Vec<RecordRow>>, StoreError> {
        let Some((task, _)) = catalog::task_one(&self.conn, root, 0.0)? else {
            return Ok(None);
        };
        let mut rows = self.scope_records(task, &parse_path(path))?;
        rows.sort_by_key(|r| order(r.seq, r.id));
        Ok(Some(rows))
    }
}

/// Drops the scopes more than `depth` levels below `scope` and the child
/// scopes of each past the first `children`, counting what each scope lost
/// of its own children in its `more_scopes`.
fn cut(scope: &mut ScopeSummary, depth: usize, children: usize) {
    let keep = if depth == 0 { 0 } else { children };
    if scope.children.len() > keep {
        scope.more_scopes += scope.children.len() - keep;
        scope.children.truncate(keep);
    }
    for c in &mut scope.children {
        cut(c, depth - 1, children);
    }
}

fn canonical(path: &str) -> String {
    parse_path(path).iter().map(|n| format!("/{n}")).collect()
}

fn summarise(
    node: ScopeNode,
    counts: &FxHashMap<Vec<u32>, Counts>,
    scopes: &mut usize,
) -> ScopeSummary {
    *scopes += 1;
    let own = counts.get(&parse_path(&node.path));
    let children: Vec<ScopeSummary> = node
        .entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Scope(s) => Some(summarise(s, counts, scopes)),
            Entry::Record(_) => None,
        })
        .collect();
    let records = own.map_or(0, |c| c.records);
    ScopeSummary {
        total_records: records + children.iter().map(|c| c.total_records).sum::<usize>(),
        failures: usize::from(node.status == Status::Failed)
            + children.iter().map(|c| c.failures).sum::<usize>(),
        errors: own.map_or(0, |c| c.errors),
        records,
        id: node.id,
        path: node.path,
        message: node.message,
        status: node.status,
        started: node.started,
        ended: node.ended,
        duration: node.duration,
        host: node.host,
        process: node.process,
        foreign: node.foreign,
        context: node.context,
        more_scopes: 0,
        children,
    }
}
