//! A program for `distlog level` (issue #13): logs a DEBUG and an INFO
//! record on `app.worker` every 20 ms with the `log` facade at INFO; each
//! INFO record says how many pushed settings apply. Given a third
//! argument (a subtask slot from another process's `get_foreign_task`), it
//! logs inside that task, on `elsewhere` at DEBUG with the facade at WARN,
//! so only a per-task setting lets those records through.
//!
//! ```text
//! cargo run -p distlog --example levels_demo -- tcp://localhost:5010 tcp://localhost:5011
//! distlog level set --logger app DEBUG
//! ```

fn main() {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "tcp://localhost:5010".into());
    let mut config = distlog::Config::new(endpoint);
    if let Some(control) = args.next() {
        config.control = Some(control);
    }
    let slot = args.next();
    let _guard = distlog::init(config).expect("distlog init");
    if let Some(slot) = slot {
        joined(&slot);
        return;
    }
    distlog::LogBridge::install(log::LevelFilter::Info).expect("log bridge");
    for n in 1u64.. {
        log::debug!(target: "app.worker", "rustdebug {n}");
        log::debug!(target: "other", "rustother {n}");
        log::info!(target: "app.worker", "rustinfo {n} rules={}", distlog::pushed_levels());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn joined(slot: &str) {
    distlog::LogBridge::install(log::LevelFilter::Warn).expect("log bridge");
    for n in 0..20 {
        log::debug!(target: "elsewhere", "rustoutside {n}");
    }
    let _task = distlog::import_task(slot, "joined from Rust")
        .expect("a valid slot")
        .enter();
    for n in 1u64.. {
        log::debug!(target: "elsewhere", "rustjoined {n}");
        log::warn!(target: "elsewhere", "rustwarn {n}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
