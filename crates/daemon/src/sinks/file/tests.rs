use std::sync::Arc;

use distlog_proto::{decode, Limits, Topic};

use super::*;
use crate::pipeline::Routed;

fn routed(i: usize) -> Arc<Routed> {
    let body = format!(r#"{{"message": "record {i:04}", "levelno": 20}}"#);
    let topic = Topic::parse(b"PLJ").expect("topic");
    let record = decode(topic, body.as_bytes(), &Limits::default()).expect("record");
    Arc::new(Routed::new(record, None, 0.0))
}

fn worker(path: &Path, max_size: Option<u64>, keep: u32) -> FileWorker {
    let (out, size) = open(path).expect("open");
    FileWorker {
        path: path.to_path_buf(),
        out,
        size,
        opened: Instant::now(),
        max_size,
        every: None,
        keep,
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn records_are_written_one_json_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("all.jsonl");
    let mut w = worker(&path, None, 3);
    let batch: Vec<_> = (0..3).map(routed).collect();
    w.write(&batch).map_err(|l| l.why).expect("written");
    let got = lines(&path);
    assert_eq!(got.len(), 3);
    let first: serde_json::Value = serde_json::from_str(&got[0]).expect("JSON line");
    assert_eq!(first["message"], "record 0000");
}

#[test]
fn rotation_by_size_keeps_n_files_and_loses_nothing_in_between() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("all.jsonl");
    let line_len = routed(0).record.body.len() as u64 + 1;
    // Four records a file, two old files kept.
    let mut w = worker(&path, Some(line_len * 4), 2);
    for i in 0..14 {
        w.write(&[routed(i)]).map_err(|l| l.why).expect("written");
    }
    let current = lines(&path);
    let one = lines(&numbered(&path, 1));
    let two = lines(&numbered(&path, 2));
    assert!(!numbered(&path, 3).exists(), "only two old files are kept");
    assert_eq!(current.len(), 2, "14 = 4 + 4 + 4 + 2");
    assert_eq!((one.len(), two.len()), (4, 4));
    assert!(two[0].contains("record 0004") && one[0].contains("record 0008"));
    assert!(current[1].contains("record 0013"));
}

#[test]
fn rotation_by_time_starts_a_new_file_on_tick() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("all.jsonl");
    let mut w = worker(&path, None, 1);
    w.every = Some(Duration::from_millis(1));
    w.write(&[routed(1)]).map_err(|l| l.why).expect("written");
    std::thread::sleep(Duration::from_millis(5));
    w.tick();
    w.write(&[routed(2)]).map_err(|l| l.why).expect("written");
    assert!(lines(&numbered(&path, 1))[0].contains("record 0001"));
    assert!(lines(&path)[0].contains("record 0002"));
}

#[test]
fn a_full_disk_is_reported_as_lost_records_not_a_crash() {
    let mut w = worker(Path::new("/dev/full"), None, 1);
    let batch: Vec<_> = (0..100).map(routed).collect();
    let lost = w.write(&batch).expect_err("ENOSPC");
    assert_eq!(lost.records, 100);
    assert!(lost.why.contains("/dev/full"), "{}", lost.why);
}

#[test]
fn a_body_laid_out_over_several_lines_is_written_as_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("all.jsonl");
    let mut w = worker(&path, None, 1);
    let body = "{\n  \"message\": \"two\\nlines\",\r\n  \"levelno\": 20\n}";
    let topic = Topic::parse(b"PLJ").expect("topic");
    let record = decode(topic, body.as_bytes(), &Limits::default()).expect("record");
    w.write(&[Arc::new(Routed::new(record, None, 0.0))])
        .map_err(|l| l.why)
        .expect("written");
    let got = lines(&path);
    assert_eq!(got.len(), 1);
    let parsed: serde_json::Value = serde_json::from_str(&got[0]).expect("JSON");
    assert_eq!(
        parsed["message"], "two\nlines",
        "escaped newlines inside strings stay"
    );
}
