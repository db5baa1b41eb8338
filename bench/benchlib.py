"""What the benchmark drivers share: finding the binaries, running distlogd
on ports chosen at run time, the load generator, /proc figures, statistics
and Markdown tables. Standard library only.

Binaries come from ``$DISTLOG_BIN_DIR`` (as in ``tests/conftest.py``),
default ``target/release`` under the repository root.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(os.environ.get("DISTLOG_BIN_DIR", ROOT / "target" / "release"))
# Guards against hangs only.
PATIENCE = 120.0


class BenchError(RuntimeError):
    """A benchmark could not run or produced a wrong result."""


def binary(name: str) -> Path:
    path = BIN_DIR / name
    if not path.is_file():
        raise BenchError(
            f"{path} is missing: build it with `cargo build --release -p distlogd "
            f"-p distlog-cli -p distlog-loadgen`, or point DISTLOG_BIN_DIR at its directory"
        )
    return path


# -- /proc ------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a live process: the sum over its live threads of
    /proc/<pid>/task/*/schedstat (nanoseconds; threads that exited are
    not counted), else utime + stime of /proc/<pid>/stat (10 ms ticks)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def status_kib(pid: int, field: str) -> int:
    """A ``kB`` line of /proc/<pid>/status (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise BenchError(f"no {field} in /proc/{pid}/status")


# -- child processes -------------------------------------------------------


class Child:
    """A child process whose stderr lines are collected by a thread."""

    def __init__(self, argv: Sequence[str | Path], *, stdin: int | None = None) -> None:
        self.argv = [str(a) for a in argv]
        self.proc = subprocess.Popen(
            self.argv,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pid = self.proc.pid
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stderr,), daemon=True).start()

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self.stderr.append(line)
            self.lines.put(line)

    def wait_line(self, needle: str, timeout: float = PATIENCE) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self.argv[0]}: no {needle!r} line:\n{self.tail()}")
            try:
                line = self.lines.get(timeout=min(left, 0.2))
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise BenchError(
                        f"{self.argv[0]} exited {self.proc.returncode}:\n{self.tail()}"
                    ) from None
                continue
            if needle in line:
                return line

    def read_json(self, timeout: float = PATIENCE) -> dict[str, Any]:
        """The next stdout line, as JSON (a summary)."""
        out: list[str] = []
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        t = threading.Thread(target=lambda: out.append(stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not out or not out[0].strip():
            raise BenchError(f"{self.argv[0]}: no summary on stdout:\n{self.tail()}")
        return json.loads(out[0])

    def tail(self, n: int = 15) -> str:
        return "".join(self.stderr[-n:])

    def finish(self, timeout: float = PATIENCE) -> int:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def field(line: str, name: str) -> str:
    m = re.search(rf"\b{name}=(\S+)", line)
    if not m:
        raise BenchError(f"no {name}= in {line!r}")
    return m.group(1)


# -- distlogd --------------------------------------------------------------


class Api:
    """A kept-alive HTTP connection to distlogd's API."""

    def __init__(self, addr: str) -> None:
        host, port = addr.rsplit(":", 1)
        self._conn = http.client.HTTPConnection(host, int(port), timeout=PATIENCE)

    def get(self, path: str) -> tuple[int, bytes]:
        """One request: (status, body)."""
        for attempt in (0, 1):
            try:
                self._conn.request("GET", path)
                resp = self._conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, ConnectionError):
                self._conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get_json(self, path: str) -> Any:
        status, body = self.get(path)
        if status != 200:
            raise BenchError(f"GET {path}: {status} {body[:200]!r}")
        return json.loads(body)

    def stats(self) -> dict[str, Any]:
        return self.get_json("/api/stats")

    def close(self) -> None:
        self._conn.close()


class Daemon(Api):
    """distlogd with its default configuration, on ports chosen at run time."""

    def __init__(self, store: Path, *extra: str) -> None:
        self.child = Child(
            [
                binary("distlogd"),
                "--listen",
                "tcp://127.0.0.1:*",
                "--http",
                "127.0.0.1:0",
                "--store",
                str(store),
                *extra,
            ]
        )
        self.pid = self.child.pid
        line = self.child.wait_line("distlogd ready")
        self.intake = field(line, "intake").replace("0.0.0.0", "127.0.0.1")
        self.http = field(line, "http")
        self.server = "http://" + self.http
        super().__init__(self.http)

    def last_id(self) -> int:
        """The store id of the newest queryable record (0 if none). In a
        fresh store ids run 1, 2, 3…, so this is also the count stored."""
        rows = self.get_json("/api/records?limit=1")["records"]
        return int(rows[0]["id"]) if rows else 0

    def wait_queryable(self, n: int, poll: float = 0.01, timeout: float = PATIENCE) -> float:
        """Polls until record id ``n`` is queryable; returns that moment
        (epoch seconds). Cheap enough to poll often: one indexed row."""
        deadline = time.monotonic() + timeout
        while True:
            if self.last_id() >= n:
                return time.time()
            if time.monotonic() > deadline:
                raise BenchError(f"distlogd: gave up waiting for {n} records: {self.stats()}")
            if self.child.proc.poll() is not None:
                raise BenchError(f"distlogd exited:\n{self.child.tail()}")
            time.sleep(poll)

    def wait_decoded(self, n: int, poll: float = 0.01) -> tuple[float, dict[str, Any]]:
        """Polls /api/stats until ``n`` messages were decoded (and so routed:
        routing happens on the intake thread); returns (that moment, stats).
        Cheap only without a store sink, whose record count it would run."""
        deadline = time.monotonic() + PATIENCE
        while True:
            s = self.stats()
            if s["decoded"] + s["rejected"]["total"] >= n:
                return time.time(), s
            if time.monotonic() > deadline:
                raise BenchError(f"distlogd: gave up waiting for {n} decoded: {s}")
            time.sleep(poll)

    def wait_stored(self, n: int, poll: float = 0.5, timeout: float = 3600.0) -> dict[str, Any]:
        """Polls /api/stats (which counts the store) until ``n`` records
        have been stored since start."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats()
            if s["store"]["stored"] >= n:
                return s
            if time.monotonic() > deadline:
                raise BenchError(f"distlogd: gave up waiting for {n} stored: {s}")
            time.sleep(poll)

    def stop(self) -> int:
        self.close()
        if self.child.proc.poll() is None:
            self.child.proc.send_signal(signal.SIGTERM)
        return self.child.finish()


# -- the load generator ----------------------------------------------------


def loadgen_send(
    endpoint: str,
    count: int,
    *,
    encoding: str = "json",
    connections: int = 4,
    pregen: bool = False,
    extra: Sequence[str] = (),
    on_sending: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Runs ``distlog-loadgen send`` to completion; returns its summary.
    ``on_sending`` runs (on this thread) once the sender's clock starts."""
    argv: list[str | Path] = [
        binary("distlog-loadgen"),
        "send",
        "--endpoint",
        endpoint,
        "--count",
        str(count),
        "--encoding",
        encoding,
        "--connections",
        str(connections),
        *(["--pregen"] if pregen else []),
        *extra,
    ]
    lg = Child(argv)
    try:
        lg.wait_line("distlog-loadgen sending")
        if on_sending is not None:
            on_sending()
        summary = lg.read_json()
        if lg.finish() != 0:
            raise BenchError(f"distlog-loadgen failed:\n{lg.tail()}")
    finally:
        lg.kill()
    if summary["records"] != count:
        raise BenchError(f"distlog-loadgen sent {summary['records']} of {count}")
    return summary


def loadgen_sink(count: int, timeout: float = PATIENCE) -> tuple[Child, str]:
    """Starts the raw PULL receiver; returns it and its endpoint."""
    sink = Child(
        [
            binary("distlog-loadgen"),
            "sink",
            "--count",
            str(count),
            "--timeout",
            str(timeout),
            "--hold",
        ],
        stdin=subprocess.PIPE,
    )
    return sink, field(sink.wait_line("sink ready"), "endpoint")


# -- numbers and tables ----------------------------------------------------


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def spread(xs: Sequence[float]) -> str:
    """Min–max as a percentage around the median: ``±12%``."""
    if len(xs) < 2:
        return "–"
    m = median(xs)
    half = (max(xs) - min(xs)) / 2
    return f"±{100 * half / m:.0f}%" if m else "–"


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def machine() -> str:
    """One line about this machine, for the report."""
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = status_like("/proc/meminfo", "MemTotal")
    return f"{os.cpu_count()} CPUs ({model}), {mem / 2**20:.1f} GiB, Python {sys.version.split()[0]}"


def status_like(path: str, key: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0
