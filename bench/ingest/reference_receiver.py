"""The reference receiver: the original (Python) distlogd's receive loop.

pyzmq ``recv_multipart`` on a PULL socket, then ``json.loads`` or
``pickle.loads`` by the topic's encoding byte, and nothing else: this is
the cost the original paid per record before doing anything with it, so
it flatters the reference. Used by ``bench/ingest/run.py``; runs on its
own too::

    python bench/ingest/reference_receiver.py --count 100000 &
    target/release/distlog-loadgen send --endpoint tcp://127.0.0.1:PORT \
        --count 100000

Prints ``reference receiver ready endpoint=...`` on stderr once bound and
a one-line JSON summary on stdout once ``--count`` messages arrived.
(``pickle.loads`` runs code a sender chooses: never point this at
anything but the load generator.)
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import sys
import time

import zmq


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default="tcp://127.0.0.1:*")
    ap.add_argument("--count", type=int, required=True, help="messages to receive")
    ap.add_argument("--timeout", type=float, default=300.0, help="give up after (s)")
    ap.add_argument("--rcvhwm", type=int, default=10_000, help="as distlogd's")
    ap.add_argument("--hold", action="store_true", help="wait for stdin EOF before exiting")
    ap.add_argument("--show", action="store_true", help="print the first record on stderr")
    args = ap.parse_args()

    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.RCVHWM, args.rcvhwm)
    sock.setsockopt(zmq.RCVTIMEO, 100)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(args.bind)
    endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu_ready = ru.ru_utime + ru.ru_stime
    print(f"reference receiver ready endpoint={endpoint}", file=sys.stderr, flush=True)

    deadline = time.monotonic() + args.timeout
    received = decoded = failed = 0
    first = last = None
    loads = {ord("J"): json.loads, ord("P"): pickle.loads}
    while received < args.count and time.monotonic() < deadline:
        try:
            frames = sock.recv_multipart()
        except zmq.Again:
            continue
        received += 1
        try:
            topic, body = frames
            record = loads[topic[2]](body)
        except Exception:  # the original counted and carried on
            failed += 1
            continue
        decoded += 1
        if args.show and decoded == 1:
            print(json.dumps(record, indent=1), file=sys.stderr, flush=True)
        last = time.time()
        if first is None:
            first = last

    ru = resource.getrusage(resource.RUSAGE_SELF)
    summary = {
        "mode": "reference",
        "endpoint": endpoint,
        "complete": received >= args.count,
        "messages": received,
        "decoded": decoded,
        "failed": failed,
        "first_epoch": first,
        "last_epoch": last,
        "cpu_seconds": ru.ru_utime + ru.ru_stime - cpu_ready,
        "peak_rss_kib": ru.ru_maxrss,
    }
    print(json.dumps(summary), flush=True)
    if args.hold:
        sys.stdin.read()
    sock.close()
    ctx.term()
    return 0 if summary["complete"] and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
