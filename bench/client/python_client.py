"""Cost per `logger.info` call on the calling thread, side by side in one run.

Contenders, alternated round by round so machine noise hits all alike:
no handler, the stdlib SocketHandler (to a local TCP reader), distlog JSON,
distlog pickle, and distlog JSON inside a scope. Receivers run in separate
processes so they do not share our GIL. Each round waits until distlog's
queue has drained, so one contender's background sending does not land in
the next contender's timing; distlog's own sender thread does compete for
the GIL during its round, as it would in a real program.

    .venv/bin/python bench/client/python_client.py            # full run
    .venv/bin/python bench/client/python_client.py --smoke    # seconds, checks it works
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import socket
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List

import distlog

PULL_SINK = """
import sys, zmq
ctx = zmq.Context(); s = ctx.socket(zmq.PULL); s.bind('tcp://127.0.0.1:*')
print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
while True:
    s.recv_multipart()
"""

TCP_SINK = """
import socket, threading
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen()
print(srv.getsockname()[1], flush=True)
def drain(c):
    while c.recv(1 << 16):
        pass
while True:
    c, _ = srv.accept()
    threading.Thread(target=drain, args=(c,), daemon=True).start()
"""


def start(code: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def isolated(name: str, handler: logging.Handler | None) -> logging.Logger:
    logger = logging.getLogger(f"bench.{name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    if handler is not None:
        logger.addHandler(handler)
    return logger


def drain(handler: distlog.ZmqHandler) -> None:
    queue = handler._sender._queue
    deadline = time.monotonic() + 60
    while queue and time.monotonic() < deadline:
        time.sleep(0.005)


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
        json_h = distlog.ZmqHandler(endpoint, queue_size=queue)
        pickle_h = distlog.ZmqHandler(endpoint, queue_size=queue)
        pickle_h.setFormatter(distlog.PickleFormatter())
        scope_h = distlog.ZmqHandler(endpoint, queue_size=queue)
        sock_h = logging.handlers.SocketHandler("127.0.0.1", int(port))
        loggers = {
            "no handler": isolated("none", None),
            "stdlib SocketHandler": isolated("socket", sock_h),
            "distlog JSON": isolated("json", json_h),
            "distlog pickle": isolated("pickle", pickle_h),
            "distlog JSON in a scope": isolated("scope", scope_h),
        }
        drains: Dict[str, Callable[[], None]] = {
            "distlog JSON": lambda: drain(json_h),
            "distlog pickle": lambda: drain(pickle_h),
            "distlog JSON in a scope": lambda: drain(scope_h),
        }
        results: Dict[str, List[float]] = {name: [] for name in loggers}
        for name, logger in loggers.items():  # warm-up: connections, caches
            logger.info("warm-up %d", 0)
            drains.get(name, lambda: None)()
        for _ in range(args.rounds):
            for name, logger in loggers.items():
                info = logger.info
                n = args.calls
                if name.endswith("in a scope"):
                    with distlog.task("bench", user="leo", request=42):
                        t0 = time.perf_counter_ns()
                        for i in range(n):
                            info("request %d handled", i)
                        elapsed = time.perf_counter_ns() - t0
                else:
                    t0 = time.perf_counter_ns()
                    for i in range(n):
                        info("request %d handled", i)
                    elapsed = time.perf_counter_ns() - t0
                results[name].append(elapsed / n)
                drains.get(name, lambda: None)()
        dropped = json_h.dropped + pickle_h.dropped + scope_h.dropped
        for h in (json_h, pickle_h, scope_h, sock_h):
            h.close()
    finally:
        pull.kill()
        tcp.kill()

    none = statistics.median(results["no handler"])
    sock = statistics.median(results["stdlib SocketHandler"])
    print(f"Python {sys.version.split()[0]}, {args.calls} calls x {args.rounds} rounds, alternating\n")
    print("| contender | median ns/call | min–max | × no handler | × SocketHandler |")
    print("|---|---:|---:|---:|---:|")
    for name, samples in results.items():
        med = statistics.median(samples)
        print(
            f"| {name} | {med:,.0f} | {min(samples):,.0f}–{max(samples):,.0f} "
            f"| {med / none:.2f} | {med / sock:.2f} |"
        )
    print(f"\ndistlog records dropped during the run: {dropped}")
    if args.smoke:
        assert dropped == 0, "the smoke run must not drop"
        print("1 passed, 0 failed: python client benchmark smoke")
    return 0


if __name__ == "__main__":
    socket.setdefaulttimeout(60)
    sys.exit(main())
