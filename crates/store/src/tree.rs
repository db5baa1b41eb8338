//! Assembling one task's records into its tree, by key, whatever order they
//! arrived in.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::{RecordRow, Status};

/// One root task as a tree of scopes.
#[derive(Debug, Clone, Serialize)]
pub struct Tree {
    pub root: String,
    /// How many records the tree holds.
    pub records: usize,
    pub scope: ScopeNode,
}

/// One scope: its own records and its subtasks, interleaved in time order.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeNode {
    /// The scope id, `<root>[/<n>]*`.
    pub id: String,
    /// The path below the root, `""` for the root.
    pub path: String,
    /// The opening record's message; `None` while it has not arrived.
    pub message: Option<String>,
    pub status: Status,
    pub started: Option<f64>,
    pub ended: Option<f64>,
    pub duration: Option<f64>,
    pub host: Option<String>,
    pub process: Option<i64>,
    /// The scope's own context fields (from its opening record).
    pub context: Option<serde_json::Value>,
    /// Opened by another host or process than its parent scope: a task
    /// continued with `import_task`.
    pub foreign: bool,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Entry {
    #[serde(serialize_with = "tree_record")]
    Record(RecordRow),
    Scope(ScopeNode),
}

/// A record as a tree shows it: without what its place in the tree already
/// says (root, scope) or what only its details need (received, topic;
/// `/api/records/{id}` has every field). A tenth of the records' JSON, on a
/// tree that can run to tens of MiB.
#[derive(Serialize)]
struct TreeRecord<'a> {
    id: i64,
    created: f64,
    key: &'a Option<String>,
    seq: Option<i64>,
    event: &'a Option<String>,
    levelno: i64,
    levelname: &'a str,
    logger: &'a str,
    host: &'a str,
    process: Option<i64>,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: &'a Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exc_text: &'a Option<String>,
}

/// Records in the shape [`tree_record`] gives one.
pub(crate) fn tree_records<S: serde::Serializer>(
    rs: &[RecordRow],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(rs.iter().map(tree_shape))
}

fn tree_record<S: serde::Serializer>(r: &RecordRow, s: S) -> Result<S::Ok, S::Error> {
    tree_shape(r).serialize(s)
}

fn tree_shape(r: &RecordRow) -> TreeRecord<'_> {
    TreeRecord {
        id: r.id,
        created: r.created,
        key: &r.key,
        seq: r.seq,
        event: &r.event,
        levelno: r.levelno,
        levelname: &r.levelname,
        logger: &r.logger,
        host: &r.host,
        process: r.process,
        message: &r.message,
        duration: r.duration,
        context: &r.context,
        exc_text: &r.exc_text,
    }
}

#[derive(Default)]
struct Builder {
    records: Vec<RecordRow>,
    children: Vec<u32>,
}

/// Builds the tree of `root` from its records (any order). `last_seen` maps
/// (host, process) to when the daemon last heard from it; a scope still open
/// whose process was last heard before `silent_since` is unfinished.
pub(crate) fn build(
    root: &str,
    records: Vec<RecordRow>,
    last_seen: &HashMap<(String, i64), f64>,
    silent_since: f64,
) -> Tree {
    let total = records.len();
    let buckets = by_scope(records);
    // BTreeMap orders paths so that every parent precedes its children,
    // which lets the assembly below run without recursion.
    let mut nodes: BTreeMap<Vec<u32>, Builder> = BTreeMap::new();
    nodes.entry(Vec::new()).or_default();
    for (path, records) in buckets {
        // Make every ancestor exist, so a subtask that arrives before its
        // parent still hangs in the right place.
        for depth in 0..path.len() {
            let (parent, child) = (&path[..depth], path[depth]);
            let node = nodes.entry(parent.to_vec()).or_default();
            if !node.children.contains(&child) {
                node.children.push(child);
            }
        }
        let node = nodes.entry(path).or_default();
        if node.records.is_empty() {
            node.records = records;
        } else {
            // Two spellings of one path (`/01` and `/1`) meet here.
            node.records.extend(records);
        }
    }
    // Finish the deepest scopes first; each is then moved into its parent.
    let mut finished: HashMap<Vec<u32>, ScopeNode> = HashMap::new();
    let paths: Vec<Vec<u32>> = nodes.keys().rev().cloned().collect();
    for path in paths {
        let Some(mut b) = nodes.remove(&path) else {
            continue;
        };
        b.records.sort_by_key(|r| (r.seq.unwrap_or(i64::MAX), r.id));
        b.children.sort_unstable();
        let children: Vec<ScopeNode> = b
            .children
            .iter()
            .filter_map(|n| {
                let mut p = path.clone();
                p.push(*n);
                finished.remove(&p)
            })
            .collect();
        let node = finish(root, &path, b.records, children, last_seen, silent_since);
        finished.insert(path, node);
    }
    let scope = finished
        .remove(&Vec::new())
        .unwrap_or_else(|| finish(root, &[], Vec::new(), Vec::new(), last_seen, silent_since));
    Tree {
        root: root.to_owned(),
        records: total,
        scope,
    }
}

/// The records grouped by scope, each scope's path parsed once: a tree has
/// far fewer scopes than records, and a path per record was a tenth of a big
/// tree's time.
fn by_scope(records: Vec<RecordRow>) -> Vec<(Vec<u32>, Vec<RecordRow>)> {
    let mut slots: rustc_hash::FxHashMap<&str, usize> = Default::default();
    let mut texts: Vec<(&str, usize)> = Vec::new();
    let slot_of: Vec<usize> = records
        .iter()
        .map(|r| {
            let text = r.scope.as_deref().unwrap_or("");
            *slots.entry(text).or_insert_with(|| {
                texts.push((text, 0));
                texts.len() - 1
            })
        })
        .collect();
    for &slot in &slot_of {
        texts[slot].1 += 1;
    }
    let mut buckets: Vec<(Vec<u32>, Vec<RecordRow>)> = texts
        .iter()
        .map(|&(text, n)| (parse_path(text), Vec::with_capacity(n)))
        .collect();
    drop(slots);
    for (r, slot) in records.into_iter().zip(slot_of) {
        buckets[slot].1.push(r);
    }
    buckets
}

fn parse_path(text: &str) -> Vec<u32> {
    text.split('/').filter_map(|s| s.parse().ok()).collect()
}

fn finish(
    root: &str,
    path: &[u32],
    records: Vec<RecordRow>,
    mut children: Vec<ScopeNode>,
    last_seen: &HashMap<(String, i64), f64>,
    silent_since: f64,
) -> ScopeNode {
    let path_text: String = path.iter().map(|n| format!("/{n}")).collect();
    // The record that says it opens the scope; with a client that filters
    // the opening record out by level, there is none, and the first record
    // (a warning, say) must not be taken for it.
    let opening = records.iter().find(|r| r.event.as_deref() == Some("open"));
    let first = opening.or(records.first());
    let closing = records
        .iter()
        .rev()
        .find(|r| matches!(r.event.as_deref(), Some("close" | "fail")));
    let started = first
        .map(|r| r.created)
        .or_else(|| children.iter().filter_map(|c| c.started).reduce(f64::min));
    let ended = closing.map(|r| r.created);
    let status = match closing.and_then(|r| r.event.as_deref()) {
        Some("fail") => Status::Failed,
        Some(_) => Status::Succeeded,
        None => match first.and_then(|r| r.process.map(|p| (r.host.clone(), p))) {
            Some(proc_key) => match last_seen.get(&proc_key) {
                Some(at) if *at >= silent_since => Status::Running,
                _ => Status::Unfinished,
            },
            // Without its own records, a placeholder scope runs as long as
            // anything below it does.
            None if children.iter().any(|c| c.status == Status::Running) => Status::Running,
            None if records.iter().any(|r| r.received >= silent_since) => Status::Running,
            None => Status::Unfinished,
        },
    };
    let duration = closing
        .and_then(|r| r.duration)
        .or_else(|| Some(ended? - started?).map(|d| d.max(0.0)));
    let host = first.map(|r| r.host.clone());
    let process = first.and_then(|r| r.process);
    let message = opening.map(|r| r.message.clone());
    let context = opening.and_then(|r| r.context.clone());
    for child in &mut children {
        child.foreign = child.host.is_some()
            && host.is_some()
            && (child.host != host || child.process != process);
    }
    let mut entries = Vec::with_capacity(records.len() + children.len());
    let mut pending = children.into_iter().peekable();
    for r in records {
        if r.event.as_deref() != Some("open") {
            while let Some(child) = pending.next_if(|c| c.started.is_none_or(|s| s <= r.created)) {
                entries.push(Entry::Scope(child));
            }
        }
        entries.push(Entry::Record(r));
    }
    entries.extend(pending.map(Entry::Scope));
    ScopeNode {
        id: format!("{root}{path_text}"),
        path: path_text,
        message,
        context,
        status,
        started,
        ended,
        duration,
        host,
        process,
        foreign: false,
        entries,
    }
}
