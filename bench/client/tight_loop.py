"""A program that logs in a tight loop, against a live distlogd.

The logging thread then holds the GIL 5 ms at a time, so the handler's
sender thread gets little of it; before the handler waited for room in a
full queue, most such records were dropped. Runs, in a fresh interpreter
each: the loop with the default handler (waits for room, ``max_wait=1``)
and with ``max_wait=0`` (never waits: the old behaviour), alternating, and
reports the loop's time, records dropped and records stored.

    python bench/client/tight_loop.py            # 100,000 records × 3 rounds
    python bench/client/tight_loop.py --smoke    # 20,000 records, 1 round
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib as bl

LOOP = """
import json, logging, sys, time
import distlog
count, max_wait = int(sys.argv[1]), float(sys.argv[3])
log = logging.getLogger()
handler = distlog.ZmqHandler(sys.argv[2], max_wait=max_wait)
log.addHandler(handler)
log.setLevel(logging.INFO)
t = time.perf_counter()
with distlog.task('tight loop'):
    for i in range(count):
        log.info('record %d', i)
seconds = time.perf_counter() - t
handler.close(linger=30)
print(json.dumps({"seconds": seconds, "dropped": handler.dropped}))
"""


def one(count: int, max_wait: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="distlog-tight-") as tmp:
        d = bl.Daemon(Path(tmp) / "distlog.db")
        try:
            out = subprocess.run(
                [sys.executable, "-c", LOOP, str(count), d.intake, str(max_wait)],
                capture_output=True,
                text=True,
                timeout=bl.PATIENCE * 10,
                check=True,
            )
            run = json.loads(out.stdout)
            # The loop's records, its two scope records, and any drop report.
            kept = count + 2 - int(run["dropped"])
            stats = d.wait_stored(kept, poll=0.1, timeout=bl.PATIENCE)
        finally:
            rc = d.stop()
    if rc != 0:
        raise bl.BenchError(f"distlogd exited {rc}")
    return {"seconds": run["seconds"], "dropped": run["dropped"], "stored": stats["store"]["stored"]}


def main() -> int:
    ap = argparse.ArgumentParser(description="a tight logging loop against a live distlogd")
    ap.add_argument("--smoke", action="store_true", help="20,000 records (twice the queue), 1 round")
    ap.add_argument("--count", type=int, help="records in the loop (default 100000; smoke 20000)")
    ap.add_argument("--rounds", type=int, help="rounds (default 3; smoke 1)")
    args = ap.parse_args()
    count = args.count or (20_000 if args.smoke else 100_000)
    rounds = args.rounds or (1 if args.smoke else 3)
    rows = []
    waited = []
    for r in range(rounds):
        for max_wait in (1.0, 0.0):
            res = one(count, max_wait)
            if max_wait:
                waited.append(res)
            rows.append(
                [
                    str(r + 1),
                    "wait for room (default)" if max_wait else "never wait (max_wait=0)",
                    f"{res['seconds']:.2f}",
                    f"{count / res['seconds']:,.0f}",
                    f"{res['dropped']:,}",
                    f"{res['stored']:,}",
                ]
            )
            print(rows[-1], file=sys.stderr)
    print(f"## A tight logging loop: {count:,} records × {rounds} rounds\n")
    print(f"Machine: {bl.machine()}.\n")
    print(bl.table(["round", "handler", "loop s", "records/s", "dropped", "stored"], rows))
    lost = [w for w in waited if w["dropped"]]
    if lost:
        print(f"\nFAILED: the default handler dropped records in {len(lost)} round(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
