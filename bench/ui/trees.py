"""Paged trees and the timeline (issue 14), in headless Chromium against a
real distlogd, sizes side by side in one run:

- first paint of a 500,000-record task (paged: the skeleton first) and of a
  5,000-record task (whole and paged), navigation start to first frame;
- unfolding a scope of 10,000 records (click to the frame with its rows);
- the timeline of a task of 5,000 scopes: click to drawn, then frame times
  while it scrolls (requestAnimationFrame deltas, scrolled one row a frame).

Also the API alone: `/api/skeleton` against `/api/tree` for the big task.

    python bench/ui/trees.py            # 500,000 / 5,000 records, 5 rounds
    python bench/ui/trees.py --smoke    # 30,000 / 2,000 records, 2 rounds

Needs what bench/ui/run.py needs; binaries from ``$DISTLOG_BIN_DIR``
(default ``target/release``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl
import run as ui  # the web UI benchmark: its sender and browser


def task(records: int, scopes: int, big: int) -> tuple[str, list[bytes]]:
    """One task of about ``records`` records: ``scopes`` item scopes in 25
    batches (fewer when small), and one flat scope of ``big`` records."""
    root = str(uuid.uuid4())
    t0 = time.time() - 3600.0
    out: list[bytes] = []
    seqs: dict[str, int] = {}
    base = {
        "name": "app.worker",
        "levelname": "INFO",
        "levelno": 20,
        "hostname": "benchhost",
        "process": 4242,
    }

    def emit(scope: str, message: str, at: float, **extra: Any) -> None:
        seq = seqs.get(scope, 0)
        seqs[scope] = seq + 1
        body = dict(base, msg=message, message=message, created=t0 + at, context={"key": f"{seq}@{scope}"})
        body.update(extra)
        out.append(json.dumps(body).encode())

    batches = min(25, max(1, scopes // 40))
    per_batch = max(1, scopes // batches)
    inner = max(0, (records - big - 4 - 2 * batches) // max(1, batches * per_batch) - 2)
    clock = 0.0
    emit(root, "nightly import", clock, scope_event="open")
    for b in range(batches):
        bid = f"{root}/{b + 1}"
        emit(bid, f"batch {b}", clock, scope_event="open")
        for i in range(per_batch):
            sid = f"{bid}/{i + 1}"
            emit(sid, f"item {b}.{i}", clock, scope_event="open")
            for k in range(inner):
                emit(sid, f"processed part {k} of item {b}.{i}", clock + 0.0001 * k)
            fail = i == per_batch // 2
            clock += 0.01
            if fail:
                emit(sid, f"item {b}.{i}", clock, levelname="ERROR", levelno=40, scope_event="fail")
            else:
                emit(sid, f"item {b}.{i}", clock, scope_event="close", scope_duration=0.01)
        emit(bid, f"batch {b}", clock, scope_event="close")
    bulk = f"{root}/{batches + 1}"
    emit(bulk, "bulk load", clock, scope_event="open")
    for k in range(big - 2):
        emit(bulk, f"row {k} loaded", clock + 0.00001 * k)
    clock += 1.0
    emit(bulk, "bulk load", clock, scope_event="close")
    emit(root, "nightly import", clock, scope_event="close")
    return root, out


SCOPE_FETCH = """
const e = performance.getEntriesByName('distlog:scope-fetch');
return e.length ? e[e.length - 1].duration : null;
"""

FIRST = """
const m = (n) => { const e = performance.getEntriesByName(n); return e.length ? e[0].startTime : null; };
const nav = performance.getEntriesByType('navigation')[0];
return {fetch: m('distlog:tree-fetch'), fetched: m('distlog:tree-fetched'),
        painted: m('distlog:tree-painted'), loaded: nav.domContentLoadedEventEnd,
        task: m('distlog:task-fetch') === null ? null : m('distlog:task-fetched') - m('distlog:task-fetch')};
"""

UNFOLD = """
const [scope, want, done] = arguments;
// Every batch folded (a batch with a failure starts open), so the bulk
// scope's line is on screen.
document.querySelector('[data-action="collapse-all"]').click();
const go = () => {
const row = document.querySelector(`.trow.scope[data-scope="${scope}"]`);
if (!row) return requestAnimationFrame(go);
const rows = () => Number(document.querySelector('.tree-canvas').getAttribute('aria-rowcount'));
const before = rows();
const t0 = performance.now();
row.click();
// Done when the scope's records are lines (less the opening one, which is
// the scope's own line).
const check = () => {
  if (rows() >= before + want) {
    requestAnimationFrame(() => setTimeout(() => done([performance.now() - t0,
      Number(document.querySelector('.tree-canvas').getAttribute('aria-rowcount'))]), 0));
  } else setTimeout(check, 1);
};
check();
};
requestAnimationFrame(go);
"""

TIMELINE = """
const [done] = arguments;
const before = Number(document.body.dataset.timelineDrawn || 0);
const t0 = performance.now();
document.querySelector('[data-action="timeline"]').click();
const check = () => {
  if (Number(document.body.dataset.timelineDrawn || 0) > before) {
    setTimeout(() => done(performance.now() - t0), 0);
  } else requestAnimationFrame(check);
};
check();
"""

SCROLL = """
const [frames, done] = arguments;
const sc = document.querySelector('.timeline-scroll');
sc.scrollTop = 0;
const times = [], draws = [];
let last = null, n = 0;
const step = (t) => {
  if (last !== null) { times.push(t - last); draws.push(Number(document.body.dataset.timelineDrawMs)); }
  last = t;
  if (n++ >= frames) return done([times, draws, sc.scrollTop]);
  sc.scrollTop += 18 * 3;
  requestAnimationFrame(step);
};
requestAnimationFrame(step);
"""


PARTS: dict[str, dict[str, list[float]]] = {}


def first_paint(driver: Any, url: str, repeat: int) -> tuple[list[float], list[float]]:
    """Navigation start to the tree's first frame, and its data's fetch;
    the page's load and the task row's fetch go to ``PARTS``."""
    first, fetch = [], []
    for _ in range(repeat):
        driver.get("about:blank")
        driver.get(url)
        ui.wait_js(driver, "document.body.dataset.treePainted", "the tree's first paint")
        m = driver.execute_script(FIRST)
        first.append(m["painted"])
        fetch.append(m["fetched"] - m["fetch"])
        PARTS.setdefault(url, {"loaded": [], "task": []})
        PARTS[url]["loaded"].append(m["loaded"])
        PARTS[url]["task"].append(m["task"])
    return first, fetch


def main() -> int:
    ap = argparse.ArgumentParser(description="distlog paged tree and timeline benchmark")
    ap.add_argument("--smoke", action="store_true", help="small sizes, 2 rounds")
    ap.add_argument("--repeat", type=int)
    args = ap.parse_args()
    big_n, small_n, scopes_n = (30_000, 2_000, 500) if args.smoke else (500_000, 5_000, 5_000)
    unfold_n = 2_000 if args.smoke else 10_000
    repeat = args.repeat or (2 if args.smoke else 5)
    with tempfile.TemporaryDirectory(prefix="distlog-trees-") as tmp_s:
        tmp = Path(tmp_s)
        d = bl.Daemon(tmp / "distlog.db")
        driver = None
        try:
            big_root, big = task(big_n, 10_000 if not args.smoke else 400, unfold_n)
            small_root, small = task(small_n, 100, 500)
            tl_root, tl = task(2 * scopes_n + 1_000, scopes_n - 27, 500)
            total = len(big) + len(small) + len(tl)
            t = time.perf_counter()
            for bodies in (big, small, tl):
                ui.send(d.intake, bodies)
            d.wait_stored(total, poll=0.2)
            print(f"sent and stored {total:,} records in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            api: dict[str, list[float]] = {"skeleton": [], "tree": [], "top": []}
            sizes: dict[str, int] = {}
            skel: dict[str, Any] = {}
            # "top": what the UI's first paint asks for (paged.js; a build
            # before the cut ignores the query and sends the whole skeleton).
            urls = {
                "skeleton": f"/api/skeleton/{big_root}",
                "tree": f"/api/tree/{big_root}",
                "top": f"/api/skeleton/{big_root}?depth=2&children=40",
            }
            for _ in range(repeat):
                for what, url in urls.items():
                    t = time.perf_counter()
                    status, body = d.get(url)
                    api[what].append(1000 * (time.perf_counter() - t))
                    if status != 200:
                        raise bl.BenchError(f"/api/{what}: {status}")
                    sizes[what] = len(body)
                    if what == "skeleton":
                        skel = json.loads(body)
            if skel["records"] != len(big):
                raise bl.BenchError(f"the skeleton counts {skel['records']} records, not {len(big)}")
            status, body = d.get(f"/api/skeleton/{tl_root}")
            tl_scopes = json.loads(body)["scopes"]
            bulk = skel["scope"]["children"][-1]
            if bulk["records"] != unfold_n:
                raise bl.BenchError(f"the bulk scope has {bulk['records']} records")

            driver = ui.browser(tmp)
            big_first, big_fetch = first_paint(driver, f"{d.server}/tasks/{big_root}", repeat)
            small_first, _ = first_paint(driver, f"{d.server}/tasks/{small_root}", repeat)
            small_paged, _ = first_paint(driver, f"{d.server}/tasks/{small_root}?paged=1", repeat)
            unfold, unfold_fetch, rows = [], [], 0
            for _ in range(repeat):
                driver.get("about:blank")
                driver.get(f"{d.server}/tasks/{big_root}")
                ui.wait_js(driver, "document.body.dataset.treePainted", "the tree's first paint")
                ms, rows = driver.execute_async_script(UNFOLD, bulk["id"], bulk["records"] - 1)
                unfold.append(ms)
                unfold_fetch.append(driver.execute_script(SCOPE_FETCH))
            draw, frames, draws = [], [], []
            for _ in range(repeat):
                driver.get("about:blank")
                driver.get(f"{d.server}/tasks/{tl_root}")
                ui.wait_js(driver, "document.body.dataset.treePainted", "the tree's first paint")
                draw.append(driver.execute_async_script(TIMELINE))
                times, per, _ = driver.execute_async_script(SCROLL, 120)
                frames.extend(times[5:])
                draws.extend(per[5:])
            if args.smoke:
                shot = bl.ROOT / "artifacts" / "ui" / "bench-timeline.png"
                shot.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(shot))
        finally:
            if driver is not None:
                driver.quit()
            d.stop()

    med = bl.median
    # A build without a mark (an older UI) gives None: left out (NaN if all are).
    unfold_fetch = [x for x in unfold_fetch if x is not None]
    loaded = [v for p in PARTS.values() for v in p["loaded"]]
    task_row = [v for p in PARTS.values() for v in p["task"] if v is not None]
    frames.sort()
    p95 = frames[int(0.95 * (len(frames) - 1))]
    print(f"## Paged trees and the timeline: {len(big):,} / {len(small):,} records, {tl_scopes:,} scopes\n")
    print(
        f"Machine: {bl.machine()}; {ui.chromium_version()} headless. {repeat} rounds; ms (median, spread).\n"
    )
    rows_t = [
        ["`/api/skeleton` of the big task", f"{med(api['skeleton']):.0f}", bl.spread(api["skeleton"])],
        ["`/api/skeleton?depth=2&children=40` (big)", f"{med(api['top']):.0f}", bl.spread(api["top"])],
        ["`/api/tree` of the big task (whole)", f"{med(api['tree']):.0f}", bl.spread(api["tree"])],
        [f"first paint, {len(big):,} records (paged)", f"{med(big_first):.0f}", bl.spread(big_first)],
        ["· of which the skeleton's fetch + parse", f"{med(big_fetch):.0f}", bl.spread(big_fetch)],
        [
            f"first paint, {len(small):,} records (whole tree)",
            f"{med(small_first):.0f}",
            bl.spread(small_first),
        ],
        [f"first paint, {len(small):,} records (paged)", f"{med(small_paged):.0f}", bl.spread(small_paged)],
        [
            "· of which the page's load (DOMContentLoaded), all first paints",
            f"{med(loaded):.0f}",
            bl.spread(loaded),
        ],
        [
            "· and the task row's fetch (/api/tasks), all first paints",
            f"{med(task_row):.0f}",
            bl.spread(task_row),
        ],
        [f"unfold a scope of {unfold_n:,} records (click → drawn)", f"{med(unfold):.0f}", bl.spread(unfold)],
        ["· of which the page's fetch + parse", f"{med(unfold_fetch):.0f}", bl.spread(unfold_fetch)],
        [f"timeline of {tl_scopes:,} scopes (click → drawn)", f"{med(draw):.0f}", bl.spread(draw)],
        [
            "timeline scroll: frame time (median; p95)",
            f"{med(frames):.1f}; {p95:.1f}",
            f"{len(frames)} frames",
        ],
        ["timeline scroll: draw per frame", f"{med(draws):.2f}", bl.spread(draws)],
    ]
    print(bl.table(["what", "ms", "spread"], rows_t))
    print(
        f"\nJSON of the big task: skeleton {sizes['skeleton'] / 2**20:.1f} MiB ({skel['scopes']:,} scopes), "
        f"its top {sizes['top'] / 2**10:.0f} KiB, whole tree {sizes['tree'] / 2**20:.1f} MiB. "
        f"Lines after the unfold: {rows:,}."
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bl.BenchError as e:
        print(f"trees bench: {e}", file=sys.stderr)
        sys.exit(1)
