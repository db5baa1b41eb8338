"""Query benchmark: list tasks, fetch a 10k-record tree, search a word, on a
store of 1M records, through the HTTP API and through the CLI, side by side.

The store is built the way production fills it: ``distlog-loadgen send``
into a real distlogd (default configuration), first ``--big-tasks`` root
tasks of exactly ``--big-size`` records each (one connection, so each
task's records arrive in order), then the rest as tasks of 20 records over
2 connections, at full speed. Building 1M records takes about a minute;
``--store PATH`` keeps the store (and a ``PATH.bench.json`` beside it) so
later runs reuse it.

Each query runs ``--repeat`` times, API and CLI alternating:

- API: one GET on a kept-alive connection, timed to the last byte.
- CLI: ``distlog --server URL --json …`` as a subprocess, timed from
  spawn to exit (process start-up, the request, JSON re-printing).

    python bench/query/run.py            # 1M records
    python bench/query/run.py --smoke    # 20k records, one 10k-record task

Target: a 10k-record tree in < 50 ms through the API.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib as bl

RARE_WORD = "zanzibar"  # in ~1 message in 1,000 (bench/loadgen/src/records.rs)
COMMON_WORD = "batch"  # in ~1 message in 5
TREE_TARGET_MS = 50.0
HUGE_TARGET_MS = 500.0
RARE_TARGET_MS = 10.0


def build(d: bl.Daemon, args: argparse.Namespace) -> dict[str, Any]:
    """Fills an empty store; returns what the benchmark needs to know."""
    big = args.big_tasks * args.big_size
    if big > args.records:
        raise bl.BenchError("--big-tasks × --big-size exceeds --records")
    t0 = time.monotonic()
    # A few records beyond the big tasks start one more task, so a stray
    # unscoped record between tasks never leaves the last big one short.
    extra = min(20, args.records - big)
    first = bl.loadgen_send(
        d.intake,
        big + extra,
        connections=1,
        extra=["--task-records", str(args.big_size)],
    )
    huge_root = None
    huge_sent = 0
    if args.huge_size:
        huge_sent = args.huge_size + 20
        h = bl.loadgen_send(
            d.intake,
            huge_sent,
            connections=1,
            extra=["--task-records", str(args.huge_size)],
        )
        huge_root = h["roots"][0]
    rest = args.records - big - extra - huge_sent
    if rest < 0:
        raise bl.BenchError("--records is too small for the big and huge tasks")
    if rest:
        bl.loadgen_send(d.intake, rest, connections=args.connections, extra=["--task-records", "20"])
    stats = d.wait_stored(args.records, poll=0.5)
    seconds = time.monotonic() - t0
    roots = []
    for root in first["roots"][: args.big_tasks]:
        task = d.get_json(f"/api/tasks/{quote(root)}")
        if task["records"] == args.big_size:
            roots.append(root)
    if not roots:
        raise bl.BenchError(f"no task of {args.big_size} records among {first['roots']}")
    if huge_root is not None:
        task = d.get_json(f"/api/tasks/{quote(huge_root)}")
        if task["records"] != args.huge_size:
            raise bl.BenchError(f"the huge task has {task['records']} records, want {args.huge_size}")
    return {
        "records": stats["store"]["records"],
        "huge_root": huge_root,
        "huge_size": args.huge_size,
        "big_roots": roots,
        "big_size": args.big_size,
        "build_seconds": seconds,
        "build_rate": args.records / seconds,
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return 1000 * (time.perf_counter() - t), out


def main() -> int:
    ap = argparse.ArgumentParser(description="distlog query benchmark")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="20k records, 3 repeats; checks the answers",
    )
    ap.add_argument("--records", type=int, help="store size (default 1000000; smoke 20000)")
    ap.add_argument("--big-tasks", type=int, help="tasks of --big-size records (default 5; smoke 1)")
    ap.add_argument("--big-size", type=int, default=10_000, help="records of a big task (10000)")
    ap.add_argument(
        "--huge-size",
        type=int,
        help="records of one more, huge task (default 100000; smoke 0: none)",
    )
    ap.add_argument("--repeat", type=int, help="times each query runs (default 15; smoke 3)")
    ap.add_argument("--connections", type=int, default=2, help="PUSH connections for the bulk")
    ap.add_argument("--store", type=Path, help="keep (or reuse) the store here")
    args = ap.parse_args()
    args.records = args.records or (20_000 if args.smoke else 1_000_000)
    args.big_tasks = args.big_tasks or (1 if args.smoke else 5)
    args.repeat = args.repeat or (3 if args.smoke else 15)
    if args.huge_size is None:
        args.huge_size = 0 if args.smoke else 100_000

    with tempfile.TemporaryDirectory(prefix="distlog-query-") as tmp:
        store = args.store or Path(tmp) / "distlog.db"
        meta_path = store.with_name(store.name + ".bench.json")
        d = bl.Daemon(store)
        try:
            have = d.stats()["store"]["records"]
            if have and meta_path.exists():
                meta = json.loads(meta_path.read_text())
                if meta["records"] != have:
                    raise bl.BenchError(f"{store} has {have} records, {meta_path} says {meta['records']}")
                print(f"reusing {store}: {have:,} records", file=sys.stderr)
            elif have:
                raise bl.BenchError(f"{store} has records but no {meta_path}; give an empty or new --store")
            else:
                print(
                    f"building a store of {args.records:,} records…",
                    file=sys.stderr,
                    flush=True,
                )
                meta = build(d, args)
                meta_path.write_text(json.dumps(meta))
                print(
                    f"built in {meta['build_seconds']:.1f} s ({meta['build_rate']:,.0f} records/s)",
                    file=sys.stderr,
                )
            rows = run_queries(d, meta, args)
        finally:
            d.stop()
        db_bytes = sum(
            f.stat().st_size
            for p in store.parent.glob(store.name + "*")
            for f in ([p] if p.is_file() else p.rglob("*"))
            if f.is_file()
        )
        db_mib = db_bytes / 2**20

    print(
        f"## Queries: store of {meta['records']:,} records ({db_mib:,.0f} MiB on disk, "
        f"{db_bytes / meta['records']:,.0f} bytes per record)\n"
    )
    print(f"Machine: {bl.machine()}. {args.repeat} runs of each; times in ms.\n")
    if "build_rate" in meta:
        print(
            f"Store built through distlogd in {meta['build_seconds']:.1f} s "
            f"({meta['build_rate']:,.0f} records/s).\n"
        )
    print(
        bl.table(
            [
                "query",
                "API median",
                "API min–max",
                "CLI median",
                "CLI min–max",
                "CLI / API",
                "answer",
            ],
            rows,
        )
    )
    print()
    tree_ms = float(rows[1][1])
    verdict = "met" if tree_ms < TREE_TARGET_MS else "MISSED"
    print(
        f"Target: {meta['big_size']:,}-record tree via the API < {TREE_TARGET_MS:g} ms: "
        f"{verdict} ({tree_ms:.1f} ms)"
    )
    rare_ms = float(rows[2][1])
    verdict = "met" if rare_ms < RARE_TARGET_MS else "MISSED"
    print(f"Target: rare-word search via the API < {RARE_TARGET_MS:g} ms: {verdict} ({rare_ms:.1f} ms)")
    if meta.get("huge_root"):
        huge_ms = float(rows[-1][1])
        verdict = "met" if huge_ms < HUGE_TARGET_MS else "MISSED"
        print(
            f"Target: {meta['huge_size']:,}-record tree via the API < {HUGE_TARGET_MS:g} ms: "
            f"{verdict} ({huge_ms:.1f} ms)"
        )
    if args.smoke:
        print("query smoke: OK (tree, task list and searches answered, API and CLI agree)")
    return 0


def run_queries(d: bl.Daemon, meta: dict[str, Any], args: argparse.Namespace) -> list[list[str]]:
    cli = [str(bl.binary("distlog")), "--server", d.server, "--json"]
    roots: list[str] = meta["big_roots"]
    size: int = meta["big_size"]

    def api(path: str) -> Callable[[], Any]:
        def go() -> Any:
            status, body = d.get(path)
            if status != 200:
                raise bl.BenchError(f"GET {path}: {status} {body[:200]!r}")
            return body

        return go

    def run_cli(*argv: str) -> Callable[[], Any]:
        def go() -> Any:
            p = subprocess.run([*cli, *argv], capture_output=True, timeout=bl.PATIENCE, check=False)
            if p.returncode != 0:
                raise bl.BenchError(f"distlog {' '.join(argv)}: {p.stderr.decode()[-500:]}")
            return p.stdout

        return go

    def rows_of(out: bytes, key: str) -> list[Any]:
        """The API's ``{key: [...]}``, or the CLI's JSON lines."""
        try:
            doc = json.loads(out)
        except json.JSONDecodeError:
            return [json.loads(line) for line in out.splitlines() if line.strip()]
        if isinstance(doc, dict) and key in doc:
            return list(doc[key])
        return doc if isinstance(doc, list) else [doc]

    def check_tasks(out: bytes) -> str:
        tasks = rows_of(out, "tasks")
        if len(tasks) != 100:
            raise bl.BenchError(f"expected 100 tasks, got {len(tasks)}")
        return "100 tasks"

    def check_tree_of(want: int) -> Callable[[bytes], str]:
        def check(out: bytes) -> str:
            doc = json.loads(out)
            if doc.get("records") != want:
                raise bl.BenchError(f"tree has {doc.get('records')} records, want {want}")
            return f"{want:,} records, {len(out) / 2**20:.1f} MiB"

        return check

    check_tree = check_tree_of(size)

    def check_search(word: str) -> Callable[[bytes], str]:
        def check(out: bytes) -> str:
            rows = rows_of(out, "records")
            if not rows or any(word not in r["message"] for r in rows):
                raise bl.BenchError(f"search {word!r}: {len(rows)} rows, or a row without the word")
            return f"{len(rows)} records"

        return check

    queries: list[
        tuple[
            str,
            Callable[[int], tuple[Callable[[], Any], Callable[[], Any]]],
            Callable[[bytes], str],
        ]
    ] = [
        (
            "list tasks (100)",
            lambda i: (api("/api/tasks?limit=100"), run_cli("tasks", "-n", "100")),
            check_tasks,
        ),
        (
            f"tree of a {size:,}-record task",
            lambda i: (
                api(f"/api/tree/{quote(roots[i % len(roots)])}"),
                run_cli("tree", roots[i % len(roots)]),
            ),
            check_tree,
        ),
        (
            f"search a rare word ({RARE_WORD})",
            lambda i: (
                api(f"/api/records?q={RARE_WORD}&limit=100"),
                run_cli("search", RARE_WORD, "-n", "100"),
            ),
            check_search(RARE_WORD),
        ),
        (
            f"search a common word ({COMMON_WORD})",
            lambda i: (
                api(f"/api/records?q={COMMON_WORD}&limit=100"),
                run_cli("search", COMMON_WORD, "-n", "100"),
            ),
            check_search(COMMON_WORD),
        ),
    ]
    if meta.get("huge_root"):
        huge = meta["huge_root"]
        queries.append(
            (
                f"tree of a {meta['huge_size']:,}-record task",
                lambda i: (api(f"/api/tree/{quote(huge)}"), run_cli("tree", huge)),
                check_tree_of(meta["huge_size"]),
            )
        )
    rows = []
    for name, make, check in queries:
        api_ms: list[float] = []
        cli_ms: list[float] = []
        answer = ""
        for i in range(args.repeat):
            a, c = make(i)
            # Alternate which goes first, so neither always meets a warm cache.
            for which, fn, into in ((0, a, api_ms), (1, c, cli_ms))[:: 1 if i % 2 == 0 else -1]:
                ms, out = timed(fn)
                into.append(ms)
                text = check(out)
                if which == 0:
                    answer = text
        rows.append(
            [
                name,
                f"{bl.median(api_ms):.1f}",
                f"{min(api_ms):.1f}–{max(api_ms):.1f}",
                f"{bl.median(cli_ms):.1f}",
                f"{min(cli_ms):.1f}–{max(cli_ms):.1f}",
                f"{bl.median(cli_ms) / bl.median(api_ms):.1f}×",
                answer,
            ]
        )
        print(
            f"{name}: API {rows[-1][1]} ms, CLI {rows[-1][3]} ms",
            file=sys.stderr,
            flush=True,
        )
    return rows


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bl.BenchError as e:
        print(f"query benchmark failed: {e}", file=sys.stderr)
        sys.exit(1)
