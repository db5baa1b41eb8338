"""`GET /metrics` after real programs send metrics and scopes, read with the
`prometheus_client` package's own OpenMetrics parser."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Tuple

import zmq
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import BIN_DIR, PATIENCE, Daemon, run_python

Series = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]

PROGRAM = """
import logging, sys
import distlog

handler = distlog.ZmqHandler(sys.argv[1], system="T")
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.INFO)

distlog.metric("jobs_done", 2, kind="counter", queue="fast")
distlog.metric("jobs_done", 3, kind="counter", queue="fast")
distlog.metric("queue_len", 7, queue="fast")
distlog.metric("queue_len", 4, queue="fast")
with distlog.timed("step_seconds", step="parse"):
    pass

@distlog.timed("step_seconds", step="load")
def load():
    return 1

load()
for user in (42, 43, 44):
    try:
        with distlog.task("fetch user %d", user):
            if user == 43:
                raise KeyError(user)
    except KeyError:
        pass
for bad in (lambda: distlog.metric("9lives", 1), lambda: distlog.metric("x", float("nan"))):
    try:
        bad()
    except ValueError as e:
        print("refused:", e)
handler.close()
"""


def scrape(daemon: Daemon) -> Tuple[str, Series]:
    with urllib.request.urlopen(daemon.server + "/metrics", timeout=PATIENCE) as r:
        assert r.headers["Content-Type"].startswith("application/openmetrics-text")
        text = r.read().decode()
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            series[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, series


def wait_metrics(daemon: Daemon, name: str, labels: Dict[str, str], value: float) -> Series:
    key = (name, tuple(sorted(labels.items())))
    deadline = time.monotonic() + PATIENCE
    while True:
        text, series = scrape(daemon)
        if series.get(key) == value:
            return series
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} never became {value}:\n{text}")
        time.sleep(0.05)


def send_raw(endpoint: str, topic: bytes, body: bytes) -> None:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.PUSH)
    sock.connect(endpoint)
    sock.send_multipart([topic, body])
    sock.close(linger=int(PATIENCE * 1000))


def perf_body(**fields: Any) -> bytes:
    return json.dumps({"name": "raw", "levelno": 20, "msg": "m", "hostname": "rawhost", **fields}).encode()


def test_metrics_from_a_python_program_and_its_scopes(daemon: Daemon, tmp_path: Path) -> None:
    out = run_python(tmp_path, "prog.py", textwrap.dedent(PROGRAM), daemon.intake)
    assert out.stdout.count("refused:") == 2, out.stdout
    series = wait_metrics(
        daemon, "distlog_scope_runs_total", {"scope": "fetch user <n>", "host": host(), "system": "test"}, 3
    )
    h = host()
    scope = {"scope": "fetch user <n>", "host": h, "system": "test"}
    assert series[("distlog_scope_failures_total", tuple(sorted(scope.items())))] == 1
    assert series[("distlog_scope_duration_seconds_count", tuple(sorted(scope.items())))] == 3
    assert series[("distlog_app_jobs_done_total", (("host", h), ("queue", "fast")))] == 5
    assert series[("distlog_app_queue_len", (("host", h), ("queue", "fast")))] == 4
    for step in ("parse", "load"):
        labels = (("host", h), ("outcome", "ok"), ("step", step))
        assert series[("distlog_app_step_seconds_count", labels)] == 1
        assert series[("distlog_app_step_seconds_bucket", tuple(sorted((*labels, ("le", "+Inf")))))] == 1
    assert series[("distlog_metric_records_total", ())] == 6
    assert series[("distlog_received_total", ())] >= 6 + 6
    assert series[("distlog_rejected_total", (("reason", "invalid_json"),))] == 0
    assert series[("distlog_sink_dropped_total", (("sink", "store"),))] == 0
    assert ("distlog_store_records", (("sink", "store"),)) in series
    assert ("distlog_store_durable_lag", (("sink", "store"),)) in series


def test_bad_metric_records_are_counted_and_the_daemon_goes_on(daemon: Daemon) -> None:
    send_raw(daemon.intake, b"TPJ", perf_body(metric="bad name", metric_value=1))
    send_raw(daemon.intake, b"TPJ", perf_body(metric="x", metric_value="NaN"))
    send_raw(daemon.intake, b"TPJ", b'{"metric": "x", "metric_value": NaN}')
    many = {f"l{i}": "v" for i in range(100)}
    send_raw(daemon.intake, b"TPJ", perf_body(metric="x", metric_value=1, metric_labels=many))
    send_raw(daemon.intake, b"TPJ", perf_body(metric="y", metric_value=1, metric_kind="counter"))
    send_raw(daemon.intake, b"TPJ", perf_body(metric="y", metric_value=1, metric_kind="gauge"))
    send_raw(daemon.intake, b"TPJ", perf_body(metric="ok", metric_value=1.5))
    series = wait_metrics(daemon, "distlog_app_ok", {"host": "rawhost"}, 1.5)
    rejected = {
        dict(labels)["reason"]: v
        for (name, labels), v in series.items()
        if name == "distlog_metric_records_rejected_total"
    }
    assert rejected == {
        "no_name": 0,
        "bad_name": 1,
        "bad_value": 1,
        "bad_kind": 0,
        "bad_labels": 1,
        "kind_conflict": 1,
    }
    # NaN is not JSON: the message is rejected as any bad body is.
    assert series[("distlog_rejected_total", (("reason", "invalid_json"),))] == 1
    assert series[("distlog_app_y_total", (("host", "rawhost"),))] == 1
    assert daemon.proc.poll() is None
    # The records themselves are stored like any other (6 decoded).
    daemon.wait_stored(6)


def host() -> str:
    import socket

    return socket.gethostname()


RUST_METRICS = BIN_DIR / "examples" / "metrics"


def test_metrics_from_a_rust_program(daemon: Daemon) -> None:
    assert RUST_METRICS.exists(), f"{RUST_METRICS} is built by `cargo test` (or `cargo build --examples`)"
    out = subprocess.run(
        [str(RUST_METRICS), daemon.intake], capture_output=True, text=True, timeout=PATIENCE, check=True
    )
    assert out.stdout.startswith("refused: bad metric: name"), out.stdout
    h = host()
    scope = {"scope": "ship order <n>", "host": h, "system": "test"}
    series = wait_metrics(daemon, "distlog_scope_runs_total", scope, 2)
    assert series[("distlog_scope_failures_total", tuple(sorted(scope.items())))] == 1
    assert series[("distlog_app_rust_jobs_total", (("host", h), ("lang", "rust")))] == 10
    assert series[("distlog_app_rust_temperature", (("host", h),))] == 21.5
    labels = (("host", h), ("outcome", "ok"), ("step", "sum"))
    assert series[("distlog_app_rust_step_seconds_count", labels)] == 1
    assert series[("distlog_metric_records_total", ())] == 4
