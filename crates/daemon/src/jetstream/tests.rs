use super::*;
use distlog_proto::{decode, Limits, Topic};

fn record(body: &str) -> Record {
    let topic = Topic::parse(b"PLJ").expect("topic");
    decode(topic, body.as_bytes(), &Limits::default()).expect("record")
}

#[test]
fn a_tree_stays_on_one_subject_and_trees_spread() {
    let a = r#"{"msg":"x","levelno":20,"context":{"key":"0@e252a0b2-4ed5-4b14-9a1b-6a2b0e0f0c01"}}"#;
    let a2 = r#"{"msg":"y","levelno":20,"context":{"key":"3@e252a0b2-4ed5-4b14-9a1b-6a2b0e0f0c01/2/1"}}"#;
    assert_eq!(subject(&record(a), 16), subject(&record(a2), 16));
    assert!(subject(&record(a), 16).starts_with("distlog.production."));
    let mut used = std::collections::HashSet::new();
    for i in 0..200 {
        let body = format!(
            r#"{{"msg":"x","levelno":20,"context":{{"key":"0@{i:08x}-4ed5-4b14-9a1b-6a2b0e0f0c01"}}}}"#
        );
        let s = shard_of(&record(&body), 16);
        assert!(s < 16);
        used.insert(s);
    }
    assert_eq!(used.len(), 16, "200 trees should reach every one of 16 shards");
}

#[test]
fn the_shard_is_stable_across_versions() {
    // Agents of different versions must agree: FNV-1a, fixed here.
    let body = r#"{"msg":"x","levelno":20,"context":{"key":"0@e252a0b2-4ed5-4b14-9a1b-6a2b0e0f0c01"}}"#;
    assert_eq!(subject(&record(body), 16), "distlog.production.004");
}

#[test]
fn stream_settings_are_checked() {
    let ok = StreamConfig::default();
    ok.validate().expect("defaults");
    assert_eq!(ok.to_nats().subjects, vec!["distlog.>".to_string()]);
    let bad = StreamConfig {
        name: Some("a.b".into()),
        ..StreamConfig::default()
    };
    assert!(bad.validate().is_err());
    let bad = StreamConfig {
        max_age: Some("forever".into()),
        ..StreamConfig::default()
    };
    assert!(bad.validate().is_err());
    assert!(validate_url("nats://127.0.0.1:4222").is_ok());
    assert!(validate_url("nats://a:1, nats://b:2").is_ok());
    assert!(validate_url("http://x/y").is_err());
}
