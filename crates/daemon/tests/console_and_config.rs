//! What a person reads from distlogd: the console sink's lines and the
//! configuration errors, with the real binary.

mod common;

use std::path::Path;
use std::process::Command;

use common::{pusher, store_path, Daemon, PATIENCE};

#[test]
fn the_console_sink_prints_records_as_distlog_tail_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("distlogd.yml");
    std::fs::write(&config, "sinks:\n  screen: {type: console}\n").expect("config");
    let config_arg = config.display().to_string();
    let daemon = Daemon::start_with_stdout(&store_path(&dir), &["--config", &config_arg]);
    let ctx = zmq::Context::new();
    let sock = pusher(&ctx, &daemon.intake);
    let body = r#"{"name": "app.db", "levelno": 30, "levelname": "WARNING", "message": "slow query",
        "created": 1524085399.148067, "hostname": "h", "process": 1,
        "context": {"user": "leo", "attempt": 2, "key": "3@e252/1"}}"#;
    sock.send_multipart([&b"PLJ"[..], body.as_bytes()], 0)
        .expect("send");
    let line = daemon
        .stdout
        .as_ref()
        .expect("stdout kept")
        .recv_timeout(PATIENCE)
        .expect("a console line");
    assert_eq!(
        line,
        "2018-04-18 21:03:19.148Z WARNING app.db slow query  [3@e252/1]  attempt=2 user=leo"
    );
}

/// `distlogd --check-config` on `yaml`: its standard error, after
/// checking that it failed.
fn check_error(dir: &Path, yaml: &str) -> String {
    let path = dir.join("distlogd.yml");
    std::fs::write(&path, yaml).expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_distlogd"))
        .arg("--check-config")
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{yaml}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains(&path.display().to_string()),
        "names the file: {err}"
    );
    err
}

fn rule(condition: &str) -> String {
    format!(
        "sinks:\n  store: {{type: store}}\nroutes:\n  mode: all\n  rules:\n    - name: alerts\n      match: {condition}\n      to: [store]\n  default: [store]\n"
    )
}

#[test]
fn an_unknown_level_in_a_rule_is_named_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = check_error(dir.path(), &rule("{level: EROR}"));
    assert!(
        err.contains(r#"line 7: rule 1 (alerts): match: unknown level "EROR""#),
        "{err}"
    );
}

#[test]
fn a_bad_regex_in_a_rule_is_named_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = check_error(dir.path(), &rule("\n        message: \"(unclosed\""));
    assert!(
        err.contains(r#"line 8: rule 1 (alerts): match: message regex "(unclosed""#),
        "{err}"
    );
}

#[test]
fn a_mis_indented_sink_is_explained_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = check_error(
        dir.path(),
        "sinks:\n  store:\n    type: store\n  errors:\n  type: file\n  path: /tmp/errors.jsonl\n",
    );
    assert!(!err.contains("internally tagged"), "{err}");
    assert!(
        err.contains(r#"line 4: sink "errors" has no settings"#),
        "{err}"
    );
}

#[test]
fn a_sink_that_is_not_a_map_is_explained_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = check_error(
        dir.path(),
        "sinks:\n  store: {type: store}\n  archive: file\n",
    );
    assert!(!err.contains("internally tagged"), "{err}");
    assert!(err.contains(r#"line 3: sink "archive""#), "{err}");
    assert!(err.contains("type:"), "says what a sink looks like: {err}");
}

#[test]
fn an_unknown_sink_type_is_named_with_its_line_and_the_known_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = check_error(
        dir.path(),
        "sinks:\n  store: {type: store}\n  archive:\n    type: fiel\n    path: /tmp/a.jsonl\n",
    );
    assert!(
        err.contains(r#"line 4: sink "archive" has unknown type "fiel"; did you mean "file"?"#),
        "{err}"
    );
}
