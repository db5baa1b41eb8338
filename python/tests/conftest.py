from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from distlog.testing import Receiver

ROOT = Path(__file__).resolve().parents[2]
# Guards against hangs only; no test asserts on wall-clock time.
PATIENCE = 60


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def clean_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in root.handlers:
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def run_script(
    tmp_path: Path, source: str, *args: str, name: str = "script.py"
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        cwd=tmp_path,
        check=True,
    )
