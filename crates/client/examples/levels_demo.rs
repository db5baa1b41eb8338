//! A program for `distlog level` (issue #13): logs a DEBUG and an INFO
//! record on `app.worker` every 20 ms with the `log` facade at INFO; each
//! INFO record says how many pushed settings apply.
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
    let _guard = distlog::init(config).expect("distlog init");
    distlog::LogBridge::install(log::LevelFilter::Info).expect("log bridge");
    for n in 1u64.. {
        log::debug!(target: "app.worker", "rustdebug {n}");
        log::debug!(target: "other", "rustother {n}");
        log::info!(target: "app.worker", "rustinfo {n} rules={}", distlog::pushed_levels());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
