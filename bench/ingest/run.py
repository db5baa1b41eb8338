"""Ingest benchmark: distlogd against the transport's ceiling and against
the original's Python receive loop, in one run, round by round.

For JSON and for pickle, each round runs these receivers in turn
(the order rotates every round), each fed the same load by
``distlog-loadgen send --pregen`` (every body encoded before the clock
starts; N PUSH connections, unlimited rate):

1. ``raw``: ``distlog-loadgen sink``, a Rust PULL socket that counts
   messages and decodes nothing: the ceiling of ZeroMQ on this machine.
2. ``reference``: ``reference_receiver.py``, the original distlogd's loop
   (pyzmq ``recv_multipart`` + ``json.loads``/``pickle.loads``).
3. ``distlogd``: the real daemon with its default configuration (store +
   live feed), a fresh store each time; the clock stops when the last
   record is queryable through the HTTP API (``/api/records?limit=1``
   returns id N, polled every 10 ms), and ``/api/stats`` must then show
   N decoded and N stored, none rejected.
3a. ``intake``: distlogd with a live-feed sink only (decode and route,
   nothing stored); the clock stops when ``/api/stats`` shows N decoded.
   Not a target: it tells the intake's cost from the store's.

Records/s = N / (last record received or queryable − first record sent).
CPU per record = the receiver's user+system CPU (all threads, /proc)
from ready to done, over N. Peak RSS = the receiver's VmHWM.

    python bench/ingest/run.py            # full: 5 rounds of 200k records
    python bench/ingest/run.py --smoke    # tiny, asserts the pipeline works

Binaries come from $DISTLOG_BIN_DIR (default target/release).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib as bl

HERE = Path(__file__).resolve().parent
CONTENDERS = ("raw", "reference", "distlogd", "intake")
LABELS = {
    "raw": "(1) raw ZeroMQ",
    "reference": "(2) Python reference",
    "distlogd": "(3) distlogd",
    "intake": "(3a) distlogd, no store",
}
# Decodes and routes to a live feed only: what the intake alone can do.
INTAKE_ONLY_CONFIG = """\
sinks:
  live:
    type: feed
routes:
  mode: all
  default: [live]
"""
TARGETS = {  # encoding -> (min distlogd/reference, min distlogd/raw)
    "json": (10.0, 0.5),
    "pickle": (5.0, None),
}


class Trial:
    """One receiver, one encoding, one round."""

    def __init__(self, rate: float, cpu: float, rss_kib: int, count: int) -> None:
        self.rate = rate
        self.cpu_us = 1e6 * cpu / count
        self.rss_kib = rss_kib


def run_raw(encoding: str, args: argparse.Namespace) -> Trial:
    sink, endpoint = bl.loadgen_sink(args.count)
    try:
        cpu0 = bl.cpu_seconds(sink.pid)
        sent = bl.loadgen_send(
            endpoint,
            args.count,
            encoding=encoding,
            connections=args.connections,
            pregen=True,
        )
        got = sink.read_json()
        cpu = bl.cpu_seconds(sink.pid) - cpu0
        rss = bl.status_kib(sink.pid, "VmHWM")
    finally:
        sink.finish()
    if not got["complete"] or got["messages"] != args.count or got["not_two_frames"]:
        raise bl.BenchError(f"raw sink: {got}")
    return Trial(args.count / (got["last_epoch"] - sent["start_epoch"]), cpu, rss, args.count)


def run_reference(encoding: str, args: argparse.Namespace) -> Trial:
    ref = bl.Child(
        [
            sys.executable,
            HERE / "reference_receiver.py",
            "--count",
            str(args.count),
            "--hold",
        ],
        stdin=subprocess.PIPE,
    )
    try:
        endpoint = bl.field(ref.wait_line("reference receiver ready"), "endpoint")
        cpu0 = bl.cpu_seconds(ref.pid)
        sent = bl.loadgen_send(
            endpoint,
            args.count,
            encoding=encoding,
            connections=args.connections,
            pregen=True,
        )
        got = ref.read_json()
        cpu = bl.cpu_seconds(ref.pid) - cpu0
        rss = bl.status_kib(ref.pid, "VmHWM")
    finally:
        ref.finish()
    if not got["complete"] or got["decoded"] != args.count:
        raise bl.BenchError(f"reference receiver: {got}")
    return Trial(args.count / (got["last_epoch"] - sent["start_epoch"]), cpu, rss, args.count)


def run_distlogd(encoding: str, args: argparse.Namespace) -> Trial:
    with tempfile.TemporaryDirectory(prefix="distlog-bench-") as tmp:
        d = bl.Daemon(Path(tmp) / "distlog.db")
        try:
            cpu0 = bl.cpu_seconds(d.pid)
            sent = bl.loadgen_send(
                d.intake,
                args.count,
                encoding=encoding,
                connections=args.connections,
                pregen=True,
            )
            done = d.wait_queryable(args.count)
            cpu = bl.cpu_seconds(d.pid) - cpu0
            rss = bl.status_kib(d.pid, "VmHWM")
            # The sink counts a batch just after its commit made it queryable.
            stats = d.wait_stored(args.count, poll=0.01, timeout=10.0)
        finally:
            rc = d.stop()
        check_stats(stats, args.count)
        if rc != 0:
            raise bl.BenchError(f"distlogd exited {rc}:\n{d.child.tail()}")
    return Trial(args.count / (done - sent["start_epoch"]), cpu, rss, args.count)


def run_intake(encoding: str, args: argparse.Namespace) -> Trial:
    with tempfile.TemporaryDirectory(prefix="distlog-bench-") as tmp:
        config = Path(tmp) / "distlogd.yml"
        config.write_text(INTAKE_ONLY_CONFIG)
        d = bl.Daemon(Path(tmp) / "distlog.db", "--config", str(config))
        try:
            cpu0 = bl.cpu_seconds(d.pid)
            sent = bl.loadgen_send(
                d.intake,
                args.count,
                encoding=encoding,
                connections=args.connections,
                pregen=True,
            )
            done, stats = d.wait_decoded(args.count)
            cpu = bl.cpu_seconds(d.pid) - cpu0
            rss = bl.status_kib(d.pid, "VmHWM")
        finally:
            rc = d.stop()
        if stats["decoded"] != args.count or stats["rejected"]["total"]:
            raise bl.BenchError(f"distlogd (no store) did not decode every record: {stats}")
        if rc != 0:
            raise bl.BenchError(f"distlogd exited {rc}:\n{d.child.tail()}")
    return Trial(args.count / (done - sent["start_epoch"]), cpu, rss, args.count)


def check_stats(stats: dict[str, Any], n: int) -> None:
    store = stats["store"]
    ok = (
        stats["received"] == n
        and stats["decoded"] == n
        and stats["rejected"]["total"] == 0
        and stats["key_errors"] == 0
        and store["stored"] == n
        and store["records"] == n
        and store["lost"] == 0
    )
    if not ok:
        raise bl.BenchError(f"distlogd did not store exactly {n} records: {stats}")


RUNNERS = {
    "raw": run_raw,
    "reference": run_reference,
    "distlogd": run_distlogd,
    "intake": run_intake,
}


def main() -> int:
    ap = argparse.ArgumentParser(description="distlog ingest benchmark")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny counts, one round; checks the pipeline",
    )
    ap.add_argument("--count", type=int, help="records per trial (default 200000; smoke 3000)")
    ap.add_argument("--rounds", type=int, help="rounds (default 5; smoke 1)")
    ap.add_argument("--connections", type=int, default=4, help="PUSH connections (default 4)")
    ap.add_argument(
        "--encodings",
        default="json,pickle",
        help="comma-separated (default json,pickle)",
    )
    ap.add_argument(
        "--only",
        default=",".join(CONTENDERS),
        help="receivers to run: raw,reference,distlogd,intake (default all)",
    )
    args = ap.parse_args()
    args.count = args.count or (3000 if args.smoke else 200_000)
    args.rounds = args.rounds or (1 if args.smoke else 5)
    encodings = [e for e in args.encodings.split(",") if e]
    chosen = [c for c in CONTENDERS if c in args.only.split(",")]

    started = time.monotonic()
    results: dict[tuple[str, str], list[Trial]] = {}
    for r in range(args.rounds):
        for enc in encodings:
            k = r % len(chosen)
            order = chosen[k:] + chosen[:k]
            for who in order:
                t = RUNNERS[who](enc, args)
                results.setdefault((enc, who), []).append(t)
                print(
                    f"round {r + 1}/{args.rounds} {enc:6} {who:9} {t.rate:>10,.0f} rec/s "
                    f"{t.cpu_us:6.2f} µs CPU/rec  {t.rss_kib / 1024:6.1f} MiB",
                    file=sys.stderr,
                    flush=True,
                )
    elapsed = time.monotonic() - started

    print(f"## Ingest: {args.count:,} records × {args.rounds} rounds, {args.connections} connections\n")
    print(f"Machine: {bl.machine()}. Took {elapsed:.1f} s.\n")
    missed = []
    for enc in encodings:
        rows = []
        for who in chosen:
            ts = results[(enc, who)]
            rates = [t.rate for t in ts]
            rows.append(
                [
                    LABELS[who],
                    bl.fmt_int(bl.median(rates)),
                    bl.spread(rates),
                    f"{bl.median([t.cpu_us for t in ts]):.2f}",
                    f"{max(t.rss_kib for t in ts) / 1024:.1f}",
                ]
            )
        print(f"### {enc}\n")
        print(
            bl.table(
                [
                    "receiver",
                    "records/s (median)",
                    "spread (±half range)",
                    "CPU µs/record",
                    "peak RSS MiB",
                ],
                rows,
            )
        )
        print()
        if "distlogd" not in chosen:
            continue
        d = [t.rate for t in results[(enc, "distlogd")]]
        ratio_rows = []
        want_ref, want_raw = TARGETS.get(enc, (None, None))
        pairs = (("reference", want_ref), ("raw", want_raw), ("intake", None))
        for other, want in pairs:
            if other not in chosen:
                continue
            o = [t.rate for t in results[(enc, other)]]
            paired = [a / b for a, b in zip(d, o)]
            verdict = "–"
            if want is not None and args.smoke:
                verdict = f"(smoke; ≥ {want:g})"
            elif want is not None:
                ok = bl.median(paired) >= want
                verdict = f"{'met' if ok else 'MISSED'} (≥ {want:g})"
                if not ok:
                    missed.append(f"{enc} distlogd/{other}")
            ratio_rows.append(
                [
                    f"(3)/{LABELS[other].split()[0]} distlogd / {other}",
                    f"{bl.median(paired):.2f}",
                    f"{min(paired):.2f}–{max(paired):.2f}",
                    verdict,
                ]
            )
        if ratio_rows:
            print(
                bl.table(
                    ["ratio", "median of per-round ratios", "range", "target"],
                    ratio_rows,
                )
            )
            print()
    if args.smoke:
        print(f"ingest smoke: OK ({', '.join(chosen)} got every record; distlogd stores all, rejects none)")
    elif "distlogd" not in chosen:
        pass
    elif missed:
        print(f"Targets missed: {', '.join(missed)}")
    else:
        print("All ingest targets met.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bl.BenchError as e:
        print(f"ingest benchmark failed: {e}", file=sys.stderr)
        sys.exit(1)
