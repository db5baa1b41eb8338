"""What tail rules (`task: failed`, `sample:`) cost the intake, side by
side in one run, round by round.

Two configurations of distlogd, both routing to live feeds only (decode
and route, nothing stored, so the figure is the intake's own):

- ``plain``: every record to one feed;
- ``tail``: every record to one feed, failed tasks to a second, failed
  and one task in ten to a third: each record in a task is matched both
  ways and held until its task is decided.

Each round runs both (the order alternating) with the same load,
``distlog-loadgen send --pregen`` (tasks that open, log, nest, close or
fail, as real programs do; the same seed every trial). CPU per record = distlogd's user+system CPU,
all threads, from ready until every record was decoded plus 1.5 s (past
the grace, so closed tasks are decided and their held records routed; the
same wait for both), over N. Peak RSS = VmHWM. The tail run also reports
how its tasks were decided by then.

    python bench/ingest/tail.py            # 5 rounds of 200k records
    python bench/ingest/tail.py --smoke    # tiny, asserts it works

Binaries come from $DISTLOG_BIN_DIR (default target/release).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib as bl

PLAIN = """\
sinks:
  live: {type: feed}
routes:
  mode: all
  default: [live]
"""

TAIL = """\
sinks:
  live: {type: feed}
  failed: {type: feed}
  kept: {type: feed}
routes:
  mode: all
  tail: {grace: 1s}
  rules:
    - to: [live]
    - match: {task: failed}
      to: [failed]
    - match: {any: [{task: failed}, {sample: 0.1}]}
      to: [kept]
  default: []
"""


def trial(config: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="distlog-bench-") as tmp:
        path = Path(tmp) / "distlogd.yml"
        path.write_text(config)
        d = bl.Daemon(Path(tmp) / "store", "--config", str(path))
        try:
            cpu0 = bl.cpu_seconds(d.pid)
            sent = bl.loadgen_send(
                d.intake,
                args.count,
                connections=args.connections,
                pregen=True,
                extra=["--seed", str(args.seed)],
            )
            done, stats = d.wait_decoded(args.count)
            # Past the grace, so closed tasks are decided (their held records
            # routed); the same wait for both configurations. Tasks the
            # load left open stay held until the timeout and are reported.
            time.sleep(SETTLE)
            stats = d.stats()
            cpu = bl.cpu_seconds(d.pid) - cpu0
            rss = bl.status_kib(d.pid, "VmHWM")
        finally:
            rc = d.stop()
        if stats["decoded"] != args.count or stats["rejected"]["total"] or rc != 0:
            raise bl.BenchError(f"distlogd did not decode every record (rc {rc}): {stats}")
    return {
        "rate": args.count / (done - sent["start_epoch"]),
        "cpu_us": 1e6 * cpu / args.count,
        "rss_mib": rss / 1024,
        "tail": stats["tail"],
    }


BenchError = bl.BenchError
SETTLE = 1.5  # seconds after the last record: the grace (1 s) and some


def main() -> int:
    ap = argparse.ArgumentParser(description="the intake's cost of tail rules")
    ap.add_argument("--smoke", action="store_true", help="tiny counts, one round")
    ap.add_argument("--count", type=int, help="records per trial (default 200000; smoke 3000)")
    ap.add_argument("--rounds", type=int, help="rounds (default 5; smoke 1)")
    ap.add_argument("--connections", type=int, default=4, help="PUSH connections (default 4)")
    ap.add_argument("--seed", type=int, default=7, help="the load's seed: the same tasks each trial")
    args = ap.parse_args()
    args.count = args.count or (3000 if args.smoke else 200_000)
    args.rounds = args.rounds or (1 if args.smoke else 5)
    configs = {"plain": PLAIN, "tail": TAIL}
    results: dict[str, list[dict[str, Any]]] = {"plain": [], "tail": []}
    for r in range(args.rounds):
        order = ["plain", "tail"] if r % 2 == 0 else ["tail", "plain"]
        for name in order:
            t = trial(configs[name], args)
            results[name].append(t)
            print(
                f"round {r + 1}/{args.rounds} {name:5} {t['rate']:>10,.0f} rec/s "
                f"{t['cpu_us']:6.2f} µs CPU/rec  {t['rss_mib']:6.1f} MiB",
                flush=True,
            )
    print()
    print(bl.machine())
    rows = []
    for name in ("plain", "tail"):
        ts = results[name]
        rows.append(
            [
                name,
                bl.fmt_int(bl.median([t["rate"] for t in ts])),
                f"{bl.median([t['cpu_us'] for t in ts]):.2f} ({bl.spread([t['cpu_us'] for t in ts])})",
                f"{bl.median([t['rss_mib'] for t in ts]):.1f}",
            ]
        )
    print(bl.table(["config", "records/s", "CPU µs/record", "peak RSS MiB"], rows))
    last = results["tail"][-1]
    print(f"tail, last round: {last['tail']}")
    if args.smoke:
        decided = last["tail"]["decided"]
        if decided["closed"] == 0 or last["tail"]["records_dropped"] == 0:
            raise BenchError(f"smoke: expected failed and closed tasks: {last['tail']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
