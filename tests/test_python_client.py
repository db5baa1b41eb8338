"""The Python client's records as a user sees them in distlogd: scope fields
in any handler's format, the opening's seq kept when it is filtered out,
context values as they were when logged."""

from __future__ import annotations

import json
from pathlib import Path

from test_end_to_end import client_script, records_of

from conftest import Daemon, run_python


def only_task(daemon: Daemon) -> str:
    [task] = daemon.cli_json("tasks")["tasks"]
    return str(task["root"])


def test_a_stream_handler_with_the_context_in_its_format_works_on_any_logger(
    daemon: Daemon, tmp_path: Path
) -> None:
    script = client_script(
        daemon,
        """
        text = logging.StreamHandler(sys.stdout)
        text.setFormatter(logging.Formatter('%(context)s %(message)s'))
        logger.handlers.insert(0, text)          # before the distlog handler
        child = logging.getLogger('app.db')
        child.addHandler(logging.StreamHandler(sys.stdout))
        child.handlers[0].setFormatter(logging.Formatter('child %(context)s %(message)s'))
        child.propagate = False                  # only its own handler
        with distlog.task('job', user='leo') as job:
            logger.info('on the root')
            child.info('on a child logger')
        print('id', job.id)
        """,
    )
    out = run_python(tmp_path, "client.py", script)
    assert "Formatting field not found" not in out.stderr, out.stderr
    lines = out.stdout.splitlines()
    u = lines[-1].split()[1]
    assert lines[:-1] == [
        f"{{'user': 'leo', 'key': '0@{u}'}} job",
        f"{{'user': 'leo', 'key': '1@{u}'}} on the root",
        f"child {{'user': 'leo', 'key': '2@{u}'}} on a child logger",
        f"{{'user': 'leo', 'key': '3@{u}'}} job",
    ]
    daemon.wait_stored(3)
    # distlogd has the keys the console showed; the child logger's record
    # went only to its own handler.
    assert records_of(daemon.cli_json("tree", u)["scope"]) == [
        (f"0@{u}", "job", "open"),
        (f"1@{u}", "on the root", None),
        (f"3@{u}", "job", "close"),
    ]


def test_a_warning_in_a_scope_whose_opening_was_filtered_out_is_not_taken_for_the_opening(
    daemon: Daemon, tmp_path: Path
) -> None:
    script = client_script(
        daemon,
        """
        logger.setLevel(logging.WARNING)
        with distlog.task('quiet job'):
            logger.warning('disk nearly full')
        """,
    )
    run_python(tmp_path, "client.py", script)
    daemon.wait_stored(1)
    u = only_task(daemon)
    top = daemon.cli_json("tree", u)["scope"]
    assert records_of(top) == [(f"1@{u}", "disk nearly full", None)]
    assert top["message"] is None, "the warning is not the scope's opening"


def test_context_changed_after_logging_arrives_as_it_was_when_logged(daemon: Daemon, tmp_path: Path) -> None:
    script = client_script(
        daemon,
        """
        order = {'items': ['book']}
        with distlog.task('checkout', order=order):
            logger.info('ordered')
            order['items'].append('pen')
        """,
    )
    run_python(tmp_path, "client.py", script)
    daemon.wait_stored(3)
    u = only_task(daemon)
    top = daemon.cli_json("tree", u)["scope"]
    ordered = next(e for e in top["entries"] if e.get("message") == "ordered")
    body = daemon.cli_json("show", str(ordered["id"]))["body"]
    assert body["context"]["order"] == {"items": ["book"]}, json.dumps(body)
