//! The tree-aware condition (`task: failed`) and sampling (`sample:`), with
//! the tail tracker that decides tasks: late failures, foreign processes,
//! grace, timeouts and the memory bound. Time is passed in, so no test
//! waits.

use std::time::{Duration, Instant};

use distlog_proto::{decode, Limits, ScopeEvent, Topic};
use distlog_rules::tail::{Decision, Seen, Tail, TailLimits, Why};
use distlog_rules::{parse_filter, sample_point, ConditionSpec, RecordSubject};

fn limits() -> TailLimits {
    TailLimits {
        grace: Duration::from_secs(2),
        timeout: Duration::from_secs(30),
        max_tasks: 1000,
        max_bytes: 1 << 30,
        remember: 1000,
    }
}

fn secs(t0: Instant, s: f64) -> Instant {
    t0 + Duration::from_secs_f64(s)
}

/// A record of task `root` at `path` (`[]` is the root scope).
struct Rec {
    path: Vec<u32>,
    event: Option<ScopeEvent>,
    name: String,
}

fn rec(path: &[u32], event: Option<ScopeEvent>, name: &str) -> Rec {
    Rec {
        path: path.to_vec(),
        event,
        name: name.to_owned(),
    }
}

/// Feeds records, holding each, and returns what came back at once and
/// every decision made on the way.
fn feed(
    tail: &mut Tail<String>,
    root: &str,
    at: Instant,
    records: &[Rec],
) -> (Vec<(String, bool)>, Vec<Decision<String>>) {
    let mut known = Vec::new();
    let mut decisions = Vec::new();
    for r in records {
        let (seen, decided) = tail.observe(root, &r.path, r.event, at, Some((r.name.clone(), 100)));
        decisions.extend(decided);
        if let Seen::Known { failed, item, .. } = seen {
            known.push((item.expect("item handed back"), failed));
        }
    }
    (known, decisions)
}

use ScopeEvent::{Close, Fail, Open};

#[test]
fn a_failure_in_a_child_scope_after_many_succeeded_records_keeps_the_whole_tree() {
    let mut tail = Tail::new(limits());
    let t0 = Instant::now();
    let mut records = vec![rec(&[], Some(Open), "root open")];
    for i in 1..=500u32 {
        records.push(rec(&[i], Some(Open), &format!("step {i} open")));
        records.push(rec(&[i], None, &format!("step {i} working")));
        records.push(rec(&[i], Some(Close), &format!("step {i} done")));
    }
    let (known, decisions) = feed(&mut tail, "r", t0, &records);
    assert!(
        known.is_empty() && decisions.is_empty(),
        "nothing decided yet"
    );
    assert_eq!(tail.held_records(), 1501);
    // Late in the task: step 501 fails.
    let (known, decisions) = feed(
        &mut tail,
        "r",
        secs(t0, 10.0),
        &[
            rec(&[501], Some(Open), "step 501 open"),
            rec(&[501], Some(Fail), "step 501 failed"),
        ],
    );
    assert_eq!(known, [("step 501 failed".to_owned(), true)]);
    assert_eq!(decisions.len(), 1);
    let d = &decisions[0];
    assert_eq!((d.failed, d.why, d.root.as_str()), (true, Why::Failed, "r"));
    assert_eq!(
        d.held.len(),
        1502,
        "every record held so far, the open of 501 too"
    );
    assert_eq!(d.held[0], "root open");
    assert_eq!(d.held[1501], "step 501 open");
    // Later records of the failed task pass straight through as failed.
    let (known, _) = feed(
        &mut tail,
        "r",
        secs(t0, 11.0),
        &[rec(&[], Some(Close), "root closed")],
    );
    assert_eq!(known, [("root closed".to_owned(), true)]);
    assert_eq!((tail.held_tasks(), tail.held_records()), (0, 0));
}

#[test]
fn a_failure_in_a_foreign_process_after_the_root_closed_counts_within_the_grace() {
    let mut tail = Tail::new(limits());
    let t0 = Instant::now();
    // The parent process: root open, a foreign slot /1 handed out, root closes.
    feed(
        &mut tail,
        "r",
        t0,
        &[
            rec(&[], Some(Open), "root open"),
            rec(&[], Some(Close), "root close"),
        ],
    );
    // Inside the grace, the foreign process's records arrive on their own
    // connection: it opened /1 and fails there.
    assert!(
        tail.expire(secs(t0, 1.5)).is_empty(),
        "still within the grace"
    );
    let (_, decisions) = feed(
        &mut tail,
        "r",
        secs(t0, 1.9),
        &[
            rec(&[1], Some(Open), "foreign open"),
            rec(&[1], Some(Fail), "foreign failed"),
        ],
    );
    assert_eq!(decisions.len(), 1);
    assert!(decisions[0].failed);
    assert_eq!(
        decisions[0].held,
        ["root open", "root close", "foreign open"]
    );
}

#[test]
fn an_open_foreign_scope_keeps_a_closed_root_waiting_until_it_closes() {
    let mut tail = Tail::new(limits());
    let t0 = Instant::now();
    feed(
        &mut tail,
        "r",
        t0,
        &[
            rec(&[], Some(Open), "root"),
            rec(&[1], Some(Open), "foreign open"),
        ],
    );
    feed(
        &mut tail,
        "r",
        secs(t0, 1.0),
        &[rec(&[], Some(Close), "root close")],
    );
    // Far past the grace, but /1 is still open: the task waits (timeout).
    assert!(tail.expire(secs(t0, 20.0)).is_empty());
    feed(
        &mut tail,
        "r",
        secs(t0, 25.0),
        &[rec(&[1], Some(Close), "foreign close")],
    );
    assert!(
        tail.expire(secs(t0, 26.9)).is_empty(),
        "grace runs from the last record"
    );
    let d = tail.expire(secs(t0, 27.0));
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].failed, d[0].why), (false, Why::Closed));
    assert_eq!(d[0].held.len(), 4);
}

#[test]
fn a_closed_task_is_decided_after_the_grace_and_late_records_follow_the_decision() {
    let mut tail = Tail::new(limits());
    let t0 = Instant::now();
    feed(
        &mut tail,
        "ok",
        t0,
        &[
            rec(&[], Some(Open), "a"),
            rec(&[], None, "b"),
            rec(&[], Some(Close), "c"),
        ],
    );
    assert!(tail.expire(secs(t0, 1.99)).is_empty());
    let d = tail.expire(secs(t0, 2.0));
    assert_eq!((d.len(), d[0].failed, d[0].why), (1, false, Why::Closed));
    assert_eq!(d[0].held, ["a", "b", "c"]);
    assert_eq!(tail.outcome("ok"), Some(false));
    // A straggler after the decision: routed at once as not failed...
    let (known, _) = feed(&mut tail, "ok", secs(t0, 5.0), &[rec(&[2], None, "late")]);
    assert_eq!(known, [("late".to_owned(), false)]);
    // ...and a failure after it turns the outcome for what follows.
    let (seen, _) = tail.observe(
        "ok",
        &[2],
        Some(Fail),
        secs(t0, 6.0),
        Some(("late fail".to_owned(), 1)),
    );
    assert!(
        matches!(
            seen,
            Seen::Known {
                failed: true,
                late: true,
                ..
            }
        ),
        "{seen:?}"
    );
    assert_eq!(tail.outcome("ok"), Some(true));
}

#[test]
fn a_silent_task_is_decided_as_it_stands_at_the_timeout() {
    let mut tail = Tail::new(limits());
    let t0 = Instant::now();
    feed(&mut tail, "quiet", t0, &[rec(&[], Some(Open), "open")]);
    feed(&mut tail, "busy", t0, &[rec(&[], Some(Open), "open")]);
    // `busy` keeps talking; `quiet` says nothing more.
    for s in 1..40 {
        feed(
            &mut tail,
            "busy",
            secs(t0, f64::from(s)),
            &[rec(&[], None, "tick")],
        );
    }
    let d = tail.expire(secs(t0, 30.0));
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].root.as_str(), d[0].failed, d[0].why),
        ("quiet", false, Why::Timeout)
    );
    assert_eq!(tail.held_tasks(), 1);
    let d = tail.expire(secs(t0, 69.0));
    assert_eq!(
        (d[0].root.as_str(), d[0].why, d[0].held.len()),
        ("busy", Why::Timeout, 40)
    );
}

#[test]
fn the_bound_on_tasks_decides_the_task_nearest_its_decision_first() {
    let mut tail = Tail::new(TailLimits {
        max_tasks: 3,
        ..limits()
    });
    let t0 = Instant::now();
    feed(&mut tail, "a", t0, &[rec(&[], Some(Open), "a")]);
    feed(
        &mut tail,
        "b",
        secs(t0, 1.0),
        &[rec(&[], Some(Open), "b"), rec(&[], Some(Close), "b.")],
    );
    feed(&mut tail, "c", secs(t0, 2.0), &[rec(&[], Some(Open), "c")]);
    // A fourth: `b` is closed (due in its grace), so it goes first.
    let (_, d) = feed(&mut tail, "d", secs(t0, 3.0), &[rec(&[], Some(Open), "d")]);
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].root.as_str(), d[0].why, d[0].failed),
        ("b", Why::Bound, false)
    );
    assert_eq!(d[0].held, ["b", "b."]);
    // A fifth: then the one silent longest.
    let (_, d) = feed(&mut tail, "e", secs(t0, 4.0), &[rec(&[], Some(Open), "e")]);
    assert_eq!(d[0].root, "a");
    assert_eq!(tail.held_tasks(), 3);
}

#[test]
fn the_bound_on_bytes_holds_memory_whatever_the_tree_size() {
    let max = 64 << 10;
    let mut tail = Tail::new(TailLimits {
        max_bytes: max,
        ..limits()
    });
    let t0 = Instant::now();
    let mut early = 0;
    for task in 0..50 {
        let root = format!("t{task}");
        for i in 0..100u32 {
            let (_, d) = tail.observe(
                &root,
                &[i],
                None,
                secs(t0, f64::from(task)),
                Some((String::new(), 100)),
            );
            assert!(
                tail.held_bytes() <= max,
                "held {} > {max}",
                tail.held_bytes()
            );
            early += d.iter().filter(|d| d.why == Why::Bound).count();
        }
    }
    assert!(early > 0, "tasks had to be decided early");
    assert!(tail.held_records() * 100 <= max);
    // One task larger than the bound on its own is decided early too.
    let mut huge_early = false;
    for _ in 0..1000 {
        let one = Some((String::new(), 1000));
        let (_, d) = tail.observe("huge", &[], None, secs(t0, 60.0), one);
        huge_early |= d.iter().any(|d| d.root == "huge" && d.why == Why::Bound);
        assert!(tail.held_bytes() <= max);
    }
    assert!(huge_early);
}

#[test]
fn flushing_decides_everything_as_it_stands() {
    let mut tail = Tail::new(limits());
    let t0 = Instant::now();
    feed(&mut tail, "a", t0, &[rec(&[], Some(Open), "a")]);
    feed(&mut tail, "b", t0, &[rec(&[], Some(Open), "b")]);
    let d = tail.flush();
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|d| d.why == Why::Flush && !d.failed));
    assert_eq!((tail.held_tasks(), tail.held_bytes()), (0, 0));
}

fn spec(yaml: &str) -> ConditionSpec {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

fn record(key: Option<&str>) -> distlog_proto::Record {
    let context = key.map_or("null".to_owned(), |k| format!(r#"{{"key": "{k}"}}"#));
    let body = format!(r#"{{"name": "app", "levelno": 20, "message": "m", "context": {context}}}"#);
    decode(
        Topic::parse(b"PLJ").expect("topic"),
        body.as_bytes(),
        &Limits::default(),
    )
    .expect("decode")
}

#[test]
fn task_failed_depends_on_the_outcome_and_never_holds_for_a_record_outside_a_task() {
    let c = spec("task: failed").compile().expect("compile");
    assert!(c.needs_task());
    let scoped = record(Some("3@root-1/2"));
    let s = RecordSubject::new(&scoped);
    assert!(c.matches_task(&s, true));
    assert!(!c.matches_task(&s, false));
    let loose = record(None);
    let s = RecordSubject::new(&loose);
    assert!(!c.matches_task(&s, true), "no task, so no failed task");
    let not = spec("not: {task: failed}").compile().expect("compile");
    assert!(not.needs_task() && not.matches_task(&s, true));
    assert!(!spec("level: ERROR").compile().expect("c").needs_task());
    let err = spec("task: broken").compile().expect_err("bad value");
    assert!(err.to_string().contains("broken"), "{err}");
}

#[test]
fn task_conditions_are_refused_in_filters() {
    for f in [
        "task=failed",
        "{task: failed}",
        "{any: [{level: ERROR}, {task: failed}]}",
    ] {
        let err = parse_filter(f).expect_err(f);
        assert!(
            err.to_string().contains("only in routing rules"),
            "{f}: {err}"
        );
    }
}

#[test]
fn sampling_keeps_the_configured_share_and_the_same_roots_every_time() {
    let c = spec("sample: 0.1").compile().expect("compile");
    assert!(!c.needs_task(), "sampling is known at once");
    let n = 20_000;
    let mut kept = Vec::new();
    for i in 0..n {
        let r = record(Some(&format!(
            "0@{:08x}-7f3a-4c1e-9b2d-{:012x}",
            i * 7919,
            i
        )));
        if c.matches(&RecordSubject::new(&r)) {
            kept.push(i);
        }
    }
    // Binomial(20000, 0.1): sd ≈ 42; 5 sd either side.
    assert!(
        (1790..=2210).contains(&kept.len()),
        "kept {} of {n}",
        kept.len()
    );
    // A second compile (another daemon) keeps exactly the same roots.
    let again = parse_filter("sample=0.1").expect("term");
    for i in 0..n {
        let r = record(Some(&format!(
            "0@{:08x}-7f3a-4c1e-9b2d-{:012x}",
            i * 7919,
            i
        )));
        assert_eq!(
            again.matches(&RecordSubject::new(&r)),
            kept.binary_search(&i).is_ok()
        );
    }
    // Every record of a task shares its root, so its whole tree goes together.
    let root = "e252a11f";
    let want = sample_point(root) < 0.5;
    let half = spec("sample: 0.5").compile().expect("c");
    for key in ["0@e252a11f", "4@e252a11f/1", "9@e252a11f/3/2"] {
        assert_eq!(half.matches(&RecordSubject::new(&record(Some(key)))), want);
    }
    assert!(spec("sample: 1")
        .compile()
        .expect("c")
        .matches(&RecordSubject::new(&record(Some("0@x")))));
    assert!(!spec("sample: 0")
        .compile()
        .expect("c")
        .matches(&RecordSubject::new(&record(Some("0@x")))));
    assert!(!spec("sample: 1")
        .compile()
        .expect("c")
        .matches(&RecordSubject::new(&record(None))));
    for bad in ["sample: 1.5", "sample: -0.1"] {
        assert!(spec(bad).compile().is_err(), "{bad}");
    }
    assert!(parse_filter("sample=lots").is_err());
}

#[test]
fn a_huge_timeout_means_never_not_a_panic() {
    let mut tail = Tail::new(TailLimits {
        grace: Duration::MAX,
        timeout: Duration::MAX,
        ..limits()
    });
    let t0 = Instant::now();
    let (known, decided) = feed(
        &mut tail,
        "r",
        t0,
        &[
            rec(&[], Some(ScopeEvent::Open), "open"),
            rec(&[], Some(ScopeEvent::Close), "close"),
        ],
    );
    assert!(known.is_empty() && decided.is_empty());
    assert!(tail.expire(secs(t0, 86_400.0)).is_empty());
    assert!(tail.next_deadline().is_some());
}
