"""Performance records: `metric()` and `timed()` send kind `P` records that
distlogd aggregates into counters, gauges and histograms (`GET /metrics`)."""

from __future__ import annotations

import functools
import inspect
import logging
import math
import re
import sys
import time
import weakref
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Type, TypeVar, Union

if TYPE_CHECKING:
    from ._handler import ZmqHandler

__all__ = ["metric", "timed"]

KINDS = ("counter", "gauge", "histogram")
MAX_LABELS = 16
MAX_LABEL_VALUE = 256
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,127}\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,127}\Z")

# The handlers a metric goes to: every live ZmqHandler. Metrics are not log
# lines, so no logger level or filter decides whether they are sent.
handlers: weakref.WeakSet[ZmqHandler] = weakref.WeakSet()

F = TypeVar("F", bound=Callable[..., Any])
LabelValue = Union[str, int, float, bool]


def _check(name: str, value: float, kind: str, labels: Dict[str, LabelValue]) -> float:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"metric name must match [a-zA-Z_:][a-zA-Z0-9_:]* (at most 128 chars), not {name!r}")
    if kind not in KINDS:
        raise ValueError(f"metric kind must be 'counter', 'gauge' or 'histogram', not {kind!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"metric value must be a number, not {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"metric value must be finite, not {value!r}")
    if kind == "counter" and v < 0:
        raise ValueError(f"a counter only goes up: {value!r} is negative")
    if len(labels) > MAX_LABELS:
        raise ValueError(f"a metric takes at most {MAX_LABELS} labels, not {len(labels)}")
    for k, lv in labels.items():
        if not _LABEL.match(k) or k.startswith("__") or k in ("le", "quantile"):
            raise ValueError(
                f"label name must match [a-zA-Z_][a-zA-Z0-9_]* (not le, quantile, __*), not {k!r}"
            )
        if not isinstance(lv, (str, int, float, bool)):
            raise TypeError(f"label {k!r} must be a string, number or bool, not {lv!r}")
        if isinstance(lv, str) and len(lv.encode()) > MAX_LABEL_VALUE:
            raise ValueError(f"label {k!r} is longer than {MAX_LABEL_VALUE} bytes")
    return v


def metric(name: str, value: float = 1.0, *, kind: str = "gauge", **labels: LabelValue) -> None:
    """Sends one sample of metric `name` to distlogd as a kind `P` record.

    `kind` says what distlogd makes of the name, fixed by its first sample:
    `"gauge"` (the default; the last value wins), `"counter"` (values are
    added; not negative) or `"histogram"` (values are observed into buckets,
    seconds for durations). `labels` become the series' labels, with `host`
    added. Raises ValueError or TypeError for a bad name, value or label, so
    mistakes show where they are made; sending itself never raises."""
    v = _check(name, value, kind, labels)
    if not handlers:
        return
    fields = {
        "metric": name,
        "metric_kind": kind,
        "metric_value": v,
        "metric_labels": {
            k: (lv if isinstance(lv, str) else str(lv).lower() if isinstance(lv, bool) else lv)
            for k, lv in labels.items()
        },
    }
    frame = sys._getframe(1)
    logger = logging.getLogger("distlog.metric")
    record = logger.makeRecord(
        logger.name,
        logging.INFO,
        frame.f_code.co_filename,
        frame.f_lineno,
        "%s %s=%s",
        (kind, name, v),
        None,
        frame.f_code.co_name,
        fields,
    )
    for handler in list(handlers):
        handler.emit_metric(record)


class timed:
    """Times a block or a function and sends its duration, in seconds, as a
    histogram sample of `name` (`metric(name, seconds, kind="histogram")`).
    A block that raises is timed too, with the label `outcome="error"`
    (else `outcome="ok"`).

        with distlog.timed("db_query_seconds", table="users"):
            ...

        @distlog.timed("handle_seconds")
        def handle(request): ...
    """

    def __init__(self, name: str, **labels: LabelValue) -> None:
        _check(name, 0.0, "histogram", {**labels, "outcome": "ok"})
        self.name = name
        self.labels = labels
        self._started: list[float] = []

    def __enter__(self) -> timed:
        self._started.append(time.perf_counter())
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        elapsed = time.perf_counter() - self._started.pop()
        outcome = "ok" if exc_type is None else "error"
        try:
            metric(self.name, elapsed, kind="histogram", outcome=outcome, **self.labels)
        except Exception:  # never turn a timing into the program's error
            if logging.raiseExceptions:
                sys.stderr.write("distlog: could not send a timing\n")

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*a: Any, **kw: Any) -> Any:
                with timed(self.name, **self.labels):
                    return await func(*a, **kw)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*a: Any, **kw: Any) -> Any:
            with timed(self.name, **self.labels):
                return func(*a, **kw)

        return run  # type: ignore[return-value]
