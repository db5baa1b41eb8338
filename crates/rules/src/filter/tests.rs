use distlog_proto::{decode, Limits, Record, Topic};

use super::*;
use crate::RecordSubject;

fn record(topic: &[u8], body: &str) -> Record {
    decode(
        Topic::parse(topic).expect("topic"),
        body.as_bytes(),
        &Limits::default(),
    )
    .expect("record")
}

fn sample() -> Record {
    record(
        b"SLJ",
        r#"{"name": "app.db.pool", "levelno": 30, "levelname": "WARNING", "hostname": "web-3",
            "message": "Query timed out after 5 s", "scope_event": "close",
            "context": {"key": "2@u/1", "user": "leo", "retries": 3, "req": {"id": "r-9"}}}"#,
    )
}

fn check(filter: &str) -> bool {
    parse_filter(filter)
        .unwrap_or_else(|e| panic!("{filter}: {e}"))
        .matches(&RecordSubject::new(&sample()))
}

#[test]
fn every_term_form_matches_what_it_says() {
    let table: &[(&str, bool)] = &[
        ("", true),
        ("level=WARNING", true),
        ("level>=warning", true),
        ("level>=ERROR", false),
        ("level=25", true),
        ("logger=app", true),
        ("logger=app.db", true),
        ("logger=app.d", false),
        ("logger=app.*.pool", true),
        ("logger=other,app", true),
        ("host=web-*", true),
        ("host=web", false),
        ("host=web-[0-9]", true),
        ("system=S", true),
        ("system=production", false),
        ("kind=L", true),
        ("encoding=json", true),
        ("encoding=P", false),
        ("event=close", true),
        ("event=scope", true),
        ("event=none", false),
        ("!event=open", true),
        ("context.user=leo", true),
        ("context.user=ann", false),
        ("context.user=ann,leo", true),
        ("context.retries=3", true),
        ("context.retries=3.0", true),
        ("context.req.id=r-9", true),
        ("context.req?", true),
        ("context.trace?", false),
        ("!context.trace?", true),
        ("message~time(d)?\\s+out", true),
        (r#"message~"timed out""#, true),
        ("message~^timed", false),
        ("TIMED", true),
        ("timed missing", false),
        ("level>=WARNING logger=app context.user=leo", true),
        ("level>=WARNING logger=nope", false),
    ];
    for (filter, want) in table {
        assert_eq!(check(filter), *want, "{filter}");
    }
}

#[test]
fn a_filter_may_be_a_yaml_map() {
    assert!(check("{any: [{level: ERROR}, {context: {user: leo}}]}"));
    assert!(!check("{all: [{level: ERROR}, {context: {user: leo}}]}"));
    assert!(check("{not: {host: db-*}, event: [open, close]}"));
}

#[test]
fn filter_errors_say_what_is_wrong() {
    let err = |f: &str| parse_filter(f).expect_err(f).to_string();
    assert_eq!(
        err("levle=ERROR"),
        "unknown field \"levle\" in filter term 1 (expected level, logger, host, system, kind, encoding, event, context.NAME, message, sample)"
    );
    assert!(err("level=LOUD").contains("unknown level \"LOUD\""));
    assert!(err("message~(unclosed").contains("message regex"));
    assert!(err("logger~app").contains("does not apply to logger"));
    assert!(err("system=Q").contains("T/test, S/staging, P/production"));
    assert!(err("event=begin").contains("open, close, fail, scope, none"));
    assert!(err("host=").contains("no value"));
    assert!(err(r#"message~"open"#).contains("unclosed quote"));
    assert!(err("{levle: ERROR}").contains("levle"));
    assert!(err("host=web-[").contains("bad glob"));
}

#[test]
fn terms_without_context_never_parse_the_body() {
    // The body here is not even a map with a context; matching on level
    // and logger must not care.
    let mut r = sample();
    r.body = "not json at all".into();
    let c = parse_filter("level>=WARNING logger=app").expect("filter");
    assert!(!c.needs_context());
    assert!(c.matches(&RecordSubject::new(&r)));
    let c = parse_filter("context.user=leo").expect("filter");
    assert!(c.needs_context());
    assert!(
        !c.matches(&RecordSubject::new(&r)),
        "an unreadable context matches nothing"
    );
}
