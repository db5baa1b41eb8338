"""The background thread that owns the ZeroMQ socket. The logging call
appends to a bounded queue. It waits only when that queue is full while the
daemon is taking records: back-pressure, as a blocking SocketHandler gives,
bounded by `max_wait`. While nothing reaches the daemon it never waits;
what does not fit is dropped and counted."""

from __future__ import annotations

import collections
import json
import os
import sys
import threading
import time
import weakref
from typing import Any, Callable, Deque, Optional, Tuple

import zmq

from . import _scope
from ._curve import CurveKeys
from ._formatters import HOSTNAME

_SENDERS: weakref.WeakSet[Sender] = weakref.WeakSet()

# The daemon counts as taking records if a send succeeded this recently.
_FLOWING = 0.5


class Sender:
    def __init__(
        self,
        endpoint: Any,
        context: Optional[zmq.Context[Any]],
        system: bytes,
        queue_size: int,
        linger: float,
        hwm: int,
        max_wait: float = 1.0,
        heartbeat: Optional[float] = None,
        curve: Optional[CurveKeys] = None,
    ) -> None:
        self._endpoint = endpoint
        self._curve = curve
        self._own_context: Optional[zmq.Context[Any]] = None
        # Read here, on the thread that owns a user's socket now: after a
        # fork the child connects its own socket there and never touches
        # the parent's.
        self._socket_endpoint = _last_endpoint(endpoint)
        self._context = context
        self._system = system
        self._max = queue_size
        self._linger = linger
        self._hwm = hwm
        self.dropped = 0
        self._unreported = 0
        self._queue: Deque[Tuple[bytes, Any, Optional[Callable[[Any], bytes]]]] = collections.deque()
        self._wake = threading.Event()
        self._idle = False
        self._closing = False
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._max_wait = max_wait
        # When a send last succeeded (monotonic), and whether a caller waits
        # for room in the queue.
        self._last_sent = -_FLOWING
        self._room = threading.Event()
        self._waiting = False
        self._heartbeat = heartbeat
        self._last_beat = 0.0
        _SENDERS.add(self)

    def put(self, topic: bytes, body: Any, encode: Optional[Callable[[Any], bytes]] = None) -> None:
        """Queues a body: bytes, or anything `encode` turns into bytes on
        the sender thread."""
        if self._endpoint is None or (len(self._queue) >= self._max and not self._wait_for_room()):
            # The sender thread subtracts what it reported: `+=` alone is
            # not atomic across threads.
            with self._count_lock:
                self.dropped += 1
                self._unreported += 1
            return
        self._queue.append((topic, body, encode))
        if self._thread is None:
            self._start()
        elif self._idle:
            self._idle = False
            self._wake.set()

    def _wait_for_room(self) -> bool:
        """Waits while the queue is full and records are flowing out. A
        thread that logs in a tight loop holds the GIL for 5 ms at a time
        and would otherwise starve the sender and drop most of its records
        (measured: 11,232 of 100,000 kept). Waiting hands the GIL over."""
        if self._max_wait <= 0 or self._thread is None or threading.current_thread() is self._thread:
            return False
        deadline = time.monotonic() + self._max_wait
        while len(self._queue) >= self._max:
            now = time.monotonic()
            if now >= deadline or now - self._last_sent > _FLOWING or self._closing:
                return False
            self._room.clear()
            self._waiting = True
            if self._idle:
                self._wake.set()
            self._room.wait(min(0.05, deadline - now))
        return True

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closing:
                # A new connection gets the benefit of the doubt: callers
                # may wait for room while it comes up.
                self._last_sent = time.monotonic()
                self._thread = threading.Thread(target=self._run, name="distlog-sender", daemon=True)
                self._thread.start()

    def _socket(self) -> Any:
        if isinstance(self._endpoint, zmq.Socket):
            # The sender thread owns the socket from now on.
            self._socket_endpoint = _last_endpoint(self._endpoint) or self._socket_endpoint
            return self._endpoint
        ctx = self._context
        if ctx is None:
            # A context of our own, terminated once the socket is closed:
            # termination is what waits (up to the linger) for libzmq to
            # write out what was sent. Without it a process that exits
            # right after close() (a forked child's os._exit) lost its
            # last records now and then.
            ctx = self._own_context = zmq.Context()
        sock = ctx.socket(zmq.PUSH)
        sock.setsockopt(zmq.SNDHWM, self._hwm)
        sock.setsockopt(zmq.LINGER, 0)
        # Queue only to a live connection: while distlogd is away, records
        # wait in our own bounded queue, where drops are counted, instead of
        # in libzmq's pipe to a peer that may never answer.
        sock.setsockopt(zmq.IMMEDIATE, 1)
        if self._curve is not None:
            self._curve.apply(sock)
        sock.connect(self._endpoint)
        return sock

    def _run(self) -> None:
        sock = self._socket()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLOUT)
        deadline: Optional[float] = None
        idle_wait = 0.1 if self._heartbeat is None else min(0.1, self._heartbeat)
        try:
            while True:
                if self._closing and deadline is None:
                    deadline = time.monotonic() + self._linger
                if self._heartbeat is not None and not self._closing:
                    self._beat(sock)
                if not self._queue and not self._unreported:
                    if self._closing:
                        break
                    self._idle = True
                    # Bounded wait: a wake-up lost to a race costs 0.1 s.
                    self._wake.wait(idle_wait)
                    self._wake.clear()
                    self._idle = False
                    continue
                if not self._send_one(sock):
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    # No daemon (or it is slow): wait until it can take more.
                    poller.poll(100)
        finally:
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                sock.setsockopt(zmq.LINGER, int(left * 1000))
            if sock is not self._endpoint:
                sock.close()
            own, self._own_context = self._own_context, None
            if own is not None:
                own.term()

    def _send_one(self, sock: Any) -> bool:
        unreported = self._unreported
        if unreported:
            if not self._try(sock, self._system + b"LJ", self._drop_report(unreported)):
                return False
            with self._count_lock:
                self._unreported -= unreported
        if not self._queue:
            # Drops after the last record sent are reported too.
            return True
        topic, body, encode = self._queue[0]
        if encode is not None:
            try:
                body = encode(body)
            except Exception as e:  # a value that cannot even be repr'd
                self._queue.popleft()
                with self._count_lock:
                    self.dropped += 1
                sys.stderr.write(f"distlog: could not encode a record, dropped it: {e!r}\n")
                return True
            self._queue[0] = (topic, body, None)
        if not self._try(sock, topic, body):
            return False
        self._queue.popleft()
        self._last_sent = time.monotonic()
        # Wake a waiting caller once a quarter of the queue is free, not
        # for every record.
        if self._waiting and len(self._queue) <= self._max - max(1, self._max // 4):
            self._waiting = False
            self._room.set()
        return True

    def _beat(self, sock: Any) -> None:
        """A heartbeat every `heartbeat` seconds while a scope is open in the
        process. It is droppable: one that cannot be sent at once is lost,
        never queued, retried or counted as a dropped record."""
        assert self._heartbeat is not None
        open_scopes, since = _scope.open_scopes()
        if not open_scopes:
            return
        now = time.monotonic()
        if now - max(since, self._last_beat) < self._heartbeat:
            return
        self._last_beat = now
        body = {
            "hostname": HOSTNAME,
            "process": os.getpid(),
            "created": time.time(),
            "open_scopes": open_scopes,
        }
        self._try(sock, self._system + b"HJ", json.dumps(body).encode())

    @staticmethod
    def _try(sock: Any, topic: bytes, body: bytes) -> bool:
        try:
            sock.send_multipart([topic, body], flags=zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False
        except zmq.ZMQError:
            return False

    def _drop_report(self, n: int) -> bytes:
        now = time.time()
        message = f"distlog: {n} records dropped: the buffer of {self._max} records was full"
        return json.dumps(
            {
                "name": "distlog",
                "msg": message,
                "message": message,
                "args": None,
                "levelname": "WARNING",
                "levelno": 30,
                "created": now,
                "msecs": (now % 1) * 1000,
                "process": os.getpid(),
                "hostname": HOSTNAME,
                "context": None,
                "dropped_records": n,
            }
        ).encode()

    def close(self, linger: Optional[float] = None) -> None:
        """Delivers what is queued for at most `linger` seconds, then stops."""
        if linger is not None:
            self._linger = linger
        self._closing = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self._linger + 1.0)

    def _after_fork(self) -> None:
        # The parent's thread sends what was queued before the fork, and
        # reports the parent's drops; the child starts empty, with its own
        # counters, thread and socket.
        self.dropped = 0
        self._unreported = 0
        self._last_beat = 0.0
        self._own_context = None
        self._queue = collections.deque()
        self._thread = None
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = False
        self._room = threading.Event()
        self._waiting = False
        self._last_sent = -_FLOWING
        if self._context is not None or isinstance(self._endpoint, zmq.Socket):
            self._context = None
        if isinstance(self._endpoint, zmq.Socket):
            # libzmq sockets do not survive a fork: the parent's is never
            # touched here (not even to read its endpoint). A socket that
            # had no endpoint leaves the child nowhere to send.
            self._endpoint = self._socket_endpoint or None


def _last_endpoint(endpoint: Any) -> str:
    if not isinstance(endpoint, zmq.Socket):
        return ""
    try:
        return endpoint.getsockopt_string(zmq.LAST_ENDPOINT)
    except zmq.ZMQError:
        return ""


def _reset_after_fork() -> None:
    for sender in list(_SENDERS):
        sender._after_fork()


def _start_heartbeats() -> None:
    # A scope opened: senders that have sent nothing yet start their thread,
    # so heartbeats go out even while every record is filtered out.
    for sender in list(_SENDERS):
        if sender._heartbeat is not None and sender._thread is None and sender._endpoint is not None:
            sender._start()


_scope.on_first_open.append(_start_heartbeats)

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
