"""JetStream benchmark: records/s end to end through NATS JetStream against
direct intake into one distlogd, in one run, round by round.

Each round runs, in turn (the order rotates every round), the same load
from ``distlog-loadgen send --pregen`` (N PUSH connections, unlimited
rate, every body encoded before the clock starts) into:

1. ``direct``: one distlogd with its default configuration (store + live
   feed), a fresh store; the clock stops when record id N is queryable
   (queryable implies synced to the journal: durable).
2. ``jetstream``: a fresh nats-server (``-js``, file storage in a temp
   dir), an agent distlogd whose only sink is ``jetstream``, and one
   collector distlogd with a ``jetstream`` source and a store; the clock
   stops when record id N is queryable in the collector. Every record has
   then been published, acknowledged by JetStream, fetched, synced in the
   collector's journal and acknowledged back.
3. ``jetstream x2``: the same with two collectors sharing the consumer;
   the clock stops when their stores together hold N records.

Records/s = N / (done − first record sent). Every process runs on this
machine (2 cores shared with everything else): the JetStream path runs
three or four busy processes where direct intake runs one, so the ratio
is a floor for a deployment where they are on separate machines.

    python bench/jetstream/run.py             # 3 rounds of 100k records
    python bench/jetstream/run.py --smoke     # tiny, asserts the path works

Binaries come from $DISTLOG_BIN_DIR (default target/release); nats-server
from PATH (scripts/bootstrap.sh installs Debian's).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib as bl

CONTENDERS = ("direct", "jetstream", "jetstream2")
LABELS = {
    "direct": "(1) direct intake",
    "jetstream": "(2) agent → JetStream → collector",
    "jetstream2": "(3) agent → JetStream → 2 collectors",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Nats:
    def __init__(self, root: Path) -> None:
        exe = shutil.which("nats-server")
        if exe is None:
            raise bl.BenchError("nats-server not found: run scripts/bootstrap.sh")
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [exe, "-js", "-sd", str(root), "-a", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + bl.PATIENCE
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=bl.PATIENCE)


def agent_config(url: str) -> str:
    return f"sinks:\n  nats:\n    type: jetstream\n    url: {url}\nroutes:\n  mode: all\n  default: [nats]\n"


def collector_config(url: str) -> str:
    return (
        f"sources:\n  nats:\n    type: jetstream\n    url: {url}\n"
        "sinks:\n  store:\n    type: store\n"
        "routes:\n  mode: all\n  default: [store]\n"
    )


def send(endpoint: str, args: argparse.Namespace) -> float:
    sent = bl.loadgen_send(endpoint, args.count, connections=args.connections, pregen=True)
    return float(sent["start_epoch"])


def run_direct(args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory(prefix="distlog-bench-") as tmp:
        d = bl.Daemon(Path(tmp) / "store")
        try:
            start = send(d.intake, args)
            done = d.wait_queryable(args.count)
        finally:
            d.stop()
    return args.count / (done - start)


def run_jetstream(args: argparse.Namespace, collectors: int) -> float:
    with tempfile.TemporaryDirectory(prefix="distlog-bench-") as tmp:
        root = Path(tmp)
        nats = Nats(root / "nats")
        started: list[bl.Daemon] = []
        try:
            (root / "agent.yml").write_text(agent_config(nats.url))
            (root / "collector.yml").write_text(collector_config(nats.url))
            agent = bl.Daemon(root / "agent-store", "--config", str(root / "agent.yml"))
            started.append(agent)
            cs = [
                bl.Daemon(root / f"c{i}", "--config", str(root / "collector.yml")) for i in range(collectors)
            ]
            started.extend(cs)
            start = send(agent.intake, args)
            done = cs[0].wait_queryable(args.count) if collectors == 1 else wait_sum(cs, args.count)
            check(agent, cs, args.count)
        finally:
            for d in started:
                d.stop()
            nats.stop()
    return args.count / (done - start)


def wait_sum(cs: list[bl.Daemon], n: int) -> float:
    deadline = time.monotonic() + bl.PATIENCE
    while True:
        if sum(c.last_id() for c in cs) >= n:
            return time.time()
        if time.monotonic() > deadline:
            raise bl.BenchError(f"collectors: gave up waiting for {n}: {[c.stats() for c in cs]}")
        time.sleep(0.01)


def check(agent: bl.Daemon, cs: list[bl.Daemon], n: int) -> None:
    sink = agent.stats()["jetstream"]["sinks"][0]
    if sink["acked"] != n:
        raise bl.BenchError(f"agent: {n} sent, JetStream acknowledged {sink['acked']}: {sink}")
    stored = sum(c.wait_stored(1, poll=0.01, timeout=10.0)["store"]["records"] for c in cs)
    if stored != n:
        raise bl.BenchError(f"collectors stored {stored} of {n}")


RUNNERS: dict[str, Callable[[argparse.Namespace], float]] = {
    "direct": run_direct,
    "jetstream": lambda a: run_jetstream(a, 1),
    "jetstream2": lambda a: run_jetstream(a, 2),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--smoke", action="store_true", help="2,000 records, one round: checks the path")
    args = p.parse_args()
    if args.smoke:
        args.count, args.rounds = 2000, 1
    rates: dict[str, list[float]] = {c: [] for c in CONTENDERS}
    for r in range(args.rounds):
        order = CONTENDERS[r % len(CONTENDERS) :] + CONTENDERS[: r % len(CONTENDERS)]
        for c in order:
            rate = RUNNERS[c](args)
            rates[c].append(rate)
            print(f"round {r + 1}: {LABELS[c]}: {bl.fmt_int(rate)} records/s", file=sys.stderr)
    direct = bl.median(rates["direct"])
    rows = [
        [
            LABELS[c],
            bl.fmt_int(bl.median(rates[c])),
            bl.spread(rates[c]),
            f"{bl.median(rates[c]) / direct:.2f}",
        ]
        for c in CONTENDERS
    ]
    print(f"{args.count:,} JSON records, {args.connections} connections, {args.rounds} rounds")
    print(bl.machine())
    print(bl.table(["path", "records/s (median)", "spread", "vs direct"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
