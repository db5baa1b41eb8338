use serde_json::json;

use crate::{ConditionSpec, JsonSubject, Subject};

fn spec(yaml: &str) -> ConditionSpec {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

fn row() -> serde_json::Value {
    json!({"levelno": 40, "logger": "payments", "host": "api-1", "topic": "PLP",
           "message": "card declined", "event": "fail",
           "context": {"order": 7, "region": "eu", "user": {"id": "u1"}}})
}

#[test]
fn yaml_conditions_match_as_written() {
    let r = row();
    let s = JsonSubject::new(&r);
    let table: &[(&str, bool)] = &[
        ("{}", true),
        ("level: ERROR", true),
        ("level: 50", false),
        ("logger: [billing, payments]", true),
        ("host: api-*", true),
        ("system: P", true),
        ("encoding: pickle", true),
        ("kind: performance", false),
        ("event: fail", true),
        ("event: [open, close]", false),
        ("message: declin", true),
        ("context: {order: 7}", true),
        ("context: {order: \"7\"}", false),
        ("context: {order: {equals: 7.0}}", true),
        ("context: {region: {in: [us, eu]}}", true),
        ("context: {region: {in: [us]}}", false),
        ("context: {trace: {exists: false}}", true),
        ("context: {user.id: u1}", true),
        ("context: {user: {id: u1}}", true),
        ("all: [{level: ERROR}, {logger: payments}]", true),
        ("any: [{level: CRITICAL}, {host: db-*}]", false),
        ("not: {event: open}", true),
        ("{level: ERROR, not: {context: {region: eu}}}", false),
    ];
    for (yaml, want) in table {
        let c = spec(yaml)
            .compile()
            .unwrap_or_else(|e| panic!("{yaml}: {e}"));
        assert_eq!(c.matches(&s), *want, "{yaml}");
    }
}

#[test]
fn a_list_of_rules_parses_and_typos_are_errors() {
    let rules: Vec<ConditionSpec> =
        serde_saphyr::from_str("- level: ERROR\n- {any: [{logger: app}, {event: fail}]}\n")
            .expect("rules");
    assert_eq!(rules.len(), 2);
    let typo = serde_saphyr::from_str::<ConditionSpec>("levle: ERROR\n").expect_err("typo");
    assert!(typo.to_string().contains("levle"), "{typo}");
    let bad_level = spec("level: LOUD").compile().expect_err("level");
    assert!(bad_level.to_string().contains("LOUD"));
    let bad_test = spec("context: {x: {exists: true, equals: 1}}")
        .compile()
        .expect_err("test");
    assert!(bad_test.to_string().contains("\"x\""), "{bad_test}");
}

#[test]
fn a_row_without_topic_or_context_matches_nothing_that_needs_them() {
    let r = json!({"levelno": 20, "message": "m"});
    let s = JsonSubject::new(&r);
    assert!(s.topic().is_none() && s.context().is_none());
    assert!(!spec("system: P").compile().expect("c").matches(&s));
    assert!(!spec("context: {a: 1}").compile().expect("c").matches(&s));
    assert!(spec("context: {a: {exists: false}}")
        .compile()
        .expect("c")
        .matches(&s));
}
