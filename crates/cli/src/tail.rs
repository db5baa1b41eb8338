//! `distlog tail`: the latest records, then (with `-f`) the live feed.

use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context as _, Result};
use distlog_rules::{parse_filter, JsonSubject};
use serde_json::Value;

use crate::client::Client;
use crate::render::{self, Paint};
use crate::{level_arg, print_records};

pub struct TailOptions {
    pub filter: Option<String>,
    pub follow: bool,
    pub lines: usize,
    pub level: Option<String>,
    pub logger: Option<String>,
    pub host: Option<String>,
}

pub fn run(
    client: &Client,
    out: &mut impl Write,
    json: bool,
    p: Paint,
    o: TailOptions,
) -> Result<()> {
    let condition = match o.filter.as_deref() {
        Some(text) => Some(parse_filter(text).with_context(|| format!("filter {text:?}"))?),
        None => None,
    };
    let keep = |r: &Value| {
        condition
            .as_ref()
            .is_none_or(|c| c.matches(&JsonSubject::new(r)))
    };
    let filters = vec![
        ("level", level_arg(o.level)?),
        ("logger", o.logger.unwrap_or_default()),
        ("host", o.host.unwrap_or_default()),
    ];
    let mut last = 0;
    if o.lines > 0 {
        // The daemon applies the filter while it reads the store, so the
        // last N matching records show however far back they are.
        let mut query = filters.clone();
        query.push(("limit", o.lines.to_string()));
        if let Some(text) = &o.filter {
            query.push(("filter", text.clone()));
        }
        let answer = client.get("/api/records", &query)?;
        let records = answer["records"].as_array().cloned().unwrap_or_default();
        if answer["truncated"].as_bool() == Some(true) {
            eprintln!(
                "distlog: searched the newest {} records; older matches were not looked for",
                answer["scanned"]
            );
        }
        last = records.first().and_then(|r| r["id"].as_i64()).unwrap_or(0);
        print_records(
            out,
            &serde_json::json!({ "records": records }),
            json,
            p,
            true,
            &|_| true,
        )?;
    }
    out.flush()?;
    if !o.follow {
        return Ok(());
    }
    if !io::stdout().is_terminal() {
        watch_for_departed_reader();
    }
    // The feed applies the whole filter; the old flags become terms of it.
    let mut terms: Vec<String> = Vec::new();
    for (k, v) in &filters {
        if !v.is_empty() {
            terms.push(format!("{k}={v}"));
        }
    }
    let filter_text = match (&o.filter, terms.is_empty()) {
        (Some(f), true) => f.clone(),
        (Some(f), false) if f.trim_start().starts_with('{') => {
            // A YAML filter and flags: both must hold.
            format!(
                "{{all: [{f}, {{{}}}]}}",
                terms
                    .iter()
                    .map(|t| t.replacen('=', ": ", 1))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        (Some(f), false) => format!("{f} {}", terms.join(" ")),
        (None, _) => terms.join(" "),
    };
    match client.stream("/api/feed", &[("filter", filter_text)])? {
        Some(body) => follow_feed(body, out, json, p),
        None => follow_by_polling(client, out, json, p, &filters, last, &keep),
    }
}

fn follow_feed(body: impl io::Read, out: &mut impl Write, json: bool, p: Paint) -> Result<()> {
    let mut event = String::new();
    for line in BufReader::new(body).lines() {
        let line = line.context("reading the live feed")?;
        if let Some(name) = line.strip_prefix("event:") {
            event = name.trim().to_owned();
        } else if let Some(data) = line.strip_prefix("data:") {
            let data = data.trim_start();
            if event == "lagged" {
                eprintln!("distlog: fell behind the feed; {data} records skipped");
            } else if event == "closed" {
                // The daemon ended the feed and says why (a reload removed it).
                let why: Value = serde_json::from_str(data).unwrap_or_default();
                anyhow::bail!("{}", why["error"].as_str().unwrap_or(data));
            } else if let Ok(r) = serde_json::from_str::<Value>(data) {
                if json {
                    writeln!(out, "{data}")?;
                } else {
                    render::record_line(out, &r, p)?;
                }
                out.flush()?;
            }
        } else if line.is_empty() {
            event.clear();
        }
    }
    anyhow::bail!("the daemon closed the live feed (stopped or reloaded without a feed sink)")
}

/// Without a feed sink, poll the store by id: ids only grow, so nothing is
/// missed, at the price of a short delay.
fn follow_by_polling(
    client: &Client,
    out: &mut impl Write,
    json: bool,
    p: Paint,
    filters: &[(&str, String)],
    mut last: i64,
    keep: &dyn Fn(&Value) -> bool,
) -> Result<()> {
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let mut query = filters.to_vec();
        query.extend([
            ("after", last.to_string()),
            ("order", "asc".to_owned()),
            ("limit", "1000".to_owned()),
        ]);
        let answer = client.get("/api/records", &query)?;
        last = last.max(print_records(out, &answer, json, p, false, keep)?);
        out.flush()?;
    }
}

/// `distlog tail -f | head` must end once `head` does, even while no new
/// record comes to make a write fail: watch stdout for the reader leaving.
fn watch_for_departed_reader() {
    std::thread::spawn(|| loop {
        if reader_gone(Duration::from_millis(500)) {
            std::process::exit(0);
        }
    });
}

/// Waits up to `wait`; true if stdout is a pipe whose reader has exited.
fn reader_gone(wait: Duration) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let stdout = io::stdout();
    let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
    let timeout = Timespec {
        tv_sec: wait.as_secs() as i64,
        tv_nsec: i64::from(wait.subsec_nanos()),
    };
    match poll(&mut fds, Some(&timeout)) {
        Ok(0) => false,
        Ok(_) => fds[0]
            .revents()
            .intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL),
        Err(_) => {
            std::thread::sleep(wait);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_the_daemon_closes_ends_the_tail_with_its_reason() {
        let feed = "data: {\"message\": \"one\", \"levelno\": 20, \"levelname\": \"INFO\"}\n\n\
                    event: closed\ndata: {\"error\": \"the configuration was reloaded without a feed sink\"}\n\n";
        let mut out = Vec::new();
        let err = follow_feed(feed.as_bytes(), &mut out, false, Paint { color: false })
            .expect_err("ends with an error");
        assert_eq!(
            err.to_string(),
            "the configuration was reloaded without a feed sink"
        );
        let printed = String::from_utf8_lossy(&out);
        assert_eq!(printed.lines().count(), 1, "only the record: {printed}");
    }
}
