"""The distlog CLI on real trees: partial failures, exception lines, short ids, big trees."""

from __future__ import annotations

import subprocess
from pathlib import Path

from test_end_to_end import client_script

from conftest import BIN_DIR, PATIENCE, Daemon, run_python

# A payment whose card charge fails, caught by the task: the root succeeds.
CAUGHT_FAILURE = """
with distlog.task('payment', order=7):
    try:
        with distlog.to('charge card'):
            logger.info('asking the bank')
            {}['card']
    except KeyError:
        logger.info('falling back to invoice')
    with distlog.to('receipt'):
        with distlog.to('render'):
            logger.info('rendered')
"""


def caught_failure(daemon: Daemon, tmp_path: Path) -> str:
    run_python(tmp_path, "caught.py", client_script(daemon, CAUGHT_FAILURE))
    daemon.wait_stored(11)
    [task] = daemon.cli_json("tasks")["tasks"]
    return str(task["root"])


def test_a_task_with_a_caught_failure_is_marked_in_the_task_list(daemon: Daemon, tmp_path: Path) -> None:
    root = caught_failure(daemon, tmp_path)
    [task] = daemon.cli_json("tasks")["tasks"]
    assert (task["status"], task["failures"]) == ("succeeded", 1), "--json is the API's answer"
    header, row = daemon.cli("tasks").stdout.splitlines()
    assert "FAILURES" in header
    assert row.startswith("⚠ succeeded"), row
    # The count is right-aligned under its heading.
    end = header.index("FAILURES") + len("FAILURES")
    assert row[end - 2 : end + 1] == " 1 ", (header, row)
    assert [t["root"] for t in daemon.cli_json("tasks", "--status", "failed")["tasks"]] == [root]
    assert "failed scope anywhere" in " ".join(daemon.cli("tasks", "--help").stdout.split())


def test_failure_lines_in_tree_and_tail_name_the_exception(daemon: Daemon, tmp_path: Path) -> None:
    root = caught_failure(daemon, tmp_path)
    tree = daemon.cli("tree", root).stdout.splitlines()
    [fail] = [line for line in tree if "✗ charge card" in line]
    assert fail.endswith("ERROR   ✗ charge card  KeyError: 'card'"), fail
    assert tree[0].startswith("payment  ✓ succeeded  ⚠ 1 failed inside"), tree[0]
    tail = daemon.cli("tail", "-n", "20", "event=fail").stdout.splitlines()
    assert len(tail) == 1, tail
    assert tail[0].split(" root ", 1)[1].startswith("✗ charge card  KeyError: 'card'"), tail


def test_a_rust_failure_line_names_its_error(daemon: Daemon, tmp_path: Path) -> None:
    # The Rust client sends an error's text (or a panic note) as exc_text;
    # a hand-made record in its shape stands in for it here.
    script = client_script(
        daemon,
        """
        def as_rust_sends_it(record):
            record.exc_text = 'card declined\\n\\nCaused by:\\n    no funds'
            return True
        logger.addFilter(as_rust_sends_it)
        with distlog.task('rust-like'):
            logger.error('charge card')
        """,
    )
    run_python(tmp_path, "rustlike.py", script)
    daemon.wait_stored(3)
    [line] = daemon.cli("tail", "-n", "1", "level>=ERROR").stdout.splitlines()
    assert "ERROR   root charge card  card declined …" in line, line


def test_tree_and_show_take_a_short_root_id(daemon: Daemon, tmp_path: Path) -> None:
    script = client_script(
        daemon,
        """
        import uuid
        roots = iter(['1844aa91-aaaa-4000-8000-000000000001', '1844aa91-bbbb-4000-8000-000000000002',
                      '77770000-cccc-4000-8000-000000000003'])
        uuid.uuid4 = lambda: uuid.UUID(next(roots))
        for name in ['first', 'second', 'third']:
            with distlog.task(name):
                with distlog.to('inner ' + name):
                    logger.info('in ' + name)
        """,
    )
    run_python(tmp_path, "short.py", script)
    daemon.wait_stored(15)
    third = "77770000-cccc-4000-8000-000000000003"
    assert daemon.cli_json("tree", "7777")["root"] == third
    assert daemon.cli_json("tree", "77770000/1")["focus"] == f"{third}/1"
    assert daemon.cli_json("tree", "1@7777/1")["focus_key"] == f"1@{third}/1"
    assert daemon.cli_json("tree", third)["root"] == third, "a whole id still works"
    assert daemon.cli("tree", "1844aa91-b").stdout.startswith("second  ✓ succeeded")
    assert daemon.cli_json("show", "1@77770000/1")["message"] == "in third"

    both = daemon.cli("tree", "1844aa91", check=False)
    assert both.returncode != 0
    assert "1844aa91-aaaa-4000-8000-000000000001" in both.stderr and "first" in both.stderr
    assert "1844aa91-bbbb-4000-8000-000000000002" in both.stderr and "second" in both.stderr
    assert "panicked" not in both.stderr

    none = daemon.cli("tree", "abcdef12", check=False)
    assert none.returncode != 0
    assert 'no task, scope or record is known as "abcdef12"' in none.stderr, none.stderr


def test_tree_folds_below_a_depth_and_cuts_down_to_errors(daemon: Daemon, tmp_path: Path) -> None:
    root = caught_failure(daemon, tmp_path)
    folded = daemon.cli("tree", root, "--depth", "1").stdout.splitlines()
    [render] = [line for line in folded if "render  ✓ succeeded" in line]
    assert render.endswith("⋯ 3 records folded"), render
    assert not any("rendered" in line for line in folded), folded
    assert any("asking the bank" in line for line in folded), "depth 1 is unfolded"

    errors = daemon.cli("tree", root, "--errors").stdout.splitlines()
    assert errors[0].startswith("payment  ✓ succeeded"), errors
    assert errors[1].startswith("└─ charge card  ✗ failed"), errors
    assert "✗ charge card  KeyError: 'card'" in errors[2], errors
    assert not any("receipt" in line or "asking the bank" in line for line in errors), errors

    clean_script = client_script(daemon, "with distlog.task('clean'):\n    logger.info('fine')\n")
    run_python(tmp_path, "clean.py", clean_script)
    daemon.wait_stored(14)
    clean = daemon.cli("tree", "--last", "--errors").stdout.splitlines()
    assert clean[-1] == "no failed scopes or failure records in this task", clean


def test_big_output_into_a_closed_pipe_ends_quietly(daemon: Daemon, tmp_path: Path) -> None:
    script = client_script(
        daemon,
        """
        with distlog.task('big'):
            for i in range(3000):
                logger.info('line %d of a long task', i)
        """,
    )
    run_python(tmp_path, "big.py", script)
    daemon.wait_stored(3002)
    cli = f"'{BIN_DIR / 'distlog'}' --server {daemon.server}"
    for args in ["tree --last", "--json tree --last", "--json tail -n 3000"]:
        pipeline = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {cli} {args} | head -n 1"],
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
        assert pipeline.returncode == 0, (args, pipeline.stderr)
        assert pipeline.stderr == "", (args, pipeline.stderr)
        assert len(pipeline.stdout.splitlines()) == 1
