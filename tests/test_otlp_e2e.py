"""The otlp sink against a real OTLP/HTTP receiver: a small HTTP server in
this test that decodes what distlogd posts with the `opentelemetry-proto`
package. Two Python processes log one tree that joins a caller's trace; the
export must carry the ids the Python client computes."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from conftest import BIN_DIR, PATIENCE, Daemon, run_python, tutorial_source
from distlog._trace import span_id as client_span_id
from distlog._trace import trace_id as client_trace_id

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


class Receiver:
    """An OTLP/HTTP receiver on 127.0.0.1: answers each path with the
    status set for it (200 unless told), and keeps what it decodes: in
    `logs` and `spans` when it answered 200, else in `refused`."""

    def __init__(self, port: int = 0) -> None:
        self.logs: list[Any] = []  # (resource attributes, scope name, LogRecord)
        self.spans: list[Any] = []
        self.refused: list[Any] = []
        self.requests: dict[str, int] = {"/v1/logs": 0, "/v1/traces": 0}
        self.status: dict[str, int] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.take(self.path, self.headers.get("Content-Type", ""), body)
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self, path: str, content_type: str, body: bytes) -> int:
        with self.lock:
            self.requests[path] = self.requests.get(path, 0) + 1
            status = self.status.get(path, 200)
            assert content_type == "application/x-protobuf"
            keep_logs = self.logs if status == 200 else self.refused
            keep_spans = self.spans if status == 200 else self.refused
            if path == "/v1/logs":
                logs = ExportLogsServiceRequest.FromString(body)
                for rl in logs.resource_logs:
                    res = attributes(rl.resource.attributes)
                    for sl in rl.scope_logs:
                        for r in sl.log_records:
                            keep_logs.append((res, sl.scope.name, r))
            elif path == "/v1/traces":
                traces = ExportTraceServiceRequest.FromString(body)
                for rs in traces.resource_spans:
                    res = attributes(rs.resource.attributes)
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            keep_spans.append((res, ss.scope.name, s))
            return status

    def wait(self, logs: int, spans: int) -> None:
        deadline = time.monotonic() + PATIENCE
        while len(self.logs) < logs or len(self.spans) < spans:
            assert time.monotonic() < deadline, f"got {len(self.logs)} logs, {len(self.spans)} spans"
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def attributes(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        which = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, which) if which else None
    return out


def span_of(scope: str) -> str:
    """The mapping as docs/otlp.md states it, computed here on its own."""
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_daemon(tmp_path: Path, endpoint: str, more: str = "") -> Daemon:
    config = tmp_path / "distlogd.yml"
    config.write_text(
        "sinks:\n"
        "  store: {type: store}\n"
        "  otel:\n"
        "    type: otlp\n"
        f"    endpoint: {endpoint}\n"
        "    service_name: shop\n"
        "    batch: {size: 100, delay: 100ms}\n"
        "    retry: {initial: 100ms, max: 500ms}\n" + more
    )
    return Daemon(tmp_path / "store", "--config", str(config))


def otel_stats(d: Daemon) -> dict[str, Any]:
    stats = d.cli_json("stats")
    (sink,) = [s for s in stats["sinks"] if s["name"] == "otel"]
    return dict(sink)


def wait_otel(d: Daemon, what: str, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + PATIENCE
    while True:
        s = otel_stats(d)
        if done(s):
            return s
        assert time.monotonic() < deadline, f"gave up waiting for {what}: {s}"
        time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


PROCESS_A = """
import json, logging, subprocess, sys
import distlog

logger = logging.getLogger()
handler = distlog.ZmqHandler(sys.argv[1])
handler.setFormatter(distlog.JSONFormatter())
logger.addHandler(handler)
logger.setLevel(logging.INFO)

with distlog.from_traceparent(sys.argv[2], 'toplevel', user='leo') as job:
    logger.info('into task')
    with distlog.to('subtask', arg=42) as sub:
        logger.info('into task')
        foreign = sub.get_foreign_task()
        subprocess.run([sys.executable, 'process_b.py', sys.argv[1], foreign], check=True)
        sub.success('subtask done')
        sub_header = sub.traceparent()
    try:
        with distlog.to('failing'):
            raise ValueError('boom')
    except ValueError:
        pass
    out = {'root': job.id, 'traceparent': job.traceparent(), 'sub': sub_header}
logger.info('all done')
print(json.dumps(out))
"""

PROCESS_B = """
import logging, sys
import distlog

logger = logging.getLogger()
handler = distlog.ZmqHandler(sys.argv[1])
handler.setFormatter(distlog.JSONFormatter())
logger.addHandler(handler)
logger.setLevel(logging.INFO)

with distlog.import_task(sys.argv[2], 'remote step', where='b'):
    logger.info('in b')
"""


def test_a_tree_over_two_processes_is_one_trace_under_the_caller(tmp_path: Path, receiver: Receiver) -> None:
    d = start_daemon(tmp_path, receiver.url)
    try:
        (tmp_path / "process_b.py").write_text(PROCESS_B)
        out = json.loads(run_python(tmp_path, "process_a.py", PROCESS_A, d.intake, CALLER).stdout)
        receiver.wait(logs=12, spans=4)
        stats = wait_otel(d, "exports counted", lambda s: s["otlp"]["exported"] == {"logs": 12, "spans": 4})
        metrics = urllib.request.urlopen(d.server + "/metrics", timeout=PATIENCE).read().decode()
    finally:
        d.stop()
    root = out["root"]
    assert root.startswith("4bf92f35-77b3-4da6-a3ce-929d0e0e4736.")
    assert client_trace_id(root) == CALLER_TRACE

    # Log records: the scope's trace and span, the record's own time.
    opened: dict[str, int] = {}
    ended: dict[str, int] = {}
    pids = set()
    for res, logger, r in receiver.logs:
        assert res["service.name"] == "shop" and logger == "root"
        attrs = attributes(r.attributes)
        key = attrs.get("distlog.key")
        if key is None:
            assert r.body.string_value == "all done"
            assert r.trace_id == b"" and r.span_id == b""
            continue
        scope = key.split("@", 1)[1]
        assert r.trace_id.hex() == CALLER_TRACE, key
        assert r.span_id.hex() == span_of(scope) == client_span_id(scope), key
        event = attrs.get("distlog.scope_event")
        if event == "open":
            opened[scope] = r.time_unix_nano
        elif event in ("close", "fail"):
            ended[scope] = r.time_unix_nano
        pids.add(res["process.pid"])
    assert len(pids) == 2, "records from both processes"
    assert sorted(opened) == sorted(ended) == sorted([root, f"{root}/1", f"{root}/1/1", f"{root}/2"])

    # Spans: the tree, hung under the caller's span.
    spans = {s.span_id.hex(): (res, s) for res, _, s in receiver.spans}
    by_scope = {scope: spans[span_of(scope)][1] for scope in opened}
    parent = {
        root: CALLER_SPAN,
        f"{root}/1": span_of(root),
        f"{root}/1/1": span_of(f"{root}/1"),
        f"{root}/2": span_of(root),
    }
    for scope, s in by_scope.items():
        assert s.trace_id.hex() == CALLER_TRACE
        assert s.parent_span_id.hex() == parent[scope], scope
        assert s.start_time_unix_nano == opened[scope], scope
        assert s.end_time_unix_nano == ended[scope], scope
        attrs = attributes(s.attributes)
        assert attrs["host.name"] == socket.gethostname()
        assert attrs["distlog.logger"] == "root"
        assert isinstance(attrs["process.pid"], int)
    assert [by_scope[s].name for s in sorted(by_scope)] == ["toplevel", "subtask", "remote step", "failing"]
    assert by_scope[f"{root}/1"].status.code == Status.STATUS_CODE_UNSET
    failing = by_scope[f"{root}/2"]
    assert failing.status.code == Status.STATUS_CODE_ERROR
    assert failing.status.message == "ValueError: boom"
    assert [e.name for e in failing.events] == ["exception"]
    b_pid = attributes(by_scope[f"{root}/1/1"].attributes)["process.pid"]
    assert b_pid != attributes(by_scope[root].attributes)["process.pid"]

    # traceparent out: names the exported spans.
    assert out["traceparent"] == f"00-{CALLER_TRACE}-{span_of(root)}-01"
    assert out["sub"] == f"00-{CALLER_TRACE}-{span_of(root + '/1')}-01"
    assert span_of(root) in spans

    assert stats["otlp"]["lost"] == {"logs": 0, "spans": 0}
    assert 'distlog_otlp_exported_total{sink="otel",signal="logs"} 12' in metrics
    assert 'distlog_otlp_exported_total{sink="otel",signal="spans"} 4' in metrics


def test_a_receiver_down_then_up_gets_everything_once(tmp_path: Path) -> None:
    port = free_port()
    d = start_daemon(tmp_path, f"http://127.0.0.1:{port}")
    receiver = None
    try:
        run_python(tmp_path, "tutorial.py", tutorial_source(d.intake))
        wait_otel(
            d,
            "retries while the receiver is down",
            lambda s: s["otlp"]["failed_attempts"] >= 3 and s["otlp"]["pending"] == {"logs": 7, "spans": 2},
        )
        receiver = Receiver(port)
        receiver.wait(logs=7, spans=2)
        stats = wait_otel(d, "the backlog sent", lambda s: s["otlp"]["pending"] == {"logs": 0, "spans": 0})
        time.sleep(0.5)  # a duplicate send would land now
        keys = [attributes(r.attributes).get("distlog.key") for _, _, r in receiver.logs]
        assert len(keys) == 7 and len(set(keys)) == 7
        assert len(receiver.spans) == 2
        assert stats["otlp"]["exported"] == {"logs": 7, "spans": 2}
        assert stats["otlp"]["lost"] == {"logs": 0, "spans": 0}
        assert stats["dropped"] == 0
    finally:
        d.stop()
        if receiver is not None:
            receiver.close()


def test_a_4xx_is_counted_and_not_retried(tmp_path: Path, receiver: Receiver) -> None:
    receiver.status["/v1/logs"] = 400
    d = start_daemon(tmp_path, receiver.url)
    try:
        for n in (1, 2):
            run_python(tmp_path, "tutorial.py", tutorial_source(d.intake))
            want = 7 * n
            stats = wait_otel(d, "refusals counted", lambda s, w=want: s["otlp"]["rejected"]["logs"] == w)
        receiver.wait(logs=0, spans=4)
        time.sleep(0.5)  # a retry would land now
        assert len(receiver.refused) == 14, "each refused record was sent once"
        assert receiver.logs == []
        assert stats["otlp"]["exported"] == {"logs": 0, "spans": 4}
        assert stats["dropped"] == 14
        assert stats["errors"] >= 1
    finally:
        d.stop()
    lines = []
    while not d.lines.empty():
        lines.append(d.lines.get())
    refused = re.compile(r"refused \d+ log records: HTTP 400.*dropped, not retried")
    assert any(refused.search(line) for line in lines), lines


def test_logs_failing_with_5xx_hold_up_neither_spans_nor_themselves_for_ever(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.status["/v1/logs"] = 503
    d = start_daemon(tmp_path, receiver.url)
    try:
        run_python(tmp_path, "tutorial.py", tutorial_source(d.intake))
        receiver.wait(logs=0, spans=2)
        wait_otel(d, "log requests retried", lambda s: s["otlp"]["failed_attempts"] >= 3)
        assert receiver.logs == [] and len(receiver.refused) >= 3 * 7
        receiver.status["/v1/logs"] = 200
        receiver.wait(logs=7, spans=2)
        s = wait_otel(d, "the logs sent", lambda s: s["otlp"]["pending"] == {"logs": 0, "spans": 0})
        assert s["otlp"]["exported"] == {"logs": 7, "spans": 2}
        assert s["otlp"]["lost"] == {"logs": 0, "spans": 0} and s["dropped"] == 0
    finally:
        d.stop()


def test_a_stalled_receiver_never_stalls_the_store_nor_the_stop(tmp_path: Path) -> None:
    # Accepts connections and never answers.
    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(16)
    url = f"http://127.0.0.1:{stalled.getsockname()[1]}"
    d = start_daemon(tmp_path, url, "    timeout: 1s\n    queue: {size: 100}\n    max_pending: 200\n")
    try:
        n = 5000
        subprocess.run(
            [str(BIN_DIR / "distlog-loadgen"), "send", "--endpoint", d.intake, "--count", str(n)],
            capture_output=True,
            timeout=PATIENCE,
            check=True,
        )
        d.wait_stored(n)
        s = wait_otel(d, "drops counted", lambda s: s["dropped"] > 0 and s["otlp"]["failed_attempts"] >= 1)
        assert s["otlp"]["exported"] == {"logs": 0, "spans": 0}
        assert s["accepted"] + s["dropped"] >= n, "every record was taken by the sink or counted as dropped"
    finally:
        d.stop()  # one more try, which times out, then the rest is dropped
        stalled.close()
    assert d.proc.returncode == 0


def test_a_receiver_that_never_answers_does_not_hold_the_stop_for_its_timeout(tmp_path: Path) -> None:
    # With a 10 minute timeout, a stop that waited for each signal's
    # request in turn would take 20 minutes; it waits about 2 s.
    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(16)
    url = f"http://127.0.0.1:{stalled.getsockname()[1]}"
    d = start_daemon(tmp_path, url, "    timeout: 10m\n")
    try:
        n = 50
        subprocess.run(
            [str(BIN_DIR / "distlog-loadgen"), "send", "--endpoint", d.intake, "--count", str(n)],
            capture_output=True,
            timeout=PATIENCE,
            check=True,
        )
        d.wait_stored(n)
        wait_otel(d, "a request waiting", lambda s: s["otlp"]["pending"]["logs"] >= 1)
    finally:
        d.stop()  # within PATIENCE, or this raises
        stalled.close()
    assert d.proc.returncode == 0


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
