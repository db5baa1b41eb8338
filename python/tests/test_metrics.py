"""`distlog.metric` and `distlog.timed` on a real socket: kind `P` records
with the metric fields, and clear errors for bad samples."""

from __future__ import annotations

import logging
import math
from typing import Iterator

import pytest

import distlog
from distlog.testing import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_samples_are_kind_p_records_with_their_fields(receiver: Receiver) -> None:
    handler = distlog.ZmqHandler(receiver.endpoint, system="S")
    try:
        distlog.metric("jobs_done", 2, kind="counter", queue="fast", retry=True)
        with distlog.task("job"), distlog.timed("step_seconds", step="parse"):
            pass
        with pytest.raises(KeyError), distlog.timed("step_seconds", step="load"):
            raise KeyError("x")
        got = [(t, b) for t, b in receiver.receive(2)]
    finally:
        handler.close()
    (t1, counter), (t2, timing) = got
    assert (t1, t2) == (b"SPJ", b"SPJ")
    assert counter["metric"] == "jobs_done"
    assert counter["metric_kind"] == "counter"
    assert counter["metric_value"] == 2.0
    assert counter["metric_labels"] == {"queue": "fast", "retry": "true"}
    assert counter["name"] == "distlog.metric"
    assert counter["message"] == "counter jobs_done=2.0"
    assert timing["metric_kind"] == "histogram"
    assert timing["metric_labels"] == {"step": "parse", "outcome": "ok"}
    assert 0 <= timing["metric_value"] < 60
    # Inside a scope the sample carries the scope's context like any record.
    assert timing["context"]["key"].startswith("1@")


def test_the_error_outcome_is_labelled(receiver: Receiver) -> None:
    handler = distlog.ZmqHandler(receiver.endpoint)
    try:

        @distlog.timed("handle_seconds")
        def handle() -> None:
            raise ValueError("no")

        with pytest.raises(ValueError, match="no"):
            handle()
        [body] = receiver.records(1)
    finally:
        handler.close()
    assert body["metric_labels"] == {"outcome": "error"}


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: distlog.metric("9lives", 1), "metric name must match"),
        (lambda: distlog.metric("a b", 1), "metric name must match"),
        (lambda: distlog.metric("x", math.nan), "must be finite"),
        (lambda: distlog.metric("x", math.inf), "must be finite"),
        (lambda: distlog.metric("x", -1, kind="counter"), "only goes up"),
        (lambda: distlog.metric("x", 1, kind="summary"), "metric kind must be"),
        (lambda: distlog.metric("x", 1, **{f"l{i}": "v" for i in range(17)}), "at most 16 labels"),
        (lambda: distlog.metric("x", 1, le="1"), "label name must match"),
        (lambda: distlog.metric("x", 1, big="v" * 300), "longer than 256 bytes"),
        (lambda: distlog.timed("bad name"), "metric name must match"),
    ],
)
def test_bad_samples_raise_where_they_are_made(call: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        call()  # type: ignore[operator]


def test_without_a_handler_a_metric_is_a_no_op() -> None:
    logging.getLogger().handlers.clear()
    distlog.metric("jobs_done", 1, kind="counter")
