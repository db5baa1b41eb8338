//! Log levels pushed by distlogd (docs/protocol.md, "Control: log levels"):
//! a thread subscribes to the control endpoint and keeps the settings for
//! this process (host, pid, system). The logging call's only added cost is
//! one atomic load while none apply.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// (logger prefix, root task, level number as Python's: 10 DEBUG).
type Rule = (Option<String>, Option<String>, i64);

static ACTIVE: AtomicBool = AtomicBool::new(false);
static RULES: RwLock<Vec<Rule>> = RwLock::new(Vec::new());
/// The `log` facade's max level as the program installed it, restored when
/// no setting applies (a `log::LevelFilter` as usize).
static BRIDGE_MAX: AtomicUsize = AtomicUsize::new(0);

/// How many settings pushed by distlogd this process applies now.
pub fn pushed_levels() -> usize {
    RULES.read().map_or(0, |r| r.len())
}

pub(crate) fn note_bridge_max(max: log::LevelFilter) {
    BRIDGE_MAX.store(max as usize, Relaxed);
}

/// The pushed threshold for a record of `logger` on this thread, if any
/// setting applies: the lowest level of those that match.
pub(crate) fn threshold(logger: &str) -> Option<i64> {
    if !ACTIVE.load(Relaxed) {
        return None;
    }
    let rules = RULES.read().ok()?;
    let mut root: Option<Option<String>> = None;
    let mut found: Option<i64> = None;
    for (prefix, task, level) in rules.iter() {
        if let Some(p) = prefix {
            let child = logger.strip_prefix(p.as_str()).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('.') || rest.starts_with("::")
            });
            if !child {
                continue;
            }
        }
        if let Some(t) = task {
            let here = root.get_or_insert_with(|| {
                crate::scope::current().map(|s| s.id().split('/').next().unwrap_or("").to_owned())
            });
            if here.as_deref() != Some(t.as_str()) {
                continue;
            }
        }
        found = Some(found.map_or(*level, |f: i64| f.min(*level)));
    }
    found
}

fn install(rules: Vec<Rule>) {
    let any = !rules.is_empty();
    if let Ok(mut r) = RULES.write() {
        *r = rules;
    }
    ACTIVE.store(any, Relaxed);
    // The `log` macros test the facade's max level before any logger sees
    // a record; open it while settings apply.
    if BRIDGE_MAX.load(Relaxed) != 0 {
        if any {
            log::set_max_level(log::LevelFilter::Trace);
        } else {
            log::set_max_level(filter_of(BRIDGE_MAX.load(Relaxed)));
        }
    }
}

fn filter_of(n: usize) -> log::LevelFilter {
    [
        log::LevelFilter::Off,
        log::LevelFilter::Error,
        log::LevelFilter::Warn,
        log::LevelFilter::Info,
        log::LevelFilter::Debug,
        log::LevelFilter::Trace,
    ]
    .get(n)
    .copied()
    .unwrap_or(log::LevelFilter::Trace)
}

/// The control endpoint for an intake endpoint: `tcp://host:5010` ->
/// `tcp://host:5011`; `DISTLOG_CONTROL` wins ("" or "off": none).
pub(crate) fn default_control(endpoint: &str) -> Option<String> {
    if let Ok(env) = std::env::var("DISTLOG_CONTROL") {
        return (!env.is_empty() && env != "off").then_some(env);
    }
    let (head, port) = endpoint.strip_prefix("tcp://")?.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    Some(format!("tcp://{head}:{}", port.checked_add(1)?))
}

/// Subscribes on a thread of its own; gives up quietly if ZeroMQ cannot
/// make the socket (logging goes on as configured).
pub(crate) fn start(
    ctx: zmq::Context,
    endpoint: String,
    system: char,
    host: String,
    curve: Option<crate::Curve>,
) {
    let _ = std::thread::Builder::new()
        .name("distlog-levels".into())
        .spawn(move || {
            if let Err(e) = subscribe(&ctx, &endpoint, system, &host, curve.as_ref()) {
                eprintln!("distlog: level control on {endpoint} stopped: {e}");
            }
        });
}

fn subscribe(
    ctx: &zmq::Context,
    endpoint: &str,
    system: char,
    host: &str,
    curve: Option<&crate::Curve>,
) -> Result<(), zmq::Error> {
    let sock = ctx.socket(zmq::SUB)?;
    sock.set_linger(0)?;
    if let Some(c) = curve {
        c.apply(&sock)?;
    }
    sock.set_subscribe(b"levels")?;
    sock.connect(endpoint)?;
    let mut generation: Option<i64> = None;
    let mut heard = Instant::now();
    let mut hold = Duration::from_secs(30);
    loop {
        if sock.poll(zmq::POLLIN, 250)? == 0 {
            if ACTIVE.load(Relaxed) && heard.elapsed() > hold {
                // distlogd went away: back to the program's own levels.
                install(Vec::new());
                generation = None;
            }
            continue;
        }
        let frames = sock.recv_multipart(0)?;
        let [topic, body] = &frames[..] else { continue };
        if topic != b"levels" {
            continue;
        }
        let Ok(msg) = serde_json::from_slice::<Value>(body) else {
            continue;
        };
        if msg["v"].as_i64() != Some(1) {
            continue;
        }
        heard = Instant::now();
        if let Some(h) = msg["hold"].as_f64().filter(|h| *h > 0.0 && h.is_finite()) {
            hold = Duration::from_secs_f64(h);
        }
        let g = msg["generation"].as_i64();
        if g.is_some() && g == generation {
            continue;
        }
        generation = g;
        install(rules_for_me(&msg["levels"], system, host));
    }
}

fn rules_for_me(levels: &Value, system: char, host: &str) -> Vec<Rule> {
    let pid = i64::from(std::process::id());
    let mut out = Vec::new();
    for s in levels.as_array().into_iter().flatten() {
        let Some(level) = s["level"].as_i64() else {
            continue;
        };
        if s["host"].as_str().is_some_and(|h| h != host)
            || s["process"].as_i64().is_some_and(|p| p != pid)
            || s["system"].as_str().is_some_and(|x| !x.starts_with(system))
        {
            continue;
        }
        out.push((
            s["logger"].as_str().map(str::to_owned),
            s["task"].as_str().map(str::to_owned),
            level,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_endpoint_is_the_intake_port_plus_one() {
        if std::env::var_os("DISTLOG_CONTROL").is_some() {
            return;
        }
        assert_eq!(
            default_control("tcp://localhost:5010").as_deref(),
            Some("tcp://localhost:5011")
        );
        assert_eq!(default_control("ipc:///tmp/x"), None);
        assert_eq!(default_control("tcp://h:0"), None);
    }

    #[test]
    fn settings_for_other_processes_are_left_out() {
        let levels: Value = serde_json::json!([
            {"logger": "app", "level": 10},
            {"process": 1, "level": 10},
            {"system": "T", "level": 10},
            {"host": "elsewhere", "level": 10},
        ]);
        let rules = rules_for_me(&levels, 'P', "here");
        assert_eq!(rules, vec![(Some("app".into()), None, 10)]);
    }
}
