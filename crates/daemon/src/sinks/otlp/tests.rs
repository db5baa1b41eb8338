use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;

use distlog_proto::{decode, Limits, Topic};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::json;

use super::convert::{severity, Converter};
use super::ids::{hex, span_id, trace_id};
use super::request::{logs_request, traces_request};
use super::*;

const U: &str = "e252a11f-d33d-483d-ba08-bc8f642b2f10";

fn routed(body: serde_json::Value) -> Routed {
    let topic = Topic::parse(b"PLJ").expect("topic");
    let record = decode(topic, body.to_string().as_bytes(), &Limits::default()).expect("record");
    Routed::new(record, None, 1_700_000_100.0)
}

fn rec(message: &str, key: Option<&str>, created: f64, extra: serde_json::Value) -> Routed {
    let mut body = json!({
        "name": "root", "message": message, "levelno": 20, "levelname": "INFO",
        "created": created, "hostname": "obelix", "process": 6156,
        "context": key.map(|k| json!({"key": k, "user": "leo"})),
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    routed(body)
}

/// The tutorial's seven records, the subtask failing instead.
fn tutorial() -> Vec<Routed> {
    let t = 1_700_000_000.0;
    vec![
        rec(
            "toplevel",
            Some(&format!("0@{U}")),
            t,
            json!({"scope_event": "open"}),
        ),
        rec("into task", Some(&format!("1@{U}")), t + 1.0, json!({})),
        rec(
            "subtask",
            Some(&format!("0@{U}/1")),
            t + 2.0,
            json!({"scope_event": "open"}),
        ),
        rec("into task", Some(&format!("1@{U}/1")), t + 3.0, json!({})),
        rec(
            "subtask",
            Some(&format!("2@{U}/1")),
            t + 4.0,
            json!({"scope_event": "fail", "scope_duration": 2.0, "levelno": 40, "levelname": "ERROR",
                   "exc_text": "Traceback (most recent call last):\n  File \"x.py\"\nValueError: boom"}),
        ),
        rec(
            "toplevel",
            Some(&format!("2@{U}")),
            t + 5.0,
            json!({"scope_event": "close", "scope_duration": 5.0}),
        ),
        rec("all done", None, t + 6.0, json!({})),
    ]
}

fn convert_all(records: &[Routed]) -> (ExportLogsServiceRequest, Vec<Span>) {
    let mut c = Converter::default();
    let (mut logs, mut spans) = (Vec::new(), Vec::new());
    for r in records {
        let (l, s) = c.convert(r, true, true);
        logs.extend(l);
        spans.extend(s);
    }
    let traces = traces_request("distlog", spans);
    let spans = traces
        .resource_spans
        .into_iter()
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect();
    (logs_request("distlog", logs), spans)
}

#[test]
fn log_records_carry_the_trace_and_span_of_their_scope() {
    let (logs, _) = convert_all(&tutorial());
    assert_eq!(logs.resource_logs.len(), 1, "one process");
    let scope_logs = &logs.resource_logs[0].scope_logs;
    assert_eq!(
        scope_logs[0].scope.as_ref().map(|s| s.name.as_str()),
        Some("root")
    );
    let records = &scope_logs[0].log_records;
    assert_eq!(records.len(), 7);
    let trace = trace_id(U).to_vec();
    assert_eq!(hex(&trace), U.replace('-', ""));
    assert_eq!(records[1].trace_id, trace);
    assert_eq!(records[1].span_id, span_id(U).to_vec());
    assert_eq!(records[3].span_id, span_id(&format!("{U}/1")).to_vec());
    assert!(records[6].trace_id.is_empty() && records[6].span_id.is_empty());
    assert_eq!(records[1].time_unix_nano, 1_700_000_001_000_000_000);
    assert_eq!(records[1].severity_number, 9);
    assert_eq!(records[4].severity_number, 17);
    let attr = |i: usize, k: &str| {
        records[i]
            .attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
    };
    assert_eq!(
        attr(1, "distlog.context.user"),
        Some(any_value::Value::StringValue("leo".into()))
    );
    assert_eq!(
        attr(1, "distlog.key"),
        Some(any_value::Value::StringValue(format!("1@{U}")))
    );
}

#[test]
fn scope_ends_become_spans_with_parents_times_and_status() {
    let (_, spans) = convert_all(&tutorial());
    assert_eq!(spans.len(), 2);
    let (sub, top) = (&spans[0], &spans[1]);
    assert_eq!(sub.name, "subtask");
    assert_eq!(sub.span_id, span_id(&format!("{U}/1")).to_vec());
    assert_eq!(sub.parent_span_id, span_id(U).to_vec());
    assert_eq!(sub.start_time_unix_nano, 1_700_000_002_000_000_000);
    assert_eq!(sub.end_time_unix_nano, 1_700_000_004_000_000_000);
    let status = sub.status.clone().unwrap_or_default();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "ValueError: boom");
    assert_eq!(sub.events.len(), 1);
    assert_eq!(top.name, "toplevel");
    assert!(
        top.parent_span_id.is_empty(),
        "a root without parent_span_id"
    );
    assert_eq!(top.start_time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(
        top.status.clone().unwrap_or_default().code,
        StatusCode::Unset as i32
    );
}

#[test]
fn a_span_whose_opening_was_not_seen_starts_at_end_less_duration() {
    let close = rec(
        "done",
        Some(&format!("3@{U}/2")),
        1_700_000_010.0,
        json!({"scope_event": "close", "scope_duration": 1.5}),
    );
    let (_, spans) = convert_all(&[close]);
    assert_eq!(spans[0].start_time_unix_nano, 1_700_000_008_500_000_000);
    assert_eq!(spans[0].name, "done");
}

#[test]
fn a_bridged_root_hangs_under_the_callers_span() {
    let root = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736.1234567890abcdef";
    let close = rec(
        "handle",
        Some(&format!("1@{root}")),
        1_700_000_010.0,
        json!({"scope_event": "close", "scope_duration": 1.0, "parent_span_id": "00f067aa0ba902b7"}),
    );
    let (_, spans) = convert_all(&[close]);
    assert_eq!(hex(&spans[0].trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&spans[0].parent_span_id), "00f067aa0ba902b7");
}

#[test]
fn python_levels_map_onto_otlp_severities() {
    let pairs = [
        (0, 1),
        (5, 3),
        (10, 5),
        (15, 7),
        (20, 9),
        (30, 13),
        (40, 17),
        (50, 21),
        (99, 24),
    ];
    for (level, sev) in pairs {
        assert_eq!(severity(level), sev, "level {level}");
    }
}

fn config(yaml: &str) -> Result<OtlpSinkConfig> {
    let c: OtlpSinkConfig = serde_saphyr::from_str(yaml)?;
    c.validated()
}

#[test]
fn settings_are_checked() {
    assert!(config("endpoint: http://localhost:4318\n").is_ok());
    let e = |y: &str| format!("{:#}", config(y).expect_err("an error"));
    assert!(e("endpoint: https://otel.example\n").contains("plain http only"));
    assert!(e("endpoint: localhost:4318\n").contains("not an http:// URL"));
    assert!(e("endpoint: http://localhost:4318/v1/logs\n").contains("base URL"));
    assert!(e("endpoint: http://h:1\nlogs: false\nspans: false\n").contains("send nothing"));
    assert!(e("endpoint: http://h:1\nbatch: {delay: soon}\n").contains("batch.delay"));
    assert!(e("endpoint: http://h:1\nheaders: {'a b': c}\n").contains("header name"));
    assert!(e("endpoint: http://h:1\nretry: {initial: 1m, max: 1s}\n").contains("retry.initial"));
}

/// A receiver answering each request with the next status of `script`
/// (then 200), and handing each request's path and body to the test.
fn receiver(script: Vec<u16>) -> (String, mpsc::Receiver<(String, Vec<u8>)>) {
    let script = std::sync::Mutex::new(script.into_iter());
    receiver_by(move |_, _| script.lock().ok().and_then(|mut s| s.next()).unwrap_or(200))
}

/// A receiver answering with `answer(path)`, each connection on its own
/// thread; status 0 reads the request and never answers.
fn receiver_by(
    answer: impl Fn(&str, usize) -> u16 + Send + Sync + 'static,
) -> (String, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let (tx, answer) = (tx.clone(), answer.clone());
            std::thread::spawn(move || serve(conn, &tx, &*answer));
        }
    });
    (url, rx)
}

fn serve(
    mut conn: std::net::TcpStream,
    tx: &mpsc::Sender<(String, Vec<u8>)>,
    answer: &dyn Fn(&str, usize) -> u16,
) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("").to_owned();
        let mut length = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let status = answer(&path, body.len());
        let _ = tx.send((path, body));
        if status == 0 {
            continue;
        }
        let answer = format!(
            "HTTP/1.1 {status} X\r\nlocation: http://127.0.0.1:1/v1/logs\r\ncontent-length: 4\r\n\r\nnope"
        );
        if conn.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn limits(timeout: Duration, max_pending: usize, max_pending_bytes: usize) -> SendLimits {
    SendLimits {
        timeout,
        max_pending,
        max_pending_bytes,
    }
}

fn quick_retry() -> Retry {
    Retry {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(1),
        give_up_after: Duration::from_secs(3600),
    }
}

fn sender_with(url: &str, limits: &SendLimits) -> Sender {
    let s = Sender::new(
        "otel",
        url,
        Vec::new(),
        limits,
        quick_retry(),
        Arc::default(),
    );
    let _ = s.common.sink_stats.set(Arc::default());
    s
}

fn sender(url: &str) -> Sender {
    sender_with(url, &limits(Duration::from_secs(5), 100, 1 << 20))
}

fn dropped(s: &Sender) -> u64 {
    s.common.sink().dropped.load(Relaxed)
}

fn wait_a_little() {
    std::thread::sleep(Duration::from_millis(5));
}

#[test]
fn a_5xx_is_retried_until_the_receiver_takes_it() {
    let (url, rx) = receiver(vec![503, 500]);
    let mut s = sender(&url);
    s.common.push(Signal::Logs, b"first".to_vec(), 3);
    s.common.push(Signal::Traces, b"second".to_vec(), 2);
    s.pump(None);
    assert_eq!(s.common.stats.failed_attempts.load(Relaxed), 1);
    assert_eq!(
        s.common.stats.pending.json(),
        json!({"logs": 3, "spans": 2})
    );
    wait_a_little();
    s.pump(None);
    wait_a_little();
    s.pump(None);
    let seen: Vec<(String, Vec<u8>)> = rx.try_iter().collect();
    let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/v1/logs", "/v1/logs", "/v1/logs", "/v1/traces"]);
    assert_eq!(seen[2].1, b"first");
    assert_eq!(
        s.common.stats.exported.json(),
        json!({"logs": 3, "spans": 2})
    );
    assert_eq!(
        s.common.stats.pending.json(),
        json!({"logs": 0, "spans": 0})
    );
    assert_eq!(dropped(&s), 0);
}

#[test]
fn a_4xx_is_dropped_and_counted_not_retried() {
    let (url, rx) = receiver(vec![400]);
    let mut s = sender(&url);
    s.common.push(Signal::Logs, b"bad".to_vec(), 4);
    s.common.push(Signal::Logs, b"good".to_vec(), 1);
    s.pump(None);
    assert_eq!(rx.try_iter().count(), 2, "the next request went at once");
    assert_eq!(
        s.common.stats.rejected.json(),
        json!({"logs": 4, "spans": 0})
    );
    assert_eq!(
        s.common.stats.exported.json(),
        json!({"logs": 1, "spans": 0})
    );
    assert_eq!(s.common.stats.failed_attempts.load(Relaxed), 0);
    assert_eq!(dropped(&s), 4);
}

#[test]
fn a_full_backlog_drops_new_requests_and_shutdown_does_not_wait() {
    // Nothing listens here once the listener is dropped.
    let url = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let mut s = sender(&url);
    s.common.push(Signal::Logs, b"a".to_vec(), 60);
    s.common.push(Signal::Logs, b"b".to_vec(), 60);
    assert_eq!(s.common.stats.lost.json(), json!({"logs": 60, "spans": 0}));
    s.pump(None);
    assert_eq!(
        s.common.stats.pending.json(),
        json!({"logs": 60, "spans": 0})
    );
    s.pump(Some(Instant::now() + Duration::from_secs(5)));
    assert_eq!(s.common.stats.lost.json(), json!({"logs": 120, "spans": 0}));
    assert_eq!(dropped(&s), 120);
}

#[test]
fn the_backlog_is_bounded_by_bytes_too() {
    let url = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let s = sender_with(&url, &limits(Duration::from_secs(5), 1000, 100));
    s.common.push(Signal::Logs, vec![b'a'; 60], 1);
    s.common.push(Signal::Logs, vec![b'b'; 60], 1);
    s.common.push(Signal::Traces, vec![b'c'; 30], 1);
    assert_eq!(s.common.stats.lost.json(), json!({"logs": 1, "spans": 0}));
    assert_eq!(
        s.common.stats.pending.json(),
        json!({"logs": 1, "spans": 1})
    );
    assert_eq!(dropped(&s), 1);
}

fn encoded_tutorial_logs() -> Vec<u8> {
    convert_all(&tutorial()).0.encode_to_vec()
}

fn messages(body: &[u8]) -> Vec<String> {
    let r = ExportLogsServiceRequest::decode(body).expect("a logs request");
    r.resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .map(|l| match l.body.as_ref().and_then(|b| b.value.clone()) {
            Some(any_value::Value::StringValue(s)) => s,
            _ => String::new(),
        })
        .collect()
}

#[test]
fn a_413_halves_the_request_until_each_part_fits() {
    let full = encoded_tutorial_logs();
    // Takes anything smaller than the whole.
    let limit = full.len() - 1;
    let (url, rx) = receiver_by(move |_, n| if n > limit { 413 } else { 200 });
    let mut s = sender(&url);
    s.common.push(Signal::Logs, full.clone(), 7);
    s.pump(None);
    let seen: Vec<Vec<u8>> = rx.try_iter().map(|(_, b)| b).collect();
    assert_eq!(seen.len(), 3, "the whole, then two halves");
    assert_eq!(messages(&seen[1]).len(), 3);
    let taken: Vec<String> = seen
        .iter()
        .filter(|b| b.len() <= limit)
        .flat_map(|b| messages(b))
        .collect();
    assert_eq!(taken, messages(&full), "every record once, in order");
    assert_eq!(
        s.common.stats.exported.json(),
        json!({"logs": 7, "spans": 0})
    );
    assert_eq!(
        s.common.stats.rejected.json(),
        json!({"logs": 0, "spans": 0})
    );
    assert_eq!(
        s.common.stats.pending.json(),
        json!({"logs": 0, "spans": 0})
    );
    assert_eq!(dropped(&s), 0);
}

#[test]
fn a_single_item_too_large_is_dropped_and_counted() {
    let (url, rx) = receiver(vec![413]);
    let mut s = sender(&url);
    let (logs, _) = convert_all(&tutorial()[..1]);
    s.common.push(Signal::Logs, logs.encode_to_vec(), 1);
    s.common.push(Signal::Logs, b"next".to_vec(), 1);
    s.pump(None);
    assert_eq!(rx.try_iter().count(), 2);
    assert_eq!(
        s.common.stats.rejected.json(),
        json!({"logs": 1, "spans": 0})
    );
    assert_eq!(
        s.common.stats.exported.json(),
        json!({"logs": 1, "spans": 0})
    );
    assert_eq!(dropped(&s), 1);
}

#[test]
fn a_redirect_is_refused_not_followed() {
    // The answer's location is a port nobody listens on: following it
    // would fail to connect and be retried.
    let (url, rx) = receiver(vec![307]);
    let mut s = sender(&url);
    s.common.push(Signal::Traces, b"spans".to_vec(), 2);
    s.pump(None);
    assert_eq!(rx.try_iter().count(), 1);
    assert_eq!(
        s.common.stats.rejected.json(),
        json!({"logs": 0, "spans": 2})
    );
    assert_eq!(s.common.stats.failed_attempts.load(Relaxed), 0);
    assert_eq!(
        s.common.stats.pending.json(),
        json!({"logs": 0, "spans": 0})
    );
}

fn otlp_worker(yaml: &str) -> (OtlpWorker, Arc<OtlpStats>) {
    let c = config(yaml).expect("config");
    let stats = Arc::<OtlpStats>::default();
    let mut w = worker("otel", &c, &stats).expect("worker");
    w.attach(&Arc::default());
    (w, stats)
}

#[test]
fn a_receiver_that_never_answers_holds_neither_the_other_signal_nor_the_stop() {
    let (url, rx) = receiver_by(|path, _| if path == "/v1/logs" { 0 } else { 200 });
    let (mut w, stats) = otlp_worker(&format!(
        "endpoint: {url}\ntimeout: 10m\nbatch: {{size: 1}}\n"
    ));
    let records: Vec<Arc<Routed>> = tutorial().into_iter().map(Arc::new).collect();
    assert!(w.write(&records).is_ok());
    // Both spans go while the first log request hangs.
    while stats.exported.get(Signal::Traces) < 2 {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(stats.exported.get(Signal::Logs), 0);
    assert!(rx.iter().any(|(p, _)| p == "/v1/logs"));
    let started = Instant::now();
    w.finish();
    let took = started.elapsed();
    // The stop waits SHUTDOWN_GRACE, not the 10 minute timeout.
    assert!(took < SHUTDOWN_GRACE * 5, "finish took {took:?}");
    // The request on its way still waits for its answer (up to its 10
    // minutes) on the thread left behind, which then drops it and the six
    // behind it; the stop did not wait for that.
    assert_eq!(stats.lost.json(), json!({"logs": 0, "spans": 0}));
    assert_eq!(stats.pending.json(), json!({"logs": 7, "spans": 0}));
}

#[test]
fn a_batch_is_sent_early_at_batch_max_bytes() {
    let (url, rx) = receiver(vec![]);
    let (mut w, stats) = otlp_worker(&format!(
        "endpoint: {url}\nspans: false\nbatch: {{size: 512, delay: 1h, max_bytes: 4KiB}}\n"
    ));
    let big = "x".repeat(1000);
    let records: Vec<Arc<Routed>> = (0..20)
        .map(|i| Arc::new(rec(&big, None, 1_700_000_000.0 + f64::from(i), json!({}))))
        .collect();
    assert!(w.write(&records).is_ok());
    w.finish();
    let bodies: Vec<Vec<u8>> = rx.try_iter().map(|(_, b)| b).collect();
    assert!(bodies.len() >= 5, "{} requests", bodies.len());
    for b in &bodies {
        assert!(b.len() <= 4096, "a request of {} bytes", b.len());
    }
    assert_eq!(stats.exported.get(Signal::Logs), 20);
}

#[test]
fn sizes_are_checked() {
    let e = |y: &str| format!("{:#}", config(y).expect_err("an error"));
    assert!(e("endpoint: http://h:1\nmax_pending_bytes: 0\n").contains("max_pending_bytes"));
    assert!(e("endpoint: http://h:1\nbatch: {max_bytes: lots}\n").contains("batch.max_bytes"));
    assert!(config("endpoint: http://h:1\nmax_pending_bytes: 1GiB\n").is_ok());
}
