//! `distlog tree`: a task as an indented tree, whole, folded below a depth,
//! or cut down to the paths that lead to its failures.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::Value;

use crate::exc;
use crate::render::{context_text, f, host_pid, s, Paint};
use crate::timefmt;

#[derive(Debug, Default, Clone, Copy)]
pub struct TreeOptions {
    /// Subtasks deeper than this (the root is 0) fold into one line each.
    pub depth: Option<usize>,
    /// Only failed scopes, their ancestors and the failure records.
    pub errors: bool,
}

/// What a scope holds, all the way down; counted once for the whole tree.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Counts {
    records: u64,
    scopes: u64,
    /// Failed scopes strictly below this one.
    failed_inside: u64,
}

/// Keyed by scope id, so that the counts of the whole tree serve the copy
/// that --errors cuts down.
type CountMap = HashMap<String, Counts>;

fn count(scope: &Value, map: &mut CountMap) -> Counts {
    let mut c = Counts::default();
    for e in scope["entries"].as_array().into_iter().flatten() {
        if e["type"] == "scope" {
            let below = count(e, map);
            c.records += below.records;
            c.scopes += below.scopes + 1;
            c.failed_inside += below.failed_inside + u64::from(e["status"] == "failed");
        } else {
            c.records += 1;
        }
    }
    // A skeleton's scope says how many records its branch holds.
    if let Some(total) = scope.get("total_records").and_then(Value::as_u64) {
        c.records = total;
    }
    map.insert(s(scope, "id").to_owned(), c);
    c
}

/// A skeleton answer (`/api/skeleton/{id}`) in the shape of a tree answer:
/// each scope's `children` become its entries, with no records.
pub fn from_skeleton(skel: &Value) -> Value {
    fn scope(v: &Value) -> Value {
        let mut copy = serde_json::Map::new();
        for (k, val) in v.as_object().into_iter().flatten() {
            if k != "children" {
                copy.insert(k.clone(), val.clone());
            }
        }
        copy.insert("type".into(), Value::from("scope"));
        let entries = v["children"].as_array().into_iter().flatten().map(scope);
        copy.insert("entries".into(), Value::Array(entries.collect()));
        Value::Object(copy)
    }
    let mut out = skel.clone();
    out["scope"] = scope(&skel["scope"]);
    out
}

/// Renders a tree answer of `/api/tree/{id}`.
pub fn tree(out: &mut impl Write, tree: &Value, p: Paint, o: TreeOptions) -> io::Result<()> {
    let whole = &tree["scope"];
    // Counted on the whole tree, so that folded lines and `failed inside`
    // marks tell the truth even where --errors left parts out.
    let mut counts = CountMap::new();
    count(whole, &mut counts);
    let r = Renderer { p, o, counts };
    let pruned = if o.errors {
        match failure_paths(whole) {
            Some(kept) => Some(kept),
            None => {
                writeln!(out, "{}", r.header(whole, true))?;
                return writeln!(out, "no failed scopes or failure records in this task");
            }
        }
    } else {
        None
    };
    let scope = pruned.as_ref().unwrap_or(whole);
    writeln!(out, "{}", r.header(scope, true))?;
    r.entries(out, scope, "", 0)
}

/// A copy of `scope` with only what leads to a failure: failed scopes and
/// their ancestors, and failure records. `None` when nothing failed.
pub fn failure_paths(scope: &Value) -> Option<Value> {
    let mut kept = Vec::new();
    for e in scope["entries"].as_array().into_iter().flatten() {
        if e["type"] == "scope" {
            kept.extend(failure_paths(e));
        } else if e["event"] == "fail" {
            kept.push(e.clone());
        }
    }
    if kept.is_empty() && scope["status"] != "failed" {
        return None;
    }
    let mut copy = serde_json::Map::new();
    for (k, v) in scope.as_object().into_iter().flatten() {
        if k != "entries" {
            copy.insert(k.clone(), v.clone());
        }
    }
    copy.insert("entries".into(), Value::Array(kept));
    Some(Value::Object(copy))
}

struct Renderer {
    p: Paint,
    o: TreeOptions,
    counts: CountMap,
}

impl Renderer {
    fn counts(&self, scope: &Value) -> Counts {
        self.counts.get(s(scope, "id")).copied().unwrap_or_default()
    }

    fn header(&self, scope: &Value, is_root: bool) -> String {
        let p = self.p;
        let message = scope
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| p.dim("(opening record not received)"));
        let mut parts = vec![p.bold(&message), p.status(s(scope, "status"))];
        let inside = self.counts(scope).failed_inside;
        if inside > 0 {
            parts.push(p.warn(&format!("⚠ {inside} failed inside")));
        }
        match (f(scope, "duration"), f(scope, "started")) {
            (Some(d), _) => parts.push(timefmt::duration(d)),
            (None, Some(started)) if s(scope, "status") == "running" => {
                let now = crate::now();
                parts.push(format!(
                    "{} so far",
                    timefmt::duration((now - started).max(0.0))
                ));
            }
            _ => {}
        }
        let id = if is_root {
            s(scope, "id")
        } else {
            s(scope, "path")
        };
        parts.push(p.dim(id));
        let hp = host_pid(scope);
        if !hp.is_empty() && (is_root || scope["foreign"].as_bool() == Some(true)) {
            let mark = if is_root {
                hp
            } else {
                format!("continued in {hp}")
            };
            parts.push(p.dim(&mark));
        }
        let ctx = context_text(scope.get("context"));
        if !ctx.is_empty() {
            parts.push(ctx);
        }
        parts.join("  ")
    }

    /// `⋯ 340 records, 12 subtasks folded`, for a scope below --depth.
    fn folded(&self, scope: &Value) -> String {
        let c = self.counts(scope);
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut text = format!("⋯ {}", plural(c.records, "record", "records"));
        if c.scopes > 0 {
            text.push_str(&format!(", {}", plural(c.scopes, "subtask", "subtasks")));
        }
        text.push_str(" folded");
        self.p.dim(&text)
    }

    fn entries(
        &self,
        out: &mut impl Write,
        scope: &Value,
        indent: &str,
        depth: usize,
    ) -> io::Result<()> {
        let p = self.p;
        let items: Vec<&Value> = scope["entries"]
            .as_array()
            .map(|a| a.iter().filter(|e| !is_opening(e)).collect())
            .unwrap_or_default();
        for (i, e) in items.iter().enumerate() {
            let last = i + 1 == items.len();
            let (branch, more) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            let child_indent = format!("{indent}{}", p.dim(more));
            if e["type"] == "scope" {
                let header = self.header(e, false);
                if self.o.depth.is_some_and(|max| depth + 1 > max) {
                    writeln!(out, "{indent}{}{header}  {}", p.dim(branch), self.folded(e))?;
                } else {
                    writeln!(out, "{indent}{}{header}", p.dim(branch))?;
                    self.entries(out, e, &child_indent, depth + 1)?;
                }
            } else {
                writeln!(out, "{indent}{}{}", p.dim(branch), record_leaf(e, p))?;
                if let Some(tb) = e.get("exc_text").and_then(Value::as_str) {
                    for line in tb.lines() {
                        writeln!(out, "{child_indent}{}", p.dim(line))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The opening record is shown as its scope's header line, not as a leaf.
fn is_opening(e: &Value) -> bool {
    e["type"] == "record" && e["seq"].as_i64() == Some(0)
}

fn record_leaf(r: &Value, p: Paint) -> String {
    let time = f(r, "created").map(timefmt::time).unwrap_or_default();
    let level = p.level(r["levelno"].as_i64().unwrap_or(0), s(r, "levelname"));
    format!(
        "{} {level} {}{}{}",
        p.dim(&time),
        event_mark(r, p),
        s(r, "message"),
        exception(r, p)
    )
}

/// `✓ ` on a closing record, `✗ ` on a failure record.
pub fn event_mark(r: &Value, p: Paint) -> String {
    match s(r, "event") {
        "close" => format!("{} ", p.good("✓")),
        "fail" => format!("{} ", p.bad("✗")),
        _ => String::new(),
    }
}

/// `  KeyError: 'card'`, when the record carries an exception.
pub fn exception(r: &Value, p: Paint) -> String {
    r.get("exc_text")
        .and_then(Value::as_str)
        .and_then(exc::summary)
        .map(|line| format!("  {}", p.bad(&line)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
