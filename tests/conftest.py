"""End-to-end fixtures: the real distlogd binary on ports chosen at run time."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(os.environ.get("DISTLOG_BIN_DIR", ROOT / "target" / "debug"))
# Guards against hangs only; these machines are shared and noisy.
PATIENCE = 60.0


class Daemon:
    def __init__(self, store: Path, *extra: str, http: str = "127.0.0.1:0") -> None:
        self.proc = subprocess.Popen(
            [
                str(BIN_DIR / "distlogd"),
                "--listen",
                "tcp://127.0.0.1:*",
                "--http",
                http,
                "--control",
                "tcp://127.0.0.1:*",
                "--store",
                str(store),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + PATIENCE
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if "distlogd ready" in line:
                self.intake = _field(line, "intake").replace("0.0.0.0", "127.0.0.1")
                self.server = "http://" + _field(line, "http")
                self.control = _field(line, "control")
                return

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN_DIR / "distlog"), "--server", self.server, *args],
            capture_output=True,
            text=True,
            timeout=PATIENCE,
            check=check,
        )

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli("--json", *args).stdout)

    def wait_stored(self, n: int) -> dict[str, Any]:
        return self.wait_for(f"{n} records stored", lambda s: s["store"]["stored"] >= n)

    def wait_for(self, what: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + PATIENCE
        while True:
            stats = self.cli_json("stats")
            if done(stats):
                return stats
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}: {stats}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=PATIENCE)


def _field(line: str, name: str) -> str:
    m = re.search(rf"\b{name}=(\S+)", line)
    assert m, line
    return m.group(1)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "distlog.db")
    yield d
    d.stop()


def tutorial_source(endpoint: str, formatter: str = "JSONFormatter") -> str:
    """The tutorial's example exactly as shipped, pointed at the test daemon."""
    text = (ROOT / "examples" / "tutorial.py").read_text()
    assert "tcp://localhost:5010" in text
    return text.replace("tcp://localhost:5010", endpoint).replace(
        "distlog.JSONFormatter()", f"distlog.{formatter}()"
    )


def run_python(tmp_path: Path, name: str, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / name
    script.write_text(source)
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=True,
        cwd=tmp_path,
    )
