"""Issue #13: what pushed log levels cost the logging call, side by side.

One run, contenders alternated round by round: the stdlib SocketHandler,
distlog JSON with no control endpoint (as before #13), distlog JSON
subscribed to a control endpoint that has sent nothing (the default for
every program), and distlog JSON while a pushed setting is applied (the
`Logger.isEnabledFor` wrapper installed; the setting is for another logger,
so what is measured is the added check). Also a suppressed `debug` call
without and with the wrapper.

    .venv/bin/python bench/client/levels.py            # full run
    .venv/bin/python bench/client/levels.py --smoke    # seconds, checks it works
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

import distlog
from distlog import _levels

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from python_client import PULL_SINK, TCP_SINK, drain, isolated, start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=20_000, help="calls per round")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--smoke", action="store_true", help="tiny counts; checks it runs")
    args = ap.parse_args()
    if args.smoke:
        args.calls, args.rounds = 300, 2

    pull, endpoint = start(PULL_SINK)
    tcp, port = start(TCP_SINK)
    try:
        queue = args.calls * 2
        off_h = distlog.ZmqHandler(endpoint, queue_size=queue, control=False)
        # Nothing listens there: the subscriber waits, as in a program whose
        # daemon publishes nothing.
        quiet_h = distlog.ZmqHandler(endpoint, queue_size=queue, control="tcp://127.0.0.1:9")
        pushed_h = distlog.ZmqHandler(endpoint, queue_size=queue, control=False)
        sock_h = logging.handlers.SocketHandler("127.0.0.1", int(port))
        rules: List[_levels.Rule] = [("some.other.logger", None, logging.DEBUG)]
        # name -> (logger, method name, rules applied during its round)
        contenders: Dict[str, Tuple[logging.Logger, str, List[_levels.Rule]]] = {
            "stdlib SocketHandler": (isolated("socket", sock_h), "info", []),
            "distlog JSON, control off": (isolated("off", off_h), "info", []),
            "distlog JSON, control subscribed, nothing heard": (isolated("quiet", quiet_h), "info", []),
            "distlog JSON, a setting applied": (isolated("pushed", pushed_h), "info", rules),
            "suppressed debug, no setting": (isolated("dbg0", off_h), "debug", []),
            "suppressed debug, a setting applied": (isolated("dbg1", off_h), "debug", rules),
        }
        handlers = {"off": off_h, "quiet": quiet_h, "pushed": pushed_h}
        drains: Dict[str, Callable[[], None]] = {name: (lambda h=h: drain(h)) for name, h in handlers.items()}
        results: Dict[str, List[float]] = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, (logger, method, applied) in contenders.items():
                _levels._install(applied)
                call = getattr(logger, method)
                n = args.calls
                t0 = time.perf_counter_ns()
                for i in range(n):
                    call("request %d handled", i)
                elapsed = time.perf_counter_ns() - t0
                _levels._install([])
                results[name].append(elapsed / n)
                for d in drains.values():
                    d()
        dropped = off_h.dropped + quiet_h.dropped + pushed_h.dropped
        for h in (off_h, quiet_h, pushed_h, sock_h):
            h.close()
    finally:
        pull.kill()
        tcp.kill()

    sock = statistics.median(results["stdlib SocketHandler"])
    print(f"Python {sys.version.split()[0]}, {args.calls} calls x {args.rounds} rounds, alternating\n")
    print("| contender | median ns/call | min–max | × SocketHandler |")
    print("|---|---:|---:|---:|")
    for name, samples in results.items():
        med = statistics.median(samples)
        print(f"| {name} | {med:,.0f} | {min(samples):,.0f}–{max(samples):,.0f} | {med / sock:.2f} |")
    print(f"\ndistlog records dropped during the run: {dropped}")
    if args.smoke:
        assert dropped == 0, "the smoke run must not drop"
        print("1 passed, 0 failed: levels benchmark smoke")
    return 0


if __name__ == "__main__":
    sys.exit(main())
