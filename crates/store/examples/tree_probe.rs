//! Times one task's tree, built and serialised to JSON, on an existing
//! store: `cargo run --release -p distlog-store --example tree_probe -- STORE ROOT|q:WORD [N]`.
//! For profiling the tree path without the HTTP server around it.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(root)) = (args.next(), args.next()) else {
        return Err("usage: tree_probe STORE ROOT [N]".into());
    };
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);
    let store = distlog_store::Store::open(&path)?;
    let reader = store.reader()?;
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        // `q:WORD` searches instead: the newest 100 records holding WORD.
        let json = if let Some(word) = root.strip_prefix("q:") {
            let filter = distlog_store::RecordFilter {
                q: Some(word.to_owned()),
                ..Default::default()
            };
            serde_json::to_vec(&reader.records(&filter)?)?
        } else {
            serde_json::to_vec(&reader.tree(&root, 0.0)?.ok_or("no such task")?)?
        };
        let t_build = t.elapsed();
        bytes = json.len();
        times.push((t.elapsed(), t_build));
    }
    times.sort();
    let (total, build) = times[times.len() / 2];
    println!(
        "median {:.1} ms (answer {:.1} ms), min {:.1} ms, {} bytes",
        total.as_secs_f64() * 1e3,
        build.as_secs_f64() * 1e3,
        times[0].0.as_secs_f64() * 1e3,
        bytes
    );
    Ok(())
}
