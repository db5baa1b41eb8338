"""A long silent step stays `running` while its process sends heartbeats,
and turns `unfinished` when nothing is heard from it: the daemon side of
the heartbeat, end to end with the real Python client."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from conftest import PATIENCE, Daemon

SILENCE = 1  # --unfinished-after, seconds


def long_step(daemon: Daemon, tmp_path: Path, interval: float) -> subprocess.Popen[str]:
    script = tmp_path / f"long_step_{interval}.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import logging, sys, time
            import distlog
            logger = logging.getLogger()
            logger.addHandler(distlog.ZmqHandler({daemon.intake!r}, heartbeat_interval={interval}))
            logger.setLevel(logging.INFO)
            with distlog.task('long step') as job:
                print(job.id, flush=True)
                sys.stdin.readline()   # silent until the test lets go
            """
        )
    )
    return subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def status_after_silence(daemon: Daemon, proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None and proc.stdin is not None
    root = proc.stdout.readline().strip()
    daemon.wait_for("the opening record", lambda s: s["store"]["stored"] >= 1)
    # Three times the silence the daemon allows.
    time.sleep(3 * SILENCE)
    [task] = daemon.cli_json("tasks")["tasks"]
    assert task["root"] == root
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(timeout=PATIENCE) == 0
    return str(task["status"])


def test_a_silent_step_with_heartbeats_stays_running(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path / "store", "--unfinished-after", str(SILENCE))
    try:
        proc = long_step(daemon, tmp_path, interval=0.2)
        assert status_after_silence(daemon, proc) == "running"
        assert daemon.cli_json("stats")["heartbeats"] > 0
    finally:
        daemon.stop()


def test_a_silent_step_without_heartbeats_shows_as_unfinished(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path / "store", "--unfinished-after", str(SILENCE))
    try:
        proc = long_step(daemon, tmp_path, interval=0)
        assert status_after_silence(daemon, proc) == "unfinished"
    finally:
        daemon.stop()
