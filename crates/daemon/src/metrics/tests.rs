use distlog_proto::{decode, Limits, Topic};
use serde_json::json;

use super::*;

fn record(topic: &[u8], body: serde_json::Value) -> Record {
    let topic = Topic::parse(topic).expect("topic");
    decode(topic, body.to_string().as_bytes(), &Limits::default()).expect("decodes")
}

fn perf(fields: serde_json::Value) -> Record {
    let mut body = json!({"name": "app", "levelno": 20, "msg": "m", "hostname": "h1"});
    for (k, v) in fields.as_object().expect("map") {
        body[k] = v.clone();
    }
    record(b"PPJ", body)
}

fn reason(fields: serde_json::Value) -> &'static str {
    parse_sample(&perf(fields)).expect_err("rejected").reason()
}

#[test]
fn a_sample_is_read_with_host_label_and_default_gauge() {
    let s = parse_sample(&perf(
        json!({"metric": "queue_len", "metric_value": 3, "metric_labels": {"q": "in"}}),
    ))
    .expect("sample");
    assert_eq!(s.kind, MetricKind::Gauge);
    assert_eq!(s.value, 3.0);
    assert_eq!(
        s.labels,
        vec![("host".into(), "h1".into()), ("q".into(), "in".into())]
    );
    let c = parse_sample(&perf(
        json!({"metric": "hits_total", "metric_value": 1, "metric_kind": "counter"}),
    ))
    .expect("sample");
    assert_eq!(c.name, "hits");
}

#[test]
fn bad_samples_get_their_reason() {
    assert_eq!(reason(json!({"metric_value": 1})), "no_name");
    assert_eq!(
        reason(json!({"metric": "9lives", "metric_value": 1})),
        "bad_name"
    );
    assert_eq!(
        reason(json!({"metric": "a b", "metric_value": 1})),
        "bad_name"
    );
    assert_eq!(
        reason(json!({"metric": "x", "metric_value": "NaN"})),
        "bad_value"
    );
    assert_eq!(reason(json!({"metric": "x"})), "bad_value");
    assert_eq!(
        reason(json!({"metric": "x", "metric_value": -1, "metric_kind": "counter"})),
        "bad_value"
    );
    assert_eq!(
        reason(json!({"metric": "x", "metric_value": 1, "metric_kind": "summary"})),
        "bad_kind"
    );
    let many: serde_json::Map<String, serde_json::Value> =
        (0..17).map(|i| (format!("l{i}"), json!("v"))).collect();
    assert_eq!(
        reason(json!({"metric": "x", "metric_value": 1, "metric_labels": many})),
        "bad_labels"
    );
    assert_eq!(
        reason(json!({"metric": "x", "metric_value": 1, "metric_labels": {"le": "1"}})),
        "bad_labels"
    );
    assert_eq!(
        reason(json!({"metric": "x", "metric_value": 1, "metric_labels": {"a": [1]}})),
        "bad_labels"
    );
}

#[test]
fn kinds_conflict_and_series_are_capped() {
    let m = Metrics::default();
    m.observe(&perf(
        json!({"metric": "x", "metric_value": 1, "metric_kind": "counter"}),
    ));
    m.observe(&perf(
        json!({"metric": "x", "metric_value": 1, "metric_kind": "gauge"}),
    ));
    assert_eq!(m.rejected[5].load(Relaxed), 1);
    for i in 0..MAX_APP_SERIES + 5 {
        m.observe(&perf(
            json!({"metric": "y", "metric_value": 1, "metric_labels": {"id": i}}),
        ));
    }
    assert_eq!(m.dropped_series[0].load(Relaxed), 6);
    assert_eq!(m.app.lock().expect("lock").series, MAX_APP_SERIES);
}

#[test]
fn scope_ends_are_counted_per_normalised_message() {
    let m = Metrics::default();
    for (user, event) in [(42, "close"), (43, "fail"), (44, "close")] {
        m.observe(&record(
            b"TLJ",
            json!({"name": "app", "levelno": 20, "msg": format!("fetch user {user}"), "hostname": "h1",
                   "scope_event": event, "scope_duration": 0.2,
                   "context": {"key": format!("2@u{user}")}}),
        ));
    }
    let labels = vec![
        ("scope".to_string(), "fetch user <n>".to_string()),
        ("host".to_string(), "h1".to_string()),
        ("system".to_string(), "test".to_string()),
    ];
    assert_eq!(m.scopes.runs.get_or_create(&labels).get(), 3);
    assert_eq!(m.scopes.failures.get_or_create(&labels).get(), 1);
}
