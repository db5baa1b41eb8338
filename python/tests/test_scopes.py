"""Scopes: nesting, threads, asyncio, failures, foreign tasks, decorators."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

import distlog
from distlog.testing import capture

log = logging.getLogger("app")


def keys(records: list[dict]) -> list[str | None]:
    return [r["context"]["key"] if r["context"] else None for r in records]


def test_a_subtask_does_not_advance_its_parents_sequence() -> None:
    with capture() as records, distlog.task("job", user="leo") as job:
        log.info("a")
        with distlog.to("step"):
            log.info("b")
        log.info("c")
    u = job.id
    assert keys(records) == [f"0@{u}", f"1@{u}", f"0@{u}/1", f"1@{u}/1", f"2@{u}/1", f"2@{u}", f"3@{u}"]
    assert [r["message"] for r in records] == ["job", "a", "step", "b", "step", "c", "job"]


def test_to_without_a_scope_starts_a_root_task_and_task_always_does() -> None:
    with capture() as records, distlog.to("alone") as a, distlog.task("independent") as b:
        pass
    assert "/" not in a.id and "/" not in b.id and a.id != b.id
    assert keys(records)[1] == f"0@{b.id}"


def test_bind_adds_fields_and_subtask_fields_replace_the_parents() -> None:
    with capture() as records, distlog.task("job", user="leo") as job:
        job.bind(order=7)
        log.info("bound")
        with distlog.to("step", arg=42):
            log.info("inner")
    assert records[1]["context"] == {"user": "leo", "order": 7, "key": f"1@{job.id}"}
    assert records[3]["context"] == {"arg": 42, "key": f"1@{job.id}/1"}


def test_an_exception_sends_a_failure_record_and_propagates_unchanged() -> None:
    err = ValueError("card declined")
    with capture() as records, pytest.raises(ValueError) as raised, distlog.task("pay"):
        raise err
    assert raised.value is err
    fail = records[-1]
    assert (fail["levelname"], fail["scope_event"], fail["message"]) == ("ERROR", "fail", "pay")
    assert "Traceback" in fail["exc_text"] and "ValueError: card declined" in fail["exc_text"]
    assert fail["exc_info"] is None


def test_threads_have_their_own_scopes_and_never_share_a_key() -> None:
    with capture() as records, distlog.task("parent") as parent:

        def work(n: int) -> None:
            # A new thread starts outside any scope...
            with distlog.to(f"thread {n}"):
                for _ in range(50):
                    log.info("tick")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    thread_roots = {k.split("@")[1].split("/")[0] for k in keys(records) if k and "thread" not in k}
    assert parent.id in thread_roots and len(thread_roots) == 9, "each thread opened its own root"
    all_keys = [k for k in keys(records) if k]
    assert len(all_keys) == len(set(all_keys))


def test_threads_logging_into_one_scope_get_distinct_keys() -> None:
    with capture() as records, distlog.task("shared") as job:
        scope_ctx = __import__("contextvars").copy_context()

        def work() -> None:
            for _ in range(200):
                scope_ctx.copy().run(log.info, "tick")

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    seqs = sorted(int(k.split("@")[0]) for k in keys(records) if k and k.endswith(job.id))
    assert seqs == list(range(len(seqs))) and len(seqs) == 802


def test_asyncio_tasks_nest_under_the_scope_they_were_created_in() -> None:
    async def child(n: int) -> None:
        with distlog.to(f"child {n}"):
            await asyncio.sleep(0)
            log.info(f"in child {n}")

    async def main() -> str:
        with distlog.task("request") as job:
            await asyncio.gather(child(1), child(2))
            return job.id

    with capture() as records:
        u = asyncio.run(main())
    by_message = {r["message"]: r["context"]["key"] for r in records if r["message"].startswith("in child")}
    slots = sorted(k.split("@")[1] for k in by_message.values())
    assert slots == [f"{u}/1", f"{u}/2"], "siblings, not nested in each other"


def test_get_foreign_task_reserves_the_next_child_slot() -> None:
    with capture() as records, distlog.task("job") as job:
        first = job.get_foreign_task()
        with distlog.to("local"):
            pass
        second = job.get_foreign_task()
    assert (first, second) == (f"{job.id}/1", f"{job.id}/3")
    assert records[1]["context"]["key"] == f"0@{job.id}/2"
    with capture() as records, distlog.import_task(first, "remote"):
        log.info("there")
    assert keys(records) == [f"0@{first}", f"1@{first}", f"2@{first}"]


def test_import_task_refuses_what_is_not_a_task_id() -> None:
    for bad in ["", "a b", "x@y", "u/0", "u/", None]:
        with pytest.raises(ValueError):
            distlog.import_task(bad, "m")  # type: ignore[arg-type]


def test_the_decorator_opens_a_scope_per_call_sync_and_async() -> None:
    @distlog.task("handle", kind="sync")
    def handle(x: int) -> int:
        log.info("handling")
        return x * 2

    @distlog.to("fetch")
    async def fetch() -> str:
        log.info("fetching")
        return "ok"

    with capture() as records:
        assert handle(2) == 4
        assert handle(3) == 6
        assert asyncio.run(fetch()) == "ok"
    roots = {k.split("@")[1] for k in keys(records) if k}
    assert len(roots) == 3
    opening = records[0]
    assert (opening["funcName"], opening["message"]) == ("handle", "handle")
    assert opening["context"]["kind"] == "sync"


def test_scope_records_respect_the_logger_level() -> None:
    root = logging.getLogger()
    with capture() as records:
        root.setLevel(logging.WARNING)
        with distlog.task("quiet"):
            log.warning("loud")
    assert [r["message"] for r in records] == ["loud"]
    # The filtered-out opening record still owns seq 0: distlogd takes a
    # seq-0 record for a scope's opening, and this one is a warning.
    assert records[0]["context"]["key"].startswith("1@")


def test_the_first_record_after_an_opening_is_seq_1_whichever_level_lets_through() -> None:
    root = logging.getLogger()
    for level in (logging.DEBUG, logging.WARNING, logging.CRITICAL):
        with capture() as records:
            root.setLevel(level)
            with distlog.task("quiet") as job, distlog.to("inner") as inner:
                log.critical("first")
        first = [r for r in records if r["message"] == "first"]
        assert [r["context"]["key"] for r in first] == [f"1@{inner.id}"], level
        opened = [r["context"]["key"] for r in records if r.get("scope_event") == "open"]
        assert opened == ([f"0@{job.id}", f"0@{inner.id}"] if level <= logging.INFO else [])


def test_import_task_as_a_decorator_continues_its_slot_on_the_first_call_only() -> None:
    with distlog.task("job") as job:
        slot = job.get_foreign_task()

    @distlog.import_task(slot, "remote")
    def work(n: int) -> int:
        log.info("work %d", n)
        return n

    with capture() as records:
        assert work(1) == 1
        with pytest.raises(RuntimeError, match=r"import_task\('.*'.*work.*once") as refused:
            work(2)
    assert "get_foreign_task()" in str(refused.value)
    assert keys(records) == [f"0@{slot}", f"1@{slot}", f"2@{slot}"], "the second call ran nothing"
    assert [r["message"] for r in records] == ["remote", "work 1", "remote"]
