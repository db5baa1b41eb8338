use std::path::Path;

use super::*;

fn compile(yaml: &str) -> Result<Plan> {
    ConfigFile::parse(yaml)?.compile(Path::new("/tmp/default.db"))
}

fn error(yaml: &str) -> String {
    format!("{:#}", compile(yaml).expect_err("must be rejected"))
}

const FULL: &str = r#"
listen: ["tcp://*:5010"]
http: 127.0.0.1:5080
sinks:
  store:
    type: store
    retention: {max_age: 30d, max_size: 10GiB}
  errors:
    type: file
    path: /var/log/distlog/errors.jsonl
    rotate: {max_size: 100MiB, every: 1d, keep: 7}
  live:
    type: feed
  screen:
    type: console
    format: human
    queue: {size: 100, when_full: drop}
  central:
    type: forward
    endpoint: tcp://central.example:5010
routes:
  mode: all
  rules:
    - name: errors to file
      match: {level: ERROR}
      to: [errors]
    - match: {any: [{logger: app.db}, {context: {user: leo}}]}
      to: [screen]
  default: [store, live, central]
"#;

#[test]
fn a_full_configuration_compiles_with_every_sink_type() {
    let plan = compile(FULL).expect("valid");
    let kinds: Vec<_> = plan
        .sinks
        .iter()
        .map(|(n, c)| (n.as_str(), c.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("central", "forward"),
            ("errors", "file"),
            ("live", "feed"),
            ("screen", "console"),
            ("store", "store")
        ]
    );
    assert_eq!(plan.mode, Mode::All);
    assert_eq!(plan.rules.len(), 2);
    assert_eq!(plan.rules[0].name, "errors to file");
    assert_eq!(plan.rules[0].sinks, [1]);
    assert_eq!(plan.default, [4, 2, 0]);
    assert_eq!(
        plan.listen.as_deref(),
        Some(&["tcp://*:5010".to_owned()][..])
    );
    let SinkConfig::Store(store) = &plan.sinks[4].1 else {
        panic!("store sink")
    };
    assert_eq!(
        store.path(),
        Path::new("/tmp/default.db"),
        "--store fills in the path"
    );
}

#[test]
fn a_misspelt_sink_is_named_with_its_line_and_a_suggestion() {
    let yaml = "sinks:\n  store:\n    type: store\nroutes:\n  mode: all\n  rules:\n    - to: [store]\n    - to: [stroe]\n  default: []\n";
    let e = error(yaml);
    assert!(e.contains("line 8"), "{e}");
    assert!(
        e.contains(r#"unknown sink "stroe" in rule 2; did you mean "store"?"#),
        "{e}"
    );
}

#[test]
fn unknown_fields_types_and_values_are_errors_that_say_where() {
    let e = error("sinks:\n  store:\n    type: store\n    retension: {max_age: 1d}\n");
    assert!(e.contains("retension"), "{e}");
    let e = error("sinks:\n  s:\n    type: stoer\n");
    assert!(e.contains("stoer"), "{e}");
    let e = error("sinks:\n  f:\n    type: file\n    path: /tmp/x\n    rotate: {every: 1y}\n");
    assert!(
        e.contains("line 3") && e.contains("rotate.every") && e.contains("unknown unit"),
        "{e}"
    );
    let e = error("sinks:\n  fw:\n    type: forward\n    endpoint: central:5010\n");
    assert!(e.contains("not a ZeroMQ endpoint"), "{e}");
    let e = error("sinks:\n  s:\n    type: store\nroutes:\n  mode: some\n  default: [s]\n");
    assert!(e.contains("line 5") && e.contains("`all`"), "{e}");
    let e = error("sinks: {}\n");
    assert!(e.contains("no sinks"), "{e}");
    let e = error("sinks:\n  bad name:\n    type: feed\n");
    assert!(e.contains("must be letters"), "{e}");
    let e = error("sinks:\n  s:\n    type: store\nroutes:\n  mode: all\n  rules:\n    - match: {levle: ERROR}\n      to: [s]\n  default: [s]\n");
    assert!(e.contains("levle"), "{e}");
}

#[test]
fn without_routes_every_sink_gets_every_record() {
    let plan = compile("sinks:\n  a:\n    type: feed\n  b:\n    type: console\n").expect("valid");
    assert!(plan.rules.is_empty());
    assert_eq!(plan.default, [0, 1]);
}

#[test]
fn the_defaults_store_everything_and_publish_the_feed() {
    let plan = ConfigFile::defaults(Path::new("/data/my store.db"))
        .expect("parses")
        .compile(Path::new("/ignored.db"))
        .expect("valid");
    let names: Vec<_> = plan.sinks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["feed", "store"]);
    let SinkConfig::Store(store) = &plan.sinks[1].1 else {
        panic!("store sink")
    };
    assert_eq!(store.path(), Path::new("/data/my store.db"));
    assert_eq!(plan.default.len(), 2);
}

#[test]
fn close_names_are_suggested_and_far_ones_are_listed() {
    let names = ["store".to_owned(), "errors".to_owned()];
    assert_eq!(closest("stroe", &names), Some("store"));
    assert_eq!(closest("eror", &names), Some("errors"));
    assert_eq!(closest("archive", &names), None);
}

#[test]
fn a_store_commit_interval_is_a_duration_and_a_bad_one_says_so() {
    let with = |interval: &str| {
        format!("sinks:\n  store:\n    type: store\n    commit_interval: {interval}\n")
    };
    compile(&with("50ms")).expect("milliseconds");
    compile(&with("1s")).expect("seconds");
    let err = error(&with("soon"));
    assert!(
        err.contains("commit_interval") && err.contains("soon"),
        "{err}"
    );
    let err = error(&with("0ms"));
    assert!(err.contains("more than zero"), "{err}");
}

#[test]
fn a_queue_byte_bound_must_be_a_size_above_zero() {
    let with = |bound: &str| {
        format!(
            "sinks:\n  screen:\n    type: console\n    queue: {{max_bytes: {bound}}}\nroutes:\n  mode: all\n  default: [screen]\n"
        )
    };
    compile(&with("64MiB")).expect("a size");
    let err = error(&with("lots"));
    assert!(
        err.contains("queue.max_bytes") && err.contains("lots"),
        "{err}"
    );
    let err = error(&with("0B"));
    assert!(err.contains("more than 0"), "{err}");
}

#[test]
fn the_sink_types_named_in_errors_are_the_ones_serde_knows() {
    let e = format!(
        "{:#}",
        serde_saphyr::from_str::<SinkConfig>("type: nothing\n").expect_err("unknown")
    );
    assert!(
        e.contains(&format!(
            "expected one of {}",
            explain::SINK_TYPES.join(", ")
        )),
        "{e}"
    );
}

#[test]
fn sink_shape_mistakes_are_said_in_plain_words_with_their_line() {
    let e = error("sinks:\n  store:\n  type: store\n");
    assert!(
        e.starts_with(r#"line 2: sink "store" has no settings: put them on the lines after it, indented further"#),
        "{e}"
    );
    let e = error("sinks:\n  a: {path: /tmp/x}\n");
    assert!(
        e.starts_with(r#"line 2: sink "a" has no `type`: give one of store, file"#),
        "{e}"
    );
    let e = error("sinks:\n  a: {type: consol}\n");
    assert!(
        e.contains(r#"line 2: sink "a" has unknown type "consol"; did you mean "console"?"#),
        "{e}"
    );
    // A mistake inside a well-shaped sink keeps serde's own words.
    let e = error("sinks:\n  a: {type: feed, bufer: 3}\n");
    assert!(e.contains("unknown field `bufer`"), "{e}");
}

#[test]
fn rule_conditions_that_do_not_compile_say_their_line() {
    let e = error("sinks:\n  s: {type: feed}\nroutes:\n  mode: all\n  rules:\n    - match: {level: EROR}\n      to: [s]\n  default: [s]\n");
    assert!(
        e.starts_with(r#"line 6: rule 1: match: unknown level "EROR""#),
        "{e}"
    );
    let e = error("sinks:\n  s: {type: feed}\nroutes:\n  mode: all\n  rules:\n    - to: [s]\n    - match:\n        any:\n          - {message: \"[\"}\n      to: [s]\n  default: [s]\n");
    assert!(e.starts_with("line 8: rule 2: match: message regex"), "{e}");
}
