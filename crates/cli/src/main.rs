//! `distlog`: the command line of distlog. Lists tasks, prints a task's tree,
//! shows one record, searches, tails and reports the daemon's statistics,
//! through a running `distlogd`'s HTTP API.
//!
//! ```text
//! distlog tasks
//! distlog tree e252a11f-d33d-483d-ba08-bc8f642b2f10
//! distlog tree 1844aa91 --errors
//! distlog tail -f --level WARNING
//! ```

mod client;
mod exc;
mod ids;
mod level;
mod render;
mod tail;
mod timefmt;
mod tree;

use std::io::{self, IsTerminal, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::Value;

use client::{is_not_found, path_escape, Client};
use render::Paint;
use tail::TailOptions;
use tree::TreeOptions;

/// distlog: scoped, structured logs of distributed systems, as trees.
///
/// Talks to a running distlogd over its HTTP API.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// The daemon's HTTP API.
    #[arg(
        long,
        global = true,
        env = "DISTLOG_SERVER",
        default_value = "http://127.0.0.1:5080"
    )]
    server: String,

    /// Print JSON (as the API returns it) instead of human output.
    #[arg(long, global = true)]
    json: bool,

    /// When to colour human output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List root tasks, newest first.
    ///
    /// A task that succeeded although a scope inside it failed (an exception
    /// caught higher up) shows as `⚠ succeeded`; FAILURES counts the failed
    /// scopes of each task.
    Tasks {
        /// Only tasks in this state. `failed` finds every task with a failed
        /// scope anywhere in it, also those whose root succeeded.
        #[arg(long, value_parser = ["running", "succeeded", "failed", "unfinished"])]
        status: Option<String>,
        /// Only tasks started within this age (90s, 15m, 2h, 7d) or since epoch seconds.
        #[arg(long)]
        since: Option<String>,
        /// Only tasks whose message or id contains this text.
        #[arg(long)]
        text: Option<String>,
        /// Only tasks from this host.
        #[arg(long)]
        host: Option<String>,
        /// Only tasks whose root context holds FIELD=VALUE (`user=leo`,
        /// `request.id=7`); repeat to require several.
        #[arg(long, value_name = "FIELD=VALUE")]
        context: Vec<String>,
        /// How many tasks to list, newest first.
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: usize,
    },
    /// Print the tree of one task, given its root id, a scope id or a key.
    ///
    /// The root id may be shortened to any start of it that no other task
    /// shares, such as the 8 characters the web UI shows.
    Tree {
        /// `e252a11f-…`, `e252a11f-…/1/3`, `2@e252a11f-…/1`, or with the root
        /// shortened: `e252a11f`, `e252a11f/1/3`, `2@e252a11f/1`.
        #[arg(required_unless_present = "last")]
        id: Option<String>,
        /// The most recently started task instead of a given one.
        #[arg(long, conflicts_with = "id")]
        last: bool,
        /// Unfold subtasks down to N levels below the root; each subtask
        /// deeper than that folds into one line with its status and how many
        /// records and subtasks it holds (0 folds every subtask of the
        /// root). Human output only.
        #[arg(long, value_name = "N")]
        depth: Option<usize>,
        /// Only the paths to failures: failed scopes, the scopes that lead
        /// to them, and the failure records with their exceptions. With
        /// --json, the tree cut down the same way.
        #[arg(long)]
        errors: bool,
        /// Only the scopes, with how many records each holds, not the
        /// records: from the task's skeleton (/api/skeleton), which stays
        /// quick for tasks of any size. With --json, the skeleton as the
        /// API gives it.
        #[arg(long)]
        scopes: bool,
    },
    /// Show one record with every field, by key (`seq@scope-id`) or store id.
    ///
    /// The key's root id may be shortened as for `tree` (`2@e252a11f/1`).
    Show { key: String },
    /// Find records whose message holds every word of TEXT.
    Search {
        text: String,
        #[arg(long, short = 'n', default_value_t = 50)]
        limit: usize,
    },
    /// Print the latest records; with -f, follow the live feed.
    ///
    /// FILTER is the rule language of distlogd.yml, as terms
    /// (`level=WARNING logger=app.db context.user=leo message~timeout`)
    /// or a YAML map (`'{any: [{level: ERROR}, {event: fail}]}'`).
    Tail {
        /// Only records matching this filter.
        filter: Option<String>,
        /// Keep following new records until interrupted.
        #[arg(long, short = 'f')]
        follow: bool,
        /// How many of the latest records to print first.
        #[arg(long, short = 'n', default_value_t = 10)]
        lines: usize,
        /// Minimum level: DEBUG, INFO, WARNING, ERROR, CRITICAL or a number.
        #[arg(long)]
        level: Option<String>,
        /// Only this logger and its children.
        #[arg(long)]
        logger: Option<String>,
        /// Only records from this host.
        #[arg(long)]
        host: Option<String>,
    },
    /// The daemon's counters: received, decoded, rejected by reason, stored.
    Stats,
    /// Make a CURVE key pair: NAME.key (keep private) and NAME.pub.
    ///
    /// For the daemon: `distlogd --curve-key server.key --curve-allow
    /// clients.allow`. For each client: its own pair, the server's
    /// `server.pub`, and its `.pub` line added to clients.allow.
    /// Works offline; needs no running daemon.
    Keygen {
        /// The files' name, without extension.
        name: String,
        /// Directory to write into.
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
        /// Replace existing files of that name.
        #[arg(long)]
        force: bool,
    },
    /// Log levels pushed to running programs: list, set, clear.
    Level {
        #[command(subcommand)]
        action: level::Action,
    },
}

pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => {}
        Err(e) if is_broken_pipe(&e) => {}
        Err(e) => {
            eprintln!("distlog: {e:#}");
            std::process::exit(1);
        }
    }
}

/// `distlog tail | head` closes our stdout early; that is a normal end.
/// Writers must hand back the `io::Error` itself (serde_json's wraps it
/// where `chain()` cannot see it: hence `map_err(io::Error::from)`).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<()> {
    let client = Client::new(&cli.server);
    let stdout = io::stdout();
    let paint = Paint {
        color: match cli.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        },
    };
    let mut out = io::BufWriter::with_capacity(64 << 10, stdout.lock());
    match cli.command {
        Command::Tasks {
            status,
            since,
            text,
            host,
            context,
            limit,
        } => {
            if let Some(bad) = context.iter().find(|c| !c.contains('=') || c.contains(',')) {
                bail!("--context {bad:?}: give one FIELD=VALUE (e.g. --context user=leo)");
            }
            let since = match since {
                Some(s) => match timefmt::parse_since(&s, now()) {
                    Some(t) => t.to_string(),
                    None => {
                        bail!("--since {s:?}: give an age like 90s, 15m, 2h, 7d, or epoch seconds")
                    }
                },
                None => String::new(),
            };
            let answer = client.get(
                "/api/tasks",
                &[
                    ("status", status.unwrap_or_default()),
                    ("since", since),
                    ("text", text.unwrap_or_default()),
                    ("host", host.unwrap_or_default()),
                    ("context", context.join(",")),
                    ("limit", limit.to_string()),
                ],
            )?;
            if cli.json {
                return print_json(&mut out, &answer);
            }
            let tasks = answer["tasks"].as_array().cloned().unwrap_or_default();
            render::tasks(&mut out, &tasks, paint)?;
        }
        Command::Tree {
            id,
            last,
            depth,
            errors,
            scopes,
        } => {
            let id = match (id, last) {
                (Some(id), _) => resolve(&client, &id)?,
                (None, _) => {
                    let latest = client.get("/api/tasks", &[("limit", "1".to_owned())])?;
                    match latest["tasks"][0]["root"].as_str() {
                        Some(root) => root.to_owned(),
                        None => bail!("the daemon has no tasks yet"),
                    }
                }
            };
            if scopes {
                let skel = client
                    .get(&format!("/api/skeleton/{}", path_escape(&id)), &[])
                    .map_err(|e| not_found_as(e, &id))?;
                if cli.json {
                    return print_json(&mut out, &skel);
                }
                let answer = tree::from_skeleton(&skel);
                tree::tree(&mut out, &answer, paint, TreeOptions { depth, errors })?;
                return Ok(());
            }
            let mut answer = client
                .get(&format!("/api/tree/{}", path_escape(&id)), &[])
                .map_err(|e| not_found_as(e, &id))?;
            if cli.json {
                if errors {
                    answer["scope"] = tree::failure_paths(&answer["scope"]).unwrap_or(Value::Null);
                }
                return print_json(&mut out, &answer);
            }
            tree::tree(&mut out, &answer, paint, TreeOptions { depth, errors })?;
        }
        Command::Show { key } => {
            // A bare number is a store id, not the start of a root id.
            let key = if key.contains('@') {
                resolve(&client, &key)?
            } else {
                key
            };
            let answer = client
                .get(&format!("/api/records/{}", path_escape(&key)), &[])
                .map_err(|e| not_found_as(e, &key))?;
            if cli.json {
                return print_json(&mut out, &answer);
            }
            match answer.get("records").and_then(Value::as_array) {
                Some(many) => {
                    for (i, r) in many.iter().enumerate() {
                        if i > 0 {
                            writeln!(out)?;
                        }
                        render::show(&mut out, r, paint)?;
                    }
                }
                None => render::show(&mut out, &answer, paint)?,
            }
        }
        Command::Search { text, limit } => {
            let answer =
                client.get("/api/records", &[("q", text), ("limit", limit.to_string())])?;
            if cli.json {
                return print_json(&mut out, &answer);
            }
            print_records(&mut out, &answer, false, paint, true, &|_| true)?;
        }
        Command::Tail {
            filter,
            follow,
            lines,
            level,
            logger,
            host,
        } => {
            let opts = TailOptions {
                filter,
                follow,
                lines,
                level,
                logger,
                host,
            };
            tail::run(&client, &mut out, cli.json, paint, opts)?
        }
        Command::Keygen { name, dir, force } => keygen(&name, &dir, force, cli.json)?,
        Command::Level { action } => level::run(&client, &mut out, cli.json, action)?,
        Command::Stats => {
            let answer = client.get("/api/stats", &[])?;
            if cli.json {
                return print_json(&mut out, &answer);
            }
            stats(&mut out, &answer)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `id` with its root made whole; as typed when no task's root starts with
/// it (the daemon then says whether it knows it).
fn resolve(client: &Client, id: &str) -> Result<String> {
    Ok(ids::resolve(client, id)?.unwrap_or_else(|| id.to_owned()))
}

/// The daemon's 404 in words that name what was asked for.
fn not_found_as(e: anyhow::Error, id: &str) -> anyhow::Error {
    if is_not_found(&e) {
        anyhow::anyhow!("no task, scope or record is known as {id:?}, whole or as the start of a root id (see `distlog tasks`)")
    } else {
        e
    }
}

fn print_json(out: &mut impl Write, v: &Value) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Prints `{"records": [...]}` oldest first (the API answers newest first),
/// those that `keep` accepts; returns the highest store id seen.
pub(crate) fn print_records(
    out: &mut impl Write,
    answer: &Value,
    json: bool,
    p: Paint,
    reverse: bool,
    keep: &dyn Fn(&Value) -> bool,
) -> Result<i64> {
    let mut records = answer["records"].as_array().cloned().unwrap_or_default();
    if reverse {
        records.reverse();
    }
    let mut last = 0;
    for r in &records {
        last = last.max(r["id"].as_i64().unwrap_or(0));
        if !keep(r) {
            continue;
        }
        if json {
            serde_json::to_writer(&mut *out, r).map_err(io::Error::from)?;
            writeln!(out)?;
        } else {
            render::record_line(out, r, p)?;
        }
    }
    Ok(last)
}

pub(crate) fn level_arg(level: Option<String>) -> Result<String> {
    let Some(level) = level else {
        return Ok(String::new());
    };
    if let Ok(n) = level.parse::<i64>() {
        return Ok(n.to_string());
    }
    match distlog_proto::level_number(&level) {
        Some(n) => Ok(n.to_string()),
        None => bail!("--level {level:?}: use DEBUG, INFO, WARNING, ERROR, CRITICAL or a number"),
    }
}

fn stats(out: &mut impl Write, s: &Value) -> Result<()> {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    writeln!(
        out,
        "uptime      {}",
        timefmt::duration(s["uptime_seconds"].as_f64().unwrap_or(0.0))
    )?;
    writeln!(out, "received    {}", n(&s["received"]))?;
    writeln!(out, "decoded     {}", n(&s["decoded"]))?;
    writeln!(out, "rejected    {}", n(&s["rejected"]["total"]))?;
    if let Some(map) = s["rejected"].as_object() {
        for (reason, count) in map.iter().filter(|(k, v)| *k != "total" && n(v) > 0) {
            writeln!(out, "  {reason:<14} {}", n(count))?;
        }
    }
    writeln!(out, "bad keys    {}", n(&s["key_errors"]))?;
    let st = &s["store"];
    if st.is_null() {
        writeln!(out, "store       none (no store sink)")?;
    } else {
        writeln!(
            out,
            "store       {} records in {} ({} stored since start, {} queued, {} write errors, {} lost)",
            n(&st["records"]),
            st["path"].as_str().unwrap_or("?"),
            n(&st["stored"]),
            n(&st["queued"]),
            n(&st["errors"]),
            n(&st["lost"]),
        )?;
    }
    if let Some(sinks) = s["sinks"].as_array() {
        writeln!(out, "sinks")?;
        for k in sinks {
            let mut line = format!(
                "  {:<12} {:<8} {} written, {} dropped, {} errors, {}/{} queued",
                k["name"].as_str().unwrap_or("?"),
                k["type"].as_str().unwrap_or("?"),
                n(&k["written"]),
                n(&k["dropped"]),
                n(&k["errors"]),
                n(&k["queued"]),
                n(&k["queue_size"]),
            );
            if let Some(subs) = k["subscribers"].as_u64() {
                line = format!(
                    "  {:<12} {:<8} {} published, {} dropped by slow subscribers, {subs} subscribers",
                    k["name"].as_str().unwrap_or("?"),
                    k["type"].as_str().unwrap_or("?"),
                    n(&k["written"]),
                    n(&k["dropped"]),
                );
            }
            writeln!(out, "{line}")?;
        }
    }
    let t = &s["tail"];
    if t["enabled"] == true {
        let d = &t["decided"];
        writeln!(
            out,
            "tail        {} tasks held ({} records, {} bytes); decided {} failed, {} closed, {} timed out, {} early (bound), {} at reload; {} late failures",
            n(&t["held_tasks"]),
            n(&t["held_records"]),
            n(&t["held_bytes"]),
            n(&d["failed"]),
            n(&d["closed"]),
            n(&d["timeout"]),
            n(&d["early"]),
            n(&d["flush"]),
            n(&t["late_failures"]),
        )?;
    }
    if let Some(rules) = s["rules"].as_array().filter(|r| !r.is_empty()) {
        writeln!(out, "rules")?;
        for r in rules {
            writeln!(
                out,
                "  {:<24} {} matched",
                r["name"].as_str().unwrap_or("?"),
                n(&r["matched"])
            )?;
        }
    }
    // A query front (docs/federation.md): how its peers answer.
    let fed = &s["federation"];
    if let Some(peers) = fed["peers"].as_array() {
        writeln!(
            out,
            "peers       {} (timeout {}), {} answers across them, {} partial, {} refused as busy",
            peers.len(),
            timefmt::duration(fed["timeout_seconds"].as_f64().unwrap_or(0.0)),
            n(&fed["fanned_out"]),
            n(&fed["partial"]),
            n(&fed["busy"]),
        )?;
        for p in peers {
            writeln!(
                out,
                "  {} {} asked, {} failed ({} timed out, {} too big), {} looped back",
                p["peer"].as_str().unwrap_or("?"),
                n(&p["asked"]),
                n(&p["failed"]),
                n(&p["timed_out"]),
                n(&p["too_big"]),
                n(&p["looped"]),
            )?;
        }
    }
    Ok(())
}

fn keygen(name: &str, dir: &std::path::Path, force: bool, json: bool) -> Result<()> {
    if name.is_empty() || name.contains('/') {
        anyhow::bail!("the key name {name:?} must be a file name without `/`");
    }
    let pair = distlog_keys::KeyPair::generate()?;
    let (key, public) = pair.write(dir, name, force)?;
    let mut out = io::stdout().lock();
    if json {
        let v = serde_json::json!({
            "key_file": key.display().to_string(),
            "public_file": public.display().to_string(),
            "public_key": pair.public_z85(),
        });
        return print_json(&mut out, &v);
    }
    writeln!(out, "{}  (secret: keep it private)", key.display())?;
    writeln!(out, "{}  {}", public.display(), pair.public_z85())?;
    Ok(())
}
