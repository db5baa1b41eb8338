"""The Python client, distlogd and the distlog CLI together, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conftest import BIN_DIR, PATIENCE, Daemon, run_python, tutorial_source


def records_of(scope: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(key, message, event) of a scope's own records, in tree order."""
    return [(e["key"], e["message"], e["event"]) for e in scope["entries"] if e["type"] == "record"]


def subscopes(scope: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in scope["entries"] if e["type"] == "scope"]


@pytest.mark.parametrize("formatter", ["JSONFormatter", "PickleFormatter"])
def test_the_tutorial_run_verbatim_shows_as_one_tree(daemon: Daemon, tmp_path: Path, formatter: str) -> None:
    out = run_python(tmp_path, "example.py", tutorial_source(daemon.intake, formatter))
    assert out.stdout == "into task\ninto subtask\nall done\n"
    stats = daemon.wait_stored(7)
    assert stats["rejected"]["total"] == 0

    tasks = daemon.cli_json("tasks")["tasks"]
    assert len(tasks) == 1
    task = tasks[0]
    assert (task["message"], task["status"], task["records"]) == ("toplevel", "succeeded", 6)
    u = task["root"]
    # The root's context is the task's, to filter by.
    assert task["context"] == {"user": "leo"}
    assert [t["root"] for t in daemon.cli_json("tasks", "--context", "user=leo")["tasks"]] == [u]
    assert daemon.cli_json("tasks", "--context", "user=bob")["tasks"] == []
    [row] = daemon.cli("tasks").stdout.splitlines()[1:]
    assert row.endswith("toplevel  user=leo"), row
    bad = daemon.cli("tasks", "--context", "user", check=False)
    assert bad.returncode != 0 and "FIELD=VALUE" in bad.stderr

    tree = daemon.cli_json("tree", u)
    top = tree["scope"]
    assert (top["message"], top["status"], top["context"]) == ("toplevel", "succeeded", {"user": "leo"})
    assert records_of(top) == [
        (f"0@{u}", "toplevel", "open"),
        (f"1@{u}", "into task", None),
        (f"2@{u}", "toplevel", "close"),
    ]
    [sub] = subscopes(top)
    assert (sub["id"], sub["message"], sub["status"]) == (f"{u}/1", "subtask", "succeeded")
    assert sub["context"] == {"arg": 42}
    assert records_of(sub) == [
        (f"0@{u}/1", "subtask", "open"),
        (f"1@{u}/1", "into task", None),
        (f"2@{u}/1", "subtask done", "close"),
    ]
    # The subtask sits between "into task" and the closing record.
    kinds = [e["type"] for e in top["entries"]]
    assert kinds == ["record", "record", "scope", "record"]

    # The seventh record is outside any scope: stored, with a null context.
    [last] = daemon.cli_json("search", "all done")["records"]
    assert last["key"] is None
    full = daemon.cli_json("show", str(last["id"]))
    assert full["body"]["context"] is None
    assert full["body"]["filename"] == "example.py"
    assert full["body"]["funcName"] == "main"


def test_the_human_tree_nests_the_subtask_under_the_task(daemon: Daemon, tmp_path: Path) -> None:
    run_python(tmp_path, "example.py", tutorial_source(daemon.intake))
    daemon.wait_stored(7)
    lines = daemon.cli("tree", "--last").stdout.splitlines()
    assert lines[0].startswith("toplevel  ✓ succeeded")
    assert "user=leo" in lines[0]
    assert "\x1b[" not in "".join(lines), "no colour when not a terminal"
    sub = next(i for i, line in enumerate(lines) if "subtask  ✓ succeeded" in line)
    assert lines[sub].startswith("├─ ") and "arg=42" in lines[sub]
    assert lines[sub + 1].startswith("│  ├─ ") and "into task" in lines[sub + 1]
    assert lines[sub + 2].startswith("│  └─ ") and "✓ subtask done" in lines[sub + 2]
    assert lines[-1].startswith("└─ ") and "✓ toplevel" in lines[-1]


def client_script(daemon: Daemon, body: str) -> str:
    """A Python program that logs to `daemon` through distlog, then runs `body`."""
    preamble = f"""
        import logging, subprocess, sys
        import distlog
        logger = logging.getLogger()
        handler = distlog.ZmqHandler({daemon.intake!r})
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    """
    return textwrap.dedent(preamble) + textwrap.dedent(body)


def test_a_task_continued_in_another_process_lands_in_one_tree(daemon: Daemon, tmp_path: Path) -> None:
    child = client_script(
        daemon,
        """
        with distlog.import_task(sys.argv[1], 'remote part', side='child'):
            logger.info('working remotely')
        """,
    )
    (tmp_path / "child.py").write_text(child)
    parent = client_script(
        daemon,
        """
        with distlog.task('request', side='parent') as job:
            foreign = job.get_foreign_task()
            subprocess.run([sys.executable, 'child.py', foreign], check=True, timeout=60)
            logger.info('child finished')
        """,
    )
    run_python(tmp_path, "parent.py", parent)
    daemon.wait_stored(6)
    tree = daemon.cli_json("tree", "--last")
    top = tree["scope"]
    u = tree["root"]
    [remote] = subscopes(top)
    assert remote["id"] == f"{u}/1"
    assert remote["foreign"] is True
    assert remote["process"] != top["process"]
    assert records_of(remote) == [
        (f"0@{u}/1", "remote part", "open"),
        (f"1@{u}/1", "working remotely", None),
        (f"2@{u}/1", "remote part", "close"),
    ]
    assert [r[1] for r in records_of(top)] == ["request", "child finished", "request"]


def test_a_failing_task_shows_its_failure_with_the_traceback(daemon: Daemon, tmp_path: Path) -> None:
    script = client_script(
        daemon,
        """
        try:
            with distlog.task('payment', order=7):
                with distlog.to('charge card'):
                    raise ValueError('card declined')
        except ValueError:
            pass
        """,
    )
    run_python(tmp_path, "fail.py", script)
    daemon.wait_stored(4)
    [task] = daemon.cli_json("tasks", "--status", "failed")["tasks"]
    assert task["failures"] == 2
    human = daemon.cli("tree", task["root"]).stdout
    assert "charge card  ✗ failed" in human
    assert "ValueError: card declined" in human


@pytest.mark.parametrize("formatter", ["JSONFormatter", "PickleFormatter"])
def test_values_python_allows_but_json_does_not_still_reach_the_store(
    daemon: Daemon, tmp_path: Path, formatter: str
) -> None:
    # NaN and infinities (not JSON), a lone surrogate (not UTF-8), a list
    # that holds itself, tuple keys and a repr that raises: each once lost
    # its record or had the daemon refuse it.
    script = client_script(
        daemon,
        f"""
        handler.setFormatter(distlog.{formatter}())
        class Broken:
            def __repr__(self):
                raise RuntimeError('no repr')
        loop = []
        loop.append(loop)
        with distlog.task('odd values', ratio=float('nan'), worst=float('-inf'), pair={{(1, 2): 'x'}}):
            logger.info('odd %s', Broken(), extra={{'loop': loop, 'lone': 'a\\udc80b', 'big': 2**70}})
        """,
    )
    run_python(tmp_path, "odd.py", script)
    stats = daemon.wait_stored(3)
    assert stats["rejected"]["total"] == 0, stats["rejected"]
    [task] = daemon.cli_json("tasks")["tasks"]
    assert task["status"] == "succeeded"
    [record] = daemon.cli_json("search", "could not format")["records"]
    assert record["message"].startswith("'odd %s' [distlog: could not format"), record["message"]
    shown = daemon.cli_json("show", record["key"])
    # JSON sends "?" for the surrogate; a pickle carries it and distlogd
    # reads its bytes as U+FFFD.
    assert shown["body"]["lone"] in ("a?b", "a\ufffd\ufffd\ufffdb")
    # Integers past 64 bits come back as the nearest float (the API's JSON
    # numbers are doubles); the stored body keeps every digit.
    assert float(shown["body"]["big"]) == float(2**70)


def test_tail_into_a_closed_pipe_ends_quietly(daemon: Daemon, tmp_path: Path) -> None:
    run_python(tmp_path, "example.py", tutorial_source(daemon.intake))
    daemon.wait_stored(7)
    pipeline = subprocess.run(
        f"'{BIN_DIR / 'distlog'}' --server {daemon.server} tail -f -n 5 | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert pipeline.returncode == 0
    assert len(pipeline.stdout.splitlines()) == 1
    assert pipeline.stderr == ""


def test_the_cli_says_clearly_when_no_daemon_answers(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(BIN_DIR / "distlog"), "--server", "http://127.0.0.1:9", "tasks"],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert out.returncode == 1
    assert "cannot reach distlogd at http://127.0.0.1:9" in out.stderr
    assert "panicked" not in out.stderr


def test_tail_follows_the_live_feed_with_a_rule_filter(daemon: Daemon, tmp_path: Path) -> None:
    tail = subprocess.Popen(
        [
            str(BIN_DIR / "distlog"),
            "--server",
            daemon.server,
            "--json",
            "tail",
            "-f",
            "-n",
            "0",
            "level=WARNING context.user=leo",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        daemon.wait_for("the tail to subscribe", lambda s: any(k.get("subscribers") for k in s["sinks"]))
        script = client_script(
            daemon,
            """
            with distlog.task('checkout', user='leo'):
                logger.info('fine')
                logger.warning('slow payment')
            with distlog.task('checkout', user='ann'):
                logger.warning('slow payment')
            """,
        )
        run_python(tmp_path, "tailed.py", script)
        assert tail.stdout is not None
        line = tail.stdout.readline()
        record = json.loads(line)
        assert (record["message"], record["levelname"]) == ("slow payment", "WARNING")
        assert record["context"] == {"user": "leo"}
        daemon.wait_stored(7)
    finally:
        tail.terminate()
        out, err = tail.communicate(timeout=PATIENCE)
    assert out == "", f"only one record matches, got more: {out!r}"
    assert "panicked" not in err


def test_tail_finds_the_last_matching_records_however_far_back(daemon: Daemon, tmp_path: Path) -> None:
    # One record for ann, then 500 for others: the filter is applied while
    # the daemon reads the store, not to the newest few records only.
    script = client_script(
        daemon,
        """
        with distlog.task('checkout', user='ann'):
            logger.warning('card declined')
        for i in range(500):
            with distlog.task('browse', user='leo'):
                logger.info('page %d', i)
        """,
    )
    run_python(tmp_path, "many.py", script)
    daemon.wait_stored(3 + 500 * 3)
    out = daemon.cli("--json", "tail", "-n", "1", "context.user=ann level>=WARNING").stdout
    [record] = [json.loads(line) for line in out.splitlines()]
    assert (record["message"], record["context"]) == ("card declined", {"user": "ann"})
    bad = daemon.cli("tail", "-n", "1", "level>=LOUD", check=False)
    assert bad.returncode != 0 and "LOUD" in bad.stderr


RUST_EXAMPLE = BIN_DIR / "examples" / "tutorial"


@pytest.mark.skipif(not RUST_EXAMPLE.exists(), reason="cargo test builds the Rust client's example")
def test_one_tree_spans_a_python_and_a_rust_process_both_ways(daemon: Daemon, tmp_path: Path) -> None:
    # Python hands a subtask to Rust.
    parent = client_script(
        daemon,
        f"""
        with distlog.task('python request', lang='python') as job:
            foreign = job.get_foreign_task()
            subprocess.run([{str(RUST_EXAMPLE)!r}, '--endpoint', {daemon.intake!r}, '--import', foreign],
                           check=True, timeout=60)
            logger.info('rust finished')
        """,
    )
    run_python(tmp_path, "py_parent.py", parent)
    daemon.wait_stored(6)
    tree = daemon.cli_json("tree", "--last")
    u = tree["root"]
    [rust] = subscopes(tree["scope"])
    assert (rust["id"], rust["message"], rust["context"]) == (f"{u}/1", "rust part", {"lang": "rust"})
    assert rust["foreign"] is True and rust["status"] == "succeeded"
    assert records_of(rust) == [
        (f"0@{u}/1", "rust part", "open"),
        (f"1@{u}/1", "working in rust", None),
        (f"2@{u}/1", "rust part", "close"),
    ]

    # Rust hands a subtask to Python.
    (tmp_path / "py_child.py").write_text(
        client_script(
            daemon,
            """
            with distlog.import_task(sys.argv[-1], 'python part', lang='python'):
                logger.info('working in python')
            """,
        )
    )
    subprocess.run(
        [
            str(RUST_EXAMPLE),
            "--endpoint",
            daemon.intake,
            "--spawn",
            sys.executable,
            str(tmp_path / "py_child.py"),
        ],
        check=True,
        timeout=PATIENCE,
        capture_output=True,
    )
    daemon.wait_stored(12)
    tree = daemon.cli_json("tree", "--last")
    u = tree["root"]
    assert tree["scope"]["message"] == "rust request"
    [python] = subscopes(tree["scope"])
    assert (python["id"], python["message"], python["foreign"]) == (f"{u}/1", "python part", True)
    assert [r[1] for r in records_of(python)] == ["python part", "working in python", "python part"]
    *_, finished, closing = [r[1] for r in records_of(tree["scope"])]
    assert finished.startswith("child finished") and closing == "rust request"


@pytest.mark.skipif(not RUST_EXAMPLE.exists(), reason="cargo test builds the Rust client's example")
def test_a_rust_program_that_exits_right_after_logging_delivers_every_record(daemon: Daemon) -> None:
    # The flush guard's end terminates the sender's ZeroMQ context, which
    # is what waits for libzmq to write the last records out; the levels
    # subscriber once held a clone of that context, and about one short
    # run in ten lost its records. Thirty runs against the real daemon.
    runs = 30
    for _ in range(runs):
        subprocess.run(
            [str(RUST_EXAMPLE), "--endpoint", daemon.intake],
            env={**os.environ, "DISTLOG_CONTROL": daemon.control},
            check=True,
            capture_output=True,
            timeout=60,
        )
    daemon.wait_stored(7 * runs)
    assert daemon.cli_json("stats")["received"] == 7 * runs
