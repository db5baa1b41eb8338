//! `kill -9` under load: what the journal promises. Every record the daemon
//! reported durable survives, nothing is stored twice, what is lost is the
//! tail of one commit interval, and the store opens cleanly after.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{pusher, record, Daemon};

/// Sends `n <i>` records, numbered from 0, until told to stop.
fn sender(
    endpoint: String,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let ctx = zmq::Context::new();
        let push = pusher(&ctx, &endpoint);
        push.set_linger(0).expect("linger");
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) && i < 2_000_000 {
            let body = record(
                Some(&format!("{}@crash-task", i + 1)),
                &format!("n {i}"),
                "",
            );
            if push
                .send_multipart([&b"PLJ"[..], &body[..]], zmq::DONTWAIT)
                .is_ok()
            {
                i += 1;
                sent.store(i, Ordering::Relaxed);
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    })
}

/// Every stored record's number, by paging back through the API.
fn stored_numbers(daemon: &Daemon) -> BTreeMap<u64, u32> {
    let mut seen = BTreeMap::new();
    let mut before: Option<i64> = None;
    loop {
        let page = match before {
            Some(b) => daemon.get(&format!("/api/records?limit=10000&before={b}")),
            None => daemon.get("/api/records?limit=10000"),
        };
        let rows = page["records"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            return seen;
        }
        for r in &rows {
            let n: u64 = r["message"]
                .as_str()
                .and_then(|m| m.strip_prefix("n "))
                .and_then(|n| n.parse().ok())
                .expect("a numbered record");
            *seen.entry(n).or_insert(0) += 1;
        }
        before = rows.last().and_then(|r| r["id"].as_i64());
    }
}

#[test]
fn kill_9_under_load_keeps_every_durable_record_once_and_loses_only_the_last_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    for run in 0..2 {
        let daemon = Daemon::start(&store);
        let before_run = stored_numbers(&daemon).len() as u64;
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let thread = sender(daemon.intake.clone(), stop.clone(), sent.clone());
        // Under load for a while, then killed between two looks at it.
        let started = Instant::now();
        let target = before_run + 15_000;
        let snapshot = daemon.wait_for("records under load", |s| {
            s["store"]["durable"].as_u64().unwrap_or(0) >= target
                || started.elapsed() > Duration::from_secs(120)
        });
        let durable = snapshot["store"]["durable"].as_u64().unwrap_or(0);
        let appended = snapshot["store"]["appended"].as_u64().unwrap_or(0);
        daemon.kill9();
        stop.store(true, Ordering::Relaxed);
        thread.join().expect("sender");
        assert!(durable >= target, "run {run}: the load never built up");

        let again = Daemon::start(&store);
        let stats = again.stats();
        assert_eq!(stats["store"]["corrupt_blocks"], 0, "run {run}: {stats}");
        let numbers = stored_numbers(&again);
        let twice: Vec<_> = numbers.iter().filter(|(_, c)| **c > 1).collect();
        assert!(twice.is_empty(), "run {run}: stored twice: {twice:?}");
        let total = numbers.len() as u64;
        assert!(
            total >= durable,
            "run {run}: {total} stored, but {durable} were reported durable"
        );
        // The task list counts what survived, not what the catalogue saw
        // before the crash (its commits outlive the process; the journal's
        // unsynced buffer does not).
        let task = again.get("/api/tasks/crash-task");
        assert_eq!(task["records"].as_u64(), Some(total), "run {run}: {task}");
        // One sender over one connection arrives in order: what survived
        // of this run is a prefix of what it sent, without holes.
        let this_run = total - before_run;
        assert_eq!(
            numbers.keys().filter(|n| **n < this_run).count() as u64,
            this_run,
            "run {run}: holes in what survived"
        );
        // What was lost is what the last interval had not yet synced: at
        // the rate seen, a few commit intervals' worth at most (the look
        // at the stats and the kill are not the same instant).
        let lost = appended.saturating_sub(total);
        let rate = appended as f64 / started.elapsed().as_secs_f64();
        assert!(
            (lost as f64) <= rate * 0.2 * 3.0 + 1_000.0,
            "run {run}: lost {lost} at {rate:.0} records/s"
        );
        eprintln!(
            "run {run}: durable {durable}, appended {appended} at the last look, {total} stored, \
             {} sent; {} appended after the last durable mark were lost",
            sent.load(Ordering::Relaxed),
            appended.saturating_sub(total),
        );
        // The store takes new records after the crash.
        let ctx = zmq::Context::new();
        let push = pusher(&ctx, &again.intake);
        push.send_multipart([&b"PLJ"[..], &record(None, "after", "")[..]], 0)
            .expect("send");
        again.wait_for("a record after the crash", |s| s["store"]["stored"] == 1);
        again.stop();
        // Next run: numbers continue to count from 0, so start a new store.
        std::fs::remove_dir_all(&store).expect("fresh store for the next run");
    }
}
