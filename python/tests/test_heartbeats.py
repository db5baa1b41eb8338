"""Heartbeats: while a scope is open, the sender says the process is alive."""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Callable, Iterator, List, Tuple

import pytest
import zmq

import distlog
from distlog._formatters import HOSTNAME

INTERVAL = 0.05
Messages = List[Tuple[bytes, bytes]]


class Pull:
    """A bare PULL socket: sees topics and raw bodies as distlogd would."""

    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.PULL)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def until(self, done: Callable[[Messages], bool], timeout: float = 30.0) -> Messages:
        """Messages received until `done` holds for them (a hang guard only)."""
        got: Messages = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sock.poll(100):
                topic, body = self.sock.recv_multipart()
                got.append((topic, body))
                if done(got):
                    return got
        raise AssertionError(f"gave up waiting; got {got}")

    def drain(self, seconds: float) -> Messages:
        got: Messages = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.sock.poll(int(left * 1000) + 1):
                topic, body = self.sock.recv_multipart()
                got.append((topic, body))
        return got

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


@pytest.fixture
def pull() -> Iterator[Pull]:
    p = Pull()
    yield p
    p.close()


def heartbeats(messages: Messages) -> list[dict[str, object]]:
    return [json.loads(body) for topic, body in messages if topic[1:2] == b"H"]


@pytest.mark.parametrize("formatter", [distlog.JSONFormatter, distlog.PickleFormatter])
def test_heartbeats_arrive_while_a_scope_is_open_and_stop_after(pull: Pull, formatter: type) -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handler = distlog.ZmqHandler(pull.endpoint, system="S", heartbeat_interval=INTERVAL)
    handler.setFormatter(formatter())
    root.addHandler(handler)
    before = time.time()
    with distlog.task("long job"), distlog.to("inner"):
        # Two heartbeats arrive while the scopes are open (waiting for
        # them is the scope's "work").
        seen = pull.until(lambda got: len(heartbeats(got)) >= 2)
    # Up to the closing record of the outer scope: the last message sent
    # while a scope was open.
    closing = pull.until(lambda got: sum(b"close" in body for _, body in got) == 2)
    quiet = pull.drain(20 * INTERVAL)
    handler.close()

    beats = heartbeats(seen)
    assert {t for t, _ in seen if t[1:2] == b"H"} == {b"SHJ"}, "always JSON, system as the records'"
    for beat in beats:
        assert set(beat) == {"hostname", "process", "created", "open_scopes"}
        assert (beat["hostname"], beat["process"], beat["open_scopes"]) == (HOSTNAME, os.getpid(), 2)
        assert before <= beat["created"] <= time.time()  # type: ignore[operator]
    assert closing[-1][0][1:2] == b"L"
    assert heartbeats(quiet) == [], "no heartbeat once no scope is open"


def test_no_heartbeat_without_an_open_scope_or_when_turned_off(pull: Pull) -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    idle = distlog.ZmqHandler(pull.endpoint, heartbeat_interval=INTERVAL)
    root.addHandler(idle)
    root.info("no scope")
    got = pull.drain(20 * INTERVAL)
    root.removeHandler(idle)
    idle.close()
    off = distlog.ZmqHandler(pull.endpoint, heartbeat_interval=0)
    root.addHandler(off)
    with distlog.task("long job"):
        root.info("in scope")
        got += pull.drain(20 * INTERVAL)
    off.close()
    assert heartbeats(got) == [] and len(got) == 3


def test_heartbeats_go_out_even_when_every_record_is_filtered_out(pull: Pull) -> None:
    root = logging.getLogger()
    root.setLevel(logging.CRITICAL)
    handler = distlog.ZmqHandler(pull.endpoint, heartbeat_interval=INTERVAL)
    root.addHandler(handler)
    with distlog.task("quiet job"):
        got = pull.until(lambda got: got[-1][0] == b"PHJ")
    handler.close()
    assert heartbeats(got)[0]["open_scopes"] == 1


def test_heartbeats_never_block_nor_count_as_drops_when_the_daemon_is_away() -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handler = distlog.ZmqHandler("tcp://127.0.0.1:9", heartbeat_interval=0.001, queue_size=5, max_wait=0)
    root.addHandler(handler)
    with distlog.task("job"):
        for i in range(20):
            root.info("record %d", i)
        time.sleep(0.2)  # many heartbeat intervals with nobody to send to
    assert handler.dropped == 22 - 5
    handler.close(linger=0)


def test_the_heartbeat_interval_is_checked() -> None:
    with pytest.raises(ValueError, match="heartbeat_interval"):
        distlog.ZmqHandler("tcp://127.0.0.1:9", heartbeat_interval=-1)
    with pytest.raises(TypeError, match="heartbeat_interval"):
        distlog.ZmqHandler("tcp://127.0.0.1:9", heartbeat_interval="5")  # type: ignore[arg-type]
