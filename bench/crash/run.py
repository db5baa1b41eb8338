"""Crash benchmark: ``kill -9`` of distlogd under full load, N runs.

Each run starts distlogd on a fresh store, sends as fast as
``distlog-loadgen send`` can (4 connections), and after a random
0.5–1.5 s under load takes a last look at ``/api/stats`` and kills the
daemon with SIGKILL at once. Then it restarts distlogd on the same store
and checks what the journal promises:

- the store opens cleanly (no damaged block, the journal's torn tail cut);
- every record reported durable at the last look is there:
  ``records >= durable``;
- nothing is stored twice and nothing is missing in between: ids are
  dense, so ``records == the newest id``;
- what was lost (appended at the last look − records) is at most the
  records of a commit interval or so, at the rate measured; what libzmq
  had taken off the network but distlogd had not yet read is lost too
  and cannot be counted from inside (the sender was told nothing: that
  is ZeroMQ PUSH).

    python bench/crash/run.py --runs 5
    python bench/crash/run.py --smoke      # one run, small

Binaries come from $DISTLOG_BIN_DIR (default target/release).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib as bl

COMMIT_INTERVAL = 0.2


def one_run(store: Path, seconds: float, count: int) -> list[str]:
    d = bl.Daemon(store)
    lg = bl.Child(
        [
            bl.binary("distlog-loadgen"),
            "send",
            "--endpoint",
            d.intake,
            "--count",
            str(count),
            "--connections",
            "4",
        ]
    )
    try:
        lg.wait_line("distlog-loadgen sending")
        t0 = time.monotonic()
        time.sleep(seconds)
        last = d.stats()
        elapsed = time.monotonic() - t0
        d.child.kill()
    finally:
        lg.kill()
    appended = last["store"]["appended"]
    durable = last["store"]["durable"]
    again = bl.Daemon(store)
    try:
        s = again.stats()["store"]
        newest = again.last_id()
    finally:
        again.stop()
    records = s["records"]
    rate = appended / elapsed
    lost = max(0, appended - records)
    problems = []
    if s["corrupt_blocks"]:
        problems.append(f"{s['corrupt_blocks']} damaged blocks")
    if records < durable:
        problems.append(f"{durable - records} durable records missing")
    if records != newest:
        problems.append(f"{records} records but newest id {newest}: duplicates or holes")
    if problems:
        raise bl.BenchError("; ".join(problems))
    return [
        f"{seconds:.2f}",
        bl.fmt_int(rate),
        bl.fmt_int(durable),
        bl.fmt_int(appended),
        bl.fmt_int(records),
        bl.fmt_int(lost),
        bl.fmt_int(rate * COMMIT_INTERVAL),
        f"{lost / max(1.0, rate * COMMIT_INTERVAL):.2f}",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description="distlogd kill -9 under load")
    ap.add_argument("--smoke", action="store_true", help="one short run")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    runs = 1 if args.smoke else args.runs
    rng = random.Random(args.seed)
    rows = []
    for i in range(runs):
        with tempfile.TemporaryDirectory(prefix="distlog-crash-") as tmp:
            seconds = 0.5 if args.smoke else rng.uniform(0.5, 1.5)
            count = 50_000 if args.smoke else 2_000_000
            rows.append(one_run(Path(tmp) / "store", seconds, count))
            print(f"run {i + 1}: {rows[-1]}", file=sys.stderr, flush=True)
    print(f"## kill -9 under load, {runs} runs\n")
    print(f"Machine: {bl.machine()}. Commit interval {COMMIT_INTERVAL * 1000:.0f} ms.\n")
    print(
        bl.table(
            [
                "killed after s",
                "records/s",
                "durable at last look",
                "appended at last look",
                "stored after restart",
                "lost",
                "one interval",
                "lost / interval",
            ],
            rows,
        )
    )
    if args.smoke:
        print("\ncrash smoke: OK (the store reopened with every durable record, once)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bl.BenchError as e:
        print(f"crash benchmark failed: {e}", file=sys.stderr)
        sys.exit(1)
