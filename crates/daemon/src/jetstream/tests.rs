use super::*;
use distlog_proto::{decode, Limits, Topic};

fn record(body: &str) -> Record {
    let topic = Topic::parse(b"PLJ").expect("topic");
    decode(topic, body.as_bytes(), &Limits::default()).expect("record")
}

#[test]
fn a_tree_stays_on_one_subject_and_trees_spread() {
    let a =
        r#"{"msg":"x","levelno":20,"context":{"key":"0@e252a0b2-4ed5-4b14-9a1b-6a2b0e0f0c01"}}"#;
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
    assert_eq!(
        used.len(),
        16,
        "200 trees should reach every one of 16 shards"
    );
}

#[test]
fn the_shard_is_stable_across_versions() {
    // Agents of different versions must agree: FNV-1a, fixed here.
    let body =
        r#"{"msg":"x","levelno":20,"context":{"key":"0@e252a0b2-4ed5-4b14-9a1b-6a2b0e0f0c01"}}"#;
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

/// The YAML blocks of a doc, in order.
fn yaml_blocks(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```yaml") => current = Some(String::new()),
            (Some(_), "```") => out.extend(current.take()),
            (Some(text), l) => {
                text.push_str(l);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

#[test]
fn the_scale_out_examples_are_valid_configurations() {
    let doc = include_str!("../../../../docs/scale-out.md");
    let blocks = yaml_blocks(doc);
    assert_eq!(blocks.len(), 2, "the agent's and the collector's");
    for text in &blocks {
        let plan = crate::config::ConfigFile::parse(text)
            .and_then(|c| c.compile(std::path::Path::new("store")))
            .unwrap_or_else(|e| panic!("{e:#}\n{text}"));
        assert!(!plan.sinks.is_empty());
    }
    let agent = crate::config::ConfigFile::parse(&blocks[0])
        .and_then(|c| c.compile(std::path::Path::new("store")))
        .expect("agent");
    assert!(agent.sinks.iter().any(|(_, c)| c.kind() == "jetstream"));
    let collector = crate::config::ConfigFile::parse(&blocks[1])
        .and_then(|c| c.compile(std::path::Path::new("store")))
        .expect("collector");
    assert_eq!(collector.sources.len(), 1);
}

#[test]
fn bad_jetstream_settings_say_what_is_wrong() {
    let err = |text: &str| {
        crate::config::ConfigFile::parse(text)
            .and_then(|c| c.compile(std::path::Path::new("store")))
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
            .expect_err("should be refused")
    };
    let sink = "sinks:\n  n:\n    type: jetstream\n    url: nats://h:4222\n";
    assert!(err(&format!("{sink}    shards: 0\n")).contains("shards"));
    assert!(err("sinks:\n  n:\n    type: jetstream\n    url: http://h/x\n").contains("NATS"));
    let source = "sinks:\n  s:\n    type: store\nsources:\n  j:\n    type: jetstream\n    url: nats://h:4222\n";
    let e = err(&format!("{source}    ack_wait: 200ms\n"));
    assert!(e.contains("source \"j\"") && e.contains("ack_wait"), "{e}");
    assert!(err(&format!("{source}    consumer: a.b\n")).contains("consumer"));
    assert!(err(&format!("{source}    bogus: 1\n")).contains("bogus"));
}
