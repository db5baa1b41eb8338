"""Federation benchmark: what a query front costs. Two collectors hold half
the records each; a third daemon holds all of them (the same records, sent
with the same seeds); a pure front with the two collectors as peers answers
the same queries as the one daemon. Each query runs ``--repeat`` times, the
one daemon and the front alternating, one GET on a kept-alive connection
each, timed to the last byte.

    python bench/federation/run.py            # 2 × 100k records, a 10k-record tree
    python bench/federation/run.py --smoke    # 2 × 5k records, a 2k-record tree

Each answer of the front is checked against its peers' own answers merged.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib as bl

RARE_WORD = "zanzibar"  # in ~1 message in 1,000 (bench/loadgen/src/records.rs)


def fill(targets: list[bl.Daemon], count: int, big: int, seed: int) -> list[str]:
    """Sends the same records (one ``big``-record task, then tasks of 20)
    to every target; returns the roots of the big task's send."""
    roots: list[str] = []
    for t in targets:
        first = bl.loadgen_send(
            t.intake, big + 20, connections=1, extra=["--task-records", str(big), "--seed", str(seed)]
        )
        roots = first["roots"]
        bl.loadgen_send(
            t.intake,
            count - big - 20,
            connections=1,
            extra=["--task-records", "20", "--seed", str(seed + 1000)],
        )
    return roots


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny counts; checks answers, judges nothing")
    ap.add_argument("--records", type=int, help="records per collector (default 100000; smoke 5000)")
    ap.add_argument("--big-size", type=int, help="records of the big task (default 10000; smoke 2000)")
    ap.add_argument("--repeat", type=int, help="times each query runs (default 15; smoke 3)")
    args = ap.parse_args()
    count = args.records or (5_000 if args.smoke else 100_000)
    big = args.big_size or (2_000 if args.smoke else 10_000)
    repeat = args.repeat or (3 if args.smoke else 15)

    with tempfile.TemporaryDirectory(prefix="distlog-fed-bench-") as tmp:
        base = Path(tmp)
        a, b, one = (bl.Daemon(base / n) for n in ("a", "b", "one"))
        (base / "front.yml").write_text(f"peers: [{a.server}, {b.server}]\n")
        front = bl.Daemon(base / "front", "--config", str(base / "front.yml"))
        try:
            t0 = time.monotonic()
            roots = fill([a, one], count, big, seed=1)
            fill([b, one], count, big, seed=2)
            a.wait_stored(count)
            b.wait_stored(count)
            one.wait_stored(2 * count)
            print(f"stores filled in {time.monotonic() - t0:.0f} s: 2 × {count} records", file=sys.stderr)
            root = next(r for r in roots if one.get_json(f"/api/tasks/{r}")["records"] == big)
            queries = [
                ("task list (100)", "/api/tasks?limit=100"),
                (f"tree of a {big}-record task", f"/api/tree/{root}"),
                ("skeleton of it", f"/api/skeleton/{root}"),
                ("first page of its root scope (1000)", f"/api/scope/{root}?limit=1000"),
                ("newest 100 records", "/api/records?limit=100"),
                (f"search {RARE_WORD!r} (100)", f"/api/records?q={RARE_WORD}&limit=100"),
            ]
            rows = []
            for name, path in queries:
                times: dict[str, list[float]] = {"one": [], "front": []}
                answers: dict[str, Any] = {}
                for _ in range(repeat):
                    for label, d in (("one", one), ("front", front)):
                        t = time.perf_counter()
                        status, body = d.get(path)
                        times[label].append(1000 * (time.perf_counter() - t))
                        if status != 200:
                            raise bl.BenchError(f"{label} GET {path}: {status} {body[:200]!r}")
                        answers[label] = json.loads(body)
                check(name, path, answers["front"], a, b)
                o, f = bl.median(times["one"]), bl.median(times["front"])
                rows.append([name, f"{o:.1f}", f"{f:.1f}", f"{f / o:.2f}×"])
            print(bl.machine())
            print(f"{repeat} runs each, medians, ms; 2 collectors × {count} records\n")
            print(bl.table(["query", "one daemon, all records", "front over 2 peers", "front / one"], rows))
        finally:
            for d in (front, a, b, one):
                d.stop()
    if args.smoke:
        print("federation smoke: OK (the front's answers are its peers' merged)")
    return 0


def check(name: str, path: str, front: Any, a: bl.Daemon, b: bl.Daemon) -> None:
    """The front answers what its peers' own answers, merged, say. (The one
    daemon's copies of the records carry other times: the load generator
    stamps records with its clock as it sends.)"""

    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in ("id", "peers", "partial", "next")}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    if path.startswith("/api/tasks"):
        both = a.get_json(path)["tasks"] + b.get_json(path)["tasks"]
        want = [t["root"] for t in sorted(both, key=lambda t: -t["started"])[:100]]
        ok = [t["root"] for t in front["tasks"]] == want
    elif path.startswith("/api/records"):
        both = a.get_json(path)["records"] + b.get_json(path)["records"]
        want = [r["key"] for r in sorted(both, key=lambda r: -r["created"])[:100]]
        ok = [r["key"] for r in front["records"]] == want
    else:
        ok = strip(front) == strip(a.get_json(path))
    if not ok:
        raise bl.BenchError(f"{name}: the front's answer is not its peers' merged")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bl.BenchError as e:
        print(f"federation bench: {e}", file=sys.stderr)
        sys.exit(1)
