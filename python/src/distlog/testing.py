"""Test helpers: a real PULL receiver, and capturing what distlog would send."""

from __future__ import annotations

import contextlib
import json
import logging
import pickle
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import zmq

from ._formatters import JSONFormatter, record_body

__all__ = ["Receiver", "capture"]


class Receiver:
    """A ZeroMQ PULL socket bound to a free port on 127.0.0.1, decoding
    what distlog clients send. Use it as a stand-in for distlogd in tests."""

    def __init__(self, endpoint: str = "tcp://127.0.0.1:*") -> None:
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.PULL)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(endpoint)
        self.endpoint: str = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def receive(self, count: int, timeout: float = 30.0) -> List[Tuple[bytes, Dict[str, Any]]]:
        """The next `count` messages as (topic, body), or fewer on timeout."""
        out: List[Tuple[bytes, Dict[str, Any]]] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sock.poll(int(left * 1000)):
                break
            topic, body = self._sock.recv_multipart()
            # Our own test data: pickle.loads is fine here, never in distlogd.
            decoded = json.loads(body) if topic[2:3] == b"J" else pickle.loads(body)
            out.append((topic, decoded))
        return out

    def records(self, count: int, timeout: float = 30.0) -> List[Dict[str, Any]]:
        return [body for _, body in self.receive(count, timeout)]

    def close(self) -> None:
        self._sock.close()
        self._ctx.term()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: List[Dict[str, Any]] = []
        self._fmt = JSONFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(json.loads(json.dumps(record_body(self._fmt, record), default=repr)))


@contextlib.contextmanager
def capture(logger: Optional[logging.Logger] = None) -> Iterator[List[Dict[str, Any]]]:
    """Collects, as dicts, the bodies distlog would send for records logged
    inside the block (scope records included)::

        with distlog.testing.capture() as records:
            with distlog.task('job'):
                logging.getLogger().info('hello')
        assert [r['message'] for r in records] == ['job', 'hello', 'job']
    """
    target = logger or logging.getLogger()
    handler = _Capture()
    old_level = target.level
    if target.level == logging.NOTSET or target.level > logging.DEBUG:
        target.setLevel(logging.DEBUG)
    target.addHandler(handler)
    try:
        yield handler.records
    finally:
        target.removeHandler(handler)
        target.setLevel(old_level)
