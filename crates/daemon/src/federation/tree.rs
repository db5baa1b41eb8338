//! Trees, skeletons and scope pages of one task from several sources,
//! merged by scope id and key order. A task stays on one collector as a
//! rule; after a failover its records can sit on two, and the merged tree
//! is the one a single store holding them all would build (the rules of
//! `distlog_store`'s tree assembly, applied to the union).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::ids;

fn path_number(node: &Value) -> u32 {
    node["path"]
        .as_str()
        .and_then(|p| p.rsplit('/').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn order_key(r: &Value) -> (i64, i64) {
    (
        r["seq"].as_i64().unwrap_or(i64::MAX),
        r["id"].as_i64().unwrap_or(0),
    )
}

/// Child nodes of several copies of one scope, grouped by id, in path order.
fn group_children(children: Vec<(usize, Value)>) -> Vec<Vec<(usize, Value)>> {
    let mut order: Vec<String> = Vec::new();
    let mut by_id: HashMap<String, Vec<(usize, Value)>> = HashMap::new();
    for (s, c) in children {
        let id = c["id"].as_str().unwrap_or("").to_owned();
        if !by_id.contains_key(&id) {
            order.push(id.clone());
        }
        by_id.entry(id).or_default().push((s, c));
    }
    let mut groups: Vec<Vec<(usize, Value)>> = order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect();
    groups.sort_by_key(|g| g.first().map_or(0, |(_, c)| path_number(c)));
    groups
}

fn status_rank(s: &str) -> u8 {
    match s {
        "failed" => 4,
        "succeeded" => 3,
        "running" => 2,
        _ => 1,
    }
}

/// `/api/tree` answers of one task.
pub fn merge_trees(answers: Vec<(usize, Value)>) -> Value {
    if answers.len() == 1 {
        // The whole task on one collector, as the rule is: only its ids
        // change.
        let Some((source, mut tree)) = answers.into_iter().next() else {
            return Value::Null;
        };
        rewrite_ids(&mut tree["scope"], source);
        return tree;
    }
    let mut base = answers.first().map(|(_, v)| v.clone()).unwrap_or_default();
    let nodes: Vec<(usize, Value)> = answers
        .into_iter()
        .map(|(s, mut v)| (s, v["scope"].take()))
        .collect();
    let mut count = 0;
    base["scope"] = merge_node(nodes, &mut count);
    base["records"] = json!(count);
    base
}

fn rewrite_ids(node: &mut Value, source: usize) {
    // Iteratively: trees can be deep.
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if let Some(Value::Array(entries)) = n.get_mut("entries") {
            for e in entries {
                if e["type"] == "scope" {
                    stack.push(e);
                } else {
                    ids::rewrite(e, source);
                }
            }
        }
    }
}

/// Copies of one scope node: their records' union, their children merged.
fn merge_node(nodes: Vec<(usize, Value)>, count: &mut usize) -> Value {
    let mut records: Vec<(usize, Value)> = Vec::new();
    let mut children: Vec<(usize, Value)> = Vec::new();
    let mut any_running = false;
    let mut id = Value::Null;
    let mut path = Value::Null;
    for (s, mut node) in nodes {
        any_running |= node["status"] == "running";
        if id.is_null() {
            id = node["id"].clone();
            path = node["path"].clone();
        }
        if let Some(Value::Array(entries)) = node.get_mut("entries").map(Value::take) {
            for mut e in entries {
                if e["type"] == "scope" {
                    children.push((s, e));
                } else {
                    ids::rewrite(&mut e, s);
                    records.push((s, e));
                }
            }
        }
    }
    // The same record from two collectors is shown once.
    let mut seen = std::collections::HashSet::new();
    records.retain(|(_, r)| seen.insert(format!("{}|{}|{}", r["key"], r["created"], r["message"])));
    records.sort_by_key(|(_, r)| order_key(r));
    *count += records.len();
    let mut kids: Vec<Value> = group_children(children)
        .into_iter()
        .map(|g| merge_node(g, count))
        .collect();

    let records: Vec<Value> = records.into_iter().map(|(_, r)| r).collect();
    let opening = records.iter().find(|r| r["event"] == "open");
    let first = opening.or(records.first());
    let closing = records
        .iter()
        .rev()
        .find(|r| r["event"] == "close" || r["event"] == "fail");
    let started = first.and_then(|r| r["created"].as_f64()).or_else(|| {
        kids.iter()
            .filter_map(|c| c["started"].as_f64())
            .reduce(f64::min)
    });
    let ended = closing.and_then(|r| r["created"].as_f64());
    let status = match closing.map(|r| &r["event"]) {
        Some(e) if e == "fail" => "failed",
        Some(_) => "succeeded",
        None if any_running || kids.iter().any(|c| c["status"] == "running") => "running",
        None => "unfinished",
    };
    let duration = closing
        .and_then(|r| r["duration"].as_f64())
        .or_else(|| Some((ended? - started?).max(0.0)));
    let host = first.map(|r| r["host"].clone()).unwrap_or(Value::Null);
    let process = first.map(|r| r["process"].clone()).unwrap_or(Value::Null);
    let message = opening.map(|r| r["message"].clone()).unwrap_or(Value::Null);
    let context = opening
        .and_then(|r| r.get("context").cloned())
        .unwrap_or(Value::Null);
    for child in &mut kids {
        child["foreign"] = json!(
            !child["host"].is_null()
                && !host.is_null()
                && (child["host"] != host || child["process"] != process)
        );
    }
    // A subscope goes before the first of its parent's records, other than
    // the opening one, created at or after its start.
    let mut entries = Vec::with_capacity(records.len() + kids.len());
    let mut pending = kids.into_iter().peekable();
    for r in records {
        if r["event"] != "open" {
            let at = r["created"].as_f64().unwrap_or(f64::MAX);
            while let Some(mut child) =
                pending.next_if(|c| c["started"].as_f64().is_none_or(|s| s <= at))
            {
                child["type"] = json!("scope");
                entries.push(child);
            }
        }
        entries.push(r);
    }
    entries.extend(pending.map(|mut c| {
        c["type"] = json!("scope");
        c
    }));
    let mut out = Map::new();
    out.insert("id".into(), id);
    out.insert("path".into(), path);
    out.insert("message".into(), message);
    out.insert("status".into(), json!(status));
    out.insert("started".into(), json!(started));
    out.insert("ended".into(), json!(ended));
    out.insert("duration".into(), json!(duration));
    out.insert("host".into(), host);
    out.insert("process".into(), process);
    out.insert("context".into(), context);
    out.insert("foreign".into(), json!(false));
    out.insert("entries".into(), Value::Array(entries));
    Value::Object(out)
}

/// `/api/skeleton` answers of one task.
pub fn merge_skeletons(answers: Vec<(usize, Value)>) -> Value {
    if answers.len() == 1 {
        return answers
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .unwrap_or_default();
    }
    let mut base = answers.first().map(|(_, v)| v.clone()).unwrap_or_default();
    let records: u64 = answers
        .iter()
        .map(|(_, v)| v["records"].as_u64().unwrap_or(0))
        .sum();
    let nodes: Vec<(usize, Value)> = answers
        .into_iter()
        .map(|(s, mut v)| (s, v["scope"].take()))
        .collect();
    let mut scopes = 0;
    base["scope"] = merge_skel(nodes, &mut scopes);
    base["records"] = json!(records);
    base["scopes"] = json!(scopes);
    base
}

fn merge_skel(nodes: Vec<(usize, Value)>, scopes: &mut u64) -> Value {
    *scopes += 1;
    // The copy with the opening record (a message) says what the scope is;
    // the one with the furthest status says how it ended.
    let described = nodes
        .iter()
        .position(|(_, n)| !n["message"].is_null())
        .unwrap_or(0);
    let ended_by = (0..nodes.len())
        .max_by_key(|i| status_rank(nodes[*i].1["status"].as_str().unwrap_or("")))
        .unwrap_or(0);
    let mut out = nodes[described].1.clone();
    for k in ["status", "ended", "duration"] {
        out[k] = nodes[ended_by].1[k].clone();
    }
    if let Some(s) = nodes
        .iter()
        .filter_map(|(_, n)| n["started"].as_f64())
        .reduce(f64::min)
    {
        out["started"] = json!(s);
    }
    let sum = |k: &str| -> u64 { nodes.iter().map(|(_, n)| n[k].as_u64().unwrap_or(0)).sum() };
    let (records, errors) = (sum("records"), sum("errors"));
    let children: Vec<(usize, Value)> = nodes
        .into_iter()
        .flat_map(|(s, mut n)| match n.get_mut("children").map(Value::take) {
            Some(Value::Array(c)) => c.into_iter().map(|c| (s, c)).collect(),
            _ => Vec::new(),
        })
        .collect();
    let mut kids: Vec<Value> = group_children(children)
        .into_iter()
        .map(|g| merge_skel(g, scopes))
        .collect();
    let total: u64 = records
        + kids
            .iter()
            .map(|c| c["total_records"].as_u64().unwrap_or(0))
            .sum::<u64>();
    let failures: u64 = u64::from(out["status"] == "failed")
        + kids
            .iter()
            .map(|c| c["failures"].as_u64().unwrap_or(0))
            .sum::<u64>();
    for child in &mut kids {
        child["foreign"] = json!(
            !child["host"].is_null()
                && !out["host"].is_null()
                && (child["host"] != out["host"] || child["process"] != out["process"])
        );
    }
    out["records"] = json!(records);
    out["errors"] = json!(errors);
    out["total_records"] = json!(total);
    out["failures"] = json!(failures);
    out["children"] = Value::Array(kids);
    out
}

/// `/api/scope` pages of one scope, each source's after the same cursor.
pub fn merge_pages(answers: Vec<(usize, Value)>, limit: usize) -> Value {
    let scope = answers
        .first()
        .map(|(_, v)| v["scope"].clone())
        .unwrap_or_default();
    let mut total = 0;
    let mut offset = 0;
    let mut records: Vec<Value> = Vec::new();
    for (s, mut page) in answers {
        total += page["total"].as_u64().unwrap_or(0);
        offset += page["offset"].as_u64().unwrap_or(0);
        if let Some(Value::Array(list)) = page.get_mut("records").map(Value::take) {
            for mut r in list {
                ids::rewrite(&mut r, s);
                records.push(r);
            }
        }
    }
    records.sort_by_key(order_key);
    records.truncate(limit.max(1));
    let mut out = json!({ "scope": scope, "total": total, "offset": offset });
    if offset + (records.len() as u64) < total {
        if let Some(last) = records.last() {
            let (seq, id) = order_key(last);
            out["next"] = json!(format!("{seq}.{id}"));
        }
    }
    out["records"] = Value::Array(records);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: i64, seq: i64, created: f64, event: Option<&str>, message: &str) -> Value {
        json!({"type": "record", "id": id, "seq": seq, "key": format!("{seq}@r"),
               "created": created, "event": event, "message": message,
               "host": "h", "process": 1})
    }

    #[test]
    fn a_tree_split_across_two_collectors_is_merged_by_key_order() {
        // The root opened on one collector; the subtask and the root's
        // closing record reached another (a failover in between).
        let a = json!({"root": "r", "records": 2, "focus": "r", "scope": {
            "id": "r", "path": "", "status": "running", "message": "top",
            "entries": [rec(1, 0, 1.0, Some("open"), "top"), rec(2, 1, 1.1, None, "step")]}});
        let b = json!({"root": "r", "records": 3, "focus": "r", "scope": {
            "id": "r", "path": "", "status": "succeeded", "message": null,
            "entries": [
                {"type": "scope", "id": "r/1", "path": "/1", "status": "succeeded",
                 "started": 1.2, "host": "h", "process": 1, "entries": [
                    rec(1, 0, 1.2, Some("open"), "sub"), rec(2, 1, 1.3, Some("close"), "sub")]},
                rec(3, 2, 1.4, Some("close"), "top")]}});
        let t = merge_trees(vec![(0, a), (1, b)]);
        assert_eq!(t["records"], 5);
        let s = &t["scope"];
        assert_eq!(s["status"], "succeeded");
        assert_eq!(s["message"], "top");
        let kinds: Vec<String> = s["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| format!("{}:{}", e["type"].as_str().expect("a type"), e["message"]))
            .collect();
        assert_eq!(
            kinds,
            [
                "record:\"top\"",
                "record:\"step\"",
                "scope:\"sub\"",
                "record:\"top\""
            ]
        );
        assert_eq!(s["entries"][0]["id"], ids::encode(1, 0));
        assert_eq!(s["entries"][3]["id"], ids::encode(3, 1));
        assert_eq!(s["entries"][2]["foreign"], false);
    }

    #[test]
    fn a_record_two_collectors_stored_shows_once() {
        let part = |id| {
            json!({"root": "r", "records": 2, "scope": {"id": "r", "path": "", "status": "succeeded",
                "entries": [rec(id, 0, 1.0, Some("open"), "top"), rec(id + 1, 1, 1.1, Some("close"), "top")]}})
        };
        let t = merge_trees(vec![(0, part(1)), (1, part(7))]);
        assert_eq!(t["records"], 2);
        assert_eq!(t["scope"]["entries"].as_array().map(Vec::len), Some(2));
        assert_eq!(t["scope"]["status"], "succeeded");
    }

    #[test]
    fn pages_from_two_sources_interleave_and_count() {
        let a = json!({"scope": "r", "total": 2, "offset": 0,
            "records": [{"id": 1, "seq": 0}, {"id": 2, "seq": 2}]});
        let b = json!({"scope": "r", "total": 1, "offset": 0, "records": [{"id": 1, "seq": 1}]});
        let p = merge_pages(vec![(0, a), (1, b)], 2);
        assert_eq!(p["total"], 3);
        let seqs: Vec<i64> = p["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| r["seq"].as_i64().expect("a seq"))
            .collect();
        assert_eq!(seqs, [0, 1]);
        assert_eq!(p["next"], format!("1.{}", ids::encode(1, 1)));
    }
}
