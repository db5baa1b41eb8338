"""`ZmqHandler`: a logging.Handler that ships records to distlogd."""

from __future__ import annotations

import logging
from typing import Any, Optional, Union

import zmq

from . import _metrics
from ._curve import load_curve
from ._formatters import JSONFormatter, PickleFormatter, record_body
from ._levels import Control, control_endpoint
from ._sender import Sender

__all__ = ["ZmqHandler"]

Formatter = Union[JSONFormatter, PickleFormatter]


class ZmqHandler(logging.Handler):
    """Sends each record to distlogd over a ZeroMQ PUSH socket.

    `endpoint` is an endpoint string to connect to (`tcp://localhost:5010`)
    or an existing pyzmq socket. `system` is the topic's first letter: `T`
    test, `S` staging, `P` production.

    Logging never raises into the program: records go into a bounded queue
    (`queue_size`) that a background thread sends from. When the queue is
    full while distlogd is taking records (a program logging faster than
    they can be sent), the call waits for room, at most `max_wait` seconds:
    back-pressure rather than loss. When distlogd is down or stalled, the
    call never waits: records that do not fit are dropped and counted in
    `dropped`, and distlogd is told how many once it is reachable.
    `close()` (and interpreter exit) waits at most `linger` seconds for
    delivery.

    While a scope is open in the process, the sender thread also sends a
    heartbeat (topic `<system>HJ`) every `heartbeat_interval` seconds, so
    distlogd can tell a long task from a dead process; 0 or None turns
    heartbeats off.

    For a distlogd that requires CURVE (`--curve-key`), give
    `curve_server_key` (the server's public key: its 40 Z85 characters or
    the path of its `.pub` file) and `curve_key` (the path of this
    program's own `.key` file, from `distlog keygen`, whose public key is
    in the daemon's allow-list). Records are then encrypted and the daemon
    knows who sent them; a bad key or file raises ValueError here.

    `control` is distlogd's control endpoint, where it publishes the log
    levels set with `distlog level` (docs/protocol.md). By default it is
    $DISTLOG_CONTROL, else the intake endpoint's port + 1 (5011 beside
    5010); False turns it off. A background thread subscribes; until a
    setting arrives logging runs exactly as configured.
    """

    def __init__(
        self,
        endpoint: Union[str, zmq.Socket[Any]] = "tcp://localhost:5010",
        context: Optional[zmq.Context[Any]] = None,
        system: str = "P",
        *,
        queue_size: int = 10_000,
        linger: float = 1.0,
        hwm: int = 1000,
        max_wait: float = 1.0,
        heartbeat_interval: Optional[float] = 5.0,
        level: int = logging.NOTSET,
        curve_server_key: Optional[str] = None,
        curve_key: Optional[str] = None,
        control: Union[str, bool, None] = "auto",
    ) -> None:
        super().__init__(level)
        if (curve_server_key is None) != (curve_key is None):
            raise ValueError("curve_server_key and curve_key go together: give both for CURVE, or neither")
        if curve_server_key is not None and isinstance(endpoint, zmq.Socket):
            raise ValueError(
                "CURVE keys apply to a socket the handler makes; set them on your own socket instead"
            )
        curve = load_curve(curve_server_key, curve_key) if curve_server_key and curve_key else None
        if system not in ("T", "S", "P"):
            raise ValueError(f"system must be 'T' (test), 'S' (staging) or 'P' (production), not {system!r}")
        if not isinstance(endpoint, (str, zmq.Socket)):
            raise TypeError(f"endpoint must be a ZeroMQ endpoint string or a pyzmq socket, not {endpoint!r}")
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if not max_wait >= 0:
            raise ValueError(f"max_wait must be 0 (never wait) or more seconds, not {max_wait!r}")
        if heartbeat_interval is not None and (
            isinstance(heartbeat_interval, bool) or not isinstance(heartbeat_interval, (int, float))
        ):
            raise TypeError(
                f"heartbeat_interval must be seconds (a number) or None, not {heartbeat_interval!r}"
            )
        if heartbeat_interval is not None and not heartbeat_interval >= 0:
            raise ValueError(
                f"heartbeat_interval must be 0 or None (off) or more seconds, not {heartbeat_interval!r}"
            )
        self.system = system
        self.endpoint = endpoint
        self._prefix = system.encode() + b"L"
        heartbeat = float(heartbeat_interval) if heartbeat_interval else None
        self._sender = Sender(
            endpoint, context, system.encode(), queue_size, linger, hwm, max_wait, heartbeat, curve
        )
        self.formatter: Formatter = JSONFormatter()
        where = control_endpoint(endpoint, control)
        self._control = Control(where, system, curve) if where else None
        self._metric_prefix = system.encode() + b"P"
        _metrics.handlers.add(self)

    def setFormatter(self, fmt: Optional[logging.Formatter]) -> None:
        if fmt is None:
            fmt = JSONFormatter()
        if not isinstance(fmt, (JSONFormatter, PickleFormatter)):
            raise TypeError(
                "ZmqHandler needs distlog.JSONFormatter() or distlog.PickleFormatter(), "
                f"not {type(fmt).__name__}: distlogd decodes only those"
            )
        self.formatter = fmt

    @property
    def dropped(self) -> int:
        """Records dropped so far because the queue was full."""
        return self._sender.dropped

    def emit(self, record: logging.LogRecord) -> None:
        # The calling thread only takes a snapshot of the record; encoding
        # happens on the sender thread.
        try:
            fmt = self.formatter
            self._sender.put(self._prefix + fmt.encoding, record_body(fmt, record), fmt.encode_body)
        except Exception:
            self.handleError(record)

    def emit_metric(self, record: logging.LogRecord) -> None:
        """Sends a record made by `distlog.metric()` as a kind `P` record."""
        try:
            fmt = self.formatter
            self._sender.put(self._metric_prefix + fmt.encoding, record_body(fmt, record), fmt.encode_body)
        except Exception:
            self.handleError(record)

    def close(self, linger: Optional[float] = None) -> None:
        """Sends what is queued, waiting at most `linger` seconds (the
        handler's own setting by default), then closes the socket."""
        _metrics.handlers.discard(self)
        try:
            # A handler whose constructor raised (bad arguments) has no
            # sender, but logging still closes it at exit.
            control = getattr(self, "_control", None)
            if control is not None:
                control.close()
            sender = getattr(self, "_sender", None)
            if sender is not None:
                sender.close(linger)
        finally:
            super().close()
