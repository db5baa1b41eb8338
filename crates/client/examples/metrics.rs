//! Metrics from Rust: a counter, a gauge, a timed block and scopes, sent to
//! the endpoint given as the only argument (default `tcp://localhost:5010`).
//!
//! ```text
//! cargo run --example metrics -- tcp://127.0.0.1:5010
//! ```

use distlog::MetricKind;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://localhost:5010".into());
    let mut config = distlog::Config::new(endpoint);
    config.system = 'T';
    let _guard = distlog::init(config)?;
    distlog::metric("rust_jobs", 4.0, MetricKind::Counter, &[("lang", "rust")])?;
    distlog::metric("rust_jobs", 6.0, MetricKind::Counter, &[("lang", "rust")])?;
    distlog::metric("rust_temperature", 21.5, MetricKind::Gauge, &[])?;
    {
        let _t = distlog::timed("rust_step_seconds", &[("step", "sum")])?;
        let _sum: u64 = (0..1000u64).sum();
    }
    for order in [7, 8] {
        let mut job = distlog::task(format!("ship order {order}")).enter();
        if order == 8 {
            job.fail("out of stock");
        }
    }
    if let Err(e) = distlog::metric("bad name", 1.0, MetricKind::Gauge, &[]) {
        println!("refused: {e}");
    }
    Ok(())
}
