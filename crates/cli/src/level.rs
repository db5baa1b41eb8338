//! `distlog level`: list, set and clear the log levels distlogd pushes to
//! running programs.

use std::io::Write;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::Client;

#[derive(Debug, Subcommand)]
pub enum Action {
    /// The settings in force.
    List,
    /// Sets a level for the records the selectors pick (all of them must
    /// match; none: every program). Programs apply it within a second.
    ///
    /// Example: distlog level set --logger app DEBUG --for 10m
    Set {
        /// DEBUG, INFO, WARNING, ERROR, CRITICAL, or a number 1-50.
        level: String,
        #[command(flatten)]
        on: On,
        /// Lapses after this long (30s, 10m, 2h, 1d, 1h30m); else until
        /// cleared.
        #[arg(long = "for", value_name = "DURATION")]
        for_: Option<String>,
    },
    /// Clears the setting of exactly these selectors (or --all).
    Clear {
        #[command(flatten)]
        on: On,
        /// Clears every setting.
        #[arg(long, conflicts_with_all = ["logger", "host", "process", "system", "task"])]
        all: bool,
    },
}

/// Which records a setting is for.
#[derive(Debug, Args)]
pub struct On {
    /// A logger and its children (`app` covers `app.db`).
    #[arg(long)]
    logger: Option<String>,
    /// Programs on this host.
    #[arg(long)]
    host: Option<String>,
    /// The program with this process id.
    #[arg(long)]
    process: Option<u32>,
    /// Programs of this system: T (test), S (staging), P (production).
    #[arg(long)]
    system: Option<String>,
    /// Records inside this task's tree (a root task id), in every process
    /// that joins it.
    #[arg(long)]
    task: Option<String>,
}

impl On {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        vec![
            ("logger", o(&self.logger)),
            ("host", o(&self.host)),
            (
                "process",
                self.process.map(|p| p.to_string()).unwrap_or_default(),
            ),
            ("system", o(&self.system)),
            ("task", o(&self.task)),
        ]
    }
}

pub fn run(client: &Client, out: &mut impl Write, as_json: bool, action: Action) -> Result<()> {
    let answer = match action {
        Action::List => client.get("/api/levels", &[])?,
        Action::Set { level, on, for_ } => {
            let mut body = json!({ "level": level });
            for (k, v) in on.pairs() {
                if !v.is_empty() {
                    body[k] = if k == "process" {
                        json!(on.process)
                    } else {
                        json!(v)
                    };
                }
            }
            if let Some(d) = for_ {
                body["for"] = json!(d);
            }
            client.send("POST", "/api/levels", &[], Some(&body))?
        }
        Action::Clear { on, all } => {
            let mut q = on.pairs();
            if all {
                q.push(("all", "true".into()));
            }
            client.send("DELETE", "/api/levels", &q, None)?
        }
    };
    if as_json {
        serde_json::to_writer_pretty(&mut *out, &answer).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    if let Some(levels) = answer.get("levels").and_then(Value::as_array) {
        if levels.is_empty() {
            writeln!(out, "no level settings")?;
        }
        for s in levels {
            writeln!(out, "{}", describe(s))?;
        }
    } else if let Some(s) = answer.get("set") {
        writeln!(out, "set: {}", describe(s))?;
    } else if let Some(n) = answer.get("cleared").and_then(Value::as_u64) {
        writeln!(out, "cleared {n} setting{}", if n == 1 { "" } else { "s" })?;
    }
    Ok(())
}

fn describe(s: &Value) -> String {
    let mut parts = vec![s["level_name"].as_str().unwrap_or("?").to_owned()];
    for k in ["logger", "host", "process", "system", "task"] {
        match &s[k] {
            Value::Null => {}
            Value::String(v) => parts.push(format!("{k}={v}")),
            v => parts.push(format!("{k}={v}")),
        }
    }
    if parts.len() == 1 {
        parts.push("(everything)".into());
    }
    if let Some(left) = s["expires_in"].as_f64() {
        parts.push(format!("for {}s more", left.round() as u64));
    }
    parts.join(" ")
}
