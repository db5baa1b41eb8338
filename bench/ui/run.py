"""Web UI benchmark: time to first paint and to expand-all of one task's tree
of 50,000 records, in headless Chromium, against a real distlogd.

The tree is sent with raw pyzmq in a loop, in the wire format the Python
client uses (the tutorial's field set, JSON, topic ``PLJ``), into distlogd's
default configuration. Its shape: 25 batches of 40 items, each item a scope
of ~45 records, one item per batch failing (ERROR + failure record), and
one flat scope of thousands of records; the root succeeds.

Measured in the page (Performance API marks the UI sets), ``--repeat``
times each, a fresh page load every round:

- first paint: from navigation start to the first frame with the tree
  drawn (page and scripts, the /api/tree fetch and JSON parse, the build,
  the first rows), split into fetch and the rest;
- expand all: from the click to the next frame with every branch open;
- collapse all, and a find that hits 1 record in 1,000;
- DOM nodes in the page with everything open (the view draws only the rows
  on screen).

Reference, in the same browser and run: the same tree drawn naively, every
line a DOM node (nested lists, all open), timed from the same fetched JSON
to the next frame. This is roughly what viewers that render the whole tree
pay.

    python bench/ui/run.py            # 50,000 records, 5 rounds
    python bench/ui/run.py --smoke    # 2,000 records, 2 rounds, a few seconds

Needs Debian's ``chromium`` and ``chromium-driver``, and ``selenium`` and
``pyzmq`` in the Python that runs it (the project's ``.venv`` has them).
Binaries from ``$DISTLOG_BIN_DIR`` (default ``target/release``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib as bl

RARE = "zanzibar"


def records(n: int, host: str = "benchhost", pid: int = 4242) -> tuple[str, list[bytes]]:
    """Exactly ``n`` JSON bodies of one task; returns (root, bodies)."""
    root = str(uuid.uuid4())
    t0 = time.time() - 600.0
    out: list[bytes] = []
    seqs: dict[str, int] = {}
    counter = [0]
    base = {
        "name": "app.worker",
        "args": None,
        "levelname": "INFO",
        "levelno": 20,
        "pathname": "/srv/app/worker.py",
        "filename": "worker.py",
        "module": "worker",
        "exc_info": None,
        "exc_text": None,
        "stack_info": None,
        "lineno": 120,
        "funcName": "process",
        "thread": 140_234_567_890_123,
        "threadName": "MainThread",
        "processName": "MainProcess",
        "process": pid,
        "hostname": host,
    }

    def emit(scope: str, message: str, ctx: dict[str, Any], **extra: Any) -> None:
        seq = seqs.get(scope, 0)
        seqs[scope] = seq + 1
        counter[0] += 1
        created = t0 + counter[0] * 0.001
        body = dict(base)
        body.update(
            msg=message,
            message=message,
            created=created,
            msecs=(created % 1) * 1000,
            relativeCreated=counter[0],
            asctime=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created)) + ",000",
            context={**ctx, "key": f"{seq}@{scope}"},
        )
        body.update(extra)
        out.append(json.dumps(body).encode())

    def scope(sid: str, message: str, ctx: dict[str, Any], inner: int, fail: bool = False) -> None:
        emit(sid, message, ctx, scope_event="open")
        for i in range(inner):
            word = f" {RARE}" if (counter[0] % 1000) == 999 else ""
            if i % 15 == 7:
                emit(sid, f"retrying item part {i}{word}", ctx, levelname="WARNING", levelno=30)
            else:
                emit(sid, f"processed part {i} of {message}{word}", ctx)
        if fail:
            emit(sid, f"{message}: giving up", ctx, levelname="ERROR", levelno=40)
            emit(
                sid,
                message,
                ctx,
                levelname="ERROR",
                levelno=40,
                scope_event="fail",
                scope_duration=0.5,
                exc_text="Traceback (most recent call last):\n  ...\nTimeoutError: upstream timed out",
            )
        else:
            emit(sid, message, ctx, scope_event="close", scope_duration=0.5)

    # Sizes scale with n; the flat scope takes ~6%, batches the rest.
    batches = max(1, min(25, n // 400))
    flat = max(10, n // 16)
    per_item = 47  # open + 45 + close
    items = max(1, (n - flat - 2 - 2 * batches) // (batches * per_item))
    emit(root, "nightly import", {"run": "bench"}, scope_event="open")
    n_child = 0
    for b in range(batches):
        n_child += 1
        bid = f"{root}/{n_child}"
        emit(bid, f"batch {b}", {"batch": b}, scope_event="open")
        for i in range(items):
            scope(f"{bid}/{i + 1}", f"item {b}.{i}", {"item": i}, 45, fail=(i == items // 2))
        emit(bid, f"batch {b}", {"batch": b}, scope_event="close", scope_duration=1.0)
    n_child += 1
    left = n - len(out) - 3  # the flat scope's open and close, the root's close
    scope(f"{root}/{n_child}", "bulk load", {"table": "events"}, max(0, left))
    emit(root, "nightly import", {"run": "bench"}, scope_event="close", scope_duration=60.0)
    assert len(out) == n, (len(out), n)
    return root, out


def send(endpoint: str, bodies: list[bytes]) -> float:
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.LINGER, 60_000)
    sock.connect(endpoint)
    t = time.perf_counter()
    for body in bodies:
        sock.send_multipart([b"PLJ", body])
    sock.close()
    ctx.term()
    return time.perf_counter() - t


def browser(tmp: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={tmp / 'chromium'}",
    ):
        options.add_argument(flag)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(bl.PATIENCE)
    driver.set_script_timeout(bl.PATIENCE)
    return driver


def wait_js(driver: Any, expr: str, what: str) -> Any:
    deadline = time.monotonic() + bl.PATIENCE
    while True:
        value = driver.execute_script(f"return {expr}")
        if value:
            return value
        if time.monotonic() > deadline:
            raise bl.BenchError(f"gave up waiting for {what}")
        time.sleep(0.02)


MARKS = """
const m = (n) => { const e = performance.getEntriesByName(n); return e.length ? e[0].startTime : null; };
return {fetch: m('distlog:tree-fetch'), fetched: m('distlog:tree-fetched'),
        painted: m('distlog:tree-painted'),
        rows: document.querySelector('.tree-canvas').getAttribute('aria-rowcount')};
"""

# Times the UI's own buttons from the click to the next frame.
CLICK = """
const [selector, done] = arguments;
const t0 = performance.now();
document.querySelector(selector).click();
requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0), 0));
"""

FIND = """
const [word, done] = arguments;
const box = document.querySelector('.tree-tools input[type=search]');
const t0 = performance.now();
box.value = word;
box.dispatchEvent(new Event('input'));
const check = () => {
  const n = document.querySelector('.tree-tools .count').textContent;
  if (n) requestAnimationFrame(() => setTimeout(() => done([performance.now() - t0 - 200, n]), 0));
  else setTimeout(check, 5);
};
check();
"""

# The reference: every line a DOM node, from the same JSON, to the next frame.
NAIVE = """
const [root, done] = arguments;
(async () => {
const answer = await (await fetch('/api/tree/' + encodeURIComponent(root))).json();
const t0 = performance.now();
const host = document.createElement('div');
host.style.cssText = 'position:fixed;inset:0;overflow:auto;background:#fff;z-index:99;font:13px sans-serif';
const list = (scope) => {
  const ul = document.createElement('ul');
  for (const e of scope.entries) {
    const li = document.createElement('li');
    if (e.type === 'scope') {
      const head = document.createElement('div');
      head.textContent = (e.status === 'failed' ? '✗ ' : '✓ ') + e.message + ' ' + (e.duration ?? '');
      li.append(head, list(e));
    } else {
      const level = document.createElement('span');
      level.textContent = e.levelname + ' ';
      li.append(level, e.message);
    }
    ul.append(li);
  }
  return ul;
};
host.append(list(answer.scope));
document.body.append(host);
host.getBoundingClientRect();
requestAnimationFrame(() => setTimeout(() => {
  const ms = performance.now() - t0;
  const nodes = document.getElementsByTagName('*').length;
  host.remove();
  done([ms, nodes]);
}, 0));
})();
"""


def main() -> int:
    ap = argparse.ArgumentParser(description="distlog web UI benchmark")
    ap.add_argument("--smoke", action="store_true", help="2,000 records, 2 rounds; checks the page works")
    ap.add_argument("--records", type=int, help="records in the task (default 50000; smoke 2000)")
    ap.add_argument("--repeat", type=int, help="rounds (default 5; smoke 2)")
    args = ap.parse_args()
    n = args.records or (2_000 if args.smoke else 50_000)
    repeat = args.repeat or (2 if args.smoke else 5)
    for tool in ("chromium", "chromedriver"):
        if not shutil.which(tool) and not Path(f"/usr/bin/{tool}").exists():
            raise bl.BenchError(f"{tool} is missing: apt-get install chromium chromium-driver")

    with tempfile.TemporaryDirectory(prefix="distlog-ui-") as tmp_s:
        tmp = Path(tmp_s)
        d = bl.Daemon(tmp / "distlog.db")
        driver = None
        try:
            t = time.perf_counter()
            root, bodies = records(n)
            gen_s = time.perf_counter() - t
            send_s = send(d.intake, bodies)
            d.wait_stored(n, poll=0.2)
            print(
                f"sent {n:,} records in {send_s:.2f} s (generated in {gen_s:.2f} s); stored",
                file=sys.stderr,
            )
            api_ms = []
            size = 0
            for _ in range(repeat):
                t = time.perf_counter()
                status, body = d.get(f"/api/tree/{root}")
                api_ms.append(1000 * (time.perf_counter() - t))
                size = len(body)
                if status != 200:
                    raise bl.BenchError(f"/api/tree: {status}")
            got = json.loads(body)["records"]
            if got != n:
                raise bl.BenchError(f"the tree has {got} records, not {n}")

            driver = browser(tmp)
            url = f"{d.server}/tasks/{root}"
            first, fetch, rest, expand, collapse, find, naive = [], [], [], [], [], [], []
            rows_default = rows_all = nodes_all = naive_nodes = 0
            found = ""
            for _ in range(repeat):
                driver.get("about:blank")
                driver.get(url)
                wait_js(driver, "document.body.dataset.treePainted", "the tree's first paint")
                marks = driver.execute_script(MARKS)
                first.append(marks["painted"])
                fetch.append(marks["fetched"] - marks["fetch"])
                rest.append(marks["painted"] - marks["fetched"])
                rows_default = int(marks["rows"])
                expand.append(driver.execute_async_script(CLICK, "[data-action=expand-all]"))
                rows_all = int(driver.execute_script(MARKS)["rows"])
                nodes_all = int(driver.execute_script("return document.getElementsByTagName('*').length"))
                collapse.append(driver.execute_async_script(CLICK, "[data-action=collapse-all]"))
                ms, found = driver.execute_async_script(FIND, RARE)
                find.append(ms)
                ms, naive_nodes = driver.execute_async_script(NAIVE, root)
                naive.append(ms)
            # A scope's line stands for its opening record: fully open, a
            # tree has as many lines as records.
            if rows_all != n:
                raise bl.BenchError(f"expand all shows {rows_all} lines; the tree has {n} records")
            if args.smoke:
                shot = bl.ROOT / "artifacts" / "ui" / "bench-smoke.png"
                shot.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(shot))
        finally:
            if driver is not None:
                driver.quit()
            d.stop()

    med = bl.median
    print(f"## Web UI: one task of {n:,} records\n")
    print(
        f"Machine: {bl.machine()}; {chromium_version()} headless. {repeat} rounds, a fresh page load "
        f"each; times in ms (median, spread).\n"
    )
    rows = [
        ["`/api/tree` alone (http.client, kept alive)", f"{med(api_ms):.0f}", bl.spread(api_ms)],
        ["first paint (navigation → tree drawn)", f"{med(first):.0f}", bl.spread(first)],
        ["· of which fetch + JSON parse", f"{med(fetch):.0f}", bl.spread(fetch)],
        ["· of which build + first rows", f"{med(rest):.0f}", bl.spread(rest)],
        ["expand all (click → drawn)", f"{med(expand):.0f}", bl.spread(expand)],
        ["collapse all (click → drawn)", f"{med(collapse):.0f}", bl.spread(collapse)],
        [f"find `{RARE}` (input → drawn, less the 200 ms debounce)", f"{med(find):.0f}", bl.spread(find)],
        ["reference: every line a DOM node (JSON → drawn)", f"{med(naive):.0f}", bl.spread(naive)],
    ]
    print(bl.table(["what", "ms", "spread"], rows))
    print()
    print(
        f"Tree JSON {size / 2**20:.1f} MiB. Lines shown by default: {rows_default:,}; "
        f"after expand all: {rows_all:,}, drawn with {nodes_all:,} DOM elements in the page "
        f"(the reference: {naive_nodes:,}). Find: {found}."
    )
    if args.smoke:
        print("ui smoke: OK (the tree painted, expand all showed every record, find answered)")
    return 0


def chromium_version() -> str:
    try:
        import subprocess

        out = subprocess.run(
            [shutil.which("chromium") or "/usr/bin/chromium", "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "LC_ALL": "C"},
        ).stdout
        return out.split(" built")[0].strip() or "Chromium"
    except (OSError, ValueError):
        return "Chromium"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bl.BenchError as e:
        print(f"ui bench: {e}", file=sys.stderr)
        sys.exit(1)
