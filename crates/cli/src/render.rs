//! Human output: the indented tree, record lines, the task table.

use std::io::{self, Write};

use serde_json::Value;

use crate::timefmt;

/// Whether to colour, decided once from `--color` and the terminal.
#[derive(Clone, Copy)]
pub struct Paint {
    pub color: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn dim(&self, text: &str) -> String {
        self.wrap("2", text)
    }

    pub fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }

    pub fn level(&self, levelno: i64, name: &str) -> String {
        let padded = format!("{name:<7}");
        match levelno {
            n if n >= 40 => self.wrap("1;31", &padded),
            n if n >= 30 => self.wrap("33", &padded),
            n if n >= 20 => self.wrap("32", &padded),
            _ => self.wrap("2", &padded),
        }
    }

    pub fn status(&self, status: &str) -> String {
        match status {
            "succeeded" => self.wrap("32", "✓ succeeded"),
            "failed" => self.wrap("1;31", "✗ failed"),
            "running" => self.wrap("36", "▶ running"),
            "unfinished" => self.wrap("35", "? unfinished"),
            other => other.to_owned(),
        }
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn f(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

/// `user=leo arg=42`, from a context object.
pub fn context_text(ctx: Option<&Value>) -> String {
    let Some(Value::Object(map)) = ctx else {
        return String::new();
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn host_pid(v: &Value) -> String {
    match (s(v, "host"), v.get("process").and_then(Value::as_i64)) {
        ("", None) => String::new(),
        (h, Some(p)) => format!("{h}:{p}"),
        (h, None) => h.to_owned(),
    }
}

/// Renders a tree answer of `/api/tree/{id}`.
pub fn tree(out: &mut impl Write, tree: &Value, p: Paint) -> io::Result<()> {
    let scope = &tree["scope"];
    writeln!(out, "{}", scope_header(scope, p, true))?;
    entries(out, scope, "", p)
}

fn scope_header(scope: &Value, p: Paint, is_root: bool) -> String {
    let message = scope
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| p.dim("(opening record not received)"));
    let mut parts = vec![p.bold(&message), p.status(s(scope, "status"))];
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
        s(scope, "id").to_owned()
    } else {
        s(scope, "path").to_owned()
    };
    parts.push(p.dim(&id));
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

fn entries(out: &mut impl Write, scope: &Value, indent: &str, p: Paint) -> io::Result<()> {
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
            writeln!(
                out,
                "{indent}{}{}",
                p.dim(branch),
                scope_header(e, p, false)
            )?;
            entries(out, e, &child_indent, p)?;
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

/// The opening record is shown as its scope's header line, not as a leaf.
fn is_opening(e: &Value) -> bool {
    e["type"] == "record" && e["seq"].as_i64() == Some(0)
}

fn record_leaf(r: &Value, p: Paint) -> String {
    let time = f(r, "created").map(timefmt::time).unwrap_or_default();
    let level = p.level(r["levelno"].as_i64().unwrap_or(0), s(r, "levelname"));
    let mark = match s(r, "event") {
        "close" => format!("{} ", p.wrap("32", "✓")),
        "fail" => format!("{} ", p.wrap("1;31", "✗")),
        _ => String::new(),
    };
    format!("{} {level} {mark}{}", p.dim(&time), s(r, "message"))
}

/// One line per record, as `tail` and `search` print them.
pub fn record_line(out: &mut impl Write, r: &Value, p: Paint) -> io::Result<()> {
    let when = f(r, "created").map(timefmt::datetime).unwrap_or_default();
    let level = p.level(r["levelno"].as_i64().unwrap_or(0), s(r, "levelname"));
    let mut line = format!(
        "{} {level} {} {}",
        p.dim(&when),
        p.dim(s(r, "logger")),
        s(r, "message")
    );
    if let Some(key) = r.get("key").and_then(Value::as_str) {
        line.push_str(&format!("  {}", p.dim(&format!("[{key}]"))));
    }
    let ctx = context_text(r.get("context"));
    if !ctx.is_empty() {
        line.push_str(&format!("  {ctx}"));
    }
    writeln!(out, "{line}")
}

/// The task list as a table.
pub fn tasks(out: &mut impl Write, tasks: &[Value], p: Paint) -> io::Result<()> {
    if tasks.is_empty() {
        return writeln!(out, "no tasks");
    }
    writeln!(
        out,
        "{}",
        p.dim(&format!(
            "{:<14} {:<24} {:>10} {:>7}  {:<20} {:<36}  MESSAGE",
            "STATUS", "STARTED", "DURATION", "RECORDS", "HOST:PID", "TASK"
        ))
    )?;
    for t in tasks {
        let status = s(t, "status");
        let padded = format!("{status:<12}");
        let status_cell = match status {
            "failed" => p.wrap("1;31", &padded),
            "succeeded" => p.wrap("32", &padded),
            "running" => p.wrap("36", &padded),
            _ => p.wrap("35", &padded),
        };
        let context = context_text(t.get("context"));
        writeln!(
            out,
            "{status_cell}   {:<24} {:>10} {:>7}  {:<20} {:<36}  {}{}",
            f(t, "started").map(timefmt::datetime).unwrap_or_default(),
            f(t, "duration")
                .map(timefmt::duration)
                .unwrap_or_else(|| "-".into()),
            t["records"].as_i64().unwrap_or(0),
            host_pid(t),
            s(t, "root"),
            t.get("message").and_then(Value::as_str).unwrap_or("?"),
            if context.is_empty() {
                String::new()
            } else {
                format!("  {}", p.dim(&context))
            },
        )?;
    }
    Ok(())
}

/// Every field of one record, sorted, one per line.
pub fn show(out: &mut impl Write, r: &Value, p: Paint) -> io::Result<()> {
    let body = r.get("body").cloned().unwrap_or(Value::Null);
    if let Some(key) = r.get("key").and_then(Value::as_str) {
        writeln!(out, "{} {key}", p.bold("key:"))?;
    }
    writeln!(out, "{} {}", p.bold("stored:"), r["id"])?;
    if let Value::Object(map) = body {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for k in keys {
            let v = &map[k];
            let text = match v {
                Value::String(s) if s.contains('\n') => {
                    format!("|\n    {}", s.replace('\n', "\n    "))
                }
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            writeln!(out, "{} {text}", p.bold(&format!("{k}:")))?;
        }
    }
    Ok(())
}
