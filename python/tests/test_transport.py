"""The handler on real sockets: never blocking, dropping and reporting,
surviving restarts and forks, configurable by dictConfig."""

from __future__ import annotations

import datetime
import logging
import logging.config
import logging.handlers
import os
import queue
import sys
from pathlib import Path

import pytest
import zmq

import distlog
from conftest import run_script
from distlog.testing import Receiver


def handler_for(receiver: Receiver, **kw: object) -> distlog.ZmqHandler:
    h = distlog.ZmqHandler(receiver.endpoint, **kw)  # type: ignore[arg-type]
    logging.getLogger().addHandler(h)
    logging.getLogger().setLevel(logging.INFO)
    return h


def test_with_no_daemon_logging_returns_and_exit_waits_only_the_linger(tmp_path: Path) -> None:
    # Port 9 (discard) has no ZeroMQ peer: nothing will ever be received.
    out = run_script(
        tmp_path,
        """
        import logging, time
        import distlog
        logger = logging.getLogger()
        handler = distlog.ZmqHandler('tcp://127.0.0.1:9', linger=0.5)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        with distlog.task('burst'):
            for i in range(100_000):
                logger.info('record %d', i)
        print(handler.dropped)
        """,
    )
    # The subprocess finished inside the hang guard; all but the queue's
    # worth (10,000) were dropped and counted.
    assert int(out.stdout) == 100_000 - 10_000 + 2


def test_a_tight_loop_is_slowed_to_what_the_daemon_takes_not_dropped(receiver: Receiver) -> None:
    # The logging thread holds the GIL 5 ms at a time; with no wait for
    # room, the sender thread starved and most of these were dropped.
    handler = handler_for(receiver, queue_size=100)
    with distlog.task("burst"):
        for i in range(5_000):
            logging.getLogger().info("record %d", i)
    handler.close()
    got = receiver.records(5_002, timeout=60)
    assert handler.dropped == 0
    assert len(got) == 5_002
    assert [b["message"] for b in got[1:-1]] == [f"record {i}" for i in range(5_000)]


def test_max_wait_zero_never_waits_and_drops_instead(receiver: Receiver) -> None:
    handler = handler_for(receiver, queue_size=10, max_wait=0)
    for i in range(2_000):
        logging.getLogger().info("record %d", i)
    handler.close()
    dropped = handler.dropped
    assert dropped > 0
    # Every record that was kept arrives, and drop reports account for the rest.
    got = receiver.records(2_000 - dropped, timeout=30) + receiver.records(2_000, timeout=0.5)
    kept = [b for b in got if b["message"].startswith("record")]
    reports = [b for b in got if b.get("dropped_records")]
    assert len(kept) == 2_000 - dropped
    assert sum(b["dropped_records"] for b in reports) == dropped


def test_drops_are_counted_and_reported_once_the_daemon_is_back(tmp_path: Path) -> None:
    ctx = zmq.Context()
    probe = ctx.socket(zmq.PULL)
    probe.bind("tcp://127.0.0.1:*")
    endpoint = probe.getsockopt_string(zmq.LAST_ENDPOINT)
    probe.close()  # nobody listens there now
    # Once terminated, libzmq has closed the listening socket: before, a
    # connection could still reach it and take records (dropped was 0 in
    # one run of 5).
    ctx.term()
    handler = distlog.ZmqHandler(endpoint, queue_size=10)
    logger = logging.getLogger("drops")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        for i in range(50):
            logger.info("early %d", i)
        assert handler.dropped == 40
        with Receiver(endpoint) as daemon:
            bodies = daemon.records(11, timeout=30)
            reports = [b for b in bodies if b.get("dropped_records")]
            assert reports and reports[0]["dropped_records"] == 40
            assert reports[0]["name"] == "distlog" and reports[0]["levelname"] == "WARNING"
            assert sum(1 for b in bodies if b["message"].startswith("early")) == 10
    finally:
        logger.removeHandler(handler)
        handler.close(linger=0)


def test_a_restarted_daemon_keeps_receiving(receiver: Receiver) -> None:
    endpoint = receiver.endpoint
    handler = handler_for(receiver)
    logging.getLogger().info("before")
    assert [b["message"] for b in receiver.records(1)] == ["before"]
    receiver.close()
    with Receiver(endpoint) as again:
        # What was in flight when the daemon went away may be lost (ZeroMQ
        # has no acknowledgements); what is logged after comes through.
        got: list[str] = []
        for i in range(100):
            logging.getLogger().info("after %d", i)
            got = [b["message"] for b in again.records(1, timeout=0.2)]
            if got:
                break
        assert got and got[0].startswith("after")
    handler.close(linger=0)


def test_a_forked_child_logs_through_its_own_socket(receiver: Receiver) -> None:
    handler = handler_for(receiver)
    log = logging.getLogger()
    log.info("parent before fork")
    pid = os.fork()
    if pid == 0:  # the child
        try:
            log.info("from child")
            handler.close(linger=5)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    log.info("parent after fork")
    got = [b["message"] for b in receiver.records(3, timeout=30)]
    assert sorted(got) == ["from child", "parent after fork", "parent before fork"]
    assert receiver.records(1, timeout=0.5) == [], "nothing sent twice"
    handler.close()


def test_a_forked_child_neither_counts_nor_reports_the_parents_drops() -> None:
    ctx = zmq.Context()
    probe = ctx.socket(zmq.PULL)
    probe.bind("tcp://127.0.0.1:*")
    endpoint = probe.getsockopt_string(zmq.LAST_ENDPOINT)
    probe.close()  # nobody listens there yet: the parent drops
    # Terminating waits for libzmq to close the listening socket, which
    # the child would otherwise inherit, keeping the port taken.
    ctx.term()
    handler = distlog.ZmqHandler(endpoint, queue_size=10, max_wait=0)
    logger = logging.getLogger("forked-drops")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        for i in range(50):
            logger.info("parent %d", i)
        assert handler.dropped == 40
        pid = os.fork()
        if pid == 0:  # the child
            code = 99
            try:
                code = handler.dropped
                logger.info("from child")
                handler.close(linger=30)
            finally:
                os._exit(code)
        with Receiver(endpoint) as daemon:
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, "the child's count starts at 0"
            bodies = daemon.records(12, timeout=30) + daemon.records(1, timeout=0.5)
    finally:
        logger.removeHandler(handler)
        handler.close(linger=0)
    reports = [(b["process"], b["dropped_records"]) for b in bodies if b.get("dropped_records")]
    assert reports == [(os.getpid(), 40)], "only the parent reports its drops"
    assert sum(1 for b in bodies if b["message"] == "from child") == 1


class SpySocket(zmq.Socket):  # type: ignore[type-arg]
    """A real PUSH socket that notes which processes call it."""

    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.__dict__["callers"] = set()

    def _note(self) -> None:
        self.__dict__["callers"].add(os.getpid())

    # pyzmq's getsockopt*, setsockopt* and get_string all end in these.
    def get(self, *a: object, **kw: object) -> object:
        self._note()
        return super().get(*a, **kw)  # type: ignore[arg-type]

    def set(self, *a: object, **kw: object) -> None:
        self._note()
        super().set(*a, **kw)  # type: ignore[arg-type]

    getsockopt = get
    setsockopt = set

    def send(self, *a: object, **kw: object) -> object:
        self._note()
        return super().send(*a, **kw)  # type: ignore[arg-type]

    def close(self, *a: object, **kw: object) -> None:
        self._note()
        super().close(*a, **kw)  # type: ignore[arg-type]


def test_a_forked_child_never_touches_the_parents_socket(receiver: Receiver) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH, socket_class=SpySocket)
    sock.connect(receiver.endpoint)
    handler = distlog.ZmqHandler(sock)
    logger = logging.getLogger("forked-socket")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        logger.info("parent before fork")
        assert [b["message"] for b in receiver.records(1)] == ["parent before fork"]
        pid = os.fork()
        if pid == 0:  # the child
            code = 99
            try:
                logger.info("from child")
                handler.close(linger=30)
                code = 1 if os.getpid() in sock.callers else 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the child called the parent's socket"
        logger.info("parent after fork")
        got = receiver.records(2, timeout=30)
    finally:
        logger.removeHandler(handler)
        handler.close()
        sock.close()
        ctx.term()
    assert sorted((b["message"], b["process"] == os.getpid()) for b in got) == [
        ("from child", False),
        ("parent after fork", True),
    ]


def test_import_task_continues_a_task_in_another_process(receiver: Receiver, tmp_path: Path) -> None:
    handler = handler_for(receiver)
    with distlog.task("request") as job:
        foreign = job.get_foreign_task()
        run_script(
            tmp_path,
            f"""
            import logging, sys
            import distlog
            logger = logging.getLogger()
            logger.addHandler(distlog.ZmqHandler({receiver.endpoint!r}))
            logger.setLevel(logging.INFO)
            with distlog.import_task(sys.argv[1], 'remote', side='child'):
                logger.info('remote work')
            """,
            foreign,
        )
    handler.close()
    records = receiver.records(5)
    by_key = {b["context"]["key"]: b for b in records}
    assert by_key[f"0@{foreign}"]["message"] == "remote"
    assert by_key[f"1@{foreign}"]["message"] == "remote work"
    assert by_key[f"0@{foreign}"]["process"] != os.getpid()
    assert foreign == f"{job.id}/1"


def test_values_json_cannot_hold_arrive_as_text_and_text_arrives_intact(receiver: Receiver) -> None:
    handler = handler_for(receiver)
    when = datetime.datetime(2026, 11, 24, 1, 2, 3)
    with distlog.task("odd", when=when, obj=object(), pair={(1, 2): "tuple key"}, raw=b"\x00"):
        logging.getLogger().info("naïve — ünïcode\nsecond line ✓")
    handler.close()
    opening, record = receiver.records(2)[:2]
    ctx = opening["context"]
    assert ctx["when"] == "2026-11-24T01:02:03"
    assert ctx["obj"].startswith("<object object")
    assert record["message"] == "naïve — ünïcode\nsecond line ✓"


def test_pickle_bodies_hold_only_plain_data(receiver: Receiver) -> None:
    handler = handler_for(receiver)
    handler.setFormatter(distlog.PickleFormatter())
    with distlog.task("p", when=datetime.date(2026, 1, 2), tags={"a"}):
        logging.getLogger().info("x")
    handler.close()
    topic, body = receiver.receive(1)[0]
    assert topic == b"PLP"
    assert body["context"]["when"] == "2026-01-02" and body["context"]["tags"] == ["a"]


def test_the_handler_refuses_other_formatters_and_systems() -> None:
    h = distlog.ZmqHandler("tcp://127.0.0.1:9")
    with pytest.raises(TypeError, match="JSONFormatter"):
        h.setFormatter(logging.Formatter())
    with pytest.raises(ValueError, match="system"):
        distlog.ZmqHandler("tcp://127.0.0.1:9", system="X")
    h.close(linger=0)


def test_dictconfig_sets_up_the_handler(receiver: Receiver) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "incremental": False,
            "disable_existing_loggers": False,
            "formatters": {"pickle": {"()": "distlog.PickleFormatter", "protocol": 4}},
            "handlers": {
                "distlog": {
                    "class": "distlog.ZmqHandler",
                    "endpoint": receiver.endpoint,
                    "system": "S",
                    "formatter": "pickle",
                }
            },
            "root": {"level": "INFO", "handlers": ["distlog"]},
        }
    )
    logging.getLogger("configured").info("via dictConfig")
    topic, body = receiver.receive(1)[0]
    assert (topic, body["message"], body["name"]) == (b"SLP", "via dictConfig", "configured")


def test_other_handlers_and_the_logger_class_are_untouched(receiver: Receiver) -> None:
    assert logging.getLoggerClass() is logging.Logger
    assert type(logging.getLogger()) is logging.RootLogger
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler_for(receiver)
    logging.getLogger().addHandler(Keep())

    def helper() -> None:
        logging.getLogger().info("from helper", stacklevel=2)

    with distlog.task("t"):
        helper()
    assert [r.getMessage() for r in seen] == ["t", "from helper", "t"]
    assert seen[1].funcName == sys._getframe().f_code.co_name, "stacklevel still works"
    bodies = receiver.records(3)
    assert bodies[1]["funcName"] == seen[1].funcName


def test_a_scope_filter_carries_the_scope_through_a_queue_listener(receiver: Receiver) -> None:
    q: queue.Queue[logging.LogRecord] = queue.Queue()
    queued = logging.handlers.QueueHandler(q)
    queued.addFilter(distlog.ScopeFilter())
    handler = distlog.ZmqHandler(receiver.endpoint)
    listener = logging.handlers.QueueListener(q, handler)
    logger = logging.getLogger()
    logger.setLevel(logging.INFO)
    logger.addHandler(queued)
    listener.start()
    try:
        with distlog.task("job", user="leo") as job:
            logger.info("through the queue")
        logger.info("after the task")
    finally:
        listener.stop()
        logger.removeHandler(queued)
        handler.close()
    got = [(b["message"], b["context"]) for b in receiver.records(4)]
    # The listener's thread is in no scope; the records keep the caller's.
    ctx = {"user": "leo"}
    assert got == [
        ("job", {**ctx, "key": f"0@{job.id}"}),
        ("through the queue", {**ctx, "key": f"1@{job.id}"}),
        ("job", {**ctx, "key": f"2@{job.id}"}),
        ("after the task", None),
    ]
