"""What a record carries: its scope from the moment it is created, context
values as they were at the call, and a pickle formatter's loadable output."""

from __future__ import annotations

import io
import logging
import pickle

import pytest

import distlog
from distlog.testing import Receiver, capture


def stream_handler(fmt: str) -> tuple[logging.StreamHandler[io.StringIO], io.StringIO]:
    out = io.StringIO()
    h = logging.StreamHandler(out)
    h.setFormatter(logging.Formatter(fmt))
    return h, out


def test_a_stream_handler_listed_before_the_zmq_handler_formats_the_context(receiver: Receiver) -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    text, out = stream_handler("%(context)s|%(message)s")
    root.addHandler(text)
    root.addHandler(distlog.ZmqHandler(receiver.endpoint))
    with distlog.task("job", user="leo") as job:
        root.info("hello")
    root.info("outside")
    lines = out.getvalue().splitlines()
    assert lines == [
        f"{{'user': 'leo', 'key': '0@{job.id}'}}|job",
        f"{{'user': 'leo', 'key': '1@{job.id}'}}|hello",
        f"{{'user': 'leo', 'key': '2@{job.id}'}}|job",
        "None|outside",
    ]
    # The distlog handler sends the same keys the stream handler printed.
    sent = [b["context"]["key"] if b["context"] else None for b in receiver.records(4)]
    assert sent == [f"0@{job.id}", f"1@{job.id}", f"2@{job.id}", None]


def test_a_stream_handler_on_a_child_logger_formats_the_context() -> None:
    child = logging.getLogger("app.child")
    text, out = stream_handler("%(context)s %(message)s")
    child.addHandler(text)
    child.setLevel(logging.INFO)
    try:
        with distlog.task("job") as job:
            child.info("from the child")
    finally:
        child.removeHandler(text)
        child.setLevel(logging.NOTSET)
    assert out.getvalue() == f"{{'key': '1@{job.id}'}} from the child\n"


def test_the_record_factory_chains_to_the_one_it_found() -> None:
    # A factory set after distlog's import, chaining to it, as well behaved
    # libraries do; and distlog's own, chaining to the one before it.
    previous = logging.getLogRecordFactory()

    def tagging(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.tag = "mine"
        return record

    logging.setLogRecordFactory(tagging)
    try:
        with capture() as records, distlog.task("job") as job:
            logging.getLogger().info("tagged")
    finally:
        logging.setLogRecordFactory(previous)
    assert [(r["tag"], r["context"]["key"]) for r in records] == [
        ("mine", f"0@{job.id}"),
        ("mine", f"1@{job.id}"),
        ("mine", f"2@{job.id}"),
    ]


def test_context_values_are_the_ones_at_the_call_not_later(receiver: Receiver) -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handler = distlog.ZmqHandler(receiver.endpoint)
    root.addHandler(handler)
    order = {"items": ["book"], "total": 10}
    tags = ["new"]
    with distlog.task("checkout", order=order) as job:
        job.bind(tags=tags)
        root.info("logged")
        # The sender thread encodes later; these changes must not reach
        # the records already logged.
        order["items"].append("pen")
        order["total"] = 99
        tags.append("changed")
    handler.close()
    bodies = receiver.records(3)
    assert [b["context"]["order"] for b in bodies] == [{"items": ["book"], "total": 10}] * 3
    assert bodies[1]["context"]["tags"] == ["new"]


def test_the_pickle_formatters_format_is_a_loadable_pickle_of_what_the_handler_sends(
    receiver: Receiver,
) -> None:
    handler = distlog.ZmqHandler(receiver.endpoint)
    handler.setFormatter(distlog.PickleFormatter())
    record = logging.getLogger("app").makeRecord("app", logging.INFO, "f.py", 3, "n=%d", (7,), None)
    formatted = handler.formatter.format(record)
    handler.handle(record)
    handler.close()
    assert isinstance(formatted, bytes)
    body = pickle.loads(formatted)
    assert (body["message"], body["msg"], body["args"]) == ("n=7", "n=7", None)
    [(topic, sent)] = receiver.receive(1)
    assert topic == b"PLP" and sent == body


@pytest.mark.parametrize("formatter", [distlog.JSONFormatter, distlog.PickleFormatter])
def test_the_handler_sends_what_the_formatters_encode(formatter: type) -> None:
    # format() is not on the handler's path: it sends encode()'s bytes.
    with Receiver() as raw:
        handler = distlog.ZmqHandler(raw.endpoint)
        handler.setFormatter(formatter())
        record = logging.makeLogRecord({"msg": "x", "context": None, "created": 1.5, "msecs": 500.0})
        handler.handle(record)
        handler.close()
        sock = raw._sock
        assert sock.poll(30_000)
        _, wire = sock.recv_multipart()
    assert wire == formatter().encode(record)
