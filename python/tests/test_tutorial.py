"""The tutorial's example, run verbatim, puts exactly its records on the wire."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT, run_script
from distlog.testing import Receiver

TUTORIAL_FIELDS = {
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
    "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread",
    "threadName", "processName", "process", "message", "asctime", "hostname", "context",
}  # fmt: skip


@pytest.mark.parametrize(("formatter", "encoding"), [("JSONFormatter", b"J"), ("PickleFormatter", b"P")])
def test_the_tutorial_sends_seven_records_with_the_keys_it_shows(
    receiver: Receiver, tmp_path: Path, formatter: str, encoding: bytes
) -> None:
    source = (ROOT / "examples" / "tutorial.py").read_text()
    source = source.replace("tcp://localhost:5010", receiver.endpoint)
    source = source.replace("distlog.JSONFormatter()", f"distlog.{formatter}()")
    out = run_script(tmp_path, source, name="example.py")
    assert out.stdout == "into task\ninto subtask\nall done\n"

    got = receiver.receive(7, timeout=30)
    assert len(got) == 7, got
    assert receiver.receive(1, timeout=0.5) == [], "exactly seven records"
    assert {topic for topic, _ in got} == {b"PL" + encoding}
    records = [body for _, body in got]
    u = records[0]["context"]["key"].split("@", 1)[1]
    expected = [
        ("toplevel", f"0@{u}", {"user": "leo"}, "open"),
        ("into task", f"1@{u}", {"user": "leo"}, None),
        ("subtask", f"0@{u}/1", {"arg": 42}, "open"),
        ("into task", f"1@{u}/1", {"arg": 42}, None),
        ("subtask done", f"2@{u}/1", {"arg": 42}, "close"),
        ("toplevel", f"2@{u}", {"user": "leo"}, "close"),
        ("all done", None, None, None),
    ]
    for record, (message, key, context, event) in zip(records, expected):
        assert set(record) >= TUTORIAL_FIELDS, TUTORIAL_FIELDS - set(record)
        assert record["message"] == record["msg"] == message
        assert record["args"] is None and record["exc_info"] is None
        assert (record["name"], record["levelname"], record["levelno"]) == ("root", "INFO", 20)
        if key is None:
            assert record["context"] is None
        else:
            assert record["context"] == {**context, "key": key}
        assert record.get("scope_event") == event
        assert (record["filename"], record["module"], record["funcName"]) == ("example.py", "example", "main")
    # Scope records point at the `with` lines, never at distlog itself.
    assert [r["lineno"] for r in records] == [11, 13, 14, 16, 14, 11, 19]
    assert all("distlog" not in r["pathname"] for r in records)
    assert records[4]["scope_duration"] >= 0 and records[5]["scope_duration"] >= records[4]["scope_duration"]
