use std::path::Path;
use std::sync::Arc;

use distlog_proto::{decode, Limits, Topic};

use super::Move;
use crate::config::ConfigFile;
use crate::pipeline::{Pipeline, Routed, Switch};
use crate::sinks::Threads;

fn pipeline(yaml: &str, previous: Option<&Pipeline>, threads: &Threads) -> Pipeline {
    let plan = ConfigFile::parse(yaml)
        .expect("parses")
        .compile(Path::new("/tmp/unused.db"))
        .expect("compiles");
    Pipeline::start(plan, previous, threads).expect("starts")
}

fn record(message: &str) -> Arc<Routed> {
    let body = format!(r#"{{"message": "{message}"}}"#);
    let topic = Topic::parse(b"PLJ").expect("topic");
    let r = decode(topic, body.as_bytes(), &Limits::default()).expect("record");
    Arc::new(Routed::new(r, None, 0.0))
}

#[test]
fn a_subscriber_moves_to_a_replaced_feed_before_it_routes_a_record() {
    let threads = Threads::default();
    let switch = Switch::new(pipeline(
        "sinks:\n  live: {type: feed, buffer: 16}\n",
        None,
        &threads,
    ));
    let mut sub = switch.subscribe(Some("live")).expect("a feed");
    switch.current().route(&record("before"));
    let next = pipeline(
        "sinks:\n  live: {type: feed, buffer: 32}\n",
        Some(&switch.current()),
        &threads,
    );
    let stale = switch.current();
    switch.replace(next);
    // A stale copy of the old pipeline routes through the new one.
    stale.route(&record("after"));
    assert!(sub.reloads.has_changed().expect("switch alive"));
    assert_eq!(
        sub.rx.try_recv().expect("old record").record.message,
        "before"
    );
    let Some(Move::To(sink, mut rx)) = sub.follower.next_move() else {
        panic!("moved to the new feed");
    };
    assert_eq!(sink.config, switch.current().sinks[0].config);
    assert_eq!(rx.try_recv().expect("new record").record.message, "after");
    assert!(sub.follower.next_move().is_none());
}

#[test]
fn an_unchanged_feed_keeps_its_subscribers_where_they_are() {
    let threads = Threads::default();
    let yaml = "sinks:\n  live: {type: feed}\n  screen: {type: console}\n";
    let switch = Switch::new(pipeline(yaml, None, &threads));
    let sub = switch.subscribe(None).expect("a feed");
    let next = pipeline(
        "sinks:\n  live: {type: feed}\n",
        Some(&switch.current()),
        &threads,
    );
    switch.replace(next);
    assert!(sub.follower.next_move().is_none());
    threads.join_all();
}

#[test]
fn a_removed_feed_ends_its_subscribers_with_the_reason() {
    let threads = Threads::default();
    let switch = Switch::new(pipeline(
        "sinks:\n  live: {type: feed}\n  other: {type: feed}\n",
        None,
        &threads,
    ));
    let named = switch.subscribe(Some("live")).expect("named");
    let first = switch.subscribe(None).expect("first");
    let next = pipeline(
        "sinks:\n  other: {type: feed}\n",
        Some(&switch.current()),
        &threads,
    );
    switch.replace(next);
    let Some(Move::Gone(why)) = named.follower.next_move() else {
        panic!("gone");
    };
    assert_eq!(
        why,
        r#"the configuration was reloaded without the feed sink "live""#
    );
    // Asked for no name: it follows whichever feed comes first.
    assert!(matches!(first.follower.next_move(), Some(Move::To(s, _)) if s.name == "other"));
    let next = pipeline("sinks:\n  other: {type: console}\n", None, &threads);
    switch.replace(next);
    let Some(Move::Gone(why)) = first.follower.next_move() else {
        panic!("gone");
    };
    assert_eq!(why, "the configuration was reloaded without a feed sink");
    switch.replace(Pipeline::empty());
    threads.join_all();
}
