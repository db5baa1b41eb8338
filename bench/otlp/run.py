"""OTLP export benchmark: records/s through distlogd with an `otlp` sink
against the store alone, in one run, round by round (order rotating).

Contenders, each fed the same load by ``distlog-loadgen send --pregen``
(realistic records with scopes, so closing records become spans too):

1. ``store``: distlogd with a store sink only; the clock stops when
   ``/api/stats`` shows N stored.
2. ``otlp``: distlogd with an ``otlp`` sink only, posting to a receiver in
   this script (HTTP/1.1 keep-alive, reads each body and answers 200,
   decodes nothing); the clock stops when the sink's ``otlp.exported.logs``
   reaches N.
3. ``both``: store and otlp sinks; the clock stops when both are done.

Records/s = N / (done − first record sent). CPU per record = distlogd's
user+system CPU over N (the receiver is not counted).

    python bench/otlp/run.py            # 3 rounds of 100k records
    python bench/otlp/run.py --smoke    # tiny, asserts the pipeline works

Binaries come from $DISTLOG_BIN_DIR (default target/release).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib as bl

CONTENDERS = ("store", "otlp", "both")
STORE = "  store: {type: store}\n"
# batch.delay short, so the last partial batch does not wait a second.
OTLP = (
    "  otel:\n    type: otlp\n    endpoint: {url}\n    batch: {{delay: 100ms}}\n"
    "    queue: {{size: 100000}}\n    max_pending: 1000000\n"
)


class Receiver:
    """Takes every request, counts bytes, answers 200 (an empty response)."""

    def __init__(self) -> None:
        self.bytes = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                receiver.bytes += len(self.rfile.read(n))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def otel(stats: dict[str, Any]) -> dict[str, Any]:
    return next((s for s in stats["sinks"] if s["name"] == "otel"), {})


def trial(which: str, args: argparse.Namespace, receiver: Receiver) -> tuple[float, float, dict[str, Any]]:
    need_store, need_otlp = which in ("store", "both"), which in ("otlp", "both")
    sinks = (STORE if need_store else "") + (OTLP.format(url=receiver.url) if need_otlp else "")
    with tempfile.TemporaryDirectory(prefix="distlog-bench-") as tmp:
        config = Path(tmp) / "distlogd.yml"
        config.write_text("sinks:\n" + sinks)
        d = bl.Daemon(Path(tmp) / "store", "--config", str(config))
        try:
            cpu0 = bl.cpu_seconds(d.pid)
            sent = bl.loadgen_send(d.intake, args.count, connections=4, pregen=True)
            deadline = time.monotonic() + bl.PATIENCE * 10
            while True:
                s = d.stats()
                o = otel(s)
                stored = not need_store or (s.get("store") or {}).get("stored", 0) >= args.count
                exported = not need_otlp or o.get("otlp", {}).get("exported", {}).get("logs", 0) >= args.count
                if stored and exported:
                    done = time.time()
                    break
                if o.get("dropped") or time.monotonic() > deadline:
                    raise bl.BenchError(f"{which}: gave up: {s}")
                time.sleep(0.01)
            cpu = bl.cpu_seconds(d.pid) - cpu0
        finally:
            d.stop()
    return args.count / (done - sent["start_epoch"]), 1e6 * cpu / args.count, s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()
    if args.smoke:
        args.count, args.rounds = 2_000, 1
    receiver = Receiver()
    rates: dict[str, list[float]] = {c: [] for c in CONTENDERS}
    cpus: dict[str, list[float]] = {c: [] for c in CONTENDERS}
    spans = 0
    try:
        for r in range(args.rounds):
            order = CONTENDERS[r % 3 :] + CONTENDERS[: r % 3]
            for which in order:
                rate, cpu, s = trial(which, args, receiver)
                rates[which].append(rate)
                cpus[which].append(cpu)
                if which != "store":
                    spans = otel(s)["otlp"]["exported"]["spans"]
                line = f"round {r + 1} {which}: {rate:,.0f} records/s, {cpu:.1f} us CPU/record"
                print(line, file=sys.stderr)
    finally:
        receiver.close()
    base = bl.median(rates["store"])
    rows = [
        [
            c,
            bl.fmt_int(bl.median(rates[c])),
            bl.spread(rates[c]),
            f"{bl.median(rates[c]) / base:.2f}",
            f"{bl.median(cpus[c]):.1f}",
        ]
        for c in CONTENDERS
    ]
    print(f"{args.count} records per trial, {args.rounds} rounds; {spans} spans per otlp trial")
    print(bl.machine())
    print(bl.table(["sinks", "records/s", "spread", "vs store", "CPU us/record"], rows))


if __name__ == "__main__":
    main()
