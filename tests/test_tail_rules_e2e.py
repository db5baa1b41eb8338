"""Tree-aware routing end to end: real Python programs log tasks over real
ZeroMQ into a real distlogd whose rules route on `task: failed` and
`sample:`. A failed task's whole tree (a child scope failing late, or a
foreign process failing after the root closed) lands in the `failed` file;
the others are sampled by root id, the same ones the documented recipe
picks in Python; everything goes to a short store, and only failed and
sampled trees to a second, long-retention store."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

from conftest import PATIENCE, Daemon, run_python

SAMPLE = 0.25
TASKS = 40

MASK = (1 << 64) - 1


def sample_point(root: str) -> float:
    """docs/configuration.md's recipe: FNV-1a 64, then MurmurHash3's fmix64."""
    h = 0xCBF29CE484222325
    for b in root.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK
    h ^= h >> 33
    return h / 2.0**64


def config(tmp: Path) -> Path:
    path = tmp / "distlogd.yml"
    path.write_text(
        textwrap.dedent(
            f"""
            sinks:
              store:
                type: store
                path: {tmp / "brief"}
                retention: {{max_age: 1d}}
              archive:
                type: store
                path: {tmp / "archive"}
                retention: {{max_age: 90d}}
              failed: {{type: file, path: {tmp / "failed.jsonl"}}}
              kept: {{type: file, path: {tmp / "kept.jsonl"}}}
            routes:
              mode: all
              tail: {{grace: 1s, timeout: 60s}}
              rules:
                - name: everything, briefly
                  to: [store]
                - name: failed requests
                  match: {{task: failed}}
                  to: [failed]
                - name: failed and sampled, for long
                  match: {{any: [{{task: failed}}, {{sample: {SAMPLE}}}]}}
                  to: [archive, kept]
              default: []
            """
        )
    )
    return path


BATCH = """
import logging, sys
import distlog

logger = logging.getLogger()
handler = distlog.ZmqHandler(sys.argv[1])
handler.setFormatter(distlog.JSONFormatter())
logger.addHandler(handler)
logger.setLevel(logging.INFO)

for n in range(int(sys.argv[2])):
    with distlog.task('request', n=n) as job:
        print(job.id, flush=True)
        for k in range(5):
            with distlog.to('step', k=k):
                for _ in range(4):
                    logger.info('working on %d', k)
        if n % 5 == 0:
            # Late in the task, a child scope fails; the root goes on.
            try:
                with distlog.to('late step'):
                    raise ValueError('late failure')
            except ValueError:
                pass
        logger.info('answering')
"""

PARENT = """
import logging, sys
import distlog

logger = logging.getLogger()
logger.addHandler(distlog.ZmqHandler(sys.argv[1]))
logger.setLevel(logging.INFO)

with distlog.task('request with a foreign part') as job:
    print(job.get_foreign_task(), flush=True)
    logger.info('asked the other service')
    sys.stdin.readline()
print('closed', flush=True)
"""

FOREIGN = """
import logging, sys
import distlog

logger = logging.getLogger()
logger.addHandler(distlog.ZmqHandler(sys.argv[1]))
logger.setLevel(logging.INFO)

try:
    with distlog.import_task(sys.argv[2], 'foreign work'):
        logger.info('working for the caller')
        print('opened', flush=True)
        sys.stdin.readline()
        raise RuntimeError('the foreign part failed')
except RuntimeError:
    pass
"""


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def by_root(records: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for r in records:
        key = r["context"]["key"]
        out[key.split("@", 1)[1].split("/", 1)[0]].add(key)
    return out


def start(tmp: Path, name: str, source: str, *args: str) -> subprocess.Popen[str]:
    script = tmp / name
    script.write_text(source)
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def stored_keys(daemon: Daemon, root: str) -> set[str]:
    keys: set[str] = set()

    def walk(scope: dict[str, Any]) -> None:
        for e in scope["entries"]:
            if e["type"] == "scope":
                walk(e)
            elif e.get("key"):
                keys.add(e["key"])

    with urllib.request.urlopen(f"{daemon.server}/api/tree/{root}", timeout=PATIENCE) as resp:
        walk(json.load(resp)["scope"])
    return keys


def test_failed_trees_are_kept_whole_and_the_others_sampled(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path / "unused", "--config", str(config(tmp_path)))
    try:
        # Forty tasks, every fifth failing late in a child scope.
        out = run_python(tmp_path, "batch.py", BATCH, daemon.intake, str(TASKS))
        roots = out.stdout.split()
        assert len(roots) == TASKS
        failed = {r for n, r in enumerate(roots) if n % 5 == 0}
        per_task = 1 + 5 * (2 + 4) + 1 + 1 + 2  # open, steps, answer, close, a failed step
        total = TASKS * per_task - 2 * (TASKS - len(failed))
        daemon.wait_stored(total)
        stats = daemon.wait_for(
            "every task decided",
            lambda s: (
                s["tail"]["held_tasks"] == 0
                and s["tail"]["decided"]["failed"] + s["tail"]["decided"]["closed"] >= TASKS
            ),
        )

        # A task whose root closes before its foreign part fails.
        parent = start(tmp_path, "parent.py", PARENT, daemon.intake)
        assert parent.stdout is not None and parent.stdin is not None
        foreign_id = parent.stdout.readline().strip()
        foreign_root = foreign_id.split("/")[0]
        child = start(tmp_path, "foreign.py", FOREIGN, daemon.intake, foreign_id)
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "opened"
        # The daemon has seen the foreign scope open before the root closes.
        daemon.wait_stored(total + 4)
        parent.stdin.write("\n")
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == "closed"
        assert parent.wait(timeout=PATIENCE) == 0
        daemon.wait_stored(total + 5)
        assert daemon.cli_json("stats")["tail"]["held_tasks"] == 1, "the open foreign scope holds it"
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(timeout=PATIENCE) == 0
        daemon.wait_stored(total + 6)
        stats = daemon.wait_for("the foreign failure decided", lambda s: s["tail"]["decided"]["failed"] >= 9)
        failed.add(foreign_root)
        everything = [*roots, foreign_root]

        # Whole trees of failed tasks, and nothing else, in `failed`.
        in_failed = by_root(lines(tmp_path / "failed.jsonl"))
        assert set(in_failed) == failed
        for root in failed:
            assert in_failed[root] == stored_keys(daemon, root), root
        assert len(in_failed[foreign_root]) == 6

        # Failed or sampled, whole, in `kept`: the roots the recipe picks.
        sampled = {r for r in everything if sample_point(r) < SAMPLE}
        assert sampled - failed, "some succeeded task was sampled"
        assert set(everything) - sampled - failed, "and some was not"
        in_kept = by_root(lines(tmp_path / "kept.jsonl"))
        assert set(in_kept) == failed | sampled
        for root in failed | sampled:
            assert in_kept[root] == stored_keys(daemon, root), root

        tail = stats["tail"]
        assert tail["enabled"] and tail["held_bytes"] == 0 and tail["decided"]["early"] == 0
        assert tail["records_kept"] > 0 and tail["records_dropped"] > 0
        with urllib.request.urlopen(f"{daemon.server}/metrics", timeout=PATIENCE) as resp:
            metrics = resp.read().decode()
        assert 'distlog_tail_decided_total{why="failed"} 9' in metrics, metrics
        assert "distlog_tail_held_tasks 0" in metrics
        summary = daemon.cli("stats").stdout
        assert "tail        0 tasks held" in summary and "decided 9 failed" in summary, summary
    finally:
        daemon.stop()

    # The long-retention store holds the failed and sampled tasks only.
    archive = Daemon(tmp_path / "archive")
    try:
        listed = {t["root"] for t in archive.cli_json("tasks", "--limit", "1000")["tasks"]}
        assert listed == failed | sampled
    finally:
        archive.stop()
