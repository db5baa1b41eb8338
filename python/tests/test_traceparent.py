"""W3C traceparent bridging: parsing, the id mapping, and the records."""

from __future__ import annotations

import hashlib
import logging

import pytest

import distlog
from distlog._trace import parse_traceparent, span_id, trace_id
from distlog.testing import capture

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_uuid_root_is_its_own_trace_id_and_others_are_hashed() -> None:
    u = "e252a11f-d33d-483d-ba08-bc8f642b2f10"
    assert trace_id(u) == "e252a11fd33d483dba08bc8f642b2f10"
    assert trace_id(u + ".00f067aa0ba902b7") == "e252a11fd33d483dba08bc8f642b2f10"
    assert trace_id("job-17") == hashlib.sha256(b"job-17").hexdigest()[:32]
    assert trace_id(u + "x") == hashlib.sha256((u + "x").encode()).hexdigest()[:32]
    assert trace_id("00000000-0000-0000-0000-000000000000") != "0" * 32
    assert span_id(f"{u}/1") == hashlib.sha256(f"{u}/1".encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        CALLER + "-extra",  # version 00 has exactly four fields
    ],
)
def test_invalid_headers_are_ignored(header: str | None) -> None:
    assert parse_traceparent(header) is None
    with capture() as records, distlog.from_traceparent(header, "handle") as t:
        pass
    assert "." not in t.id  # a plain root task
    assert all("parent_span_id" not in r for r in records)


def test_a_later_version_may_add_fields() -> None:
    p = parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more")
    assert p is not None and p.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_task_from_a_traceparent_joins_the_callers_trace() -> None:
    log = logging.getLogger("app")
    with capture() as records:
        with distlog.from_traceparent(CALLER, "handle", user="leo") as t:
            log.info("inside")
            with distlog.to("step") as step:
                out = step.traceparent()
        with distlog.from_traceparent(CALLER, "handle again") as again:
            pass
    assert t.id.startswith("4bf92f35-77b3-4da6-a3ce-929d0e0e4736.")
    assert again.id != t.id, "two tasks in one trace are two trees"
    assert trace_id(t.id) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert out == f"00-4bf92f3577b34da6a3ce929d0e0e4736-{span_id(t.id + '/1')}-01"
    assert parse_traceparent(out) is not None
    events = {(r["message"], r.get("scope_event")): r for r in records}
    assert events[("handle", "open")]["parent_span_id"] == "00f067aa0ba902b7"
    assert events[("handle", "close")]["parent_span_id"] == "00f067aa0ba902b7"
    assert "parent_span_id" not in events[("inside", None)]
    assert "parent_span_id" not in events[("step", "open")]
    assert events[("inside", None)]["context"] == {"key": f"1@{t.id}", "user": "leo"}


def test_traceparent_of_a_plain_task() -> None:
    with distlog.task("job") as job:
        header = job.traceparent()
    assert header == f"00-{job.id.replace('-', '')}-{span_id(job.id)}-01"
    with pytest.raises(RuntimeError):
        distlog.task("not entered").traceparent()
