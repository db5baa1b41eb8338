"""Agent distlogd -> NATS JetStream -> collector distlogds, all real processes
on loopback: a real nats-server (Debian's package, installed by
scripts/bootstrap.sh), started here with a temp dir and a free port."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import zmq

from conftest import BIN_DIR, PATIENCE, Daemon

NATS = shutil.which("nats-server")
pytestmark = pytest.mark.skipif(NATS is None, reason="nats-server not installed: run scripts/bootstrap.sh")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Nats:
    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert NATS is not None
        self.proc = subprocess.Popen(
            [NATS, "-js", "-sd", str(self.root), "-a", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=PATIENCE)
        self.proc = None


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[Nats]:
    n = Nats(tmp_path / "nats")
    n.start()
    yield n
    n.stop()


def agent_config(tmp_path: Path, url: str, queue: str = "") -> Path:
    path = tmp_path / "agent.yml"
    path.write_text(
        "sinks:\n"
        "  nats:\n"
        "    type: jetstream\n"
        f"    url: {url}\n"
        "    ack_timeout: 2s\n"
        f"{queue}"
        "routes:\n  mode: all\n  default: [nats]\n"
    )
    return path


def collector_config(tmp_path: Path, name: str, url: str) -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(
        "sources:\n"
        "  nats:\n"
        "    type: jetstream\n"
        f"    url: {url}\n"
        "    ack_wait: 2s\n"
        "    batch: 200\n"
        "sinks:\n  store:\n    type: store\n"
    )
    return path


def stats(d: Daemon) -> Any:
    with urllib.request.urlopen(d.server + "/api/stats", timeout=PATIENCE) as r:
        return json.load(r)


def keys(d: Daemon) -> list[str]:
    """Every record's identity in d's store, oldest first: its key, or for a
    record outside any task its host, process, time and message."""
    out: list[str] = []
    after = 0
    while True:
        url = f"{d.server}/api/records?order=asc&limit=10000&after={after}"
        with urllib.request.urlopen(url, timeout=PATIENCE) as r:
            rows = json.load(r)["records"]
        if not rows:
            return out
        for row in rows:
            out.append(row["key"] or f"{row['host']}/{row['process']}/{row['created']}/{row['message']}")
        after = rows[-1]["id"]


def send(endpoint: str, count: int, rate: float = 0.0, seed: int = 7) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(BIN_DIR / "distlog-loadgen"),
            "send",
            "--endpoint",
            endpoint,
            "--count",
            str(count),
            "--connections",
            "2",
            "--rate",
            str(rate),
            "--seed",
            str(seed),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def send_heartbeat(endpoint: str) -> None:
    ctx = zmq.Context()
    try:
        push = ctx.socket(zmq.PUSH)
        push.connect(endpoint)
        body = {"hostname": "obelix", "process": 6156, "created": time.time(), "open_scopes": 1}
        push.send_multipart([b"PHJ", json.dumps(body).encode()])
        push.close(linger=5000)
    finally:
        ctx.term()


def wait_until(what: str, done: Any) -> None:
    deadline = time.monotonic() + PATIENCE
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def js(d: Daemon, side: str) -> dict[str, Any]:
    items = stats(d)["jetstream"][side]
    assert len(items) == 1, items
    return dict(items[0])


def test_two_collectors_share_the_stream_and_store_each_record_once(tmp_path: Path, nats: Nats) -> None:
    n = 3000
    agent = Daemon(tmp_path / "agent-store", "--config", str(agent_config(tmp_path, nats.url)))
    a = Daemon(tmp_path / "a", "--config", str(collector_config(tmp_path, "a", nats.url)))
    b = Daemon(tmp_path / "b", "--config", str(collector_config(tmp_path, "b", nats.url)))
    try:
        sender = send(agent.intake, n)
        assert sender.wait(timeout=PATIENCE) == 0, sender.stderr
        wait_until("the agent's publishes acked", lambda: js(agent, "sinks")["acked"] >= n)
        wait_until(
            "both collectors stored every record",
            lambda: stats(a)["store"]["stored"] + stats(b)["store"]["stored"] >= n,
        )
        ka, kb = keys(a), keys(b)
        assert len(ka) + len(kb) == n
        assert len(set(ka) | set(kb)) == n
        assert ka and kb, "the work is shared"
        sink = js(agent, "sinks")
        assert sink["acked"] == n and sink["errors"] == 0
        assert js(a, "sources")["acked"] == len(ka)
        assert js(b, "sources")["acked"] == len(kb)
        metrics = urllib.request.urlopen(a.server + "/metrics", timeout=PATIENCE).read().decode()
        assert 'distlog_jetstream_acked_total{side="source",name="nats"}' in metrics
        # A heartbeat reaches every collector (a process's trees are spread
        # over them), not one as a record does.
        send_heartbeat(agent.intake)
        for d in (a, b):
            wait_until("the heartbeat", lambda d=d: stats(d)["heartbeats"] >= 1)
            assert stats(d)["store"]["heartbeats"] >= 1
    finally:
        for d in (agent, a, b):
            d.stop()


def test_a_collector_killed_under_load_loses_nothing(tmp_path: Path, nats: Nats) -> None:
    n = 20_000
    agent = Daemon(tmp_path / "agent-store", "--config", str(agent_config(tmp_path, nats.url)))
    a = Daemon(tmp_path / "a", "--config", str(collector_config(tmp_path, "a", nats.url)))
    b = Daemon(tmp_path / "b", "--config", str(collector_config(tmp_path, "b", nats.url)))
    a_again: Daemon | None = None
    try:
        sender = send(agent.intake, n, rate=4000)
        # Under load: a has stored some, and more are on their way.
        wait_until("a stored a share", lambda: stats(a)["store"]["stored"] >= 2000)
        # Frozen first, so what the server hands a meanwhile (its pull
        # request is out nearly all the time) is held and never
        # acknowledged: the kill then surely leaves messages for b to take.
        a.proc.send_signal(signal.SIGSTOP)
        time.sleep(0.5)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(timeout=PATIENCE)
        assert sender.wait(timeout=PATIENCE) == 0, sender.stderr
        wait_until("the agent's publishes acked", lambda: js(agent, "sinks")["acked"] >= n)
        # What a made durable survives in its store: open it again, without
        # the source, and count.
        a_again = Daemon(tmp_path / "a")
        a_again.wait_for("a's store open", lambda s: s["store"]["records"] > 0)
        ka = keys(a_again)
        wait_until("b took over the rest", lambda: len(set(ka) | set(keys(b))) >= n)
        # Redeliveries of what a held unacknowledged come after ack_wait;
        # give them time to land (they must not be stored twice by b).
        time.sleep(3)
        kb = keys(b)
        assert len(set(ka) | set(kb)) == n, "no record lost"
        assert len(kb) == len(set(kb)), "b stored no record twice"
        assert len(ka) == len(set(ka)), "a stored no record twice"
        both = set(ka) & set(kb)
        source_b = js(b, "sources")
        assert source_b["redelivered"] > 0, "b took over messages a held"
        # A record in both stores is one a synced and was killed before
        # acknowledging: at most one batch (see docs/scale-out.md).
        assert len(both) <= 200, f"{len(both)} records in both stores"
        print(f"kill -9 under load: a {len(ka)}, b {len(kb)}, in both {len(both)}, b redelivered {source_b}")
    finally:
        for d in (agent, a, b, a_again):
            if d is not None:
                d.stop()


def test_a_collector_frozen_past_ack_wait_leaves_its_messages_to_the_others(
    tmp_path: Path, nats: Nats
) -> None:
    n = 2000
    agent = Daemon(tmp_path / "agent-store", "--config", str(agent_config(tmp_path, nats.url)))
    a = Daemon(tmp_path / "a", "--config", str(collector_config(tmp_path, "a", nats.url)))
    b = Daemon(tmp_path / "b", "--config", str(collector_config(tmp_path, "b", nats.url)))
    try:
        # Idle, a waits in a fetch nearly all the time: frozen there, it is
        # handed messages it cannot acknowledge within ack_wait (2s).
        wait_until("a consuming", lambda: js(a, "sources")["connected"])
        a.proc.send_signal(signal.SIGSTOP)
        try:
            sender = send(agent.intake, n)
            assert sender.wait(timeout=PATIENCE) == 0, sender.stderr
            wait_until("the agent's publishes acked", lambda: js(agent, "sinks")["acked"] >= n)
            time.sleep(3)
        finally:
            a.proc.send_signal(signal.SIGCONT)
        wait_until("every record stored", lambda: len(set(keys(a)) | set(keys(b))) >= n)
        time.sleep(1)
        ka, kb = keys(a), keys(b)
        assert len(set(ka) | set(kb)) == n
        assert not set(ka) & set(kb), "no record in both stores"
        assert len(ka) + len(kb) == n
        assert js(a, "sources")["expired"] > 0, js(a, "sources")
        assert js(b, "sources")["redelivered"] > 0, js(b, "sources")
    finally:
        for d in (agent, a, b):
            d.stop()


def test_nats_down_then_up_buffers_within_the_bound_and_counts_the_rest(tmp_path: Path) -> None:
    nats = Nats(tmp_path / "nats")
    queue = "    queue:\n      size: 1000\n"
    agent = Daemon(tmp_path / "agent-store", "--config", str(agent_config(tmp_path, nats.url, queue)))
    collector: Daemon | None = None
    try:
        # NATS is not running: the agent takes records all the same.
        n = 6000
        sender = send(agent.intake, n, rate=20_000)
        assert sender.wait(timeout=PATIENCE) == 0, sender.stderr
        wait_until("the intake decoded every record", lambda: stats(agent)["decoded"] >= n)
        sink = next(s for s in stats(agent)["sinks"] if s["name"] == "nats")
        held = js(agent, "sinks")
        assert held["connected"] is False
        assert sink["dropped"] > 0, sink
        # Queue (1000) plus the batch the worker holds (at most 2000).
        assert sink["accepted"] <= 1000 + 2000, sink
        assert sink["accepted"] + sink["dropped"] == n
        metrics = urllib.request.urlopen(agent.server + "/metrics", timeout=PATIENCE).read().decode()
        assert 'distlog_sink_dropped_total{sink="nats"}' in metrics
        assert 'distlog_jetstream_connected{side="sink",name="nats"} 0' in metrics
        nats.start()
        wait_until("the buffer published", lambda: js(agent, "sinks")["acked"] >= sink["accepted"])
        collector = Daemon(tmp_path / "c", "--config", str(collector_config(tmp_path, "c", nats.url)))
        collector.wait_stored(sink["accepted"])
        kc = keys(collector)
        assert len(kc) == len(set(kc)) == sink["accepted"]
        assert js(agent, "sinks")["connected"] is True
    finally:
        agent.stop()
        if collector is not None:
            collector.stop()
        nats.stop()


def test_nats_restarted_under_the_agent_and_collector_they_reconnect_and_lose_nothing(
    tmp_path: Path, nats: Nats
) -> None:
    agent = Daemon(tmp_path / "agent-store", "--config", str(agent_config(tmp_path, nats.url)))
    c = Daemon(tmp_path / "c", "--config", str(collector_config(tmp_path, "c", nats.url)))
    try:
        first = send(agent.intake, 1000, seed=1)
        assert first.wait(timeout=PATIENCE) == 0, first.stderr
        c.wait_stored(1000)
        nats.stop()
        wait_until("the agent sees NATS gone", lambda: not js(agent, "sinks")["connected"])
        # Within the queue's bound (100,000): held, not dropped.
        second = send(agent.intake, 1000, seed=2)
        assert second.wait(timeout=PATIENCE) == 0, second.stderr
        wait_until("the agent took them", lambda: stats(agent)["decoded"] >= 2000)
        nats.start()  # same port, same store directory: the stream is back
        wait_until("the agent published them", lambda: js(agent, "sinks")["acked"] >= 2000)
        c.wait_stored(2000)
        kc = keys(c)
        assert len(kc) == len(set(kc)) == 2000
        sink = js(agent, "sinks")
        assert sink["disconnects"] >= 1 and sink["connected"]
        assert next(s for s in stats(agent)["sinks"] if s["name"] == "nats")["dropped"] == 0
        assert js(c, "sources")["disconnects"] >= 1
    finally:
        agent.stop()
        c.stop()


def test_an_agent_stops_in_bounded_time_while_nats_is_away(tmp_path: Path) -> None:
    away = f"nats://127.0.0.1:{free_port()}"
    agent = Daemon(tmp_path / "agent-store", "--config", str(agent_config(tmp_path, away)))
    n = 6000
    sender = send(agent.intake, n, rate=20_000)
    assert sender.wait(timeout=PATIENCE) == 0, sender.stderr
    wait_until("the intake decoded every record", lambda: stats(agent)["decoded"] >= n)
    started = time.monotonic()
    agent.proc.send_signal(signal.SIGTERM)
    # The worker was retrying a batch: it gets 5 s more, then the queue is
    # counted dropped at once rather than a wait per batch.
    try:
        assert agent.proc.wait(timeout=PATIENCE) == 0
    finally:
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait()
    took = time.monotonic() - started
    log = []
    while not agent.lines.empty():
        log.append(agent.lines.get())
    text = "".join(log)
    assert "not published" in text, text[-2000:]
    print(f"stopped in {took:.1f}s")
