//! `routes.tail`: how long and how much the router holds of tasks whose
//! records wait for a `task: failed` decision.

use anyhow::{bail, Context as _, Result};
use distlog_rules::tail::TailLimits;
use serde::Deserialize;

use crate::sinks::units::{parse_duration, parse_size};

const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(366 * 86_400);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailConfig {
    /// After a task's root scope closes: how long to wait for late records
    /// of other processes before deciding (`2s`).
    #[serde(default)]
    pub grace: Option<String>,
    /// A task with no record for this long is decided as it stands (`60s`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Undecided tasks held at most; past it, the task nearest its
    /// decision is decided early.
    #[serde(default)]
    pub max_tasks: Option<usize>,
    /// Bytes of held records at most (`256MiB`).
    #[serde(default)]
    pub max_bytes: Option<String>,
}

impl TailConfig {
    pub fn limits(&self) -> Result<TailLimits> {
        let mut l = TailLimits::default();
        if let Some(g) = &self.grace {
            l.grace = parse_duration(g).context("routes.tail.grace")?;
        }
        if let Some(t) = &self.timeout {
            l.timeout = parse_duration(t).context("routes.tail.timeout")?;
        }
        if let Some(n) = self.max_tasks {
            if n == 0 {
                bail!("routes.tail.max_tasks must be at least 1");
            }
            l.max_tasks = n;
        }
        if let Some(b) = &self.max_bytes {
            l.max_bytes = parse_size(b).context("routes.tail.max_bytes")?;
            if l.max_bytes == 0 {
                bail!("routes.tail.max_bytes must be more than 0");
            }
        }
        // Deadlines are `now + timeout`: a century would overflow the clock
        // on some platforms, and nobody means more than a year.
        for (what, d) in [("grace", l.grace), ("timeout", l.timeout)] {
            if d > MAX_WAIT {
                bail!(
                    "routes.tail.{what} ({}s) is longer than a year, the longest distlogd holds a task",
                    d.as_secs()
                );
            }
        }
        if l.grace > l.timeout {
            bail!(
                "routes.tail.grace ({:?}) is longer than routes.tail.timeout ({:?}): a closed task would wait longer than an open one",
                l.grace,
                l.timeout
            );
        }
        // Outcomes outlive their tasks for late records; ten times the
        // open tasks costs ~100 bytes each.
        l.remember = l.max_tasks.saturating_mul(10).max(10_000);
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::{ConfigFile, Plan};

    fn compile(yaml: &str) -> anyhow::Result<Plan> {
        ConfigFile::parse(yaml)?.compile(Path::new("/tmp/default-store"))
    }

    fn error(yaml: &str) -> String {
        format!("{:#}", compile(yaml).expect_err("must be rejected"))
    }

    const SINKS: &str = "sinks:\n  store: {type: store, path: /tmp/brief}\n  archive: {type: store, path: /tmp/archive}\n  failed: {type: file, path: /tmp/failed.jsonl}\n";

    #[test]
    fn tail_settings_compile_into_limits_and_default_sanely() {
        let plan = compile(&format!(
            "{SINKS}routes:\n  mode: all\n  tail: {{grace: 500ms, timeout: 2m, max_tasks: 50, max_bytes: 64MiB}}\n  rules:\n    - match: {{task: failed}}\n      to: [failed]\n    - match: {{any: [{{task: failed}}, {{sample: 0.1}}]}}\n      to: [archive]\n  default: [store]\n"
        ))
        .expect("valid");
        assert_eq!(plan.tail.grace, Duration::from_millis(500));
        assert_eq!(plan.tail.timeout, Duration::from_secs(120));
        assert_eq!((plan.tail.max_tasks, plan.tail.max_bytes), (50, 64 << 20));
        assert!(plan.rules.iter().all(|r| r.condition.needs_task()));
        let plain = compile(&format!(
            "{SINKS}routes:\n  mode: all\n  default: [store]\n"
        ))
        .expect("valid");
        assert_eq!(plain.tail, distlog_rules::tail::TailLimits::default());
    }

    #[test]
    fn bad_tail_settings_are_errors_that_say_where() {
        let rules = "  default: [store]\n";
        for (tail, want) in [
            ("{grace: soon}", "routes.tail.grace"),
            ("{timeout: 0s}", "routes.tail.timeout"),
            ("{max_tasks: 0}", "max_tasks must be at least 1"),
            ("{max_bytes: 0}", "max_bytes must be more than 0"),
            (
                "{grace: 2m, timeout: 1m}",
                "longer than routes.tail.timeout",
            ),
            ("{grase: 1s}", "grase"),
            (
                "{timeout: 400d}",
                "routes.tail.timeout (34560000s) is longer than a year",
            ),
            (
                "{timeout: 18446744073709551615s}",
                "routes.tail.timeout (18446744073709551615s) is longer than a year",
            ),
            ("{grace: 53w}", "routes.tail.grace"),
        ] {
            let e = error(&format!(
                "{SINKS}routes:\n  mode: all\n  tail: {tail}\n{rules}"
            ));
            assert!(e.contains(want), "{tail}: {e}");
            assert!(e.contains("line "), "{tail}: {e}");
        }
        let e = error(&format!(
            "{SINKS}routes:\n  mode: all\n  rules:\n    - match: {{task: done}}\n      to: [failed]\n{rules}"
        ));
        assert!(e.contains("task: \"done\" is not one of failed"), "{e}");
        let e = error(&format!(
            "{SINKS}routes:\n  mode: all\n  rules:\n    - match: {{sample: 2}}\n      to: [failed]\n{rules}"
        ));
        assert!(e.contains("between 0 and 1"), "{e}");
    }

    #[test]
    fn two_store_sinks_need_two_paths() {
        // Two stores, as for a short and a long retention: fine.
        compile(SINKS).expect("two paths");
        let e = error("sinks:\n  a: {type: store}\n  b: {type: store}\n");
        assert!(
            e.contains("store sinks \"a\" and \"b\" both use the store at /tmp/default-store"),
            "{e}"
        );
        let e =
            error("sinks:\n  a: {type: store, path: /tmp/x}\n  b: {type: store, path: /tmp/x}\n");
        assert!(e.contains("one store takes one sink"), "{e}");
    }
}
