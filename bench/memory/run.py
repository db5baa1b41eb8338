"""Memory-bound check: a sender that outruns distlogd, while distlogd's RSS
is sampled.

``distlog-loadgen send`` (unlimited rate, 4 PUSH connections) sends far
faster than distlogd (default configuration) can store, so every queue
between them fills: the sender's ZMQ_SNDHWM (1,000 messages a connection),
the kernel's socket buffers, distlogd's ZMQ_RCVHWM (10,000 messages), and
the store's own bounds (the journal buffer, 64 MiB; the index queue, 65,536
records or 64 MiB; the memtables waiting for segments; when they are full
the intake waits: back-pressure, nothing dropped). distlogd's memory must
then plateau, not grow with the number of records sent.

Samples VmRSS every 50 ms and ``/api/stats`` (store queue depth) every
0.5 s; reports the peak, the RSS reached by each quarter of the run, the
deepest store queue seen, and whether the second half of the run went
above the first half's peak by more than 10%.

    python bench/memory/run.py            # 600k records, JSON then pickle
    python bench/memory/run.py --smoke    # 30k records, checks it runs
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib as bl

STORE_QUEUE = 65_536  # crates/store/src/engine: the index queue's records
RCVHWM = 10_000  # crates/daemon/src/intake.rs


class Sampler(threading.Thread):
    def __init__(self, d: bl.Daemon) -> None:
        super().__init__(daemon=True)
        self.pid = d.pid
        self.api = bl.Api(d.http)  # a connection of its own
        self.rss: list[tuple[float, int]] = []
        self.queued: list[int] = []
        self.stop = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        next_stats = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            try:
                self.rss.append((now, bl.status_kib(self.pid, "VmRSS")))
                if now >= next_stats:
                    next_stats = now + 0.5
                    self.queued.append(int(self.api.stats()["store"]["queued"]))
            except (OSError, bl.BenchError) as e:
                self.errors.append(str(e))
            self.stop.wait(0.05)
        self.api.close()


def one(encoding: str, count: int, pad: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="distlog-mem-") as tmp:
        d = bl.Daemon(Path(tmp) / "distlog.db")
        sampler = Sampler(d)
        try:
            rss0 = bl.status_kib(d.pid, "VmRSS")
            t0 = time.monotonic()
            sampler.start()
            sent = bl.loadgen_send(
                d.intake,
                count,
                encoding=encoding,
                connections=args.connections,
                extra=["--pad", str(pad)] if pad else [],
            )
            t_sent = time.monotonic()
            stats = d.wait_stored(count, poll=0.25)
            t_done = time.monotonic()
            sampler.stop.set()
            sampler.join()
            hwm = bl.status_kib(d.pid, "VmHWM")
        finally:
            sampler.stop.set()
            rc = d.stop()
    if stats["store"]["stored"] != count or stats["store"]["lost"] or stats["rejected"]["total"]:
        raise bl.BenchError(f"distlogd did not store every record: {stats}")
    if rc != 0:
        raise bl.BenchError(f"distlogd exited {rc}")
    span = t_done - t0
    quarters = []
    for q in range(1, 5):
        upto = t0 + span * q / 4
        quarters.append(max((r for t, r in sampler.rss if t <= upto), default=rss0))
    first_half = max((r for t, r in sampler.rss if t <= t0 + span / 2), default=rss0)
    second_half = max((r for t, r in sampler.rss if t > t0 + span / 2), default=rss0)
    return {
        "encoding": encoding,
        "count": count,
        "body": sent["avg_body_bytes"],
        "sender_rate": sent["send_rate"],
        "daemon_rate": count / (t_done - t0),
        "backlog_s": t_done - t_sent,
        "rss0": rss0,
        "hwm": hwm,
        "quarters": quarters,
        "first_half": first_half,
        "second_half": second_half,
        "max_queued": max(sampler.queued, default=0),
        "bounded": second_half <= first_half * 1.10,
        "samples": len(sampler.rss),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description="distlogd memory-bound check")
    ap.add_argument("--smoke", action="store_true", help="30k records; checks it runs")
    ap.add_argument("--count", type=int, help="records per encoding (default 600000; smoke 30000)")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--encodings", default="json,pickle")
    ap.add_argument("--pad", type=int, default=4096, help="payload bytes of the large-body case")
    ap.add_argument(
        "--padded-count",
        type=int,
        help="records of the large-body JSON case (default 150000; smoke 5000; 0 skips it)",
    )
    args = ap.parse_args()
    args.count = args.count or (30_000 if args.smoke else 600_000)
    if args.padded_count is None:
        args.padded_count = 5_000 if args.smoke else 150_000

    cases = [(enc, args.count, 0) for enc in args.encodings.split(",") if enc]
    if args.padded_count:
        cases.append(("json", args.padded_count, args.pad))
    results = [one(enc, count, pad, args) for enc, count, pad in cases]

    def mib(kib: float) -> str:
        return f"{kib / 1024:.0f}"

    print(f"## Memory while a sender outruns distlogd ({args.connections} connections)\n")
    print(f"Machine: {bl.machine()}.\n")
    rows = [
        [
            r["encoding"],
            f"{r['body']:,.0f}",
            bl.fmt_int(r["count"]),
            bl.fmt_int(r["sender_rate"]),
            bl.fmt_int(r["daemon_rate"]),
            f"{r['backlog_s']:.1f}",
            f"{r['max_queued']:,} / {STORE_QUEUE:,}",
            mib(r["rss0"]),
            " / ".join(mib(q) for q in r["quarters"]),
            mib(r["hwm"]),
            "(smoke)" if args.smoke else "yes" if r["bounded"] else "NO",
        ]
        for r in results
    ]
    print(
        bl.table(
            [
                "encoding",
                "body bytes",
                "records",
                "sent rec/s",
                "stored rec/s",
                "backlog s",
                "max store queue",
                "RSS idle MiB",
                "RSS by quarter MiB",
                "peak MiB",
                "plateaus",
            ],
            rows,
        )
    )
    print()
    print(
        '"backlog s": how long distlogd kept storing after the sender finished. "plateaus": the '
        "second half of the run stayed within 10% of the first half's peak RSS."
    )
    if args.smoke:
        print("memory smoke: OK (every record stored, RSS sampled)")
    return 0 if args.smoke or all(r["bounded"] for r in results) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bl.BenchError as e:
        print(f"memory check failed: {e}", file=sys.stderr)
        sys.exit(1)
