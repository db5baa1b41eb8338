//! Human output: record lines, the task table, one record in full.

use std::io::{self, Write};

use serde_json::Value;

use crate::{timefmt, tree};

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

    pub fn good(&self, text: &str) -> String {
        self.wrap("32", text)
    }

    pub fn bad(&self, text: &str) -> String {
        self.wrap("1;31", text)
    }

    pub fn warn(&self, text: &str) -> String {
        self.wrap("33", text)
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
        self.status_padded(status, 0)
    }

    /// The status with its mark, padded to `width` before colouring so that
    /// table columns line up.
    fn status_padded(&self, status: &str, width: usize) -> String {
        let (code, text) = match status {
            "succeeded" => ("32", "✓ succeeded"),
            "partial" => ("33", "⚠ succeeded"),
            "failed" => ("1;31", "✗ failed"),
            "running" => ("36", "▶ running"),
            "unfinished" => ("35", "? unfinished"),
            other => ("", other),
        };
        let padded = format!("{text:<width$}");
        if code.is_empty() {
            padded
        } else {
            self.wrap(code, &padded)
        }
    }
}

pub(crate) fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn f(v: &Value, k: &str) -> Option<f64> {
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

pub(crate) fn host_pid(v: &Value) -> String {
    match (s(v, "host"), v.get("process").and_then(Value::as_i64)) {
        ("", None) => String::new(),
        (h, Some(p)) => format!("{h}:{p}"),
        (h, None) => h.to_owned(),
    }
}

/// One line per record, as `tail` and `search` print them.
pub fn record_line(out: &mut impl Write, r: &Value, p: Paint) -> io::Result<()> {
    let when = f(r, "created").map(timefmt::datetime).unwrap_or_default();
    let level = p.level(r["levelno"].as_i64().unwrap_or(0), s(r, "levelname"));
    let mut line = format!(
        "{} {level} {} {}{}{}",
        p.dim(&when),
        p.dim(s(r, "logger")),
        tree::event_mark(r, p),
        s(r, "message"),
        tree::exception(r, p)
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

/// The task list as a table. A task that succeeded with a failed scope
/// inside (a caught exception) shows as `⚠ succeeded`: it is one to look at.
pub fn tasks(out: &mut impl Write, tasks: &[Value], p: Paint) -> io::Result<()> {
    if tasks.is_empty() {
        return writeln!(out, "no tasks");
    }
    writeln!(
        out,
        "{}",
        p.dim(&format!(
            "{:<13} {:<24} {:>10} {:>7} {:>8}  {:<20} {:<36}  MESSAGE",
            "STATUS", "STARTED", "DURATION", "RECORDS", "FAILURES", "HOST:PID", "TASK"
        ))
    )?;
    for t in tasks {
        let failures = t["failures"].as_u64().unwrap_or(0);
        let status = match s(t, "status") {
            "succeeded" if failures > 0 => "partial",
            other => other,
        };
        let failures_cell = format!("{failures:>8}");
        let context = context_text(t.get("context"));
        writeln!(
            out,
            "{} {:<24} {:>10} {:>7} {}  {:<20} {:<36}  {}{}",
            p.status_padded(status, 13),
            f(t, "started").map(timefmt::datetime).unwrap_or_default(),
            f(t, "duration")
                .map(timefmt::duration)
                .unwrap_or_else(|| "-".into()),
            t["records"].as_i64().unwrap_or(0),
            if failures > 0 {
                p.bad(&failures_cell)
            } else {
                failures_cell
            },
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(rows: &[Value]) -> Vec<String> {
        let mut out = Vec::new();
        tasks(&mut out, rows, Paint { color: false }).expect("render");
        String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_task_that_succeeded_with_a_caught_failure_is_marked_and_counted() {
        let rows = [
            json!({"root": "a", "message": "payment", "status": "succeeded", "failures": 1,
                   "records": 6, "started": 1524085399.148}),
            json!({"root": "b", "message": "browse", "status": "succeeded", "failures": 0,
                   "records": 3, "started": 1524085399.148}),
        ];
        let lines = table(&rows);
        assert!(lines[0].contains(" FAILURES "), "{}", lines[0]);
        assert!(lines[1].starts_with("⚠ succeeded "), "{}", lines[1]);
        assert!(lines[1].contains("      6        1  "), "{}", lines[1]);
        assert!(lines[2].starts_with("✓ succeeded "), "{}", lines[2]);
        assert!(lines[2].contains("      3        0  "), "{}", lines[2]);
    }

    #[test]
    fn a_record_line_names_the_exception_of_a_failure() {
        let r = json!({"created": 1524085399.148, "levelno": 40, "levelname": "ERROR",
                       "logger": "root", "event": "fail", "message": "charge card",
                       "exc_text": "Traceback (most recent call last):\n  File \"a.py\", line 1\nKeyError: 'card'"});
        let mut out = Vec::new();
        record_line(&mut out, &r, Paint { color: false }).expect("render");
        let line = String::from_utf8(out).expect("utf-8");
        assert!(
            line.contains("ERROR   root ✗ charge card  KeyError: 'card'"),
            "{line}"
        );
    }
}
